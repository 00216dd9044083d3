// SPDX-License-Identifier: Apache-2.0
#pragma once
// The engine shared by deform_conv2d and modulated_deform_conv2d (MMCV's DeformConv2dFunction and
// ModulatedDeformConv2dFunction): argument checks, the DCN sampling step, the GEMM, and a custom
// autograd Function that keeps memory bounded by recomputing the sampled columns per batch chunk
// in the backward (as MMCV's kernels do) instead of storing them for the whole batch.
//
// Strategy, per chunk of S images (P = Ho * Wo output pixels, K = kh * kw taps, L = lcm(groups,
// deform_groups) channel blocks of Cl = C / L channels):
//   1. coordinates  y, x = base grid + offset                                  [S, Ho, Wo, dg, K]
//   2. taps         MMCV's "DCN bilinear" rule (dcn_taps below) on a channels-last copy of the
//                   input padded with zeros (1 pixel before, 2 after): the four corners of every
//                   sample are base + {0, 1, Wp, Wp + 1}; bilinear weights with the mask folded in
//   3. columns      one at::embedding_bag(mode = sum, per_sample_weights) gathers and blends the
//                   four corners of every (pixel, block, tap) "bag" of Cl channels in one pass:
//                   cols [S, Ho, Wo, L * K * Cl] (no [.., 4, C] intermediate)
//   4. GEMM         cols as a channels-last [S, L*K*Cl, Ho, Wo] image through a 1x1 at::conv2d with
//                   the weight permuted to [O, (L / groups) * K * Cl, 1, 1] and groups = conv groups
//                   (block l is outermost, so every conv group is a contiguous channel range):
//                   the grouped GEMM runs on the device's convolution library (oneDNN on CPU, cuDNN
//                   on CUDA) rather than a plain BLAS addmm (a reference BLAS here, 10x slower).
// Backward, per chunk: recompute 1-3; at::convolution_backward gives d cols and d weight;
// at::_embedding_bag_per_sample_weights_backward gives d(weight of every corner) (fused dot
// products); d input is the scatter-add of d cols into the corner rows, written as gathers
// (at::embedding_bag) over the bags sorted by base row (one at::sort serves the four corners:
// deterministic, no atomics); the closed-form derivative of the bilinear weights gives d offset
// (0 for samples outside the open window -1 < y < H, -1 < x < W, MMCV's convention) and d mask.
//
// Why not detail/bilinear.hpp's bilinear_gather: its corners that do not count point at pixel 0
// with weight 0, so a NaN/Inf at pixel (0, 0) leaks into every border sample (0 * NaN = NaN)
// where MMCV reads nothing; and its gather materialises the four corners [.., 4, C] before
// combining them (4x the columns in memory traffic). dcn_taps implements the same kDcn rule on a
// zero-padded map (corners outside the map read the padding, samples outside the window read
// padding only), which is what MMCV computes, and exposes the fractional parts the closed-form
// backward needs. tests/ops/test_deform_conv.cpp checks it against bilinear_taps(kDcn).
//
// Memory bound per chunk (nothing scales with the whole batch except the returned tensors;
// autograd saves only the inputs input, offset, mask, weight, bias): forward holds the padded
// input copy S * (H+3) * (W+3) * C values, the columns S * P * K * C, 4 * S * P * K * L corner
// indices (int64) and weights, and the output chunk; backward additionally the column gradient
// S * P * K * C, the padded input gradient and the sort of S * P * K * L bag bases.
// IWYU pragma: private, include <mmcv/ops/deform_conv.hpp> or <mmcv/ops/modulated_deform_conv.hpp>.

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mmcv/ops/detail/check.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// Static configuration of one deformable convolution call (MMCV's ctx fields).
struct DeformConvSpec {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int64_t groups = 1, deform_groups = 1;
  int64_t im2col_step = 1;  ///< images per chunk (> 0)

  std::vector<int64_t> to_vector() const {
    return {stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, deform_groups, im2col_step};
  }
  static DeformConvSpec from_vector(const std::vector<int64_t>& v) {
    DeformConvSpec s;
    s.stride_h = v[0], s.stride_w = v[1], s.pad_h = v[2], s.pad_w = v[3], s.dil_h = v[4], s.dil_w = v[5];
    s.groups = v[6], s.deform_groups = v[7], s.im2col_step = v[8];
    return s;
  }
};

/// Sizes of one call, derived from input [N, C, H, W] and weight [O, C / groups, kh, kw].
struct DeformConvDims {
  int64_t N, C, H, W, O, kh, kw, K, Ho, Wo;
  int64_t L;   ///< channel blocks per pixel: lcm(groups, deform_groups)
  int64_t Cl;  ///< channels per block: C / L (one embedding_bag row)
  int64_t r;   ///< blocks per deform group: L / deform_groups
};

