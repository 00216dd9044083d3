// SPDX-License-Identifier: Apache-2.0
// The convolution-like ops against their peers, in the same process, interleaved in every
// iteration; counters ours_ms, peer_ms, ratio (ours / peer). None of these ops has a compiled peer
// (MMCV runs them on CUDA only, or has scalar-loop CPU kernels), so the peers are (issue 13):
//   carafe        MMCV's formula as unfold + einsum in ATen (fwd, fwd+bwd), and a scalar loop of
//                 MMCV's CUDA kernel body (fwd); features 2x256x100x152, k 5, group 1, scale 2.
//   correlation   a scalar loop of MMCV's CUDA kernel bodies (fwd; fwd+bwd); 2x64x96x128, k 1, md 4.
//   masked_conv2d dense at::conv2d (the same weights); 1x256x100x152, 3x3, 256->256, 5% / 50% set.
//   psa_mask      a scalar loop of MMCV's CPU kernel; 1x(15*15)x60x60 collect (PSANet).
//   active_rotated_filter  a scalar loop of MMCV's CPU kernel; 256x256x8x3x3, 8 rotations.
//   tin_shift     a gather per group in ATen; [8, 8, 256, 56*56], 4 groups.
// Scalar loops are single-threaded -O2 float32 code (bench-only), checked to give our output.

#include <mmcv/ops/active_rotated_filter.hpp>
#include <mmcv/ops/carafe.hpp>
#include <mmcv/ops/correlation.hpp>
#include <mmcv/ops/masked_conv.hpp>
#include <mmcv/ops/psa_mask.hpp>
#include <mmcv/ops/tin_shift.hpp>

#include <ATen/Parallel.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Times ours and the peer alternately; checks once that they agree (max abs difference <= tol).
void run_pair(benchmark::State& state, const std::function<at::Tensor()>& ours, const std::function<at::Tensor()>& peer,
              double tol, const std::string& label) {
  {
    const auto a = ours().detach(), b = peer().detach();
    const double diff = a.numel() ? (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>() : 0.0;
    if (!(diff <= tol)) {
      state.SkipWithError(("outputs differ by " + std::to_string(diff)).c_str());
      return;
    }
  }
  double t_ours = 0, t_peer = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    benchmark::DoNotOptimize(ours());
    t_ours += ms_since(t0);
    t0 = Clock::now();
    benchmark::DoNotOptimize(peer());
    t_peer += ms_since(t0);
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["ours_ms"] = t_ours / it;
  state.counters["peer_ms"] = t_peer / it;
  state.counters["ratio"] = t_ours / t_peer;
  state.SetLabel(label + ", " + std::to_string(at::get_num_threads()) + " threads");
}

// ----------------------------------------------------------------------------------- carafe
at::Tensor carafe_unfold_einsum(const at::Tensor& f, const at::Tensor& m, int64_t k, int64_t s) {
  const int64_t N = f.size(0), C = f.size(1), H = f.size(2), W = f.size(3);
  auto cols = at::im2col(f, {k, k}, {1, 1}, {(k - 1) / 2, (k - 1) / 2}, {1, 1}).view({N, C, k * k, H, W});
  auto mv = m.view({N, k * k, H, s, W, s});
  return at::einsum("ncthw,nthiwj->nchiwj", {cols, mv}).reshape({N, C, H * s, W * s});
}

at::Tensor carafe_loop(const at::Tensor& f_, const at::Tensor& m_, int k, int s) {  // group 1, MMCV's kernel body
  const auto f = f_.contiguous(), m = m_.contiguous();
  const int N = f.size(0), C = f.size(1), H = f.size(2), W = f.size(3), Hs = H * s, Ws = W * s, r = (k - 1) / 2;
  auto out = at::empty({N, C, Hs, Ws});
  const float* pf = f.data_ptr<float>();
  const float* pm = m.data_ptr<float>();
  float* po = out.data_ptr<float>();
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int P = 0; P < Hs; ++P)
        for (int Q = 0; Q < Ws; ++Q) {
          const int dh = P / s, dw = Q / s;
          float acc = 0;
          for (int iy = std::max(dh - r, 0); iy <= std::min(dh + r, H - 1); ++iy)
            for (int ix = std::max(dw - r, 0); ix <= std::min(dw + r, W - 1); ++ix) {
              const int t = (iy - dh + r) * k + (ix - dw + r);
              acc += pf[((n * C + c) * H + iy) * W + ix] * pm[((static_cast<int64_t>(n) * k * k + t) * Hs + P) * Ws + Q];
            }
          po[((static_cast<int64_t>(n) * C + c) * Hs + P) * Ws + Q] = acc;
        }
  return out;
}

