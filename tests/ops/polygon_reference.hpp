// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test-only float64 scalar references for the rotated / quadrilateral family, written from the
// definitions (loops are fine here): MMCV's box corners, a plain Sutherland-Hodgman clipper (the
// true intersection of a polygon with a convex polygon), MMCV's quadrilateral rule (edge
// crossings + parallelogram vertex tests + convex hull, hull by Andrew's monotone chain) and a
// greedy NMS. Used by test_box_iou_rotated, test_box_iou_quadri, test_nms_rotated and
// test_detail_polygon.

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace polygon_ref {

struct Pt {
  double x, y;
};
using Poly = std::vector<Pt>;

inline double cross(Pt a, Pt b) { return a.x * b.y - a.y * b.x; }
inline Pt sub(Pt a, Pt b) { return {a.x - b.x, a.y - b.y}; }

/// Signed shoelace area (counter-clockwise with y up is positive).
inline double signed_area(const Poly& p) {
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) s += cross(p[i], p[(i + 1) % p.size()]);
  return s / 2;
}

/// MMCV's get_rotated_vertices: (cx, cy, w, h, angle), angle clockwise-positive on screen.
inline Poly rotated_corners(double cx, double cy, double w, double h, double a) {
  const double c = std::cos(a) * 0.5, s = std::sin(a) * 0.5;
  Pt p0{cx - s * h - c * w, cy + c * h - s * w};
  Pt p1{cx + s * h - c * w, cy - c * h - s * w};
  return {p0, p1, {2 * cx - p0.x, 2 * cy - p0.y}, {2 * cx - p1.x, 2 * cy - p1.y}};
}

/// Sutherland-Hodgman: subject polygon clipped by the convex polygon `clip` (either orientation).
inline Poly clip_convex(const Poly& subject, const Poly& clip) {
  const double orient = signed_area(clip) >= 0 ? 1.0 : -1.0;
  Poly out = subject;
  for (size_t e = 0; e < clip.size() && !out.empty(); ++e) {
    const Pt a = clip[e], b = clip[(e + 1) % clip.size()];
    const Pt d = sub(b, a);
    Poly in = out;
    out.clear();
    for (size_t k = 0; k < in.size(); ++k) {
      const Pt cur = in[k], prv = in[(k + in.size() - 1) % in.size()];
      const double sc = orient * cross(d, sub(cur, a)), sp = orient * cross(d, sub(prv, a));
      if (sc >= 0) {
        if (sp < 0) {
          const double t = sp / (sp - sc);
          out.push_back({prv.x + (cur.x - prv.x) * t, prv.y + (cur.y - prv.y) * t});
        }
        out.push_back(cur);
      } else if (sp >= 0) {
        const double t = sp / (sp - sc);
        out.push_back({prv.x + (cur.x - prv.x) * t, prv.y + (cur.y - prv.y) * t});
      }
    }
  }
  return out;
}

/// True intersection area of a convex polygon with a convex polygon.
inline double convex_intersection_area(const Poly& p, const Poly& q) {
  const Poly r = clip_convex(p, q);
  return r.size() < 3 ? 0.0 : std::abs(signed_area(r));
}

