// SPDX-License-Identifier: Apache-2.0
// Reliability specs for the point-cloud ops: knn, three_nn, three_interpolate, gather_points,
// grouping_operation (batch, stacked), furthest_point_sample(+_with_dist), ball_query,
// assign_score_withk, chamfer_distance. Properties compare with the loop references of
// tests/ops/points_reference.hpp (MMCV's kernel bodies).

#include <mmcv/ops/assign_score_withk.hpp>
#include <mmcv/ops/ball_query.hpp>
#include <mmcv/ops/chamfer_distance.hpp>
#include <mmcv/ops/furthest_point_sample.hpp>
#include <mmcv/ops/gather_points.hpp>
#include <mmcv/ops/group_points.hpp>
#include <mmcv/ops/knn.hpp>
#include <mmcv/ops/three_interpolate.hpp>
#include <mmcv/ops/three_nn.hpp>

#include <cmath>
#include <limits>

#include "ops/points_reference.hpp"
#include "reliability/reliability.hpp"

namespace {

using mmcv_rel::ArgKind;
using mmcv_rel::Gen;
using mmcv_rel::OpSpec;
using mmcv_rel::Sample;
using mmcv_rel::Tensors;
using mmcv_rel::Verdict;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Points [B, n, D] in float32: uniform, or on a coarse integer grid (exact distance ties).
at::Tensor cloud(Gen& g, int64_t B, int64_t n, int64_t D, bool grid) {
  auto x = g.uniform_tensor({B, n, D}, -2.0, 2.0, at::kFloat);
  return grid ? x.round() : x;
}

at::Tensor fixed_cloud(uint64_t seed, int64_t B, int64_t n, int64_t D) {
  Gen g(seed);
  return cloud(g, B, n, D, false);
}

at::Tensor idx_tensor(Gen& g, at::IntArrayRef shape, int64_t hi, at::ScalarType st = at::kInt) {
  return g.uniform_tensor(shape, 0.0, static_cast<double>(hi), at::kDouble).floor().clamp_max(hi - 1).to(st);
}

}  // namespace

MMCV_RELIABILITY_OP(knn) {
  OpSpec s;
  s.op = "knn";
  s.inputs = [] { return Tensors{fixed_cloud(1, 2, 200, 3), fixed_cloud(2, 2, 40, 3)}; };
  s.call = [](const Tensors& x) { return Tensors{mmcv::ops::knn(8, x[0], x[1])}; };
  s.args = {{"xyz", {"B", "N", "3"}, ArgKind::kFloat}, {"center_xyz", {"B", "P", "3"}, ArgKind::kFloat}};
  s.empty_dims = {"N", "P", "B"};
  s.bad = {{"k = 0", [] { mmcv::ops::knn(0, at::zeros({1, 4, 3})); }, "knn: expected k to be in [1, 99]"}};
  s.property_cases = 300;
  s.generate = [](Gen& g) {
    Sample x;
    const bool grid = g.coin(0.3);
    const int64_t B = g.integer(1, 2);
    x.add("xyz", cloud(g, B, g.count(60), 3, grid)).add("center_xyz", cloud(g, B, g.count(20), 3, grid));
    x.nums["k"] = static_cast<double>(g.integer(1, 20));
    x.group({{"xyz", 1}});
    x.group({{"center_xyz", 1}});
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const auto out = mmcv::ops::knn(x.integer("k"), x.t("xyz"), x.t("center_xyz"));
    v.equal(out, points_ref::knn_heap<float>(x.t("xyz"), x.t("center_xyz"), x.integer("k")), "vs loop reference");
  };
  s.policy.emplace_back("NaN points are never neighbours (slots fill with 0)", [](Verdict& v) {
    auto xyz = fixed_cloud(3, 1, 6, 3);
    xyz[0][2][1] = kNaN;
    const auto out = mmcv::ops::knn(6, xyz, xyz.narrow(1, 0, 1));
    v.require(!at::isin(at::tensor({2}, at::kInt), out.view({-1})).item<bool>() || out[0][5][0].item<int>() == 0,
              "a NaN point was chosen");
    v.equal(out[0][5], at::zeros({1}, at::kInt), "last slot filled with index 0");
  });
  return s;
}

