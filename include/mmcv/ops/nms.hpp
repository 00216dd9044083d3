// SPDX-License-Identifier: Apache-2.0
#pragma once
// Non-maximum suppression. Mirrors mmcv/ops/nms.py (mmcv.ops.nms, soft_nms, nms_match,
// nms_rotated, nms_quadri, batched_nms).

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/arg.h>

#include <mmcv/ops/detail/box_geometry.hpp>
#include <mmcv/ops/detail/check.hpp>
#include <mmcv/ops/detail/nms_driver.hpp>
#include <mmcv/ops/detail/polygon.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace mmcv {
namespace ops {

/// C++ form of MMCV's `nms_cfg` dict for batched_nms: one field per dict key, same names.
/// A field left unset (std::nullopt) is a key absent from the dict, so the op's own default
/// applies; setting a key the chosen `type` does not take is an error, as in Python.
///
///   // Python: dict(type='soft_nms', iou_threshold=0.5, sigma=0.5, min_score=0.05)
///   auto cfg = mmcv::ops::NmsConfig().type("soft_nms").iou_threshold(0.5).sigma(0.5).min_score(0.05);
struct NmsConfig {
  /// The NMS op: "nms" or "soft_nms" (and "nms_rotated" / "nms_quadri" where this build has them).
  /// Default: "nms".
  TORCH_ARG(std::string, type) = "nms";
  /// IoU threshold passed to the op. Required by nms (and nms_rotated / nms_quadri); soft_nms
  /// defaults to 0.3. Default: unset.
  TORCH_ARG(std::optional<double>, iou_threshold) = std::nullopt;
  /// Boxes count from which batched_nms runs one NMS per class (then sorts). Default: 10000.
  TORCH_ARG(int64_t, split_thr) = 10000;
  /// Overrides batched_nms's `class_agnostic` argument when set. Default: unset.
  TORCH_ARG(std::optional<bool>, class_agnostic) = std::nullopt;
  /// nms / soft_nms: 0, or 1 for the legacy "+1" box convention. Default: unset (0).
  TORCH_ARG(std::optional<int64_t>, offset) = std::nullopt;
  /// nms: keep only scores > score_threshold before NMS (when > 0). Default: unset (0).
  TORCH_ARG(std::optional<double>, score_threshold) = std::nullopt;
  /// Keep at most max_num boxes (when > 0). Taken by nms; batched_nms's per-class path also takes
  /// it for every type (it truncates the final sorted result there). Default: unset (-1).
  TORCH_ARG(std::optional<int64_t>, max_num) = std::nullopt;
  /// soft_nms: gaussian sigma. Default: unset (0.5).
  TORCH_ARG(std::optional<double>, sigma) = std::nullopt;
  /// soft_nms: boxes whose decayed score falls below it are discarded. Default: unset (1e-3).
  TORCH_ARG(std::optional<double>, min_score) = std::nullopt;
  /// soft_nms: "naive", "linear" or "gaussian". Default: unset ("linear").
  TORCH_ARG(std::optional<std::string>, method) = std::nullopt;
  /// nms_rotated: angle orientation flag. Default: unset (true).
  TORCH_ARG(std::optional<bool>, clockwise) = std::nullopt;
};

namespace detail {

/// Stable descending score order: ties keep the lower index first (mmcv-ops' tie rule, the
/// `alt.*` answer of the tie-sensitive reference cases). [N] -> int64 [N].
inline at::Tensor nms_score_order(const at::Tensor& scores) {
  return std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
}

/// IoU of packed boxes a [5, T] with b [5, K] -> [T, K], rounding exactly like MMCV's CPU loop:
/// w = max(0, min(x2) - max(x1) + offset), likewise h, inter = w * h,
/// iou = inter / ((area_a + area_b) - inter). Here s = max(x1) + (-min(x2)) = -(min(x2) - max(x1))
/// exactly, s - offset = -((min(x2) - max(x1)) + offset) exactly (rounding is sign-symmetric), and
/// min(0, s) * min(0, s') = w * h exactly.
inline at::Tensor nms_packed_iou(const at::Tensor& a, const at::Tensor& b, double offset) {
  auto c = at::maximum(a.narrow(0, 0, 4).unsqueeze(2), b.narrow(0, 0, 4).unsqueeze(1));  // [4, T, K]
  auto s = at::add(c.narrow(0, 0, 2), c.narrow(0, 2, 2));                               // [2, T, K] = -(w, h)
  if (offset != 0) s.sub_(offset);
  s.clamp_max_(0);
  auto inter = at::mul(s.select(0, 0), s.select(0, 1));                                  // [T, K]
  auto uni = at::add(a.select(0, 4).unsqueeze(1), b.select(0, 4).unsqueeze(0));          // [T, K]
  uni.sub_(inter);
  return inter.div_(uni);
}

/// Tile size of the axis-aligned NMS driver, chosen by measurement (docs/performance.md).
inline constexpr int64_t kNmsTile = 64;
/// Same values as nms_packed_iou (bit for bit), computed with [T, K] ops only: with T * K <
/// 32768 every op stays under ATen's parallel grain and runs inline (no OpenMP region).
inline at::Tensor nms_packed_iou_inline(const at::Tensor& a, const at::Tensor& b, double offset) {
  const auto side = [&](int64_t lo, int64_t hi) {  // -(min(x2) - max(x1) + offset), clamped at 0
    auto s = at::maximum(a.select(0, lo).unsqueeze(1), b.select(0, lo).unsqueeze(0));     // max(x1)  [T, K]
    s.add_(at::maximum(a.select(0, hi).unsqueeze(1), b.select(0, hi).unsqueeze(0)));       // -min(x2)
    if (offset != 0) s.sub_(offset);
    return s.clamp_max_(0);
  };
  auto inter = side(0, 2).mul_(side(1, 3));                                                // [T, K]
  auto uni = at::add(a.select(0, 4).unsqueeze(1), b.select(0, 4).unsqueeze(0));
  uni.sub_(inter);
  return inter.div_(uni);
}

/// How the axis-aligned driver computes IoUs. Single-threaded: nms_packed_iou on up to 2^15
/// pairs per call (fewest ops, cache-sized temporaries). With several intra-op threads:
/// nms_packed_iou_inline on up to 32767 pairs, so no op opens an OpenMP region: a fork/join per
/// ~100 us op costs more than it saves, and stalls for a scheduler slice on a busy machine
/// (measured: docs/performance.md).
struct NmsIouPlan {
  bool inline_ops;
  int64_t pairs_per_call;
};
inline NmsIouPlan nms_iou_plan() {
  return at::get_num_threads() > 1 ? NmsIouPlan{true, 32767} : NmsIouPlan{false, int64_t{1} << 15};
}
inline at::Tensor nms_iou(const NmsIouPlan& plan, const at::Tensor& a, const at::Tensor& b, double offset) {
  return plan.inline_ops ? nms_packed_iou_inline(a, b, offset) : nms_packed_iou(a, b, offset);
}

/// Candidates per soft_nms round, chosen by measurement (docs/performance.md).
inline constexpr int64_t kSoftNmsBlock = 12;

/// Validation shared by nms and soft_nms (shape, dtype, device).
inline void check_nms_inputs(const char* op, const at::Tensor& boxes, const at::Tensor& scores) {
  ShapeChecker sc(op);
  sc.check(boxes, "boxes", {"N", "4"});
  sc.check(scores, "scores", {"N"});
  check_floating(boxes, op, "boxes");
  check_same_dtype(boxes, scores, op, "boxes", "scores");
  check_same_device(boxes, scores, op, "boxes", "scores");
}

/// Axis-aligned boxes packed for the NMS driver, coordinate-major so every pairwise op runs over
/// a contiguous inner dim: [5, N] rows x1, y1, -x2, -y2, area (area with `offset`, MMCV's order).
/// Negating x2/y2 lets one `maximum` give max(x1), max(y1), -min(x2), -min(y2) of every pair.
/// Also says whether the driver may use its fast column-max reduction.
struct NmsPrepared {
  at::Tensor packed;  ///< [5, N] x1, y1, -x2, -y2, area
  bool fast = false;  ///< every side >= 0 and every area finite: a NaN IoU is a zero-area box's
  bool positive = false;  ///< fast, every area > 0 and every score >= 0 (soft_nms's round path)
};

/// Packs boxes [N, 4] (N > 0) and validates boxes and scores with ONE device read: NaN/Inf in
/// either throws the check_finite message. `scores` may be undefined (boxes only).
inline NmsPrepared nms_prepare(const char* op, const at::Tensor& boxes, const char* boxes_arg, const at::Tensor& scores,
                               const char* scores_arg, double offset) {
  NmsPrepared p;
  p.packed = at::empty({5, boxes.size(0)}, boxes.options());
  p.packed.narrow(0, 0, 2).copy_(boxes.narrow(1, 0, 2).t());
  auto neg_corner = p.packed.narrow(0, 2, 2);
  at::neg_out(neg_corner, boxes.narrow(1, 2, 2).t());
  auto wh = boxes.narrow(1, 2, 2) - boxes.narrow(1, 0, 2);  // [N, 2]
  if (offset != 0) wh.add_(offset);
  auto area = p.packed.select(0, 4);
  at::mul_out(area, wh.select(1, 0), wh.select(1, 1));  // (x2 - x1 + offset) * (y2 - y1 + offset), MMCV's order
  // Any NaN/Inf coordinate makes its area non-finite, and any non-finite area or score makes the
  // sums non-finite: finite sums prove finite inputs (an overflowing sum only costs the exact check).
  const auto no_scores = at::zeros({}, boxes.options());
  auto flags = at::stack({wh.min(), area.sum(), scores.defined() ? scores.sum() : no_scores, area.min(),
                          scores.defined() ? scores.min() : no_scores})
                   .to(at::kDouble)
                   .cpu();  // host-side: one read to validate the input
  const double* f = flags.data_ptr<double>();  // host-side: 5 validation flags
  const bool sums_finite = std::isfinite(f[1]) && std::isfinite(f[2]);
  if (!sums_finite) {
    check_finite(boxes, op, boxes_arg);
    if (scores.defined()) check_finite(scores, op, scores_arg);
  }
  p.fast = sums_finite && f[0] >= 0;
  p.positive = p.fast && f[3] > 0 && f[4] >= 0;
  return p;
}

/// Greedy NMS of packed axis-aligned boxes (no checks): indices into the columns of `packed` of
/// the kept boxes, in descending score order. Runs without autograd; returns a normal tensor.
inline at::Tensor nms_keep(const at::Tensor& packed, const at::Tensor& scores, double iou_threshold, int64_t offset,
                           int64_t max_num, bool fast_reduction) {
  at::Tensor keep;
  {
    c10::InferenceMode guard;  // internal bookkeeping needs no autograd
    const auto order = nms_score_order(scores);
    NmsDriverOptions opts;
    opts.tile = kNmsTile;
    opts.box_dim = 1;
    const auto plan = nms_iou_plan();
    opts.max_pairs_per_call = plan.pairs_per_call;
    opts.max_keep = max_num;
    opts.nan_columns_never_suppressed = fast_reduction;
    const double off = static_cast<double>(offset);
    const auto r = greedy_nms(
        packed.index_select(1, order),
        [off, plan](const at::Tensor& a, const at::Tensor& b) { return nms_iou(plan, a, b, off); },
        static_cast<float>(iou_threshold), NmsCompare::kGreater, opts);
    keep = order.index_select(0, r.keep);
  }
  return keep.clone();  // a normal (non-inference) tensor: usable in autograd and in-place
}

/// nms after validation: MMCV's score filter (scores > score_threshold, only when > 0), the
/// greedy NMS, max_num; indices into the columns of `packed` / entries of `scores`.
inline at::Tensor nms_indices(const at::Tensor& packed, bool fast, const at::Tensor& scores, double iou_threshold,
                              int64_t offset, double score_threshold, int64_t max_num) {
  if (!(score_threshold > 0)) return nms_keep(packed, scores, iou_threshold, offset, max_num, fast);
  const auto valid = at::nonzero(at::gt(scores, score_threshold)).view({-1});  // host-side: valid count
  if (valid.size(0) == 0) return valid;
  return valid.index_select(0, nms_keep(packed.index_select(1, valid), scores.index_select(0, valid), iou_threshold,
                                        offset, max_num, fast));
}

}  // namespace detail

// =============================================================================================
// nms
// =============================================================================================

/// Greedy non-maximum suppression of axis-aligned boxes.
///
/// MMCV: `mmcv.ops.nms(boxes, scores, iou_threshold, offset=0, score_threshold=0, max_num=-1)`
///
/// @param boxes           Tensor[N, 4] `(x1, y1, x2, y2)`, float32 or float64, finite.
/// @param scores          Tensor[N], same dtype and device as boxes, finite.
/// @param iou_threshold   in [0, 1]; a box is suppressed by a kept box when IoU **>** threshold.
/// @param offset          0, or 1 for the legacy "+1" convention (w = x2 - x1 + 1).
/// @param score_threshold when > 0, only boxes with score **>** score_threshold take part;
///                        `inds` still index the input.
/// @param max_num         when > 0, keep at most max_num boxes (the first of the NMS result).
/// @return `(dets, inds)`: dets Tensor[K, 5] = kept boxes with their score as last column, in
///         descending score order; inds int64 Tensor[K], indices into the input.
/// @throws c10::Error on a wrong shape, non-floating dtype, dtype/device mismatch, offset not in
///         {0, 1}, iou_threshold outside [0, 1], non-finite score_threshold, NaN/Inf in the input.
/// @note Ties: boxes with equal scores are visited in index order (a stable sort); MMCV's unstable
///       sort may visit them in another order (docs/ops/nms.md). Thresholds are rounded to
///       float32 as in MMCV's kernel. Memory: O(N), allocated once per call, plus at most 2^15 IoU
///       pairs of temporaries per call (tiled greedy, detail/nms_driver.hpp), never N x N; time at
///       most N^2/2 + 576 N IoU pairs (few suppressions, e.g. uniformly spread boxes). On CUDA the host reads one validation flag
///       and a few counts per 64-box tile (device syncs). dets is differentiable with respect to
///       boxes and scores (it is a gather, as in MMCV); inds is not.
/// \warning Zero-area boxes have IoU 0/0 = NaN with each other, which never suppresses (MMCV too).
/// Example:
///   auto [dets, inds] = mmcv::ops::nms(boxes, scores, /*iou_threshold=*/0.5);
inline std::tuple<at::Tensor, at::Tensor> nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold,
                                              int64_t offset = 0, double score_threshold = 0, int64_t max_num = -1) {
  constexpr const char* op = "nms";
  detail::check_nms_inputs(op, boxes, scores);
  detail::check_one_of(offset, {0, 1}, op, "offset");
  detail::check_in_range(iou_threshold, 0.0, 1.0, op, "iou_threshold");
  detail::check_finite_scalar(score_threshold, op, "score_threshold");
  const auto long_opts = boxes.options().dtype(at::kLong);
  if (boxes.size(0) == 0) {
    return {at::empty({0, 5}, boxes.options()), at::empty({0}, long_opts)};
  }
  const auto sc = scores.detach();
  const auto prep = detail::nms_prepare(op, boxes.detach(), "boxes", sc, "scores", static_cast<double>(offset));
  const auto inds = detail::nms_indices(prep.packed, prep.fast, sc, iou_threshold, offset, score_threshold, max_num);
  auto dets = at::cat({boxes.index_select(0, inds), scores.index_select(0, inds).unsqueeze(1)}, 1);
  return {dets, inds};
}

