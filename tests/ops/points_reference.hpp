// SPDX-License-Identifier: Apache-2.0
#pragma once
// Plain loop references of MMCV's point-cloud CUDA kernels (tests only): written from the kernel
// bodies, one output element at a time, in the kernel's dtype T (float or double).

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

namespace points_ref {

template <typename T>
T sq(const T* a, const T* b, int D) {
  T d = (a[0] - b[0]) * (a[0] - b[0]);
  for (int j = 1; j < D; ++j) d = d + (a[j] - b[j]) * (a[j] - b[j]);
  return d;
}

/// Literal loop of MMCV's knn_cuda_kernel.cuh heap (max-heap of k (distance, index) slots
/// initialised to (1e10, 0), strict-< root replacement, reheap, heap_sort), heap slots in T.
template <typename T>
void knn_reheap(T* dist, int* idx, int k) {
  int root = 0, child = 1;
  while (child < k) {
    if (child + 1 < k && dist[child + 1] > dist[child]) child++;
    if (dist[root] > dist[child]) return;
    std::swap(dist[root], dist[child]);
    std::swap(idx[root], idx[child]);
    root = child;
    child = root * 2 + 1;
  }
}

/// MMCV's knn heap answer (exact tie order), [B, k, P] int32.
template <typename T>
at::Tensor knn_heap(const at::Tensor& xyz_, const at::Tensor& ctr_, int64_t k) {
  auto xyz = xyz_.to(at::kCPU).contiguous(), ctr = ctr_.to(at::kCPU).contiguous();
  const int64_t B = xyz.size(0), N = xyz.size(1), P = ctr.size(1);
  auto out = at::zeros({B, k, P}, at::kInt);
  auto o = out.accessor<int, 3>();
  const T* px = xyz.data_ptr<T>();
  const T* pc = ctr.data_ptr<T>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < P; ++p) {
      std::vector<T> dist(k, T(1e10));
      std::vector<int> idx(k, 0);
      for (int64_t n = 0; n < N; ++n) {
        const T v = sq(pc + (b * P + p) * 3, px + (b * N + n) * 3, 3);
        if (v < dist[0]) {
          dist[0] = v;
          idx[0] = static_cast<int>(n);
          knn_reheap(dist.data(), idx.data(), static_cast<int>(k));
        }
      }
      for (int i = static_cast<int>(k) - 1; i > 0; --i) {
        std::swap(dist[0], dist[i]);
        std::swap(idx[0], idx[i]);
        knn_reheap(dist.data(), idx.data(), i);
      }
      for (int64_t j = 0; j < k; ++j) o[b][j][p] = idx[j];
    }
  return out;
}

/// MMCV's three_nn loop: (dist [B, N, 3] T, idx [B, N, 3] int32).
template <typename T>
std::pair<at::Tensor, at::Tensor> three_nn(const at::Tensor& tgt_, const at::Tensor& src_) {
  auto tgt = tgt_.to(at::kCPU).contiguous(), src = src_.to(at::kCPU).contiguous();
  const int64_t B = tgt.size(0), N = tgt.size(1), M = src.size(1);
  auto dist = at::empty({B, N, 3}, tgt.options());
  auto idx = at::zeros({B, N, 3}, at::kInt);
  auto pd = dist.accessor<T, 3>();
  auto pi = idx.accessor<int, 3>();
  const T* u = tgt.data_ptr<T>();
  const T* kn = src.data_ptr<T>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n) {
      double best[3] = {1e40, 1e40, 1e40};
      int bi[3] = {0, 0, 0};
      for (int64_t m = 0; m < M; ++m) {
        const T d = sq(u + (b * N + n) * 3, kn + (b * M + m) * 3, 3);
        if (d < best[0]) {
          best[2] = best[1], bi[2] = bi[1], best[1] = best[0], bi[1] = bi[0], best[0] = d, bi[0] = static_cast<int>(m);
        } else if (d < best[1]) {
          best[2] = best[1], bi[2] = bi[1], best[1] = d, bi[1] = static_cast<int>(m);
        } else if (d < best[2]) {
          best[2] = d, bi[2] = static_cast<int>(m);
        }
      }
      for (int j = 0; j < 3; ++j) {
        pd[b][n][j] = std::sqrt(static_cast<T>(best[j]));
        pi[b][n][j] = bi[j];
      }
    }
  return {dist, idx};
}

