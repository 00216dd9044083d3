// SPDX-License-Identifier: Apache-2.0
// One PointNet++ set-abstraction step on a built-in point cloud (no data files, no randomness):
//   1. furthest_point_sample: 16 centres out of 240 points;
//   2. ball_query: up to 8 neighbours within radius 0.45 of each centre;
//   3. grouping_operation (through QueryAndGroup): relative xyz + point features per neighbour;
//   4. max-pool over the neighbours: one feature vector per centre.
// Prints deterministic output (compared with pointnet2_sa.expected by ctest); numbers rounded.

#include <mmcv/ops.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

namespace {

// 240 points on a wavy torus-knot-like curve with a little thickness: [1, 240, 3] float32, and
// 4 per-point features [1, 4, 240] (height, radius, a sine code, a constant).
void make_cloud(at::Tensor& xyz, at::Tensor& feats) {
  const int n = 240;
  std::vector<float> p, f(4 * n);
  for (int i = 0; i < n; ++i) {
    const double t = 2.0 * M_PI * i / n;
    const double r = 1.0 + 0.3 * std::cos(3.0 * t) + 0.05 * ((i % 3) - 1);
    const double x = r * std::cos(2.0 * t), y = r * std::sin(2.0 * t), z = 0.4 * std::sin(5.0 * t) + 0.02 * (i % 2);
    p.insert(p.end(), {static_cast<float>(x), static_cast<float>(y), static_cast<float>(z)});
    f[0 * n + i] = static_cast<float>(z);
    f[1 * n + i] = static_cast<float>(r);
    f[2 * n + i] = static_cast<float>(std::sin(7.0 * t));
    f[3 * n + i] = 1.0f;
  }
  xyz = at::tensor(p).view({1, n, 3});
  feats = at::tensor(f).view({1, 4, n});
}

double r3(double v) { return std::round(v * 1000.0) / 1000.0 + 0.0; }  // rounded, no "-0.000"

}  // namespace

int main() {
  std::printf("mmcv-ops %s example: one PointNet++ set-abstraction step\n", mmcv::ops::version_string);
  at::Tensor xyz, feats;
  make_cloud(xyz, feats);
  std::printf("point cloud: %lld points, %lld feature channels\n", static_cast<long long>(xyz.size(1)),
              static_cast<long long>(feats.size(1)));

  std::printf("\n== 1. furthest_point_sample(xyz, 16) ==\n");
  const auto fps_idx = mmcv::ops::furthest_point_sample(xyz, 16);  // [1, 16] int32
  std::printf("indices:");
  for (int64_t j = 0; j < 16; ++j) std::printf(" %d", fps_idx[0][j].item<int>());
  std::printf("\n");
  // centres = gather_points on the channel-first coordinates
  const auto centres = mmcv::ops::gather_points(xyz.transpose(1, 2).contiguous(), fps_idx).transpose(1, 2).contiguous();

  std::printf("\n== 2. ball_query(0, 0.45, 8, xyz, centres) ==\n");
  const auto idx = mmcv::ops::ball_query(0.0, 0.45, 8, xyz, centres);  // [1, 16, 8] int32
  for (int64_t j = 0; j < 4; ++j) {
    std::printf("centre %2lld:", static_cast<long long>(j));
    for (int64_t s = 0; s < 8; ++s) std::printf(" %3d", idx[0][j][s].item<int>());
    std::printf("\n");
  }
  const auto distinct = [&](int64_t j) { return std::get<0>(at::_unique(idx[0][j])).size(0); };
  std::printf("distinct neighbours per centre:");
  for (int64_t j = 0; j < 16; ++j) std::printf(" %lld", static_cast<long long>(distinct(j)));
  std::printf("\n");

  std::printf("\n== 3. QueryAndGroup(0.45, 8): relative xyz + features ==\n");
  mmcv::ops::QueryAndGroup grouper(0.45, 8);
  const auto grouped = grouper(xyz, centres, feats)[0];  // [1, 3 + 4, 16, 8]
  std::printf("grouped features: [%lld, %lld, %lld, %lld]\n", static_cast<long long>(grouped.size(0)),
              static_cast<long long>(grouped.size(1)), static_cast<long long>(grouped.size(2)),
              static_cast<long long>(grouped.size(3)));
  std::printf("same as grouping_operation: %s\n",
              at::equal(grouped.narrow(1, 3, 4), mmcv::ops::grouping_operation(feats, idx)) ? "yes" : "no");

  std::printf("\n== 4. max-pool over the neighbours ==\n");
  const auto pooled = std::get<0>(grouped.max(3));  // [1, 7, 16]
  std::printf("%6s %8s %8s %8s %8s %8s %8s %8s\n", "centre", "dx", "dy", "dz", "z", "r", "code", "one");
  for (int64_t j = 0; j < 16; ++j) {
    std::printf("%6lld", static_cast<long long>(j));
    for (int64_t c = 0; c < 7; ++c) std::printf(" %8.3f", r3(pooled[0][c][j].item<double>()));
    std::printf("\n");
  }
  return 0;
}