// =============================================================================================
// soft_nms
// =============================================================================================

namespace detail {

/// MMCV's per-pair soft-NMS weight for IoUs `ovr` (any shape): naive 0 / linear 1 - ovr when
/// ovr >= thr (else 1), gaussian exp(-(ovr * ovr) / sigma), in MMCV's operation order.
inline at::Tensor soft_nms_weight(const at::Tensor& ovr, float iou_threshold, float sigma, int64_t method) {
  if (method == 0) return at::ge(ovr, iou_threshold).logical_not_().to(ovr.scalar_type());
  if (method == 1) return at::where(at::ge(ovr, iou_threshold), at::rsub(ovr, 1), at::ones_like(ovr));
  return ovr.mul(ovr).neg_().div_(sigma).exp_();
}

/// Soft-NMS in rounds of several picks. Exact (identical to MMCV's loop) as long as every pick is
/// a STRICT maximum of the live scores: MMCV's array order only breaks ties, so it does not
/// matter then. Preconditions (NmsPrepared::positive): scores >= 0, sides >= 0 and areas > 0, so
/// every IoU is in [0, 1], every weight in [0, 1] and decays only lower scores.
/// Each round takes the `block` best live boxes as candidates c_0 > c_1 > ... (current scores),
/// computes their weights on every live box once, and P = cumprod([scores; w(c_0); w(c_1); ...])
/// (row k = every score after picking c_0..c_{k-1}, multiplied in pick order as MMCV does). The
/// picks c_0..c_{r-1} are MMCV's next r picks iff, for each k < r, c_k survived (P[k][c_k] >=
/// min_score, k > 0) and strictly beats every other unpicked box at step k. The round applies
/// them, drops boxes below min_score after the r decays, and starts over.
/// Returns {ids, scores at pick}, or undefined tensors if a tie at the top needs MMCV's array
/// order (the caller then runs the step-by-step emulation).
inline std::pair<at::Tensor, at::Tensor> soft_nms_rounds(const at::Tensor& packed, const at::Tensor& scores,
                                                         float iou_threshold, float sigma, float min_score,
                                                         int64_t method, int64_t offset, int64_t block) {
  const double off = static_cast<double>(offset);
  const double inf = std::numeric_limits<double>::infinity();
  at::Tensor live = packed;                                                    // [5, L]
  at::Tensor s = scores;                                                       // [L]
  at::Tensor ids = at::arange(scores.size(0), scores.options().dtype(at::kLong));  // [L]
  std::vector<at::Tensor> picked_ids, picked_scores;
  const auto plan = nms_iou_plan();
  const auto steps = at::arange(block, scores.options().dtype(at::kLong));
  const auto lower = at::le(steps.unsqueeze(0), steps.unsqueeze(1));  // [block, block]: q <= k (no tril: it
                                                                       // always opens an OpenMP region)
  while (s.size(0) > 0) {  // host-side: one round per block of picks, one count read each
    const int64_t n = s.size(0);
    // With several intra-op threads, the round uses the [b, L]-op IoU form and shrinks (down to
    // one candidate) so that its largest op, the [b + 1, L] cumprod, stays under ATen's parallel
    // grain and runs inline while L < 16384 (see nms_iou_plan).
    const int64_t b = std::min(n, plan.inline_ops ? std::max<int64_t>(1, std::min(block, 32767 / n - 1)) : block);
    const auto top = at::topk(s, b);                      // candidates by current score
    const auto& cand = std::get<1>(top);                  // [b]
    const auto w = soft_nms_weight(nms_iou(plan, live.index_select(1, cand), live, off), iou_threshold, sigma,
                                   method);  // [b, L]
    const auto p_all = at::cumprod(at::cat({s.unsqueeze(0), w}, 0), 0);  // [b + 1, L]
    const auto p_steps = p_all.narrow(0, 0, b);                          // [b, L]: before pick k
    const auto p_cand = p_steps.index_select(1, cand);                   // [b, b]
    const auto pick_score = p_cand.diagonal();                           // [b]
    const auto best_other = at::maximum(p_steps.index_fill(1, cand, -inf).amax(1),       // non-candidates
                                        p_cand.masked_fill(lower.narrow(0, 0, b).narrow(1, 0, b), -inf)
                                            .amax(1));                                  // later candidates
    auto ok = at::gt(pick_score, best_other).logical_and_(at::ge(pick_score, min_score));
    ok.narrow(0, 0, 1).copy_(at::gt(pick_score.narrow(0, 0, 1), best_other.narrow(0, 0, 1)));  // c_0: no min_score test
    const int64_t r = ok.to(at::kLong).cumprod(0).sum().item<int64_t>();  // host-side: picks this round
    if (r == 0) return {};  // tie at the top: MMCV's array order decides
    picked_ids.push_back(ids.index_select(0, cand.narrow(0, 0, r)));
    picked_scores.push_back(pick_score.narrow(0, 0, r));
    const auto after = p_all.select(0, r);                               // [L] scores after r picks
    auto alive = at::ge(after, min_score);
    alive.index_fill_(0, cand.narrow(0, 0, r), false);
    const auto keep = at::nonzero(alive).view({-1});                     // host-side: live count
    live = live.index_select(1, keep);
    s = after.index_select(0, keep);
    ids = ids.index_select(0, keep);
  }
  return {at::cat(picked_ids), at::cat(picked_scores)};
}

/// MMCV's softnms_cpu, step for step, with ATen ops on the input's device. State, in MMCV's array
/// order: data[N, 6] = (x1, y1, -x2, -y2, area, score) and ids[N]; positions < i hold the picked
/// boxes (never touched again), positions [i, m) the live candidates.
/// Each step: pick the first maximum of the live scores, swap it to position i, decay every later
/// live score by the method's weight of its IoU with the pick, then discard the boxes that fell
/// below min_score exactly as MMCV's swap-with-last loop does (holes among the first survivors'
/// slots are refilled by the surviving tail boxes, last first).
inline std::tuple<at::Tensor, at::Tensor> soft_nms_impl(const at::Tensor& boxes, const at::Tensor& scores,
                                                        float iou_threshold, float sigma, float min_score,
                                                        int64_t method, int64_t offset) {
  const int64_t n = boxes.size(0);
  auto data = at::empty({n, 6}, boxes.options());
  data.narrow(1, 0, 2).copy_(boxes.narrow(1, 0, 2));
  auto neg_corner = data.narrow(1, 2, 2);
  at::neg_out(neg_corner, boxes.narrow(1, 2, 2));
  data.select(1, 4).copy_(box_area(boxes, static_cast<double>(offset)));
  data.select(1, 5).copy_(scores);
  auto ids = at::arange(n, boxes.options().dtype(at::kLong));
  const double off = static_cast<double>(offset);

  int64_t m = n;
  for (int64_t i = 0; i < m; ++i) {  // host-side: one step per picked box (soft-NMS is sequential)
    // Pick: first position of the maximum live score (MMCV scans with a strict `<` from position
    // i, so a NaN score is skipped unless it sits at position i). Only gaussian decays can make a
    // NaN score (0/0 IoU of two zero-area boxes times exp): handle it there.
    auto live_scores = data.select(1, 5).narrow(0, i, m - i);
    if (method == 2) {
      const auto nan = at::isnan(live_scores);
      live_scores = at::where(nan, at::full({}, -std::numeric_limits<double>::infinity(), live_scores.options()),
                              live_scores);
      live_scores.narrow(0, 0, 1).masked_fill_(nan.narrow(0, 0, 1), std::numeric_limits<double>::infinity());
    }
    const int64_t j = i + live_scores.argmax().item<int64_t>();  // host-side: the pick drives the next step
    if (j != i) {
      const auto idx = at::tensor({i, j}, ids.options().device(at::kCPU)).to(ids.device());
      const auto swapped = at::tensor({j, i}, ids.options().device(at::kCPU)).to(ids.device());
      data.index_copy_(0, swapped, data.index_select(0, idx));
      ids.index_copy_(0, swapped, ids.index_select(0, idx));
    }
    const int64_t live = m - i - 1;
    if (live == 0) break;
    auto pick = data.select(0, i);                 // [6]
    auto rest = data.narrow(0, i + 1, live);       // [L, 6]
    auto c = at::maximum(pick.narrow(0, 0, 4).unsqueeze(0), rest.narrow(1, 0, 4));  // [L, 4]
    auto s = at::add(c.narrow(1, 0, 2), c.narrow(1, 2, 2));                          // [L, 2] = -(w, h)
    if (off != 0) s.sub_(off);
    s.clamp_max_(0);
    auto inter = at::mul(s.select(1, 0), s.select(1, 1));                            // [L]
    auto uni = at::add(rest.select(1, 4), pick.select(0, 4));
    uni.sub_(inter);
    auto ovr = inter.div_(uni);                                                      // [L]
    auto rest_scores = rest.select(1, 5);
    rest_scores.mul_(soft_nms_weight(ovr, iou_threshold, sigma, method));
    const auto dead = at::lt(rest_scores, min_score);                               // [L]
    const int64_t alive = live - dead.sum().item<int64_t>();  // host-side: live count for the loop
    if (alive == live) continue;
    // Holes among the first `alive` slots are refilled by the surviving tail boxes, last first.
    auto perm = at::arange(alive, ids.options());
    if (alive > 0) {
      const auto holes = at::nonzero(dead.narrow(0, 0, alive)).squeeze(1);
      if (holes.size(0) > 0) {
        const auto fillers = at::nonzero(dead.narrow(0, alive, live - alive).logical_not()).squeeze(1).add_(alive).flip(0);
        perm.index_copy_(0, holes, fillers);
        data.narrow(0, i + 1, alive).copy_(rest.index_select(0, perm));
        auto rest_ids = ids.narrow(0, i + 1, live);
        ids.narrow(0, i + 1, alive).copy_(rest_ids.index_select(0, perm));
      }
    }
    m = i + 1 + alive;
  }
  auto dets = at::empty({m, 5}, boxes.options());
  dets.narrow(1, 0, 2).copy_(data.narrow(0, 0, m).narrow(1, 0, 2));
  auto corner = dets.narrow(1, 2, 2);
  at::neg_out(corner, data.narrow(0, 0, m).narrow(1, 2, 2));
  dets.select(1, 4).copy_(data.narrow(0, 0, m).select(1, 5));
  return {dets, ids.narrow(0, 0, m).clone()};
}

}  // namespace detail

