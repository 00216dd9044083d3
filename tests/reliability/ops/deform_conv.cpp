// SPDX-License-Identifier: Apache-2.0
// Reliability specs for include/mmcv/ops/deform_conv.hpp and modulated_deform_conv.hpp. Float64
// reference: tests/ops/deform_conv_reference.hpp (MMCV's im2col loop with the DCN bilinear rule).

#include <mmcv/ops/deform_conv.hpp>
#include <mmcv/ops/modulated_deform_conv.hpp>

#include <cmath>
#include <limits>
#include <numeric>

#include "common/peer.hpp"
#include "ops/deform_conv_reference.hpp"
#include "reliability/reliability.hpp"

namespace {

using mmcv_rel::ArgKind;
using mmcv_rel::Gen;
using mmcv_rel::OpSpec;
using mmcv_rel::Sample;
using mmcv_rel::Tensors;
using mmcv_rel::Verdict;

struct Geo {
  int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw, groups, dg, Ho, Wo;
};

Geo random_geo(Gen& g) {
  Geo k{};
  k.groups = g.integer(1, 2);
  k.dg = g.integer(1, 2);
  k.C = std::lcm(k.groups, k.dg) * g.integer(1, 2);
  k.O = k.groups * g.integer(1, 2);
  k.N = g.integer(1, 2);
  k.kh = g.integer(1, 3), k.kw = g.integer(1, 3);
  k.sh = g.integer(1, 2), k.sw = g.integer(1, 2);
  k.ph = g.integer(0, 2), k.pw = g.integer(0, 2);
  k.dh = g.integer(1, 2), k.dw = g.integer(1, 2);
  // MMCV's deform_conv2d requires H >= kh; keep the output non-empty.
  k.H = std::max(k.kh, g.integer(1, 7)), k.W = std::max(k.kw, g.integer(1, 7));
  while ((k.H + 2 * k.ph - (k.dh * (k.kh - 1) + 1)) / k.sh + 1 <= 0 || k.H + 2 * k.ph < k.dh * (k.kh - 1) + 1) ++k.H;
  while ((k.W + 2 * k.pw - (k.dw * (k.kw - 1) + 1)) / k.sw + 1 <= 0 || k.W + 2 * k.pw < k.dw * (k.kw - 1) + 1) ++k.W;
  k.Ho = (k.H + 2 * k.ph - (k.dh * (k.kh - 1) + 1)) / k.sh + 1;
  k.Wo = (k.W + 2 * k.pw - (k.dw * (k.kw - 1) + 1)) / k.sw + 1;
  return k;
}

at::Tensor random_offsets(Gen& g, const Geo& k, at::ScalarType dt) {
  const int64_t n = k.N * 2 * k.dg * k.kh * k.kw * k.Ho * k.Wo;
  std::vector<double> v(static_cast<size_t>(n));
  const int64_t mode = g.integer(0, 3);
  for (auto& x : v) {
    if (mode == 0) x = 0.0;                                                 // plain convolution
    else if (mode == 1) x = static_cast<double>(g.integer(-2, 2));          // exact pixels, window edges
    else if (mode == 2) x = g.uniform(-2.5, 2.5);                           // general
    else x = g.coin(0.2) ? g.pick({-1e6, 1e6, -1.0, 1.0}) : g.uniform(-1, 1);  // far outside, edges
  }
  return at::tensor(v, at::kDouble).reshape({k.N, 2 * k.dg * k.kh * k.kw, k.Ho, k.Wo}).to(dt);
}

Sample dcn_sample(Gen& g, bool modulated) {
  Sample s;
  const auto dt = g.coin(0.6) ? at::kFloat : at::kDouble;
  const Geo k = random_geo(g);
  for (auto [name, val] : {std::pair<const char*, int64_t>{"sh", k.sh}, {"sw", k.sw}, {"ph", k.ph}, {"pw", k.pw},
                           {"dh", k.dh}, {"dw", k.dw}, {"groups", k.groups}, {"deform_groups", k.dg}})
    s.nums[name] = static_cast<double>(val);
  s.add("input", g.uniform_tensor({k.N, k.C, k.H, k.W}, -1, 1, dt));
  s.add("offset", random_offsets(g, k, dt));
  s.add("weight", g.uniform_tensor({k.O, k.C / k.groups, k.kh, k.kw}, -1, 1, dt));
  if (modulated) {
    s.add("mask", g.uniform_tensor({k.N, k.dg * k.kh * k.kw, k.Ho, k.Wo}, 0, 1, dt));
    s.nums["bias"] = g.coin();
    s.add("bias", g.uniform_tensor({k.O}, -1, 1, dt));
    s.group({{"input", 0}, {"offset", 0}, {"mask", 0}});
  } else {
    s.nums["im2col_step"] = static_cast<double>(g.integer(1, 3));
    s.group({{"input", 0}, {"offset", 0}});
  }
  return s;
}

mmcv_test::DcnLoopArgs loop_args(const Sample& s) {
  mmcv_test::DcnLoopArgs a;
  a.sh = s.integer("sh"), a.sw = s.integer("sw"), a.ph = s.integer("ph"), a.pw = s.integer("pw");
  a.dh = s.integer("dh"), a.dw = s.integer("dw"), a.groups = s.integer("groups"), a.deform_groups = s.integer("deform_groups");
  return a;
}

at::Tensor run(const Sample& s, bool modulated, const at::Tensor& input, const at::Tensor& offset, const at::Tensor& weight) {
  const std::vector<int64_t> st{s.integer("sh"), s.integer("sw")}, pd{s.integer("ph"), s.integer("pw")},
      dl{s.integer("dh"), s.integer("dw")};
  if (modulated) {
    std::optional<at::Tensor> b;
    if (s.num("bias") != 0) b = s.t("bias");
    return mmcv::ops::modulated_deform_conv2d(input, offset, s.t("mask"), weight, b, st, pd, dl, s.integer("groups"),
                                              s.integer("deform_groups"));
  }
  return mmcv::ops::deform_conv2d(input, offset, weight, st, pd, dl, s.integer("groups"), s.integer("deform_groups"),
                                  false, s.integer("im2col_step"));
}

void check_dcn(const Sample& s, Verdict& v, bool modulated) {
  const auto& input = s.t("input");
  const auto& offset = s.t("offset");
  const auto& weight = s.t("weight");
  const auto out = run(s, modulated, input, offset, weight);
  const auto ref = mmcv_test::dcn_loop_reference(input, offset, modulated ? s.t("mask") : at::Tensor(), weight,
                                                 modulated && s.num("bias") != 0 ? s.t("bias") : at::Tensor(),
                                                 loop_args(s));
  v.require(out.sizes() == ref.output.sizes(), "output shape");
  v.require(out.scalar_type() == offset.scalar_type(), "output dtype");
  if (!v.ok()) return;
  const mmcv_test::Tol tol = offset.scalar_type() == at::kDouble ? mmcv_test::Tol{1e-9, 1e-9} : mmcv_test::Tol{1e-4, 1e-4};
  v.close(out, ref.output, tol, "vs MMCV im2col float64 loop reference");
  // Linear in the weight.
  v.close(run(s, modulated, input, offset, weight * 2.0), modulated && s.num("bias") != 0 ? out * 2.0 - s.t("bias").view({1, -1, 1, 1}) : out * 2.0,
          {1e-4, 1e-4}, "linearity in the weight");
  // Zero offsets (and a unit mask) = an ordinary convolution.
  if (!modulated) {
    const auto conv = at::conv2d(input, weight, {}, {s.integer("sh"), s.integer("sw")}, {s.integer("ph"), s.integer("pw")},
                                 {s.integer("dh"), s.integer("dw")}, s.integer("groups"));
    v.close(run(s, false, input, at::zeros_like(offset), weight), conv, {1e-4, 1e-4}, "zero offsets == conv2d");
  }
}

// Fixed inputs: N=2, C=4, 9x9, O=6, 3x3, pad 1, groups 2, deform_groups 2.
Tensors fixed(uint64_t seed, bool modulated, int64_t N = 2, int64_t C = 4, int64_t H = 9, int64_t O = 6) {
  Gen g(seed);
  Tensors x{g.uniform_tensor({N, C, H, H}, -1, 1, at::kFloat), g.uniform_tensor({N, 2 * 2 * 9, H, H}, -2, 2, at::kFloat),
            g.uniform_tensor({O, C / 2, 3, 3}, -1, 1, at::kFloat)};
  if (modulated) {
    x.push_back(g.uniform_tensor({N, 2 * 9, H, H}, 0, 1, at::kFloat));
    x.push_back(g.uniform_tensor({O}, -1, 1, at::kFloat));
  }
  return x;
}

at::Tensor call_fixed(const Tensors& x, bool modulated) {
  if (modulated) return mmcv::ops::modulated_deform_conv2d(x[0], x[1], x[3], x[2], x[4], 1, 1, 1, 2, 2);
  return mmcv::ops::deform_conv2d(x[0], x[1], x[2], 1, 1, 1, 2, 2);
}

void dcn_policy(OpSpec& s, bool modulated) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::string op = s.op;
  auto reference = [modulated](const Tensors& x) {
    mmcv_test::DcnLoopArgs a;
    a.ph = a.pw = 1, a.groups = 2, a.deform_groups = 2;
    return mmcv_test::dcn_loop_reference(x[0], x[1], modulated ? x[3] : at::Tensor(), x[2],
                                         modulated ? x[4] : at::Tensor(), a)
        .output;
  };
  s.policy.emplace_back("NaN / +-Inf offsets sample nothing (0), as MMCV's window test", [=](Verdict& v) {
    for (double bad : {nan, inf, -inf}) {
      auto x = fixed(101, modulated, 1, 4, 5, 2);
      x[1][0][3][2][2] = bad;  // tap 1's dy at output pixel (2, 2)
      x[1][0][20][1][3] = bad;
      const auto out = call_fixed(x, modulated);
      v.require(at::isfinite(out).all().item<bool>(), "non-finite offset " + std::to_string(bad) + " reached the output");
      v.close(out, reference(x), {1e-4, 1e-4}, "vs MMCV loop reference, offset " + std::to_string(bad));
    }
  });
  s.policy.emplace_back("a NaN input pixel reaches exactly the samples whose counted corners include it (MMCV)",
                        [=](Verdict& v) {
                          for (int64_t px : {0, 2}) {
                            auto x = fixed(102, modulated, 1, 4, 5, 2);
                            x[0][0][1][px][px] = nan;
                            v.close(call_fixed(x, modulated), reference(x), {1e-4, 1e-4},
                                    "vs MMCV loop reference, NaN at pixel (" + std::to_string(px) + ", " + std::to_string(px) + ")");
                          }
                        });
}

