// SPDX-License-Identifier: Apache-2.0
// Focal losses vs MMCV's kernel formula written as plain ATen ops through autograd (what a user
// writes without MMCV's CUDA kernel; MMCV has no CPU kernel), in the same process.
//
//   BM_sigmoid_focal_loss/bwd, BM_softmax_focal_loss/bwd
//       ours and the peer on the same inputs, interleaved in every iteration; counters ours_ms,
//       peer_ms, ratio (ours / peer). bwd = 1: forward + backward of the 'mean' loss.
// Workload (issue 15): N = 100,000 anchors x K = 80 classes, float32, ~10% positives.

#include <mmcv/ops/focal_loss.hpp>

#include <benchmark/benchmark.h>

#include <cfloat>
#include <chrono>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

constexpr int64_t kN = 100000, kK = 80;

at::Tensor peer_sigmoid(const at::Tensor& x, const at::Tensor& t, double g, double a) {
  const auto pos = at::one_hot(t, kK + 1).narrow(1, 0, kK).to(x.scalar_type());
  const auto p = at::sigmoid(x);
  const auto lp = at::pow(1 - p, g) * at::log(at::clamp_min(p, FLT_MIN));
  const auto ln = at::pow(p, g) * at::log(at::clamp_min(1 - p, FLT_MIN));
  return (-a * pos * lp - (1 - a) * (1 - pos) * ln).sum() / static_cast<double>(x.size(0));
}

at::Tensor peer_softmax(const at::Tensor& x, const at::Tensor& t, double g, double a) {
  const auto s = at::softmax(x, 1);
  const auto p = s.gather(1, t.unsqueeze(1)).squeeze(1);
  return (-a * at::pow(1 - p, g) * at::log(at::clamp_min(p, FLT_MIN))).sum() / static_cast<double>(x.size(0));
}

template <bool Softmax>
void run(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  at::manual_seed(0);
  const auto x = at::randn({kN, kK}).requires_grad_(backward);
  // ~10% positives; the rest background (K) for sigmoid, a random class for softmax
  auto cls = at::randint(kK, {kN}, at::kLong);
  const auto t = Softmax ? cls : at::where(at::rand({kN}) < 0.1, cls, at::full({kN}, kK, at::kLong));
  double ours = 0, peer = 0;
  int64_t round = 0;
  for (auto _ : state) {
    // Alternate who runs first: the first large allocation of an iteration pays the page faults.
    at::Tensor a, b;
    auto run_ours = [&] {
      const auto t0 = Clock::now();
      a = Softmax ? mmcv::ops::softmax_focal_loss(x, t) : mmcv::ops::sigmoid_focal_loss(x, t);
      if (backward) a.backward();
      ours += ms_since(t0);
      if (backward) x.mutable_grad().reset();
    };
    auto run_peer = [&] {
      const auto t0 = Clock::now();
      b = Softmax ? peer_softmax(x, t, 2.0, 0.25) : peer_sigmoid(x, t, 2.0, 0.25);
      if (backward) b.backward();
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
  state.SetLabel(std::string("100000x80 ") + (backward ? "fwd+bwd" : "fwd"));
}

void BM_sigmoid_focal_loss(benchmark::State& state) { run<false>(state); }
void BM_softmax_focal_loss(benchmark::State& state) { run<true>(state); }

BENCHMARK(BM_sigmoid_focal_loss)->ArgsProduct({{0, 1}})->ArgNames({"bwd"})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_softmax_focal_loss)->ArgsProduct({{0, 1}})->ArgNames({"bwd"})->Unit(benchmark::kMillisecond);

}  // namespace
