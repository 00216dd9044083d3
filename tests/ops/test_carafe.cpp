// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/carafe.hpp (mmcv.ops.carafe, mmcv.ops.carafe_naive) and
// carafe_module.hpp (mmcv.ops.CARAFE, CARAFENaive, CARAFEPack).

#include <mmcv/ops/carafe.hpp>
#include <mmcv/ops/carafe_module.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/conv_like_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

class carafe_test : public DeviceTest {};

TEST_P(carafe_test, matches_mmcv_reference) {
  const auto names = mmcv_test::cases_for_op("carafe");
  ASSERT_EQ(names.size(), 5u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto c = mmcv_test::load_case(name);
    auto f = dev(c.at("in.features")).requires_grad_(true);
    auto m = dev(c.at("in.masks")).requires_grad_(true);
    const int64_t k = c.param_int("kernel_size"), g = c.param_int("group_size"), s = c.param_int("scale_factor");
    // MMCV's float64 kernels round the masks to float32 in shared memory; we compute in float64:
    // compare that case at float32-level tolerance (docs/differences.md).
    const bool f64case = f.scalar_type() == at::kDouble;
    const mmcv_test::Tol tol = f64case ? mmcv_test::Tol{1e-6, 1e-6} : mmcv_test::tol_for(f);
    for (bool naive : {false, true}) {
      auto out = naive ? mmcv::ops::carafe_naive(f, m, k, g, s) : mmcv::ops::carafe(f, m, k, g, s);
      EXPECT_EQ(out.device(), device());
      EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
      EXPECT_ALLCLOSE(out, c.at("out.output"), tol);
      auto grads = mmcv_test::vjp(out, dev(c.at("grad_out.output")), {f, m});
      EXPECT_ALLCLOSE(grads[0], c.at("grad.features"), tol);
      EXPECT_ALLCLOSE(grads[1], c.at("grad.masks"), tol);
    }
  }
}

TEST_P(carafe_test, matches_loop_reference) {
  struct Case {
    int64_t N, C, H, W, k, G, s;
  };
  for (auto p : std::vector<Case>{{2, 4, 3, 5, 3, 2, 2}, {1, 6, 4, 4, 5, 3, 3}, {1, 2, 1, 1, 3, 1, 2},
                                  {2, 3, 4, 2, 1, 1, 1}, {1, 4, 2, 3, 7, 4, 2}}) {
    SCOPED_TRACE("k=" + std::to_string(p.k) + " G=" + std::to_string(p.G) + " s=" + std::to_string(p.s));
    auto f = at::randn({p.N, p.C, p.H, p.W}, f64()).requires_grad_(true);
    auto m = at::randn({p.N, p.G * p.k * p.k, p.H * p.s, p.W * p.s}, f64()).requires_grad_(true);
    auto out = mmcv::ops::carafe(f, m, p.k, p.G, p.s);
    EXPECT_ALLCLOSE(out, conv_ref::carafe(f.detach(), m.detach(), p.k, p.G, p.s));
    auto go = at::randn(out.sizes(), f64());
    auto grads = mmcv_test::vjp(out, go, {f, m});
    auto ref = conv_ref::carafe_backward(go, f.detach(), m.detach(), p.k, p.G, p.s);
    EXPECT_ALLCLOSE(grads[0], ref.first);
    EXPECT_ALLCLOSE(grads[1], ref.second);
    auto out32 = mmcv::ops::carafe_naive(f.detach().to(at::kFloat), m.detach().to(at::kFloat), p.k, p.G, p.s);
    EXPECT_ALLCLOSE(out32, conv_ref::carafe(f.detach(), m.detach(), p.k, p.G, p.s).to(at::kFloat));
  }
}

TEST_P(carafe_test, chunked_rows_match_one_chunk) {
  // W * k * k * C above half the chunk budget: one source row per chunk, two chunks.
  const int64_t C = 32, H = 2, W = 1700, k = 9;
  auto f = at::randn({1, C, H, W}, f32());
  auto m = at::softmax(at::randn({1, k * k, H, W}, f32()), 1);
  auto out = mmcv::ops::carafe(f, m, k, 1, 1);
  // Reference: unfold + einsum (MMCV's formula in ATen; scale 1 needs no upsampling).
  auto cols = at::im2col(f, {k, k}, {1, 1}, {4, 4}, {1, 1}).view({1, C, k * k, H, W});
  auto ref = at::einsum("nctyx,ntyx->ncyx", {cols, m});
  EXPECT_ALLCLOSE(out, ref, mmcv_test::Tol{1e-4, 1e-5});
}

TEST_P(carafe_test, gradients_match_finite_differences) {
  auto f = at::randn({1, 4, 3, 4}, f64()).requires_grad_(true);
  auto m = at::randn({1, 2 * 9, 6, 8}, f64()).requires_grad_(true);
  EXPECT_TRUE(mmcv_test::gradcheck(
      [](const std::vector<at::Tensor>& x) { return mmcv::ops::carafe(x[0], x[1], 3, 2, 2); }, {f, m}));
}

