// SPDX-License-Identifier: Apache-2.0
#pragma once
// Correlation (cost volume) of two feature maps, as in FlowNet / PWC-Net. Mirrors
// mmcv/ops/correlation.py: the function (CorrelationFunction.apply with the Correlation module's
// defaults) is here; the module mmcv.ops.Correlation is in <mmcv/ops/correlation_module.hpp>. MMCV
// has no CPU kernel: the semantics are those of common/cuda/correlation_cuda.cuh.
//
// Strategy: both inputs are zero-padded (input2 by max_displacement * dilation_patch more), so the
// "both pixels inside the map" rule becomes a product with zero. Both are copied channels-last.
// For each displacement row ph (a host loop over Ph), the Pw displaced views of input2's row band
// are stacked into one [C, Pw] matrix per pixel and one batched product with input1's [1, C] pixel
// vectors gives the channel sums of all Pw displacements; the k x k window sum (with dilation and
// stride) is then one convolution of all P*P product maps with a ones kernel (a strided slice when
// k = 1). A custom Function computes the products and, in its backward, the exact adjoint (MMCV's
// backward kernels) band by band; the window sum's backward is ATen's.

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mmcv/ops/detail/check.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// Geometry of the product maps: pad_h, pad_w, Dh, Dw (extra padding of input2), md_h, md_w,
/// dp_h, dp_w, Hr, Wr (rows / columns of the padded grid the windows read).
struct CorrGeo {
  int64_t ph, pw, Dh, Dw, mdh, mdw, dph, dpw, Hr, Wr;
  explicit CorrGeo(const std::vector<int64_t>& g)
      : ph(g[0]), pw(g[1]), Dh(g[2]), Dw(g[3]), mdh(g[4]), mdw(g[5]), dph(g[6]), dpw(g[7]), Hr(g[8]), Wr(g[9]) {}
  int64_t Ph() const { return 2 * mdh + 1; }
  int64_t Pw() const { return 2 * mdw + 1; }
};

/// input1 channels-last [N * Hr * Wr, 1, C] (the rows the windows read).
inline at::Tensor corr_a(const at::Tensor& input1, const CorrGeo& g) {
  const int64_t N = input1.size(0), C = input1.size(1);
  return at::constant_pad_nd(input1, {g.pw, g.pw, g.ph, g.ph}, 0)
      .narrow(2, 0, g.Hr)
      .narrow(3, 0, g.Wr)
      .permute({0, 2, 3, 1})
      .contiguous()
      .view({N * g.Hr * g.Wr, 1, C});
}

/// input2 zero-padded by pad + D, channels-last [N, Hp + 2Dh, Wp + 2Dw, C].
inline at::Tensor corr_b(const at::Tensor& input2, const CorrGeo& g) {
  return at::constant_pad_nd(input2, {g.pw + g.Dw, g.pw + g.Dw, g.ph + g.Dh, g.ph + g.Dh}, 0)
      .permute({0, 2, 3, 1})
      .contiguous();
}

/// The Pw displaced vectors of displacement row ph for every pixel: [N * Hr * Wr, C, Pw] (a copy).
inline at::Tensor corr_band(const at::Tensor& b, const CorrGeo& g, int64_t ph) {
  const auto rows = b.narrow(1, g.Dh + (ph - g.mdh) * g.dph, g.Hr);  // [N, Hr, Wp + 2Dw, C]
  std::vector<at::Tensor> cols;
  cols.reserve(static_cast<size_t>(g.Pw()));
  for (int64_t pw = 0; pw < g.Pw(); ++pw)  // host-side: the Pw displaced views of the row band
    cols.push_back(rows.narrow(2, g.Dw + (pw - g.mdw) * g.dpw, g.Wr));
  return at::stack(cols, -1).view({b.size(0) * g.Hr * g.Wr, b.size(3), g.Pw()});
}

