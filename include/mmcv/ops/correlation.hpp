// SPDX-License-Identifier: Apache-2.0
#pragma once
// Correlation (cost volume) of two feature maps, as in FlowNet / PWC-Net. Mirrors
// mmcv/ops/correlation.py: the function (CorrelationFunction.apply with the Correlation module's
// defaults) is here; the module mmcv.ops.Correlation is in <mmcv/ops/correlation_module.hpp>. MMCV
// has no CPU kernel: the semantics are those of common/cuda/correlation_cuda.cuh.
//
// Strategy: both inputs are zero-padded (input2 by max_displacement * dilation_patch more), so the
// "both pixels inside the map" rule becomes a product with zero. For each of the P x P
// displacements (a host loop), the channel sum of input1 times the displaced view of input2 is one
// element-wise product and a sum over C on the rows the output reads; the k x k window sum (with
// dilation and stride) is then one convolution of all P*P product maps with a ones kernel (a strided
// slice when k = 1). Autograd of these ATen ops is the exact adjoint (MMCV's backward kernels);
// it saves views of the padded inputs only.

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace mmcv {
namespace ops {

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
  const auto a = at::constant_pad_nd(input1, {pd.second, pd.second, pd.first, pd.first}, 0).narrow(2, 0, Hr).narrow(3, 0, Wr);
  const auto b = at::constant_pad_nd(input2, {pd.second + Dw, pd.second + Dw, pd.first + Dh, pd.first + Dh}, 0);
  std::vector<at::Tensor> maps;
  maps.reserve(static_cast<size_t>(Ph * Pw));
  for (int64_t ph = 0; ph < Ph; ++ph) {    // host-side: loop over the P x P displacements
    for (int64_t pw = 0; pw < Pw; ++pw) {  // host-side: loop over the P x P displacements
      const int64_t y0 = Dh + (ph - md.first) * dp.first, x0 = Dw + (pw - md.second) * dp.second;
      maps.push_back((a * b.narrow(2, y0, Hr).narrow(3, x0, Wr)).sum(1));  // [N, Hr, Wr]
    }
  }
  auto prod = at::stack(maps, 1);  // [N, Ph * Pw, Hr, Wr]
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
