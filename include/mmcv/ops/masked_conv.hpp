// SPDX-License-Identifier: Apache-2.0
#pragma once
// Masked 2-D convolution: the convolution evaluated only where a mask is set. Mirrors
// mmcv/ops/masked_conv.py: the function mmcv.ops.masked_conv2d is here; the module
// mmcv.ops.MaskedConv2d is in <mmcv/ops/masked_conv_module.hpp>. MMCV has no CPU kernel: the
// semantics are those of its CUDA im2col / col2im kernels (cuda/masked_conv2d_cuda.cu).
//
// Strategy: the set output positions are listed once (one nonzero). The zero-padded input is viewed
// channels-last; a strided view of it exposes every kh x kw window as one row of kh segments of
// kw * C contiguous values, so one index_select per chunk gathers the masked columns
// [m, kh * kw * C], one addmm with the weight gives [m, Cout], and index_copy scatters the rows
// back into the channels-last output. The GEMM runs as a 1x1 convolution of the columns viewed as
// a channels-last [1, K, m, 1] image (oneDNN on CPU, cuDNN on CUDA; a plain addmm would go to the
// BLAS, a reference BLAS in Debian's LibTorch and 20x slower). The cost is proportional to the
// number of set positions (a sparse mask costs less than a dense conv).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// Elements of one gathered column chunk (m * kh * kw * C): bounds the temporaries of masked_conv2d.
inline constexpr int64_t kMaskedConvChunkBudget = int64_t{1} << 22;

}  // namespace detail