/// Soft-NMS: instead of discarding overlapping boxes, decay their scores.
///
/// MMCV: `mmcv.ops.soft_nms(boxes, scores, iou_threshold=0.3, sigma=0.5, min_score=1e-3,
///        method='linear', offset=0)`
///
/// @param boxes         Tensor[N, 4] `(x1, y1, x2, y2)`, float32 or float64, finite.
/// @param scores        Tensor[N], same dtype and device as boxes, finite.
/// @param iou_threshold in [0, 1]; "naive" zeroes and "linear" multiplies by (1 - IoU) the score
///                      of every box with IoU **>=** threshold; "gaussian" ignores it.
/// @param sigma         gaussian weight exp(-IoU^2 / sigma); must be > 0 for "gaussian".
/// @param min_score     a box whose decayed score falls below it is discarded (finite).
/// @param method        "naive", "linear" or "gaussian".
/// @param offset        0, or 1 for the legacy "+1" convention.
/// @return `(dets, inds)`: dets Tensor[K, 5] = picked boxes with their DECAYED score, in pick
///         order (descending decayed score); inds int64 Tensor[K] indices into the input.
///         Both on the input's device.
/// @throws c10::Error on a wrong shape, non-floating dtype, dtype/device mismatch, offset not in
///         {0, 1}, unknown method, iou_threshold outside [0, 1], gaussian sigma <= 0, non-finite min_score,
///         NaN/Inf in the input.
/// @note Exactly MMCV's algorithm, including its tie rule (the first maximum in MMCV's swapped
///       array order wins) and its swap-with-last discarding; the picked box is never tested
///       against min_score (a lone low-score box is kept). Parameters are rounded to float32 as in
///       MMCV's kernel. Runs on the input's device (MMCV: CPU only). Sequential by nature: with
///       scores >= 0 and positive-area boxes, rounds of up to 12 picks (each a strict maximum,
///       verified), one count read per round; otherwise, or at a tie at the top, one step of ~25
///       ATen calls per pick reading the pick and the live count (device syncs on CUDA).
///       Memory O(N). Not differentiable (as in MMCV).
/// Example:
///   auto [dets, inds] = mmcv::ops::soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "gaussian");
inline std::tuple<at::Tensor, at::Tensor> soft_nms(const at::Tensor& boxes, const at::Tensor& scores,
                                                   double iou_threshold = 0.3, double sigma = 0.5,
                                                   double min_score = 1e-3, const std::string& method = "linear",
                                                   int64_t offset = 0) {
  constexpr const char* op = "soft_nms";
  detail::check_nms_inputs(op, boxes, scores);
  detail::check_one_of(offset, {0, 1}, op, "offset");
  detail::check_one_of(method, {"naive", "linear", "gaussian"}, op, "method");
  detail::check_in_range(iou_threshold, 0.0, 1.0, op, "iou_threshold");
  if (method == "gaussian") {
    // MMCV's kernel takes sigma as a C++ float: 1e-300 would become 0 there (0 / 0 = NaN weights
    // that discard boxes with IoU 0), 1e300 Inf. Check the value the arithmetic uses.
    const float sig32 = static_cast<float>(sigma);
    TORCH_CHECK_VALUE(sig32 > 0 && std::isfinite(sig32), op,
                      ": expected sigma to be positive and finite as float32 (method \"gaussian\"), but got ", sigma);
  }
  detail::check_finite_scalar(min_score, op, "min_score");
  if (boxes.size(0) == 0) {
    return {at::empty({0, 5}, boxes.options()), at::empty({0}, boxes.options().dtype(at::kLong))};
  }
  const auto b = boxes.detach();
  const auto sc = scores.detach();
  const auto prep = detail::nms_prepare(op, b, "boxes", sc, "scores", static_cast<double>(offset));
  const int64_t m = method == "naive" ? 0 : method == "linear" ? 1 : 2;
  const float thr = static_cast<float>(iou_threshold), sig = static_cast<float>(sigma),
              min_s = static_cast<float>(min_score);
  at::Tensor dets, inds;
  {
    c10::InferenceMode guard;
    if (prep.positive) {
      // Rounds of several picks; exact unless a tie at the top needs MMCV's array order.
      auto [ids, picked] = detail::soft_nms_rounds(prep.packed, sc, thr, sig, min_s, m, offset, detail::kSoftNmsBlock);
      if (ids.defined()) {
        inds = ids;
        dets = at::cat({b.index_select(0, ids), picked.unsqueeze(1)}, 1);
      }
    }
    if (!inds.defined()) std::tie(dets, inds) = detail::soft_nms_impl(b, sc, thr, sig, min_s, m, offset);
  }
  return {dets.clone(), inds.clone()};
}

