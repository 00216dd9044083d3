// SPDX-License-Identifier: Apache-2.0
// A DCNv2 residual block as a torch::nn::Module, with weights loaded by MMCV's parameter names:
//   1. build the block: ModulatedDeformConv2dPack (MMCV's 'DCNv2') -> BatchNorm2d -> + input -> ReLU;
//   2. load a state_dict whose keys are those of the same block in Python with mmcv.ops
//      (dcn.weight, dcn.bias, dcn.conv_offset.weight, dcn.conv_offset.bias, bn.*): from a file
//      written in Python when a path is given, otherwise from built-in deterministic values;
//   3. run it on a built-in image and print what the deformable layer did.
// Prints deterministic output (compared with dcn_block.expected by ctest when run without a file).
//
// Usage: dcn_block [state_dict.pt]
//   In Python, with MMCV:  torch.save(dict(block.state_dict()), "state_dict.pt")
//   where block = nn.Module with .dcn = mmcv.ops.ModulatedDeformConv2dPack(8, 8, 3, padding=1)
//   and .bn = nn.BatchNorm2d(8).

#include <mmcv/ops/modulated_deform_conv_module.hpp>
#include <mmcv/ops/version.hpp>

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/nn/modules/batchnorm.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace {

constexpr int64_t kChannels = 8;

// The block. Submodule and parameter names follow the Python module, so keys match one to one.
struct DcnBlockImpl : torch::nn::Module {
  DcnBlockImpl()
      : dcn(register_module("dcn", mmcv::ops::ModulatedDeformConv2dPack(kChannels, kChannels, /*kernel_size=*/3,
                                                                        /*stride=*/1, /*padding=*/1))),
        bn(register_module("bn", torch::nn::BatchNorm2d(kChannels))) {}

  at::Tensor forward(const at::Tensor& x) { return at::relu(bn(dcn(x)) + x); }

  mmcv::ops::ModulatedDeformConv2dPack dcn;
  torch::nn::BatchNorm2d bn;
};
TORCH_MODULE(DcnBlock);

using StateDict = std::map<std::string, at::Tensor>;

// A state_dict saved from Python (a dict str -> Tensor, torch.save's default format).
StateDict read_state_dict(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  StateDict sd;
  for (const auto& kv : torch::jit::pickle_load(bytes).toGenericDict())
    sd[kv.key().toStringRef()] = kv.value().toTensor();
  return sd;
}

// Built-in weights with the keys MMCV's block has, from smooth deterministic formulas (what a
// trained checkpoint would hold; conv_offset is nonzero so the sampling really deforms).
StateDict builtin_state_dict() {
  const auto wave = [](at::IntArrayRef shape, double freq, double scale, double phase) {
    const int64_t n = c10::multiply_integers(shape);
    return (at::arange(n, at::kDouble).mul(freq).add(phase).sin().mul(scale)).to(at::kFloat).reshape(shape);
  };
  StateDict sd;
  sd["dcn.weight"] = wave({kChannels, kChannels, 3, 3}, 0.37, 0.25, 0.0);
  sd["dcn.bias"] = wave({kChannels}, 1.3, 0.05, 0.5);
  sd["dcn.conv_offset.weight"] = wave({3 * 9, kChannels, 3, 3}, 0.11, 0.08, 1.0);  // 2 * 9 offsets + 9 mask logits
  sd["dcn.conv_offset.bias"] = wave({3 * 9}, 0.7, 1.5, 2.0);
  sd["bn.weight"] = 1 + wave({kChannels}, 0.9, 0.2, 0.3);
  sd["bn.bias"] = 0.3 + wave({kChannels}, 0.5, 0.1, 0.7);
  sd["bn.running_mean"] = wave({kChannels}, 0.8, 0.3, 0.1);
  sd["bn.running_var"] = 1 + wave({kChannels}, 0.6, 0.4, 0.9).abs();
  sd["bn.num_batches_tracked"] = at::scalar_tensor(1000, at::kLong);
  return sd;
}

// Copies every parameter and buffer by name; fails loudly on a missing key or a shape mismatch.
void load_state_dict(torch::nn::Module& m, const StateDict& sd) {
  torch::NoGradGuard no_grad;
  const auto copy = [&](const std::string& key, at::Tensor& t) {
    const auto it = sd.find(key);
    if (it == sd.end()) throw std::runtime_error("state_dict has no key " + key);
    if (it->second.sizes() != t.sizes()) throw std::runtime_error("shape mismatch for " + key);
    t.copy_(it->second);
  };
  for (auto& kv : m.named_parameters()) copy(kv.key(), kv.value());
  for (auto& kv : m.named_buffers()) copy(kv.key(), kv.value());
}

std::string shape(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("mmcv-ops %s example: a DCNv2 block (ModulatedDeformConv2dPack) with MMCV weights\n",
              mmcv::ops::version_string);
  DcnBlock block;
  block->eval();

  std::printf("\n== 1. parameters and buffers (MMCV's state_dict keys) ==\n");
  for (const auto& kv : block->named_parameters())
    std::printf("  %-24s %s\n", kv.key().c_str(), shape(kv.value().sizes()).c_str());
  for (const auto& kv : block->named_buffers())
    std::printf("  %-24s %s\n", kv.key().c_str(), shape(kv.value().sizes()).c_str());

  std::printf("\n== 2. load weights ==\n");
  const StateDict sd = argc > 1 ? read_state_dict(argv[1]) : builtin_state_dict();
  load_state_dict(*block, sd);
  std::printf("  %zu tensors loaded from %s\n", sd.size(), argc > 1 ? argv[1] : "the built-in state_dict");

  std::printf("\n== 3. run on a 1 x %lld x 12 x 16 image ==\n", static_cast<long long>(kChannels));
  const auto yy = at::arange(12, at::kFloat).view({1, 1, 12, 1});
  const auto xx = at::arange(16, at::kFloat).view({1, 1, 1, 16});
  const auto ch = at::arange(kChannels, at::kFloat).view({1, kChannels, 1, 1});
  const auto image = (yy * 0.5 + ch).sin() * (xx * 0.3 - ch).cos();  // [1, 8, 12, 16]
  at::NoGradGuard no_grad;
  const auto out = block->forward(image);
  // What the deformable layer sampled: offsets and mask predicted by conv_offset (MMCV's split).
  const auto o = block->dcn->conv_offset->forward(image);
  const auto parts = o.chunk(3, 1);
  const auto offset = at::cat({parts[0], parts[1]}, 1);
  const auto mask = parts[2].sigmoid();
  std::printf("  offsets  %s  mean |offset| %.3f px, max |offset| %.3f px\n", shape(offset.sizes()).c_str(),
              offset.abs().mean().item<double>(), offset.abs().max().item<double>());
  std::printf("  mask     %s  mean %.3f (min %.3f, max %.3f)\n", shape(mask.sizes()).c_str(),
              mask.mean().item<double>(), mask.min().item<double>(), mask.max().item<double>());
  std::printf("  output   %s  mean %.4f, max %.4f, zeros after ReLU %lld of %lld\n", shape(out.sizes()).c_str(),
              out.mean().item<double>(), out.max().item<double>(),
              static_cast<long long>((out == 0).sum().item<int64_t>()), static_cast<long long>(out.numel()));
  std::printf("  output[0, :, 5, 7] =");
  for (int64_t c = 0; c < kChannels; ++c) std::printf(" %.4f", out[0][c][5][7].item<double>());
  std::printf("\n");
  // Without the learned offsets (zero offsets, same mask) the layer is a masked plain convolution.
  const auto rigid = mmcv::ops::modulated_deform_conv2d(image, at::zeros_like(offset), mask, block->dcn->weight,
                                                        block->dcn->bias, 1, 1);
  const auto dcn_out =
      mmcv::ops::modulated_deform_conv2d(image, offset, mask, block->dcn->weight, block->dcn->bias, 1, 1);
  std::printf("  deformable vs rigid sampling: mean |difference| %.4f\n",
              (dcn_out - rigid).abs().mean().item<double>());
  return 0;
}
