// SPDX-License-Identifier: Apache-2.0
// CARAFE upsampling of a feature map, as in an FPN neck with MMCV's 'carafe' upsampler:
//   1. build CARAFEPack (MMCV's submodule names: channel_compressor, content_encoder) and list its
//      state_dict keys, which are those of mmcv.ops.CARAFEPack in Python;
//   2. load built-in deterministic weights by those names;
//   3. upsample a built-in 1 x 4 x 8 x 8 feature map (a bright square on a ramp) by 2, and compare
//      with nearest-neighbour upsampling: the reassembly kernels are softmax-normalised, so a flat
//      region keeps its value, and the content-aware kernels are printed at one output pixel.
// Computed in float64 and printed rounded, so the output is the same on every LibTorch version
// and thread count (compared with carafe_upsample.expected by ctest).

#include <mmcv/ops/carafe_module.hpp>
#include <mmcv/ops/version.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>

namespace {

constexpr int64_t kChannels = 4, kSize = 8, kScale = 2, kUpKernel = 3, kCompressed = 8;

// Smooth deterministic values for a parameter of a given shape (what a trained model would hold).
at::Tensor formula(at::IntArrayRef shape, double a, double b, double scale) {
  auto i = at::arange(c10::multiply_integers(shape), at::kDouble);
  return (at::sin(i * a + b) * scale).view(shape);
}

// The feature map: a horizontal ramp plus a bright 3 x 3 square, channel c scaled by (c + 1) / 4.
at::Tensor feature_map() {
  auto x = at::arange(kSize, at::kDouble).view({1, 1, 1, kSize}).expand({1, kChannels, kSize, kSize}) / kSize;
  auto f = x.clone();
  f.narrow(2, 2, 3).narrow(3, 4, 3).add_(1.0);
  auto ch = (at::arange(kChannels, at::kDouble) + 1).view({1, kChannels, 1, 1}) / kChannels;
  return (f * ch).contiguous();
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", std::abs(v) < 5e-5 ? 0.0 : v);
  return buf;
}

}  // namespace

int main() {
  std::printf("mmcv-ops %s example: CARAFE upsampling (CARAFEPack) of a feature map\n\n", mmcv::ops::version_string);

  mmcv::ops::CARAFEPack up(kChannels, kScale, /*up_kernel=*/kUpKernel, /*up_group=*/1, /*encoder_kernel=*/3,
                           /*encoder_dilation=*/1, /*compressed_channels=*/kCompressed);
  up->to(at::kDouble);
  std::printf("== 1. parameters (MMCV's state_dict keys) ==\n");
  for (const auto& kv : up->named_parameters()) {
    std::string shape = "[";
    for (int64_t d = 0; d < kv.value().dim(); ++d) shape += (d ? ", " : "") + std::to_string(kv.value().size(d));
    std::printf("  %-28s %s\n", kv.key().c_str(), (shape + "]").c_str());
  }

  std::printf("\n== 2. load weights ==\n");
  std::map<std::string, at::Tensor> sd;
  int salt = 0;
  for (const auto& kv : up->named_parameters()) {
    ++salt;
    sd[kv.key()] = formula(kv.value().sizes(), 0.37 * salt, 0.11 * salt, kv.key().find("bias") != std::string::npos ? 0.05 : 0.3);
  }
  {
    torch::NoGradGuard no_grad;
    for (auto& kv : up->named_parameters()) kv.value().copy_(sd.at(kv.key()));
  }
  std::printf("  %zu tensors loaded from the built-in state_dict\n", sd.size());

  std::printf("\n== 3. upsample a 1 x %lld x %lld x %lld map by %lld ==\n", static_cast<long long>(kChannels),
              static_cast<long long>(kSize), static_cast<long long>(kSize), static_cast<long long>(kScale));
  torch::NoGradGuard no_grad;
  const auto f = feature_map();
  const auto y = up(f);
  const auto nearest = f.repeat_interleave(kScale, 2).repeat_interleave(kScale, 3);
  std::printf("  output   [%lld, %lld, %lld, %lld]\n", static_cast<long long>(y.size(0)),
              static_cast<long long>(y.size(1)), static_cast<long long>(y.size(2)), static_cast<long long>(y.size(3)));
  std::printf("  mean: input %s, CARAFE %s, nearest %s\n", fmt(f.mean().item<double>()).c_str(),
              fmt(y.mean().item<double>()).c_str(), fmt(nearest.mean().item<double>()).c_str());
  // Interior pixels (every tap inside the map) of a flat region keep their value exactly.
  const auto flat = at::ones({1, kChannels, kSize, kSize}, at::kDouble);
  const auto yf = up(flat).narrow(2, 2, 2 * kSize - 4).narrow(3, 2, 2 * kSize - 4);
  std::printf("  flat map, interior: max |CARAFE - 1| = %s\n", fmt((yf - 1).abs().max().item<double>()).c_str());
  std::printf("  mean |CARAFE - nearest| = %s\n", fmt((y - nearest).abs().mean().item<double>()).c_str());
  std::printf("  channel 3, output row 6 (through the square):\n   ");
  for (int64_t q = 0; q < 2 * kSize; ++q) std::printf(" %s", fmt(y[0][3][6][q].item<double>()).c_str());
  std::printf("\n");

  // The normalised 3 x 3 reassembly kernel at output pixel (6, 8): weights sum to 1.
  const auto masks = up->kernel_normalizer(up->content_encoder(up->channel_compressor(f)));
  const auto kern = masks[0].select(1, 6).select(1, 8).view({kUpKernel, kUpKernel});
  std::printf("  reassembly kernel at output (6, 8), sum %s:\n", fmt(kern.sum().item<double>()).c_str());
  for (int64_t r = 0; r < kUpKernel; ++r) {
    std::printf("   ");
    for (int64_t c = 0; c < kUpKernel; ++c) std::printf(" %s", fmt(kern[r][c].item<double>()).c_str());
    std::printf("\n");
  }
  return 0;
}
