// SPDX-License-Identifier: Apache-2.0
// Package consumer (CMake wiring only): includes one op header, runs the op, checks it. The
// installed-tree consumer (find_package) includes the umbrella header; test_odr compiles it too, so
// this one stays light and CI does not compile every header again per consumer.
#include <mmcv/ops/bbox.hpp>
#include <mmcv/ops/version.hpp>

#include <cmath>
#include <iostream>

int main() {
  auto a = at::tensor({0.f, 0.f, 10.f, 10.f}).reshape({1, 4});
  auto b = at::tensor({5.f, 0.f, 15.f, 10.f}).reshape({1, 4});
  const float iou = mmcv::ops::bbox_overlaps(a, b).item<float>();
  std::cout << "mmcv-ops " << mmcv::ops::version_string << ": iou = " << iou << "\n";
  return std::abs(iou - 50.f / 150.f) < 1e-6f ? 0 : 1;
}
