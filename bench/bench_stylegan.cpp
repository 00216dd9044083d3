// SPDX-License-Identifier: Apache-2.0
// StyleGAN filter family vs MMCV's pure-PyTorch reference formulas written in ATen (MMCV's own
// CPU path), in the same process.
//
//   BM_upsample2d/HW/bwd, BM_downsample2d/HW/bwd
//       upsample2d / downsample2d by 2 with the 4-tap separable filter [1, 3, 3, 1] on
//       4x512x64x64 (HW = 64) and 4x128x256x256 (HW = 256); peer: _upfirdn2d_ref (zero
//       insertion, padding, grouped full-resolution convolutions, strided slice).
//   BM_filtered_lrelu/bwd: 4x512x64x64, 4-tap filters, up 2, down 2, padding 2 (output 64x64);
//       peer: _filtered_lrelu_ref on the reference upfirdn2d and _bias_act_ref.
//   BM_bias_act/bwd: lrelu with bias and clamp 256 on 16x512x64x64; peer: _bias_act_ref.
//   BM_fused_bias_leakyrelu/bwd: 16x512x64x64; peer: bias_leakyrelu_ref.
//   counters ours_ms, peer_ms, ratio (ours / peer); bwd = 1 adds the backward (grad_output = ones).

#include <mmcv/ops/bias_act.hpp>
#include <mmcv/ops/filtered_lrelu.hpp>
#include <mmcv/ops/fused_bias_leakyrelu.hpp>
#include <mmcv/ops/upfirdn2d.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// _upfirdn2d_ref in ATen (bench-only copy of tests/ops/stylegan_reference.hpp).
at::Tensor ref_upfirdn2d(const at::Tensor& input, at::Tensor f, std::array<int64_t, 2> up, std::array<int64_t, 2> down,
                         std::array<int64_t, 4> pad, double gain) {
  const int64_t B = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  auto x = input.reshape({B, C, H, 1, W, 1});
  x = at::constant_pad_nd(x, {0, up[0] - 1, 0, 0, 0, up[1] - 1});
  x = x.reshape({B, C, H * up[1], W * up[0]});
  x = at::constant_pad_nd(x, {std::max<int64_t>(pad[0], 0), std::max<int64_t>(pad[1], 0), std::max<int64_t>(pad[2], 0),
                              std::max<int64_t>(pad[3], 0)});
  x = x.slice(2, std::max<int64_t>(-pad[2], 0), x.size(2) - std::max<int64_t>(-pad[3], 0))
          .slice(3, std::max<int64_t>(-pad[0], 0), x.size(3) - std::max<int64_t>(-pad[1], 0));
  f = (f * std::pow(gain, f.dim() / 2.0)).to(x.scalar_type()).flip({0});
  const int64_t F = f.size(0);
  const std::vector<int64_t> one{1}, zero{0};
  x = at::conv2d(x, f.view({1, 1, 1, F}).repeat({C, 1, 1, 1}), at::Tensor(), one, zero, one, C);
  x = at::conv2d(x, f.view({1, 1, F, 1}).repeat({C, 1, 1, 1}), at::Tensor(), one, zero, one, C);
  return x.slice(2, 0, x.size(2), down[1]).slice(3, 0, x.size(3), down[0]);
}

