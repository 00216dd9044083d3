// SPDX-License-Identifier: Apache-2.0
#pragma once
// Vectorised polygon geometry for the rotated / quadrilateral family (box_iou_rotated,
// box_iou_quadri, nms_rotated, nms_quadri): the intersection area of many polygon pairs at once,
// written once with ATen calls and no per-pair host loop.
//
// Three layers:
//
//  1. Pair kernels: K pairs in, K areas out, every step a [K, small] tensor op.
//     * box_clip_area: a polygon clipped to an axis-aligned, centred box [-hw, hw] x [-hh, hh].
//       Used for rotated boxes: box A is expressed in box B's frame, where B is axis aligned.
//       The clip is the "clamp path": walking along an edge of A, the point
//       (clamp(x(t), -hw, hw), clamp(y(t), -hh, hh)) is piecewise linear with breakpoints where
//       x(t) or y(t) crosses a box level, so every edge becomes 5 points (its start and its 4
//       breakpoints in t order) and the shoelace of that closed path is exactly the area of A
//       inside B (outside stretches are projected onto B's border lines, and a path that runs
//       back and forth along one line encloses nothing). No vertex counts, masks or sorting are
//       needed, degenerate contacts (shared edges, identical boxes, touching corners) are
//       plain clamps, and rounding moves points by O(eps) only: no NaN, no double counting.
//     * quadri_candidate_area: MMCV's quadrilateral rule (box_iou_rotated_utils.hpp,
//       quadri_boxes_intersection): candidate points = the 16 edge-edge crossings (det magnitude
//       > 1e-14, both parameters in [0, 1]) + the vertices of each quad that pass the other's
//       "parallelogram" test (projections of AP on AB and AD within [0, |AB|^2] / [0, |AD|^2],
//       with A, B, D its vertices 0, 1, 3); the area is that of the convex hull of the
//       candidates. For rectangles this is the true intersection; for other quads it is MMCV's
//       approximation, reproduced on purpose (it decides which boxes nms_quadri keeps).
//     * convex_hull_area: hull area of up to S masked points per row: sort by pseudo-angle around
//       the points' centroid, then drop strictly reflex vertices until none is left (a hull
//       vertex is never reflex in that star polygon, so simultaneous removal is safe), then the
//       shoelace. Rows needing another pass are selected, so typical data costs one pass.
//  2. Per-box preparation (RotatedPrep / QuadriPrep): packed per-box columns and an axis-aligned
//     bounding box used to skip pairs whose result is 0 anyway.
//  3. polygon_overlaps: N x M (or aligned N) driver. Rows are tiled so the candidate mask holds at
//     most kPolygonMaskPairs entries; candidate pairs (bounding boxes overlap) are gathered with
//     nonzero and evaluated kPolygonPairChunk at a time; everything else is exactly 0.
//     Memory: the output, plus O(kPolygonMaskPairs) for a tile's mask and indices, plus
//     O(kPolygonPairChunk * 24) for a chunk's intermediates, independent of N and M.
//
// Numerics follow MMCV where they decide results: per-pair centre shift (quads: the mean of the
// 8 points, summed in MMCV's order), the 1e-14 area rule (area w*h for rotated boxes, the fan of
// |cross| from vertex 0 for quads), iou = I / (A1 + A2 - I), iof = I / A1. Arithmetic is done in
// the input dtype (float32 or float64).
// IWYU pragma: private, include <mmcv/ops.hpp> or an op header instead.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