/// Convolution at the positions where mask > 0, zero elsewhere (no bias there either).
///
/// MMCV: `mmcv.ops.masked_conv2d(features, mask, weight, bias, padding=0, stride=1)`
///
/// @param features  Tensor[N, C, H, W], float32 or float64 (float16 / bfloat16 off CPU).
/// @param mask      Tensor[N, H, W] (any real or bool dtype; a position is set when mask > 0), same device.
/// @param weight    Tensor[Cout, C, kh, kw], dtype of features.
/// @param bias      Tensor[Cout], dtype of features, or an undefined tensor for no bias.
/// @param padding   `p` or `{ph, pw}`, non-negative (zero padding).
/// @param stride    `s` or `{sh, sw}`, positive.
/// @return Tensor[N, Cout, Ho, Wo], Ho = (H + 2 ph - kh) / sh + 1: out[n, :, y, x] = conv + bias when
///         mask[n, y * sh, x * sw] > 0, else 0 (positions with y * sh >= H or x * sw >= W are 0).
/// @throws c10::Error: wrong ranks or shapes, weight channels != C, non-floating or mismatched
///         dtypes, a complex mask, device mismatch, negative padding, non-positive stride, kernel larger than the
///         padded input.
/// @note MMCV accepts batch 1 and stride 1 only; batch > 1 and stride > 1 are accepted here with the
///       meaning above (for stride 1 it is MMCV's: the mask is read at the output position).
///       No gradient, as MMCV (the result does not require grad). Dilation and groups do not exist
///       here, as in MMCV's kernel. Memory: the output plus column chunks of at most
///       max(2^22, kh * kw * C) elements.
inline at::Tensor masked_conv2d(const at::Tensor& features, const at::Tensor& mask, const at::Tensor& weight,
                                const at::Tensor& bias, at::IntArrayRef padding = 0, at::IntArrayRef stride = 1) {
  constexpr const char* op = "masked_conv2d";
  detail::check_floating(features, op, "features", /*allow_half=*/!features.is_cpu());
  detail::ShapeChecker sc(op);
  sc.check(features, "features", {"N", "C", "H", "W"});
  sc.check(mask, "mask", {"N", "H", "W"});
  sc.check(weight, "weight", {"Cout", "C", "kh", "kw"});
  TORCH_CHECK_TYPE(!mask.is_complex(), op, ": expected mask to have a real dtype, but got ", detail::dtype_str(mask));
  detail::check_same_dtype(features, weight, op, "features", "weight");
  detail::check_same_device(features, mask, op, "features", "mask");
  detail::check_same_device(features, weight, op, "features", "weight");
  const int64_t Cout = weight.size(0);
  if (bias.defined()) {
    sc.check(bias, "bias", {"Cout"});
    detail::check_same_dtype(features, bias, op, "features", "bias");
    detail::check_same_device(features, bias, op, "features", "bias");
  }
  const auto pad = detail::pair_arg(padding, op, "padding");
  const auto str = detail::pair_arg(stride, op, "stride");
  detail::check_non_negative(pad.first, op, "padding");
  detail::check_non_negative(pad.second, op, "padding");
  detail::check_positive(str.first, op, "stride");
  detail::check_positive(str.second, op, "stride");
  const int64_t N = features.size(0), C = features.size(1), H = features.size(2), W = features.size(3);
  const int64_t kh = weight.size(2), kw = weight.size(3);
  const int64_t Hp = detail::checked_add(H, detail::checked_mul(2, pad.first, op, "2 * padding"), op, "H + 2 * padding");
  const int64_t Wp = detail::checked_add(W, detail::checked_mul(2, pad.second, op, "2 * padding"), op, "W + 2 * padding");
  detail::check_arg(kh >= 1 && kw >= 1 && kh <= Hp && kw <= Wp, op, "weight",
                    "have a kernel of at least 1 x 1 and at most the padded input " + std::to_string(Hp) + " x " +
                        std::to_string(Wp),
                    std::to_string(kh) + " x " + std::to_string(kw));
  const int64_t Ho = (Hp - kh) / str.first + 1, Wo = (Wp - kw) / str.second + 1;
  const int64_t K = detail::checked_prod({kh, kw, C}, op, "kh * kw * C");
  detail::checked_prod({N, Cout, Ho, Wo}, op, "output numel");
  at::NoGradGuard no_grad;  // MMCV: no backward
  auto out = at::zeros({N * Ho * Wo, Cout}, features.options());
  if (out.numel() == 0) return out.view({N, Ho, Wo, Cout}).permute({0, 3, 1, 2}).contiguous();
  // Set output positions: mask sampled at the conv's stride, within the output grid.
  const int64_t Hs = std::min(Ho, (H - 1) / str.first + 1), Ws = std::min(Wo, (W - 1) / str.second + 1);
  const auto m = mask.slice(1, 0, Hs * str.first, str.first).slice(2, 0, Ws * str.second, str.second);
  const auto pos = (m > 0).nonzero();  // [M, 3] (n, y, x); one sync
  const int64_t M = pos.size(0);       // host-side: the count of set positions
  if (M == 0) return out.view({N, Ho, Wo, Cout}).permute({0, 3, 1, 2}).contiguous();
  const auto n = pos.select(1, 0), y = pos.select(1, 1), x = pos.select(1, 2);
  const auto dst = (n * Ho + y) * Wo + x;                                 // output row
  const auto start = (n * Hp + y * str.first) * Wp + x * str.second;      // window's top-left padded pixel
  const auto fpad = at::constant_pad_nd(features, {pad.second, pad.second, pad.first, pad.first}, 0)
                        .permute({0, 2, 3, 1})
                        .contiguous();  // [N, Hp, Wp, C]
  const int64_t NHW = N * Hp * Wp;
  // Every window as one row of kh segments of kw * C contiguous values (no copy).
  const auto windows = fpad.view({-1}).as_strided({NHW - (kh - 1) * Wp - (kw - 1), kh, kw * C}, {C, Wp * C, 1});
  const auto wmat = weight.permute({0, 2, 3, 1}).reshape({Cout, K, 1, 1});  // [Cout, K] as a 1x1 kernel
  // A dilated 1x1 convolution is routed to oneDNN on CPU (an undilated one of a small batch may go to
  // ATen's BLAS path); the dilation has no effect on a 1x1 kernel.
  const std::vector<int64_t> ones{1, 1}, zeros{0, 0}, dil = features.is_cpu() ? std::vector<int64_t>{2, 2} : ones;
  const int64_t step = std::max<int64_t>(1, detail::kMaskedConvChunkBudget / std::max<int64_t>(K, 1));
  for (int64_t b0 = 0; b0 < M; b0 += step) {  // host-side: chunks of the set positions (bounded memory)
    const int64_t mc = std::min(step, M - b0);
    const auto cols = windows.index_select(0, start.narrow(0, b0, mc)).view({1, mc, 1, K}).permute({0, 3, 1, 2});
    if (K == 0) {  // no input channels: the bias alone
      if (bias.defined()) out.index_copy_(0, dst.narrow(0, b0, mc), bias.unsqueeze(0).expand({mc, Cout}));
      continue;
    }
    const auto res = at::conv2d(cols, wmat, bias, ones, zeros, dil);  // [1, Cout, mc, 1]
    out.index_copy_(0, dst.narrow(0, b0, mc), res.view({Cout, mc}).t());
  }
  return out.view({N, Ho, Wo, Cout}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace ops
}  // namespace mmcv