/// MMCV's batch ball query loop: [B, P, S] int32.
template <typename T>
at::Tensor ball_query(double min_r, double max_r, int64_t S, const at::Tensor& xyz_, const at::Tensor& ctr_) {
  auto xyz = xyz_.to(at::kCPU).contiguous(), ctr = ctr_.to(at::kCPU).contiguous();
  const int64_t B = xyz.size(0), N = xyz.size(1), P = ctr.size(1);
  auto out = at::zeros({B, P, S}, at::kInt);
  auto o = out.accessor<int, 3>();
  const float lo = static_cast<float>(min_r), hi = static_cast<float>(max_r);
  const float lo2 = lo * lo, hi2 = hi * hi;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < P; ++p) {
      int64_t cnt = 0;
      for (int64_t n = 0; n < N && cnt < S; ++n) {
        const T d2 = sq(ctr.data_ptr<T>() + (b * P + p) * 3, xyz.data_ptr<T>() + (b * N + n) * 3, 3);
        if (d2 == 0 || (d2 >= lo2 && d2 < hi2)) {
          if (cnt == 0)
            for (int64_t l = 0; l < S; ++l) o[b][p][l] = static_cast<int>(n);
          o[b][p][cnt++] = static_cast<int>(n);
        }
      }
    }
  return out;
}

/// MMCV's stacked ball query loop: [M, S] int32.
template <typename T>
at::Tensor ball_query_stack(double max_r, int64_t S, const at::Tensor& xyz_, const at::Tensor& ctr_,
                            const std::vector<int64_t>& xcnt, const std::vector<int64_t>& ccnt) {
  auto xyz = xyz_.to(at::kCPU).contiguous(), ctr = ctr_.to(at::kCPU).contiguous();
  auto out = at::zeros({ctr.size(0), S}, at::kInt);
  auto o = out.accessor<int, 2>();
  const float hi = static_cast<float>(max_r), hi2 = hi * hi;
  int64_t xs = 0, cs = 0;
  for (size_t b = 0; b < xcnt.size(); ++b) {
    for (int64_t m = cs; m < cs + ccnt[b]; ++m) {
      int64_t cnt = 0;
      for (int64_t n = 0; n < xcnt[b] && cnt < S; ++n) {
        const T d2 = sq(ctr.data_ptr<T>() + m * 3, xyz.data_ptr<T>() + (xs + n) * 3, 3);
        if (d2 < hi2) {
          if (cnt == 0)
            for (int64_t l = 0; l < S; ++l) o[m][l] = static_cast<int>(n);
          o[m][cnt++] = static_cast<int>(n);
        }
      }
      if (cnt == 0 && S > 0) o[m][0] = -1;
    }
    xs += xcnt[b];
    cs += ccnt[b];
  }
  return out;
}

/// MMCV's FPS CUDA kernel simulated literally: bs threads with strided scans, then the shared
/// memory tree reduction. dist(b, old, k) gives the distance. [B, m] int32.
template <typename T, typename DistFn>
at::Tensor fps_simulated(int64_t B, int64_t N, int64_t m, const DistFn& dist) {
  const int pow_2 = static_cast<int>(std::log(static_cast<double>(N)) / std::log(2.0));
  const int64_t bs = std::max<int64_t>(std::min<int64_t>(int64_t{1} << pow_2, 1024), 1);
  auto out = at::zeros({B, m}, at::kInt);
  auto o = out.accessor<int, 2>();
  for (int64_t b = 0; b < B; ++b) {
    std::vector<T> temp(N, T(1e10));
    int64_t old = 0;
    for (int64_t j = 1; j < m; ++j) {
      std::vector<T> best(bs, T(-1));
      std::vector<int64_t> besti(bs, 0);
      for (int64_t t = 0; t < bs; ++t)
        for (int64_t k = t; k < N; k += bs) {
          const T d = dist(b, old, k);
          const T d2 = std::isnan(d) ? temp[k] : std::min(d, temp[k]);
          temp[k] = d2;
          if (d2 > best[t]) best[t] = d2, besti[t] = k;
        }
      for (int64_t h = bs / 2; h >= 1; h /= 2)
        for (int64_t t = 0; t < h; ++t) {
          const T v1 = best[t], v2 = best[t + h];
          best[t] = std::max(v1, v2);
          besti[t] = v2 > v1 ? besti[t + h] : besti[t];
        }
      old = besti[0];
      o[b][j] = static_cast<int>(old);
    }
  }
  return out;
}

