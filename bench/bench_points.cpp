// SPDX-License-Identifier: Apache-2.0
// Point-cloud ops vs plain single-threaded C++ loops of MMCV's CUDA kernel bodies (-O2, float32,
// bench-only code; MMCV has no CPU kernel for any of them), in the same process; knn also vs
// MMCV's own test formula (distance matrix + topk, in ATen, tiled by 512 centres so it fits).
// Workloads (issue 17): B = 4 scenes of 16,384 points:
//   fps           furthest_point_sample to 4,096
//   knn           k = 16 for 4,096 centres
//   ball_query    r = 0.2 (unit cube), 32 samples, 4,096 centres
//   three_nn_interp  three_nn from 4,096 to 16,384 points + three_interpolate of 128 channels
//   grouping      grouping_operation 128 channels x 4,096 x 32
//   chamfer       chamfer_distance 8,192 x 8,192 2-D points (B = 1), fwd and fwd+bwd
// Counters: ours_ms, peer_ms, ratio = ours / peer; `match` = 1 when the outputs agree (checked once).

#include <mmcv/ops/ball_query.hpp>
#include <mmcv/ops/chamfer_distance.hpp>
#include <mmcv/ops/furthest_point_sample.hpp>
#include <mmcv/ops/group_points.hpp>
#include <mmcv/ops/knn.hpp>
#include <mmcv/ops/three_interpolate.hpp>
#include <mmcv/ops/three_nn.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

constexpr int64_t kB = 4, kN = 16384, kP = 4096;

at::Tensor scene(int64_t B, int64_t n, int64_t D, uint64_t seed) {
  at::manual_seed(seed);
  return at::rand({B, n, D});
}

// ---- loops of MMCV's kernel bodies (float32), one output element after the other ------------

at::Tensor loop_fps(const at::Tensor& xyz, int64_t m) {
  const int64_t B = xyz.size(0), n = xyz.size(1);
  auto out = at::zeros({B, m}, at::kInt);
  const float* d = xyz.data_ptr<float>();
  int* o = out.data_ptr<int>();
  std::vector<float> temp(n);
  for (int64_t b = 0; b < B; ++b) {
    const float* ds = d + b * n * 3;
    std::fill(temp.begin(), temp.end(), 1e10f);
    int old = 0;
    o[b * m] = 0;
    for (int64_t j = 1; j < m; ++j) {
      int besti = 0;
      float best = -1;
      const float x1 = ds[old * 3], y1 = ds[old * 3 + 1], z1 = ds[old * 3 + 2];
      for (int64_t k = 0; k < n; ++k) {
        const float x2 = ds[k * 3], y2 = ds[k * 3 + 1], z2 = ds[k * 3 + 2];
        const float dd = (x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1) + (z2 - z1) * (z2 - z1);
        const float d2 = std::min(dd, temp[k]);
        temp[k] = d2;
        if (d2 > best) best = d2, besti = static_cast<int>(k);
      }
      old = besti;
      o[b * m + j] = old;
    }
  }
  return out;
}

void reheap(float* dist, int* idx, int k) {
  int root = 0, child = root * 2 + 1;
  while (child < k) {
    if (child + 1 < k && dist[child + 1] > dist[child]) child++;
    if (dist[root] > dist[child]) return;
    std::swap(dist[root], dist[child]);
    std::swap(idx[root], idx[child]);
    root = child;
    child = root * 2 + 1;
  }
}

void heap_sort(float* dist, int* idx, int k) {
  for (int i = k - 1; i > 0; i--) {
    std::swap(dist[0], dist[i]);
    std::swap(idx[0], idx[i]);
    reheap(dist, idx, i);
  }
}

at::Tensor loop_knn(const at::Tensor& xyz, const at::Tensor& ctr, int k) {
  const int64_t B = xyz.size(0), n = xyz.size(1), m = ctr.size(1);
  auto out = at::zeros({B, m, k}, at::kInt);
  const float* px = xyz.data_ptr<float>();
  const float* pc = ctr.data_ptr<float>();
  int* o = out.data_ptr<int>();
  std::vector<float> bd(k);
  std::vector<int> bi(k);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < m; ++p) {
      const float* c = pc + (b * m + p) * 3;
      std::fill(bd.begin(), bd.end(), 1e10f);
      std::fill(bi.begin(), bi.end(), 0);
      for (int64_t i = 0; i < n; ++i) {
        const float* x = px + (b * n + i) * 3;
        const float d2 = (c[0] - x[0]) * (c[0] - x[0]) + (c[1] - x[1]) * (c[1] - x[1]) + (c[2] - x[2]) * (c[2] - x[2]);
        if (d2 < bd[0]) {
          bd[0] = d2, bi[0] = static_cast<int>(i);
          reheap(bd.data(), bi.data(), k);
        }
      }
      heap_sort(bd.data(), bi.data(), k);
      std::copy(bi.begin(), bi.end(), o + (b * m + p) * k);
    }
  return out.transpose(1, 2).contiguous();
}