OpSpec dcn_spec(bool modulated) {
  OpSpec s;
  s.op = modulated ? "modulated_deform_conv2d" : "deform_conv2d";
  s.inputs = [modulated] { return fixed(111, modulated); };
  s.call = [modulated](const Tensors& x) {
    auto g = mmcv_rel::with_grads([modulated](const Tensors& y) { return call_fixed(y, modulated); }, x,
                                  modulated ? std::vector<bool>{true, true, true, true, true} : std::vector<bool>{true, true, true});
    if (!modulated) g.push_back(mmcv::ops::deform_conv2d(x[0], x[1], x[2], 1, 1, 1, 2, 2, false, /*im2col_step=*/1));
    return g;
  };
  s.args = {{"input", {"N", "C", "H", "W"}, ArgKind::kCastToFloat},
            {"offset", {"N", "*", "Ho", "Wo"}, ArgKind::kFloatHalfOk},
            {"weight", {"O", "*", "kh", "kw"}, ArgKind::kCastToFloat}};  // kh, kw tie to offset's channels
  if (modulated) {
    s.args.push_back({"mask", {"N", "18", "Ho", "Wo"}, ArgKind::kCastToFloat});
    s.args.push_back({"bias", {"O"}, ArgKind::kCastToFloat});
  }
  const std::string op = s.op;
  const auto x = [modulated] { return fixed(3, modulated, 1, 4, 5, 2); };
  auto call = [modulated](const Tensors& y, at::IntArrayRef st, at::IntArrayRef pd, at::IntArrayRef dl, int64_t g, int64_t dg) {
    if (modulated) return mmcv::ops::modulated_deform_conv2d(y[0], y[1], y[3], y[2], y[4], st, pd, dl, g, dg);
    return mmcv::ops::deform_conv2d(y[0], y[1], y[2], st, pd, dl, g, dg);
  };
  // fuzz: hostile integer parameters (the offset / mask shapes stay those of stride 1, padding 1,
  // dilation 1, so most values end in a shape error; the overflow checks run before it).
  s.int_params = {
      {"stride", [call](const Tensors& y, int64_t v) { return Tensors{call(y, v, 1, 1, 2, 2)}; }},
      {"stride[1]", [call](const Tensors& y, int64_t v) { return Tensors{call(y, {1, v}, 1, 1, 2, 2)}; }},
      {"padding", [call](const Tensors& y, int64_t v) { return Tensors{call(y, 1, v, 1, 2, 2)}; }},
      {"dilation", [call](const Tensors& y, int64_t v) { return Tensors{call(y, 1, 1, v, 2, 2)}; }},
      {"groups", [call](const Tensors& y, int64_t v) { return Tensors{call(y, 1, 1, 1, v, 2)}; }},
      {"deform_groups", [call](const Tensors& y, int64_t v) { return Tensors{call(y, 1, 1, 1, 2, v)}; }},
  };
  if (!modulated)
    s.int_params.push_back({"im2col_step", [](const Tensors& y, int64_t v) {
                              return Tensors{mmcv::ops::deform_conv2d(y[0], y[1], y[2], 1, 1, 1, 2, 2, false, v)};
                            }});
  s.bad = {
      {"stride 0", [=] { call(x(), 0, 1, 1, 2, 2); }, op + ": expected stride to be positive"},
      {"padding -1", [=] { call(x(), 1, -1, 1, 2, 2); }, op + ": expected padding to be non-negative"},
      {"dilation 0", [=] { call(x(), 1, 1, 0, 2, 2); }, op + ": expected dilation to be positive"},
      {"stride of 3 values", [=] { call(x(), {1, 1, 1}, 1, 1, 2, 2); }, op + ": expected stride"},
      {"groups 0", [=] { call(x(), 1, 1, 1, 0, 2); }, op + ": expected groups to be positive"},
      {"groups 3 (C = 4)", [=] { call(x(), 1, 1, 1, 3, 2); }, op + ": expected"},
      {"deform_groups 0", [=] { call(x(), 1, 1, 1, 2, 0); }, op + ": expected deform_groups to be positive"},
      {"deform_groups 3 (offset channels)", [=] { call(x(), 1, 1, 1, 2, 3); }, op + ": expected"},
      {"offset channels for another kernel", [=] {
         auto y = x();
         y[1] = y[1].narrow(1, 0, 34);
         call(y, 1, 1, 1, 2, 2);
       }, op + ": expected offset"},
      {"empty output (kernel larger than padded input)", [=] { call(x(), 1, 0, 4, 2, 2); }, op + ": expected"},
  };
  if (!modulated) {
    s.bad.push_back({"bias = true", [=] { mmcv::ops::deform_conv2d(x()[0], x()[1], x()[2], 1, 1, 1, 2, 2, true); },
                     "deform_conv2d: expected bias"});
    s.bad.push_back({"im2col_step 0", [=] { mmcv::ops::deform_conv2d(x()[0], x()[1], x()[2], 1, 1, 1, 2, 2, false, 0); },
                     "deform_conv2d: expected im2col_step to be positive"});
    s.bad.push_back({"input smaller than the kernel (MMCV's rule)", [=] {
                       Gen g(4);
                       auto in = g.uniform_tensor({1, 4, 2, 2}, -1, 1, at::kFloat);
                       auto off = g.uniform_tensor({1, 36, 2, 2}, -1, 1, at::kFloat);
                       mmcv::ops::deform_conv2d(in, off, x()[2], 1, 1, 1, 2, 2);
                     }, "deform_conv2d: expected input"});
  }
  s.generate = [modulated](Gen& g) { return dcn_sample(g, modulated); };
  s.check = [modulated](const Sample& smp, Verdict& v) { check_dcn(smp, v, modulated); };
  s.property_cases = 1500;
  s.device_tol = mmcv_test::Tol{1e-4, 1e-4};  // GEMM (cuBLAS) vs CPU BLAS summation order
  dcn_policy(s, modulated);
  s.bench_inputs = [modulated] {
    Gen g(112);
    Tensors b{g.uniform_tensor({8, 64, 64, 64}, -1, 1, at::kFloat), g.uniform_tensor({8, 2 * 2 * 9, 64, 64}, -2, 2, at::kFloat),
              g.uniform_tensor({64, 32, 3, 3}, -1, 1, at::kFloat)};
    if (modulated) {
      b.push_back(g.uniform_tensor({8, 18, 64, 64}, 0, 1, at::kFloat));
      b.push_back(g.uniform_tensor({64}, -1, 1, at::kFloat));
    }
    return b;
  };
  s.bench_call = [modulated](const Tensors& b) { return Tensors{call_fixed(b, modulated)}; };
  // torchvision::deform_conv2d(input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w,
  //                            dilation_h, dilation_w, groups, offset_groups, use_mask)
  s.peer = [modulated](const Tensors& b) {
    auto& tv = mmcv_bench::Torchvision::get();
    const auto mask = modulated ? b[3] : at::zeros({b[0].size(0), 1}, b[0].options());  // torchvision's "no mask"
    const auto bias = modulated ? b[4] : at::zeros({b[2].size(0)}, b[0].options());
    return Tensors{tv.op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                    const at::Tensor&, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, bool)>("deform_conv2d")
                       .call(b[0], b[2], b[1], mask, bias, 1, 1, 1, 1, 1, 1, 2, 2, modulated)};
  };
  s.peer_name = "torchvision::deform_conv2d";
  return s;
}

}  // namespace

MMCV_RELIABILITY_OP(deform_conv2d) { return dcn_spec(false); }
MMCV_RELIABILITY_OP(modulated_deform_conv2d) { return dcn_spec(true); }
