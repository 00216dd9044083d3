// SPDX-License-Identifier: Apache-2.0
// Reliability specs for include/mmcv/ops/detail/bilinear.hpp (the shared bilinear sampler; an
// internal helper without argument checks, so no bad-input mutations, only views and policy).

#include <mmcv/ops/detail/bilinear.hpp>

#include <cmath>
#include <limits>

#include "reliability/reliability.hpp"

namespace {

using mmcv::ops::detail::BilinearRule;
using mmcv_rel::Gen;
using mmcv_rel::OpSpec;
using mmcv_rel::Sample;
using mmcv_rel::Tensors;
using mmcv_rel::Verdict;

// MMCV's bilinear_interpolate (RoI rule), float64. A point outside the window is 0; like MMCV's
// CPU pre_calc (positions 0, weights 0) it still reads pixel (0, 0): 0 * NaN = NaN.
double roi_ref(const double* img, int64_t H, int64_t W, double y, double x) {
  if (y < -1.0 || y > static_cast<double>(H) || x < -1.0 || x > static_cast<double>(W)) return 0.0 * img[0] * 4;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t y_low = static_cast<int64_t>(y), x_low = static_cast<int64_t>(x), y_high, x_high;
  if (y_low >= H - 1) {
    y_high = y_low = H - 1;
    y = static_cast<double>(y_low);
  } else {
    y_high = y_low + 1;
  }
  if (x_low >= W - 1) {
    x_high = x_low = W - 1;
    x = static_cast<double>(x_low);
  } else {
    x_high = x_low + 1;
  }
  const double ly = y - y_low, lx = x - x_low, hy = 1 - ly, hx = 1 - lx;
  return hy * hx * img[y_low * W + x_low] + hy * lx * img[y_low * W + x_high] + ly * hx * img[y_high * W + x_low] +
         ly * lx * img[y_high * W + x_high];
}

// MMCV's dmcn_im2col_bilinear (DCN rule), float64, including the caller's window test.
double dcn_ref(const double* img, int64_t H, int64_t W, double h, double w) {
  if (!(h > -1 && w > -1 && h < static_cast<double>(H) && w < static_cast<double>(W))) return 0;
  const int64_t h_low = static_cast<int64_t>(std::floor(h)), w_low = static_cast<int64_t>(std::floor(w));
  const int64_t h_high = h_low + 1, w_high = w_low + 1;
  const double lh = h - h_low, lw = w - w_low, hh = 1 - lh, hw = 1 - lw;
  const double v1 = (h_low >= 0 && w_low >= 0) ? img[h_low * W + w_low] : 0;
  const double v2 = (h_low >= 0 && w_high <= W - 1) ? img[h_low * W + w_high] : 0;
  const double v3 = (h_high <= H - 1 && w_low >= 0) ? img[h_high * W + w_low] : 0;
  const double v4 = (h_high <= H - 1 && w_high <= W - 1) ? img[h_high * W + w_high] : 0;
  return hh * hw * v1 + hh * lw * v2 + lh * hw * v3 + lh * lw * v4;
}

// [P, S, C] reference for points y, x [P, S] with batch_index [P].
at::Tensor loop_sample(const at::Tensor& input, const at::Tensor& bi, const at::Tensor& y, const at::Tensor& x,
                       BilinearRule rule) {
  auto in = input.to(at::kDouble).contiguous();
  auto b = bi.to(at::kLong).contiguous();
  auto yy = y.to(at::kDouble).contiguous(), xx = x.to(at::kDouble).contiguous();
  const int64_t C = in.size(1), H = in.size(2), W = in.size(3), P = yy.size(0), S = yy.size(1);
  auto out = at::zeros({P, S, C}, at::kDouble);
  const double* pin = in.data_ptr<double>();
  double* po = out.data_ptr<double>();
  for (int64_t p = 0; p < P; ++p)
    for (int64_t s = 0; s < S; ++s)
      for (int64_t c = 0; c < C; ++c) {
        const double* img = pin + (b.data_ptr<int64_t>()[p] * C + c) * H * W;
        const double yv = yy.data_ptr<double>()[p * S + s], xv = xx.data_ptr<double>()[p * S + s];
        po[(p * S + s) * C + c] = rule == BilinearRule::kRoi ? roi_ref(img, H, W, yv, xv) : dcn_ref(img, H, W, yv, xv);
      }
  return out;
}

at::Tensor sample(const Tensors& x, BilinearRule rule) {
  return mmcv::ops::detail::bilinear_sample(x[0], x[1], x[2], x[3], rule);
}

Tensors fixed_inputs() {
  Gen g(21);
  const int64_t P = 17, S = 6, H = 5, W = 7;
  auto input = g.uniform_tensor({2, 3, H, W}, -1, 1, at::kFloat);
  auto bi = at::arange(P, at::kLong).remainder(2);
  auto y = g.uniform_tensor({P, S}, -2, H + 1, at::kFloat);
  auto x = g.uniform_tensor({P, S}, -2, W + 1, at::kFloat);
  y[0][0] = -1.0;  // window edges
  x[0][1] = static_cast<double>(W);
  y[1][2] = static_cast<double>(H - 1);
  return {input, bi, y, x};
}

double coordinate(Gen& g, int64_t size) {
  const double r = g.uniform();
  if (r < 0.45) return g.uniform(-2.0, static_cast<double>(size) + 1.0);
  if (r < 0.65) return static_cast<double>(g.integer(-1, size));  // pixel centres and the window edges
  if (r < 0.75) return static_cast<double>(g.integer(-1, size)) + g.pick({0.5, -1e-6, 1e-6});
  if (r < 0.85) return g.pick({-1.0, static_cast<double>(size), static_cast<double>(size - 1), 0.0});
  return g.pick({-1e30, 1e30, -3.0, static_cast<double>(size) + 2.5});
}

Sample generate(Gen& g) {
  Sample s;
  const auto dtype = g.coin(0.7) ? at::kFloat : at::kDouble;
  const int64_t B = g.integer(1, 3), C = g.integer(1, 4), H = g.integer(1, 7), W = g.integer(1, 7);
  const int64_t P = g.count(12), S = g.integer(1, 5);
  s.nums["rule"] = g.coin() ? 0 : 1;
  std::vector<double> ys, xs;
  std::vector<int64_t> bs;
  for (int64_t p = 0; p < P; ++p) {
    bs.push_back(g.coin(0.3) ? g.pick<int64_t>({0, B - 1}) : g.integer(0, B - 1));
    for (int64_t k = 0; k < S; ++k) {
      ys.push_back(coordinate(g, H));
      xs.push_back(coordinate(g, W));
    }
  }
  s.add("input", g.uniform_tensor({B, C, H, W}, -1, 1, dtype));
  s.add("batch_index", at::tensor(bs, at::kLong).reshape({P}));
  s.add("y", at::tensor(ys, at::kDouble).reshape({P, S}).to(dtype));
  s.add("x", at::tensor(xs, at::kDouble).reshape({P, S}).to(dtype));
  s.group({{"batch_index", 0}, {"y", 0}, {"x", 0}});
  return s;
}

void check(const Sample& s, Verdict& v) {
  const auto rule = s.num("rule") == 0 ? BilinearRule::kRoi : BilinearRule::kDcn;
  const auto& input = s.t("input");
  const auto& bi = s.t("batch_index");
  const auto& y = s.t("y");
  const auto& x = s.t("x");
  const int64_t P = y.size(0), S = y.size(1), C = input.size(1);
  const auto out = mmcv::ops::detail::bilinear_sample(input, bi, y, x, rule);
  v.require(out.sizes() == at::IntArrayRef({P, S, C}), "output shape");
  v.require(out.scalar_type() == input.scalar_type(), "output dtype");
  if (!v.ok()) return;
  const mmcv_test::Tol tol = input.scalar_type() == at::kDouble ? mmcv_test::Tol{1e-12, 1e-12} : mmcv_test::Tol{1e-5, 1e-5};
  v.close(out, loop_sample(input, bi, y, x, rule), tol, "vs MMCV float64 loop reference");
  // Linearity in the feature map.
  const auto other = at::cos(input * 3.0);
  const auto lin = mmcv::ops::detail::bilinear_sample(input * 2.0 - other * 3.0, bi, y, x, rule);
  const auto parts = out * 2.0 - mmcv::ops::detail::bilinear_sample(other, bi, y, x, rule) * 3.0;
  v.close(lin, parts, {1e-4, 1e-4}, "linearity in the input");
  // A constant map gives the sum of the counted weights: 1 inside (RoI), in [0, 1] (DCN).
  const auto ones = mmcv::ops::detail::bilinear_sample(at::ones_like(input), bi, y, x, rule);
  const auto eps = 1e-5;
  v.require(at::all(ones >= -eps).item<bool>() && at::all(ones <= 1 + eps).item<bool>(),
            "weights of a point sum outside [0, 1]");
  if (rule == BilinearRule::kRoi && P > 0) {
    const double H = static_cast<double>(input.size(2)), W = static_cast<double>(input.size(3));
    const auto inside = ((y >= -1) & (y <= H) & (x >= -1) & (x <= W)).unsqueeze(-1).expand({P, S, C});
    v.close(ones.masked_select(inside), at::ones({inside.sum().item<int64_t>()}, ones.options()), {1e-5, 1e-5},
            "RoI rule: weights of an in-window point sum to 1");
    v.require(at::all(ones.masked_select(~inside) == 0).item<bool>(), "RoI rule: out-of-window point is not 0");
  }
}

// NaN / Inf policy (docs/nan_policy.md). Rows marked DEVIATION pin today's behaviour where it
// differs from MMCV; they fail (on purpose) once the sampler is changed to MMCV's behaviour, so the
// docs get updated together with the code.
void policy_rows(OpSpec& s) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  auto at_point = [](const Tensors& x, const at::Tensor& y, const at::Tensor& xx, BilinearRule rule) {
    return mmcv::ops::detail::bilinear_sample(x[0], x[1], y, xx, rule);
  };
  s.policy.emplace_back("RoI rule: +-Inf coordinates sample 0 (outside the window, as MMCV)", [=](Verdict& v) {
    auto x = fixed_inputs();
    for (double bad : {inf, -inf}) {
      auto y = x[2].clone();
      y[3][1] = bad;
      auto xx = x[3].clone();
      xx[3][2] = bad;
      auto out = at_point(x, y, xx, BilinearRule::kRoi);
      v.require(at::all(out[3][1] == 0).item<bool>() && at::all(out[3][2] == 0).item<bool>(),
                "coordinate " + std::to_string(bad) + " did not give 0");
    }
  });
  s.policy.emplace_back("DEVIATION DCN rule: +-Inf / NaN coordinates give NaN (MMCV: 0)", [=](Verdict& v) {
    auto x = fixed_inputs();
    for (double bad : {inf, -inf, nan}) {
      auto y = x[2].clone();
      y[3][1] = bad;
      auto out = at_point(x, y, x[3], BilinearRule::kDcn);
      v.require(at::all(at::isnan(out[3][1])).item<bool>(), "coordinate " + std::to_string(bad) + " did not give NaN");
      auto clean = at_point(x, x[2], x[3], BilinearRule::kDcn);
      v.equal(out[3][0], clean[3][0], "other samples unchanged");
    }
  });
  s.policy.emplace_back("RoI rule: NaN coordinates give NaN for that sample only (MMCV: undefined behaviour)",
                        [=](Verdict& v) {
                          auto x = fixed_inputs();
                          auto y = x[2].clone();
                          y[4][0] = nan;
                          auto out = at_point(x, y, x[3], BilinearRule::kRoi);
                          v.require(at::all(at::isnan(out[4][0])).item<bool>(), "NaN coordinate did not give NaN");
                          auto clean = at_point(x, x[2], x[3], BilinearRule::kRoi);
                          v.equal(out[4].narrow(0, 1, out.size(1) - 1), clean[4].narrow(0, 1, out.size(1) - 1),
                                  "other samples unchanged");
                        });
  for (auto rule : {BilinearRule::kRoi, BilinearRule::kDcn}) {
    const std::string r = rule == BilinearRule::kRoi ? "RoI rule" : "DCN rule";
    s.policy.emplace_back(r + ": a NaN pixel off the origin reaches exactly the samples MMCV's reads it in",
                          [=](Verdict& v) {
                            auto x = fixed_inputs();
                            x[0][0][1][2][3] = nan;  // image 0, channel 1, pixel (2, 3)
                            v.close(at_point(x, x[2], x[3], rule), loop_sample(x[0], x[1], x[2], x[3], rule),
                                    {1e-5, 1e-5}, "vs MMCV loop reference");
                          });
    if (rule == BilinearRule::kRoi) {
      s.policy.emplace_back(r + ": a NaN at pixel (0, 0) also reaches out-of-window samples, as MMCV's CPU pre_calc",
                            [=](Verdict& v) {
                              auto x = fixed_inputs();
                              x[0][0][1][0][0] = nan;
                              v.close(at_point(x, x[2], x[3], rule), loop_sample(x[0], x[1], x[2], x[3], rule),
                                      {1e-5, 1e-5}, "vs MMCV CPU loop reference");
                            });
      continue;
    }
    s.policy.emplace_back("DEVIATION " + r + ": a NaN at pixel (0, 0) also reaches samples with corners outside "
                          "the map (MMCV reads only the corners inside); elsewhere as MMCV",
                          [=](Verdict& v) {
                            auto x = fixed_inputs();
                            x[0][0][1][0][0] = nan;  // image 0, channel 1, pixel (0, 0): where uncounted taps point
                            auto out = at_point(x, x[2], x[3], rule);
                            auto ref = loop_sample(x[0], x[1], x[2], x[3], rule);
                            const auto differ = ~(at::isnan(out) & at::isnan(ref)) & (out.to(at::kDouble) != ref) &
                                                ((out.to(at::kDouble) - ref).abs() > 1e-5);
                            v.require(at::all(at::isnan(out.masked_select(differ))).item<bool>(),
                                      "a difference from MMCV that is not a NaN");
                            v.require(at::isnan(out.select(2, 1)).sum().item<int64_t>() >
                                          at::isnan(ref.select(2, 1)).sum().item<int64_t>(),
                                      "no extra NaN: the deviation is fixed, update docs/nan_policy.md and this row");
                          });
  }
}

}  // namespace

