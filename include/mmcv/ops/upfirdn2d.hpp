// SPDX-License-Identifier: Apache-2.0
#pragma once
// Upsample, FIR-filter, downsample. Mirrors mmcv/ops/upfirdn2d.py (StyleGAN3 semantics):
// upfirdn2d, filter2d, upsample2d and downsample2d. The specification is MMCV's
// `_upfirdn2d_ref`: insert up-1 zeros after each pixel, pad by [x0, x1, y0, y1] (negative =
// crop), correlate with the filter (flipped unless flip_filter, scaled by gain ** (ndim / 2),
// 1-D filters applied along x then y), keep every down-th pixel.
//
// Strategy (polyphase, work proportional to the output): per axis, output o receives
//   y[o] = sum_n x[n] * f'[n * up + p0 - o * down]          (f' = the filter as correlated)
// For each tap k this is one strided slice of the output plus a scaled strided slice of the input
// (`y.slice(step = up) += f'[k] * x.narrow(...)` when upsampling, `y.narrow(...) += f'[k] *
// x.slice(step = down)` when downsampling): no zero-inserted image and no wasted products of the
// reference's full-resolution convolution. A 1-D filter is two such passes (x, then y); a 2-D
// filter uses fh * fw taps with both axes sliced at once. When up > 1 and down > 1 on one axis,
// the up path runs with down = 1 and every down-th output is kept. The taps are read on the
// host once per call (the filter is a handful of scalars; one sync on CUDA).
// Autograd: a custom Function whose backward is upfirdn2d again (up and down swapped, MMCV's
// backward padding), as MMCV's CUDA Function: as fast as the forward and differentiable to any
// order (double backward included).
// Memory: the output plus, for a 1-D filter, one intermediate of size N*C*H_in*W_out.

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mmcv/ops/detail/check.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// Python's `//` on ints (floor division; the helpers' padding formulas rely on it).
inline int64_t floordiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
inline int64_t ceildiv(int64_t a, int64_t b) { return -floordiv(-a, b); }

/// MMCV's _parse_scaling: 1 or 2 values [x, y], each >= 1.
inline std::array<int64_t, 2> upfirdn_scaling(at::IntArrayRef v, const char* op, const char* arg) {
  const auto p = pair_arg(v, op, arg);
  check_positive(p.first, op, arg);
  check_positive(p.second, op, arg);
  return {p.first, p.second};
}

/// MMCV's _parse_padding: 1 value (all sides), 2 values [x, y] or 4 values [x0, x1, y0, y1].
inline std::array<int64_t, 4> upfirdn_padding(at::IntArrayRef v, const char* op) {
  TORCH_CHECK_VALUE(v.size() == 1 || v.size() == 2 || v.size() == 4, op,
                    ": expected padding to be an int, [x, y] or [x0, x1, y0, y1], but got ", v.size(), " values");
  if (v.size() == 1) return {v[0], v[0], v[0], v[0]};
  if (v.size() == 2) return {v[0], v[0], v[1], v[1]};
  return {v[0], v[1], v[2], v[3]};
}

/// MMCV's _get_filter_size: (fw, fh); None is 1 x 1; a 1-D filter of F taps is F x F.
inline std::array<int64_t, 2> upfirdn_filter_size(const std::optional<at::Tensor>& f) {
  if (!f.has_value() || !f->defined()) return {1, 1};
  return {f->size(-1), f->size(0)};
}

inline void check_upfirdn_filter(const std::optional<at::Tensor>& f, const at::Tensor& input, const char* op) {
  if (!f.has_value() || !f->defined()) return;
  TORCH_CHECK_VALUE(f->dim() == 1 || f->dim() == 2, op, ": expected filter to be a 1-D (separable) or 2-D tensor, but got ",
                    f->dim(), "-D tensor of shape ", shape_str(f->sizes()));
  check_floating(*f, op, "filter");
  check_same_device(input, *f, op, "input", "filter");
  check_arg(f->numel() > 0, op, "filter", "have at least one tap", shape_str(f->sizes()));
  check_arg(!f->requires_grad(), op, "filter", "not require grad (MMCV's filters are constants)", "requires_grad=True");
}