/// Output size of a convolution along one dimension (MMCV's _output_size, Python's floor
/// division: <= 0 when the padded input is smaller than the dilated kernel).
/// Overflow-checked: huge padding or dilation raise `op`'s error instead of wrapping around.
inline int64_t deform_conv_out_size(int64_t in, int64_t pad, int64_t dil, int64_t k, int64_t stride,
                                    const char* op = "deform_conv2d") {
  const int64_t padded = checked_add(in, checked_mul(2, pad, op, "2 * padding"), op, "input size + 2 * padding");
  const int64_t dilated = checked_add(checked_mul(dil, k - 1, op, "dilation * (kernel size - 1)"), 1, op,
                                      "the dilated kernel size dilation * (kernel size - 1) + 1");
  const int64_t span = checked_sub(padded, dilated, op, "padded input size - dilated kernel size");
  int64_t q = span / stride;  // floor division (Python's //) without overflow
  if (span % stride != 0 && span < 0) --q;
  return q + 1;
}

inline DeformConvDims deform_conv_dims(const at::Tensor& input, const at::Tensor& weight, const DeformConvSpec& s) {
  DeformConvDims d{};
  d.N = input.size(0), d.C = input.size(1), d.H = input.size(2), d.W = input.size(3);
  d.O = weight.size(0), d.kh = weight.size(2), d.kw = weight.size(3), d.K = d.kh * d.kw;
  d.Ho = deform_conv_out_size(d.H, s.pad_h, s.dil_h, d.kh, s.stride_h);
  d.Wo = deform_conv_out_size(d.W, s.pad_w, s.dil_w, d.kw, s.stride_w);
  const int64_t g = std::gcd(s.groups, s.deform_groups);
  d.L = s.groups / g * s.deform_groups;
  d.Cl = d.C / d.L;
  d.r = d.L / s.deform_groups;
  return d;
}

// =================================================================================================
// Argument checks (shared by both ops; order: ranks, parameters, shapes, dtypes, devices)
// =================================================================================================

/// Validates the arguments of deform_conv2d (mask and bias absent) or modulated_deform_conv2d and
/// returns the call's spec. `im2col_step` is checked only when `check_step`.
inline DeformConvSpec check_deform_conv_args(const char* op, const at::Tensor& input, const at::Tensor& offset,
                                             const at::Tensor* mask, const at::Tensor& weight, const at::Tensor* bias,
                                             at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                                             int64_t groups, int64_t deform_groups, int64_t im2col_step,
                                             bool mmcv_min_input_size) {
  check_dim(input, 4, op, "input");
  check_dim(offset, 4, op, "offset");
  if (mask) check_dim(*mask, 4, op, "mask");
  check_dim(weight, 4, op, "weight");
  if (bias) check_dim(*bias, 1, op, "bias");

  DeformConvSpec s;
  std::tie(s.stride_h, s.stride_w) = pair_arg(stride, op, "stride");
  std::tie(s.pad_h, s.pad_w) = pair_arg(padding, op, "padding");
  std::tie(s.dil_h, s.dil_w) = pair_arg(dilation, op, "dilation");
  check_positive(std::min(s.stride_h, s.stride_w), op, "stride");
  check_non_negative(std::min(s.pad_h, s.pad_w), op, "padding");
  check_positive(std::min(s.dil_h, s.dil_w), op, "dilation");
  check_positive(groups, op, "groups");
  check_positive(deform_groups, op, "deform_groups");
  check_positive(im2col_step, op, "im2col_step");
  s.groups = groups, s.deform_groups = deform_groups, s.im2col_step = im2col_step;
  // Channel blocks lcm(groups, deform_groups) (deform_conv_dims), checked once here.
  checked_mul(groups / std::gcd(groups, deform_groups), deform_groups, op, "lcm(groups, deform_groups)");

  const int64_t C = input.size(1), O = weight.size(0), kh = weight.size(2), kw = weight.size(3);
  check_arg(kh > 0 && kw > 0, op, "weight", "have a non-empty kernel [out_channels, in_channels / groups, kh, kw]",
            shape_str(weight.sizes()));
  const int64_t cin = checked_mul(weight.size(1), groups, op, "weight.size(1) * groups");
  check_arg(C == cin, op, "input", "have weight.size(1) * groups = " + std::to_string(cin) + " channels", C);
  check_arg(O % groups == 0, op, "weight",
            "have a number of output channels divisible by groups (" + std::to_string(groups) + ")", O);
  check_arg(C % deform_groups == 0, op, "input",
            "have a number of channels divisible by deform_groups (" + std::to_string(deform_groups) + ")", C);
  const int64_t H = input.size(2), W = input.size(3);
  const int64_t Ho = deform_conv_out_size(H, s.pad_h, s.dil_h, kh, s.stride_h, op);
  const int64_t Wo = deform_conv_out_size(W, s.pad_w, s.dil_w, kw, s.stride_w, op);
  check_arg(Ho > 0 && Wo > 0, op, "input",
            "be large enough for the dilated kernel after padding (output would be " + std::to_string(Ho) + " x " +
                std::to_string(Wo) + ")",
            shape_str(input.sizes()));
  if (mmcv_min_input_size)
    check_arg(H >= kh && W >= kw, op, "input",
              "be at least as large as the kernel (" + std::to_string(kh) + " x " + std::to_string(kw) +
                  "), as MMCV's deform_conv2d requires; DeformConv2d pads smaller inputs",
              shape_str(input.sizes()));
  const int64_t K = checked_mul(kh, kw, op, "kernel taps kh * kw");
  const int64_t mask_ch = checked_mul(deform_groups, K, op, "mask channels deform_groups * kh * kw");
  const int64_t offset_ch = checked_mul(2, mask_ch, op, "offset channels 2 * deform_groups * kh * kw");
  ShapeChecker sc(op);
  sc.check(input, "input", {"N", "C", "H", "W"});
  sc.check(offset, "offset", {"N", std::to_string(offset_ch), std::to_string(Ho), std::to_string(Wo)});
  if (mask) sc.check(*mask, "mask", {"N", std::to_string(mask_ch), std::to_string(Ho), std::to_string(Wo)});
  // The output [N, O, Ho, Wo] is known now: say so if it cannot be allocated.
  checked_alloc({input.size(0), O, Ho, Wo}, static_cast<int64_t>(offset.element_size()), op,
                "the output [N, out_channels, Ho, Wo] =");
  if (bias) sc.check(*bias, "bias", {std::to_string(O)});

  // dtype: offset's dtype is the computation dtype (MMCV casts input, weight, mask, bias to it).
  check_floating(offset, op, "offset", /*allow_half=*/!offset.is_cpu());
  const auto real = [&](const at::Tensor& t, const char* arg) {
    check_arg(at::isFloatingType(t.scalar_type()) || at::isIntegralType(t.scalar_type(), /*includeBool=*/false), op,
              arg, "have a real dtype (it is cast to offset's dtype, as MMCV does)", dtype_str(t));
  };
  real(input, "input");
  real(weight, "weight");
  if (mask) real(*mask, "mask");
  if (bias) real(*bias, "bias");

  check_same_device(input, offset, op, "input", "offset");
  check_same_device(input, weight, op, "input", "weight");
  if (mask) check_same_device(input, *mask, op, "input", "mask");
  if (bias) check_same_device(input, *bias, op, "input", "bias");
  return s;
}