namespace mmcv {
namespace ops {
namespace detail {

/// Candidate-mask entries per row tile of polygon_overlaps (bounds the mask and its indices).
inline constexpr int64_t kPolygonMaskPairs = int64_t{1} << 20;
/// Candidate pairs evaluated per kernel call (bounds the kernels' intermediates).
inline constexpr int64_t kPolygonPairChunk = int64_t{1} << 13;
/// MMCV's "empty box" rule: a box whose area is below this has IoU 0 with everything.
inline constexpr double kPolygonMinArea = 1e-14;

// =============================================================================================
// Pair kernels
// =============================================================================================

/// Signed area of polygons (x, y: [K, n], vertices in order, any n >= 1) clipped to the centred
/// axis-aligned boxes [-hw, hw] x [-hh, hh] (hw, hh: [K] or [K, 1], >= 0). Counter-clockwise
/// polygons (y up) give a positive area. Exact for any polygon (winding-number weighted).
inline at::Tensor box_clip_area(const at::Tensor& x, const at::Tensor& y, const at::Tensor& hw_in,
                                const at::Tensor& hh_in) {
  const auto hw = hw_in.reshape({-1, 1}), hh = hh_in.reshape({-1, 1});  // [K, 1]
  const auto nhw = -hw, nhh = -hh;
  const auto x1 = x.roll(-1, 1), y1 = y.roll(-1, 1);  // edge ends [K, n]
  const auto dx = x1 - x, dy = y1 - y;
  // Parameters where the edge crosses each box level; an edge parallel to a level never crosses
  // it (t = 0: a duplicate of the start point, which adds nothing to the shoelace).
  const auto zero = at::zeros({}, x.options());
  const auto ix = at::where(dx != 0, dx.reciprocal(), zero);
  const auto iy = at::where(dy != 0, dy.reciprocal(), zero);
  const auto ta = ((nhw - x) * ix).clamp(0, 1), tb = ((hw - x) * ix).clamp(0, 1);
  const auto tc = ((nhh - y) * iy).clamp(0, 1), td = ((hh - y) * iy).clamp(0, 1);
  // Two sorted pairs, then a 2+2 merge: t1 <= t2 <= t3 <= t4.
  const auto a1 = at::minimum(ta, tb), a2 = at::maximum(ta, tb);
  const auto b1 = at::minimum(tc, td), b2 = at::maximum(tc, td);
  const auto t1 = at::minimum(a1, b1), t4 = at::maximum(a2, b2);
  const auto m1 = at::maximum(a1, b1), m2 = at::minimum(a2, b2);
  const auto t2 = at::minimum(m1, m2), t3 = at::maximum(m1, m2);
  const auto cx = [&](const at::Tensor& v) { return at::clamp(v, nhw, hw); };
  const auto cy = [&](const at::Tensor& v) { return at::clamp(v, nhh, hh); };
  // The clamp path of each edge: start, 4 breakpoints; the next edge's start closes it.
  const auto px0 = cx(x), py0 = cy(y);
  const auto px1 = cx(x + t1 * dx), py1 = cy(y + t1 * dy);
  const auto px2 = cx(x + t2 * dx), py2 = cy(y + t2 * dy);
  const auto px3 = cx(x + t3 * dx), py3 = cy(y + t3 * dy);
  const auto px4 = cx(x + t4 * dx), py4 = cy(y + t4 * dy);
  const auto px5 = px0.roll(-1, 1), py5 = py0.roll(-1, 1);
  auto twice = px0 * py1 - px1 * py0;
  twice = twice + (px1 * py2 - px2 * py1);
  twice = twice + (px2 * py3 - px3 * py2);
  twice = twice + (px3 * py4 - px4 * py3);
  twice = twice + (px4 * py5 - px5 * py4);
  return twice.sum(1) * 0.5;  // [K]
}

/// Area of the convex hull of the valid points of each row (x, y: [K, S], valid: [K, S] bool);
/// 0 for rows with fewer than 3 valid points or a degenerate (collinear) hull.
/// Host-side: one count per pruning pass (rows with a reflex vertex go to the next pass).
inline at::Tensor convex_hull_area(const at::Tensor& x, const at::Tensor& y, const at::Tensor& valid) {
  const int64_t K = x.size(0), S = x.size(1);
  auto area = at::zeros({K}, x.options());
  if (K == 0) return area;
  const auto count = valid.sum(1);  // [K] int64
  // Rows with < 3 points have area 0 (MMCV: "num <= 2 -> 0").
  auto rows = (count >= 3).nonzero().squeeze(1);  // host-side: one count
  const int64_t R = rows.numel();
  if (R == 0) return area;
  const bool all_rows = R == K;
  auto v = all_rows ? valid : valid.index_select(0, rows);
  auto n = (all_rows ? count : count.index_select(0, rows)).unsqueeze(1);  // [R, 1]
  const auto xr = all_rows ? x : x.index_select(0, rows), yr = all_rows ? y : y.index_select(0, rows);
  at::Tensor xs, ys;
  // Compaction: each row's valid points, in order, to the front of a row of W = max count
  // columns, so that the sort and every later op run on W columns instead of S (MMCV's quads: S =
  // 24 candidates, of which a handful are valid). Invalid points go to a dropped dump column, so
  // whatever they hold (even NaN) cannot reach the sums; the tail of a row is zero.
  const int64_t W = n.max().item<int64_t>();  // host-side: compaction width
  if (W < S) {
    const auto slot = at::where(v, v.cumsum(1) - 1, at::full({}, W, n.options()));
    xs = at::zeros({R, W + 1}, x.options()).scatter_(1, slot, xr).narrow(1, 0, W);
    ys = at::zeros({R, W + 1}, x.options()).scatter_(1, slot, yr).narrow(1, 0, W);
    v = at::arange(W, n.options()).unsqueeze(0) < n;
  } else {
    // Invalid slots may hold anything (even NaN): zero them so that they cannot reach the sums.
    const auto zero = at::zeros({}, x.options());
    xs = at::where(v, xr, zero);
    ys = at::where(v, yr, zero);
  }
  const auto w = v.to(x.scalar_type());
  const auto nf = n.to(x.scalar_type());
  // Centroid of the valid points: strictly inside the hull unless the hull is degenerate. Summed
  // over S columns whatever W is, so that a row's rounding does not depend on its chunk.
  const auto row_sum = [&](const at::Tensor& t) {
    return (t.size(1) < S ? at::constant_pad_nd(t, {0, S - t.size(1)}) : t).sum(1, true);
  };
  auto ox = row_sum(xs * w) / nf, oy = row_sum(ys * w) / nf;  // [R, 1]
  // Pseudo-angle around the centroid, monotone in the polar angle over (-pi/2, 3pi/2]:
  // dy / (|dx| + |dy|) on the right half, 2 - that on the left half. Invalid points sort last.
  const auto dx = xs - ox, dy = ys - oy;
  const auto den = dx.abs() + dy.abs();
  const auto p = dy / at::where(den > 0, den, at::ones({}, den.options()));  // 0 at the centroid
  const auto ten = at::full({}, 10.0, xs.options());
  auto key = at::where(v, at::where(dx >= 0, p, 2 - p), ten);
  // Merge distance for near-duplicate points: a few ulps of the row's extent around the centroid.
  const double eps = x.scalar_type() == at::kDouble ? 2.220446049250313e-16 : 1.1920928955078125e-07;
  auto tol = at::where(v, at::maximum(dx.abs(), dy.abs()), at::zeros({}, dx.options())).amax(1, true) * (16 * eps);
  auto width = xs.size(1);
  for (int64_t pass = 0; pass <= S; ++pass) {  // host-side: at most S pruning passes
    auto sorted = key.sort(/*stable=*/true, /*dim=*/1, /*descending=*/false);  // ties: compacted order
    const auto& order = std::get<1>(sorted);
    key = std::get<0>(sorted);
    xs = xs.gather(1, order);
    ys = ys.gather(1, order);
    // Alive points are now the prefix [0, n) in counter-clockwise order: drop dead columns.
    const int64_t w_now = std::max<int64_t>(n.max().item<int64_t>(), 1);  // host-side: one count per pass
    if (w_now < width) {
      width = w_now;
      key = key.narrow(1, 0, width);
      xs = xs.narrow(1, 0, width);
      ys = ys.narrow(1, 0, width);
    }
    // Edge k runs from point k to point k + 1, wrapping at n; turn k = cross(edge k-1, edge k).
    const auto k = at::arange(width, n.options()).unsqueeze(0);  // [1, width]
    const auto wrap = k + 1 == n;
    const auto nx = at::where(wrap, xs.narrow(1, 0, 1), xs.roll(-1, 1));
    const auto ny = at::where(wrap, ys.narrow(1, 0, 1), ys.roll(-1, 1));
    const auto ex = nx - xs, ey = ny - ys;
    const auto last = (n - 1).clamp_min(0);
    const auto first = k == 0;
    const auto pex = at::where(first, ex.gather(1, last), ex.roll(1, 1));
    const auto pey = at::where(first, ey.gather(1, last), ey.roll(1, 1));
    const auto alive = k < n;
    // Duplicates would hide reflex vertices behind zero-length edges, and near-duplicates (a
    // crossing computed at a vertex, a few ulps off) can be sorted against their true angular
    // order, which makes both look reflex: a point within `tol` of its predecessor is dropped
    // (never the first of a run), and the turn test waits until a point has no such neighbour.
    const auto dup_next = ((nx - xs).abs() <= tol) & ((ny - ys).abs() <= tol);
    const auto dup_prev = at::where(first, dup_next.gather(1, last), dup_next.roll(1, 1));
    // Distinct points on one ray from the centroid (equal keys) would hide reflex vertices behind
    // back-and-forth edges: keep only the farthest. The farthest point of a ray is never dropped,
    // nor is a hull vertex ever reflex.
    const auto rx = xs - ox, ry = ys - oy;
    const auto d = rx * rx + ry * ry;
    const auto same_prev = (~first) & (key == key.roll(1, 1)) & (d <= d.roll(1, 1));
    const auto same_next = (k + 1 < n) & (key == key.roll(-1, 1)) & (d < d.roll(-1, 1));
    const auto test = ~(dup_prev | dup_next);
    const auto drop = alive & (dup_prev | (test & ((pex * ey - pey * ex < 0) | same_prev | same_next)));
    const auto again = drop.any(1);
    const auto done = (~again).nonzero().squeeze(1);  // host-side: one count per pass
    if (done.numel() > 0) {
      // MMCV's fan from the first hull point: sum of cross(p_k - p_0, p_k+1 - p_0), over a fixed
      // width S so that a row's rounding does not depend on its chunk.
      const auto x0 = xs.narrow(1, 0, 1), y0 = ys.narrow(1, 0, 1);
      auto terms = at::where(alive, (xs - x0) * (ny - y0) - (ys - y0) * (nx - x0), at::zeros({}, xs.options()));
      if (width < S) terms = at::constant_pad_nd(terms, {0, S - width});
      area.index_copy_(0, rows.index_select(0, done), terms.index_select(0, done).sum(1) / 2.0);
    }
    if (done.numel() == rows.numel()) break;
    const auto todo = again.nonzero().squeeze(1);
    rows = rows.index_select(0, todo);
    xs = xs.index_select(0, todo);
    ys = ys.index_select(0, todo);
    ox = ox.index_select(0, todo);
    oy = oy.index_select(0, todo);
    tol = tol.index_select(0, todo);
    key = at::where(drop, ten, key).index_select(0, todo);
    n = n.index_select(0, todo) - drop.index_select(0, todo).sum(1, true);
  }
  return area;
}

/// Fan area from vertex 0 with |cross| per triangle, as MMCV's quadri_box_area: x, y [K, 4] -> [K].
inline at::Tensor quadri_fan_area(const at::Tensor& x, const at::Tensor& y) {
  const auto x0 = x.narrow(1, 0, 1), y0 = y.narrow(1, 0, 1);
  const auto ex = x.narrow(1, 1, 3) - x0, ey = y.narrow(1, 1, 3) - y0;  // q[i] - q[0], i = 1..3
  const auto c = ex.narrow(1, 0, 2) * ey.narrow(1, 1, 2) - ex.narrow(1, 1, 2) * ey.narrow(1, 0, 2);
  return c.abs().sum(1) / 2.0;
}

/// MMCV's quadrilateral intersection: hull area of (edge crossings + vertices passing the other
/// quad's parallelogram test). px, py, qx, qy: [K, 4] (already centre-shifted) -> [K].
inline at::Tensor quadri_candidate_area(const at::Tensor& px, const at::Tensor& py, const at::Tensor& qx,
                                        const at::Tensor& qy) {
  const int64_t K = px.size(0);
  const auto vpx = px.roll(-1, 1) - px, vpy = py.roll(-1, 1) - py;  // edge vectors [K, 4]
  const auto vqx = qx.roll(-1, 1) - qx, vqy = qy.roll(-1, 1) - qy;
  // Edge i of p against edge j of q: [K, 4, 1] x [K, 1, 4] -> [K, 4, 4].
  const auto Pi_x = px.unsqueeze(2), Pi_y = py.unsqueeze(2), Vi_x = vpx.unsqueeze(2), Vi_y = vpy.unsqueeze(2);
  const auto Qj_x = qx.unsqueeze(1), Qj_y = qy.unsqueeze(1), Vj_x = vqx.unsqueeze(1), Vj_y = vqy.unsqueeze(1);
  const auto det = Vj_x * Vi_y - Vi_x * Vj_y;  // cross(vec2[j], vec1[i])
  const auto wx = Qj_x - Pi_x, wy = Qj_y - Pi_y;  // vec12
  const auto ok_det = det.abs() > 1e-14;
  const auto safe_det = at::where(ok_det, det, at::ones({}, det.options()));
  const auto t1 = (Vj_x * wy - wx * Vj_y) / safe_det;  // cross(vec2[j], vec12) / det
  const auto t2 = (Vi_x * wy - wx * Vi_y) / safe_det;  // cross(vec1[i], vec12) / det
  const auto ok = ok_det & (t1 >= 0) & (t1 <= 1) & (t2 >= 0) & (t2 <= 1);
  const auto cx = (Pi_x + Vi_x * t1).reshape({K, 16}), cy = (Pi_y + Vi_y * t1).reshape({K, 16});
  // Vertices of a inside b's parallelogram frame (A = b0, AB = b1 - b0, AD = b3 - b0).
  const auto inside = [](const at::Tensor& ax, const at::Tensor& ay, const at::Tensor& bx, const at::Tensor& by,
                         const at::Tensor& vbx, const at::Tensor& vby) {
    const auto abx = vbx.narrow(1, 0, 1), aby = vby.narrow(1, 0, 1);  // AB
    const auto dax = vbx.narrow(1, 3, 1), day = vby.narrow(1, 3, 1);  // DA = b0 - b3
    const auto apx = ax - bx.narrow(1, 0, 1), apy = ay - by.narrow(1, 0, 1);
    const auto ab_ab = abx * abx + aby * aby, ad_ad = dax * dax + day * day;
    const auto ap_ab = apx * abx + apy * aby;
    const auto ap_ad = -(apx * dax + apy * day);
    return (ap_ab >= 0) & (ap_ad >= 0) & (ap_ab <= ab_ab) & (ap_ad <= ad_ad);
  };
  const auto in_p = inside(px, py, qx, qy, vqx, vqy);  // vertices of p inside q
  const auto in_q = inside(qx, qy, px, py, vpx, vpy);  // vertices of q inside p
  const auto xs = at::cat({cx, px, qx}, 1), ys = at::cat({cy, py, qy}, 1);  // [K, 24]
  const auto valid = at::cat({ok.reshape({K, 16}), in_p, in_q}, 1);
  return convex_hull_area(xs, ys, valid);
}

// =============================================================================================
// Per-box preparation
// =============================================================================================

/// Rotated boxes (cx, cy, w, h, angle in radians, MMCV's clockwise-positive convention after the
/// caller's flip) packed as columns for gathering, plus bounding boxes for pair pruning.
struct RotatedPrep {
  /// [N, 11]: cx, cy, w, h, cos, sin, area (= w * h), x0, y0, x1, y1 (bounding box; empty, i.e.
  /// x0 = +inf, x1 = -inf, for boxes below the area rule or with a non-finite value, so they
  /// never become candidates).
  at::Tensor cols;
  int64_t size() const { return cols.size(0); }
};

/// boxes: [N, 5] float32/float64; `clockwise == false` negates the angle (MMCV's flip_mat).
inline RotatedPrep prepare_rotated(const at::Tensor& boxes, bool clockwise) {
  const auto b = boxes.contiguous();
  const auto cx = b.select(1, 0), cy = b.select(1, 1), w = b.select(1, 2), h = b.select(1, 3);
  auto a = b.select(1, 4);
  if (!clockwise) a = -a;
  // MMCV evaluates cos/sin in double and rounds to T.
  const auto ad = a.to(at::kDouble);
  const auto c = ad.cos().to(b.scalar_type()), s = ad.sin().to(b.scalar_type());
  const auto area = w * h;
  const auto ex = (c * w).abs() * 0.5 + (s * h).abs() * 0.5;  // half extents of the bounding box
  const auto ey = (s * w).abs() * 0.5 + (c * h).abs() * 0.5;
  // Boxes below the area rule, and boxes with a non-finite value (MMCV's intersection is 0 for
  // them: every vertex test fails on NaN), are never candidates.
  const auto ok = (area >= kPolygonMinArea) & at::isfinite(b).all(1);
  const auto inf = at::full({}, std::numeric_limits<double>::infinity(), b.options());
  const auto x0 = at::where(ok, cx - ex, inf), x1 = at::where(ok, cx + ex, -inf);
  const auto y0 = at::where(ok, cy - ey, inf), y1 = at::where(ok, cy + ey, -inf);
  return {at::stack({cx, cy, w, h, c, s, area, x0, y0, x1, y1}, 1)};
}

/// Quadrilaterals (x1, y1, ..., x4, y4) packed for gathering, plus an extended bounding box that
/// covers the quad and its parallelogram-test region (so MMCV's vertex tests can only pass for
/// pairs whose boxes overlap).
struct QuadriPrep {
  /// [N, 12]: x1, y1, ..., x4, y4, then x0, y0, x1, y1 of the extended bounding box.
  at::Tensor cols;
  int64_t size() const { return cols.size(0); }
};

inline QuadriPrep prepare_quadri(const at::Tensor& quads) {
  const auto q = quads.contiguous();
  const auto px = q.slice(1, 0, 8, 2), py = q.slice(1, 1, 8, 2);  // [N, 4]
  // MMCV's vertex test for a point P against this quad accepts P iff
  // 0 <= AP.b <= |b|^2 and 0 <= AP.d <= |d|^2 (A = v0, b = v1 - v0, d = v3 - v0): a parallelogram
  // R with corners A, A + ub, A + ud, A + ub + ud where ub.b = |b|^2, ub.d = 0, ud.b = 0,
  // ud.d = |d|^2. If b and d are parallel (det 0), R is unbounded.
  const auto ax = px.select(1, 0), ay = py.select(1, 0);
  const auto bx = px.select(1, 1) - ax, by = py.select(1, 1) - ay;
  const auto dx = px.select(1, 3) - ax, dy = py.select(1, 3) - ay;
  const auto det = bx * dy - by * dx;
  const auto bounded = det != 0;
  const auto sdet = at::where(bounded, det, at::ones({}, det.options()));
  const auto fb = (bx * bx + by * by) / sdet, fd = (dx * dx + dy * dy) / sdet;
  const auto ubx = fb * dy, uby = -fb * dx, udx = -fd * by, udy = fd * bx;
  const auto rx = at::stack({ax, ax + ubx, ax + udx, ax + ubx + udx}, 1);
  const auto ry = at::stack({ay, ay + uby, ay + udy, ay + uby + udy}, 1);
  const auto allx = at::cat({px, rx}, 1), ally = at::cat({py, ry}, 1);
  auto x0 = std::get<0>(allx.min(1)), x1 = std::get<0>(allx.max(1));
  auto y0 = std::get<0>(ally.min(1)), y1 = std::get<0>(ally.max(1));
  // Pad for rounding (the kernel works on centre-shifted coordinates): 1e-4 of the extent plus a
  // few ulps of the coordinates' magnitude.
  const auto mag = at::maximum(at::maximum(x0.abs(), x1.abs()), at::maximum(y0.abs(), y1.abs()));
  const auto pad = ((x1 - x0) + (y1 - y0)) * 1e-4 + mag * 1e-5;
  // Unbounded test regions cover the plane; quads with a non-finite coordinate are never
  // candidates (their result is NaN, see quadri_overlaps).
  const auto inf = at::full({}, std::numeric_limits<double>::infinity(), q.options());
  const auto finite = at::isfinite(q).all(1), open = bounded.logical_not() | at::isfinite(pad).logical_not();
  x0 = at::where(finite, at::where(open, -inf, x0 - pad), inf);
  y0 = at::where(finite, at::where(open, -inf, y0 - pad), inf);
  x1 = at::where(finite, at::where(open, inf, x1 + pad), -inf);
  y1 = at::where(finite, at::where(open, inf, y1 + pad), -inf);
  return {at::cat({q, at::stack({x0, y0, x1, y1}, 1)}, 1)};
}

// =============================================================================================
// Pair IoU (K gathered pairs)
// =============================================================================================

/// IoU (iof == false) or IoF of rotated pairs: a, b [K, 11] rows of RotatedPrep::cols -> [K].
inline at::Tensor rotated_pair_overlaps(const at::Tensor& a, const at::Tensor& b, bool iof) {
  const auto acx = a.select(1, 0), acy = a.select(1, 1), aw = a.select(1, 2), ah = a.select(1, 3);
  const auto ac = a.select(1, 4), as = a.select(1, 5), aarea = a.select(1, 6);
  const auto bcx = b.select(1, 0), bcy = b.select(1, 1), bw = b.select(1, 2), bh = b.select(1, 3);
  const auto bc = b.select(1, 4), bs = b.select(1, 5), barea = b.select(1, 6);
  // Box a in box b's frame (b centred and axis aligned): centre R(-theta_b) (ca - cb), corner
  // offsets rotated by theta_a - theta_b. MMCV's vertex order: (-w/2, h/2), (-w/2, -h/2),
  // (w/2, -h/2), (w/2, h/2) rotated, counter-clockwise with y up for w * h > 0.
  const auto dx = acx - bcx, dy = acy - bcy;
  const auto lx = bc * dx + bs * dy, ly = bc * dy - bs * dx;
  const auto cd = ac * bc + as * bs, sd = as * bc - ac * bs;  // cos, sin of theta_a - theta_b
  const auto hw = aw * 0.5, hh = ah * 0.5;
  const auto cw = cd * hw, sh = sd * hh, sw = sd * hw, ch = cd * hh;
  const auto x = at::stack({lx - cw - sh, lx - cw + sh, lx + cw + sh, lx + cw - sh}, 1);  // [K, 4]
  const auto y = at::stack({ly - sw + ch, ly - sw - ch, ly + sw - ch, ly + sw + ch}, 1);
  const auto inter = box_clip_area(x, y, bw.abs() * 0.5, bh.abs() * 0.5).clamp_min(0);
  const auto base = iof ? aarea : aarea + barea - inter;
  const auto ok = (aarea >= kPolygonMinArea) & (barea >= kPolygonMinArea);
  return at::where(ok, inter / at::where(ok, base, at::ones({}, base.options())), at::zeros({}, base.options()));
}

/// IoU / IoF of quadrilateral pairs: a, b [K, 12] rows of QuadriPrep::cols -> [K].
inline at::Tensor quadri_pair_overlaps(const at::Tensor& a, const at::Tensor& b, bool iof) {
  const auto ax = a.slice(1, 0, 8, 2), ay = a.slice(1, 1, 8, 2);
  const auto bx = b.slice(1, 0, 8, 2), by = b.slice(1, 1, 8, 2);
  // MMCV's shift: the mean of all 8 points, summed as p1[0] + p2[0] + p1[2] + p2[2] + ...
  auto sx = ax.select(1, 0) + bx.select(1, 0);
  auto sy = ay.select(1, 0) + by.select(1, 0);
  for (int64_t i = 1; i < 4; ++i) {  // host-side: 3 unrolled steps, fixes the summation order
    sx = sx + ax.select(1, i) + bx.select(1, i);
    sy = sy + ay.select(1, i) + by.select(1, i);
  }
  sx = (sx / 8.0).unsqueeze(1);
  sy = (sy / 8.0).unsqueeze(1);
  const auto px = ax - sx, py = ay - sy, qx = bx - sx, qy = by - sy;
  const auto area_a = quadri_fan_area(px, py), area_b = quadri_fan_area(qx, qy);
  const auto inter = quadri_candidate_area(px, py, qx, qy);
  const auto base = iof ? area_a : area_a + area_b - inter;
  const auto ok = (area_a >= kPolygonMinArea) & (area_b >= kPolygonMinArea);
  return at::where(ok, inter / at::where(ok, base, at::ones({}, base.options())), at::zeros({}, base.options()));
}

// =============================================================================================
// Pairwise driver
// =============================================================================================

/// Bounding-box overlap (inclusive) of packed columns whose last 4 are x0, y0, x1, y1;
/// broadcasting [.., 4] x [.., 4].
inline at::Tensor polygon_bbox_overlap(const at::Tensor& a, const at::Tensor& b) {
  const auto n = a.size(-1);
  return (a.select(-1, n - 4) <= b.select(-1, n - 2)) & (b.select(-1, n - 4) <= a.select(-1, n - 2)) &
         (a.select(-1, n - 3) <= b.select(-1, n - 1)) & (b.select(-1, n - 3) <= a.select(-1, n - 1));
}

/// Overlaps of two packed box sets (RotatedPrep::cols / QuadriPrep::cols) with `pair_fn(a_rows,
/// b_rows) -> [K]` evaluated only where bounding boxes overlap (elsewhere the result is 0).
/// aligned: row i with row i -> [N]; otherwise [N, M]. Memory bound: see the file comment.
template <class PairFn>
at::Tensor polygon_overlaps(const at::Tensor& cols1, const at::Tensor& cols2, bool aligned, const PairFn& pair_fn) {
  at::NoGradGuard no_grad;
  const int64_t N = cols1.size(0), M = cols2.size(0);
  const auto opts = cols1.options();
  if (aligned) {
    auto out = at::zeros({N}, opts);
    const auto cand = polygon_bbox_overlap(cols1, cols2).nonzero().squeeze(1);  // host-side: one count
    for (int64_t c0 = 0; c0 < cand.numel(); c0 += kPolygonPairChunk) {  // host-side: chunk loop
      const auto idx = cand.narrow(0, c0, std::min(kPolygonPairChunk, cand.numel() - c0));
      out.index_copy_(0, idx, pair_fn(cols1.index_select(0, idx), cols2.index_select(0, idx)));
    }
    return out;
  }
  auto out = at::zeros({N, M}, opts);
  if (N == 0 || M == 0) return out;
  auto flat = out.view({-1});
  const int64_t rows_per_tile = std::max<int64_t>(1, kPolygonMaskPairs / M);
  for (int64_t r0 = 0; r0 < N; r0 += rows_per_tile) {  // host-side: loop over row tiles
    const int64_t nr = std::min(rows_per_tile, N - r0);
    const auto tile = cols1.narrow(0, r0, nr);
    const auto mask = polygon_bbox_overlap(tile.unsqueeze(1), cols2.unsqueeze(0));  // [nr, M]
    const auto cand = mask.view({-1}).nonzero().squeeze(1);  // host-side: one count per tile
    for (int64_t c0 = 0; c0 < cand.numel(); c0 += kPolygonPairChunk) {  // host-side: chunk loop
      const auto lin = cand.narrow(0, c0, std::min(kPolygonPairChunk, cand.numel() - c0));
      const auto i = lin.div(M, "trunc") + r0, j = lin.remainder(M);
      flat.index_copy_(0, lin + r0 * M, pair_fn(cols1.index_select(0, i), cols2.index_select(0, j)));
    }
  }
  return out;
}

/// Argument checks shared by box_iou_rotated and box_iou_quadri (shape, dtype, device, mode, in
/// the project's order): bboxes1 [N, width], bboxes2 [M, width] ([N, width] when aligned).
/// Returns the all-zero result when either side is empty ([N] aligned, [N, M] otherwise), an
/// undefined tensor otherwise.
inline at::Tensor check_polygon_iou_args(const at::Tensor& bboxes1, const at::Tensor& bboxes2, const char* width,
                                         const std::string& mode, bool aligned, const char* op) {
  ShapeChecker sc(op);
  sc.check(bboxes1, "bboxes1", {"N", width});
  sc.check(bboxes2, "bboxes2", {aligned ? "N" : "M", width});
  check_floating(bboxes1, op, "bboxes1");
  check_same_dtype(bboxes1, bboxes2, op, "bboxes1", "bboxes2");
  check_same_device(bboxes1, bboxes2, op, "bboxes1", "bboxes2");
  check_one_of(mode, {"iou", "iof"}, op, "mode");
  // The result's size is known up front (N * M can overflow for expanded inputs).
  if (aligned) {
    check_can_allocate({bboxes1.size(0)}, bboxes1.options(), op, "the output");
  } else {
    check_can_allocate({bboxes1.size(0), bboxes2.size(0)}, bboxes1.options(), op, "the output");
  }
  if (bboxes1.size(0) > 0 && bboxes2.size(0) > 0) return at::Tensor();
  return aligned ? at::zeros({bboxes1.size(0)}, bboxes1.options())
                 : at::zeros({bboxes1.size(0), bboxes2.size(0)}, bboxes1.options());
}

/// Rotated-box overlaps (box_iou_rotated's core): prepared columns in, [N, M] or [N] out.
/// Non-finite input gets MMCV's result (its kernel has no checks): a pair involving a box with a
/// non-finite value has intersection 0, so its IoU is 0 unless a denominator is NaN: a NaN area
/// (NaN w or h) gives NaN (iou: either box; iof: the first box), except that a pair with an
/// area below 1e-14 is 0 first. Host-side: one NaN check of the areas (a device sync).
inline at::Tensor rotated_overlaps(const RotatedPrep& b1, const RotatedPrep& b2, bool iof, bool aligned) {
  auto out = polygon_overlaps(b1.cols, b2.cols, aligned,
                              [iof](const at::Tensor& a, const at::Tensor& b) { return rotated_pair_overlaps(a, b, iof); });
  auto a1 = b1.cols.select(1, 6), a2 = b2.cols.select(1, 6);
  if (!aligned) {
    a1 = a1.unsqueeze(1);  // [N, 1]
    a2 = a2.unsqueeze(0);  // [1, M]
  }
  const auto nan1 = at::isnan(a1), nan2 = at::isnan(a2);
  if (!(nan1.any().item<bool>() || (!iof && nan2.any().item<bool>()))) return out;  // host-side: NaN check
  const auto early = (a1 < kPolygonMinArea) | (a2 < kPolygonMinArea);
  const auto nan = (iof ? nan1 : (nan1 | nan2)) & early.logical_not();
  return at::where(nan, at::full({}, std::numeric_limits<double>::quiet_NaN(), out.options()), out);
}

/// Quadrilateral overlaps (box_iou_quadri's core). Non-finite input gets MMCV's result: a
/// non-finite coordinate makes the pair's centre shift, hence both areas, NaN, so every pair
/// involving that quad is NaN (both modes). Host-side: one finiteness check (a device sync).
inline at::Tensor quadri_overlaps(const QuadriPrep& b1, const QuadriPrep& b2, bool iof, bool aligned) {
  auto out = polygon_overlaps(b1.cols, b2.cols, aligned,
                              [iof](const at::Tensor& a, const at::Tensor& b) { return quadri_pair_overlaps(a, b, iof); });
  auto bad1 = at::isfinite(b1.cols.narrow(1, 0, 8)).all(1).logical_not();
  auto bad2 = at::isfinite(b2.cols.narrow(1, 0, 8)).all(1).logical_not();
  if (!(bad1.any().item<bool>() || bad2.any().item<bool>())) return out;  // host-side: finiteness check
  if (!aligned) {
    bad1 = bad1.unsqueeze(1);
    bad2 = bad2.unsqueeze(0);
  }
  return at::where(bad1 | bad2, at::full({}, std::numeric_limits<double>::quiet_NaN(), out.options()), out);
}

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
