// SPDX-License-Identifier: Apache-2.0
#pragma once
// Plain float64 loop references for the convolution-like ops (psa_mask, tin_shift,
// active_rotated_filter, masked_conv2d, carafe, correlation), written from MMCV's kernels element by
// element. Test-only code: slow, obvious, CPU.

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

namespace conv_ref {

/// MMCV psamask.cpp forward, collect or distribute. input [N, hm*wm, H, W] -> [N, H*W, H, W].
inline at::Tensor psa_mask(const at::Tensor& input_, bool collect, int64_t hm, int64_t wm) {
  const auto input = input_.to(at::kDouble).contiguous().cpu();
  const int64_t N = input.size(0), H = input.size(2), W = input.size(3);
  auto out = at::zeros({N, H * W, H, W}, at::kDouble);
  auto in = input.accessor<double, 4>();
  auto o = out.accessor<double, 4>();
  const int64_t half_h = (hm - 1) / 2, half_w = (wm - 1) / 2;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        for (int64_t hi = std::max<int64_t>(0, half_h - h); hi < std::min(hm, H + half_h - h); ++hi)
          for (int64_t wi = std::max<int64_t>(0, half_w - w); wi < std::min(wm, W + half_w - w); ++wi) {
            const int64_t q = (hi + h - half_h) * W + (wi + w - half_w);
            const double v = in[n][hi * wm + wi][h][w];
            if (collect)
              o[n][q][h][w] = v;
            else
              o[n][h * W + w][(hi + h - half_h)][(wi + w - half_w)] = v;
          }
  return out;
}

/// tin_shift forward (MMCV's CUDA kernel): input [N, T, C, S], shift [N, G].
inline at::Tensor tin_shift(const at::Tensor& input_, const at::Tensor& shift_) {
  const auto input = input_.to(at::kDouble).contiguous().cpu();
  const auto shift = shift_.to(at::kLong).cpu();
  const int64_t N = input.size(0), T = input.size(1), C = input.size(2), S = input.size(3), G = shift.size(1);
  auto out = at::zeros_like(input);
  auto in = input.accessor<double, 4>();
  auto o = out.accessor<double, 4>();
  auto sh = shift.accessor<int64_t, 2>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t s = sh[n][c / (C / G)];
      for (int64_t t = 0; t < T; ++t) {
        const int64_t to = t + s;
        if (to < 0 || to >= T) continue;
        for (int64_t x = 0; x < S; ++x) o[n][to][c][x] = in[n][t][c][x];
      }
    }
  return out;
}

/// The true gradient of tin_shift: grad_in[n, t, c] = grad_out[n, t + s, c] (the adjoint, -s shift).
inline at::Tensor tin_shift_adjoint(const at::Tensor& grad_out, const at::Tensor& shift) {
  return tin_shift(grad_out, -shift.to(at::kLong));
}

/// MMCV's active_rotated_filter.cpp forward: input [Cout, Cin, O, kh, kw], indices [O, kh, kw, R].
inline at::Tensor active_rotated_filter(const at::Tensor& input_, const at::Tensor& indices_) {
  const auto input = input_.to(at::kDouble).contiguous().cpu();
  const auto indices = indices_.to(at::kLong).contiguous().cpu();
  const int64_t Cout = input.size(0), Cin = input.size(1), O = input.size(2), kh = input.size(3), kw = input.size(4);
  const int64_t R = indices.size(3), L = O * kh * kw;
  auto out = at::zeros({Cout * R * Cin * L}, at::kDouble);
  const double* in = input.data_ptr<double>();
  const int64_t* idx = indices.data_ptr<int64_t>();
  double* o = out.data_ptr<double>();
  for (int64_t i = 0; i < Cout; ++i)
    for (int64_t j = 0; j < Cin; ++j)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t k = 0; k < R; ++k) {
          const int64_t index = idx[l * R + k] - 1;
          o[i * (R * Cin * L) + k * (Cin * L) + j * L + index] = in[i * Cin * L + j * L + l];
        }
  return out.view({Cout * R, Cin * O, kh, kw});
}