// =================================================================================================
// Sampling: MMCV's DCN bilinear rule on a zero-padded map
// =================================================================================================

/// Padding of the channels-last map the corners are gathered from: one zero row / column above and
/// left, two below and right, so that the 2 x 2 corner block of every sample, and the block at
/// (H + 1, W + 1) that samples outside the window point at, lie inside the padded map.
inline constexpr int64_t kPadBefore = 1;
inline constexpr int64_t kPadAfter = 2;

/// Corner taps of points on an H x W map under MMCV's DCN rule, indexed into the map padded by
/// kPadBefore / kPadAfter zero pixels (Hp = H + 3 rows, Wp = W + 3 columns). `yx` [..., 2] holds
/// (y, x). A point is sampled only if -1 < y < H and -1 < x < W (NaN and Inf fail the test, as in
/// MMCV); its corners outside the map read the zero padding (MMCV's per-corner validity). A point
/// outside the window gets weight 0 and its block is placed at padding pixel (H + 1, W + 1), so no
/// corner of it reads a real pixel (a NaN / Inf pixel cannot leak into it, as in MMCV).
/// The four corners of a point are always base, base + 1, base + Wp, base + Wp + 1.
/// Written with few, [..., 2]-wide operators: each is a parallel region, which matters on a
/// loaded machine.
struct DcnTaps {
  at::Tensor base;    ///< [...] int64 flat index (y0 + 1) * Wp + (x0 + 1) of the top-left corner
  at::Tensor weight;  ///< [..., 4] bilinear weights hy*hx, hy*lx, ly*hx, ly*lx (0 outside the window)
  at::Tensor hl;      ///< [..., 2, 2] (h, l) x (y, x): l = y - floor(y), h = 1 - l (both 0 outside)
};

inline DcnTaps dcn_taps(const at::Tensor& yx, int64_t H, int64_t W) {
  const auto two = at::arange(2, yx.options());
  const auto hi = two * static_cast<double>(W - H) + static_cast<double>(H);  // (H, W)
  const auto in = ((yx > -1.0) & (yx < hi)).all(-1, /*keepdim=*/true);        // [..., 1]
  // Outside the window the coordinates are replaced (at::where, so Inf / NaN never reach the
  // arithmetic or its gradient) by (H, W), whose block starts at padding pixel (H + 1, W + 1).
  const auto ys = at::where(in, yx, hi);
  // floor(ys) through remainder (ys - floor(ys), exact for |ys| < 2^23): at::floor is a VML kernel
  // that opens an OpenMP region from 2048 elements, remainder stays under the usual grain.
  const auto frac = at::remainder(ys, 1.0);
  const auto y0 = ys - frac;  // an exact integer
  const auto inside = in.to(yx.scalar_type());
  const auto l = frac * inside;  // [..., 2]
  DcnTaps t;
  t.hl = at::stack({inside - l, l}, -2);  // [..., 2 (h, l), 2 (y, x)]
  // weight[a, b] = hl[a, y] * hl[b, x]: (hy hx, hy lx, ly hx, ly lx).
  t.weight = (t.hl.select(-1, 0).unsqueeze(-1) * t.hl.select(-1, 1).unsqueeze(-2)).flatten(-2);
  const int64_t Wp = W + kPadBefore + kPadAfter;
  const auto stride = (1 - two.to(at::kLong)) * (Wp - 1) + 1;  // (Wp, 1)
  t.base = (y0.to(at::kLong) * stride).sum(-1) + kPadBefore * (Wp + 1);
  return t;
}