/// One tap k along one axis: the output slice [o0, o0 + cnt*ostep) step ostep receives the input
/// slice [i0, ...) step istep times the tap. Needs up == 1 or down == 1.
struct UpfirdnTap {
  int64_t o0 = 0, i0 = 0, cnt = 0, ostep = 1, istep = 1;
};

inline UpfirdnTap upfirdn_axis_tap(int64_t k, int64_t L, int64_t O, int64_t up, int64_t down, int64_t p0) {
  UpfirdnTap t;
  if (down == 1) {  // o = n * up + p0 - k
    const int64_t n0 = std::max<int64_t>(0, ceildiv(k - p0, up));
    const int64_t n1 = std::min<int64_t>(L - 1, floordiv(O - 1 + k - p0, up));
    t.cnt = std::max<int64_t>(0, n1 - n0 + 1);
    t.i0 = n0;
    t.o0 = n0 * up + p0 - k;
    t.ostep = up;
  } else {  // up == 1: n = o * down + k - p0
    const int64_t o0 = std::max<int64_t>(0, ceildiv(p0 - k, down));
    const int64_t o1 = std::min<int64_t>(O - 1, floordiv(L - 1 + p0 - k, down));
    t.cnt = std::max<int64_t>(0, o1 - o0 + 1);
    t.o0 = o0;
    t.i0 = o0 * down + k - p0;
    t.istep = down;
  }
  return t;
}

inline at::Tensor strided(const at::Tensor& t, int64_t dim, int64_t start, int64_t cnt, int64_t step) {
  return t.slice(dim, start, start + (cnt - 1) * step + 1, step);
}

/// Output length along one axis: floor((L * up + p0 + p1 - F) / down) + 1 (checked >= 1 by the caller).
inline int64_t upfirdn_out_len(int64_t L, int64_t up, int64_t down, int64_t p0, int64_t p1, int64_t F, const char* op) {
  const int64_t upL = checked_add(checked_add(checked_mul(L, up, op, "input size * up"), p0, op, "padded size"), p1, op,
                                  "padded size");
  return floordiv(upL - F, down) + 1;
}

/// Separable pass along `dim` (2 = y, 3 = x) with taps f' (already flipped / scaled).
inline at::Tensor upfirdn_pass(const at::Tensor& x, int64_t dim, const std::vector<double>& taps, int64_t up,
                               int64_t down, int64_t p0, int64_t p1, const char* op) {
  const int64_t F = static_cast<int64_t>(taps.size());
  if (up > 1 && down > 1) {
    const auto full = upfirdn_pass(x, dim, taps, up, 1, p0, p1, op);
    return full.slice(dim, 0, full.size(dim), down);
  }
  const int64_t L = x.size(dim);
  const int64_t O = upfirdn_out_len(L, up, down, p0, p1, F, op);
  auto sizes = x.sizes().vec();
  sizes[dim] = O;
  auto y = at::zeros(sizes, x.options());
  for (int64_t k = 0; k < F; ++k) {  // host-side: loop over the filter's taps
    if (taps[k] == 0) continue;
    const auto t = upfirdn_axis_tap(k, L, O, up, down, p0);
    if (t.cnt <= 0) continue;
    strided(y, dim, t.o0, t.cnt, t.ostep).add_(strided(x, dim, t.i0, t.cnt, t.istep), taps[k]);
  }
  return y;
}