/// prod[n, ph * Pw + pw, y, x] = sum_c a[n, c, y, x] * b[n, c, y + dy, x + dx] on the padded grid.
/// A Function so that the backward recomputes one band at a time instead of autograd saving all
/// Ph bands (P*P times the input).
struct CorrelationProducts : public torch::autograd::Function<CorrelationProducts> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input1, const at::Tensor& input2,
                            const std::vector<int64_t>& geo) {
    ctx->save_for_backward({input1, input2});
    ctx->saved_data["geo"] = geo;
    const CorrGeo g(geo);
    const int64_t N = input1.size(0);
    const auto a = corr_a(input1, g);
    const auto b = corr_b(input2, g);
    auto prod = at::empty({g.Ph(), N, g.Hr, g.Wr, g.Pw()}, input1.options());
    for (int64_t ph = 0; ph < g.Ph(); ++ph)  // host-side: loop over the Ph displacement rows
      prod.select(0, ph).view({-1, 1, g.Pw()}).copy_(at::bmm(a, corr_band(b, g, ph)));
    return prod.permute({1, 0, 4, 2, 3}).reshape({N, g.Ph() * g.Pw(), g.Hr, g.Wr});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& input1 = saved[0];
    const auto& input2 = saved[1];
    const CorrGeo g(ctx->saved_data["geo"].toIntVector());
    const int64_t N = input1.size(0), C = input1.size(1), H = input1.size(2), W = input1.size(3);
    const int64_t R = N * g.Hr * g.Wr;
    const auto a = corr_a(input1, g);
    const auto b = corr_b(input2, g);
    // grad_output per displacement row, as [R, 1, Pw].
    const auto go = grads[0].reshape({N, g.Ph(), g.Pw(), g.Hr, g.Wr}).permute({1, 0, 3, 4, 2}).contiguous();
    auto ga = at::zeros({R, 1, C}, input1.options());
    auto gb = at::zeros_like(b);
    for (int64_t ph = 0; ph < g.Ph(); ++ph) {  // host-side: loop over the Ph displacement rows
      const auto band = corr_band(b, g, ph);  // [R, C, Pw]
      const auto gph = go.select(0, ph).view({R, 1, g.Pw()});
      ga.baddbmm_(gph, band.transpose(1, 2));
      const auto gband = at::bmm(a.transpose(1, 2), gph).view({N, g.Hr, g.Wr, C, g.Pw()});
      auto rows = gb.narrow(1, g.Dh + (ph - g.mdh) * g.dph, g.Hr);
      for (int64_t pw = 0; pw < g.Pw(); ++pw)  // host-side: fold the Pw displaced views back
        rows.narrow(2, g.Dw + (pw - g.mdw) * g.dpw, g.Wr).add_(gband.select(4, pw));
    }
    // Back to NCHW, without the padding.
    auto g1 = at::zeros({N, H + 2 * g.ph, W + 2 * g.pw, C}, input1.options());
    g1.narrow(1, 0, g.Hr).narrow(2, 0, g.Wr).copy_(ga.view({N, g.Hr, g.Wr, C}));
    const auto gi1 = g1.narrow(1, g.ph, H).narrow(2, g.pw, W).permute({0, 3, 1, 2}).contiguous();
    const auto gi2 = gb.narrow(1, g.ph + g.Dh, H).narrow(2, g.pw + g.Dw, W).permute({0, 3, 1, 2}).contiguous();
    return {gi1, gi2, at::Tensor()};
  }
};

}  // namespace detail