at::Tensor loop_ball_query(const at::Tensor& xyz, const at::Tensor& ctr, float r, int S) {
  const int64_t B = xyz.size(0), n = xyz.size(1), m = ctr.size(1);
  auto out = at::zeros({B, m, S}, at::kInt);
  const float* px = xyz.data_ptr<float>();
  const float* pc = ctr.data_ptr<float>();
  int* o = out.data_ptr<int>();
  const float r2 = r * r;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < m; ++p) {
      const float* c = pc + (b * m + p) * 3;
      int* idx = o + (b * m + p) * S;
      int cnt = 0;
      for (int64_t k = 0; k < n; ++k) {
        const float* x = px + (b * n + k) * 3;
        const float d2 = (c[0] - x[0]) * (c[0] - x[0]) + (c[1] - x[1]) * (c[1] - x[1]) + (c[2] - x[2]) * (c[2] - x[2]);
        if (d2 == 0 || (d2 >= 0.f && d2 < r2)) {
          if (cnt == 0)
            for (int l = 0; l < S; ++l) idx[l] = static_cast<int>(k);
          idx[cnt++] = static_cast<int>(k);
          if (cnt >= S) break;
        }
      }
    }
  return out;
}

// three_nn (unknown [B, n, 3] from known [B, m, 3]) + three_interpolate (features [B, C, m]).
at::Tensor loop_three_nn_interp(const at::Tensor& unknown, const at::Tensor& known, const at::Tensor& feats) {
  const int64_t B = unknown.size(0), n = unknown.size(1), m = known.size(1), C = feats.size(1);
  auto idx = at::zeros({B, n, 3}, at::kInt);
  auto w = at::zeros({B, n, 3});
  const float* u = unknown.data_ptr<float>();
  const float* kn = known.data_ptr<float>();
  int* pi = idx.data_ptr<int>();
  float* pw = w.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < n; ++i) {
      const float* q = u + (b * n + i) * 3;
      double b1 = 1e40, b2 = 1e40, b3 = 1e40;
      int i1 = 0, i2 = 0, i3 = 0;
      for (int64_t k = 0; k < m; ++k) {
        const float* x = kn + (b * m + k) * 3;
        const float d = (q[0] - x[0]) * (q[0] - x[0]) + (q[1] - x[1]) * (q[1] - x[1]) + (q[2] - x[2]) * (q[2] - x[2]);
        if (d < b1) {
          b3 = b2, i3 = i2, b2 = b1, i2 = i1, b1 = d, i1 = static_cast<int>(k);
        } else if (d < b2) {
          b3 = b2, i3 = i2, b2 = d, i2 = static_cast<int>(k);
        } else if (d < b3) {
          b3 = d, i3 = static_cast<int>(k);
        }
      }
      int* id = pi + (b * n + i) * 3;
      id[0] = i1, id[1] = i2, id[2] = i3;
      // PointNet++'s inverse-distance weights (as MMDetection3D computes them around the ops)
      const float r1 = 1.f / (std::sqrt(static_cast<float>(b1)) + 1e-8f), r2 = 1.f / (std::sqrt(static_cast<float>(b2)) + 1e-8f),
                  r3 = 1.f / (std::sqrt(static_cast<float>(b3)) + 1e-8f);
      const float s = r1 + r2 + r3;
      float* ww = pw + (b * n + i) * 3;
      ww[0] = r1 / s, ww[1] = r2 / s, ww[2] = r3 / s;
    }
  auto out = at::empty({B, C, n});
  const float* f = feats.data_ptr<float>();
  float* o = out.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < n; ++i) {
        const int* id = pi + (b * n + i) * 3;
        const float* ww = pw + (b * n + i) * 3;
        const float* fc = f + (b * C + c) * m;
        o[(b * C + c) * n + i] = ww[0] * fc[id[0]] + ww[1] * fc[id[1]] + ww[2] * fc[id[2]];
      }
  return out;
}