/// Non-separable pass (2-D filter taps [fh][fw], row-major).
inline at::Tensor upfirdn_pass2d(const at::Tensor& x, const std::vector<double>& taps, int64_t fh, int64_t fw,
                                 std::array<int64_t, 2> up, std::array<int64_t, 2> down, std::array<int64_t, 4> pad,
                                 const char* op) {
  if ((up[0] > 1 && down[0] > 1) || (up[1] > 1 && down[1] > 1)) {
    const auto full = upfirdn_pass2d(x, taps, fh, fw, up, {up[0] > 1 ? 1 : down[0], up[1] > 1 ? 1 : down[1]}, pad, op);
    const int64_t sx = up[0] > 1 ? down[0] : 1, sy = up[1] > 1 ? down[1] : 1;
    return full.slice(2, 0, full.size(2), sy).slice(3, 0, full.size(3), sx);
  }
  const int64_t H = x.size(2), W = x.size(3);
  const int64_t OH = upfirdn_out_len(H, up[1], down[1], pad[2], pad[3], fh, op);
  const int64_t OW = upfirdn_out_len(W, up[0], down[0], pad[0], pad[1], fw, op);
  auto y = at::zeros({x.size(0), x.size(1), OH, OW}, x.options());
  for (int64_t ky = 0; ky < fh; ++ky) {  // host-side: loop over the filter's taps
    const auto ty = upfirdn_axis_tap(ky, H, OH, up[1], down[1], pad[2]);
    if (ty.cnt <= 0) continue;
    for (int64_t kx = 0; kx < fw; ++kx) {  // host-side: loop over the filter's taps
      const double w = taps[ky * fw + kx];
      if (w == 0) continue;
      const auto tx = upfirdn_axis_tap(kx, W, OW, up[0], down[0], pad[0]);
      if (tx.cnt <= 0) continue;
      strided(strided(y, 2, ty.o0, ty.cnt, ty.ostep), 3, tx.o0, tx.cnt, tx.ostep)
          .add_(strided(strided(x, 2, ty.i0, ty.cnt, ty.istep), 3, tx.i0, tx.cnt, tx.istep), w);
    }
  }
  return y;
}

/// The forward passes on a checked input: f is the raw filter (1-D or 2-D, or the 1 x 1 identity).
inline at::Tensor upfirdn2d_forward(const at::Tensor& input, const at::Tensor& filter, std::array<int64_t, 2> up,
                                    std::array<int64_t, 2> down, std::array<int64_t, 4> pad, bool flip_filter,
                                    double gain, const char* op) {
  // The filter as the reference correlates it: f * gain ** (ndim / 2) in the filter's dtype, cast
  // to the input's dtype, flipped unless flip_filter.
  auto f = (filter * std::pow(gain, static_cast<double>(filter.dim()) / 2.0)).to(input.scalar_type());
  if (!flip_filter) f = f.flip(f.dim() == 1 ? std::vector<int64_t>{0} : std::vector<int64_t>{0, 1});
  const auto fcpu = f.to(at::kCPU, at::kDouble).contiguous();  // host-side: the filter's few taps, read once
  const double* fp = fcpu.data_ptr<double>();                   // host-side: the filter's few taps
  const std::vector<double> taps(fp, fp + fcpu.numel());         // host-side: copy of the taps
  if (f.dim() == 1) {
    const auto xpass = upfirdn_pass(input, 3, taps, up[0], down[0], pad[0], pad[1], op);
    return upfirdn_pass(xpass, 2, taps, up[1], down[1], pad[2], pad[3], op);
  }
  return upfirdn_pass2d(input, taps, f.size(0), f.size(1), up, down, pad, op);
}

