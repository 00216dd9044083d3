// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/conv2d_gradfix.hpp (mmcv.ops.conv2d_gradfix): values equal ATen's
// conv2d / conv_transpose2d, gradients of first and second order, the no_weight_gradients guard
// (forward-time and backward-time, nesting, thread-locality), errors.

#include <mmcv/ops/conv2d_gradfix.hpp>

#include <torch/csrc/autograd/autograd.h>

#include <thread>
#include <vector>

#include "common/test_utils.hpp"

namespace {

using mmcv_test::DeviceTest;
namespace gf = mmcv::ops::conv2d_gradfix;

class conv2d_gradfix_test : public DeviceTest {};

TEST_P(conv2d_gradfix_test, values_match_aten) {
  auto x = at::randn({2, 4, 9, 8}, f64());
  auto w = at::randn({6, 2, 3, 2}, f64());
  auto b = at::randn({6}, f64());
  EXPECT_ALLCLOSE(gf::conv2d(x, w, b, {2, 1}, 1, {1, 2}, 2), at::conv2d(x, w, b, {2, 1}, {1, 1}, {1, 2}, 2));
  EXPECT_ALLCLOSE(gf::conv2d(x, w.narrow(1, 0, 2).repeat({1, 2, 1, 1})), at::conv2d(x, w.repeat({1, 2, 1, 1})));
  auto wt = at::randn({4, 3, 3, 3}, f64());
  auto bt = at::randn({6}, f64());
  EXPECT_ALLCLOSE(gf::conv_transpose2d(x, wt, bt, 2, {1, 0}, 1, 2, 1),
                  at::conv_transpose2d(x, wt, bt, {2, 2}, {1, 0}, {1, 1}, 2, {1, 1}));
  EXPECT_ALLCLOSE(gf::conv_transpose2d(x, wt.narrow(0, 0, 4)), at::conv_transpose2d(x, wt));
}

TEST_P(conv2d_gradfix_test, gradients_first_and_second_order) {
  auto x = at::randn({1, 2, 5, 4}, f64()).requires_grad_(true);
  auto w = at::randn({3, 2, 2, 2}, f64()).requires_grad_(true);
  auto b = at::randn({3}, f64()).requires_grad_(true);
  EXPECT_TRUE(mmcv_test::gradcheck([](const std::vector<at::Tensor>& in) { return gf::conv2d(in[0], in[1], in[2], 2, 1); }, {x, w, b}));
  auto wt = at::randn({2, 3, 3, 2}, f64()).requires_grad_(true);
  EXPECT_TRUE(mmcv_test::gradcheck(
      [](const std::vector<at::Tensor>& in) { return gf::conv_transpose2d(in[0], in[1], in[2], 2, 1, 1); }, {x, wt, b}));
  // second order: the input gradient differentiated w.r.t. the weight and w.r.t. grad_output
  auto v = at::randn(gf::conv2d(x, w, b, 2, 1).sizes(), f64()).requires_grad_(true);
  EXPECT_TRUE(mmcv_test::gradcheck(
      [&](const std::vector<at::Tensor>& in) {
        at::AutoGradMode enable(true);
        auto y = gf::conv2d(x, in[0], b, 2, 1);
        return torch::autograd::grad({y}, {x}, {in[1]}, /*retain_graph=*/true, /*create_graph=*/true)[0];
      },
      {w, v}));
}

TEST_P(conv2d_gradfix_test, no_weight_gradients_guard) {
  auto x = at::randn({1, 2, 5, 5}, f32()).requires_grad_(true);
  auto w = at::randn({3, 2, 3, 3}, f32()).requires_grad_(true);
  auto b = at::randn({3}, f32()).requires_grad_(true);
  auto ref = torch::autograd::grad({at::conv2d(x, w, b).sum()}, {x, b});
  EXPECT_FALSE(gf::weight_gradients_disabled());
  // forward inside the guard
  {
    gf::no_weight_gradients guard;
    EXPECT_TRUE(gf::weight_gradients_disabled());
    auto y = gf::conv2d(x, w, b);
    y.sum().backward();
  }
  EXPECT_FALSE(gf::weight_gradients_disabled());
  EXPECT_FALSE(w.grad().defined());
  EXPECT_ALLCLOSE(x.grad(), ref[0]);
  EXPECT_ALLCLOSE(b.grad(), ref[1]);
  // MMCV's pattern: forward outside, autograd.grad inside the guard
  auto w2 = at::randn({2, 3, 3, 3}, f32()).requires_grad_(true);
  auto y2 = gf::conv_transpose2d(x, w2, b);
  {
    gf::no_weight_gradients guard;
    auto g = torch::autograd::grad({y2.sum()}, {x, w2}, {}, /*retain_graph=*/true, /*create_graph=*/false, /*allow_unused=*/true);
    EXPECT_TRUE(g[0].defined());
    EXPECT_FALSE(g[1].defined());
  }
  auto g = torch::autograd::grad({y2.sum()}, {w2});
  EXPECT_TRUE(g[0].defined());  // outside the guard the weight gradient is back
  // nesting: disable=false keeps the state; the inner guard restores the outer one
  {
    gf::no_weight_gradients outer;
    {
      gf::no_weight_gradients inner(false);
      EXPECT_TRUE(gf::weight_gradients_disabled());
      gf::no_weight_gradients inner2;
      EXPECT_TRUE(gf::weight_gradients_disabled());
    }
    EXPECT_TRUE(gf::weight_gradients_disabled());
    // thread-local: another thread does not see this thread's guard
    bool other = true;
    std::thread t([&] { other = gf::weight_gradients_disabled(); });
    t.join();
    EXPECT_FALSE(other);
  }
  EXPECT_FALSE(gf::weight_gradients_disabled());
}

TEST_P(conv2d_gradfix_test, empty_and_errors) {
  EXPECT_EQ(gf::conv2d(at::randn({0, 2, 5, 5}, f32()), at::randn({3, 2, 3, 3}, f32())).sizes(), at::IntArrayRef({0, 3, 3, 3}));
  auto x = at::randn({1, 2, 5, 5}, f32());
  auto w = at::randn({3, 2, 3, 3}, f32());
  EXPECT_MMCV_ERROR(gf::conv2d(x[0], w), "conv2d_gradfix.conv2d: expected input to be a 4-D tensor, but got 3-D tensor");
  EXPECT_MMCV_ERROR(gf::conv2d(x, w[0]), "conv2d_gradfix.conv2d: expected weight to be a 4-D tensor");
  EXPECT_MMCV_ERROR(gf::conv2d(x, w, std::nullopt, 0), "conv2d_gradfix.conv2d: expected stride to be positive, but got 0");
  EXPECT_MMCV_ERROR(gf::conv2d(x, w, std::nullopt, 1, -1), "conv2d_gradfix.conv2d: expected padding to be non-negative, but got -1");
  EXPECT_MMCV_ERROR(gf::conv2d(x, w, std::nullopt, 1, 0, 1, 0), "conv2d_gradfix.conv2d: expected groups to be positive, but got 0");
  EXPECT_MMCV_ERROR(gf::conv2d(x, w, std::nullopt, 1, 0, 1, 2), "conv2d_gradfix.conv2d: expected input to have weight.size(1) * groups = 4 channels, but got 2");
  EXPECT_MMCV_ERROR(gf::conv2d(x, w, at::ones({2}, f32())), "conv2d_gradfix.conv2d: expected bias to have weight.size(0) = 3 elements, but got 2");
  EXPECT_MMCV_ERROR(gf::conv2d(x, w.to(at::kDouble)), "conv2d_gradfix.conv2d: expected weight to have the same dtype as input (Float), but got Double");
  EXPECT_MMCV_ERROR(gf::conv_transpose2d(x, w.narrow(0, 0, 2), std::nullopt, 1, 0, 1),
                    "conv2d_gradfix.conv_transpose2d: expected output_padding to be in [0, max(stride, dilation)), but got 1");
  EXPECT_MMCV_ERROR(gf::conv_transpose2d(x, w), "conv2d_gradfix.conv_transpose2d: expected input to have weight.size(0) = 3 channels, but got 2");
}

MMCV_INSTANTIATE_DEVICES(conv2d_gradfix_test);

}  // namespace