template <typename T>
at::Tensor fps(const at::Tensor& xyz_, int64_t m) {
  auto xyz = xyz_.to(at::kCPU).contiguous();
  const T* p = xyz.data_ptr<T>();
  const int64_t N = xyz.size(1);
  return fps_simulated<T>(xyz.size(0), N, m, [&](int64_t b, int64_t old, int64_t k) {
    return sq(p + (b * N + k) * 3, p + (b * N + old) * 3, 3);
  });
}

template <typename T>
at::Tensor fps_with_dist(const at::Tensor& dist_, int64_t m) {
  auto dist = dist_.to(at::kCPU).contiguous();
  const T* p = dist.data_ptr<T>();
  const int64_t N = dist.size(1);
  return fps_simulated<T>(dist.size(0), N, m, [&](int64_t b, int64_t old, int64_t k) { return p[(b * N + old) * N + k]; });
}

/// MMCV's chamfer forward, one direction: (dist [B, N] T, idx [B, N] int32).
template <typename T>
std::pair<at::Tensor, at::Tensor> chamfer_dir(const at::Tensor& a_, const at::Tensor& b_) {
  auto a = a_.to(at::kCPU).contiguous(), bb = b_.to(at::kCPU).contiguous();
  const int64_t B = a.size(0), N = a.size(1), M = bb.size(1);
  auto dist = at::zeros({B, N}, a.options());
  auto idx = at::zeros({B, N}, at::kInt);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n) {
      T best = T(1e10);
      int bi = 0;
      for (int64_t m = 0; m < M; ++m) {
        const T d = sq(bb.data_ptr<T>() + (b * M + m) * 2, a.data_ptr<T>() + (b * N + n) * 2, 2);
        if (d < best) best = d, bi = static_cast<int>(m);
      }
      if (M > 0) dist.accessor<T, 2>()[b][n] = best;
      idx.accessor<int, 2>()[b][n] = bi;
    }
  return {dist, idx};
}

/// assign_score_withk forward loop in float64: [B, O, P, K].
inline at::Tensor assign_score(const at::Tensor& s_, const at::Tensor& p_, const at::Tensor& c_, const at::Tensor& k_) {
  auto s = s_.to(at::kCPU, at::kDouble), p = p_.to(at::kCPU, at::kDouble), c = c_.to(at::kCPU, at::kDouble);
  auto ki = k_.to(at::kCPU, at::kLong);
  const int64_t B = s.size(0), P = s.size(1), K = s.size(2), M = s.size(3), N = p.size(1), O = p.size(3);
  auto out = at::zeros({B, O, P, K}, at::kDouble);
  auto so = s.accessor<double, 4>();
  auto po = p.accessor<double, 4>();
  auto co = c.accessor<double, 4>();
  auto ko = ki.accessor<int64_t, 3>();
  auto oo = out.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t n = 0; n < P; ++n)
        for (int64_t k = 0; k < K; ++k) {
          const int64_t kn = ko[b][n][k], cn = ko[b][n][0];
          if (kn < 0 || kn >= N) continue;
          double v = 0;
          for (int64_t m = 0; m < M; ++m) v += po[b][kn][m][o] * so[b][n][k][m] - co[b][cn][m][o] * so[b][n][k][m];
          oo[b][o][n][k] = v;
        }
  return out;
}

}  // namespace points_ref
