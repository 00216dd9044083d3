// SPDX-License-Identifier: Apache-2.0
#pragma once
// Scalar loop references for the RoI ops, transcribed from MMCV's kernels (float64 values):
// roi_align from cpu/roi_align.cpp (forward, argmax_y/x, backward), roi_pool from
// common/cuda/roi_pool_cuda_kernel.cuh (forward, argmax, backward). Shared by
// tests/ops/test_roi_align.cpp, tests/ops/test_roi_pool.cpp and the reliability specs.
// Test-only code: plain loops over accessors are fine here.

#include <ATen/ATen.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>

namespace roi_ref {

// ---------------------------------------------------------------------------------------------
// float64 loop reference: MMCV's CPU kernel (cpu/roi_align.cpp) transcribed, forward + backward.
// ---------------------------------------------------------------------------------------------

struct Bilinear {
  int64_t yl = -1, yh = -1, xl = -1, xh = -1;
  double w1 = 0, w2 = 0, w3 = 0, w4 = 0;
};

// bilinear_interpolate_gradient of MMCV: the taps and weights of one point (lows -1 = nothing).
inline Bilinear bilinear(int64_t H, int64_t W, double y, double x) {
  Bilinear b;
  if (y < -1.0 || y > H || x < -1.0 || x > W) return b;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  b.yl = static_cast<int64_t>(y);
  b.xl = static_cast<int64_t>(x);
  if (b.yl >= H - 1) { b.yh = b.yl = H - 1; y = static_cast<double>(b.yl); } else { b.yh = b.yl + 1; }
  if (b.xl >= W - 1) { b.xh = b.xl = W - 1; x = static_cast<double>(b.xl); } else { b.xh = b.xl + 1; }
  const double ly = y - b.yl, lx = x - b.xl, hy = 1. - ly, hx = 1. - lx;
  b.w1 = hy * hx, b.w2 = hy * lx, b.w3 = ly * hx, b.w4 = ly * lx;
  return b;
}

// Per-roi geometry in the kernel's data type T (float for float32 data, double for float64), in
// MMCV's evaluation order, so sample coordinates are bit-identical to the kernel's.
template <typename T>
struct RoiParams {
  int64_t batch, gh, gw;
  T start_h, start_w, bin_h, bin_w;
  T y(int64_t ph, int64_t iy) const {
    return start_h + static_cast<T>(ph) * bin_h + static_cast<T>(iy + .5f) * bin_h / static_cast<T>(gh);
  }
  T x(int64_t pw, int64_t ix) const {
    return start_w + static_cast<T>(pw) * bin_w + static_cast<T>(ix + .5f) * bin_w / static_cast<T>(gw);
  }
};

template <typename T>
RoiParams<T> roi_params(const at::TensorAccessor<double, 2>& r, int64_t n, int64_t PH, int64_t PW, double scale,
                        int64_t sr, bool aligned) {
  const T s = static_cast<T>(static_cast<float>(scale));  // MMCV passes spatial_scale as float
  const T off = aligned ? T(0.5) : T(0);
  RoiParams<T> p;
  p.batch = static_cast<int64_t>(r[n][0]);
  p.start_w = static_cast<T>(r[n][1]) * s - off;
  p.start_h = static_cast<T>(r[n][2]) * s - off;
  T rw = (static_cast<T>(r[n][3]) * s - off) - p.start_w, rh = (static_cast<T>(r[n][4]) * s - off) - p.start_h;
  if (!aligned) {
    rw = std::max(rw, T(1));
    rh = std::max(rh, T(1));
  }
  p.bin_h = rh / static_cast<T>(PH);
  p.bin_w = rw / static_cast<T>(PW);
  p.gh = sr > 0 ? sr : static_cast<int64_t>(std::ceil(static_cast<float>(rh / static_cast<T>(PH))));
  p.gw = sr > 0 ? sr : static_cast<int64_t>(std::ceil(static_cast<float>(rw / static_cast<T>(PW))));
  return p;
}

struct Ref {
  at::Tensor out, argmax_y, argmax_x;
};

// Forward (avg or max with MMCV's CPU floor -10000, strict >) and MMCV's argmax_y / argmax_x.
// T: the data type whose geometry to reproduce; values and weights are float64.
template <typename T = double>
Ref align_forward(const at::Tensor& input_, const at::Tensor& rois_, int64_t PH, int64_t PW, double scale, int64_t sr,
                  bool max_mode, bool aligned) {
  auto input = input_.detach().to(at::kCPU, at::kDouble).contiguous();
  auto rois = rois_.detach().to(at::kCPU, at::kDouble).contiguous();
  const int64_t K = rois.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  Ref ref{at::zeros({K, C, PH, PW}, at::kDouble), at::full({K, C, PH, PW}, -1.0, at::kDouble),
          at::full({K, C, PH, PW}, -1.0, at::kDouble)};
  auto in = input.accessor<double, 4>();
  auto r = rois.accessor<double, 2>();
  auto o = ref.out.accessor<double, 4>();
  auto ay = ref.argmax_y.accessor<double, 4>(), ax = ref.argmax_x.accessor<double, 4>();
  for (int64_t n = 0; n < K; ++n) {
    const auto p = roi_params<T>(r, n, PH, PW, scale, sr, aligned);
    const double count = static_cast<double>(std::max<int64_t>(p.gh * p.gw, 1));
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ph = 0; ph < PH; ++ph)
        for (int64_t pw = 0; pw < PW; ++pw) {
          double sum = 0, maxval = -10000, my = -1, mx = -1;
          for (int64_t iy = 0; iy < p.gh; ++iy) {
            const double y = p.y(ph, iy);
            for (int64_t ix = 0; ix < p.gw; ++ix) {
              const double x = p.x(pw, ix);
              const auto b = bilinear(H, W, y, x);
              const auto v = in[p.batch][c];
              // MMCV's CPU pre_calc gives a point outside the map positions 0 and weights 0, and still
              // evaluates 0 * v[0][0] (NaN when pixel (0, 0) is NaN); a tap with weight 0 is read too.
              double val = 0.0 * v[0][0];
              if (b.yl >= 0) val = b.w1 * v[b.yl][b.xl] + b.w2 * v[b.yl][b.xh] + b.w3 * v[b.yh][b.xl] + b.w4 * v[b.yh][b.xh];
              if (val > maxval) {
                maxval = val;
                my = y;
                mx = x;
              }
              sum += val;
            }
          }
          if (max_mode) {
            o[n][c][ph][pw] = maxval;
            ay[n][c][ph][pw] = my;
            ax[n][c][ph][pw] = mx;
          } else {
            o[n][c][ph][pw] = sum / count;
          }
        }
  }
  return ref;
}