/// Flat offsets of the four corners from a tap's base on a padded map of width Wp.
inline at::Tensor dcn_corner_offsets(int64_t Wp, const at::TensorOptions& long_opts) {
  const auto two = at::arange(2, long_opts);
  return (two.view({2, 1}) * Wp + two).view({4});  // {0, 1, Wp, Wp + 1}
}

/// The regular sampling grid of a convolution, separably: gy[ho, k] = ho * stride_h - pad_h +
/// i * dil_h and gx[wo, k] = wo * stride_w - pad_w + j * dil_w for tap k = i * kw + j.
struct DcnGrid {
  at::Tensor gy;  ///< [Ho, K]
  at::Tensor gx;  ///< [Wo, K]
};

inline DcnGrid dcn_grid(const DeformConvDims& d, const DeformConvSpec& s, const at::TensorOptions& opts) {
  const auto ki = at::arange(d.kh, opts).mul_(static_cast<double>(s.dil_h)).view({d.kh, 1}).expand({d.kh, d.kw});
  const auto kj = at::arange(d.kw, opts).mul_(static_cast<double>(s.dil_w)).view({1, d.kw}).expand({d.kh, d.kw});
  const auto hy = at::arange(d.Ho, opts).mul_(static_cast<double>(s.stride_h)).sub_(static_cast<double>(s.pad_h));
  const auto wx = at::arange(d.Wo, opts).mul_(static_cast<double>(s.stride_w)).sub_(static_cast<double>(s.pad_w));
  return {hy.view({d.Ho, 1}) + ki.reshape({1, d.K}), wx.view({d.Wo, 1}) + kj.reshape({1, d.K})};
}

/// Output rows processed at once by the per-sample operators (coordinates, taps, indices, the
/// offset / mask gradient), chosen so that each of their tensors stays under ATen's parallel grain:
/// they then run on the calling thread and open no OpenMP region. Only the few large operators
/// (the padded copy, the gather, the GEMM) are split over threads; on a busy machine every region
/// waits for all its threads to be scheduled, so their number, not their size, sets the latency.
inline int64_t dcn_rows_per_slice(const DeformConvDims& d, int64_t deform_groups) {
  const int64_t per_row = std::max<int64_t>(d.Wo * deform_groups * d.r * d.K * 4, 1);  // corner entries of a row
  return std::max<int64_t>((at::internal::GRAIN_SIZE - 1) / per_row, 1);
}

/// Everything one chunk needs to gather its columns. A "bag" is one (image, output pixel, channel
/// block l, tap k) sample of Cl = C / L channels, in that order (l = g * r + j for deform group g).
struct DcnChunkPlan {
  at::Tensor rows;         ///< [S * Hp * Wp * L, Cl] zero-padded channels-last input
  at::Tensor bag_base;     ///< [M] int64 row of each bag's top-left corner (M = S * P * L * K bags)
  at::Tensor index;        ///< [4 * M] rows of the four corners of every bag (bag-major)
  at::Tensor psw;          ///< [4 * M] corner weights, mask folded in
  at::Tensor bag_offsets;  ///< [M] = 0, 4, 8, ...
  at::Tensor offset2bag;   ///< [4 * M] = 0, 0, 0, 0, 1, ... (only when requested)
  at::Tensor mask_pts;     ///< [S, Ho, Wo, dg, K] mask (undefined without mask)
  at::Tensor weight;       ///< [S, Ho, Wo, dg, K, 4] bilinear corner weights (DcnTaps::weight)
  at::Tensor hl;           ///< [S, Ho, Wo, dg, K, 2, 2] (h, l) table (DcnTaps::hl)
  int64_t Hp = 0, Wp = 0;  ///< padded map size
};

