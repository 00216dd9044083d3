// SPDX-License-Identifier: Apache-2.0
#pragma once
// Point-wise spatial attention mask (PSANet). Mirrors mmcv/ops/psa_mask.py: the function
// mmcv.ops.psa_mask.psa_mask (PSAMaskFunction.apply, not exported by mmcv.ops) is here; the module
// mmcv.ops.PSAMask is in <mmcv/ops/psa_mask_module.hpp>. Semantics of MMCV's CPU kernel
// (mmcv/ops/csrc/pytorch/cpu/psamask.cpp).
//
// Strategy: the op is a pure index scatter. For every mask offset m = (hidx, widx) and feature
// position p = (h, w), the target position q = (h + hidx - half_h, w + widx - half_w) comes from
// separable per-axis tables broadcast to [hm, wm, H, W] (the size of one input image); the pairs with q inside
// the map are kept (one nonzero) and one index_copy per call writes input[n, m, p] to
// out[n, q, p] ('collect') or out[n, p, q] ('distribute'). Every output element is written at most
// once, so ATen's autograd of index_select / index_copy is MMCV's backward (the transposed gather).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <cstdint>
#include <string>

namespace mmcv {
namespace ops {

/// PSANet's point-wise spatial attention: spreads each position's hm x wm attention map over the
/// whole H x W feature map, centred on the position.
///
/// MMCV: `mmcv.ops.psa_mask.psa_mask(input, psa_type, mask_size)` / `mmcv.ops.PSAMask(psa_type, mask_size)`
///
/// @param input      Tensor[N, hm * wm, H, W], float32 or float64 (float16 / bfloat16 accepted too).
/// @param psa_type   "collect" or "distribute".
/// @param mask_size  `m` or `{hm, wm}`, positive; half = (m - 1) / 2 (floor), as MMCV.
/// @return Tensor[N, H * W, H, W], dtype and device of input. collect:
///         out[n, (h + dh) * W + (w + dw), h, w] = input[n, (dh + half_h) * wm + (dw + half_w), h, w];
///         distribute: out[n, h * W + w, h + dh, w + dw] = the same value; every other element 0.
/// @throws c10::Error: input not 4-D or not floating, psa_type not one of the two, mask_size not
///         positive or of more than 2 values, channels != hm * wm.
/// @note Differentiable with respect to input (MMCV's backward: the transposed gather).
///       Memory: the output (N * (H*W)^2 elements, inherent) plus index tables of hm*wm*H*W int64.
inline at::Tensor psa_mask(const at::Tensor& input, const std::string& psa_type, at::IntArrayRef mask_size) {
  constexpr const char* op = "psa_mask";
  detail::check_one_of(psa_type, {"collect", "distribute"}, op, "psa_type");
  const auto hw = detail::pair_arg(mask_size, op, "mask_size");
  detail::check_positive(hw.first, op, "mask_size");
  detail::check_positive(hw.second, op, "mask_size");
  detail::check_dim(input, 4, op, "input");
  detail::check_floating(input, op, "input", /*allow_half=*/true);
  const int64_t hm = hw.first, wm = hw.second;
  const int64_t M = detail::checked_mul(hm, wm, op, "mask_size[0] * mask_size[1]");
  const int64_t N = input.size(0), H = input.size(2), W = input.size(3);
  detail::check_arg(input.size(1) == M, op, "input",
                    "have mask_size[0] * mask_size[1] = " + std::to_string(M) + " channels", input.size(1));
  const int64_t HW = detail::checked_mul(H, W, op, "H * W");
  const int64_t HWHW = detail::checked_mul(HW, HW, op, "(H * W)^2");
  detail::checked_prod({N, HWHW}, op, "output numel");
  auto out = at::zeros({N, HWHW}, input.options());
  if (out.numel() == 0) return out.view({N, HW, H, W});
  const auto lopt = input.options().dtype(at::kLong);
  // Separable index tables (no integer division): target row of (hidx, h) and column of (widx, w).
  const auto ty = at::arange(H, lopt).view({1, H}) + at::arange(hm, lopt).view({hm, 1}) - (hm - 1) / 2;  // [hm, H]
  const auto tx = at::arange(W, lopt).view({1, W}) + at::arange(wm, lopt).view({wm, 1}) - (wm - 1) / 2;  // [wm, W]
  const auto vy = ((ty >= 0) & (ty < H)).view({hm, 1, H, 1}), vx = ((tx >= 0) & (tx < W)).view({1, wm, 1, W});
  const auto src = (vy & vx).view({-1}).nonzero().view({-1});  // flat (m, p) = ((hidx * wm + widx) * H + h) * W + w
  const auto q = (ty.view({hm, 1, H, 1}) * W + tx.view({1, wm, 1, W})).reshape({-1}).index_select(0, src);
  const auto pp = (at::arange(HW, lopt).view({1, 1, H, W}) + at::zeros({hm, wm, 1, 1}, lopt)).view({-1}).index_select(0, src);
  const auto dst = psa_type == "collect" ? q * HW + pp : pp * HW + q;
  out.index_copy_(1, dst, input.reshape({N, M * HW}).index_select(1, src));  // in place: autograd records it
  return out.view({N, HW, H, W});
}

}  // namespace ops
}  // namespace mmcv