/// MMCV's active_rotated_filter backward: grad_in[i, j, l] = sum_r grad_out[i, r, j, idx[l, r] - 1].
inline at::Tensor active_rotated_filter_backward(const at::Tensor& grad_out_, const at::Tensor& indices_,
                                                 at::IntArrayRef in_shape) {
  const auto go = grad_out_.to(at::kDouble).contiguous().cpu();
  const auto indices = indices_.to(at::kLong).contiguous().cpu();
  const int64_t Cout = in_shape[0], Cin = in_shape[1], L = in_shape[2] * in_shape[3] * in_shape[4];
  const int64_t R = indices.size(3);
  auto gi = at::zeros({Cout * Cin * L}, at::kDouble);
  const double* g = go.data_ptr<double>();
  const int64_t* idx = indices.data_ptr<int64_t>();
  double* o = gi.data_ptr<double>();
  for (int64_t i = 0; i < Cout; ++i)
    for (int64_t j = 0; j < Cin; ++j)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t k = 0; k < R; ++k)
          o[i * Cin * L + j * L + l] += g[i * (R * Cin * L) + k * (Cin * L) + j * L + idx[l * R + k] - 1];
  return gi.view(in_shape);
}

/// ORN-style rotation index table [O, kh, kw, R] (1-based): rotation r maps orientation o to
/// (o + r * O / R) % O and rotates the kh x kw kernel by r quarter turns when kh == kw and 4 | R
/// (else only the orientation moves). Always a permutation per rotation.
inline at::Tensor orn_indices(int64_t O, int64_t k, int64_t R) {
  auto idx = at::zeros({O, k, k, R}, at::kInt);
  auto a = idx.accessor<int32_t, 4>();
  for (int64_t o = 0; o < O; ++o)
    for (int64_t y = 0; y < k; ++y)
      for (int64_t x = 0; x < k; ++x)
        for (int64_t r = 0; r < R; ++r) {
          const int64_t turns = (R % 4 == 0) ? (r * 4 / R) % 4 : 0;
          int64_t yy = y, xx = x;
          for (int64_t t = 0; t < turns; ++t) {
            const int64_t ny = xx, nx = k - 1 - yy;
            yy = ny;
            xx = nx;
          }
          const int64_t oo = (o + r * O / R) % O;
          a[o][y][x][r] = static_cast<int32_t>((oo * k + yy) * k + xx + 1);
        }
  return idx;
}

/// masked_conv2d as a loop: out[n, o, y, x] = bias[o] + sum_{c, i, j} w[o, c, i, j] *
/// f[n, c, y * sh - ph + i, x * sw - pw + j] (zero outside) when mask[n, y * sh, x * sw] > 0, else 0.
inline at::Tensor masked_conv2d(const at::Tensor& f_, const at::Tensor& mask_, const at::Tensor& w_,
                                const at::Tensor& b_, int64_t ph, int64_t pw, int64_t sh, int64_t sw) {
  const auto f = f_.to(at::kDouble).contiguous().cpu();
  const auto mask = mask_.to(at::kDouble).contiguous().cpu();
  const auto w = w_.to(at::kDouble).contiguous().cpu();
  const int64_t N = f.size(0), C = f.size(1), H = f.size(2), W = f.size(3);
  const int64_t O = w.size(0), kh = w.size(2), kw = w.size(3);
  const int64_t Ho = (H + 2 * ph - kh) / sh + 1, Wo = (W + 2 * pw - kw) / sw + 1;
  auto out = at::zeros({N, O, Ho, Wo}, at::kDouble);
  auto fa = f.accessor<double, 4>();
  auto ma = mask.accessor<double, 3>();
  auto wa = w.accessor<double, 4>();
  auto oa = out.accessor<double, 4>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t y = 0; y < Ho; ++y)
      for (int64_t x = 0; x < Wo; ++x) {
        if (y * sh >= H || x * sw >= W || !(ma[n][y * sh][x * sw] > 0)) continue;
        for (int64_t o = 0; o < O; ++o) {
          double acc = b_.defined() ? b_[o].item<double>() : 0.0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t yy = y * sh - ph + i, xx = x * sw - pw + j;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                acc += wa[o][c][i][j] * fa[n][c][yy][xx];
              }
          oa[n][o][y][x] = acc;
        }
      }
  return out;
}