MMCV_RELIABILITY_OP(three_nn) {
  OpSpec s;
  s.op = "three_nn";
  s.inputs = [] { return Tensors{fixed_cloud(4, 2, 50, 3), fixed_cloud(5, 2, 30, 3)}; };
  s.call = [](const Tensors& x) {
    auto r = mmcv::ops::three_nn(x[0], x[1]);
    return Tensors{std::get<0>(r), std::get<1>(r)};
  };
  s.args = {{"target", {"B", "N", "3"}, ArgKind::kFloat}, {"source", {"B", "M", "3"}, ArgKind::kFloat}};
  s.empty_dims = {"N", "M", "B"};
  s.property_cases = 300;
  s.generate = [](Gen& g) {
    Sample x;
    const bool grid = g.coin(0.3);
    const int64_t B = g.integer(1, 2);
    x.add("target", cloud(g, B, g.count(40), 3, grid)).add("source", cloud(g, B, g.count(40), 3, grid));
    x.group({{"target", 1}});
    x.group({{"source", 1}});
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const auto r = mmcv::ops::three_nn(x.t("target"), x.t("source"));
    const auto ref = points_ref::three_nn<float>(x.t("target"), x.t("source"));
    v.equal(std::get<1>(r), ref.second, "idx vs loop reference");
    v.close(std::get<0>(r), ref.first, {1e-6, 1e-6}, "dist vs loop reference");
  };
  return s;
}

