// SPDX-License-Identifier: Apache-2.0
#pragma once
// Tiled greedy NMS driver shared by nms, nms_match, batched_nms and (through their own IoU
// functions) nms_rotated and nms_quadri.
// IWYU pragma: private, include <mmcv/ops.hpp> or an op header instead.
//
// ---------------------------------------------------------------------------------------------
// Interface (stable)
// ---------------------------------------------------------------------------------------------
//
//   template <typename IouFn>
//   NmsDriverResult greedy_nms(const at::Tensor& boxes, IouFn&& iou_fn, double iou_threshold,
//                              NmsCompare compare, const NmsDriverOptions& options = {});
//
//   boxes          Tensor whose dim `options.box_dim` indexes the boxes, ALREADY SORTED by
//                  descending score (position 0 = best box). Default box_dim = 0: boxes[N, D].
//                  Any per-box data the IoU needs (areas, precomputed corners, ...) can be packed
//                  as extra columns: the driver only ever gathers/narrows along box_dim.
//   iou_fn         callable (const at::Tensor& a, const at::Tensor& b) -> at::Tensor[T, K]:
//                  the IoU of every box of `a` (T boxes) with every box of `b` (K boxes), where
//                  a and b are slices/gathers of `boxes` along box_dim (so [T, D] and [K, D] for
//                  box_dim = 0). Must be computed with ATen ops on the boxes' device. NaN entries
//                  never suppress (as in MMCV's C++ loops: NaN > thr and NaN >= thr are false).
//   iou_threshold  compared in the IoU's dtype (a double Scalar against a float tensor is rounded
//                  to float, like MMCV's `float iou_threshold`). Callers mirroring MMCV's C++
//                  kernels may pass static_cast<float>(thr) to make that explicit.
//   compare        NmsCompare::kGreater: box j is suppressed by an earlier kept box i when
//                  iou(i, j) > thr (MMCV nms, torchvision). kGreaterEqual: iou(i, j) >= thr
//                  (MMCV nms_match, and nms_rotated / nms_quadri CPU kernels).
//   options        see NmsDriverOptions below (tile size, groups, max_keep, fast reduction).
//
//   NmsDriverResult::keep   int64 [K]: positions (into the sorted `boxes`) of the kept boxes,
//                           ascending, i.e. in descending-score order. Exactly the sequential
//                           greedy result: position p is kept iff no kept q < p has
//                           compare(iou(q, p), thr).
//   NmsDriverResult::owner  only with options.want_groups: int64 [N], owner[p] = p for a kept box,
//                           else the position of the FIRST kept box (in score order) that
//                           suppresses p. This is exactly nms_match's grouping: a stable sort of
//                           `owner` lists every group, kept box first, then its suppressed boxes in
//                           score order. Undefined tensor otherwise.
//
// Typical use (the caller owns sorting, hence the tie rule; mmcv-ops sorts stably):
//   const auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
//   NmsDriverOptions opts;
//   opts.split_tile_call = true;  // expensive IoU per pair (rotated / quadri polygons)
//   const auto r = greedy_nms(dets.index_select(0, order),
//                             [&](const at::Tensor& a, const at::Tensor& b) { return my_iou(a, b); },
//                             static_cast<float>(iou_threshold), NmsCompare::kGreaterEqual, opts);
//   const auto keep = order.index_select(0, r.keep);  // indices into the input, in score order
//
// ---------------------------------------------------------------------------------------------
// Algorithm
// ---------------------------------------------------------------------------------------------
// R = the boxes not yet decided (kept or suppressed), in score order; initially all N.
// Each round takes the first t = min(tile, |R|) boxes of R as a tile. No earlier kept box
// suppresses any box of R (suppressed boxes were removed), so the tile's greedy result only
// depends on the tile itself:
//   1. S = compare(iou(tile, tile), thr), strictly upper triangular (i < j), [t, t].
//   2. keep = the unique fixed point of keep[j] = !any_i(S[i, j] && keep[i]), found by Jacobi
//      iteration from keep = all-true. The fixed point is unique (it is defined by induction over
//      j), equals the sequential greedy result, and is reached after (longest suppression chain
//      inside the tile + 1) iterations; iteration stops when an iterate repeats.
//   3. The kept tile boxes suppress the rest of R: kill[j] = any_{i kept} compare(iou(i, j), thr),
//      computed in column chunks of at most max_pairs_per_call pairs, then R loses the tile and
//      the killed boxes.
// By default steps 1 and 3 share iou_fn calls (the whole tile against the first columns of R:
// fewest calls); with split_tile_call the first call is tile x tile and only the kept rows meet
// the rest (fewest pairs). Work is about (kept boxes x boxes still alive after them) IoU pairs,
// close to MMCV's loop.
// Bounds (worst case = few suppressions, e.g. uniformly spread boxes):
//   time    at most N^2/2 + N*(T + C) IoU pair evaluations, C = T with split_tile_call, else
//           C = max(T, max_pairs_per_call / T) (512 for nms): each kept box meets only the boxes
//           alive at its round's start (its tile included: <= N - rank + T); a box suppressed
//           inside its tile costs at most C pairs (its row of the first call); a box suppressed
//           later costs nothing. In at most ceil(N/T) rounds of
//           O(|R|) bookkeeping each (compaction of R is skipped when a round kills nothing).
//   memory  O(N) bookkeeping allocated ONCE per call (two ping-pong copies of `boxes` and of the
//           positions, an [N] kill mask, an [N] alive list, an [N] kept list: about
//           2 * sizeof(boxes) + 33 N bytes) plus O(max_pairs_per_call + T^2) IoU temporaries per
//           call, reused round after round; nothing grows with rounds, kept count or N^2.
//           (Allocating R, the kill mask and a kept chunk afresh every round fragmented the heap:
//           1.3 GiB resident for 200,000 uniform boxes; issue 12 finding 14.)
//
// host-side: the loop over rounds reads the kept count and the alive count once per round
// (nonzero), and the fixed point reads one bool per iteration (at::equal). On CUDA each read is a
// device sync; there is no per-box host loop.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// How an IoU is compared with the threshold to suppress a box.
enum class NmsCompare {
  kGreater,       ///< suppress when iou > thr   (nms)
  kGreaterEqual,  ///< suppress when iou >= thr  (nms_match, nms_rotated, nms_quadri)
};