at::Tensor ours_three_nn_interp(const at::Tensor& unknown, const at::Tensor& known, const at::Tensor& feats) {
  at::Tensor d, i;
  std::tie(d, i) = mmcv::ops::three_nn(unknown, known);
  const auto r = 1.0 / (d + 1e-8);
  const auto w = r / r.sum(2, true);
  return mmcv::ops::three_interpolate(feats, i, w);
}

at::Tensor loop_group(const at::Tensor& feats, const at::Tensor& idx) {
  const int64_t B = feats.size(0), C = feats.size(1), n = feats.size(2), P = idx.size(1), S = idx.size(2);
  auto out = at::empty({B, C, P, S});
  const float* f = feats.data_ptr<float>();
  const int* id = idx.data_ptr<int>();
  float* o = out.data_ptr<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t s = 0; s < S; ++s) o[((b * C + c) * P + p) * S + s] = f[(b * C + c) * n + id[(b * P + p) * S + s]];
  return out;
}

// chamfer forward (both directions) + MMCV's backward (for N == M) as loops.
std::vector<at::Tensor> loop_chamfer(const at::Tensor& a, const at::Tensor& b, bool backward) {
  const int64_t n = a.size(1), m = b.size(1);
  auto d1 = at::empty({1, n}), d2 = at::empty({1, m});
  auto i1 = at::empty({1, n}, at::kInt), i2 = at::empty({1, m}, at::kInt);
  auto dir = [](const float* p, int64_t np, const float* q, int64_t nq, float* dist, int* idx) {
    for (int64_t j = 0; j < np; ++j) {
      float best = 1e10f;
      int bi = 0;
      for (int64_t k = 0; k < nq; ++k) {
        const float x2 = q[k * 2] - p[j * 2], y2 = q[k * 2 + 1] - p[j * 2 + 1];
        const float d = x2 * x2 + y2 * y2;
        if (d < best) best = d, bi = static_cast<int>(k);
      }
      dist[j] = best, idx[j] = bi;
    }
  };
  dir(a.data_ptr<float>(), n, b.data_ptr<float>(), m, d1.data_ptr<float>(), i1.data_ptr<int>());
  dir(b.data_ptr<float>(), m, a.data_ptr<float>(), n, d2.data_ptr<float>(), i2.data_ptr<int>());
  if (!backward) return {d1, d2, i1, i2};
  auto ga = at::zeros_like(a), gb = at::zeros_like(b);
  auto bwd = [](const float* p, int64_t np, const float* q, const int* idx, float* gp, float* gq) {
    for (int64_t j = 0; j < np; ++j) {
      const int k = idx[j];
      const float x = p[j * 2] - q[k * 2], y = p[j * 2 + 1] - q[k * 2 + 1];
      gp[j * 2] += 2 * x, gp[j * 2 + 1] += 2 * y;  // grad_output = 1
      gq[k * 2] -= 2 * x, gq[k * 2 + 1] -= 2 * y;
    }
  };
  bwd(a.data_ptr<float>(), n, b.data_ptr<float>(), i1.data_ptr<int>(), ga.data_ptr<float>(), gb.data_ptr<float>());
  bwd(b.data_ptr<float>(), m, a.data_ptr<float>(), i2.data_ptr<int>(), gb.data_ptr<float>(), ga.data_ptr<float>());
  return {d1, d2, i1, i2, ga, gb};
}

// ---- the harness -------------------------------------------------------------------------------

void run_pair(benchmark::State& state, const std::function<at::Tensor()>& ours, const std::function<at::Tensor()>& peer,
              const std::string& label) {
  const bool match = at::equal(ours(), peer());
  double a = 0, b = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto x = ours();
    a += ms_since(t0);
    t0 = Clock::now();
    auto y = peer();
    b += ms_since(t0);
    benchmark::DoNotOptimize(x);
    benchmark::DoNotOptimize(y);
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["ours_ms"] = a / it;
  state.counters["peer_ms"] = b / it;
  state.counters["ratio"] = a / b;
  state.counters["match"] = match ? 1 : 0;
  state.SetLabel(label);
}

void BM_fps(benchmark::State& state) {
  const auto x = scene(kB, kN, 3, 1);
  run_pair(state, [&] { return mmcv::ops::furthest_point_sample(x, kP); }, [&] { return loop_fps(x, kP); },
           "4 x 16384 -> 4096 vs loop");
}