/// Correlation volume: out[n, ph, pw, h, w] = sum over c and the k x k window of
/// input1[n, c, y, x] * input2[n, c, y + dy, x + dx], dy = (ph - md) * dilation_patch.
///
/// MMCV: `mmcv.ops.Correlation(kernel_size=1, max_displacement=1, stride=1, padding=0, dilation=1,
///        dilation_patch=1)(input1, input2)` (CorrelationFunction.apply's padding default is 1; the
///        module's, used here, is 0).
///
/// @param input1, input2  Tensor[N, C, H, W], float32 or float64 (float16 / bfloat16 off CPU), same
///                        shape, dtype and device.
/// @param kernel_size       `k` or `{kh, kw}`, positive (window summed at every output position).
/// @param max_displacement  `md` or `{mdh, mdw}`, non-negative; P = 2 * md + 1 displacements per axis.
/// @param stride            positive; @param padding non-negative (zero padding of both inputs);
/// @param dilation          positive (of the window); @param dilation_patch positive (of the displacements).
/// @return Tensor[N, Ph, Pw, Ho, Wo], Ho = (H + 2 * pad - ((kh - 1) * dil + 1)) / stride + 1 (an
///         empty volume when the window does not fit), y = h * stride - pad + i * dil; a pair counts
///         only when both pixels are inside the map. Not normalised by C.
/// @throws c10::Error: ranks, shapes, dtypes or devices that differ, non-floating input, size
///         arguments with more than 2 values or out of range.
/// @note Differentiable w.r.t. both inputs (the exact adjoint, MMCV's backward kernels). MMCV's
///       kernel reduces the channel sum through float32 even for float64; this computes in the
///       input dtype (docs/differences.md). Memory: the output, one [N, C, H, W] product at a time
///       and the P*P product maps (N * P*P * (Ho*stride) * (Wo*stride) elements).
inline at::Tensor correlation(const at::Tensor& input1, const at::Tensor& input2, at::IntArrayRef kernel_size = 1,
                              at::IntArrayRef max_displacement = 1, at::IntArrayRef stride = 1,
                              at::IntArrayRef padding = 0, at::IntArrayRef dilation = 1,
                              at::IntArrayRef dilation_patch = 1) {
  constexpr const char* op = "correlation";
  detail::check_floating(input1, op, "input1", /*allow_half=*/!input1.is_cpu());
  detail::check_same_dtype(input1, input2, op, "input1", "input2");
  detail::check_same_device(input1, input2, op, "input1", "input2");
  detail::ShapeChecker sc(op);
  sc.check(input1, "input1", {"N", "C", "H", "W"});
  sc.check(input2, "input2", {"N", "C", "H", "W"});
  const auto k = detail::pair_arg(kernel_size, op, "kernel_size");
  const auto md = detail::pair_arg(max_displacement, op, "max_displacement");
  const auto st = detail::pair_arg(stride, op, "stride");
  const auto pd = detail::pair_arg(padding, op, "padding");
  const auto dl = detail::pair_arg(dilation, op, "dilation");
  const auto dp = detail::pair_arg(dilation_patch, op, "dilation_patch");
  for (const auto& v : {k.first, k.second}) detail::check_positive(v, op, "kernel_size");
  for (const auto& v : {md.first, md.second}) detail::check_non_negative(v, op, "max_displacement");
  for (const auto& v : {st.first, st.second}) detail::check_positive(v, op, "stride");
  for (const auto& v : {pd.first, pd.second}) detail::check_non_negative(v, op, "padding");
  for (const auto& v : {dl.first, dl.second}) detail::check_positive(v, op, "dilation");
  for (const auto& v : {dp.first, dp.second}) detail::check_positive(v, op, "dilation_patch");
  const int64_t N = input1.size(0), H = input1.size(2), W = input1.size(3);
  const char* what = "correlation size arithmetic";
  const int64_t Ph = detail::checked_add(detail::checked_mul(2, md.first, op, what), 1, op, what);
  const int64_t Pw = detail::checked_add(detail::checked_mul(2, md.second, op, what), 1, op, what);
  const int64_t Hp = detail::checked_add(H, detail::checked_mul(2, pd.first, op, what), op, what);
  const int64_t Wp = detail::checked_add(W, detail::checked_mul(2, pd.second, op, what), op, what);
  const int64_t kh_span = detail::checked_add(detail::checked_mul(k.first - 1, dl.first, op, what), 1, op, what);
  const int64_t kw_span = detail::checked_add(detail::checked_mul(k.second - 1, dl.second, op, what), 1, op, what);
  const int64_t Ho = Hp >= kh_span ? (Hp - kh_span) / st.first + 1 : 0;
  const int64_t Wo = Wp >= kw_span ? (Wp - kw_span) / st.second + 1 : 0;
  const int64_t Dh = detail::checked_mul(md.first, dp.first, op, what);
  const int64_t Dw = detail::checked_mul(md.second, dp.second, op, what);
  detail::checked_prod({N, Ph, Pw, Ho, Wo}, op, "output numel");
  detail::checked_prod({N, input1.size(1), Hp + 2 * Dh, Wp + 2 * Dw}, op, "padded input2 numel");
  if (N == 0 || Ho == 0 || Wo == 0) return at::zeros({N, Ph, Pw, Ho, Wo}, input1.options());
  // Rows / columns of the padded grid that some output window reads.
  const int64_t Hr = (Ho - 1) * st.first + kh_span, Wr = (Wo - 1) * st.second + kw_span;
  const std::vector<int64_t> geo{pd.first, pd.second, Dh, Dw, md.first, md.second, dp.first, dp.second, Hr, Wr};
  const auto prod = detail::CorrelationProducts::apply(input1, input2, geo);  // [N, Ph * Pw, Hr, Wr]
  at::Tensor out;
  if (k.first == 1 && k.second == 1) {
    out = prod.slice(2, 0, Hr, st.first).slice(3, 0, Wr, st.second);
  } else {
    const auto ones = at::ones({1, 1, k.first, k.second}, prod.options());
    const std::vector<int64_t> strides{st.first, st.second}, zero{0, 0}, dils{dl.first, dl.second};
    out = at::conv2d(prod.reshape({N * Ph * Pw, 1, Hr, Wr}), ones, at::Tensor(), strides, zero, dils);
  }
  return out.reshape({N, Ph, Pw, Ho, Wo});
}

}  // namespace ops
}  // namespace mmcv