MMCV_RELIABILITY_OP(detail_bilinear_sample) {
  OpSpec s;
  s.op = "bilinear_sample";
  s.inputs = fixed_inputs;
  s.call = [](const Tensors& x) {
    Tensors out;
    auto roi = mmcv_rel::with_grads([](const Tensors& y) { return sample(y, BilinearRule::kRoi); }, x,
                                    {true, false, false, false});
    auto dcn = mmcv_rel::with_grads([](const Tensors& y) { return sample(y, BilinearRule::kDcn); }, x,
                                    {true, false, true, true});
    out.insert(out.end(), roi.begin(), roi.end());
    out.insert(out.end(), dcn.begin(), dcn.end());
    return out;
  };
  s.views = {
      {"channels_last feature map",
       [] {
         auto x = fixed_inputs();
         x[0] = x[0].contiguous(at::MemoryFormat::ChannelsLast);
         return Tensors{sample(x, BilinearRule::kRoi), sample(x, BilinearRule::kDcn)};
       },
       [] {
         auto x = fixed_inputs();
         return Tensors{sample(x, BilinearRule::kRoi), sample(x, BilinearRule::kDcn)};
       }},
      {"transposed coordinate views",
       [] {
         auto x = fixed_inputs();
         x[2] = x[2].t().contiguous().t();
         x[3] = at::stack({x[3], at::full_like(x[3], NAN)}, -1).select(-1, 0);
         return Tensors{sample(x, BilinearRule::kRoi), sample(x, BilinearRule::kDcn)};
       },
       [] {
         auto x = fixed_inputs();
         return Tensors{sample(x, BilinearRule::kRoi), sample(x, BilinearRule::kDcn)};
       }},
  };
  s.generate = generate;
  s.check = check;
  s.property_cases = 3000;
  s.device_tol = mmcv_test::Tol{1e-5, 1e-5};
  policy_rows(s);
  return s;
}