inline DcnChunkPlan dcn_plan(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                             const DeformConvDims& d, const DeformConvSpec& s, bool with_offset2bag = false) {
  const int64_t S = input.size(0), dg = s.deform_groups, r = d.r, K = d.K, Ho = d.Ho, Wo = d.Wo;
  const auto opts = offset.options();
  const auto lopts = opts.dtype(at::kLong);
  DcnChunkPlan p;
  p.Hp = d.H + kPadBefore + kPadAfter, p.Wp = d.W + kPadBefore + kPadAfter;
  auto padded = at::zeros({S, p.Hp, p.Wp, d.C}, input.options());
  padded.narrow(1, kPadBefore, d.H).narrow(2, kPadBefore, d.W).copy_(input.permute({0, 2, 3, 1}));
  p.rows = padded.view({S * p.Hp * p.Wp * d.L, d.Cl});

  // Outputs, filled slice by slice (every element is written).
  auto bag_base = at::empty({S, Ho, Wo, dg, r, K}, lopts);
  auto index = at::empty({S, Ho, Wo, dg, r, K, 4}, lopts);
  auto psw = at::empty({S, Ho, Wo, dg, r, K, 4}, opts);
  auto bag_offsets = at::empty({S, Ho, Wo, dg, r, K}, lopts);
  auto offset2bag = with_offset2bag ? at::empty({S, Ho, Wo, dg, r, K, 4}, lopts) : at::Tensor();
  p.weight = at::empty({S, Ho, Wo, dg, K, 4}, opts);
  p.hl = at::empty({S, Ho, Wo, dg, K, 2, 2}, opts);
  if (mask.defined()) p.mask_pts = mask.reshape({S, dg, K, Ho, Wo}).permute({0, 3, 4, 1, 2});  // [S, Ho, Wo, dg, K]

  const auto off = offset.reshape({S, dg, K, 2, Ho, Wo}).permute({0, 4, 5, 1, 2, 3});  // [S, Ho, Wo, dg, K, 2]
  const auto grid = dcn_grid(d, s, opts);
  const auto gx = grid.gx.view({1, Wo, 1, K});
  const auto block = at::arange(d.L, lopts).view({dg, r, 1});      // [dg, r, 1]: l = g * r + j
  const auto corners = dcn_corner_offsets(p.Wp, lopts).mul_(d.L);  // row steps of the four corners
  const int64_t rows = dcn_rows_per_slice(d, dg), bags_per_row = Wo * d.L * K;
  for (int64_t n = 0; n < S; ++n) {              // host-side: loop over images and row slices, so the
    for (int64_t h0 = 0; h0 < Ho; h0 += rows) {  // per-sample operators stay under the parallel grain
      const int64_t hn = std::min(rows, Ho - h0);
      const auto rs = [&](const at::Tensor& t) { return t.select(0, n).narrow(0, h0, hn); };
      const auto gy = grid.gy.narrow(0, h0, hn).view({hn, 1, 1, K}).expand({hn, Wo, 1, K});
      const auto t = dcn_taps(rs(off) + at::stack({gy, gx.expand({hn, Wo, 1, K})}, -1), d.H, d.W);
      rs(p.weight).copy_(t.weight);
      rs(p.hl).copy_(t.hl);
      auto w = t.weight;  // [hn, Wo, dg, K, 4]
      if (mask.defined()) w = w * rs(p.mask_pts).unsqueeze(-1);
      rs(psw).copy_(w.unsqueeze(3).expand({hn, Wo, dg, r, K, 4}));
      // Row of block j of deform group g at padded pixel q of image n: (n * Hp * Wp + q) * L + g * r + j.
      const auto base = (t.base + n * p.Hp * p.Wp).mul_(d.L).unsqueeze(3) + block;  // [hn, Wo, dg, r, K]
      rs(bag_base).copy_(base);
      rs(index).copy_(base.unsqueeze(-1) + corners);
      const int64_t b0 = (n * Ho + h0) * bags_per_row, nb = hn * bags_per_row;
      bag_offsets.view({-1}).narrow(0, b0, nb).copy_(at::arange(4 * b0, 4 * (b0 + nb), 4, lopts));
      if (with_offset2bag)
        offset2bag.view({-1, 4}).narrow(0, b0, nb).copy_(at::arange(b0, b0 + nb, lopts).unsqueeze(1).expand({nb, 4}));
    }
  }
  p.bag_base = bag_base.view({-1});
  p.index = index.view({-1});
  p.psw = psw.view({-1});
  p.bag_offsets = bag_offsets.view({-1});
  if (with_offset2bag) p.offset2bag = offset2bag.view({-1});
  return p;
}

/// The sampled columns of a plan: [M, Cl], bag order (image, pixel, block, tap).
inline at::Tensor dcn_columns(const DcnChunkPlan& p) {
  return std::get<0>(at::embedding_bag(p.rows, p.index, p.bag_offsets, /*scale_grad_by_freq=*/false, /*mode=sum*/ 0,
                                       /*sparse=*/false, p.psw));
}

/// Columns [M, Cl] as the channels-last image [S, L * K * Cl, Ho, Wo] the GEMM consumes
/// (channel (l, k, cl): conv groups are contiguous channel ranges since l is outermost).
inline at::Tensor dcn_columns_image(const at::Tensor& cols, int64_t S, const DeformConvDims& d) {
  return cols.view({S, d.Ho, d.Wo, d.L * d.K * d.Cl}).permute({0, 3, 1, 2});
}