// =============================================================================================
// nms_match
// =============================================================================================

/// Group boxes by NMS: every kept box with the boxes it suppressed.
///
/// MMCV: `mmcv.ops.nms_match(dets, iou_threshold)`
///
/// @param dets          Tensor[N, 5] `(x1, y1, x2, y2, score)`, float32 or float64, finite.
/// @param iou_threshold in [0, 1]; a box joins the group of the first kept box (in score order)
///                      with IoU **>=** threshold.
/// @return one int64 Tensor per kept box, in descending score order of the kept boxes: the kept
///         box's index first, then the indices it suppressed in descending score order. Every
///         input index appears exactly once. Empty input: an empty vector.
/// @throws c10::Error on a wrong shape, non-floating dtype, iou_threshold outside [0, 1], NaN/Inf.
/// @note No offset (MMCV's nms_match has none). Ties in scores: stable order (lower index first).
///       Runs on the input's device (MMCV: CPU only); memory as nms. One device read per tile
///       plus one for the group sizes.
/// Example:
///   std::vector<at::Tensor> groups = mmcv::ops::nms_match(dets, /*iou_threshold=*/0.5);
inline std::vector<at::Tensor> nms_match(const at::Tensor& dets, double iou_threshold) {
  constexpr const char* op = "nms_match";
  if (dets.dim() >= 1 && dets.size(0) == 0) return {};  // MMCV: empty input -> [] before any check
  detail::ShapeChecker sc(op);
  sc.check(dets, "dets", {"N", "5"});
  detail::check_floating(dets, op, "dets");
  detail::check_in_range(iou_threshold, 0.0, 1.0, op, "iou_threshold");
  const auto d = dets.detach();
  const auto prep = detail::nms_prepare(op, d.narrow(1, 0, 4), "dets", d.select(1, 4), "dets", 0.0);
  at::Tensor flat, sizes;
  {
    c10::InferenceMode guard;
    const auto order = detail::nms_score_order(d.select(1, 4));
    detail::NmsDriverOptions opts;
    opts.tile = detail::kNmsTile;
    opts.box_dim = 1;
    const auto plan = detail::nms_iou_plan();
    opts.max_pairs_per_call = plan.pairs_per_call;
    opts.want_groups = true;
    const auto r = detail::greedy_nms(
        prep.packed.index_select(1, order),
        [plan](const at::Tensor& a, const at::Tensor& b) { return detail::nms_iou(plan, a, b, 0.0); },
        static_cast<float>(iou_threshold), detail::NmsCompare::kGreaterEqual, opts);
    // A stable sort of the owners lists each group (kept box first) in kept order.
    const auto by_group = std::get<1>(r.owner.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
    flat = order.index_select(0, by_group);
    sizes = at::bincount(r.owner, {}, order.size(0)).index_select(0, r.keep).cpu();  // host-side: group sizes
  }
  const auto flat_out = flat.clone();
  const int64_t* sz = sizes.data_ptr<int64_t>();  // host-side: group sizes
  std::vector<int64_t> split(sz, sz + sizes.numel());
  return flat_out.split_with_sizes(split);
}

// ===== nms_rotated / nms_quadri =====

namespace detail {

/// Checks shared by nms_rotated and nms_quadri: dets [N, D] floating, scores [N] same dtype,
/// labels (accepted, unused) [N]; all on one device; iou_threshold in [0, 1].
inline void check_polygon_nms_inputs(const char* op, const at::Tensor& dets, const char* width,
                                     const at::Tensor& scores, const std::optional<at::Tensor>& labels,
                                     double iou_threshold) {
  ShapeChecker sc(op);
  sc.check(dets, "dets", {"N", width});
  sc.check(scores, "scores", {"N"});
  if (labels) sc.check(*labels, "labels", {"N"});
  check_floating(dets, op, "dets");
  check_same_dtype(dets, scores, op, "dets", "scores");
  check_same_device(dets, scores, op, "dets", "scores");
  if (labels) check_same_device(dets, *labels, op, "dets", "labels");
  check_in_range(iou_threshold, 0.0, 1.0, op, "iou_threshold");
}

/// Greedy NMS of polygon boxes packed by prepare_rotated / prepare_quadri (`cols`, input order)
/// with MMCV's >= rule: indices of the kept boxes, descending score (stable for ties).
template <typename OverlapFn>
at::Tensor polygon_nms_keep(const at::Tensor& scores, const at::Tensor& cols, double iou_threshold,
                            const OverlapFn& overlaps) {
  at::Tensor keep;
  {
    c10::InferenceMode guard;  // internal bookkeeping needs no autograd
    const auto order = nms_score_order(scores);
    NmsDriverOptions opts;
    opts.split_tile_call = true;  // polygon IoU is expensive per pair: fewest pairs
    const auto r = greedy_nms(cols.index_select(0, order), overlaps, static_cast<float>(iou_threshold),
                              NmsCompare::kGreaterEqual, opts);
    keep = order.index_select(0, r.keep);
  }
  return keep.clone();  // a normal (non-inference) tensor
}

}  // namespace detail

/// Greedy non-maximum suppression of rotated boxes.
///
/// MMCV: `mmcv.ops.nms_rotated(dets, scores, iou_threshold, labels=None, clockwise=True)`
///
/// @param dets          Tensor[N, 5] `(x_center, y_center, width, height, angle)`, angle in
///                      radians, float32 or float64.
/// @param scores        Tensor[N], same dtype and device as dets.
/// @param iou_threshold in [0, 1]; a box is suppressed by a kept box when IoU **>=** threshold
///                      (MMCV's CPU kernel; so 0 keeps a single box).
/// @param labels        Tensor[N] (any dtype), accepted and **ignored**, exactly as MMCV's CPU
///                      and CUDA kernels ignore it (boxes of different labels suppress each
///                      other; MMCV's own test expects that). Use batched_nms for per-class NMS.
/// @param clockwise     true (MMCV's default): positive angles turn clockwise on screen; false
///                      negates the angles first (see box_iou_rotated).
/// @return `(dets, keep_inds)`: dets Tensor[K, 6] = the kept input boxes (angles as given) with
///         their score as last column, in descending score order; keep_inds int64 Tensor[K],
///         indices into the input. Empty input: `(dets, empty int64 tensor)` with dets returned
///         as given ([0, 5]); MMCV returns `(dets, None)`.
/// @throws c10::Error on a wrong shape, non-floating dtype, dtype/device mismatch, labels of
///         another length or device, iou_threshold outside [0, 1].
/// @note IoU as box_iou_rotated (MMCV's 1e-14 area rule, exact overlap). Ties: equal scores are
///       visited in index order (stable sort; MMCV's unstable sort may differ: the `alt.*`
///       answers of MMCV's tie cases). The threshold is rounded to float32 as in MMCV. NaN/Inf
///       are not rejected (docs/nan_policy.md): a NaN IoU never suppresses, NaN scores sort first.
///       Memory: O(N) plus bounded tiles (detail/nms_driver.hpp, detail/polygon.hpp), never
///       N x N. Host reads a few counts per 64-box tile (device syncs). dets is differentiable
///       with respect to dets and scores (a gather, as in MMCV); keep_inds is not.
/// Example:
///   auto [kept, inds] = mmcv::ops::nms_rotated(dets, scores, /*iou_threshold=*/0.5);
inline std::tuple<at::Tensor, at::Tensor> nms_rotated(const at::Tensor& dets, const at::Tensor& scores,
                                                      double iou_threshold,
                                                      const std::optional<at::Tensor>& labels = std::nullopt,
                                                      bool clockwise = true) {
  constexpr const char* op = "nms_rotated";
  detail::check_polygon_nms_inputs(op, dets, "5", scores, labels, iou_threshold);
  if (dets.size(0) == 0) return {dets, at::empty({0}, dets.options().dtype(at::kLong))};
  const auto prep = detail::prepare_rotated(dets.detach(), clockwise);
  const auto keep = detail::polygon_nms_keep(scores.detach(), prep.cols, iou_threshold,
                                             [](const at::Tensor& a, const at::Tensor& b) {
                                               return detail::rotated_overlaps({a}, {b}, /*iof=*/false, false);
                                             });
  return {at::cat({dets.index_select(0, keep), scores.index_select(0, keep).unsqueeze(1)}, 1), keep};
}

/// Greedy non-maximum suppression of quadrilaterals.
///
/// MMCV: `mmcv.ops.nms_quadri(dets, scores, iou_threshold, labels=None)`
///
/// @param dets          Tensor[N, 8] `(x1, y1, ..., x4, y4)`, float32 or float64.
/// @param scores        Tensor[N], same dtype and device as dets.
/// @param iou_threshold in [0, 1]; a box is suppressed by a kept box when IoU **>=** threshold.
/// @param labels        Tensor[N], accepted and **ignored**, as in MMCV's kernels (use
///                      batched_nms for per-class NMS).
/// @return `(dets, keep_inds)`: dets Tensor[K, 9] = kept quads with their score as last column,
///         in descending score order; keep_inds int64 Tensor[K]. Empty input: `(dets, empty
///         int64 tensor)` with dets as given ([0, 8]); MMCV returns `(dets, None)`.
/// @throws c10::Error on a wrong shape, non-floating dtype, dtype/device mismatch, labels of
///         another length or device, iou_threshold outside [0, 1].
/// @note IoU as box_iou_quadri: MMCV's rule, including its approximate vertex test for quads that
///       are not rectangles (it decides which boxes survive). Ties, threshold rounding, NaN,
///       memory, synchronisation and gradients as nms_rotated.
/// Example:
///   auto [kept, inds] = mmcv::ops::nms_quadri(quads, scores, /*iou_threshold=*/0.3);
inline std::tuple<at::Tensor, at::Tensor> nms_quadri(const at::Tensor& dets, const at::Tensor& scores,
                                                     double iou_threshold,
                                                     const std::optional<at::Tensor>& labels = std::nullopt) {
  constexpr const char* op = "nms_quadri";
  detail::check_polygon_nms_inputs(op, dets, "8", scores, labels, iou_threshold);
  if (dets.size(0) == 0) return {dets, at::empty({0}, dets.options().dtype(at::kLong))};
  const auto prep = detail::prepare_quadri(dets.detach());
  const auto keep = detail::polygon_nms_keep(scores.detach(), prep.cols, iou_threshold,
                                             [](const at::Tensor& a, const at::Tensor& b) {
                                               return detail::quadri_overlaps({a}, {b}, /*iof=*/false, false);
                                             });
  return {at::cat({dets.index_select(0, keep), scores.index_select(0, keep).unsqueeze(1)}, 1), keep};
}

// =============================================================================================
// batched_nms
// =============================================================================================

namespace detail {

/// The keys of `cfg` that are set, except type / split_thr / class_agnostic (batched_nms's own).
inline std::vector<const char*> nms_cfg_set_keys(const NmsConfig& cfg) {
  std::vector<const char*> keys;
  if (cfg.iou_threshold()) keys.push_back("iou_threshold");
  if (cfg.offset()) keys.push_back("offset");
  if (cfg.score_threshold()) keys.push_back("score_threshold");
  if (cfg.max_num()) keys.push_back("max_num");
  if (cfg.sigma()) keys.push_back("sigma");
  if (cfg.min_score()) keys.push_back("min_score");
  if (cfg.method()) keys.push_back("method");
  if (cfg.clockwise()) keys.push_back("clockwise");
  return keys;
}

/// Python's `nms_op(boxes, scores, **nms_cfg_)` rejects a keyword the op does not take: so do we.
/// `per_class` is batched_nms's split path, where max_num was popped before the call.
inline void check_nms_cfg_keys(const NmsConfig& cfg, std::initializer_list<const char*> takes, bool per_class) {
  for (const char* key : nms_cfg_set_keys(cfg)) {
    if (per_class && std::string(key) == "max_num") continue;
    bool ok = false;
    for (const char* t : takes) ok = ok || std::string(key) == t;
    if (ok) continue;
    std::string list;
    for (const char* t : takes) list += (list.empty() ? "" : ", ") + std::string(t);
    TORCH_CHECK_VALUE(false, "batched_nms: expected nms_cfg to set only keys that ", cfg.type(), " takes (", list,
                      "), but got ", key);
  }
}

inline double nms_cfg_required_iou(const NmsConfig& cfg) {
  TORCH_CHECK_VALUE(cfg.iou_threshold().has_value(), "batched_nms: expected nms_cfg to set iou_threshold (required by ",
                    cfg.type(), "), but got none");
  return *cfg.iou_threshold();
}

/// MMCV's class separation: boxes + idxs * (max coordinate + 1), in the boxes' dtype; for
/// [N, 5] rotated boxes only the centres move, by idxs * (max(x, y) + max(w, h) + 1).
inline at::Tensor batched_nms_boxes_for_nms(const at::Tensor& boxes, const at::Tensor& idxs, bool class_agnostic) {
  if (class_agnostic) return boxes;
  if (boxes.size(1) == 5) {
    const auto max_coordinate = boxes.narrow(1, 0, 2).max() + boxes.narrow(1, 2, 2).max();
    const auto offsets = idxs.to(boxes.scalar_type()) * (max_coordinate + 1);
    return at::cat({boxes.narrow(1, 0, 2) + offsets.unsqueeze(1), boxes.narrow(1, 2, 3)}, 1);
  }
  const auto offsets = idxs.to(boxes.scalar_type()) * (boxes.max() + 1);
  return boxes + offsets.unsqueeze(1);
}

/// batched_nms's `nms_op(boxes_for_nms, scores, **nms_cfg_)`: runs the op named by cfg.type()
/// and returns its (dets, keep); dets' last column is the score the op reports (decayed for
/// soft_nms). The one place that knows the allowed types: a new NMS type adds a branch here.
inline std::tuple<at::Tensor, at::Tensor> batched_nms_call(const NmsConfig& cfg, const at::Tensor& boxes,
                                                           const at::Tensor& scores, bool per_class) {
  const std::string& type = cfg.type();
  if (type == "nms") {
    check_nms_cfg_keys(cfg, {"iou_threshold", "offset", "score_threshold", "max_num"}, per_class);
    return nms(boxes, scores, nms_cfg_required_iou(cfg), cfg.offset().value_or(0), cfg.score_threshold().value_or(0.0),
               per_class ? -1 : cfg.max_num().value_or(-1));
  }
  if (type == "soft_nms") {
    check_nms_cfg_keys(cfg, {"iou_threshold", "sigma", "min_score", "method", "offset"}, per_class);
    return soft_nms(boxes, scores, cfg.iou_threshold().value_or(0.3), cfg.sigma().value_or(0.5),
                    cfg.min_score().value_or(1e-3), cfg.method().value_or("linear"), cfg.offset().value_or(0));
  }
  if (type == "nms_rotated") {  // MMCV's nms_rotated(dets, scores, iou_threshold, labels=None, clockwise=True)
    check_nms_cfg_keys(cfg, {"iou_threshold", "clockwise"}, per_class);
    return nms_rotated(boxes, scores, nms_cfg_required_iou(cfg), std::nullopt, cfg.clockwise().value_or(true));
  }
  if (type == "nms_quadri") {  // MMCV's nms_quadri(dets, scores, iou_threshold, labels=None)
    check_nms_cfg_keys(cfg, {"iou_threshold"}, per_class);
    return nms_quadri(boxes, scores, nms_cfg_required_iou(cfg));
  }
  check_one_of(type, {"nms", "soft_nms", "nms_rotated", "nms_quadri"}, "batched_nms", "nms_cfg.type");
  return {};
}

}  // namespace detail

/// Per-class NMS in one call: boxes of different classes never suppress each other.
///
/// MMCV: `mmcv.ops.batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic=False)`
///
/// @param boxes          Tensor[N, 4] (or [N, 5] rotated `(cx, cy, w, h, angle)` for the
///                       rotated NMS types), float32 or float64.
/// @param scores         Tensor[N], same dtype and device.
/// @param idxs           Tensor[N] of class ids (any integer dtype, float32 or float64), same device.
/// @param nms_cfg        the NMS to run (NmsConfig, the dict's keys); std::nullopt skips NMS and
///                       returns every box sorted by score.
/// @param class_agnostic when true (or nms_cfg.class_agnostic), suppress across classes.
/// @return `(dets, keep)`: dets Tensor[K, D + 1] = kept boxes with their score (as the NMS
///         reports it: decayed for soft_nms) as last column, in descending score order;
///         keep int64 Tensor[K], indices into the input.
/// @throws c10::Error on wrong shapes, dtype/device mismatch, an unknown nms_cfg.type, a cfg key
///         the type does not take, a missing required iou_threshold, or the op's own errors.
/// @note Like MMCV: classes are separated by adding `idxs * (max coordinate + 1)` to the boxes
///       (to the centres only for [N, 5] rotated boxes), in the boxes' dtype. With fewer than
///       split_thr boxes one NMS runs on all of them (its order); otherwise one NMS per class
///       (ascending class id, host-side loop), then all kept boxes are sorted by their score and
///       max_num applies. Ties: stable sorts (lower index first). Empty input returns empty
///       results (MMCV raises for class-aware empty input). dets is differentiable with respect
///       to boxes (and to scores through nms's dets) as in MMCV.
/// Example:
///   auto [dets, keep] = mmcv::ops::batched_nms(boxes, scores, labels,
///                                              mmcv::ops::NmsConfig().iou_threshold(0.5));
inline std::tuple<at::Tensor, at::Tensor> batched_nms(const at::Tensor& boxes, const at::Tensor& scores,
                                                      const at::Tensor& idxs, const std::optional<NmsConfig>& nms_cfg,
                                                      bool class_agnostic = false) {
  constexpr const char* op = "batched_nms";
  detail::ShapeChecker sc(op);
  sc.check(boxes, "boxes", {"N", "D"});
  sc.check(scores, "scores", {"N"});
  sc.check(idxs, "idxs", {"N"});
  detail::check_floating(boxes, op, "boxes");
  detail::check_same_dtype(boxes, scores, op, "boxes", "scores");
  const auto ist = idxs.scalar_type();
  TORCH_CHECK_TYPE(ist != at::kBool && !at::isComplexType(ist) && ist != at::kHalf && ist != at::kBFloat16, op,
                   ": expected idxs to have an integer, float32 or float64 dtype, but got ", detail::dtype_str(idxs));
  detail::check_arg(boxes.size(1) > 0, op, "boxes", "have box columns ([N, 4], rotated [N, 5] or quadri [N, 8])",
                    detail::shape_str(boxes.sizes()));
  detail::check_same_device(boxes, scores, op, "boxes", "scores");
  detail::check_same_device(boxes, idxs, op, "boxes", "idxs");
  const int64_t n = boxes.size(0);

  if (!nms_cfg) {  // MMCV >= 1.4.1: no NMS, just sort by score.
    const auto order = detail::nms_score_order(scores.detach());
    return {at::cat({boxes.index_select(0, order), scores.index_select(0, order).unsqueeze(1)}, 1), order};
  }
  const NmsConfig& cfg = *nms_cfg;
  const bool agnostic = cfg.class_agnostic().value_or(class_agnostic);
  // n == 0: nothing to offset (MMCV raises on max() of an empty tensor).
  const auto boxes_for_nms = detail::batched_nms_boxes_for_nms(boxes, idxs, agnostic || n == 0);

  if (n < cfg.split_thr()) {
    auto [dets, keep] = detail::batched_nms_call(cfg, boxes_for_nms, scores, /*per_class=*/false);
    return {at::cat({boxes.index_select(0, keep), dets.select(1, dets.size(1) - 1).unsqueeze(1)}, 1), keep};
  }

  // Per-class path: one NMS per class id (ascending), then one sort of everything kept.
  // A stable sort by class makes each class a contiguous run of indices in ascending order, as
  // MMCV's (idxs == id).nonzero() gives them.
  const auto by_class = std::get<1>(idxs.detach().sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  const auto counts = std::get<2>(at::unique_consecutive(idxs.detach().index_select(0, by_class),
                                                         /*return_inverse=*/false, /*return_counts=*/true))
                          .cpu();  // host-side: class sizes drive the per-class loop
  const int64_t* class_sizes = counts.data_ptr<int64_t>();  // host-side: class sizes
  std::vector<at::Tensor> kept_list, score_list;
  // type "nms": validate and pack once, then one greedy NMS per class on column slices (saves a
  // validation read and the packing per class; same result as nms() per class).
  std::optional<detail::NmsPrepared> prep;
  const bool plain_nms = cfg.type() == "nms" && counts.size(0) > 0;
  double iou = 0, score_thr = 0;
  int64_t off = 0;
  if (plain_nms) {
    detail::check_nms_cfg_keys(cfg, {"iou_threshold", "offset", "score_threshold", "max_num"}, /*per_class=*/true);
    iou = detail::nms_cfg_required_iou(cfg);
    off = cfg.offset().value_or(0);
    score_thr = cfg.score_threshold().value_or(0.0);
    detail::check_nms_inputs("nms", boxes_for_nms, scores);
    detail::check_one_of(off, {0, 1}, "nms", "offset");
    detail::check_in_range(iou, 0.0, 1.0, "nms", "iou_threshold");
    detail::check_finite_scalar(score_thr, "nms", "score_threshold");
    prep = detail::nms_prepare("nms", boxes_for_nms.detach(), "boxes", scores.detach(), "scores",
                               static_cast<double>(off));
  }
  const auto scores_d = scores.detach();
  int64_t start = 0;
  for (int64_t c = 0; c < counts.size(0); ++c) {  // host-side: one NMS per class, as MMCV
    const int64_t count = class_sizes[c];
    const auto mask = by_class.narrow(0, start, count);
    start += count;
    if (plain_nms) {
      const auto kept = mask.index_select(
          0, detail::nms_indices(prep->packed.index_select(1, mask), prep->fast, scores_d.index_select(0, mask), iou, off,
                                 score_thr, /*max_num=*/-1));
      kept_list.push_back(kept);
      score_list.push_back(scores.index_select(0, kept));  // nms's dets[:, -1]
      continue;
    }
    auto [dets, keep] = detail::batched_nms_call(cfg, boxes_for_nms.index_select(0, mask),
                                                 scores.index_select(0, mask), /*per_class=*/true);
    kept_list.push_back(mask.index_select(0, keep));
    score_list.push_back(dets.select(1, dets.size(1) - 1));
  }
  if (kept_list.empty()) {
    return {at::empty({0, boxes.size(1) + 1}, boxes.options()), at::empty({0}, boxes.options().dtype(at::kLong))};
  }
  auto keep = at::cat(kept_list);
  auto kept_scores = at::cat(score_list);
  // MMCV: keep = total_mask.nonzero() (ascending index), then a sort by score.
  const auto by_index = std::get<1>(keep.sort());
  keep = keep.index_select(0, by_index);
  kept_scores = kept_scores.index_select(0, by_index);
  const auto order = detail::nms_score_order(kept_scores.detach());
  keep = keep.index_select(0, order);
  kept_scores = kept_scores.index_select(0, order);
  const int64_t max_num = cfg.max_num().value_or(-1);
  if (max_num > 0 && keep.size(0) > max_num) {
    keep = keep.narrow(0, 0, max_num);
    kept_scores = kept_scores.narrow(0, 0, max_num);
  }
  return {at::cat({boxes.index_select(0, keep), kept_scores.unsqueeze(1)}, 1), keep};
}

}  // namespace ops
}  // namespace mmcv
