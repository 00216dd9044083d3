// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/filtered_lrelu.hpp (mmcv.ops.filtered_lrelu). Specification:
// `_filtered_lrelu_ref` restated in float64 (tests/ops/stylegan_reference.hpp) on a grid of
// up / down / padding / filters / bias / clamp, the output-size formula, gradients, errors.

#include <mmcv/ops/filtered_lrelu.hpp>

#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/stylegan_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class filtered_lrelu_test : public DeviceTest {};

TEST_P(filtered_lrelu_test, matches_reference_on_a_grid) {
  const int64_t H = 6, W = 7;
  auto x = at::randn({2, 3, H, W}, f64());
  auto bias = at::randn({3}, f64());
  std::vector<std::optional<at::Tensor>> fus = {std::nullopt, at::rand({4}, f32()), at::randn({3, 2}, f32())};
  std::vector<std::optional<at::Tensor>> fds = {std::nullopt, at::rand({2}, f32()), at::randn({2, 3}, f32())};
  int checked = 0;
  for (size_t i = 0; i < fus.size(); ++i) {
    for (size_t j = 0; j < fds.size(); ++j) {
      for (int64_t up : {1, 2}) {
        for (int64_t down : {1, 2}) {
          for (auto pad : std::vector<std::array<int64_t, 4>>{{0, 0, 0, 0}, {2, 1, 3, 2}, {-1, 3, 2, -1}}) {
            const int64_t fuw = fus[i] ? fus[i]->size(-1) : 1, fuh = fus[i] ? fus[i]->size(0) : 1;
            const int64_t fdw = fds[j] ? fds[j]->size(-1) : 1, fdh = fds[j] ? fds[j]->size(0) : 1;
            if (W * up + pad[0] + pad[1] - fuw + 1 < fdw || H * up + pad[2] + pad[3] - fuh + 1 < fdh) continue;
            const bool flip = (i + j) % 2 == 1;
            const std::optional<double> clamp = up == 2 ? std::optional<double>(0.8) : std::nullopt;
            const std::optional<at::Tensor> b = down == 2 ? std::optional<at::Tensor>(bias) : std::nullopt;
            SCOPED_TRACE("fu " + std::to_string(i) + " fd " + std::to_string(j) + " up " + std::to_string(up) + " down " +
                         std::to_string(down) + " pad " + std::to_string(pad[0]));
            auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
            auto out = mmcv::ops::filtered_lrelu(xa, fus[i], fds[j], b, up, down, {pad[0], pad[1], pad[2], pad[3]}, 1.3, 0.1, clamp, flip);
            auto ref = stylegan_ref::filtered_lrelu(xb, fus[i], fds[j], b, up, down, pad, 1.3, 0.1, clamp, flip);
            ASSERT_ALLCLOSE(out, ref);
            const int64_t ow = (W * up + pad[0] + pad[1] - (fuw - 1) - (fdw - 1) + (down - 1)) / down;
            const int64_t oh = (H * up + pad[2] + pad[3] - (fuh - 1) - (fdh - 1) + (down - 1)) / down;
            EXPECT_EQ(out.sizes(), at::IntArrayRef({2, 3, oh, ow}));
            auto go = at::randn(ref.sizes(), f64());
            ASSERT_ALLCLOSE(mmcv_test::vjp(out, go, {xa})[0], mmcv_test::vjp(ref, go, {xb})[0]);
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 80);
}

TEST_P(filtered_lrelu_test, defaults_float32_and_bias_gradient) {
  auto x = at::randn({1, 4, 8, 8}, f32());
  auto f = at::tensor({1.f, 3.f, 3.f, 1.f}, f32()) / 8;
  auto b = at::randn({4}, f32());
  EXPECT_ALLCLOSE(mmcv::ops::filtered_lrelu(x), stylegan_ref::filtered_lrelu(x, std::nullopt, std::nullopt, std::nullopt, 1, 1, {0, 0, 0, 0}, std::sqrt(2.0), 0.2, std::nullopt, false));
  EXPECT_ALLCLOSE(mmcv::ops::filtered_lrelu(x, f, f, b, 2, 2, {2, 1}),
                  stylegan_ref::filtered_lrelu(x, f, f, b, 2, 2, {2, 2, 1, 1}, std::sqrt(2.0), 0.2, std::nullopt, false));
  auto xd = at::randn({1, 2, 5, 5}, f64()).requires_grad_(true);
  auto bd = at::randn({2}, f64()).requires_grad_(true);
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& in) { return mmcv::ops::filtered_lrelu(in[0], f, f, in[1], 2, 2, 2, 1.5, 0.2, 5.0); },
      {xd, bd}));
}

TEST_P(filtered_lrelu_test, empty_and_errors) {
  auto f = at::ones({2}, f32());
  EXPECT_EQ(mmcv::ops::filtered_lrelu(at::randn({0, 3, 4, 4}, f32()), f, f, std::nullopt, 2, 2).sizes(), at::IntArrayRef({0, 3, 3, 3}));
  auto x = at::randn({1, 2, 5, 5}, f32());
  using mmcv::ops::filtered_lrelu;
  EXPECT_MMCV_ERROR(filtered_lrelu(x[0]), "filtered_lrelu: expected input to be a 4-D tensor, but got 3-D tensor");
  EXPECT_MMCV_ERROR(filtered_lrelu(x, f, f, std::nullopt, 0), "filtered_lrelu: expected up to be positive, but got 0");
  EXPECT_MMCV_ERROR(filtered_lrelu(x, f, f, std::nullopt, 1, 0), "filtered_lrelu: expected down to be positive, but got 0");
  EXPECT_MMCV_ERROR(filtered_lrelu(x, f, f, std::nullopt, 1, 1, 0, 0.0), "filtered_lrelu: expected gain to be finite and > 0, but got 0");
  EXPECT_MMCV_ERROR(filtered_lrelu(x, f, f, std::nullopt, 1, 1, 0, 1.0, -0.1), "filtered_lrelu: expected slope to be finite and >= 0, but got -0.1");
  EXPECT_MMCV_ERROR(filtered_lrelu(x, f, f, std::nullopt, 1, 1, 0, 1.0, 0.2, -1.0), "filtered_lrelu: expected clamp to be >= 0 (or nullopt), but got -1");
  EXPECT_MMCV_ERROR(filtered_lrelu(x, f, f, at::ones({2}, f64())), "filtered_lrelu: expected bias to have the same dtype as input (Float), but got Double");
  EXPECT_MMCV_ERROR(filtered_lrelu(x, f, f, at::ones({3}, f32())), "filtered_lrelu: expected bias to have input.size(1) = 2 elements, but got 3");
  EXPECT_MMCV_ERROR(filtered_lrelu(x, f, f, std::nullopt, 1, 1, {1, 2, 3}), "filtered_lrelu: expected padding to be an int, [x, y] or [x0, x1, y0, y1], but got 3 values");
  EXPECT_MMCV_ERROR(filtered_lrelu(x, at::ones({2, 2, 2}, f32())), "filtered_lrelu: expected filter to be a 1-D (separable) or 2-D tensor");
  EXPECT_MMCV_ERROR(filtered_lrelu(x, f, f, std::nullopt, 1, 1, -3), "filtered_lrelu: expected the upsampled, padded input");
}

MMCV_INSTANTIATE_DEVICES(filtered_lrelu_test);

}  // namespace
