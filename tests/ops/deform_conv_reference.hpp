// SPDX-License-Identifier: Apache-2.0
#pragma once
// Float64 loop references for the deformable convolutions, written from MMCV's CPU kernels
// (mmcv/ops/csrc/pytorch/cpu/deform_conv.cpp, modulated_deform_conv.cpp): im2col with the DCN
// bilinear rule, the grouped GEMM, and the coordinate / mask gradients of col2im_coord.
// Test-only: plain loops over accessors, shared by test_deform_conv.cpp and
// test_modulated_deform_conv.cpp.

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>

namespace mmcv_test {

struct DcnLoopArgs {
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1, deform_groups = 1;
};

// MMCV's dmcn_im2col_bilinear / deformable_im2col_bilinear (zero corners outside the map); the
// caller has already checked -1 < h < H and -1 < w < W.
inline double dcn_loop_bilinear(const at::TensorAccessor<double, 2>& im, double h, double w) {
  const int64_t H = im.size(0), W = im.size(1);
  const int64_t hl = static_cast<int64_t>(std::floor(h)), wl = static_cast<int64_t>(std::floor(w));
  const int64_t hh = hl + 1, wh = wl + 1;
  const double lh = h - hl, lw = w - wl, uh = 1 - lh, uw = 1 - lw;
  const double v1 = (hl >= 0 && wl >= 0) ? im[hl][wl] : 0;
  const double v2 = (hl >= 0 && wh <= W - 1) ? im[hl][wh] : 0;
  const double v3 = (hh <= H - 1 && wl >= 0) ? im[hh][wl] : 0;
  const double v4 = (hh <= H - 1 && wh <= W - 1) ? im[hh][wh] : 0;
  return uh * uw * v1 + uh * lw * v2 + lh * uw * v3 + lh * lw * v4;
}

// MMCV's get_coordinate_weight: d(bilinear value) / d h (dir 0) or d w (dir 1); 0 outside the
// open window (so exactly 0 on h = -1 or w = -1).
inline double dcn_loop_coordinate_weight(const at::TensorAccessor<double, 2>& im, double h, double w, int dir) {
  const int64_t H = im.size(0), W = im.size(1);
  if (!(h > -1 && w > -1 && h < H && w < W)) return 0;
  const int64_t hl = static_cast<int64_t>(std::floor(h)), wl = static_cast<int64_t>(std::floor(w));
  const int64_t hh = hl + 1, wh = wl + 1;
  const double v1 = (hl >= 0 && wl >= 0) ? im[hl][wl] : 0;
  const double v2 = (hl >= 0 && wh <= W - 1) ? im[hl][wh] : 0;
  const double v3 = (hh <= H - 1 && wl >= 0) ? im[hh][wl] : 0;
  const double v4 = (hh <= H - 1 && wh <= W - 1) ? im[hh][wh] : 0;
  if (dir == 0) return -(wl + 1 - w) * v1 - (w - wl) * v2 + (wl + 1 - w) * v3 + (w - wl) * v4;
  return -(hl + 1 - h) * v1 + (hl + 1 - h) * v2 - (h - hl) * v3 + (h - hl) * v4;
}

/// Results of the loop reference: output and (when grad_out is defined) MMCV's gradients.
struct DcnLoopResult {
  at::Tensor output, grad_offset, grad_mask;
};

/// out[n, o, ho, wo] = bias[o] + sum_{c in group(o), i, j} weight[o, c', i, j] * mask * bilinear(input[n, c], y, x),
/// y = ho*sh - ph + i*dh + dy, x = wo*sw - pw + j*dw + dx (sampled only if -1 < y < H, -1 < x < W).
/// With grad_out: grad_offset / grad_mask as MMCV's col2im_coord (sum over the group's channels of
/// col_grad * mask * coordinate weight, resp. col_grad * value).
inline DcnLoopResult dcn_loop_reference(const at::Tensor& input_, const at::Tensor& offset_, const at::Tensor& mask_,
                                        const at::Tensor& weight_, const at::Tensor& bias_, const DcnLoopArgs& a,
                                        const at::Tensor& grad_out_ = at::Tensor()) {
  const auto f64 = [](const at::Tensor& t) {
    return t.defined() ? t.detach().to(at::kCPU, at::kDouble).contiguous() : t;
  };
  const auto input = f64(input_), offset = f64(offset_), mask = f64(mask_), weight = f64(weight_), bias = f64(bias_);
  const auto grad_out = f64(grad_out_);
  const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const int64_t O = weight.size(0), kh = weight.size(2), kw = weight.size(3), K = kh * kw;
  const int64_t Ho = (H + 2 * a.ph - (a.dh * (kh - 1) + 1)) / a.sh + 1;
  const int64_t Wo = (W + 2 * a.pw - (a.dw * (kw - 1) + 1)) / a.sw + 1;
  const int64_t Cg = C / a.groups, Og = O / a.groups, Cd = C / a.deform_groups;
  DcnLoopResult r;
  r.output = at::zeros({N, O, Ho, Wo}, at::kDouble);
  const bool grads = grad_out.defined();
  if (grads) {
    r.grad_offset = at::zeros(offset.sizes(), at::kDouble);
    if (mask.defined()) r.grad_mask = at::zeros(mask.sizes(), at::kDouble);
  }
  auto in = input.accessor<double, 4>();
  auto off = offset.accessor<double, 4>();
  auto wt = weight.accessor<double, 4>();
  auto out = r.output.accessor<double, 4>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t g = c / Cg, gd = c / Cd;
      const auto im = in[n][c];
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) {
          const int64_t k = i * kw + j;
          for (int64_t ho = 0; ho < Ho; ++ho)
            for (int64_t wo = 0; wo < Wo; ++wo) {
              const double y = static_cast<double>(ho * a.sh - a.ph + i * a.dh) + off[n][gd * 2 * K + 2 * k][ho][wo];
              const double x =
                  static_cast<double>(wo * a.sw - a.pw + j * a.dw) + off[n][gd * 2 * K + 2 * k + 1][ho][wo];
              const bool inside = y > -1 && x > -1 && y < H && x < W;
              const double v = inside ? dcn_loop_bilinear(im, y, x) : 0.0;
              const double m = mask.defined() ? mask.accessor<double, 4>()[n][gd * K + k][ho][wo] : 1.0;
              double col_grad = 0;
              for (int64_t o = g * Og; o < (g + 1) * Og; ++o) {
                out[n][o][ho][wo] += wt[o][c - g * Cg][i][j] * m * v;
                if (grads) col_grad += wt[o][c - g * Cg][i][j] * grad_out.accessor<double, 4>()[n][o][ho][wo];
              }
              if (!grads) continue;
              auto go = r.grad_offset.accessor<double, 4>();
              go[n][gd * 2 * K + 2 * k][ho][wo] += col_grad * m * dcn_loop_coordinate_weight(im, y, x, 0);
              go[n][gd * 2 * K + 2 * k + 1][ho][wo] += col_grad * m * dcn_loop_coordinate_weight(im, y, x, 1);
              if (mask.defined()) r.grad_mask.accessor<double, 4>()[n][gd * K + k][ho][wo] += col_grad * v;
            }
        }
    }
  if (bias.defined()) r.output += bias.view({1, O, 1, 1});
  return r;
}

}  // namespace mmcv_test