/// carafe forward (MMCV's CUDA kernel body as a loop). features [N, C, H, W], masks [N, G*k*k, H*s, W*s].
inline at::Tensor carafe(const at::Tensor& f_, const at::Tensor& m_, int64_t k, int64_t G, int64_t s) {
  const auto f = f_.to(at::kDouble).contiguous().cpu();
  const auto m = m_.to(at::kDouble).contiguous().cpu();
  const int64_t N = f.size(0), C = f.size(1), H = f.size(2), W = f.size(3), r = (k - 1) / 2, Cg = C / G;
  auto out = at::zeros({N, C, H * s, W * s}, at::kDouble);
  auto fa = f.accessor<double, 4>();
  auto ma = m.accessor<double, 4>();
  auto oa = out.accessor<double, 4>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t P = 0; P < H * s; ++P)
        for (int64_t Q = 0; Q < W * s; ++Q) {
          double acc = 0;
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) {
              const int64_t y = P / s + dy - r, x = Q / s + dx - r;
              if (y < 0 || y >= H || x < 0 || x >= W) continue;
              acc += fa[n][c][y][x] * ma[n][(c / Cg) * k * k + dy * k + dx][P][Q];
            }
          oa[n][c][P][Q] = acc;
        }
  return out;
}

/// carafe backward as loops (the adjoint): (grad_features, grad_masks).
inline std::pair<at::Tensor, at::Tensor> carafe_backward(const at::Tensor& go_, const at::Tensor& f_,
                                                         const at::Tensor& m_, int64_t k, int64_t G, int64_t s) {
  const auto go = go_.to(at::kDouble).contiguous().cpu();
  const auto f = f_.to(at::kDouble).contiguous().cpu();
  const auto m = m_.to(at::kDouble).contiguous().cpu();
  const int64_t N = f.size(0), C = f.size(1), H = f.size(2), W = f.size(3), r = (k - 1) / 2, Cg = C / G;
  auto gf = at::zeros_like(f);
  auto gm = at::zeros_like(m);
  auto ga = go.accessor<double, 4>();
  auto fa = f.accessor<double, 4>();
  auto ma = m.accessor<double, 4>();
  auto gfa = gf.accessor<double, 4>();
  auto gma = gm.accessor<double, 4>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t P = 0; P < H * s; ++P)
        for (int64_t Q = 0; Q < W * s; ++Q)
          for (int64_t dy = 0; dy < k; ++dy)
            for (int64_t dx = 0; dx < k; ++dx) {
              const int64_t y = P / s + dy - r, x = Q / s + dx - r;
              if (y < 0 || y >= H || x < 0 || x >= W) continue;
              const int64_t mc = (c / Cg) * k * k + dy * k + dx;
              gfa[n][c][y][x] += ga[n][c][P][Q] * ma[n][mc][P][Q];
              gma[n][mc][P][Q] += ga[n][c][P][Q] * fa[n][c][y][x];
            }
  return {gf, gm};
}