struct CarafeWork {
  at::Tensor f, m;
};
const CarafeWork& carafe_work() {
  static const CarafeWork w = [] {
    at::manual_seed(1);
    CarafeWork x;
    x.f = at::randn({2, 256, 100, 152});
    x.m = at::softmax(at::randn({2, 25, 200, 304}), 1);
    return x;
  }();
  return w;
}

void BM_carafe_vs_unfold_einsum(benchmark::State& state) {
  const auto& w = carafe_work();
  const bool bwd = state.range(0) != 0;
  const auto f = w.f.clone().requires_grad_(bwd), m = w.m.clone().requires_grad_(bwd);
  const auto go = at::randn({2, 256, 200, 304});
  auto step = [&](bool ours) {
    auto out = ours ? mmcv::ops::carafe(f, m, 5, 1, 2) : carafe_unfold_einsum(f, m, 5, 2);
    if (bwd) {
      out.backward(go);
      f.mutable_grad().reset();
      m.mutable_grad().reset();
    }
    return out;
  };
  run_pair(state, [&] { return step(true); }, [&] { return step(false); }, 1e-3, bwd ? "fwd+bwd" : "fwd");
}
BENCHMARK(BM_carafe_vs_unfold_einsum)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void BM_carafe_vs_scalar_loop(benchmark::State& state) {
  const auto& w = carafe_work();
  at::NoGradGuard ng;
  run_pair(state, [&] { return mmcv::ops::carafe(w.f, w.m, 5, 1, 2); }, [&] { return carafe_loop(w.f, w.m, 5, 2); },
           1e-3, "fwd");
}
BENCHMARK(BM_carafe_vs_scalar_loop)->Unit(benchmark::kMillisecond)->Iterations(2)->UseRealTime();

// ------------------------------------------------------------------------------ correlation
// MMCV's forward (per output: sum over window, channels) and backward kernels as loops; k = 1,
// stride 1, pad 0, dilation 1, dilation_patch 1.
at::Tensor corr_loop(const at::Tensor& a_, const at::Tensor& b_, int md) {
  const auto a = a_.contiguous(), b = b_.contiguous();
  const int N = a.size(0), C = a.size(1), H = a.size(2), W = a.size(3), P = 2 * md + 1;
  auto out = at::zeros({N, P, P, H, W});
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  float* po = out.data_ptr<float>();
  for (int n = 0; n < N; ++n)
    for (int ph = 0; ph < P; ++ph)
      for (int pw = 0; pw < P; ++pw)
        for (int h = 0; h < H; ++h)
          for (int w = 0; w < W; ++w) {
            const int y2 = h + ph - md, x2 = w + pw - md;
            if (y2 < 0 || y2 >= H || x2 < 0 || x2 >= W) continue;
            float acc = 0;
            for (int c = 0; c < C; ++c) acc += pa[((n * C + c) * H + h) * W + w] * pb[((n * C + c) * H + y2) * W + x2];
            po[(((static_cast<int64_t>(n) * P + ph) * P + pw) * H + h) * W + w] = acc;
          }
  return out;
}
std::pair<at::Tensor, at::Tensor> corr_loop_backward(const at::Tensor& go_, const at::Tensor& a_, const at::Tensor& b_,
                                                     int md) {
  const auto a = a_.contiguous(), b = b_.contiguous(), go = go_.contiguous();
  const int N = a.size(0), C = a.size(1), H = a.size(2), W = a.size(3), P = 2 * md + 1;
  auto ga = at::zeros_like(a), gb = at::zeros_like(b);
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  const float* pg = go.data_ptr<float>();
  float* pga = ga.data_ptr<float>();
  float* pgb = gb.data_ptr<float>();
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int ph = 0; ph < P; ++ph)
        for (int pw = 0; pw < P; ++pw)
          for (int h = 0; h < H; ++h)
            for (int w = 0; w < W; ++w) {
              const int y2 = h + ph - md, x2 = w + pw - md;
              if (y2 < 0 || y2 >= H || x2 < 0 || x2 >= W) continue;
              const float g = pg[(((static_cast<int64_t>(n) * P + ph) * P + pw) * H + h) * W + w];
              pga[((n * C + c) * H + h) * W + w] += g * pb[((n * C + c) * H + y2) * W + x2];
              pgb[((n * C + c) * H + y2) * W + x2] += g * pa[((n * C + c) * H + h) * W + w];
            }
  return {ga, gb};
}

