// SPDX-License-Identifier: Apache-2.0
#pragma once
// CARAFE: content-aware reassembly of features. Mirrors mmcv/ops/carafe.py: the functions
// mmcv.ops.carafe and mmcv.ops.carafe_naive (two MMCV kernels of one formula, one implementation
// here) are in this header; the modules CARAFE, CARAFENaive and CARAFEPack are in
// <mmcv/ops/carafe_module.hpp>. MMCV has no CPU kernel: the semantics are those of
// common/cuda/carafe_cuda_kernel.cuh / carafe_naive_cuda_kernel.cuh.
//
// Strategy: output pixel (h * s + i, w * s + j) of group g is the dot product of its k*k mask
// values with the k x k window of source pixel (h, w). For one source pixel, the s*s output pixels
// of a group are one small matrix product [s*s, k*k] x [k*k, C/G]. The zero-padded features are
// viewed channels-last; a strided view exposes every window as [k, k, G, C/G] with no copy; per
// image and chunk of source rows, the windows are copied once into the batched-matmul layout and one
// at::matmul produces the chunk's output, written into the NCHW result. A custom autograd Function
// recomputes the windows in its backward: the mask gradient is a second batched product with
// grad_output, and the feature gradient is the transposed product folded back over the k*k taps
// (k*k strided adds per chunk). Temporaries are bounded by the chunk budget.

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mmcv/ops/detail/check.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// Elements of one chunk's gathered windows (rows x W x k*k x C): bounds carafe's temporaries.
inline constexpr int64_t kCarafeChunkBudget = int64_t{1} << 23;

struct CarafeGeometry {
  int64_t N, C, H, W, k, G, s;
  int64_t Cg() const { return C / G; }
  int64_t r() const { return (k - 1) / 2; }
  int64_t Hp() const { return H + 2 * r(); }
  int64_t Wp() const { return W + 2 * r(); }
  // Source rows per chunk.
  int64_t rows() const { return std::max<int64_t>(1, kCarafeChunkBudget / std::max<int64_t>(1, W * k * k * C)); }
};

/// Zero-padded channels-last features [N, Hp, Wp, C].
inline at::Tensor carafe_padded_cl(const at::Tensor& f, const CarafeGeometry& g) {
  return at::constant_pad_nd(f, {g.r(), g.r(), g.r(), g.r()}, 0).permute({0, 2, 3, 1}).contiguous();
}

/// Masks [N, G*k*k, H*s, W*s] -> [N, H, W, G, s*s, k*k] (contiguous).
inline at::Tensor carafe_masks_rows(const at::Tensor& masks, const CarafeGeometry& g) {
  return masks.view({g.N, g.G, g.k * g.k, g.H, g.s, g.W, g.s})
      .permute({0, 3, 5, 1, 4, 6, 2})
      .reshape({g.N, g.H, g.W, g.G, g.s * g.s, g.k * g.k});
}

/// Windows of source rows [h0, h0 + hc) of image n: [hc, W, G, k*k, C/G] (a copy).
inline at::Tensor carafe_windows(const at::Tensor& fcl, const CarafeGeometry& g, int64_t n, int64_t h0, int64_t hc) {
  const int64_t C = g.C, Wp = g.Wp(), Cg = g.Cg();
  const auto img = fcl.select(0, n).narrow(0, h0, hc + g.k - 1);
  return img.as_strided({hc, g.W, g.G, g.k, g.k, Cg}, {Wp * C, C, Cg, Wp * C, C, 1})
      .reshape({hc, g.W, g.G, g.k * g.k, Cg});
}

/// The forward, no autograd. features [N, C, H, W], masks [N, G*k*k, H*s, W*s] -> [N, C, H*s, W*s].
inline at::Tensor carafe_forward_impl(const at::Tensor& features, const at::Tensor& masks, const CarafeGeometry& g) {
  auto out = at::empty({g.N, g.C, g.H * g.s, g.W * g.s}, features.options());
  if (out.numel() == 0) return out;
  const auto fcl = carafe_padded_cl(features, g);
  const auto mr = carafe_masks_rows(masks, g);
  const auto ov = out.view({g.N, g.G, g.Cg(), g.H, g.s, g.W, g.s});
  const int64_t step = g.rows();
  for (int64_t n = 0; n < g.N; ++n) {              // host-side: images
    for (int64_t h0 = 0; h0 < g.H; h0 += step) {   // host-side: chunks of source rows (bounded memory)
      const int64_t hc = std::min(step, g.H - h0);
      const auto win = carafe_windows(fcl, g, n, h0, hc);                         // [hc, W, G, kk, Cg]
      const auto res = at::matmul(mr.select(0, n).narrow(0, h0, hc), win);        // [hc, W, G, ss, Cg]
      ov.select(0, n).narrow(2, h0, hc).copy_(res.view({hc, g.W, g.G, g.s, g.s, g.Cg()}).permute({2, 5, 0, 3, 1, 4}));
    }
  }
  return out;
}