/// correlation (MMCV's CUDA kernel body as loops): out[n, ph, pw, h, w] = sum_{i, j, c}
/// a[n, c, y, x] * b[n, c, y + sy, x + sx], y = h * st - pad + i * dil, sy = (ph - md) * dp; a pair
/// counts only when both pixels are inside the map. With go given, also the adjoint.
struct CorrParams {
  int64_t k, md, st, pad, dil, dp;
};
template <typename Visit>
inline void correlation_visit(const at::Tensor& a, const CorrParams& p, Visit visit) {
  const int64_t N = a.size(0), C = a.size(1), H = a.size(2), W = a.size(3), P = 2 * p.md + 1;
  const int64_t span = (p.k - 1) * p.dil + 1;
  const int64_t Ho = (H + 2 * p.pad - span) / p.st + 1, Wo = (W + 2 * p.pad - span) / p.st + 1;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ph = 0; ph < P; ++ph)
      for (int64_t pw = 0; pw < P; ++pw)
        for (int64_t h = 0; h < Ho; ++h)
          for (int64_t w = 0; w < Wo; ++w)
            for (int64_t i = 0; i < p.k; ++i)
              for (int64_t j = 0; j < p.k; ++j) {
                const int64_t y = h * p.st - p.pad + i * p.dil, x = w * p.st - p.pad + j * p.dil;
                const int64_t y2 = y + (ph - p.md) * p.dp, x2 = x + (pw - p.md) * p.dp;
                if (y < 0 || y >= H || x < 0 || x >= W || y2 < 0 || y2 >= H || x2 < 0 || x2 >= W) continue;
                for (int64_t c = 0; c < C; ++c) visit(n, ph, pw, h, w, c, y, x, y2, x2);
              }
}

inline at::Tensor correlation(const at::Tensor& a_, const at::Tensor& b_, int64_t k, int64_t md, int64_t st,
                              int64_t pad, int64_t dil, int64_t dp) {
  const auto a = a_.to(at::kDouble).contiguous().cpu(), b = b_.to(at::kDouble).contiguous().cpu();
  const int64_t N = a.size(0), H = a.size(2), W = a.size(3), P = 2 * md + 1, span = (k - 1) * dil + 1;
  const int64_t Ho = (H + 2 * pad - span) / st + 1, Wo = (W + 2 * pad - span) / st + 1;
  auto out = at::zeros({N, P, P, Ho, Wo}, at::kDouble);
  auto aa = a.accessor<double, 4>();
  auto ba = b.accessor<double, 4>();
  auto oa = out.accessor<double, 5>();
  correlation_visit(a, {k, md, st, pad, dil, dp},
                    [&](int64_t n, int64_t ph, int64_t pw, int64_t h, int64_t w, int64_t c, int64_t y, int64_t x,
                        int64_t y2, int64_t x2) { oa[n][ph][pw][h][w] += aa[n][c][y][x] * ba[n][c][y2][x2]; });
  return out;
}

inline std::pair<at::Tensor, at::Tensor> correlation_backward(const at::Tensor& go_, const at::Tensor& a_,
                                                              const at::Tensor& b_, int64_t k, int64_t md, int64_t st,
                                                              int64_t pad, int64_t dil, int64_t dp) {
  const auto a = a_.to(at::kDouble).contiguous().cpu(), b = b_.to(at::kDouble).contiguous().cpu();
  const auto go = go_.to(at::kDouble).contiguous().cpu();
  auto ga = at::zeros_like(a), gb = at::zeros_like(b);
  auto aa = a.accessor<double, 4>();
  auto ba = b.accessor<double, 4>();
  auto gaa = ga.accessor<double, 4>();
  auto gba = gb.accessor<double, 4>();
  auto goa = go.accessor<double, 5>();
  correlation_visit(a, {k, md, st, pad, dil, dp},
                    [&](int64_t n, int64_t ph, int64_t pw, int64_t h, int64_t w, int64_t c, int64_t y, int64_t x,
                        int64_t y2, int64_t x2) {
                      const double g = goa[n][ph][pw][h][w];
                      gaa[n][c][y][x] += g * ba[n][c][y2][x2];
                      gba[n][c][y2][x2] += g * aa[n][c][y][x];
                    });
  return {ga, gb};
}

}  // namespace conv_ref