void BM_correlation_vs_scalar_loop(benchmark::State& state) {
  at::manual_seed(2);
  const bool bwd = state.range(0) != 0;
  const auto a0 = at::randn({2, 64, 96, 128}), b0 = at::randn({2, 64, 96, 128});
  const auto a = a0.clone().requires_grad_(bwd), b = b0.clone().requires_grad_(bwd);
  const auto go = at::randn({2, 9, 9, 96, 128});
  auto ours = [&] {
    auto out = mmcv::ops::correlation(a, b, 1, 4);
    if (bwd) {
      out.backward(go);
      a.mutable_grad().reset();
      b.mutable_grad().reset();
    }
    return out;
  };
  auto peer = [&] {
    auto out = corr_loop(a0, b0, 4);
    if (bwd) benchmark::DoNotOptimize(corr_loop_backward(go, a0, b0, 4));
    return out;
  };
  run_pair(state, ours, peer, 1e-3, bwd ? "fwd+bwd" : "fwd");
}
BENCHMARK(BM_correlation_vs_scalar_loop)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// ---------------------------------------------------------------------------- masked_conv2d
void BM_masked_conv2d_vs_dense_conv(benchmark::State& state) {
  at::manual_seed(3);
  at::NoGradGuard ng;
  const double density = static_cast<double>(state.range(0)) / 100.0;
  const auto f = at::randn({1, 256, 100, 152}), w = at::randn({256, 256, 3, 3}) * 0.02, bias = at::randn({256});
  const auto mask = (at::rand({1, 100, 152}) < density).to(at::kFloat);
  run_pair(state, [&] { return mmcv::ops::masked_conv2d(f, mask, w, bias, 1, 1); },
           [&] { return at::conv2d(f, w, bias, 1, 1); }, 1e9 /* dense conv differs off the mask */,
           std::to_string(state.range(0)) + "% set");
}
BENCHMARK(BM_masked_conv2d_vs_dense_conv)->Arg(5)->Arg(50)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

// --------------------------------------------------------------------------------- psa_mask
at::Tensor psa_collect_loop(const at::Tensor& in_, int hm, int wm) {
  const auto in = in_.contiguous();
  const int N = in.size(0), H = in.size(2), W = in.size(3), hh = (hm - 1) / 2, hw = (wm - 1) / 2;
  auto out = at::zeros({N, H * W, H, W});
  const float* pi = in.data_ptr<float>();
  float* po = out.data_ptr<float>();
  for (int n = 0; n < N; ++n)
    for (int h = 0; h < H; ++h)
      for (int w = 0; w < W; ++w)
        for (int hi = std::max(0, hh - h); hi < std::min(hm, H + hh - h); ++hi)
          for (int wi = std::max(0, hw - w); wi < std::min(wm, W + hw - w); ++wi)
            po[((static_cast<int64_t>(n) * H * W + (hi + h - hh) * W + (wi + w - hw)) * H + h) * W + w] =
                pi[((static_cast<int64_t>(n) * hm * wm + hi * wm + wi) * H + h) * W + w];
  return out;
}

