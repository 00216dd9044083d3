// SPDX-License-Identifier: Apache-2.0
// deform_conv2d and modulated_deform_conv2d vs torchvision's compiled torchvision::deform_conv2d
// (which MMCV's deformable convolutions equal), in the same process.
//
//   BM_deform_conv2d_vs_torchvision/workload/backward
//   BM_modulated_deform_conv2d_vs_torchvision/workload/backward
//       ours and torchvision::deform_conv2d (use_mask false / true) on the same inputs, the two
//       calls interleaved in every iteration; counters ours_ms, torchvision_ms and ratio
//       (ours / torchvision, lower is better). backward = 1: forward + backward through autograd
//       (grad_output fixed random) with every input requiring grad, for both. Before timing the two
//       forwards are checked to agree.
// Workloads (3x3 kernel, stride 1, padding 1, deform_groups 1, offsets ~ N(0, 2), mask =
// sigmoid(N(0, 1)), bias for the modulated op):
//   0: input 1x64x64x64, 64 -> 64 channels (the timing table of ../shared/reference)
//   1: input 2x256x50x76, 256 -> 256 channels (a detection neck level)

#include <mmcv/ops/deform_conv.hpp>
#include <mmcv/ops/modulated_deform_conv.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

#include "common/peer.hpp"

namespace {

struct Workload {
  at::Tensor input, offset, mask, weight, bias, grad_out;
  std::string label;
};

Workload make_workload(int64_t which) {
  at::manual_seed(which);
  const int64_t N = which == 0 ? 1 : 2, C = which == 0 ? 64 : 256, H = which == 0 ? 64 : 50, W = which == 0 ? 64 : 76;
  Workload w;
  w.input = at::randn({N, C, H, W});
  w.offset = at::randn({N, 18, H, W}) * 2;
  w.mask = at::randn({N, 9, H, W}).sigmoid();
  w.weight = at::randn({C, C, 3, 3}) * (1.0 / 48);
  w.bias = at::randn({C});
  w.grad_out = at::randn({N, C, H, W});
  w.label = std::to_string(N) + "x" + std::to_string(C) + "x" + std::to_string(H) + "x" + std::to_string(W) + " 3x3 " +
            std::to_string(C) + "->" + std::to_string(C);
  return w;
}

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// torchvision::deform_conv2d(input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w,
//                            dilation_h, dilation_w, groups, offset_groups, use_mask)
using TvDeformConv = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                const at::Tensor&, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                int64_t, bool);

void run(benchmark::State& state, bool modulated) {
  auto& tv = mmcv_bench::Torchvision::get();
  if (!tv.has_op("deform_conv2d")) {
    state.SkipWithError("torchvision absent");
    return;
  }
  const auto op = tv.op<TvDeformConv>("deform_conv2d");
  const auto w = make_workload(state.range(0));
  const bool backward = state.range(1) != 0;
  const int64_t N = w.input.size(0), O = w.weight.size(0);
  // torchvision's Python wrapper passes these when mask / bias are None.
  const auto no_mask = at::zeros({N, 1}), no_bias = at::zeros({O});

  const auto ours_call = [&](const at::Tensor& x, const at::Tensor& off, const at::Tensor& m, const at::Tensor& wt,
                             const at::Tensor& b) {
    return modulated ? mmcv::ops::modulated_deform_conv2d(x, off, m, wt, b, 1, 1)
                     : mmcv::ops::deform_conv2d(x, off, wt, 1, 1);
  };
  const auto tv_call = [&](const at::Tensor& x, const at::Tensor& off, const at::Tensor& m, const at::Tensor& wt,
                           const at::Tensor& b) {
    return op.call(x, wt, off, modulated ? m : no_mask, modulated ? b : no_bias, 1, 1, 1, 1, 1, 1, 1, 1, modulated);
  };
  {
    const auto a = ours_call(w.input, w.offset, w.mask, w.weight, w.bias);
    const auto b = tv_call(w.input, w.offset, w.mask, w.weight, w.bias);
    if (!at::allclose(a, b, 1e-4, 1e-3)) {
      state.SkipWithError("ours and torchvision disagree");
      return;
    }
  }
  const auto req = [&](const at::Tensor& t) { return t.clone().requires_grad_(backward); };
  auto x = req(w.input), off = req(w.offset), m = req(w.mask), wt = req(w.weight), b = req(w.bias);
  const auto clear = [&] {
    for (auto* t : {&x, &off, &m, &wt, &b}) t->mutable_grad().reset();
  };
  double ours = 0, peer = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto y = ours_call(x, off, m, wt, b);
    if (backward) y.backward(w.grad_out);
    ours += ms_since(t0);
    if (backward) clear();
    t0 = Clock::now();
    auto z = tv_call(x, off, m, wt, b);
    if (backward) z.backward(w.grad_out);
    peer += ms_since(t0);
    if (backward) clear();
    benchmark::DoNotOptimize(y);
    benchmark::DoNotOptimize(z);
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["ours_ms"] = ours / n;
  state.counters["torchvision_ms"] = peer / n;
  state.counters["ratio"] = ours / peer;
  state.SetLabel(w.label + (backward ? " fwd+bwd" : " fwd"));
}

void BM_deform_conv2d_vs_torchvision(benchmark::State& state) { run(state, false); }
void BM_modulated_deform_conv2d_vs_torchvision(benchmark::State& state) { run(state, true); }

void args(benchmark::internal::Benchmark* b) {
  for (int64_t workload : {0, 1})
    for (int64_t backward : {0, 1}) b->Args({workload, backward});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_deform_conv2d_vs_torchvision)->Apply(args);
BENCHMARK(BM_modulated_deform_conv2d_vs_torchvision)->Apply(args);

}  // namespace