/// weight [O, C / groups, kh, kw] as the [O, (L / groups) * K * Cl, 1, 1] kernel of the 1x1 GEMM
/// convolution (channel order (l, k, cl) within a group).
inline at::Tensor dcn_gemm_weight(const at::Tensor& weight, const DeformConvDims& d) {
  const int64_t lg = weight.size(1) / d.Cl;  // blocks per conv group
  return weight.reshape({d.O, lg, d.Cl, d.K}).permute({0, 1, 3, 2}).reshape({d.O, lg * d.K * d.Cl, 1, 1});
}

/// The gradient of the 1x1 GEMM kernel back in weight's [O, C / groups, kh, kw] layout.
inline at::Tensor dcn_gemm_weight_grad(const at::Tensor& g, const at::Tensor& weight, const DeformConvDims& d) {
  const int64_t lg = weight.size(1) / d.Cl;
  return g.view({d.O, lg, d.K, d.Cl}).permute({0, 1, 3, 2}).reshape(weight.sizes());
}

// =================================================================================================
// Forward and backward over batch chunks (no autograd inside)
// =================================================================================================

/// Stride and padding of the 1x1 GEMM convolution.
inline constexpr std::array<int64_t, 2> kOnes{1, 1};
inline constexpr std::array<int64_t, 2> kZeros{0, 0};

/// Dilation of the 1x1 GEMM convolution. It has no effect on a 1x1 kernel; on CPU a dilated
/// convolution is always routed to oneDNN, whereas ATen sends an undilated 1x1 convolution of a
/// small batch on one thread to its native kernel (a plain BLAS GEMM, 10x slower with a reference
/// BLAS). Host-side: a tuning constant chosen from the device type, the ATen calls are the same.
inline std::array<int64_t, 2> dcn_gemm_dilation(const at::Tensor& t) {
  return t.is_cpu() ? std::array<int64_t, 2>{2, 2} : kOnes;
}

inline at::Tensor deform_conv_forward_impl(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                                           const at::Tensor& weight, const at::Tensor& bias, const DeformConvSpec& s) {
  const auto d = deform_conv_dims(input, weight, s);
  auto output = at::empty({d.N, d.O, d.Ho, d.Wo}, input.options());
  if (d.N == 0) return output;
  if (d.C == 0 || d.O == 0) {  // nothing to sample: bias only
    output.zero_();
    if (bias.defined() && d.O > 0) output.add_(bias.view({1, d.O, 1, 1}));
    return output;
  }
  const auto w = dcn_gemm_weight(weight, d);
  const auto dil = dcn_gemm_dilation(input);
  for (int64_t s0 = 0; s0 < d.N; s0 += s.im2col_step) {  // host-side: loop over batch chunks (memory bound)
    const int64_t S = std::min(s.im2col_step, d.N - s0);
    const auto plan =
        dcn_plan(input.narrow(0, s0, S), offset.narrow(0, s0, S), mask.defined() ? mask.narrow(0, s0, S) : mask, d, s);
    const auto cols = dcn_columns_image(dcn_columns(plan), S, d);
    output.narrow(0, s0, S).copy_(at::conv2d(cols, w, bias, kOnes, kZeros, dil, s.groups));  // [S, O, Ho, Wo]
  }
  return output;
}