/// Options of greedy_nms. All have defaults; a default-constructed value is the plain NMS.
struct NmsDriverOptions {
  /// Boxes per tile (rows of each IoU call). Chosen by measurement (docs/performance.md): 64.
  int64_t tile = 64;
  /// When at most this many boxes remain, they form the last tile (one round instead of several
  /// small ones; the in-tile fixed point handles any size). Chosen by measurement: 128.
  int64_t final_tile = 128;
  /// Most IoU pairs (rows x columns) computed by one iou_fn call; bounds the temporaries. The
  /// default (2^15, by measurement) keeps the axis-aligned IoU temporaries within a core's L2
  /// cache: 2^20 pairs ran 2x slower on 5,000 boxes.
  /// The first call of a round always covers the whole tile (tile x tile) at least.
  int64_t max_pairs_per_call = int64_t{1} << 15;
  /// false: the first iou_fn call of a round takes the whole tile against as many columns as
  /// max_pairs_per_call allows (fewest calls: best when one call's fixed cost dominates, as for
  /// the axis-aligned IoU on CPU). true: the first call is tile x tile only and the rest of R is
  /// compared with the tile's KEPT boxes only (fewest pairs: best for an expensive IoU per pair,
  /// e.g. rotated polygons).
  bool split_tile_call = false;
  /// Dimension of `boxes` that indexes boxes (0: boxes[N, D]; 1: boxes[D, N]).
  int64_t box_dim = 0;
  /// Also return `owner` (nms_match's groups). Costs one argmax per tile and chunk.
  bool want_groups = false;
  /// Stop once this many boxes are kept (> 0); the result is then the first max_keep kept boxes
  /// of the full greedy result. Ignored (<= 0) by default and when want_groups is set.
  int64_t max_keep = -1;
  /// Caller's guarantee that a NaN IoU can only appear in a column whose box no entry can
  /// suppress (e.g. axis-aligned boxes with non-negative sides: 0/0 comes from a zero-area box
  /// whose IoUs are all 0 or NaN, and compare(0, thr) is false). Enables a faster reduction
  /// (column max, then one compare) instead of compare-then-any over every pair.
  bool nan_columns_never_suppressed = false;
};

/// Result of greedy_nms (see the file comment).
struct NmsDriverResult {
  at::Tensor keep;   ///< int64 [K] kept positions, ascending (= descending score)
  at::Tensor owner;  ///< int64 [N] with want_groups, else undefined
};

namespace nms_driver_impl {

inline at::Tensor compare_iou(const at::Tensor& iou, double thr, NmsCompare c) {
  return c == NmsCompare::kGreater ? at::gt(iou, thr) : at::ge(iou, thr);
}

/// compare(iou, thr) as float 0/1 (one op: the comparison writes the float result directly).
inline at::Tensor compare_iou_float(const at::Tensor& iou, double thr, NmsCompare c) {
  auto out = at::empty(iou.sizes(), iou.options().dtype(at::kFloat));
  return c == NmsCompare::kGreater ? at::gt_out(out, iou, thr) : at::ge_out(out, iou, thr);
}

/// Greedy result inside one tile from its strictly-upper-triangular suppression matrix
/// (float 0/1, [t, t], s[i][j] = 1 when i < j and i would suppress j). Returns float 0/1 [t].
inline at::Tensor tile_fixed_point(const at::Tensor& s) {
  const int64_t t = s.size(0);
  auto keep = at::ones({t}, s.options());  // float 1 = kept
  const auto st = s.t();
  for (int64_t it = 0; it <= t; ++it) {  // host-side: <= longest in-tile chain + 1 iterations
    // A box stays kept iff no currently-kept box suppresses it.
    auto next = at::mv(st, keep).eq_(0);  // [t] float 0/1
    if (at::equal(next, keep)) break;  // host-side: one bool per iteration (converged)
    keep = std::move(next);
  }
  return keep;
}

}  // namespace nms_driver_impl

