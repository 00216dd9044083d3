// SPDX-License-Identifier: Apache-2.0
#pragma once
// Temporal interlace shift (TIN). Mirrors mmcv/ops/tin_shift.py: the function mmcv.ops.tin_shift
// is here; the module mmcv.ops.TINShift is in <mmcv/ops/tin_shift_module.hpp>. MMCV has no CPU
// kernel: the semantics are those of common/cuda/tin_shift_cuda_kernel.cuh.
//
// Strategy: one gather along the frame axis. The input is viewed [N, T, G, C/G * S] and a zero frame
// is appended; the source frame of (n, t, g) is t - shift[n, g] (or the zero frame when that is
// outside [0, T)), an [N, T, G, 1] index expanded (no copy) over the channels and pixels of the
// group. ATen's autograd of gather is the true adjoint of the forward (a scatter-add back to the
// source frames) -- not MMCV's backward, which applies the forward shift to grad_output again
// (docs/differences.md).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <cstdint>
#include <string>

namespace mmcv {
namespace ops {

/// Temporal interlace shift: frames of each channel group move by that group's integer shift.
///
/// MMCV: `mmcv.ops.tin_shift(input, shift)` / `mmcv.ops.TINShift()(input, shift)`
///
/// @param input  Tensor[N, T, C, S] (MMCV's [N, num_segments, C, H * W]; flatten H, W first),
///               float32 / float64 (float16 / bfloat16 accepted too).
/// @param shift  Tensor[N, G] int32 (MMCV) or int64, same device; C % G == 0. Channel c belongs to
///               group c / (C / G).
/// @return Tensor like input: out[n, t + s, c] = input[n, t, c] for 0 <= t + s < T, s = shift[n, group(c)];
///         frames with no source are 0 (|s| >= T gives an all-zero group).
/// @throws c10::Error: input not 4-D or not floating, shift not [N, G] or not integer,
///         device mismatch, G = 0 or C % G != 0.
/// @note Differentiable w.r.t. input with the true gradient (gradient of shift: none). MMCV's
///       backward shifts grad_output by +s again instead of -s; see docs/differences.md.
///       Memory: one padded copy of input (one extra frame) and the output.
inline at::Tensor tin_shift(const at::Tensor& input, const at::Tensor& shift) {
  constexpr const char* op = "tin_shift";
  detail::check_floating(input, op, "input", /*allow_half=*/true);
  detail::ShapeChecker sc(op);
  sc.check(input, "input", {"N", "T", "C", "*"});
  sc.check(shift, "shift", {"N", "G"});
  detail::check_integral(shift, op, "shift");
  detail::check_same_device(input, shift, op, "input", "shift");
  const int64_t N = input.size(0), T = input.size(1), C = input.size(2), G = shift.size(1);
  detail::check_arg(G > 0 && C % G == 0, op, "shift", "have a number of groups G > 0 dividing C = " + std::to_string(C),
                    "G = " + std::to_string(G));
  if (input.numel() == 0) return at::zeros_like(input, at::MemoryFormat::Contiguous);
  const int64_t rest = input.numel() / (N * T * G);  // C / G * S, the elements of one group in one frame
  const auto x = input.reshape({N, T, G, rest});
  const auto xp = at::cat({x, at::zeros({N, 1, G, rest}, input.options())}, 1);  // frame T is zero
  // |s| >= T means no frame has a source: clamp first (int64 arithmetic cannot overflow then).
  const auto s = shift.to(at::kLong).clamp(-T, T).view({N, 1, G, 1});
  const auto src = at::arange(T, shift.options().dtype(at::kLong)).view({1, T, 1, 1}) - s;  // [N, T, G, 1]
  const auto idx = at::where((src >= 0) & (src < T), src, at::full({}, T, src.options()));
  return xp.gather(1, idx.expand({N, T, G, rest})).view(input.sizes());
}

}  // namespace ops
}  // namespace mmcv
