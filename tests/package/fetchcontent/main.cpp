// SPDX-License-Identifier: Apache-2.0
// Package consumer: includes one module header and the umbrella header, runs an op, checks it.
#include <mmcv/ops/bbox.hpp>
#include <mmcv/ops.hpp>

#include <cmath>
#include <iostream>

int main() {
  auto a = at::tensor({0.f, 0.f, 10.f, 10.f}).reshape({1, 4});
  auto b = at::tensor({5.f, 0.f, 15.f, 10.f}).reshape({1, 4});
  const float iou = mmcv::ops::bbox_overlaps(a, b).item<float>();
  std::cout << "mmcv-ops " << mmcv::ops::version_string << ": iou = " << iou << "\n";
  return std::abs(iou - 50.f / 150.f) < 1e-6f ? 0 : 1;
}