/// Gradients {input, offset, mask, weight, bias} of sum(output * grad_output); an entry is
/// undefined where `needs` is false (or the argument is absent).
inline std::array<at::Tensor, 5> deform_conv_backward_impl(const at::Tensor& grad_output, const at::Tensor& input,
                                                           const at::Tensor& offset, const at::Tensor& mask,
                                                           const at::Tensor& weight, const at::Tensor& bias,
                                                           const DeformConvSpec& s, std::array<bool, 5> needs) {
  const auto d = deform_conv_dims(input, weight, s);
  needs[2] = needs[2] && mask.defined();
  needs[4] = needs[4] && bias.defined();
  std::array<at::Tensor, 5> g;
  // Every element of the input / offset / mask gradients is written chunk by chunk.
  if (needs[0]) g[0] = at::empty_like(input, at::MemoryFormat::Contiguous);
  if (needs[1]) g[1] = at::empty_like(offset, at::MemoryFormat::Contiguous);
  if (needs[2]) g[2] = at::empty_like(mask, at::MemoryFormat::Contiguous);
  if (needs[3]) g[3] = at::zeros_like(weight, at::MemoryFormat::Contiguous);
  if (needs[4]) g[4] = grad_output.sum({0, 2, 3});
  const bool need_sampling = needs[0] || needs[1] || needs[2];
  if (d.N == 0 || d.C == 0 || d.O == 0 || !(need_sampling || needs[3])) {
    for (int i = 0; i < 3; ++i)
      if (g[i].defined()) g[i].zero_();  // nothing sampled: zero gradients
    return g;
  }

  const auto w = dcn_gemm_weight(weight, d);
  const auto dil = dcn_gemm_dilation(input);
  const int64_t dg = s.deform_groups;
  const auto lopts = input.options().dtype(at::kLong);
  for (int64_t s0 = 0; s0 < d.N; s0 += s.im2col_step) {  // host-side: loop over batch chunks (memory bound)
    const int64_t S = std::min(s.im2col_step, d.N - s0);
    const auto plan =
        dcn_plan(input.narrow(0, s0, S), offset.narrow(0, s0, S), mask.defined() ? mask.narrow(0, s0, S) : mask, d, s,
                 /*with_offset2bag=*/needs[1] || needs[2]);
    const auto cols = dcn_columns_image(dcn_columns(plan), S, d);  // [S, L*K*Cl, Ho, Wo] channels-last
    const auto go = grad_output.narrow(0, s0, S).contiguous(at::MemoryFormat::ChannelsLast);
    auto cg = at::convolution_backward(go, cols, w, c10::nullopt, kOnes, kZeros, dil, /*transposed=*/false, kZeros,
                                       s.groups, {need_sampling, needs[3], false});
    if (needs[3]) g[3].add_(dcn_gemm_weight_grad(std::get<1>(cg), weight, d));
    if (!need_sampling) continue;
    const auto gcols = std::get<0>(cg).permute({0, 2, 3, 1}).reshape({-1, d.Cl});  // [M, Cl]

    if (needs[0]) {
      // Scatter-add of psw * gcols[bag] into the four corner rows, written as one gather
      // (at::embedding_bag) over the bags sorted by base row: the rows of corner c are the base
      // rows shifted by a constant, so one sort serves the four corners, whose sums are computed
      // as 4 x R bags and added (deterministic, no atomics).
      const auto sorted = at::sort(plan.bag_base, /*stable=*/true, 0, false);
      const auto& order = std::get<1>(sorted);
      const int64_t M = order.numel(), R = plan.rows.size(0);
      const auto corners = dcn_corner_offsets(plan.Wp, lopts).mul_(d.L);
      const auto starts = at::searchsorted(std::get<0>(sorted), at::arange(R, lopts) - corners.unsqueeze(1));  // [4, R]
      const auto bag_starts = (starts + at::arange(4, lopts).mul_(M).unsqueeze(1)).view({-1});
      const auto psw = plan.psw.view({M, 4}).t().index_select(1, order).reshape({-1});  // [4 * M]: corner-major
      const auto sums = std::get<0>(
          at::embedding_bag(gcols, order.repeat({4}), bag_starts, false, /*mode=sum*/ 0, false, psw));  // [4 * R, Cl]
      g[0].narrow(0, s0, S).copy_(sums.view({4, S, plan.Hp, plan.Wp, d.C})
                                      .sum(0)
                                      .narrow(1, kPadBefore, d.H)
                                      .narrow(2, kPadBefore, d.W)
                                      .permute({0, 3, 1, 2}));
    }
    if (needs[1] || needs[2]) {
      // d loss / d psw[e] = <gcols[e / 4], rows[index[e]]> (fused dot products).
      const auto dpsw = at::_embedding_bag_per_sample_weights_backward(gcols, plan.rows, plan.index, plan.bag_offsets,
                                                                       plan.offset2bag, /*mode=sum*/ 0,
                                                                       /*padding_idx=*/-1)
                            .view({S, d.Ho, d.Wo, dg, d.r, d.K, 4});
      // Gradient views in the [S, Ho, Wo, dg, K(, 2)] order of the samples.
      const auto g_mask =
          needs[2] ? g[2].narrow(0, s0, S).view({S, dg, d.K, d.Ho, d.Wo}).permute({0, 3, 4, 1, 2}) : at::Tensor();
      const auto g_off =
          needs[1] ? g[1].narrow(0, s0, S).view({S, dg, d.K, 2, d.Ho, d.Wo}).permute({0, 4, 5, 1, 2, 3}) : at::Tensor();
      const int64_t rows = dcn_rows_per_slice(d, dg);
      for (int64_t n = 0; n < S; ++n) {                // host-side: row slices under the parallel grain,
        for (int64_t h0 = 0; h0 < d.Ho; h0 += rows) {  // as in dcn_plan
          const int64_t hn = std::min(rows, d.Ho - h0);
          const auto rs = [&](const at::Tensor& t) { return t.select(0, n).narrow(0, h0, hn); };
          auto D = rs(dpsw).sum(3);  // summed over the r channel blocks of each deform group: [hn, Wo, dg, K, 4]
          if (needs[2]) rs(g_mask).copy_((D * rs(plan.weight)).sum(-1));
          if (!needs[1]) continue;
          if (plan.mask_pts.defined()) D = D * rs(plan.mask_pts).unsqueeze(-1);
          // weight[a, b] = hl[a, y] * hl[b, x] with d h / d t = -1, d l / d t = +1 inside the window
          // (h = l = 0 outside, so the gradient is 0 there, MMCV's convention):
          //   d / dy = sum_b (D[1, b] - D[0, b]) hl[b, x],  d / dx = sum_a (D[a, 1] - D[a, 0]) hl[a, y].
          const auto Dv = D.view({hn, d.Wo, dg, d.K, 2, 2});
          const auto hl = rs(plan.hl);
          const auto gy = ((Dv.select(-2, 1) - Dv.select(-2, 0)) * hl.select(-1, 1)).sum(-1);
          const auto gx = ((Dv.select(-1, 1) - Dv.select(-1, 0)) * hl.select(-1, 0)).sum(-1);
          rs(g_off).copy_(at::stack({gy, gx}, -1));
        }
      }
    }
  }
  return g;
}