/// Greedy NMS over boxes sorted by descending score, in tiles (see the file comment for the
/// contract, algorithm, memory bound and host synchronisation).
template <typename IouFn>
NmsDriverResult greedy_nms(const at::Tensor& boxes, IouFn&& iou_fn, double iou_threshold, NmsCompare cmp,
                           const NmsDriverOptions& options = {}) {
  using nms_driver_impl::compare_iou;
  const int64_t bd = options.box_dim;
  TORCH_CHECK(bd >= 0 && bd < boxes.dim(), "greedy_nms: box_dim ", bd, " out of range for a ",
              boxes.dim(), "-D tensor");
  TORCH_CHECK(options.tile > 0 && options.max_pairs_per_call > 0,
              "greedy_nms: tile and max_pairs_per_call must be positive");
  const int64_t n_all = boxes.size(bd);
  const auto long_opts = boxes.options().dtype(at::kLong);
  NmsDriverResult result;
  const bool groups = options.want_groups;
  const int64_t max_keep = groups ? -1 : options.max_keep;
  if (groups) result.owner = at::arange(n_all, long_opts);
  if (n_all == 0) {
    result.keep = at::empty({0}, long_opts);
    return result;
  }

  // All O(N) bookkeeping lives in buffers allocated once per call and reused by every round
  // (a fresh per-round R, kill mask and kept chunk, interleaved with long-lived small tensors,
  // fragmented the heap: 1.3 GiB resident for 200,000 uniform boxes, issue 12 finding 14).
  // R (boxes and positions) ping-pongs between two buffers, compacted with index_select_out into
  // the contiguous prefix of the other one; kill, alive and kept are prefixes of fixed buffers.
  at::Tensor rest = boxes;                             // R, in score order
  at::Tensor rest_pos = at::arange(n_all, long_opts);  // positions of R's boxes in `boxes`
  const int64_t row_elems = boxes.numel() / n_all;     // elements per box (n_all > 0 here)
  at::Tensor rest_buf[2];                              // flat [numel(boxes)], allocated on first compaction
  at::Tensor pos_buf[2];                               // [N] int64
  int cur = 0;                                         // buffer that the next compaction writes
  auto kill_buf = at::empty({n_all}, boxes.options().dtype(at::kBool));
  auto alive_buf = at::empty({0}, long_opts);  // grown once by nonzero_out, then reused
  auto kept_buf = at::empty({n_all}, long_opts);
  auto rest_shape = boxes.sizes().vec();
  // Strictly upper-triangular float mask (i < j) for the largest tile, built once. (Not with
  // at::triu: in LibTorch 1.13 it always opens an OpenMP parallel region, which stalls on a busy
  // machine; two aranges and a compare stay inline.)
  const int64_t mask_size = std::min(n_all, std::max(options.tile, options.final_tile));
  const auto idx = at::arange(mask_size, long_opts);
  const auto upper = at::lt(idx.unsqueeze(1), idx.unsqueeze(0)).to(at::kFloat);  // [m, m]
  int64_t kept_count = 0;

  while (true) {  // host-side: one round per tile; each round reads two counts (nonzero)
    const int64_t n = rest.size(bd);
    const int64_t t = n <= options.final_tile ? n : std::min(options.tile, n);
    const auto tile = rest.narrow(bd, 0, t);
    const auto tile_pos = rest_pos.narrow(0, 0, t);
    // First call: the tile against the first columns of R (the tile itself included).
    const int64_t cols0 =
        options.split_tile_call ? t : std::min(n, std::max(t, options.max_pairs_per_call / t));
    auto iou0 = iou_fn(tile, cols0 == t ? tile : rest.narrow(bd, 0, cols0));  // [t, cols0]

    // 1-2. Greedy inside the tile.
    auto s = nms_driver_impl::compare_iou_float(iou0.narrow(1, 0, t), iou_threshold, cmp)
                 .mul_(upper.narrow(0, 0, t).narrow(1, 0, t));  // [t, t], i < j only
    const auto tile_keep = nms_driver_impl::tile_fixed_point(s);  // float 0/1 [t]
    const auto kidx = at::nonzero(tile_keep).view({-1});          // host-side: kept count of the tile
    const int64_t k = kidx.size(0);
    const bool all_kept = k == t;
    auto kept_pos = kept_buf.narrow(0, kept_count, k);
    if (all_kept) {
      kept_pos.copy_(tile_pos);
    } else {
      at::index_select_out(kept_pos, tile_pos, 0, kidx);
    }
    if (groups && !all_kept) {
      // owner of a suppressed tile box = first kept box of the tile that suppresses it.
      auto first = s.mul(tile_keep.unsqueeze(1)).argmax(0);  // [t]: first max = first kept suppressor
      auto sup = tile_keep.eq(0);
      result.owner.index_put_({tile_pos.masked_select(sup)}, tile_pos.index_select(0, first).masked_select(sup));
    }
    kept_count += k;
    if (n == t || (max_keep > 0 && kept_count >= max_keep)) break;

    // 3. The kept tile boxes suppress the rest of R, chunk by chunk, into kill_buf[0, n - t).
    at::Tensor kept_boxes;  // gathered only when a second iou_fn call needs them
    const int64_t chunk = std::max<int64_t>(1, options.max_pairs_per_call / k);
    for (int64_t c0 = t; c0 < n;) {  // host-side: one chunk of columns per call (1 call unless N is large)
      const int64_t c1 = c0 < cols0 ? cols0 : std::min(n, c0 + chunk);
      at::Tensor iou;
      if (c0 < cols0) {
        iou = iou0.narrow(1, t, c1 - t);
        if (!all_kept) iou = iou.index_select(0, kidx);  // [k, c1 - t]
      } else {
        if (!kept_boxes.defined()) kept_boxes = all_kept ? tile : tile.index_select(bd, kidx);
        iou = iou_fn(kept_boxes, rest.narrow(bd, c0, c1 - c0));  // [k, c1 - c0]
      }
      auto kill = kill_buf.narrow(0, c0 - t, c1 - c0);
      if (groups) {
        auto hit = compare_iou(iou, iou_threshold, cmp);             // [k, cols]
        auto hit_f = hit.to(at::kFloat);
        auto first = hit_f.argmax(0);                                 // first kept suppressor
        at::any_out(kill, hit, 0);
        const auto cols_pos = rest_pos.narrow(0, c0, c1 - c0);
        result.owner.index_put_({cols_pos.masked_select(kill)}, kept_pos.index_select(0, first).masked_select(kill));
      } else if (options.nan_columns_never_suppressed) {
        // column max (a NaN column: no kill)
        if (cmp == NmsCompare::kGreater) {
          at::gt_out(kill, at::amax(iou, 0), iou_threshold);
        } else {
          at::ge_out(kill, at::amax(iou, 0), iou_threshold);
        }
      } else {
        at::any_out(kill, compare_iou(iou, iou_threshold, cmp), 0);
      }
      c0 = c1;
    }
    auto kill = kill_buf.narrow(0, 0, n - t);
    alive_buf.resize_({0});  // keeps its storage; nonzero_out then grows it without a warning
    at::nonzero_out(alive_buf, kill.logical_not_());  // host-side: alive count
    const auto alive = alive_buf.view({-1});
    const int64_t m = alive.size(0);
    if (m == 0) break;
    if (m == n - t) {  // nothing suppressed: R just loses the tile (a view, no copy)
      rest = rest.narrow(bd, t, m);
      rest_pos = rest_pos.narrow(0, t, m);
      continue;
    }
    // Compact R into the other buffer's contiguous prefix (rest still reads the current one).
    if (!rest_buf[cur].defined()) {
      rest_buf[cur] = at::empty({boxes.numel()}, boxes.options());
      pos_buf[cur] = at::empty({n_all}, long_opts);
    }
    rest_shape[static_cast<size_t>(bd)] = m;
    auto next_rest = rest_buf[cur].narrow(0, 0, checked_mul(m, row_elems, "greedy_nms", "rest")).view(rest_shape);
    auto next_pos = pos_buf[cur].narrow(0, 0, m);
    at::index_select_out(next_rest, rest.narrow(bd, t, n - t), bd, alive);
    at::index_select_out(next_pos, rest_pos.narrow(0, t, n - t), 0, alive);
    rest = next_rest;
    rest_pos = next_pos;
    cur = 1 - cur;
  }
  const int64_t n_keep = max_keep > 0 ? std::min(kept_count, max_keep) : kept_count;
  // A compact copy when the kept boxes are few (do not pin an [N] buffer), else the prefix.
  result.keep = n_keep * 2 < n_all ? kept_buf.narrow(0, 0, n_keep).clone() : kept_buf.narrow(0, 0, n_keep);
  return result;
}

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
