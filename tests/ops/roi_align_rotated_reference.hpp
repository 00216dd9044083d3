// SPDX-License-Identifier: Apache-2.0
#pragma once
// Test-only float64 loop restating MMCV's roi_align_rotated CPU kernel (forward, pre_calc's
// read of pixel (0, 0) for samples outside the map included, and backward), shared by
// test_roi_align_rotated and the reliability spec.

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace roi_align_rotated_ref {

// Float64 loop restating MMCV's CPU kernel (cpu/roi_align_rotated.cpp): forward output and, for
// a given grad_out, the gradient with respect to input.
struct LoopResult {
  at::Tensor out, grad;
};

inline LoopResult loop_reference(const at::Tensor& input_, const at::Tensor& rois_, int64_t PH, int64_t PW, double scale,
                          int64_t sr, bool aligned, bool clockwise, const at::Tensor& grad_out_ = {}) {
  auto input = input_.to(at::kCPU, at::kDouble).contiguous();
  auto rois = rois_.to(at::kCPU, at::kDouble).contiguous();
  const int64_t K = rois.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  auto out = at::zeros({K, C, PH, PW}, at::kDouble);
  auto grad = at::zeros_like(input);
  at::Tensor go = grad_out_.defined() ? grad_out_.to(at::kCPU, at::kDouble).contiguous() : at::zeros_like(out);
  auto in = input.accessor<double, 4>();
  auto r = rois.accessor<double, 2>();
  auto o = out.accessor<double, 4>();
  auto gi = grad.accessor<double, 4>();
  auto g = go.accessor<double, 4>();
  const double s = static_cast<float>(scale);
  for (int64_t k = 0; k < K; ++k) {
    const int64_t b = static_cast<int64_t>(r[k][0]);
    const double off = aligned ? 0.5 : 0.0;
    const double cw = r[k][1] * s - off, chh = r[k][2] * s - off;
    double rw = r[k][3] * s, rh = r[k][4] * s;
    double th = r[k][5];
    if (clockwise) th = -th;
    const double ct = std::cos(th), st = std::sin(th);
    if (!aligned) {
      rw = std::max(rw, 1.0);
      rh = std::max(rh, 1.0);
    }
    const double bh = rh / PH, bw = rw / PW;
    const int64_t gh = sr > 0 ? sr : static_cast<int64_t>(std::ceil(static_cast<float>(rh / PH)));
    const int64_t gw = sr > 0 ? sr : static_cast<int64_t>(std::ceil(static_cast<float>(rw / PW)));
    const double count = std::max<int64_t>(gh * gw, 1);
    for (int64_t ph = 0; ph < PH; ++ph)
      for (int64_t pw = 0; pw < PW; ++pw)
        for (int64_t iy = 0; iy < gh; ++iy) {
          const double yy = -rh / 2.0 + ph * bh + (iy + .5) * bh / gh;
          for (int64_t ix = 0; ix < gw; ++ix) {
            const double xx = -rw / 2.0 + pw * bw + (ix + .5) * bw / gw;
            double y = yy * ct - xx * st + chh, x = yy * st + xx * ct + cw;
            if (y < -1.0 || y > H || x < -1.0 || x > W) {
              // MMCV's CPU pre_calc: positions 0, weights 0, still read (0 * NaN = NaN); its
              // backward adds nothing.
              for (int64_t c = 0; c < C; ++c) o[k][c][ph][pw] += 0.0 * in[b][c][0][0] / count;
              continue;
            }
            y = std::max(y, 0.0);
            x = std::max(x, 0.0);
            int64_t yl = static_cast<int64_t>(y), xl = static_cast<int64_t>(x), yh, xh;
            if (yl >= H - 1) {
              yh = yl = H - 1;
              y = static_cast<double>(yl);
            } else {
              yh = yl + 1;
            }
            if (xl >= W - 1) {
              xh = xl = W - 1;
              x = static_cast<double>(xl);
            } else {
              xh = xl + 1;
            }
            const double ly = y - yl, lx = x - xl, hy = 1 - ly, hx = 1 - lx;
            const double w1 = hy * hx, w2 = hy * lx, w3 = ly * hx, w4 = ly * lx;
            for (int64_t c = 0; c < C; ++c) {
              o[k][c][ph][pw] += (w1 * in[b][c][yl][xl] + w2 * in[b][c][yl][xh] + w3 * in[b][c][yh][xl] +
                                  w4 * in[b][c][yh][xh]) /
                                 count;
              const double gg = g[k][c][ph][pw] / count;
              gi[b][c][yl][xl] += gg * w1;
              gi[b][c][yl][xh] += gg * w2;
              gi[b][c][yh][xl] += gg * w3;
              gi[b][c][yh][xh] += gg * w4;
            }
          }
        }
  }
  return {out, grad};
}

}  // namespace roi_align_rotated_ref
