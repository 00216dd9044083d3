// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/detail/polygon.hpp: the clamp-path box clip, the masked convex hull,
// MMCV's quadrilateral candidate rule and the pairwise driver, against scalar float64 loops.

#include <mmcv/ops/detail/polygon.hpp>

#include <cmath>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/polygon_reference.hpp"

namespace {

using mmcv_test::DeviceTest;
using polygon_ref::Poly;

Poly row_poly(const at::Tensor& x, const at::Tensor& y, int64_t r, int64_t n) {
  Poly p;
  auto xc = x.cpu().to(at::kDouble), yc = y.cpu().to(at::kDouble);
  for (int64_t i = 0; i < n; ++i) p.push_back({xc[r][i].item<double>(), yc[r][i].item<double>()});
  return p;
}

class polygon_test : public DeviceTest {};

TEST_P(polygon_test, box_clip_area_equals_sutherland_hodgman) {
  // Random convex quads (both orientations) and a few random non-convex / self-intersecting
  // polygons clipped to random centred boxes; the clamp path's area is the winding-number area
  // of the polygon inside the box, equal to the S-H clip for convex polygons.
  const int64_t K = 400;
  auto a = at::rand({K, 1}, f64()) * 2 * M_PI;
  auto c = (at::rand({K, 2}, f64()) - 0.5) * 6;
  auto wh = at::rand({K, 2}, f64()) * 4 + 0.1;
  std::vector<at::Tensor> xs, ys;
  const double ox[4] = {-0.5, -0.5, 0.5, 0.5}, oy[4] = {0.5, -0.5, -0.5, 0.5};
  for (int i = 0; i < 4; ++i) {
    auto dx = wh.narrow(1, 0, 1) * ox[i], dy = wh.narrow(1, 1, 1) * oy[i];
    xs.push_back(c.narrow(1, 0, 1) + a.cos() * dx - a.sin() * dy);
    ys.push_back(c.narrow(1, 1, 1) + a.sin() * dx + a.cos() * dy);
  }
  auto x = at::cat(xs, 1), y = at::cat(ys, 1);
  auto hw = at::rand({K}, f64()) * 3 + 0.01, hh = at::rand({K}, f64()) * 3 + 0.01;
  auto area = mmcv::ops::detail::box_clip_area(x, y, hw, hh);
  auto area_cw = mmcv::ops::detail::box_clip_area(x.flip(1), y.flip(1), hw, hh);
  for (int64_t r = 0; r < K; ++r) {
    const double bw = hw[r].item<double>(), bh = hh[r].item<double>();
    const Poly box{{-bw, -bh}, {bw, -bh}, {bw, bh}, {-bw, bh}};
    const double expected = polygon_ref::convex_intersection_area(row_poly(x, y, r, 4), box);
    ASSERT_NEAR(area[r].item<double>(), expected, 1e-9) << "row " << r;
    ASSERT_NEAR(area_cw[r].item<double>(), -expected, 1e-9) << "row " << r;  // clockwise: negative
  }
  // Exact contacts: the box itself, a shared edge, a corner, a polygon around the box.
  auto px = at::tensor({-1.0, 1.0, 1.0, -1.0, 1.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 1.0, -5.0, 5.0, 5.0, -5.0}, f64())
                .view({4, 4});
  auto py = at::tensor({-1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, -5.0, -5.0, 5.0, 5.0}, f64())
                .view({4, 4});
  auto one = at::ones({4}, f64());
  EXPECT_ALLCLOSE(mmcv::ops::detail::box_clip_area(px, py, one, one), at::tensor({4.0, 0.0, 0.0, 4.0}, f64()));
  // Any vertex count works: a triangle covering the box's [0, 1]^2 quadrant.
  auto tx = at::tensor({0.0, 2.0, 0.0}, f64()).view({1, 3}), ty = at::tensor({0.0, 0.0, 2.0}, f64()).view({1, 3});
  EXPECT_NEAR(mmcv::ops::detail::box_clip_area(tx, ty, one.narrow(0, 0, 1), one.narrow(0, 0, 1)).item<double>(),
              1.0, 1e-12);
}

TEST_P(polygon_test, convex_hull_area_equals_monotone_chain) {
  // Random masked point sets with exact duplicates and collinear runs (the cases that break a
  // naive star-polygon pruning), plus small integer grids (many exact ties).
  const int64_t K = 600, S = 24;
  auto x = at::randn({K, S}, f64()) * 3, y = at::randn({K, S}, f64()) * 3;
  auto dup = at::randint(S, {K, S}, f64().dtype(at::kLong));
  auto use_dup = at::rand({K, S}, f64()) < 0.3;
  x = at::where(use_dup, x.gather(1, dup), x);
  y = at::where(use_dup, y.gather(1, dup), y);
  auto grid = at::arange(K, f64()).unsqueeze(1) >= K / 2;  // second half: integer grid points
  x = at::where(grid, at::round(x), x);
  y = at::where(grid, at::round(y), y);
  auto valid = at::rand({K, S}, f64()) < 0.5;
  valid.narrow(0, 0, 5).fill_(false);  // rows with no point, then 1, 2 points
  valid[1][0] = true;
  valid[2][0] = true;
  valid[2][1] = true;
  auto area = mmcv::ops::detail::convex_hull_area(x, y, valid);
  auto xc = x.cpu(), yc = y.cpu(), vc = valid.cpu();
  for (int64_t r = 0; r < K; ++r) {
    std::vector<polygon_ref::Pt> pts;
    for (int64_t i = 0; i < S; ++i)
      if (vc[r][i].item<bool>()) pts.push_back({xc[r][i].item<double>(), yc[r][i].item<double>()});
    ASSERT_NEAR(area[r].item<double>(), polygon_ref::hull_area(pts), 1e-9) << "row " << r;
  }
  // Float32 agrees to float32 precision.
  auto area32 = mmcv::ops::detail::convex_hull_area(x.to(at::kFloat), y.to(at::kFloat), valid);
  EXPECT_ALLCLOSE(area32, area, mmcv_test::Tol{1e-4, 1e-4});
}

TEST_P(polygon_test, quadri_candidate_area_equals_mmcv_rule) {
  const int64_t K = 500;
  auto base = at::tensor({-10.0, 10.0, -10.0, -10.0, 10.0, -10.0, 10.0, 10.0}, f64());
  auto qa = base + at::randn({K, 8}, f64()) * 3;
  auto qb = base * (at::rand({K, 1}, f64()) + 0.5) + at::randn({K, 8}, f64()) * 3 + at::randn({K, 1}, f64()) * 8;
  auto px = qa.slice(1, 0, 8, 2), py = qa.slice(1, 1, 8, 2), qx = qb.slice(1, 0, 8, 2), qy = qb.slice(1, 1, 8, 2);
  auto area = mmcv::ops::detail::quadri_candidate_area(px, py, qx, qy);
  for (int64_t r = 0; r < K; ++r) {
    ASSERT_NEAR(area[r].item<double>(), polygon_ref::mmcv_candidate_area(row_poly(px, py, r, 4), row_poly(qx, qy, r, 4)),
                1e-8)
        << "row " << r;
  }
}

TEST_P(polygon_test, pairwise_driver_only_skips_zero_pairs) {
  // Rotated boxes: every pair the bounding-box test skips has true overlap 0, and evaluating all
  // pairs through the kernel gives the same matrix as the driver.
  auto b = at::cat({at::rand({300, 2}, f64()) * 200, at::rand({300, 2}, f64()) * 30 + 1,
                    (at::rand({300, 1}, f64()) - 0.5) * 6},
                   1);
  const auto prep = mmcv::ops::detail::prepare_rotated(b, true);
  auto out = mmcv::ops::detail::rotated_overlaps(prep, prep, false, false);
  auto i = at::arange(300, f64().dtype(at::kLong)).repeat_interleave(300);
  auto j = at::arange(300, f64().dtype(at::kLong)).repeat(300);
  auto dense = mmcv::ops::detail::rotated_pair_overlaps(prep.cols.index_select(0, i), prep.cols.index_select(0, j), false);
  EXPECT_ALLCLOSE(out.view({-1}), dense, mmcv_test::Tol{0, 1e-12});
  // Quads: including skewed ones whose parallelogram-test region extends beyond the quad.
  auto q = at::cat({at::rand({200, 8}, f64()) * 40 + at::rand({200, 1}, f64()) * 300}, 1);
  const auto qp = mmcv::ops::detail::prepare_quadri(q);
  auto qout = mmcv::ops::detail::quadri_overlaps(qp, qp, true, false);
  auto qi = at::arange(200, f64().dtype(at::kLong)).repeat_interleave(200);
  auto qj = at::arange(200, f64().dtype(at::kLong)).repeat(200);
  auto qdense = mmcv::ops::detail::quadri_pair_overlaps(qp.cols.index_select(0, qi), qp.cols.index_select(0, qj), true);
  EXPECT_ALLCLOSE(qout.view({-1}), qdense, mmcv_test::Tol{0, 1e-12});
}

TEST_P(polygon_test, per_pair_results_do_not_depend_on_the_batch) {
  auto q = at::rand({64, 8}, f32()) * 30;
  const auto qp = mmcv::ops::detail::prepare_quadri(q);
  auto full = mmcv::ops::detail::quadri_overlaps(qp, qp, false, false);
  for (int64_t r = 0; r < 64; r += 7) {
    auto one = mmcv::ops::detail::QuadriPrep{qp.cols.narrow(0, r, 1)};
    EXPECT_ALLEQUAL(mmcv::ops::detail::quadri_overlaps(one, qp, false, false)[0], full[r]);
  }
}

MMCV_INSTANTIATE_DEVICES(polygon_test);

}  // namespace