void compare(benchmark::State& state, const at::Tensor& x, const std::function<at::Tensor()>& ours_fn,
             const std::function<at::Tensor()>& peer_fn, bool backward, const std::string& label) {
  double ours = 0, peer = 0;
  int64_t round = 0;
  for (auto _ : state) {
    // Alternate who runs first: the first large allocation of an iteration pays the page faults.
    at::Tensor a, b;
    auto run_ours = [&] {
      const auto t0 = Clock::now();
      a = ours_fn();
      if (backward) a.backward(at::ones_like(a));
      ours += ms_since(t0);
      if (backward) x.mutable_grad().reset();
    };
    auto run_peer = [&] {
      const auto t0 = Clock::now();
      b = peer_fn();
      if (backward) b.backward(at::ones_like(b));
      peer += ms_since(t0);
      if (backward) x.mutable_grad().reset();
    };
    if (++round % 2) { run_ours(); run_peer(); } else { run_peer(); run_ours(); }
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["ours_ms"] = ours / it;
  state.counters["peer_ms"] = peer / it;
  state.counters["ratio"] = ours / peer;
  state.SetLabel(label + (backward ? " fwd+bwd" : " fwd"));
}

at::Tensor workload(int64_t hw) {
  at::manual_seed(hw);
  return hw == 64 ? at::randn({4, 512, 64, 64}) : at::randn({4, 128, 256, 256});
}

const at::Tensor& filter4() {
  static const at::Tensor f = at::tensor({1.f, 3.f, 3.f, 1.f}) / 8.0;
  return f;
}

void BM_upsample2d(benchmark::State& state) {
  const bool backward = state.range(1) != 0;
  const auto x = workload(state.range(0)).requires_grad_(backward);
  const auto& f = filter4();
  // upsample2d's padding for a 4-tap filter, up 2: [2, 1, 2, 1], gain 4
  compare(state, x, [&] { return mmcv::ops::upsample2d(x, f, 2); },
          [&] { return ref_upfirdn2d(x, f, {2, 2}, {1, 1}, {2, 1, 2, 1}, 4.0); }, backward, "up 2, 4-tap");
}

void BM_downsample2d(benchmark::State& state) {
  const bool backward = state.range(1) != 0;
  const auto x = workload(state.range(0)).requires_grad_(backward);
  const auto& f = filter4();
  // downsample2d's padding for a 4-tap filter, down 2: [1, 1, 1, 1]
  compare(state, x, [&] { return mmcv::ops::downsample2d(x, f, 2); },
          [&] { return ref_upfirdn2d(x, f, {1, 1}, {2, 2}, {1, 1, 1, 1}, 1.0); }, backward, "down 2, 4-tap");
}

at::Tensor ref_bias_lrelu(const at::Tensor& x, const at::Tensor& b, double alpha, double gain, double clamp) {
  auto y = at::leaky_relu(x + b.view({1, -1, 1, 1}), alpha);
  if (gain != 1) y = y * gain;
  if (clamp >= 0) y = y.clamp(-clamp, clamp);
  return y;
}

void BM_filtered_lrelu(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  const auto x = workload(64).requires_grad_(backward);
  const auto& f = filter4();
  const auto b = at::randn({512});
  compare(state, x, [&] { return mmcv::ops::filtered_lrelu(x, f, f, b, 2, 2, 2); },
          [&] {
            auto y = ref_upfirdn2d(x + b.view({1, -1, 1, 1}), f, {2, 2}, {1, 1}, {2, 2, 2, 2}, 4.0);
            y = ref_bias_lrelu(y, at::zeros({512}), 0.2, std::sqrt(2.0), -1);
            return ref_upfirdn2d(y, f, {1, 1}, {2, 2}, {0, 0, 0, 0}, 1.0);
          },
          backward, "4x512x64x64 up 2 down 2");
}

at::Tensor big_workload() {
  at::manual_seed(16);
  return at::randn({16, 512, 64, 64});
}

void BM_bias_act(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  const auto x = big_workload().requires_grad_(backward);
  const auto b = at::randn({512});
  compare(state, x, [&] { return mmcv::ops::bias_act(x, b, 1, "lrelu", std::nullopt, std::nullopt, 256.0); },
          [&] { return ref_bias_lrelu(x, b, 0.2, std::sqrt(2.0), 256.0); }, backward, "16x512x64x64 lrelu+bias+clamp");
}

void BM_fused_bias_leakyrelu(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  const auto x = big_workload().requires_grad_(backward);
  const auto b = at::randn({512});
  compare(state, x, [&] { return mmcv::ops::fused_bias_leakyrelu(x, b); },
          [&] { return ref_bias_lrelu(x, b, 0.2, std::sqrt(2.0), -1); }, backward, "16x512x64x64");
}

BENCHMARK(BM_filtered_lrelu)->ArgsProduct({{0, 1}})->ArgNames({"bwd"})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_bias_act)->ArgsProduct({{0, 1}})->ArgNames({"bwd"})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_fused_bias_leakyrelu)->ArgsProduct({{0, 1}})->ArgNames({"bwd"})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_upsample2d)->ArgsProduct({{64, 256}, {0, 1}})->ArgNames({"HW", "bwd"})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_downsample2d)->ArgsProduct({{64, 256}, {0, 1}})->ArgNames({"HW", "bwd"})->Unit(benchmark::kMillisecond);

}  // namespace
