// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test-only loop restating MMCV's roi_align_rotated CPU kernel (cpu/roi_align_rotated.cpp) in the
// input's dtype T (float for float32 data, as MMCV computes): forward (pre_calc's read of pixel
// (0, 0) with weight 0 for samples outside the map included) and backward. Shared by
// test_roi_align_rotated and the reliability spec.

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace roi_align_rotated_ref {

struct LoopResult {
  at::Tensor out, grad;  // float64 tensors
};

template <typename T>
LoopResult loop_reference_t(const at::Tensor& input_, const at::Tensor& rois_, int64_t PH, int64_t PW, double scale,
                            int64_t sr, bool aligned, bool clockwise, const at::Tensor& grad_out_) {
  const auto st = at::CppTypeToScalarType<T>::value;
  auto input = input_.detach().to(at::kCPU, st).contiguous();
  auto rois = rois_.detach().to(at::kCPU, st).contiguous();
  const int64_t K = rois.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  auto out = at::zeros({K, C, PH, PW}, st);
  auto grad = at::zeros_like(input);
  at::Tensor go = grad_out_.defined() ? grad_out_.detach().to(at::kCPU, st).contiguous() : at::zeros_like(out);
  auto in = input.template accessor<T, 4>();
  auto r = rois.template accessor<T, 2>();
  auto o = out.template accessor<T, 4>();
  auto gi = grad.template accessor<T, 4>();
  auto g = go.template accessor<T, 4>();
  const T s = static_cast<T>(static_cast<float>(scale));  // MMCV's float spatial_scale
  for (int64_t k = 0; k < K; ++k) {
    const int64_t b = static_cast<int64_t>(r[k][0]);
    const T off = aligned ? T(0.5) : T(0);
    const T cw = r[k][1] * s - off, ch = r[k][2] * s - off;
    T rw = r[k][3] * s, rh = r[k][4] * s;
    T th = r[k][5];
    if (clockwise) th = -th;
    const T ct = static_cast<T>(std::cos(static_cast<double>(th)));
    const T stt = static_cast<T>(std::sin(static_cast<double>(th)));
    if (!aligned) {
      rw = std::max(rw, T(1));
      rh = std::max(rh, T(1));
    }
    const T bh = rh / static_cast<T>(PH), bw = rw / static_cast<T>(PW);
    const int64_t gh = sr > 0 ? sr : static_cast<int64_t>(std::ceil(static_cast<float>(rh / static_cast<T>(PH))));
    const int64_t gw = sr > 0 ? sr : static_cast<int64_t>(std::ceil(static_cast<float>(rw / static_cast<T>(PW))));
    const T count = static_cast<T>(std::max<int64_t>(gh * gw, 1));
    const T start_h = static_cast<T>(-rh / 2.0), start_w = static_cast<T>(-rw / 2.0);
    for (int64_t ph = 0; ph < PH; ++ph)
      for (int64_t pw = 0; pw < PW; ++pw) {
        std::vector<T> acc(static_cast<size_t>(C), T(0));
        for (int64_t iy = 0; iy < gh; ++iy) {
          const T yy = start_h + static_cast<T>(ph) * bh +
                       static_cast<T>(static_cast<float>(iy) + .5f) * bh / static_cast<T>(gh);
          for (int64_t ix = 0; ix < gw; ++ix) {
            const T xx = start_w + static_cast<T>(pw) * bw +
                         static_cast<T>(static_cast<float>(ix) + .5f) * bw / static_cast<T>(gw);
            T y = yy * ct - xx * stt + ch, x = yy * stt + xx * ct + cw;
            if (y < -1.0 || y > H || x < -1.0 || x > W) {
              // pre_calc: positions 0, weights 0, still read (0 * NaN = NaN); backward adds nothing.
              for (int64_t c = 0; c < C; ++c) acc[c] += T(0) * in[b][c][0][0];
              continue;
            }
            if (y < 0) y = 0;
            if (x < 0) x = 0;
            int64_t yl = static_cast<int64_t>(y), xl = static_cast<int64_t>(x), yh, xh;
            if (yl >= H - 1) {
              yh = yl = H - 1;
              y = static_cast<T>(yl);
            } else {
              yh = yl + 1;
            }
            if (xl >= W - 1) {
              xh = xl = W - 1;
              x = static_cast<T>(xl);
            } else {
              xh = xl + 1;
            }
            const T ly = y - static_cast<T>(yl), lx = x - static_cast<T>(xl);
            const T hy = static_cast<T>(1. - ly), hx = static_cast<T>(1. - lx);
            const T w1 = hy * hx, w2 = hy * lx, w3 = ly * hx, w4 = ly * lx;
            for (int64_t c = 0; c < C; ++c) {
              acc[c] += w1 * in[b][c][yl][xl] + w2 * in[b][c][yl][xh] + w3 * in[b][c][yh][xl] + w4 * in[b][c][yh][xh];
              const T gg = g[k][c][ph][pw];
              gi[b][c][yl][xl] += gg * w1 / count;
              gi[b][c][yl][xh] += gg * w2 / count;
              gi[b][c][yh][xl] += gg * w3 / count;
              gi[b][c][yh][xh] += gg * w4 / count;
            }
          }
        }
        for (int64_t c = 0; c < C; ++c) o[k][c][ph][pw] = acc[c] / count;
      }
  }
  return {out.to(at::kDouble), grad.to(at::kDouble)};
}

/// MMCV's CPU kernel in the input's dtype (float32 data: float arithmetic; float64: double).
inline LoopResult loop_reference(const at::Tensor& input, const at::Tensor& rois, int64_t PH, int64_t PW, double scale,
                                 int64_t sr, bool aligned, bool clockwise, const at::Tensor& grad_out = {}) {
  if (input.scalar_type() == at::kDouble)
    return loop_reference_t<double>(input, rois, PH, PW, scale, sr, aligned, clockwise, grad_out);
  return loop_reference_t<float>(input, rois, PH, PW, scale, sr, aligned, clockwise, grad_out);
}

}  // namespace roi_align_rotated_ref