/// Gradients of carafe: (grad_features, grad_masks), no autograd.
inline std::pair<at::Tensor, at::Tensor> carafe_backward_impl(const at::Tensor& grad_out, const at::Tensor& features,
                                                              const at::Tensor& masks, const CarafeGeometry& g) {
  auto gfcl = at::zeros({g.N, g.Hp(), g.Wp(), g.C}, features.options());
  auto gmr = at::empty({g.N, g.H, g.W, g.G, g.s * g.s, g.k * g.k}, masks.options());
  if (grad_out.numel() > 0) {
    const auto fcl = carafe_padded_cl(features, g);
    const auto mr = carafe_masks_rows(masks, g);
    const auto gv = grad_out.contiguous().view({g.N, g.G, g.Cg(), g.H, g.s, g.W, g.s});
    const int64_t step = g.rows();
    for (int64_t n = 0; n < g.N; ++n) {             // host-side: images
      for (int64_t h0 = 0; h0 < g.H; h0 += step) {  // host-side: chunks of source rows (bounded memory)
        const int64_t hc = std::min(step, g.H - h0);
        const auto win = carafe_windows(fcl, g, n, h0, hc);  // [hc, W, G, kk, Cg]
        const auto m = mr.select(0, n).narrow(0, h0, hc);    // [hc, W, G, ss, kk]
        const auto go = gv.select(0, n).narrow(2, h0, hc).permute({2, 4, 0, 3, 5, 1})
                            .reshape({hc, g.W, g.G, g.s * g.s, g.Cg()});  // [hc, W, G, ss, Cg]
        gmr.select(0, n).narrow(0, h0, hc).copy_(at::matmul(go, win.transpose(-1, -2)));
        const auto gwin = at::matmul(m.transpose(-1, -2), go).view({hc, g.W, g.G, g.k, g.k, g.Cg()});
        auto dst = gfcl.select(0, n).view({g.Hp(), g.Wp(), g.G, g.Cg()});
        for (int64_t dy = 0; dy < g.k; ++dy)    // host-side: fold the k*k taps back
          for (int64_t dx = 0; dx < g.k; ++dx)  // host-side: fold the k*k taps back
            dst.narrow(0, h0 + dy, hc).narrow(1, dx, g.W).add_(gwin.select(3, dy).select(3, dx));
      }
    }
  } else {
    gmr.zero_();
  }
  const auto gf = gfcl.narrow(1, g.r(), g.H).narrow(2, g.r(), g.W).permute({0, 3, 1, 2}).contiguous();
  const auto gm = gmr.view({g.N, g.H, g.W, g.G, g.s, g.s, g.k * g.k})
                      .permute({0, 3, 6, 1, 4, 2, 5})
                      .reshape({g.N, g.G * g.k * g.k, g.H * g.s, g.W * g.s});
  return {gf, gm};
}