// =================================================================================================
// Autograd
// =================================================================================================

/// Runs the backward as a forward so that, under create_graph, its outputs get a node whose own
/// backward refuses (MMCV's deformable convolutions are once_differentiable).
class DeformConvBackwardFunction : public torch::autograd::Function<DeformConvBackwardFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad_output,
                                                const at::Tensor& input, const at::Tensor& offset,
                                                const c10::optional<at::Tensor>& mask, const at::Tensor& weight,
                                                const c10::optional<at::Tensor>& bias, const std::vector<int64_t>& spec,
                                                const std::vector<int64_t>& needs) {
    (void)ctx;
    const auto g = deform_conv_backward_impl(
        grad_output, input, offset, mask.value_or(at::Tensor()), weight, bias.value_or(at::Tensor()),
        DeformConvSpec::from_vector(spec), {needs[0] != 0, needs[1] != 0, needs[2] != 0, needs[3] != 0, needs[4] != 0});
    torch::autograd::variable_list out;
    for (const auto& t : g)
      if (t.defined()) out.push_back(t);
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    (void)ctx, (void)grads;
    check_arg(false, "deform_conv2d", "its gradient",
              "be differentiated only once (MMCV's deformable convolutions are once_differentiable)",
              "a double-backward request");
    return {};
  }
};

/// Forward saves only the inputs; backward recomputes the columns chunk by chunk.
class DeformConvFunction : public torch::autograd::Function<DeformConvFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& offset,
                            const c10::optional<at::Tensor>& mask, const at::Tensor& weight,
                            const c10::optional<at::Tensor>& bias, const std::vector<int64_t>& spec) {
    ctx->save_for_backward({input, offset, mask.value_or(at::Tensor()), weight, bias.value_or(at::Tensor())});
    ctx->saved_data["spec"] = spec;
    return deform_conv_forward_impl(input, offset, mask.value_or(at::Tensor()), weight, bias.value_or(at::Tensor()),
                                    DeformConvSpec::from_vector(spec));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& input = saved[0];
    const auto& offset = saved[1];
    const auto& mask = saved[2];
    const auto& weight = saved[3];
    const auto& bias = saved[4];
    const auto spec = ctx->saved_data["spec"].toIntVector();
    // Edges exist only for the tensors that were passed (an absent mask or bias has none).
    size_t edge = 0;
    std::array<bool, 5> needs{};
    for (size_t i = 0; i < 5; ++i)
      if (saved[i].defined()) needs[i] = ctx->needs_input_grad(edge++);
    at::Tensor grad_output = grad_outputs[0];
    if (!grad_output.defined()) {  // only with materialize_grads off; kept for safety
      const auto d = deform_conv_dims(input, weight, DeformConvSpec::from_vector(spec));
      grad_output = at::zeros({d.N, d.O, d.Ho, d.Wo}, input.options());
    }

    std::array<at::Tensor, 5> g;
    if (at::GradMode::is_enabled()) {
      // create_graph: route through a node that rejects differentiation of these gradients.
      const std::vector<int64_t> nv(needs.begin(), needs.end());
      const auto out = DeformConvBackwardFunction::apply(
          grad_output, input, offset, mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt, weight,
          bias.defined() ? c10::optional<at::Tensor>(bias) : c10::nullopt, spec, nv);
      size_t k = 0;
      for (size_t i = 0; i < 5; ++i)
        if (needs[i] && saved[i].defined()) g[i] = out[k++];
    } else {
      g = deform_conv_backward_impl(grad_output, input, offset, mask, weight, bias, DeformConvSpec::from_vector(spec),
                                    needs);
    }
    // One gradient per forward argument (mask / bias slots stay undefined when absent; spec has none).
    return {g[0], g[1], g[2], g[3], g[4], at::Tensor()};
  }
};

/// Casts to offset's dtype (MMCV's type_as, through autograd) and runs the Function.
inline at::Tensor deform_conv_apply(const at::Tensor& input, const at::Tensor& offset, const at::Tensor* mask,
                                    const at::Tensor& weight, const at::Tensor* bias, const DeformConvSpec& spec) {
  const auto dt = offset.scalar_type();
  const auto cast = [dt](const at::Tensor& t) { return t.scalar_type() == dt ? t : t.to(dt); };
  c10::optional<at::Tensor> m, b;
  if (mask) m = cast(*mask);
  if (bias) b = cast(*bias);
  return DeformConvFunction::apply(cast(input), offset, m, cast(weight), b, spec.to_vector());
}

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