// MMCV's ROIAlignBackward, transcribed: average spreads grad / count over every sample's taps;
// max adds grad to the taps of (argmax_y, argmax_x) unless argmax_y == -1.
template <typename T = double>
at::Tensor align_backward(const at::Tensor& grad_out_, const at::Tensor& rois_, const Ref& fwd, at::IntArrayRef in_shape,
                          int64_t PH, int64_t PW, double scale, int64_t sr, bool max_mode, bool aligned) {
  auto go = grad_out_.detach().to(at::kCPU, at::kDouble).contiguous();
  auto rois = rois_.detach().to(at::kCPU, at::kDouble).contiguous();
  const int64_t K = rois.size(0), C = in_shape[1], H = in_shape[2], W = in_shape[3];
  auto grad = at::zeros(in_shape, at::kDouble);
  auto g = grad.accessor<double, 4>();
  auto gacc = go.accessor<double, 4>();
  auto r = rois.accessor<double, 2>();
  auto ay = fwd.argmax_y.accessor<double, 4>(), ax = fwd.argmax_x.accessor<double, 4>();
  const auto add = [&](int64_t b, int64_t c, const Bilinear& t, double gv) {
    if (t.yl < 0) return;
    g[b][c][t.yl][t.xl] += gv * t.w1;
    g[b][c][t.yl][t.xh] += gv * t.w2;
    g[b][c][t.yh][t.xl] += gv * t.w3;
    g[b][c][t.yh][t.xh] += gv * t.w4;
  };
  for (int64_t n = 0; n < K; ++n) {
    const auto p = roi_params<T>(r, n, PH, PW, scale, sr, aligned);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ph = 0; ph < PH; ++ph)
        for (int64_t pw = 0; pw < PW; ++pw) {
          const double gv = gacc[n][c][ph][pw];
          if (max_mode) {
            if (ay[n][c][ph][pw] != -1.0) add(p.batch, c, bilinear(H, W, ay[n][c][ph][pw], ax[n][c][ph][pw]), gv);
            continue;
          }
          const double count = static_cast<double>(p.gh * p.gw);
          for (int64_t iy = 0; iy < p.gh; ++iy)
            for (int64_t ix = 0; ix < p.gw; ++ix) add(p.batch, c, bilinear(H, W, p.y(ph, iy), p.x(pw, ix)), gv / count);
        }
  }
  return grad;
}