/// Autograd: the gradient of upfirdn2d is upfirdn2d of grad_output with up and down swapped, the
/// filter flipped the other way and MMCV's backward padding (its _upfirdn2d_cuda backward), so the
/// backward costs what the forward costs and is itself differentiable (any order).
/// params = {upx, upy, downx, downy, x0, x1, y0, y1, flip_filter}.
struct Upfirdn2dFunction : public torch::autograd::Function<Upfirdn2dFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& filter,
                            std::vector<int64_t> params, double gain) {
    ctx->save_for_backward({filter});
    ctx->saved_data["params"] = params;
    ctx->saved_data["gain"] = gain;
    ctx->saved_data["in_shape"] = input.sizes().vec();
    return upfirdn2d_forward(input, filter, {params[0], params[1]}, {params[2], params[3]},
                             {params[4], params[5], params[6], params[7]}, params[8] != 0, gain, "upfirdn2d");
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto f = ctx->get_saved_variables()[0];
    const auto p = ctx->saved_data["params"].toIntVector();
    const auto in = ctx->saved_data["in_shape"].toIntVector();
    const double gain = ctx->saved_data["gain"].toDouble();
    const auto& dy = grads[0];
    const int64_t fw = f.size(-1), fh = f.size(0);
    const int64_t ih = in[2], iw = in[3], oh = dy.size(2), ow = dy.size(3);
    const std::vector<int64_t> q = {p[2], p[3], p[0], p[1],
                                    fw - p[4] - 1,
                                    checked_mul(iw, p[0], "upfirdn2d", "width * up") - checked_mul(ow, p[2], "upfirdn2d", "width * down") + p[4] - p[0] + 1,
                                    fh - p[6] - 1,
                                    checked_mul(ih, p[1], "upfirdn2d", "height * up") - checked_mul(oh, p[3], "upfirdn2d", "height * down") + p[6] - p[1] + 1,
                                    p[8] != 0 ? 0 : 1};
    return {Upfirdn2dFunction::apply(dy, f, q, gain), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

/// upfirdn2d with parsed arguments (op names the public function for errors).
inline at::Tensor upfirdn2d_impl(const at::Tensor& input, const std::optional<at::Tensor>& filter,
                                 std::array<int64_t, 2> up, std::array<int64_t, 2> down, std::array<int64_t, 4> pad,
                                 bool flip_filter, double gain, const char* op) {
  check_dim(input, 4, op, "input");
  check_floating(input, op, "input", /*allow_half=*/!input.is_cpu());
  check_upfirdn_filter(filter, input, op);
  check_finite_scalar(gain, op, "gain");
  const auto fs = upfirdn_filter_size(filter);
  const int64_t fw = fs[0], fh = fs[1];
  const int64_t upW = upfirdn_out_len(input.size(3), up[0], 1, pad[0], pad[1], 0, op);
  const int64_t upH = upfirdn_out_len(input.size(2), up[1], 1, pad[2], pad[3], 0, op);
  TORCH_CHECK_VALUE(upW - 1 >= fw && upH - 1 >= fh, op,
                    ": expected the upsampled, padded input (", upH - 1, " x ", upW - 1,
                    ") to be at least as large as the filter (", fh, " x ", fw, "); check padding");
  const at::Tensor f = (filter.has_value() && filter->defined()) ? filter->detach()
                                                                 : at::ones({1, 1}, input.options().dtype(at::kFloat));
  return Upfirdn2dFunction::apply(input, f,
                                  std::vector<int64_t>{up[0], up[1], down[0], down[1], pad[0], pad[1], pad[2], pad[3],
                                                       flip_filter ? 1 : 0},
                                  gain);
}

}  // namespace detail

/// MMCV: `mmcv.ops.upfirdn2d(input, filter, up=1, down=1, padding=0, flip_filter=False, gain=1,
/// use_custom_op=True)`. input: Tensor[N, C, H, W] (float32/float64; float16/bfloat16 off CPU);
/// filter: Tensor[fh, fw] (non-separable), Tensor[F] (separable) or nullopt (identity), float32 or
/// float64, no grad; up / down: `n` or `{x, y}`; padding: `p`, `{px, py}` or `{x0, x1, y0, y1}`
/// (negative crops). use_custom_op is accepted and ignored (one path on every device).
/// Returns Tensor[N, C, (H*upy + py0 + py1 - fh) / downy + 1, (W*upx + px0 + px1 - fw) / downx + 1].
inline at::Tensor upfirdn2d(const at::Tensor& input, const std::optional<at::Tensor>& filter, at::IntArrayRef up = 1,
                            at::IntArrayRef down = 1, at::IntArrayRef padding = 0, bool flip_filter = false,
                            double gain = 1, bool use_custom_op = true) {
  (void)use_custom_op;
  constexpr const char* op = "upfirdn2d";
  return detail::upfirdn2d_impl(input, filter, detail::upfirdn_scaling(up, op, "up"),
                                detail::upfirdn_scaling(down, op, "down"), detail::upfirdn_padding(padding, op),
                                flip_filter, gain, op);
}

/// MMCV: `mmcv.ops.filter2d(input, filter, padding=0, flip_filter=False, gain=1, use_custom_op=True)`:
/// same-size filtering (padding is added on top of [fw // 2, (fw - 1) // 2, fh // 2, (fh - 1) // 2]).
inline at::Tensor filter2d(const at::Tensor& input, const std::optional<at::Tensor>& filter, at::IntArrayRef padding = 0,
                           bool flip_filter = false, double gain = 1, bool use_custom_op = true) {
  (void)use_custom_op;
  constexpr const char* op = "filter2d";
  const auto p = detail::upfirdn_padding(padding, op);
  detail::check_upfirdn_filter(filter, input, op);
  const auto fs = detail::upfirdn_filter_size(filter);
  const std::array<int64_t, 4> pad = {p[0] + fs[0] / 2, p[1] + (fs[0] - 1) / 2, p[2] + fs[1] / 2, p[3] + (fs[1] - 1) / 2};
  return detail::upfirdn2d_impl(input, filter, {1, 1}, {1, 1}, pad, flip_filter, gain, op);
}

/// MMCV: `mmcv.ops.upsample2d(input, filter, up=2, padding=0, flip_filter=False, gain=1,
/// use_custom_op=True)`: output size H*upy x W*upx (plus padding); gain multiplied by upx * upy.
inline at::Tensor upsample2d(const at::Tensor& input, const std::optional<at::Tensor>& filter, at::IntArrayRef up = 2,
                             at::IntArrayRef padding = 0, bool flip_filter = false, double gain = 1,
                             bool use_custom_op = true) {
  (void)use_custom_op;
  constexpr const char* op = "upsample2d";
  const auto u = detail::upfirdn_scaling(up, op, "up");
  const auto p = detail::upfirdn_padding(padding, op);
  detail::check_upfirdn_filter(filter, input, op);
  const auto fs = detail::upfirdn_filter_size(filter);
  using detail::floordiv;
  const std::array<int64_t, 4> pad = {p[0] + floordiv(fs[0] + u[0] - 1, 2), p[1] + floordiv(fs[0] - u[0], 2),
                                      p[2] + floordiv(fs[1] + u[1] - 1, 2), p[3] + floordiv(fs[1] - u[1], 2)};
  return detail::upfirdn2d_impl(input, filter, u, {1, 1}, pad, flip_filter,
                                gain * static_cast<double>(u[0]) * static_cast<double>(u[1]), op);
}

/// MMCV: `mmcv.ops.downsample2d(input, filter, down=2, padding=0, flip_filter=False, gain=1,
/// use_custom_op=True)`: output size H/downy x W/downx (plus padding).
inline at::Tensor downsample2d(const at::Tensor& input, const std::optional<at::Tensor>& filter,
                               at::IntArrayRef down = 2, at::IntArrayRef padding = 0, bool flip_filter = false,
                               double gain = 1, bool use_custom_op = true) {
  (void)use_custom_op;
  constexpr const char* op = "downsample2d";
  const auto d = detail::upfirdn_scaling(down, op, "down");
  const auto p = detail::upfirdn_padding(padding, op);
  detail::check_upfirdn_filter(filter, input, op);
  const auto fs = detail::upfirdn_filter_size(filter);
  using detail::floordiv;
  const std::array<int64_t, 4> pad = {p[0] + floordiv(fs[0] - d[0] + 1, 2), p[1] + floordiv(fs[0] - d[0], 2),
                                      p[2] + floordiv(fs[1] - d[1] + 1, 2), p[3] + floordiv(fs[1] - d[1], 2)};
  return detail::upfirdn2d_impl(input, filter, {1, 1}, d, pad, flip_filter, gain, op);
}

}  // namespace ops
}  // namespace mmcv