/// Convex hull area (Andrew's monotone chain; collinear points dropped).
inline double hull_area(std::vector<Pt> pts) {
  if (pts.size() < 3) return 0.0;
  std::sort(pts.begin(), pts.end(), [](Pt a, Pt b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
  std::vector<Pt> h(2 * pts.size());
  size_t k = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    while (k >= 2 && cross(sub(h[k - 1], h[k - 2]), sub(pts[i], h[k - 2])) <= 0) --k;
    h[k++] = pts[i];
  }
  for (size_t i = pts.size() - 1, t = k + 1; i > 0; --i) {
    while (k >= t && cross(sub(h[k - 1], h[k - 2]), sub(pts[i - 1], h[k - 2])) <= 0) --k;
    h[k++] = pts[i - 1];
  }
  h.resize(k > 0 ? k - 1 : 0);
  return h.size() < 3 ? 0.0 : std::abs(signed_area(h));
}

/// MMCV's quadrilateral intersection rule (box_iou_rotated_utils.hpp get_intersection_points +
/// convex hull), restated: crossings of the 16 edge pairs (|det| > 1e-14, t1, t2 in [0, 1]), the
/// vertices of each quad passing the other's AB/AD projection test, then the hull area.
inline double mmcv_candidate_area(const Poly& p1, const Poly& p2) {
  std::vector<Pt> pts;
  Pt v1[4], v2[4];
  for (int i = 0; i < 4; ++i) {
    v1[i] = sub(p1[(i + 1) % 4], p1[i]);
    v2[i] = sub(p2[(i + 1) % 4], p2[i]);
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const double det = cross(v2[j], v1[i]);
      if (std::abs(det) <= 1e-14) continue;
      const Pt w = sub(p2[j], p1[i]);
      const double t1 = cross(v2[j], w) / det, t2 = cross(v1[i], w) / det;
      if (t1 >= 0 && t1 <= 1 && t2 >= 0 && t2 <= 1) pts.push_back({p1[i].x + v1[i].x * t1, p1[i].y + v1[i].y * t1});
    }
  auto inside = [&](const Poly& a, const Poly& b, const Pt* vb) {
    const Pt ab = vb[0], da = vb[3];
    const double abab = ab.x * ab.x + ab.y * ab.y, adad = da.x * da.x + da.y * da.y;
    for (int i = 0; i < 4; ++i) {
      const Pt ap = sub(a[i], b[0]);
      const double apab = ap.x * ab.x + ap.y * ab.y, apad = -(ap.x * da.x + ap.y * da.y);
      if (apab >= 0 && apad >= 0 && apab <= abab && apad <= adad) pts.push_back(a[i]);
    }
  };
  inside(p1, p2, v2);
  inside(p2, p1, v1);
  return hull_area(pts);
}

/// MMCV's quadri_box_area: fan from vertex 0 with |cross| per triangle.
inline double fan_area(const Poly& q) {
  double a = 0;
  for (int i = 1; i < 3; ++i) a += std::abs(cross(sub(q[i], q[0]), sub(q[i + 1], q[0])));
  return a / 2;
}

/// Rows of a [N, D] tensor as doubles.
inline std::vector<std::vector<double>> rows(const at::Tensor& t) {
  auto c = t.to(at::kCPU, at::kDouble).contiguous();
  std::vector<std::vector<double>> out;
  for (int64_t r = 0; r < c.size(0); ++r)
    out.emplace_back(c.data_ptr<double>() + r * c.size(1), c.data_ptr<double>() + (r + 1) * c.size(1));
  return out;
}

/// The parts of one pair's overlap: intersection, both areas (MMCV's definitions), and whether
/// MMCV's area rule (< 1e-14) returned 0 first.
struct Parts {
  double inter = 0, area1 = 0, area2 = 0;
  bool early_zero = false;
  double value(bool iof) const {
    if (early_zero) return 0.0;
    return iof ? inter / area1 : inter / (area1 + area2 - inter);
  }
};

/// Rotated-box pair (MMCV's definition with the true intersection area).
inline Parts rotated_parts(std::vector<double> a, std::vector<double> b, bool clockwise) {
  if (!clockwise) {
    a[4] = -a[4];
    b[4] = -b[4];
  }
  Parts r;
  r.area1 = a[2] * a[3];
  r.area2 = b[2] * b[3];
  if (r.area1 < 1e-14 || r.area2 < 1e-14) {
    r.early_zero = true;
    return r;
  }
  const double sx = (a[0] + b[0]) / 2, sy = (a[1] + b[1]) / 2;
  r.inter = convex_intersection_area(rotated_corners(a[0] - sx, a[1] - sy, a[2], a[3], a[4]),
                                     rotated_corners(b[0] - sx, b[1] - sy, b[2], b[3], b[4]));
  return r;
}

inline double rotated_iou(const std::vector<double>& a, const std::vector<double>& b, bool iof, bool clockwise) {
  return rotated_parts(a, b, clockwise).value(iof);
}

/// Quadrilateral pair with MMCV's rule (shift by the mean of the 8 points, summed left to right
/// as MMCV: p1[0] + p2[0] + p1[2] + p2[2] + ...).
inline Parts quadri_parts(const std::vector<double>& a, const std::vector<double>& b) {
  double sx = a[0] + b[0], sy = a[1] + b[1];
  for (int i = 1; i < 4; ++i) {
    sx = sx + a[2 * i] + b[2 * i];
    sy = sy + a[2 * i + 1] + b[2 * i + 1];
  }
  sx /= 8;
  sy /= 8;
  Poly p, q;
  for (int i = 0; i < 4; ++i) {
    p.push_back({a[2 * i] - sx, a[2 * i + 1] - sy});
    q.push_back({b[2 * i] - sx, b[2 * i + 1] - sy});
  }
  Parts r;
  r.area1 = fan_area(p);
  r.area2 = fan_area(q);
  if (r.area1 < 1e-14 || r.area2 < 1e-14) {
    r.early_zero = true;
    return r;
  }
  r.inter = mmcv_candidate_area(p, q);
  return r;
}

inline double quadri_iou(const std::vector<double>& a, const std::vector<double>& b, bool iof) {
  return quadri_parts(a, b).value(iof);
}

using PairFn = std::function<double(const std::vector<double>&, const std::vector<double>&)>;

/// All pairs ([N, M]) or aligned pairs ([N]) of a scalar pair function, float64 on CPU.
inline at::Tensor pairwise(const at::Tensor& b1, const at::Tensor& b2, bool aligned, const PairFn& fn) {
  const auto r1 = rows(b1), r2 = rows(b2);
  const int64_t n = b1.size(0), m = b2.size(0);
  auto out = aligned ? at::zeros({n}, at::kDouble) : at::zeros({n, m}, at::kDouble);
  auto* o = out.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < (aligned ? 1 : m); ++j) o[aligned ? i : i * m + j] = fn(r1[i], r2[aligned ? i : j]);
  return out;
}

/// Greedy NMS: boxes visited by descending score (ties: lower index first), a box is suppressed
/// when its IoU with a kept box is >= thr. Returns kept indices in visiting order.
inline std::vector<int64_t> greedy_nms(const at::Tensor& dets, const at::Tensor& scores, double thr, const PairFn& iou) {
  const auto s = scores.to(at::kCPU, at::kDouble).contiguous();
  const int64_t n = s.numel();
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  const double* sp = s.data_ptr<double>();
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sp[a] > sp[b]; });
  const auto r = rows(dets);
  std::vector<char> sup(n, 0);
  std::vector<int64_t> keep;
  for (int64_t a = 0; a < n; ++a) {
    const int64_t i = order[a];
    if (sup[i]) continue;
    keep.push_back(i);
    for (int64_t b = a + 1; b < n; ++b) {
      const int64_t j = order[b];
      if (!sup[j] && iou(r[i], r[j]) >= thr) sup[j] = 1;
    }
  }
  return keep;
}

}  // namespace polygon_ref