// ---------------------------------------------------------------------------------------------
// Loop reference: MMCV's roi_pool_forward_cuda_kernel / roi_pool_backward_cuda_kernel transcribed.
// T is the kernel's data type (the geometry is computed in it); values are compared in double.
// ---------------------------------------------------------------------------------------------

struct PoolRef {
  at::Tensor out;     // [K, C, PH, PW] double
  at::Tensor argmax;  // [K, C, PH, PW] int64: pixel y * W + x in the roi's image, -1 for none
};

template <typename T>
PoolRef pool_forward(const at::Tensor& input_, const at::Tensor& rois_, int64_t PH, int64_t PW, double scale) {
  auto input = input_.detach().to(at::kCPU, at::kDouble).contiguous();
  auto rois = rois_.detach().to(at::kCPU, at::kDouble).contiguous();
  const int64_t K = rois.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  // Python allocates output and argmax with new_zeros: a skipped (degenerate) roi keeps 0 in both.
  PoolRef ref{at::zeros({K, C, PH, PW}, at::kDouble), at::zeros({K, C, PH, PW}, at::kLong)};
  auto in = input.accessor<double, 4>();
  auto r = rois.accessor<double, 2>();
  auto o = ref.out.accessor<double, 4>();
  auto a = ref.argmax.accessor<int64_t, 4>();
  const T s = static_cast<T>(static_cast<float>(scale));
  for (int64_t n = 0; n < K; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ph = 0; ph < PH; ++ph)
        for (int64_t pw = 0; pw < PW; ++pw) {
          const int64_t b = static_cast<int64_t>(r[n][0]);
          const T x1 = static_cast<T>(r[n][1]) * s, y1 = static_cast<T>(r[n][2]) * s;
          const T x2 = (static_cast<T>(r[n][3]) + 1) * s, y2 = (static_cast<T>(r[n][4]) + 1) * s;
          const T rw = x2 - x1, rh = y2 - y1;
          if (rw <= 0 || rh <= 0) continue;
          const T bw = rw / static_cast<T>(PW), bh = rh / static_cast<T>(PH);
          auto clip = [](double v, int64_t hi) { return std::min<int64_t>(std::max<int64_t>(static_cast<int64_t>(v), 0), hi); };
          const int64_t hs = clip(std::floor(static_cast<float>(static_cast<T>(ph) * bh + y1)), H);
          const int64_t ws = clip(std::floor(static_cast<float>(static_cast<T>(pw) * bw + x1)), W);
          const int64_t he = clip(std::ceil(static_cast<float>(static_cast<T>(ph + 1) * bh + y1)), H);
          const int64_t we = clip(std::ceil(static_cast<float>(static_cast<T>(pw + 1) * bw + x1)), W);
          const bool empty = he <= hs || we <= ws;
          double mx = empty ? 0 : -static_cast<double>(FLT_MAX);
          int64_t idx = -1;
          for (int64_t h = hs; h < he; ++h)
            for (int64_t w = ws; w < we; ++w)
              if (in[b][c][h][w] > mx) { mx = in[b][c][h][w]; idx = h * W + w; }
          o[n][c][ph][pw] = mx;
          a[n][c][ph][pw] = idx;
        }
  return ref;
}

inline at::Tensor pool_backward(const at::Tensor& grad_out_, const at::Tensor& rois_, const PoolRef& fwd, at::IntArrayRef in_shape) {
  auto go = grad_out_.detach().to(at::kCPU, at::kDouble).contiguous();
  auto rois = rois_.detach().to(at::kCPU, at::kDouble).contiguous();
  const int64_t K = go.size(0), C = go.size(1), PH = go.size(2), PW = go.size(3), W = in_shape[3];
  auto grad = at::zeros(in_shape, at::kDouble);
  auto g = grad.accessor<double, 4>();
  auto gacc = go.accessor<double, 4>();
  auto a = fwd.argmax.accessor<int64_t, 4>();
  for (int64_t n = 0; n < K; ++n) {
    const int64_t b = static_cast<int64_t>(rois[n][0].item<double>());
    for (int64_t c = 0; c < C; ++c)
      for (int64_t ph = 0; ph < PH; ++ph)
        for (int64_t pw = 0; pw < PW; ++pw) {
          const int64_t idx = a[n][c][ph][pw];
          if (idx != -1) g[b][c][idx / W][idx % W] += gacc[n][c][ph][pw];
        }
  }
  return grad;
}

}  // namespace roi_ref