TEST_P(carafe_test, empty_inputs) {
  auto out = mmcv::ops::carafe(at::zeros({0, 4, 3, 3}, f32()), at::zeros({0, 9, 6, 6}, f32()), 3, 1, 2);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{0, 4, 6, 6}));
  auto f = at::zeros({1, 4, 0, 3}, f64()).requires_grad_(true);
  auto m = at::zeros({1, 9, 0, 6}, f64()).requires_grad_(true);
  out = mmcv::ops::carafe(f, m, 3, 1, 2);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 4, 0, 6}));
  auto grads = mmcv_test::vjp(out, at::zeros_like(out), {f, m});
  EXPECT_EQ(grads[0].sizes(), f.sizes());
}

TEST_P(carafe_test, errors_name_op_and_argument) {
  auto f = at::randn({1, 4, 3, 3}, f32());
  auto m = at::randn({1, 9, 6, 6}, f32());
  EXPECT_MMCV_ERROR(mmcv::ops::carafe(f, m, 2, 1, 2), "carafe: expected kernel_size to be odd, but got 2");
  EXPECT_MMCV_ERROR(mmcv::ops::carafe(f, m, 3, 3, 2), "carafe: expected features to have a channel count divisible by group_size = 3, but got 4");
  EXPECT_MMCV_ERROR(mmcv::ops::carafe(f, m, 3, 1, 3), "carafe: expected masks to have shape [N, group_size * kernel_size^2, H * scale_factor, W * scale_factor] = [1, 9, 9, 9], but got [1, 9, 6, 6]");
  EXPECT_MMCV_ERROR(mmcv::ops::carafe(f, m, 3, 1, 0), "carafe: expected scale_factor to be positive, but got 0");
  EXPECT_MMCV_ERROR(mmcv::ops::carafe(f, m.to(at::kDouble), 3, 1, 2), "carafe: expected masks to have the same dtype as features (Float), but got Double");
  EXPECT_MMCV_ERROR(mmcv::ops::carafe_naive(f[0], m, 3, 1, 2), "carafe_naive: expected features to be a 4-D tensor");
  EXPECT_MMCV_ERROR(mmcv::ops::carafe_naive(f.to(at::kInt), m, 3, 1, 2), "carafe_naive: expected features to have a floating-point dtype");
}

TEST_P(carafe_test, modules) {
  auto f = at::randn({2, 8, 4, 5}, f32());
  auto m = at::softmax(at::randn({2, 2 * 25, 8, 10}, f32()), 1);
  mmcv::ops::CARAFE up(5, 2, 2);
  mmcv::ops::CARAFENaive upn(5, 2, 2);
  EXPECT_ALLCLOSE(up(f, m), mmcv::ops::carafe(f, m, 5, 2, 2));
  EXPECT_ALLCLOSE(upn(f, m), mmcv::ops::carafe(f, m, 5, 2, 2));
  std::ostringstream os;
  os << *up;
  EXPECT_EQ(os.str(), "mmcv::ops::CARAFE(kernel_size=5, group_size=2, scale_factor=2)");

  mmcv::ops::CARAFEPack pack(8, 2, /*up_kernel=*/3, /*up_group=*/2, /*encoder_kernel=*/3, /*encoder_dilation=*/1,
                             /*compressed_channels=*/6);
  pack->to(device());
  auto params = pack->named_parameters();
  std::vector<std::string> keys;
  for (const auto& kv : params) keys.push_back(kv.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"channel_compressor.weight", "channel_compressor.bias",
                                            "content_encoder.weight", "content_encoder.bias"}));
  EXPECT_EQ(pack->channel_compressor->weight.sizes(), (std::vector<int64_t>{6, 8, 1, 1}));
  EXPECT_EQ(pack->content_encoder->weight.sizes(), (std::vector<int64_t>{2 * 9 * 4, 6, 3, 3}));
  // MMCV's init: content_encoder normal(std=0.001), zero biases.
  EXPECT_EQ(pack->content_encoder->bias.abs().max().item<double>(), 0.0);
  EXPECT_LT(pack->content_encoder->weight.abs().max().item<double>(), 0.01);
  // Forward = compressor -> encoder -> pixel_shuffle -> softmax over the k*k taps of each group -> carafe.
  auto y = pack(f);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 8, 8, 10}));
  auto x = pack->channel_compressor(f);
  auto enc = at::pixel_shuffle(pack->content_encoder(x), 2);
  auto sm = at::softmax(enc.view({2, 2, 9, 8, 10}), 2).view({2, 18, 8, 10});
  EXPECT_ALLCLOSE(y, mmcv::ops::carafe(f, sm, 3, 2, 2));
}

MMCV_INSTANTIATE_DEVICES(carafe_test);

}  // namespace
