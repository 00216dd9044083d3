// SPDX-License-Identifier: Apache-2.0
// Tests for include/mmcv/ops/focal_loss.hpp (mmcv.ops.sigmoid_focal_loss / softmax_focal_loss, the
// semantics of MMCV's CUDA kernels) and focal_loss_module.hpp (SigmoidFocalLoss, SoftmaxFocalLoss).

#include <mmcv/ops/focal_loss.hpp>
#include <mmcv/ops/focal_loss_module.hpp>

#include <cfloat>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_utils.hpp"
#include "ops/focal_loss_reference.hpp"

namespace {

using mmcv_test::DeviceTest;

using focal_ref::sigmoid_loop;
using focal_ref::softmax_loop;

// Random targets with every kind of row: classes, background K, negative.
at::Tensor random_targets(int64_t N, int64_t K) {
  auto t = at::randint(-1, K + 1, {N}, at::kLong);
  if (N >= 3) {
    t[0] = K;
    t[1] = -1;
    t[2] = 0;
  }
  return t;
}

class focal_loss_test : public DeviceTest {};

TEST_P(focal_loss_test, matches_mmcv_reference) {
  for (const char* op : {"sigmoid_focal_loss", "softmax_focal_loss"}) {
    const bool soft = std::string(op) == "softmax_focal_loss";
    const auto names = mmcv_test::cases_for_op(op);
    ASSERT_EQ(names.size(), soft ? 9u : 8u);
    for (const auto& name : names) {
      SCOPED_TRACE(name);
      auto c = mmcv_test::load_case(name);
      auto input = dev(c.at("in.input")).requires_grad_(true);
      std::optional<at::Tensor> w;
      if (c.has("in.weight")) w = dev(c.at("in.weight"));
      const auto red = c.param_string("reduction");
      const double g = c.param_double("gamma"), a = c.param_double("alpha");
      auto out = soft ? mmcv::ops::softmax_focal_loss(input, dev(c.at("in.target")), g, a, w, red)
                      : mmcv::ops::sigmoid_focal_loss(input, dev(c.at("in.target")), g, a, w, red);
      EXPECT_EQ(out.device(), device());
      EXPECT_EQ(out.scalar_type(), c.at("out.output").scalar_type());
      // MMCV's sigmoid uses float32 expf even for float64 data; ours is full float64 (documented),
      // so the float64 sigmoid case agrees to float32 precision only.
      const bool f64_sigmoid = !soft && input.scalar_type() == at::kDouble;
      const auto tol = f64_sigmoid ? mmcv_test::Tol{1e-6, 1e-6} : mmcv_test::tol_for(c.at("out.output"));
      EXPECT_ALLCLOSE(out, c.at("out.output"), tol);
      if (!c.has("grad.input")) continue;
      auto go = dev(c.at("grad_out.output"));
      auto grad = mmcv_test::vjp(out, go, {input})[0];
      if (soft && red == "none") {
        // MMCV's bug: grad(N, K) *= grad_out(N) broadcasts along K (column c scaled by
        // grad_out[c]); we scale row n by grad_out[n]. Undo ours, apply MMCV's, compare.
        const auto unit = mmcv_test::vjp(mmcv::ops::softmax_focal_loss(input, dev(c.at("in.target")), g, a, w, red),
                                         at::ones_like(go), {input})[0];
        EXPECT_ALLCLOSE(unit * go.unsqueeze(0), c.at("grad.input"));
        EXPECT_ALLCLOSE(grad, unit * go.unsqueeze(1));
      } else {
        EXPECT_ALLCLOSE(grad, c.at("grad.input"), tol);
      }
    }
  }
}

TEST_P(focal_loss_test, matches_loop_reference) {
  for (auto shape : std::vector<std::pair<int64_t, int64_t>>{{37, 5}, {1, 1}, {12, 80}}) {
    const int64_t N = shape.first, K = shape.second;
    auto x = at::randn({N, K}, at::kDouble) * 4;
    if (N > 4) {
      x[3][0] = 120.0;  // p == 1 in float32 and close in float64: the FLT_MIN clamp
      x[4][0] = -120.0;
    }
    auto t = random_targets(N, K);
    auto w = at::rand({K}, at::kDouble) + 0.5;
    for (double g : {2.0, 1.5, 0.0}) {
      for (double a : {0.25, 0.7}) {
        for (bool use_w : {false, true}) {
          for (const char* red : {"none", "sum", "mean"}) {
            SCOPED_TRACE("N=" + std::to_string(N) + " K=" + std::to_string(K) + " g=" + std::to_string(g) +
                         " a=" + std::to_string(a) + " w=" + std::to_string(use_w) + " " + red);
            const std::string r(red);
            const double gn = static_cast<float>(g), an = static_cast<float>(a);
            const auto wt = use_w ? w : at::Tensor();
            const std::optional<at::Tensor> wo = use_w ? std::optional<at::Tensor>(dev(w)) : std::nullopt;
            for (auto dt : {at::kDouble, at::kFloat}) {
              const auto tol = mmcv_test::tol_for(dt);
              // float32: |x| <= 4 keeps 1 - p well above float32's ulp at 1 (the float64 reference
              // would otherwise see the float32 rounding of p); saturation is tested separately.
              const auto xd = dt == at::kFloat ? x.clamp(-4, 4) : x;
              // sigmoid
              {
                auto xi = dev(xd).to(dt).requires_grad_(true);
                auto out = mmcv::ops::sigmoid_focal_loss(xi, dev(t), g, a, wo ? std::optional<at::Tensor>(wo->to(dt)) : std::nullopt, r);
                auto go = r == "none" ? at::randn({N, K}, at::kDouble) : at::randn({}, at::kDouble);
                auto ref = sigmoid_loop(xi.detach(), t, wt, gn, an, go.expand({N, K}).contiguous());
                auto ref_out = r == "none" ? ref.loss : r == "sum" ? ref.loss.sum() : ref.loss.sum() / N;
                auto ref_grad = r == "mean" ? ref.grad / N : ref.grad;
                EXPECT_ALLCLOSE(out, ref_out.to(dt), tol);
                EXPECT_ALLCLOSE(mmcv_test::vjp(out, dev(go).to(dt), {xi})[0], ref_grad.to(dt), tol);
              }
              // softmax
              {
                auto xi = dev(xd).to(dt).requires_grad_(true);
                auto out = mmcv::ops::softmax_focal_loss(xi, dev(t), g, a, wo ? std::optional<at::Tensor>(wo->to(dt)) : std::nullopt, r);
                auto go = r == "none" ? at::randn({N}, at::kDouble) : at::randn({}, at::kDouble);
                auto ref = softmax_loop(xi.detach(), t, wt, gn, an, go.expand({N}).contiguous());
                auto ref_out = r == "none" ? ref.loss : r == "sum" ? ref.loss.sum() : ref.loss.sum() / N;
                auto ref_grad = r == "mean" ? ref.grad / N : ref.grad;
                EXPECT_ALLCLOSE(out, ref_out.to(dt), tol);
                EXPECT_ALLCLOSE(mmcv_test::vjp(out, dev(go).to(dt), {xi})[0], ref_grad.to(dt), tol);
              }
            }
          }
        }
      }
    }
  }
}

TEST_P(focal_loss_test, gradients_match_finite_differences) {
  auto x = (at::randn({9, 4}, f64()) * 2).requires_grad_(true);
  auto t = dev(random_targets(9, 4));
  auto w = at::rand({4}, f64()) + 0.5;
  for (const char* red : {"none", "sum", "mean"}) {
    SCOPED_TRACE(red);
    for (double g : {2.0, 1.5}) {
      EXPECT_TRUE(mmcv_test::gradcheck(
          [&](const std::vector<at::Tensor>& in) { return mmcv::ops::sigmoid_focal_loss(in[0], t, g, 0.25, w, red); }, {x}));
      EXPECT_TRUE(mmcv_test::gradcheck(
          [&](const std::vector<at::Tensor>& in) { return mmcv::ops::softmax_focal_loss(in[0], t, g, 0.25, w, red); }, {x}));
    }
  }
}

TEST_P(focal_loss_test, background_rows_and_weight) {
  // Background (target == K or < 0): every class negative, weight factor 1 (MMCV reads weight[K],
  // out of bounds). Softmax: such rows give 0 and no gradient.
  const int64_t K = 3;
  auto x = at::randn({2, K}, f64()).requires_grad_(true);
  auto t = at::tensor({int64_t{K}, int64_t{-1}}, at::TensorOptions().dtype(at::kLong).device(device()));
  auto w = at::full({K}, 7.0, f64());
  auto with_w = mmcv::ops::sigmoid_focal_loss(x, t, 2.0, 0.25, w, "none");
  auto without = mmcv::ops::sigmoid_focal_loss(x, t, 2.0, 0.25, std::nullopt, "none");
  EXPECT_ALLCLOSE(with_w, without);
  auto p = at::sigmoid(x.detach());
  EXPECT_ALLCLOSE(without, -0.75 * p.pow(2) * at::log(1 - p));
  auto s = mmcv::ops::softmax_focal_loss(x, t, 2.0, 0.25, w, "none");
  EXPECT_ALLEQUAL(s.detach(), at::zeros({2}, f64()));
  EXPECT_ALLEQUAL(mmcv_test::vjp(s, at::ones({2}, f64()), {x})[0], at::zeros({2, K}, f64()));
  // A class row is scaled by weight[target] as a whole.
  auto t1 = at::tensor({int64_t{1}, int64_t{2}}, at::TensorOptions().dtype(at::kLong).device(device()));
  auto w2 = at::tensor({1.0, 2.0, 3.0}, f64());
  auto a = mmcv::ops::sigmoid_focal_loss(x, t1, 2.0, 0.25, w2, "none");
  auto b = mmcv::ops::sigmoid_focal_loss(x, t1, 2.0, 0.25, std::nullopt, "none");
  EXPECT_ALLCLOSE(a, b * at::tensor({2.0, 3.0}, f64()).unsqueeze(1));
}

TEST_P(focal_loss_test, saturated_logits_use_the_flt_min_clamp) {
  // float32: sigmoid(100) == 1 -> log(max(1 - p, FLT_MIN)) = log(FLT_MIN) on the negative class.
  auto x = at::tensor({100.0f, -100.0f}, f32()).view({1, 2});
  auto t = at::tensor({int64_t{1}}, at::TensorOptions().dtype(at::kLong).device(device()));
  auto out = mmcv::ops::sigmoid_focal_loss(x, t, 2.0, 0.25, std::nullopt, "none").cpu();
  EXPECT_NEAR(out[0][0].item<float>(), -0.75f * std::log(FLT_MIN), 1e-3);
  EXPECT_NEAR(out[0][1].item<float>(), -0.25f * std::log(FLT_MIN), 1e-3);
  EXPECT_FALSE(at::isinf(out).any().item<bool>());
  auto sx = at::tensor({0.0f, -200.0f}, f32()).view({1, 2});
  auto s = mmcv::ops::softmax_focal_loss(sx, t, 2.0, 0.25, std::nullopt, "none").cpu();
  EXPECT_NEAR(s[0].item<float>(), -0.25f * std::log(FLT_MIN), 1e-3);
}

TEST_P(focal_loss_test, dtypes_and_layouts) {
  auto x = at::randn({20, 6}, f32());
  auto t = dev(random_targets(20, 6));
  auto ref = mmcv::ops::sigmoid_focal_loss(x, t, 2.0, 0.25, std::nullopt, "none");
  EXPECT_ALLCLOSE(mmcv::ops::sigmoid_focal_loss(x.t().contiguous().t(), t, 2.0, 0.25, std::nullopt, "none"), ref);
  EXPECT_ALLCLOSE(mmcv::ops::softmax_focal_loss(x.t().contiguous().t(), t), mmcv::ops::softmax_focal_loss(x, t));
  if (device().is_cuda()) {
    for (auto st : {at::kHalf, at::kBFloat16}) {
      auto h = mmcv::ops::sigmoid_focal_loss(x.to(st), t, 2.0, 0.25, std::nullopt, "none");
      EXPECT_EQ(h.scalar_type(), st);
      EXPECT_ALLCLOSE(h, ref.to(st), mmcv_test::Tol{5e-2, 5e-2});
    }
  }
}

TEST_P(focal_loss_test, empty_inputs) {
  auto lopt = at::TensorOptions().dtype(at::kLong).device(device());
  auto x = at::randn({0, 5}, f32()).requires_grad_(true);
  auto t = at::empty({0}, lopt);
  auto none = mmcv::ops::sigmoid_focal_loss(x, t, 2.0, 0.25, std::nullopt, "none");
  EXPECT_EQ(none.sizes(), at::IntArrayRef({0, 5}));
  EXPECT_EQ(mmcv::ops::softmax_focal_loss(x, t, 2.0, 0.25, std::nullopt, "none").sizes(), at::IntArrayRef({0}));
  auto sum = mmcv::ops::sigmoid_focal_loss(x, t, 2.0, 0.25, std::nullopt, "sum");
  EXPECT_EQ(sum.item<float>(), 0.0f);
  EXPECT_TRUE(std::isnan(mmcv::ops::softmax_focal_loss(x, t).item<float>()));  // mean over 0 rows, as at::mean
  sum.backward();
  EXPECT_EQ(x.grad().sizes(), at::IntArrayRef({0, 5}));
  // no classes
  auto x0 = at::randn({3, 0}, f32()).requires_grad_(true);
  auto t0 = at::zeros({3}, lopt);
  EXPECT_EQ(mmcv::ops::sigmoid_focal_loss(x0, t0, 2.0, 0.25, std::nullopt, "none").sizes(), at::IntArrayRef({3, 0}));
  auto s0 = mmcv::ops::softmax_focal_loss(x0, t0, 2.0, 0.25, std::nullopt, "none");
  EXPECT_ALLEQUAL(s0.detach(), at::zeros({3}, f32()));
  EXPECT_EQ(mmcv_test::vjp(s0, at::ones({3}, f32()), {x0})[0].sizes(), at::IntArrayRef({3, 0}));
}

TEST_P(focal_loss_test, bad_inputs_throw_named_errors) {
  auto x = at::randn({4, 3}, f32());
  auto t = at::zeros({4}, at::TensorOptions().dtype(at::kLong).device(device()));
  using mmcv::ops::sigmoid_focal_loss;
  using mmcv::ops::softmax_focal_loss;
  EXPECT_MMCV_ERROR(sigmoid_focal_loss(x[0], t), "sigmoid_focal_loss: expected input to be a 2-D tensor, but got 1-D tensor");
  EXPECT_MMCV_ERROR(softmax_focal_loss(x, t.view({2, 2})), "softmax_focal_loss: expected target to be a 1-D tensor, but got 2-D");
  EXPECT_MMCV_ERROR(sigmoid_focal_loss(x, t.to(at::kInt)), "sigmoid_focal_loss: expected target to have dtype Long (class indices), but got Int");
  EXPECT_MMCV_ERROR(sigmoid_focal_loss(x.to(at::kInt), t), "sigmoid_focal_loss: expected input to have a floating-point dtype");
  EXPECT_MMCV_ERROR(sigmoid_focal_loss(x, t.narrow(0, 0, 3)), "sigmoid_focal_loss: expected target to have input.size(0) = 4 elements, but got 3");
  EXPECT_MMCV_ERROR(softmax_focal_loss(x, t, 2.0, 0.25, at::ones({4}, f32())),
                    "softmax_focal_loss: expected weight to have input.size(1) = 3 elements, but got 4");
  EXPECT_MMCV_ERROR(sigmoid_focal_loss(x, t, 2.0, 0.25, at::ones({3}, f64())),
                    "sigmoid_focal_loss: expected weight to have the same dtype as input (Float), but got Double");
  EXPECT_MMCV_ERROR(sigmoid_focal_loss(x, t, 2.0, 0.25, std::nullopt, "avg"),
                    "sigmoid_focal_loss: expected reduction to be one of {\"none\", \"mean\", \"sum\"}, but got \"avg\"");
  EXPECT_MMCV_ERROR(softmax_focal_loss(x, t, std::nan("")), "softmax_focal_loss: expected gamma to be finite, but got nan");
  EXPECT_MMCV_ERROR(sigmoid_focal_loss(x, t, 2.0, INFINITY), "sigmoid_focal_loss: expected alpha to be finite, but got inf");
  EXPECT_MMCV_ERROR(mmcv::ops::SigmoidFocalLoss(2.0, 0.25, std::nullopt, "bad"),
                    "SigmoidFocalLoss: expected reduction to be one of");
}

TEST_P(focal_loss_test, modules) {
  auto x = at::randn({6, 4}, f32());
  auto t = dev(random_targets(6, 4));
  auto w = at::rand({4}, f32()) + 0.5;
  mmcv::ops::SigmoidFocalLoss sig(2.0, 0.25, w, "sum");
  EXPECT_ALLCLOSE(sig(x, t), mmcv::ops::sigmoid_focal_loss(x, t, 2.0, 0.25, w, "sum"));
  mmcv::ops::SoftmaxFocalLoss soft(1.5, 0.3);
  EXPECT_ALLCLOSE(soft(x, t), mmcv::ops::softmax_focal_loss(x, t, 1.5, 0.3));
  EXPECT_EQ(sig->named_buffers().size(), 1u);
  EXPECT_TRUE(sig->named_buffers().contains("weight"));
  EXPECT_EQ(soft->named_buffers().size(), 0u);
  EXPECT_EQ(sig->parameters().size(), 0u);
  std::ostringstream os;
  os << *soft;
  EXPECT_EQ(os.str(), "mmcv::ops::SoftmaxFocalLoss(gamma=1.5, alpha=0.3, reduction=mean)");
  auto clone = std::dynamic_pointer_cast<mmcv::ops::SigmoidFocalLossImpl>(sig->clone());
  ASSERT_TRUE(clone);
  EXPECT_ALLCLOSE(clone->forward(x, t), sig(x, t));
}

MMCV_INSTANTIATE_DEVICES(focal_loss_test);

}  // namespace