struct CarafeFunction : public torch::autograd::Function<CarafeFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& features, const at::Tensor& masks,
                            int64_t k, int64_t G, int64_t s) {
    ctx->save_for_backward({features, masks});
    ctx->saved_data["k"] = k;
    ctx->saved_data["G"] = G;
    ctx->saved_data["s"] = s;
    const CarafeGeometry g{features.size(0), features.size(1), features.size(2), features.size(3), k, G, s};
    return carafe_forward_impl(features, masks, g);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& f = saved[0];
    const CarafeGeometry g{f.size(0), f.size(1), f.size(2), f.size(3), ctx->saved_data["k"].toInt(),
                           ctx->saved_data["G"].toInt(), ctx->saved_data["s"].toInt()};
    const auto gr = carafe_backward_impl(grads[0], f, saved[1], g);
    return {gr.first, gr.second, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

inline at::Tensor carafe_checked(const char* op, const at::Tensor& features, const at::Tensor& masks,
                                 int64_t kernel_size, int64_t group_size, int64_t scale_factor) {
  detail::check_floating(features, op, "features", /*allow_half=*/!features.is_cpu());
  detail::check_same_dtype(features, masks, op, "features", "masks");
  detail::check_same_device(features, masks, op, "features", "masks");
  detail::check_positive(kernel_size, op, "kernel_size");
  detail::check_arg(kernel_size % 2 == 1, op, "kernel_size", "be odd", kernel_size);
  detail::check_positive(group_size, op, "group_size");
  detail::check_positive(scale_factor, op, "scale_factor");
  detail::check_dim(features, 4, op, "features");
  detail::check_dim(masks, 4, op, "masks");
  const int64_t N = features.size(0), C = features.size(1), H = features.size(2), W = features.size(3);
  detail::check_arg(C % group_size == 0, op, "features",
                    "have a channel count divisible by group_size = " + std::to_string(group_size), C);
  const int64_t kk = detail::checked_mul(kernel_size, kernel_size, op, "kernel_size^2");
  const int64_t Gkk = detail::checked_mul(group_size, kk, op, "group_size * kernel_size^2");
  const int64_t Hs = detail::checked_mul(H, scale_factor, op, "H * scale_factor");
  const int64_t Ws = detail::checked_mul(W, scale_factor, op, "W * scale_factor");
  detail::checked_prod({N, C, Hs, Ws}, op, "output numel");
  const std::vector<int64_t> want{N, Gkk, Hs, Ws};
  detail::check_arg(masks.sizes() == at::IntArrayRef(want), op, "masks",
                    "have shape [N, group_size * kernel_size^2, H * scale_factor, W * scale_factor] = " +
                        detail::shape_str(want),
                    detail::shape_str(masks.sizes()));
  detail::checked_prod({W, kk, C}, op, "W * kernel_size^2 * C");
  return CarafeFunction::apply(features.contiguous(), masks.contiguous(), kernel_size, group_size, scale_factor);
}

}  // namespace detail

/// CARAFE upsampling: each output pixel is a mask-weighted sum of the k x k window around its
/// source pixel (h / s, w / s).
///
/// MMCV: `mmcv.ops.carafe(features, masks, kernel_size, group_size, scale_factor)`
///
/// @param features      Tensor[N, C, H, W], float32 or float64 (float16 / bfloat16 off CPU).
/// @param masks         Tensor[N, group_size * k * k, H * s, W * s], same dtype and device, used
///                      as given (normalise them first; CARAFEPack applies a softmax).
/// @param kernel_size   k, odd and positive.
/// @param group_size    G, positive, C % G == 0; channel c uses mask group c / (C / G).
/// @param scale_factor  s, positive.
/// @return Tensor[N, C, H * s, W * s]: out[n, c, P, Q] = sum_{dy, dx < k} f[n, c, P / s + dy - r,
///         Q / s + dx - r] * masks[n, g * k * k + dy * k + dx, P, Q], r = (k - 1) / 2, taps
///         outside the map contribute 0.
/// @throws c10::Error: non-floating or mismatched dtypes, device mismatch, wrong ranks, kernel_size
///         not odd and positive, group_size or scale_factor not positive, C % G != 0, masks of
///         another shape.
/// @note Differentiable w.r.t. features and masks (the exact adjoint, MMCV's backward). MMCV's
///       float64 kernels stage the masks in float32 shared memory; this computes in full float64
///       (docs/differences.md). Memory: the output plus chunk temporaries of about
///       max(2^23, W * k * k * C) elements (and as much again in the backward).
inline at::Tensor carafe(const at::Tensor& features, const at::Tensor& masks, int64_t kernel_size, int64_t group_size,
                         int64_t scale_factor) {
  return detail::carafe_checked("carafe", features, masks, kernel_size, group_size, scale_factor);
}

/// MMCV: `mmcv.ops.carafe_naive(features, masks, kernel_size, group_size, scale_factor)`: the same
/// formula as carafe (MMCV's naive kernel); the same numbers here.
inline at::Tensor carafe_naive(const at::Tensor& features, const at::Tensor& masks, int64_t kernel_size,
                               int64_t group_size, int64_t scale_factor) {
  return detail::carafe_checked("carafe_naive", features, masks, kernel_size, group_size, scale_factor);
}

}  // namespace ops
}  // namespace mmcv
