// SPDX-License-Identifier: Apache-2.0
#pragma once
// k nearest neighbours. Mirrors mmcv/ops/knn.py (mmcv.ops.knn). MMCV has only a CUDA kernel
// (common/cuda/knn_cuda_kernel.cuh): a max-heap of k (squared distance, index) slots per centre,
// initialised to (1e10, 0), entered by a point iff its distance is strictly below the root, then
// heap-sorted ascending.
//
// Strategy: the centres are processed in tiles of q rows (detail::points_tile_rows, so a tile's
// [B, q, N] float distance matrix stays under detail::kPointsTileBudget elements); each tile's
// squared distances are computed in MMCV's arithmetic order and the k smallest are selected in
// ascending (distance, index) order (detail::smallest_k_stable). Slots the heap never fills (N < k,
// or distances >= 1e10, or NaN) hold index 0 at the end, as MMCV's.
//
// Exact ties: without equal distances among the k winners (or at the k-th place) the heap's answer
// is the sorted one. Rows with such ties re-run MMCV's heap itself (detail::knn_heap_rows), batched
// over those rows with ATen ops on [R, k] tensors: only the candidates that can ever enter the heap
// are scanned (a point enters iff fewer than k earlier points are at distance <= its own, so a
// point at or beyond the k-th smallest distance T after k points at <= T never enters), in scan
// order, each insertion a depth-bounded sift-down, then MMCV's heap_sort. No closed form exists:
// which of several points at distance T survives depends on where they sit in the heap when a
// closer point evicts the root.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/points.hpp>

#include <cstdint>
#include <limits>
#include <optional>

