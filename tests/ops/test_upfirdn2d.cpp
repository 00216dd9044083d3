// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/upfirdn2d.hpp (mmcv.ops.upfirdn2d, filter2d, upsample2d,
// downsample2d). MMCV has no reference cases for these ops: the specification is its
// `_upfirdn2d_ref`, restated in tests/ops/stylegan_reference.hpp and compared in float64 on a grid
// of up / down / padding (negative = crop) / filter shapes, plus gradcheck and double backward.

#include <mmcv/ops/upfirdn2d.hpp>

#include <torch/csrc/autograd/autograd.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/stylegan_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class upfirdn2d_test : public DeviceTest {
 protected:
  std::vector<std::optional<at::Tensor>> filters() const {
    std::vector<std::optional<at::Tensor>> fs = {std::nullopt};
    for (int64_t F : {1, 2, 3, 4, 5}) fs.push_back(at::rand({F}, f32()) + 0.1);
    for (auto s : std::vector<std::array<int64_t, 2>>{{2, 3}, {4, 4}, {1, 3}, {3, 1}}) fs.push_back(at::randn({s[0], s[1]}, f32()));
    return fs;
  }
};

std::string name_of(const std::optional<at::Tensor>& f) {
  if (!f) return "none";
  std::string s = "f";
  for (auto d : f->sizes()) s += "x" + std::to_string(d);
  return s;
}

