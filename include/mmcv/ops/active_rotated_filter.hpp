// SPDX-License-Identifier: Apache-2.0
#pragma once
// Active rotating filter (ORN, S2ANet). Mirrors mmcv/ops/active_rotated_filter.py
// (mmcv.ops.active_rotated_filter) with the semantics of MMCV's CPU kernel
// (mmcv/ops/csrc/pytorch/cpu/active_rotated_filter.cpp).
//
// Strategy: the kernel scatters input[i, j, l] to out[i, r, j, indices[l, r] - 1] for every
// rotation r. The scatter is inverted once on the small [R, O*kh*kw] index table (a sort per
// rotation finds, for each target entry, the source entry the kernel's serial loop writes last; a
// zero column when none does), so the op becomes one gather from input viewed
// [Cout, 1, Cin, O*kh*kw + 1] (expanded over the R rotations, no copy) straight into the output
// layout. ATen's autograd of the gather and the expand sums the R copies, MMCV's backward (for the
// permutation tables ORN uses; for a table that is not a permutation ours is the true gradient of
// the forward, see docs/differences.md).

#include <ATen/ATen.h>

#include <mmcv/ops/detail/check.hpp>

#include <cstdint>
#include <string>
#include <tuple>

namespace mmcv {
namespace ops {

/// Rotated copies of oriented filters: every filter is expanded into R rotated versions by an
/// index permutation of its orientation x kh x kw entries.
///
/// MMCV: `mmcv.ops.active_rotated_filter(input, indices)`
///
/// @param input    Tensor[Cout, Cin, O, kh, kw], float32 or float64 (float16 / bfloat16 accepted).
/// @param indices  Tensor[O, kh, kw, R] int32 (int64 accepted), 1-based into O * kh * kw, on the
///                 device of input.
/// @return Tensor[Cout * R, Cin * O, kh, kw]: viewed [Cout, R, Cin, O*kh*kw],
///         out[i, r, j, indices[l, r] - 1] = input[i, j, l] (l over O*kh*kw; when two l hit the same
///         entry the last one wins, as MMCV's serial loop; entries no l hits are 0).
/// @throws c10::Error: input not 5-D or not floating, indices not [O, kh, kw, R] matching input or
///         not integer, device mismatch, an index outside [1, O*kh*kw].
/// @note Differentiable w.r.t. input: the gradient sums the R copies (MMCV's backward).
///       Reads the index table on the host once (one sync: range check and inversion).
///       Memory: the output plus an [R, O*kh*kw] index table.
inline at::Tensor active_rotated_filter(const at::Tensor& input, const at::Tensor& indices) {
  constexpr const char* op = "active_rotated_filter";
  detail::check_dim(input, 5, op, "input");
  detail::check_floating(input, op, "input", /*allow_half=*/true);
  detail::check_integral(indices, op, "indices");
  detail::check_same_device(input, indices, op, "input", "indices");
  detail::ShapeChecker sc(op);
  sc.check(input, "input", {"Cout", "Cin", "O", "kh", "kw"});
  sc.check(indices, "indices", {"O", "kh", "kw", "R"});
  const int64_t Cout = input.size(0), Cin = input.size(1), O = input.size(2), kh = input.size(3), kw = input.size(4);
  const int64_t R = indices.size(3);
  const int64_t L = detail::checked_prod({O, kh, kw}, op, "O * kh * kw");
  const int64_t CoutR = detail::checked_mul(Cout, R, op, "Cout * R");
  const int64_t CinO = detail::checked_mul(Cin, O, op, "Cin * O");
  detail::checked_prod({CoutR, CinO, kh, kw}, op, "output numel");
  if (input.numel() == 0 || R == 0) return at::zeros({CoutR, CinO, kh, kw}, input.options());
  const auto idx = indices.to(at::kLong).reshape({L, R}) - 1;  // 0-based, [L, R]
  const auto range = at::stack({idx.min(), idx.max()}).cpu();  // host-side: one sync to validate indices
  const int64_t lo = range[0].item<int64_t>(), hi = range[1].item<int64_t>();  // host-side: read the range
  detail::check_arg(lo >= 0 && hi < L, op, "indices",
                    "hold 1-based entries in [1, O * kh * kw = " + std::to_string(L) + "]",
                    "values in [" + std::to_string(lo + 1) + ", " + std::to_string(hi + 1) + "]");
  // Invert the scatter: src[r, m] = the last l with idx[l, r] == m (MMCV's serial loop: last write
  // wins), else L (the zero column). Sort the keys m * L + l of each rotation; the last of each run
  // of equal m holds the largest l and is scattered to column m, the others to a dummy column L.
  detail::checked_mul(L, L, op, "(O * kh * kw)^2");  // the sort keys below
  const auto keys = idx.t() * L + at::arange(L, idx.options()).view({1, L});  // [R, L]
  const auto sorted = std::get<0>(keys.sort(1));
  const auto m_s = sorted.div(L, "floor"), l_s = sorted.remainder(L);
  const auto last = at::cat({m_s.narrow(1, 0, L - 1) != m_s.narrow(1, 1, L - 1),
                             at::ones({R, 1}, m_s.options().dtype(at::kBool))}, 1);
  const auto src = at::full({R, L + 1}, L, idx.options())
                       .scatter_(1, at::where(last, m_s, at::full({}, L, m_s.options())), l_s)
                       .narrow(1, 0, L);
  const auto flat = input.reshape({Cout, Cin, L});
  const auto padded = at::cat({flat, at::zeros({Cout, Cin, 1}, input.options())}, 2);  // column L is zero
  // out[i, r, j, m] = padded[i, j, src[r, m]]: one gather written directly in the output layout.
  return padded.unsqueeze(1)
      .expand({Cout, R, Cin, L + 1})
      .gather(3, src.view({1, R, 1, L}).expand({Cout, R, Cin, L}))
      .view({CoutR, CinO, kh, kw});
}

}  // namespace ops
}  // namespace mmcv