namespace mmcv {
namespace ops {
namespace detail {

/// MMCV's reheap on rows `act` of the max-heaps (hd, hi) [R, k] restricted to the first n slots:
/// the root sifts down past children whose distance is >= its own (the larger child, the left one
/// on equality), exactly as knn_cuda_kernel.cuh's reheap.
inline void knn_reheap(at::Tensor& hd, at::Tensor& hi, at::Tensor act, int64_t n) {
  const int64_t R = hd.size(0);
  auto r = at::zeros({R, 1}, hi.options());
  for (int64_t span = 1; span < n; span = span * 2 + 1) {  // host-side: depth loop (log2 n steps)
    const auto child = r * 2 + 1;
    const auto c1 = child.clamp_max(n - 1), c2 = (child + 1).clamp_max(n - 1);
    const auto d1 = hd.gather(1, c1), d2 = hd.gather(1, c2);
    const auto right = ((child + 1) < n).logical_and_(d2 > d1);
    const auto ch = at::where(right, c2, c1);
    const auto dch = at::where(right, d2, d1);
    const auto ich = hi.gather(1, ch);
    const auto dr = hd.gather(1, r), ir = hi.gather(1, r);
    const auto swap = act.logical_and(child < n).logical_and_(~(dr > dch));
    hd.scatter_(1, r, at::where(swap, dch, dr));
    hi.scatter_(1, r, at::where(swap, ich, ir));
    hd.scatter_(1, ch, at::where(swap, dr, dch));
    hi.scatter_(1, ch, at::where(swap, ir, ich));
    act = swap;
    r = at::where(swap, ch, r);
  }
}

/// MMCV's knn heap for the rows of d2 [R, N]: k slots of (1e10, 0), point i replaces the root iff
/// d2 < root (then reheap), finally heap_sort. Returns the indices [R, k] (int64) in the heap's
/// output order. Only candidates are scanned (see knn.hpp); one host read of their count.
inline at::Tensor knn_heap_rows(const at::Tensor& d2, int64_t k) {
  const int64_t R = d2.size(0), N = d2.size(1);
  auto hd = at::full({R, k}, 1e10, d2.options());
  auto hi = at::zeros({R, k}, d2.options().dtype(at::kLong));
  if (R == 0 || N == 0) return hi;
  const double inf = std::numeric_limits<double>::infinity();
  at::Tensor cand;
  if (N > k) {
    const auto T = std::get<0>(d2.kthvalue(k, 1, /*keepdim=*/true));
    const auto le = d2 <= T;
    const auto before = le.to(at::kInt).cumsum(1) - le.to(at::kInt);
    // after k points at <= T the root is <= T: a later point enters only if strictly closer than T
    cand = (d2 < T).logical_or_(before < k);
  } else {
    cand = at::ones_like(d2, d2.options().dtype(at::kBool));
  }
  const auto pos = at::arange(N, hi.options()).unsqueeze(0).expand({R, N});
  const auto order = std::get<1>(at::where(cand, pos, pos + N).sort(1));  // keys unique
  const int64_t C = cand.sum(1).max().item<int64_t>();  // host-side: scan length (one read)
  const auto ci = order.narrow(1, 0, C).contiguous();
  const auto cd = d2.masked_fill(~cand, inf).gather(1, ci);  // non-candidates (inf) never enter
  for (int64_t c = 0; c < C; ++c) {  // host-side: scan loop over the candidates, in order
    const at::Tensor cx = cd.narrow(1, c, 1);
    const at::Tensor cidx = ci.narrow(1, c, 1);
    const at::Tensor enter = cx < hd.narrow(1, 0, 1);
    hd.narrow(1, 0, 1).copy_(at::where(enter, cx, hd.narrow(1, 0, 1)));
    hi.narrow(1, 0, 1).copy_(at::where(enter, cidx, hi.narrow(1, 0, 1)));
    knn_reheap(hd, hi, enter, k);
  }
  const auto all = at::ones({R, 1}, d2.options().dtype(at::kBool));
  for (int64_t i = k - 1; i > 0; --i) {  // host-side: heap_sort loop over the k slots
    auto a = hd.narrow(1, 0, 1).clone(), b = hd.narrow(1, i, 1).clone();
    hd.narrow(1, 0, 1).copy_(b);
    hd.narrow(1, i, 1).copy_(a);
    auto ai = hi.narrow(1, 0, 1).clone(), bi = hi.narrow(1, i, 1).clone();
    hi.narrow(1, 0, 1).copy_(bi);
    hi.narrow(1, i, 1).copy_(ai);
    knn_reheap(hd, hi, all, i);
  }
  return hi;
}

}  // namespace detail

/// k nearest neighbours of each centre among xyz (squared Euclidean distance).
///
/// MMCV: `mmcv.ops.knn(k, xyz, center_xyz=None, transposed=False)` (CUDA kernel semantics)
///
/// @param k           number of neighbours, 1 <= k < 100 (MMCV's assert).
/// @param xyz         Tensor[B, N, 3] points (Tensor[B, 3, N] when transposed), float32 or float64.
/// @param center_xyz  Tensor[B, npoint, 3] centres (Tensor[B, 3, npoint] when transposed), same
///                    dtype and device; std::nullopt means the points themselves.
/// @param transposed  inputs are channel-first.
/// @return Tensor[B, k, npoint] int32 on the input's device: idx[b, j, p] is the j-th nearest point
///         of centre p (ascending distance; exact ties in MMCV's heap order). Missing slots (N < k)
///         hold 0. No gradient (indices).
/// @throws c10::Error: k out of range, wrong ranks / last dim, non-floating or mismatched dtypes,
///         device or batch mismatch.
inline at::Tensor knn(int64_t k, const at::Tensor& xyz, const std::optional<at::Tensor>& center_xyz = std::nullopt,
                      bool transposed = false) {
  const char* op = "knn";
  detail::check_arg(k > 0 && k < 100, op, "k", "be in [1, 99]", k);
  detail::check_dim(xyz, 3, op, "xyz");
  auto pts = transposed ? xyz.transpose(1, 2) : xyz;
  detail::check_points(pts, 3, op, transposed ? "xyz (transposed)" : "xyz");
  at::Tensor ctr = pts;
  if (center_xyz.has_value()) {
    detail::check_dim(*center_xyz, 3, op, "center_xyz");
    ctr = transposed ? center_xyz->transpose(1, 2) : *center_xyz;
    detail::check_points(ctr, 3, op, transposed ? "center_xyz (transposed)" : "center_xyz");
    detail::check_same_dtype(pts, ctr, op, "xyz", "center_xyz");
    detail::check_same_device(pts, ctr, op, "xyz", "center_xyz");
    detail::check_arg(ctr.size(0) == pts.size(0), op, "center_xyz", "have the batch size of xyz (" +
                      std::to_string(pts.size(0)) + ")", ctr.size(0));
  }
  pts = pts.detach().contiguous();
  ctr = ctr.detach().contiguous();
  const int64_t B = pts.size(0), N = pts.size(1), P = ctr.size(1);
  auto out = at::zeros({B, P, k}, pts.options().dtype(at::kLong));
  const int64_t kk = std::min(k, N);
  if (B == 0 || P == 0 || kk == 0) return out.transpose(1, 2).contiguous().to(at::kInt);
  const int64_t step = detail::points_tile_rows(B, N);
  for (int64_t p0 = 0; p0 < P; p0 += step) {  // host-side: loop over centre tiles (bounded memory)
    const int64_t q = std::min(step, P - p0);
    const auto d2 = detail::points_sq_dist(ctr.narrow(1, p0, q), pts).view({B * q, N});
    at::Tensor v, i;
    // One more than needed (when there is one) shows a tie at the k-th place without another
    // pass over the tile; the stable order's first kk entries are those of the kk smallest.
    const int64_t kx = std::min(kk + 1, N);
    std::tie(v, i) = detail::smallest_k_stable(d2, kx);
    // MMCV's heap never admits d2 >= 1e10 (nor NaN): such slots keep their initial index 0.
    const auto real = v < 1e10;
    i.masked_fill_(~real, 0);
    // Rows with equal real distances among the winners or at the k-th place: MMCV's heap decides.
    const auto tied = (v.narrow(1, 0, kx - 1) == v.narrow(1, 1, kx - 1)).logical_and_(real.narrow(1, 0, kx - 1)).any(1);
    i = i.narrow(1, 0, kk).contiguous();
    const auto rows = tied.nonzero().view({-1});
    if (rows.size(0) > 0) {  // host-side: one size read per tile (tied rows only)
      i.index_copy_(0, rows, detail::knn_heap_rows(d2.index_select(0, rows), k).narrow(1, 0, kk));
    }
    out.narrow(1, p0, q).narrow(2, 0, kk).copy_(i.view({B, q, kk}));
  }
  return out.transpose(1, 2).contiguous().to(at::kInt);
}

}  // namespace ops
}  // namespace mmcv
