// SPDX-License-Identifier: Apache-2.0
// Reliability specs for the convolution-like ops: psa_mask, tin_shift, active_rotated_filter,
// masked_conv2d, carafe (and carafe_naive), correlation. Float64 loop references:
// tests/ops/conv_like_reference.hpp (MMCV's kernel bodies).

#include <mmcv/ops/active_rotated_filter.hpp>
#include <mmcv/ops/carafe.hpp>
#include <mmcv/ops/correlation.hpp>
#include <mmcv/ops/masked_conv.hpp>
#include <mmcv/ops/psa_mask.hpp>
#include <mmcv/ops/tin_shift.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ops/conv_like_reference.hpp"
#include "reliability/reliability.hpp"

namespace {

using mmcv_rel::ArgKind;
using mmcv_rel::Gen;
using mmcv_rel::OpSpec;
using mmcv_rel::Sample;
using mmcv_rel::Tensors;
using mmcv_rel::Verdict;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

at::ScalarType pick_dtype(Gen& g) { return g.coin(0.6) ? at::kFloat : at::kDouble; }
mmcv_test::Tol tol_of(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? mmcv_test::Tol{1e-9, 1e-9} : mmcv_test::Tol{1e-4, 1e-4};
}

// ------------------------------------------------------------------------------------ psa_mask
OpSpec psa_mask_spec(const std::string& type) {
  OpSpec s;
  s.op = "psa_mask";
  const bool collect = type == "collect";
  s.inputs = [] { return Tensors{Gen(21).uniform_tensor({2, 15, 6, 7}, -1, 1, at::kFloat)}; };
  s.call = [type](const Tensors& x) {
    return mmcv_rel::with_grads([type](const Tensors& y) { return mmcv::ops::psa_mask(y[0], type, {3, 5}); }, x, {true});
  };
  s.args = {{"input", {"N", "15", "H", "W"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = {"N", "H", "W"};
  const auto x = [] { return Gen(22).uniform_tensor({1, 9, 4, 4}, -1, 1, at::kFloat); };
  s.bad = {{"psa_type", [x] { mmcv::ops::psa_mask(x(), "both", {3, 3}); }, "psa_mask: expected psa_type"},
           {"mask_size 0", [x] { mmcv::ops::psa_mask(x(), "collect", {0, 3}); }, "psa_mask: expected mask_size"},
           {"mask_size of 3 values", [x] { mmcv::ops::psa_mask(x(), "collect", {3, 3, 1}); }, "psa_mask: expected mask_size"}};
  s.generate = [](Gen& g) {
    Sample smp;
    const int64_t hm = g.integer(1, 5), wm = g.integer(1, 5);
    smp.nums["hm"] = static_cast<double>(hm);
    smp.nums["wm"] = static_cast<double>(wm);
    smp.add("input", g.uniform_tensor({g.integer(1, 2), hm * wm, g.integer(1, 6), g.integer(1, 6)}, -1, 1, pick_dtype(g)));
    smp.group({{"input", 0}});
    return smp;
  };
  s.check = [type, collect](const Sample& smp, Verdict& v) {
    const auto& in = smp.t("input");
    const auto out = mmcv::ops::psa_mask(in, type, {smp.integer("hm"), smp.integer("wm")});
    v.close(out, conv_ref::psa_mask(in, collect, smp.integer("hm"), smp.integer("wm")).to(in.scalar_type()), tol_of(in),
            "vs MMCV CPU loop");
  };
  s.property_cases = 300;
  s.policy.emplace_back("NaN input is copied to its one output element (pure index scatter)", [type](Verdict& v) {
    auto in = Gen(23).uniform_tensor({1, 9, 4, 4}, -1, 1, at::kFloat);
    in[0][4][1][2] = kNaN;
    const auto out = mmcv::ops::psa_mask(in, type, {3, 3});
    v.require(at::isnan(out).sum().item<int64_t>() == 1, "exactly one NaN in the output");
  });
  return s;
}

// ------------------------------------------------------------------------------------ tin_shift
OpSpec tin_shift_spec() {
  OpSpec s;
  s.op = "tin_shift";
  s.inputs = [] {
    Gen g(31);
    return Tensors{g.uniform_tensor({2, 5, 8, 6}, -1, 1, at::kFloat),
                   at::tensor({1, -2, 0, 7, -1, 2, 3, -5}, at::kInt).view({2, 4})};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads([](const Tensors& y) { return mmcv::ops::tin_shift(y[0], y[1]); }, x, {true, false});
  };
  s.args = {{"input", {"N", "T", "C", "S"}, ArgKind::kFloatHalfOk}, {"shift", {"N", "G"}, ArgKind::kIndex}};
  s.empty_dims = {"N"};
  const auto x = [] { return Gen(32).uniform_tensor({1, 4, 6, 3}, -1, 1, at::kFloat); };
  s.bad = {{"C % G != 0", [x] { mmcv::ops::tin_shift(x(), at::zeros({1, 4}, at::kInt)); }, "tin_shift: expected shift"},
           {"G = 0", [x] { mmcv::ops::tin_shift(x(), at::zeros({1, 0}, at::kInt)); }, "tin_shift: expected shift"}};
  s.generate = [](Gen& g) {
    Sample smp;
    const int64_t N = g.integer(1, 3), T = g.integer(1, 6), G = g.integer(1, 3), C = G * g.integer(1, 3);
    smp.add("input", g.uniform_tensor({N, T, C, g.integer(1, 4)}, -1, 1, pick_dtype(g)));
    smp.add("shift", g.uniform_tensor({N, G}, -T - 2, T + 3, at::kDouble).floor().to(g.coin() ? at::kInt : at::kLong));
    smp.group({{"input", 0}, {"shift", 0}});
    return smp;
  };
  s.check = [](const Sample& smp, Verdict& v) {
    const auto& in = smp.t("input");
    const auto& sh = smp.t("shift");
    v.close(mmcv::ops::tin_shift(in, sh), conv_ref::tin_shift(in, sh).to(in.scalar_type()), tol_of(in), "vs loop");
    // The gradient is the adjoint: <shift(x), y> == <x, grad(y)>.
    auto xi = in.to(at::kDouble).requires_grad_(true);
    auto y = at::randn(in.sizes(), at::kDouble);
    auto out = mmcv::ops::tin_shift(xi, sh);
    auto gx = mmcv_test::vjp(out, y, {xi})[0];
    v.close(gx, conv_ref::tin_shift_adjoint(y, sh), {1e-9, 1e-9}, "gradient is the -shift adjoint");
  };
  s.property_cases = 300;
  s.policy.emplace_back("DEVIATION true gradient (MMCV re-applies +shift to grad_output)", [](Verdict& v) {
    auto in = at::ones({1, 3, 1, 1}, at::kDouble).requires_grad_(true);
    auto sh = at::ones({1, 1}, at::kInt);
    auto out = mmcv::ops::tin_shift(in, sh);  // [0, 1, 1]
    auto g = mmcv_test::vjp(out, at::tensor({1.0, 2.0, 3.0}, at::kDouble).view({1, 3, 1, 1}), {in})[0];
    v.close(g.view({3}), at::tensor({2.0, 3.0, 0.0}, at::kDouble), {0, 0}, "adjoint gradient");
  });
  s.policy.emplace_back("NaN moves with its frame; frames shifted out drop it", [](Verdict& v) {
    auto in = at::zeros({1, 3, 1, 1}, at::kFloat);
    in[0][2][0][0] = kNaN;
    auto out = mmcv::ops::tin_shift(in, at::ones({1, 1}, at::kInt));
    v.require(!at::isnan(out).any().item<bool>(), "NaN in the last frame shifted out");
  });
  return s;
}

// --------------------------------------------------------------------- active_rotated_filter
OpSpec arf_spec() {
  OpSpec s;
  s.op = "active_rotated_filter";
  s.inputs = [] {
    return Tensors{Gen(41).uniform_tensor({3, 2, 4, 3, 3}, -1, 1, at::kFloat), conv_ref::orn_indices(4, 3, 4)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads([](const Tensors& y) { return mmcv::ops::active_rotated_filter(y[0], y[1]); }, x,
                                {true, false});
  };
  s.args = {{"input", {"Cout", "Cin", "O", "kh", "kw"}, ArgKind::kFloatHalfOk},
            {"indices", {"O", "kh", "kw", "R"}, ArgKind::kIndex}};
  s.empty_dims = {"Cout", "Cin"};
  s.bad = {{"index 0 (not 1-based)",
            [] {
              mmcv::ops::active_rotated_filter(at::zeros({1, 1, 4, 3, 3}), conv_ref::orn_indices(4, 3, 4) - 1);
            },
            "active_rotated_filter: expected indices to hold 1-based entries"}};
  s.generate = [](Gen& g) {
    Sample smp;
    const int64_t O = g.pick<int64_t>({1, 2, 4, 8}), k = g.pick<int64_t>({1, 3}), R = g.pick<int64_t>({1, 2, 4, 8});
    smp.add("input", g.uniform_tensor({g.integer(1, 3), g.integer(1, 3), O, k, k}, -1, 1, pick_dtype(g)));
    if (g.coin(0.7)) {
      smp.add("indices", conv_ref::orn_indices(O, k, R));
    } else {  // arbitrary (not a permutation): duplicates and holes
      smp.add("indices", g.uniform_tensor({O, k, k, R}, 1, O * k * k + 1, at::kDouble).floor().to(at::kInt));
    }
    return smp;
  };
  s.check = [](const Sample& smp, Verdict& v) {
    const auto& in = smp.t("input");
    v.close(mmcv::ops::active_rotated_filter(in, smp.t("indices")),
            conv_ref::active_rotated_filter(in, smp.t("indices")).to(in.scalar_type()), tol_of(in), "vs MMCV CPU loop");
  };
  s.property_cases = 300;
  s.policy.emplace_back("NaN weight is copied to its R rotated entries", [](Verdict& v) {
    auto in = at::zeros({1, 1, 4, 3, 3}, at::kFloat);
    in[0][0][1][1][2] = kNaN;
    auto out = mmcv::ops::active_rotated_filter(in, conv_ref::orn_indices(4, 3, 4));
    v.require(at::isnan(out).sum().item<int64_t>() == 4, "4 NaN copies");
  });
  return s;
}

// ---------------------------------------------------------------------------- masked_conv2d
OpSpec masked_conv_spec() {
  OpSpec s;
  s.op = "masked_conv2d";
  s.inputs = [] {
    Gen g(51);
    return Tensors{g.uniform_tensor({2, 3, 7, 8}, -1, 1, at::kFloat),
                   (g.uniform_tensor({2, 7, 8}, 0, 1, at::kFloat) > 0.5).to(at::kFloat),
                   g.uniform_tensor({4, 3, 3, 3}, -1, 1, at::kFloat), g.uniform_tensor({4}, -1, 1, at::kFloat)};
  };
  s.call = [](const Tensors& x) { return Tensors{mmcv::ops::masked_conv2d(x[0], x[1], x[2], x[3], 1, 1)}; };
  s.args = {{"features", {"N", "C", "H", "W"}, ArgKind::kFloatHalfOk},
            {"mask", {"N", "H", "W"}, ArgKind::kIndex},
            {"weight", {"Cout", "C", "kh", "kw"}, ArgKind::kFloatHalfOk},
            {"bias", {"Cout"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = {"N", "Cout"};
  const auto x = [] {
    Gen g(52);
    return Tensors{g.uniform_tensor({1, 2, 5, 5}, -1, 1, at::kFloat), at::ones({1, 5, 5}),
                   g.uniform_tensor({3, 2, 3, 3}, -1, 1, at::kFloat), at::zeros({3})};
  };
  s.bad = {{"stride 0", [x] { auto y = x(); mmcv::ops::masked_conv2d(y[0], y[1], y[2], y[3], 1, 0); }, "masked_conv2d: expected stride"},
           {"padding -1", [x] { auto y = x(); mmcv::ops::masked_conv2d(y[0], y[1], y[2], y[3], -1, 1); }, "masked_conv2d: expected padding"},
           {"kernel larger than the padded input",
            [x] { auto y = x(); mmcv::ops::masked_conv2d(y[0], y[1], at::zeros({3, 2, 9, 9}), y[3], 1, 1); },
            "masked_conv2d: expected weight"}};
  s.generate = [](Gen& g) {
    Sample smp;
    const auto dt = pick_dtype(g);
    const int64_t N = g.integer(1, 2), C = g.integer(1, 3), O = g.integer(1, 3), kh = g.integer(1, 3), kw = g.integer(1, 3);
    const int64_t H = g.integer(kh, 6), W = g.integer(kw, 6);
    smp.nums["ph"] = static_cast<double>(g.integer(0, 1));
    smp.nums["pw"] = static_cast<double>(g.integer(0, 1));
    smp.nums["sh"] = static_cast<double>(g.integer(1, 2));
    smp.nums["sw"] = static_cast<double>(g.integer(1, 2));
    smp.add("features", g.uniform_tensor({N, C, H, W}, -1, 1, dt));
    smp.add("mask", g.uniform_tensor({N, H, W}, -1, 1, dt));
    smp.add("weight", g.uniform_tensor({O, C, kh, kw}, -1, 1, dt));
    smp.add("bias", g.uniform_tensor({O}, -1, 1, dt));
    smp.group({{"features", 0}, {"mask", 0}});
    return smp;
  };
  s.check = [](const Sample& smp, Verdict& v) {
    const int64_t ph = smp.integer("ph"), pw = smp.integer("pw"), sh = smp.integer("sh"), sw = smp.integer("sw");
    const auto& f = smp.t("features");
    const auto out = mmcv::ops::masked_conv2d(f, smp.t("mask"), smp.t("weight"), smp.t("bias"), {ph, pw}, {sh, sw});
    v.close(out, conv_ref::masked_conv2d(f, smp.t("mask"), smp.t("weight"), smp.t("bias"), ph, pw, sh, sw).to(f.scalar_type()),
            tol_of(f), "vs loop");
  };
  s.property_cases = 200;
  s.device_tol = mmcv_test::Tol{1e-4, 1e-4};  // GEMM summation order
  s.policy.emplace_back("NaN features reach only set positions whose window holds them", [](Verdict& v) {
    auto f = at::zeros({1, 1, 5, 5});
    f[0][0][0][0] = kNaN;
    auto m = at::zeros({1, 5, 5});
    m[0][4][4] = 1;
    auto out = mmcv::ops::masked_conv2d(f, m, at::ones({1, 1, 3, 3}), at::zeros({1}), 1);
    v.require(!at::isnan(out).any().item<bool>(), "unset positions stay 0 even next to NaN");
    m[0][1][1] = 1;
    out = mmcv::ops::masked_conv2d(f, m, at::ones({1, 1, 3, 3}), at::zeros({1}), 1);
    v.require(at::isnan(out).sum().item<int64_t>() == 1, "the set position reading the NaN is NaN");
  });
  return s;
}

// ------------------------------------------------------------------------------------- carafe
OpSpec carafe_spec(bool naive) {
  OpSpec s;
  s.op = naive ? "carafe_naive" : "carafe";
  const auto fn = [naive](const at::Tensor& f, const at::Tensor& m, int64_t k, int64_t g, int64_t sc) {
    return naive ? mmcv::ops::carafe_naive(f, m, k, g, sc) : mmcv::ops::carafe(f, m, k, g, sc);
  };
  s.inputs = [] {
    Gen g(61);
    return Tensors{g.uniform_tensor({2, 4, 4, 5}, -1, 1, at::kFloat), g.uniform_tensor({2, 18, 8, 10}, 0, 1, at::kFloat)};
  };
  s.call = [fn](const Tensors& x) {
    return mmcv_rel::with_grads([fn](const Tensors& y) { return fn(y[0], y[1], 3, 2, 2); }, x, {true, true});
  };
  s.args = {{"features", {"N", "C", "H", "W"}, ArgKind::kFloatHalfOk}, {"masks", {"N", "18", "*", "*"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = {"N"};
  const std::string op = s.op;
  const auto x = [] {
    Gen g(62);
    return Tensors{g.uniform_tensor({1, 4, 3, 3}, -1, 1, at::kFloat), g.uniform_tensor({1, 9, 6, 6}, 0, 1, at::kFloat)};
  };
  s.bad = {{"even kernel", [x, fn] { auto y = x(); fn(y[0], y[1], 2, 1, 2); }, op + ": expected kernel_size to be odd"},
           {"group 3 (C = 4)", [x, fn] { auto y = x(); fn(y[0], y[1], 3, 3, 2); }, op + ": expected features"},
           {"scale 0", [x, fn] { auto y = x(); fn(y[0], y[1], 3, 1, 0); }, op + ": expected scale_factor"},
           {"masks for another scale", [x, fn] { auto y = x(); fn(y[0], y[1], 3, 1, 3); }, op + ": expected masks"}};
  s.generate = [](Gen& g) {
    Sample smp;
    const auto dt = pick_dtype(g);
    const int64_t k = g.pick<int64_t>({1, 3, 5}), G = g.integer(1, 2), C = G * g.integer(1, 2), sc = g.integer(1, 3);
    const int64_t N = g.integer(1, 2), H = g.integer(1, 4), W = g.integer(1, 4);
    smp.nums["k"] = static_cast<double>(k);
    smp.nums["G"] = static_cast<double>(G);
    smp.nums["s"] = static_cast<double>(sc);
    smp.add("features", g.uniform_tensor({N, C, H, W}, -1, 1, dt));
    smp.add("masks", g.uniform_tensor({N, G * k * k, H * sc, W * sc}, 0, 1, dt));
    smp.group({{"features", 0}, {"masks", 0}});
    return smp;
  };
  s.check = [fn](const Sample& smp, Verdict& v) {
    const auto& f = smp.t("features");
    const int64_t k = smp.integer("k"), G = smp.integer("G"), sc = smp.integer("s");
    v.close(fn(f, smp.t("masks"), k, G, sc), conv_ref::carafe(f, smp.t("masks"), k, G, sc).to(f.scalar_type()),
            tol_of(f), "vs MMCV CUDA kernel loop");
  };
  s.property_cases = 200;
  s.device_tol = mmcv_test::Tol{1e-4, 1e-4};  // batched GEMM summation order
  s.policy.emplace_back("NaN feature pixel reaches the outputs whose window holds it", [fn](Verdict& v) {
    auto f = at::zeros({1, 1, 4, 4});
    f[0][0][0][0] = kNaN;
    auto out = fn(f, at::ones({1, 9, 8, 8}), 3, 1, 2);
    v.require(at::isnan(out).sum().item<int64_t>() == 16, "the 4x4 outputs of the 2x2 sources around it");
  });
  return s;
}

// -------------------------------------------------------------------------------- correlation
OpSpec correlation_spec() {
  OpSpec s;
  s.op = "correlation";
  s.inputs = [] {
    Gen g(71);
    return Tensors{g.uniform_tensor({2, 3, 6, 7}, -1, 1, at::kFloat), g.uniform_tensor({2, 3, 6, 7}, -1, 1, at::kFloat)};
  };
  s.call = [](const Tensors& x) {
    return mmcv_rel::with_grads(
        [](const Tensors& y) { return mmcv::ops::correlation(y[0], y[1], 3, 2, 1, 1, 1, 2); }, x, {true, true});
  };
  s.args = {{"input1", {"N", "C", "H", "W"}, ArgKind::kFloatHalfOk}, {"input2", {"N", "C", "H", "W"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = {"N", "C"};
  const auto x = [] { return Gen(72).uniform_tensor({1, 2, 4, 4}, -1, 1, at::kFloat); };
  s.bad = {{"kernel 0", [x] { mmcv::ops::correlation(x(), x(), 0); }, "correlation: expected kernel_size"},
           {"max_displacement -1", [x] { mmcv::ops::correlation(x(), x(), 1, -1); }, "correlation: expected max_displacement"},
           {"stride 0", [x] { mmcv::ops::correlation(x(), x(), 1, 1, 0); }, "correlation: expected stride"},
           {"dilation_patch 0", [x] { mmcv::ops::correlation(x(), x(), 1, 1, 1, 0, 1, 0); }, "correlation: expected dilation_patch"}};
  s.generate = [](Gen& g) {
    Sample smp;
    const auto dt = pick_dtype(g);
    const int64_t N = g.integer(1, 2), C = g.integer(1, 3), H = g.integer(1, 6), W = g.integer(1, 6);
    for (const char* n : {"k", "st", "dil", "dp"}) smp.nums[n] = static_cast<double>(g.integer(1, 3));
    smp.nums["md"] = static_cast<double>(g.integer(0, 2));
    smp.nums["pad"] = static_cast<double>(g.integer(0, 2));
    smp.add("input1", g.uniform_tensor({N, C, H, W}, -1, 1, dt));
    smp.add("input2", g.uniform_tensor({N, C, H, W}, -1, 1, dt));
    smp.group({{"input1", 0}, {"input2", 0}});
    return smp;
  };
  s.check = [](const Sample& smp, Verdict& v) {
    const auto& a = smp.t("input1");
    const auto& b = smp.t("input2");
    const int64_t k = smp.integer("k"), md = smp.integer("md"), st = smp.integer("st"), pad = smp.integer("pad"),
                  dil = smp.integer("dil"), dp = smp.integer("dp");
    const auto out = mmcv::ops::correlation(a, b, k, md, st, pad, dil, dp);
    const int64_t span = (k - 1) * dil + 1;
    if (a.size(2) + 2 * pad < span || a.size(3) + 2 * pad < span) {
      v.require(out.numel() == 0, "window larger than the padded map: empty volume");
      return;
    }
    v.close(out, conv_ref::correlation(a, b, k, md, st, pad, dil, dp).to(a.scalar_type()), tol_of(a), "vs loop");
  };
  s.property_cases = 200;
  s.device_tol = mmcv_test::Tol{1e-4, 1e-4};
  s.policy.emplace_back("NaN pixel reaches only the pairs that read it", [](Verdict& v) {
    auto a = at::zeros({1, 1, 5, 5});
    auto b = at::zeros({1, 1, 5, 5});
    a[0][0][2][2] = kNaN;
    auto out = mmcv::ops::correlation(a, b, 1, 1);
    v.require(at::isnan(out).sum().item<int64_t>() == 9, "the 9 displacements at pixel (2, 2)");
  });
  return s;
}

}  // namespace

MMCV_RELIABILITY_OP(psa_mask_collect) { return psa_mask_spec("collect"); }
MMCV_RELIABILITY_OP(psa_mask_distribute) { return psa_mask_spec("distribute"); }
MMCV_RELIABILITY_OP(tin_shift) { return tin_shift_spec(); }
MMCV_RELIABILITY_OP(active_rotated_filter) { return arf_spec(); }
MMCV_RELIABILITY_OP(masked_conv2d) { return masked_conv_spec(); }
MMCV_RELIABILITY_OP(carafe) { return carafe_spec(false); }
MMCV_RELIABILITY_OP(carafe_naive) { return carafe_spec(true); }
MMCV_RELIABILITY_OP(correlation) { return correlation_spec(); }