TEST_P(upfirdn2d_test, matches_reference_on_a_grid) {
  auto x = at::randn({2, 3, 5, 7}, f64());
  int checked = 0;
  for (const auto& f : filters()) {
    const auto fw = f ? f->size(-1) : 1, fh = f ? f->size(0) : 1;
    for (auto up : std::vector<std::array<int64_t, 2>>{{1, 1}, {2, 2}, {3, 1}, {1, 2}}) {
      for (auto down : std::vector<std::array<int64_t, 2>>{{1, 1}, {2, 2}, {1, 3}}) {
        for (auto pad : std::vector<std::array<int64_t, 4>>{{0, 0, 0, 0}, {1, 2, 3, 0}, {-1, 2, -2, 1}, {3, -2, 0, -1}}) {
          if (7 * up[0] + pad[0] + pad[1] < fw || 5 * up[1] + pad[2] + pad[3] < fh) continue;
          for (bool flip : {false, true}) {
            const double gain = flip ? 3.5 : 1.0;
            SCOPED_TRACE(name_of(f) + " up=" + std::to_string(up[0]) + "," + std::to_string(up[1]) + " down=" +
                         std::to_string(down[0]) + "," + std::to_string(down[1]) + " pad=" + std::to_string(pad[0]) + "," +
                         std::to_string(pad[1]) + "," + std::to_string(pad[2]) + "," + std::to_string(pad[3]));
            auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
            auto out = mmcv::ops::upfirdn2d(xa, f, {up[0], up[1]}, {down[0], down[1]}, {pad[0], pad[1], pad[2], pad[3]}, flip, gain);
            auto ref = stylegan_ref::upfirdn2d(xb, f, up, down, pad, flip, gain);
            ASSERT_ALLCLOSE(out, ref);
            // backward (ours: upfirdn2d of grad_output; reference: autograd of its composition)
            auto go = at::randn(ref.sizes(), f64());
            ASSERT_ALLCLOSE(mmcv_test::vjp(out, go, {xa})[0], mmcv_test::vjp(ref, go, {xb})[0]);
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 300);
}

TEST_P(upfirdn2d_test, float32_and_argument_forms) {
  auto x = at::randn({1, 4, 9, 8}, f32());
  auto f = at::tensor({1.f, 3.f, 3.f, 1.f}, f32());
  auto ref = stylegan_ref::upfirdn2d(x, f, {2, 2}, {1, 1}, {2, 1, 2, 1}, false, 4.0);
  EXPECT_ALLCLOSE(mmcv::ops::upfirdn2d(x, f, 2, 1, {2, 1, 2, 1}, false, 4.0), ref);
  EXPECT_ALLCLOSE(mmcv::ops::upfirdn2d(x, f, {2, 2}, {1}, {2, 1, 2, 1}, false, 4.0), ref);
  // padding [x, y] = [x, x, y, y]; one int = all sides
  EXPECT_ALLCLOSE(mmcv::ops::upfirdn2d(x, f, 1, 2, {2, 1}), stylegan_ref::upfirdn2d(x, f, {1, 1}, {2, 2}, {2, 2, 1, 1}, false, 1.0));
  EXPECT_ALLCLOSE(mmcv::ops::upfirdn2d(x, f, 1, 1, 3), stylegan_ref::upfirdn2d(x, f, {1, 1}, {1, 1}, {3, 3, 3, 3}, false, 1.0));
  // identity: no filter, no scaling
  EXPECT_ALLEQUAL(mmcv::ops::upfirdn2d(x, std::nullopt), x);
  // channels-last / non-contiguous input
  auto xc = x.contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_ALLCLOSE(mmcv::ops::upfirdn2d(xc, f, 2, 1, {2, 1, 2, 1}, false, 4.0), ref);
  EXPECT_ALLCLOSE(mmcv::ops::upfirdn2d(x.transpose(2, 3), f, 2, 2, 1),
                  stylegan_ref::upfirdn2d(x.transpose(2, 3).contiguous(), f, {2, 2}, {2, 2}, {1, 1, 1, 1}, false, 1.0));
}

TEST_P(upfirdn2d_test, wrappers_match_their_padding_formulas) {
  auto x = at::randn({2, 2, 8, 6}, f64());
  for (const auto& f : filters()) {
    SCOPED_TRACE(name_of(f));
    const int64_t fw = f ? f->size(-1) : 1, fh = f ? f->size(0) : 1;
    auto pd = [](int64_t a, int64_t b) {  // Python's //
      return static_cast<int64_t>(std::floor(static_cast<double>(a) / static_cast<double>(b)));
    };
    // filter2d: same size
    auto f2 = mmcv::ops::filter2d(x, f, {1, 0, -1, 2}, false, 2.0);
    EXPECT_ALLCLOSE(f2, stylegan_ref::upfirdn2d(x, f, {1, 1}, {1, 1}, {1 + fw / 2, (fw - 1) / 2, -1 + fh / 2, 2 + (fh - 1) / 2}, false, 2.0));
    EXPECT_EQ(mmcv::ops::filter2d(x, f).sizes(), x.sizes());
    // upsample2d: gain * up^2, output H * up
    auto u = mmcv::ops::upsample2d(x, f, 2);
    EXPECT_ALLCLOSE(u, stylegan_ref::upfirdn2d(x, f, {2, 2}, {1, 1}, {pd(fw + 1, 2), pd(fw - 2, 2), pd(fh + 1, 2), pd(fh - 2, 2)}, false, 4.0));
    EXPECT_EQ(u.sizes(), at::IntArrayRef({2, 2, 16, 12}));
    auto u3 = mmcv::ops::upsample2d(x, f, {3, 2}, 1, true);
    EXPECT_ALLCLOSE(u3, stylegan_ref::upfirdn2d(x, f, {3, 2}, {1, 1},
                                                {1 + pd(fw + 2, 2), 1 + pd(fw - 3, 2), 1 + pd(fh + 1, 2), 1 + pd(fh - 2, 2)}, true, 6.0));
    // downsample2d: output H / down
    auto d = mmcv::ops::downsample2d(x, f, 2);
    EXPECT_ALLCLOSE(d, stylegan_ref::upfirdn2d(x, f, {1, 1}, {2, 2}, {pd(fw - 1, 2), pd(fw - 2, 2), pd(fh - 1, 2), pd(fh - 2, 2)}, false, 1.0));
    EXPECT_EQ(d.sizes(), at::IntArrayRef({2, 2, 4, 3}));
  }
}

TEST_P(upfirdn2d_test, gradients_of_first_and_second_order) {
  auto f1 = at::tensor({1.f, 3.f, 3.f, 1.f}, f32());
  auto f2 = at::randn({3, 2}, f32());
  for (auto cfg : std::vector<std::array<int64_t, 4>>{{2, 1, 1, -1}, {1, 2, 2, 1}, {2, 2, -1, 2}}) {
    for (const auto& f : {f1, f2}) {
      SCOPED_TRACE("up=" + std::to_string(cfg[0]) + " down=" + std::to_string(cfg[1]) + " " + name_of(f));
      auto fn = [&](const at::Tensor& v) {
        return mmcv::ops::upfirdn2d(v, f, cfg[0], cfg[1], {cfg[2], cfg[3], cfg[3], cfg[2]}, false, 2.0);
      };
      auto x = at::randn({1, 2, 5, 4}, f64()).requires_grad_(true);
      EXPECT_TRUE(mmcv_test::gradcheck([&](const std::vector<at::Tensor>& in) { return fn(in[0]); }, {x}));
      // double backward: d/d(grad_output) of the input gradient (gradgradcheck's second check).
      auto v = at::randn(fn(x).sizes(), f64()).requires_grad_(true);
      EXPECT_TRUE(mmcv_test::gradcheck(
          [&](const std::vector<at::Tensor>& in) {
            at::AutoGradMode enable(true);  // gradcheck evaluates its finite differences under no_grad
            auto y = fn(x);
            return torch::autograd::grad({y}, {x}, {in[0]}, /*retain_graph=*/true, /*create_graph=*/true)[0];
          },
          {v}));
    }
  }
}

TEST_P(upfirdn2d_test, empty_inputs) {
  auto f = at::tensor({1.f, 2.f, 1.f}, f32());
  auto x = at::randn({0, 3, 5, 5}, f32()).requires_grad_(true);
  auto y = mmcv::ops::upsample2d(x, f);
  EXPECT_EQ(y.sizes(), at::IntArrayRef({0, 3, 10, 10}));
  y.sum().backward();
  EXPECT_EQ(x.grad().sizes(), x.sizes());
  EXPECT_EQ(mmcv::ops::downsample2d(at::randn({2, 0, 6, 6}, f32()), f).sizes(), at::IntArrayRef({2, 0, 3, 3}));
  // zero-height input with enough padding: zeros
  auto z = mmcv::ops::upfirdn2d(at::randn({1, 1, 0, 4}, f32()), f, 1, 1, {0, 0, 2, 2});
  EXPECT_ALLEQUAL(z, at::zeros({1, 1, 2, 2}, f32()));
}

TEST_P(upfirdn2d_test, bad_inputs_throw_named_errors) {
  auto x = at::randn({1, 2, 6, 6}, f32());
  auto f = at::ones({4}, f32());
  using mmcv::ops::upfirdn2d;
  EXPECT_MMCV_ERROR(upfirdn2d(x[0], f), "upfirdn2d: expected input to be a 4-D tensor, but got 3-D tensor");
  EXPECT_MMCV_ERROR(upfirdn2d(x, at::ones({2, 2, 2}, f32())), "upfirdn2d: expected filter to be a 1-D (separable) or 2-D tensor, but got 3-D");
  EXPECT_MMCV_ERROR(upfirdn2d(x, f, 0), "upfirdn2d: expected up to be positive, but got 0");
  EXPECT_MMCV_ERROR(upfirdn2d(x, f, 1, {2, -1}), "upfirdn2d: expected down to be positive, but got -1");
  EXPECT_MMCV_ERROR(upfirdn2d(x, f, 1, {1, 2, 3}), "upfirdn2d: expected down to be an int or a pair of ints, but got 3 values");
  EXPECT_MMCV_ERROR(upfirdn2d(x, f, 1, 1, {1, 2, 3}), "upfirdn2d: expected padding to be an int, [x, y] or [x0, x1, y0, y1], but got 3 values");
  EXPECT_MMCV_ERROR(upfirdn2d(x, f, 1, 1, -2), "upfirdn2d: expected the upsampled, padded input (2 x 2) to be at least as large as the filter (4 x 4)");
  EXPECT_MMCV_ERROR(upfirdn2d(x.to(at::kInt), f), "upfirdn2d: expected input to have a floating-point dtype");
  EXPECT_MMCV_ERROR(upfirdn2d(x, at::ones({4}, at::TensorOptions().dtype(at::kInt).device(device()))),
                    "upfirdn2d: expected filter to have a floating-point dtype");
  EXPECT_MMCV_ERROR(upfirdn2d(x, at::ones({0}, f32())), "upfirdn2d: expected filter to have at least one tap");
  EXPECT_MMCV_ERROR(upfirdn2d(x, f.clone().requires_grad_(true)), "upfirdn2d: expected filter to not require grad");
  EXPECT_MMCV_ERROR(upfirdn2d(x, f, 1, 1, 0, false, INFINITY), "upfirdn2d: expected gain to be finite, but got inf");
  EXPECT_MMCV_ERROR(mmcv::ops::upsample2d(x, f, {2, 0}), "upsample2d: expected up to be positive, but got 0");
  EXPECT_MMCV_ERROR(mmcv::ops::downsample2d(x, f, 2, {-9}), "downsample2d: expected the upsampled, padded input");
  EXPECT_MMCV_ERROR(mmcv::ops::filter2d(x, at::ones({2, 2, 2}, f32())), "filter2d: expected filter to be a 1-D (separable) or 2-D tensor");
}

MMCV_INSTANTIATE_DEVICES(upfirdn2d_test);

}  // namespace