void BM_psa_mask_vs_scalar_loop(benchmark::State& state) {
  at::manual_seed(4);
  at::NoGradGuard ng;
  const auto in = at::randn({1, 225, 60, 60});
  run_pair(state, [&] { return mmcv::ops::psa_mask(in, "collect", {15, 15}); }, [&] { return psa_collect_loop(in, 15, 15); },
           0.0, "collect 1x225x60x60");
}
BENCHMARK(BM_psa_mask_vs_scalar_loop)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

// -------------------------------------------------------------------- active_rotated_filter
at::Tensor arf_loop(const at::Tensor& in_, const at::Tensor& idx_) {
  const auto in = in_.contiguous();
  const auto idx = idx_.contiguous();
  const int Co = in.size(0), Ci = in.size(1), O = in.size(2), kh = in.size(3), kw = in.size(4), R = idx.size(3);
  const int L = O * kh * kw;
  auto out = at::zeros({Co * R, Ci * O, kh, kw});
  const float* pi = in.data_ptr<float>();
  const int* px = idx.data_ptr<int>();
  float* po = out.data_ptr<float>();
  for (int i = 0; i < Co; ++i)
    for (int j = 0; j < Ci; ++j)
      for (int l = 0; l < L; ++l) {
        const float v = pi[(static_cast<int64_t>(i) * Ci + j) * L + l];
        for (int k = 0; k < R; ++k)
          po[static_cast<int64_t>(i) * R * Ci * L + static_cast<int64_t>(k) * Ci * L + j * L + px[l * R + k] - 1] = v;
      }
  return out;
}

void BM_active_rotated_filter_vs_scalar_loop(benchmark::State& state) {
  at::manual_seed(5);
  at::NoGradGuard ng;
  const auto in = at::randn({256, 256, 8, 3, 3});
  // A rotation table: orientation o -> (o + r) % 8 (a permutation per rotation).
  auto idx = at::empty({8, 3, 3, 8}, at::kInt);
  auto a = idx.accessor<int, 4>();
  for (int o = 0; o < 8; ++o)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x)
        for (int r = 0; r < 8; ++r) a[o][y][x][r] = ((o + r) % 8 * 3 + y) * 3 + x + 1;
  run_pair(state, [&] { return mmcv::ops::active_rotated_filter(in, idx); }, [&] { return arf_loop(in, idx); }, 0.0,
           "256x256x8x3x3, 8 rotations");
}
BENCHMARK(BM_active_rotated_filter_vs_scalar_loop)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

// -------------------------------------------------------------------------------- tin_shift
void BM_tin_shift_vs_group_gather(benchmark::State& state) {
  at::manual_seed(6);
  at::NoGradGuard ng;
  const int64_t N = 8, T = 8, C = 256, S = 56 * 56, G = 4;
  const auto in = at::randn({N, T, C, S});
  const auto shift = at::randint(-3, 4, {N, G}, at::kInt);
  // Peer: per group, index_select of the source frames (one per n) with out-of-range frames zeroed.
  auto peer = [&] {
    auto out = at::zeros_like(in);
    const auto sh = shift.to(at::kLong);
    for (int64_t g = 0; g < G; ++g) {
      const auto src = at::arange(T, at::kLong).view({1, T}) - sh.select(1, g).view({N, 1});  // [N, T]
      const auto valid = (src >= 0) & (src < T);
      const auto idx = (at::arange(N, at::kLong).view({N, 1}) * T + src.clamp(0, T - 1)).view({-1});
      const auto grp = in.narrow(2, g * (C / G), C / G).reshape({N * T, C / G, S});
      out.narrow(2, g * (C / G), C / G).copy_(grp.index_select(0, idx).view({N, T, C / G, S}) *
                                              valid.view({N, T, 1, 1}).to(in.scalar_type()));
    }
    return out;
  };
  run_pair(state, [&] { return mmcv::ops::tin_shift(in, shift); }, peer, 0.0, "[8, 8, 256, 3136], 4 groups");
}
BENCHMARK(BM_tin_shift_vs_group_gather)->Unit(benchmark::kMillisecond)->Iterations(5)->UseRealTime();

}  // namespace
