// SPDX-License-Identifier: Apache-2.0
#pragma once
// Float64 loop references for the focal losses: MMCV's CUDA kernels (sigmoid_focal_loss_cuda_kernel.cuh,
// softmax_focal_loss_cuda_kernel.cuh) element by element, with this library's decisions for rows
// whose target is outside [0, K) (weight 1; softmax: loss 0). Used by tests/ops/test_focal_loss.cpp
// and tests/reliability/ops/focal_loss.cpp.

#include <ATen/ATen.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

namespace focal_ref {

struct LossGrad {
  at::Tensor loss;  // [N, K] (sigmoid) or [N] (softmax), before reduction
  at::Tensor grad;  // [N, K] dloss_elementwise/dx times the per-element / per-row grad_out
};

inline double clog(double v) { return std::log(std::max(v, static_cast<double>(FLT_MIN))); }

// go: [N, K] per-element grad_out (sigmoid).
inline LossGrad sigmoid_loop(const at::Tensor& x_, const at::Tensor& t_, const at::Tensor& w_, double g, double a,
                      const at::Tensor& go_) {
  auto x = x_.cpu().to(at::kDouble), go = go_.cpu().to(at::kDouble);
  auto t = t_.cpu();
  const int64_t N = x.size(0), K = x.size(1);
  auto loss = at::zeros({N, K}, at::kDouble), grad = at::zeros({N, K}, at::kDouble);
  auto X = x.accessor<double, 2>(), G = go.accessor<double, 2>(), L = loss.accessor<double, 2>(), D = grad.accessor<double, 2>();
  auto T = t.accessor<int64_t, 1>();
  for (int64_t n = 0; n < N; ++n) {
    const int64_t tn = T[n];
    const double wn = (w_.defined() && tn >= 0 && tn < K) ? w_.cpu().to(at::kDouble)[tn].item<double>() : 1.0;
    for (int64_t c = 0; c < K; ++c) {
      const double p = 1.0 / (1.0 + std::exp(-X[n][c]));
      if (tn == c) {
        L[n][c] = -a * std::pow(1 - p, g) * clog(p);
        D[n][c] = -a * std::pow(1 - p, g) * ((1 - p) - g * p * clog(p));
      } else {
        L[n][c] = -(1 - a) * std::pow(p, g) * clog(1 - p);
        D[n][c] = -(1 - a) * std::pow(p, g) * (g * (1 - p) * clog(1 - p) - p);
      }
      L[n][c] *= wn;
      D[n][c] *= wn * G[n][c];
    }
  }
  return {loss, grad};
}

// go: [N] per-row grad_out (softmax), the mathematically right broadcast.
inline LossGrad softmax_loop(const at::Tensor& x_, const at::Tensor& t_, const at::Tensor& w_, double g, double a,
                      const at::Tensor& go_) {
  auto x = x_.cpu().to(at::kDouble), go = go_.cpu().to(at::kDouble);
  auto t = t_.cpu();
  const int64_t N = x.size(0), K = x.size(1);
  auto loss = at::zeros({N}, at::kDouble), grad = at::zeros({N, K}, at::kDouble);
  auto X = x.accessor<double, 2>(), D = grad.accessor<double, 2>();
  auto T = t.accessor<int64_t, 1>();
  for (int64_t n = 0; n < N; ++n) {
    const int64_t tn = T[n];
    if (tn < 0 || tn >= K) continue;
    double mx = -INFINITY, sum = 0;
    for (int64_t c = 0; c < K; ++c) mx = std::max(mx, X[n][c]);
    std::vector<double> s(K);
    for (int64_t c = 0; c < K; ++c) sum += (s[c] = std::exp(X[n][c] - mx));
    for (auto& v : s) v /= sum;
    const double wn = w_.defined() ? w_.cpu().to(at::kDouble)[tn].item<double>() : 1.0;
    const double p = s[tn];
    loss[n] = -a * std::pow(1 - p, g) * clog(p) * wn;
    const double buff = a * (-std::pow(1 - p, g) + g * std::pow(1 - p, g - 1) * p * clog(p)) * wn;
    for (int64_t c = 0; c < K; ++c) D[n][c] = buff * ((c == tn ? 1.0 : 0.0) - s[c]) * go[n].item<double>();
  }
  return {loss, grad};
}

}  // namespace focal_ref