MMCV_RELIABILITY_OP(three_interpolate) {
  OpSpec s;
  s.op = "three_interpolate";
  s.inputs = [] {
    Gen g(6);
    return Tensors{g.uniform_tensor({2, 4, 20}, -1, 1, at::kFloat), idx_tensor(g, {2, 30, 3}, 20),
                   g.uniform_tensor({2, 30, 3}, 0, 1, at::kFloat)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads([](const Tensors& y) { return mmcv::ops::three_interpolate(y[0], y[1], y[2]); }, x,
                                {true, false, false});
  };
  s.args = {{"features", {"B", "C", "M"}, ArgKind::kFloat},
            {"indices", {"B", "n", "3"}, ArgKind::kIndex},
            {"weight", {"B", "n", "3"}, ArgKind::kFloat}};
  s.empty_dims = {"n", "C", "B"};
  s.property_cases = 200;
  s.generate = [](Gen& g) {
    Sample x;
    const int64_t B = g.integer(1, 2), M = g.integer(1, 20), n = g.count(20);
    x.add("features", g.uniform_tensor({B, g.integer(1, 4), M}, -1, 1, at::kDouble))
        .add("indices", idx_tensor(g, {B, n, 3}, M))
        .add("weight", g.uniform_tensor({B, n, 3}, 0, 1, at::kDouble));
    x.group({{"indices", 1}, {"weight", 1}});
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const auto& f = x.t("features");
    const auto i = x.t("indices").to(at::kLong);
    const auto& w = x.t("weight");
    auto ref = at::zeros({f.size(0), f.size(1), i.size(1)}, at::kDouble);
    for (int64_t j = 0; j < 3; ++j)
      ref += f.gather(2, i.select(2, j).unsqueeze(1).expand({f.size(0), f.size(1), i.size(1)})) * w.select(2, j).unsqueeze(1);
    v.close(mmcv::ops::three_interpolate(f, x.t("indices"), w), ref, {1e-12, 1e-12}, "vs gather reference");
  };
  return s;
}

MMCV_RELIABILITY_OP(gather_points) {
  OpSpec s;
  s.op = "gather_points";
  s.inputs = [] {
    Gen g(7);
    return Tensors{g.uniform_tensor({2, 3, 25}, -1, 1, at::kFloat), idx_tensor(g, {2, 10}, 25)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads([](const Tensors& y) { return mmcv::ops::gather_points(y[0], y[1]); }, x, {true, false});
  };
  s.args = {{"features", {"B", "C", "N"}, ArgKind::kFloatHalfOk}, {"indices", {"B", "M"}, ArgKind::kIndex}};
  s.empty_dims = {"M", "C", "B"};
  s.property_cases = 200;
  s.generate = [](Gen& g) {
    Sample x;
    const int64_t B = g.integer(1, 2), N = g.integer(1, 30);
    x.add("features", g.uniform_tensor({B, g.integer(1, 3), N}, -1, 1, at::kFloat)).add("indices", idx_tensor(g, {B, g.count(30)}, N));
    x.group({{"indices", 1}});
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const auto out = mmcv::ops::gather_points(x.t("features"), x.t("indices"));
    for (int64_t m = 0; m < out.size(2); ++m)
      for (int64_t b = 0; b < out.size(0); ++b)
        v.equal(out[b].select(1, m), x.t("features")[b].select(1, x.t("indices")[b][m].item<int>()), "column");
  };
  return s;
}

MMCV_RELIABILITY_OP(grouping_operation) {
  OpSpec s;
  s.op = "grouping_operation";
  s.inputs = [] {
    Gen g(8);
    return Tensors{g.uniform_tensor({2, 3, 25}, -1, 1, at::kFloat), idx_tensor(g, {2, 6, 4}, 25)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads([](const Tensors& y) { return mmcv::ops::grouping_operation(y[0], y[1]); }, x,
                                {true, false});
  };
  s.args = {{"features", {"B", "C", "N"}, ArgKind::kFloatHalfOk}, {"indices", {"B", "npoint", "nsample"}, ArgKind::kIndex}};
  s.empty_dims = {"npoint", "nsample", "C", "B"};
  s.property_cases = 200;
  s.generate = [](Gen& g) {
    Sample x;
    const int64_t B = g.integer(1, 2), N = g.integer(1, 30);
    x.add("features", g.uniform_tensor({B, g.integer(1, 3), N}, -1, 1, at::kFloat))
        .add("indices", idx_tensor(g, {B, g.count(8), g.integer(1, 5)}, N));
    x.group({{"indices", 1}});
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const auto out = mmcv::ops::grouping_operation(x.t("features"), x.t("indices"));
    const auto& i = x.t("indices");
    const auto flat = mmcv::ops::gather_points(x.t("features"), i.reshape({i.size(0), -1}));
    v.equal(out, flat.view(out.sizes()), "batch mode == gather_points of the flattened indices");
    // stacked mode with every batch as its own ragged block gives the same rows
    const int64_t B = i.size(0), N = x.t("features").size(2);
    const auto fst = x.t("features").permute({0, 2, 1}).reshape({B * N, -1});
    const auto ist = i.reshape({B * i.size(1), i.size(2)});
    const auto st = mmcv::ops::grouping_operation(fst, ist, at::full({B}, N, at::kInt), at::full({B}, i.size(1), at::kInt));
    v.equal(st, out.permute({0, 2, 1, 3}).reshape(st.sizes()), "stacked == batch mode");
  };
  return s;
}

MMCV_RELIABILITY_OP(furthest_point_sample) {
  OpSpec s;
  s.op = "furthest_point_sample";
  s.inputs = [] { return Tensors{fixed_cloud(9, 2, 300, 3)}; };
  s.call = [](const Tensors& x) { return Tensors{mmcv::ops::furthest_point_sample(x[0], 32)}; };
  s.args = {{"points_xyz", {"B", "N", "3"}, ArgKind::kFloat}};
  s.empty_dims = {"B"};
  s.bad = {{"num_points < 0", [] { mmcv::ops::furthest_point_sample(at::zeros({1, 4, 3}), -2); },
            "furthest_point_sample: expected num_points to be non-negative"}};
  s.property_cases = 200;
  s.generate = [](Gen& g) {
    Sample x;
    x.add("points_xyz", cloud(g, g.integer(1, 2), g.integer(1, 150), 3, g.coin(0.4)));
    x.nums["m"] = static_cast<double>(g.integer(0, 40));
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    v.equal(mmcv::ops::furthest_point_sample(x.t("points_xyz"), x.integer("m")),
            points_ref::fps<float>(x.t("points_xyz"), x.integer("m")), "vs simulated CUDA kernel");
  };
  s.policy.emplace_back("NaN distances never win (CUDA min keeps temp)", [](Verdict& v) {
    auto xyz = fixed_cloud(10, 1, 40, 3);
    xyz[0][7][0] = kNaN;
    v.equal(mmcv::ops::furthest_point_sample(xyz, 12), points_ref::fps<float>(xyz, 12), "vs simulated kernel");
  });
  return s;
}

MMCV_RELIABILITY_OP(furthest_point_sample_with_dist) {
  OpSpec s;
  s.op = "furthest_point_sample_with_dist";
  s.inputs = [] {
    const auto x = fixed_cloud(11, 2, 60, 3);
    return Tensors{(x.unsqueeze(2) - x.unsqueeze(1)).pow(2).sum(3)};
  };
  s.call = [](const Tensors& x) { return Tensors{mmcv::ops::furthest_point_sample_with_dist(x[0], 16)}; };
  s.args = {{"points_dist", {"B", "N", "N"}, ArgKind::kFloat}};
  s.empty_dims = {"B"};
  s.property_cases = 200;
  s.generate = [](Gen& g) {
    Sample x;
    const auto p = cloud(g, g.integer(1, 2), g.integer(1, 60), 3, g.coin(0.4));
    x.add("points_dist", (p.unsqueeze(2) - p.unsqueeze(1)).pow(2).sum(3));
    x.nums["m"] = static_cast<double>(g.integer(0, 30));
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    v.equal(mmcv::ops::furthest_point_sample_with_dist(x.t("points_dist"), x.integer("m")),
            points_ref::fps_with_dist<float>(x.t("points_dist"), x.integer("m")), "vs simulated CUDA kernel");
  };
  return s;
}

MMCV_RELIABILITY_OP(ball_query) {
  OpSpec s;
  s.op = "ball_query";
  s.inputs = [] { return Tensors{fixed_cloud(12, 2, 200, 3), fixed_cloud(13, 2, 40, 3)}; };
  s.call = [](const Tensors& x) { return Tensors{mmcv::ops::ball_query(0.2, 1.0, 16, x[0], x[1])}; };
  s.args = {{"xyz", {"B", "N", "3"}, ArgKind::kFloat}, {"center_xyz", {"B", "npoint", "3"}, ArgKind::kFloat}};
  s.empty_dims = {"N", "npoint", "B"};
  s.bad = {{"min_radius >= max_radius", [] { mmcv::ops::ball_query(1, 1, 4, at::zeros({1, 4, 3}), at::zeros({1, 2, 3})); },
            "ball_query: expected min_radius to be less than max_radius"}};
  s.property_cases = 300;
  s.generate = [](Gen& g) {
    Sample x;
    const bool grid = g.coin(0.3);
    const int64_t B = g.integer(1, 2);
    x.add("xyz", cloud(g, B, g.count(60), 3, grid)).add("center_xyz", cloud(g, B, g.count(20), 3, grid));
    const double lo = g.coin(0.5) ? 0.0 : g.uniform(0, 1);
    x.nums["min_radius"] = lo;
    x.nums["max_radius"] = lo + g.uniform(0.01, 2.0);
    x.nums["sample_num"] = static_cast<double>(g.integer(1, 20));
    x.group({{"xyz", 1}});
    x.group({{"center_xyz", 1}});
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const auto out = mmcv::ops::ball_query(x.num("min_radius"), x.num("max_radius"), x.integer("sample_num"), x.t("xyz"),
                                           x.t("center_xyz"));
    v.equal(out, points_ref::ball_query<float>(x.num("min_radius"), x.num("max_radius"), x.integer("sample_num"),
                                               x.t("xyz"), x.t("center_xyz")),
            "vs loop reference");
  };
  s.policy.emplace_back("NaN points are never hits", [](Verdict& v) {
    auto xyz = fixed_cloud(14, 1, 30, 3);
    xyz[0][0][2] = kNaN;
    v.equal(mmcv::ops::ball_query(0, 3, 8, xyz, xyz.narrow(1, 1, 3)),
            points_ref::ball_query<float>(0, 3, 8, xyz, xyz.narrow(1, 1, 3)), "vs loop reference");
  });
  return s;
}

MMCV_RELIABILITY_OP(assign_score_withk) {
  OpSpec s;
  s.op = "assign_score_withk";
  s.inputs = [] {
    Gen g(15);
    return Tensors{g.uniform_tensor({2, 6, 4, 3}, -1, 1, at::kFloat), g.uniform_tensor({2, 10, 3, 5}, -1, 1, at::kFloat),
                   g.uniform_tensor({2, 10, 3, 5}, -1, 1, at::kFloat), idx_tensor(g, {2, 6, 4}, 10, at::kLong)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads(
        [](const Tensors& y) { return mmcv::ops::assign_score_withk(y[0], y[1], y[2], y[3]); }, x, {true, true, true, false});
  };
  s.args = {{"scores", {"B", "npoint", "K", "M"}, ArgKind::kFloat},
            {"point_features", {"B", "N", "M", "O"}, ArgKind::kFloat},
            {"center_features", {"B", "N", "M", "O"}, ArgKind::kFloat},
            {"knn_idx", {"B", "npoint", "K"}, ArgKind::kIndex}};
  s.empty_dims = {"npoint", "O", "B"};
  s.property_cases = 200;
  s.generate = [](Gen& g) {
    Sample x;
    const int64_t B = g.integer(1, 2), P = g.count(6), K = g.integer(1, 5), M = g.integer(1, 3), N = g.integer(1, 10),
                  O = g.integer(1, 4);
    auto k = idx_tensor(g, {B, P, K}, N, at::kLong);
    if (g.coin(0.3) && K > 1) k.select(2, K - 1).fill_(N);  // skipped neighbours
    x.add("scores", g.uniform_tensor({B, P, K, M}, -1, 1, at::kDouble))
        .add("point_features", g.uniform_tensor({B, N, M, O}, -1, 1, at::kDouble))
        .add("center_features", g.uniform_tensor({B, N, M, O}, -1, 1, at::kDouble))
        .add("knn_idx", k);
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    v.close(mmcv::ops::assign_score_withk(x.t("scores"), x.t("point_features"), x.t("center_features"), x.t("knn_idx")),
            points_ref::assign_score(x.t("scores"), x.t("point_features"), x.t("center_features"), x.t("knn_idx")),
            {1e-12, 1e-12}, "vs loop reference");
  };
  return s;
}

MMCV_RELIABILITY_OP(chamfer_distance) {
  OpSpec s;
  s.op = "chamfer_distance";
  s.inputs = [] { return Tensors{fixed_cloud(16, 2, 80, 2), fixed_cloud(17, 2, 50, 2)}; };
  s.call = [](const Tensors& x) {
    Tensors out;
    auto g = mmcv_rel::with_grads(
        [](const Tensors& y) {
          auto r = mmcv::ops::chamfer_distance(y[0], y[1]);
          return at::cat({std::get<0>(r), std::get<1>(r)}, 1);
        },
        x, {true, true});
    auto r = mmcv::ops::chamfer_distance(x[0], x[1]);
    g.push_back(std::get<2>(r));
    g.push_back(std::get<3>(r));
    return g;
  };
  s.args = {{"xyz1", {"B", "N", "2"}, ArgKind::kFloat}, {"xyz2", {"B", "M", "2"}, ArgKind::kFloat}};
  s.empty_dims = {"N", "M", "B"};
  s.property_cases = 300;
  s.generate = [](Gen& g) {
    Sample x;
    const bool grid = g.coin(0.3);
    const int64_t B = g.integer(1, 2);
    x.add("xyz1", cloud(g, B, g.count(50), 2, grid)).add("xyz2", cloud(g, B, g.count(50), 2, grid));
    x.group({{"xyz1", 1}});
    x.group({{"xyz2", 1}});
    return x;
  };
  s.check = [](const Sample& x, Verdict& v) {
    const auto r = mmcv::ops::chamfer_distance(x.t("xyz1"), x.t("xyz2"));
    const auto a = points_ref::chamfer_dir<float>(x.t("xyz1"), x.t("xyz2"));
    const auto b = points_ref::chamfer_dir<float>(x.t("xyz2"), x.t("xyz1"));
    v.equal(std::get<0>(r), a.first, "dist1").equal(std::get<1>(r), b.first, "dist2");
    v.equal(std::get<2>(r), a.second, "idx1").equal(std::get<3>(r), b.second, "idx2");
  };
  return s;
}