void BM_knn(benchmark::State& state) {
  const auto x = scene(kB, kN, 3, 2), c = scene(kB, kP, 3, 3);
  if (state.range(0) == 0) {
    run_pair(state, [&] { return mmcv::ops::knn(16, x, c); }, [&] { return loop_knn(x, c, 16); }, "k=16, 4096 centres vs loop");
  } else {
    // MMCV's test formula: squared distance matrix + topk (tiled by 512 centres).
    const auto formula = [&] {
      std::vector<at::Tensor> parts;
      for (int64_t p0 = 0; p0 < kP; p0 += 512) {
        const auto cc = c.narrow(1, p0, 512);
        const auto d = (cc.unsqueeze(2) - x.unsqueeze(1)).pow(2).sum(3);
        parts.push_back(std::get<1>(d.topk(16, 2, /*largest=*/false)).to(at::kInt));
      }
      return at::cat(parts, 1).transpose(1, 2).contiguous();
    };
    run_pair(state, [&] { return mmcv::ops::knn(16, x, c); }, formula, "k=16, 4096 centres vs distance matrix + topk");
  }
}

void BM_ball_query(benchmark::State& state) {
  const auto x = scene(kB, kN, 3, 4), c = scene(kB, kP, 3, 5);
  run_pair(state, [&] { return mmcv::ops::ball_query(0.0, 0.2, 32, x, c); }, [&] { return loop_ball_query(x, c, 0.2f, 32); },
           "r=0.2, 32 samples, 4096 centres vs loop");
}

void BM_three_nn_interpolate(benchmark::State& state) {
  const auto unknown = scene(kB, kN, 3, 6), known = scene(kB, kP, 3, 7);
  at::manual_seed(8);
  const auto feats = at::randn({kB, 128, kP});
  // outputs are float sums in a different order: compared with allclose, not equal
  const bool close = at::allclose(ours_three_nn_interp(unknown, known, feats), loop_three_nn_interp(unknown, known, feats),
                                  1e-4, 1e-5);
  run_pair(state, [&] { return ours_three_nn_interp(unknown, known, feats); },
           [&] { return loop_three_nn_interp(unknown, known, feats); }, "4096 -> 16384 points, 128 channels vs loop");
  state.counters["match"] = close ? 1 : 0;
}

void BM_grouping(benchmark::State& state) {
  at::manual_seed(9);
  const auto feats = at::randn({kB, 128, kN});
  const auto idx = at::randint(0, kN, {kB, kP, 32}).to(at::kInt);
  run_pair(state, [&] { return mmcv::ops::grouping_operation(feats, idx); }, [&] { return loop_group(feats, idx); },
           "128 ch x 4096 x 32 vs loop");
}

void BM_chamfer(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  const auto a = scene(1, 8192, 2, 10), b = scene(1, 8192, 2, 11);
  const auto ours = [&] {
    auto x = a.clone().requires_grad_(backward), y = b.clone().requires_grad_(backward);
    auto r = mmcv::ops::chamfer_distance(x, y);
    if (!backward) return std::get<2>(r);
    (std::get<0>(r).sum() + std::get<1>(r).sum()).backward();
    return x.grad();
  };
  const auto peer = [&] {
    auto r = loop_chamfer(a, b, backward);
    return backward ? r[4] : r[2];
  };
  double a_ms = 0, b_ms = 0;
  const bool match = backward ? at::allclose(ours(), peer(), 1e-4, 1e-5) : at::equal(ours(), peer());
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto x = ours();
    a_ms += ms_since(t0);
    t0 = Clock::now();
    auto y = peer();
    b_ms += ms_since(t0);
    benchmark::DoNotOptimize(x);
    benchmark::DoNotOptimize(y);
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["ours_ms"] = a_ms / it;
  state.counters["peer_ms"] = b_ms / it;
  state.counters["ratio"] = a_ms / b_ms;
  state.counters["match"] = match ? 1 : 0;
  state.SetLabel(backward ? "8192 x 8192 2-D, fwd+bwd vs loop" : "8192 x 8192 2-D, fwd vs loop");
}

BENCHMARK(BM_fps)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_knn)->Arg(0)->Arg(1)->ArgName("formula")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ball_query)->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_three_nn_interpolate)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_grouping)->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_chamfer)->Arg(0)->Arg(1)->ArgName("bwd")->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
