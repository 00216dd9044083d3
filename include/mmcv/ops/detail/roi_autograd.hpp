// SPDX-License-Identifier: Apache-2.0
#pragma once
// Custom autograd Functions for the RoI ops whose gradient goes to one pixel (roi_pool) or to the 4
// bilinear neighbours of one sample (roi_align, pool_mode "max") per bin and channel, as MMCV's
// backward kernels route it. The forward values are computed by the caller (a max over gathered
// windows / samples) and passed through; the Function only saves what MMCV's Function saves (the
// arg-max: pixel indices for roi_pool; for roi_align, which sample won, as rows of small per-axis
// tap tables instead of MMCV's argmax_y / argmax_x coordinates) and scatters grad_output in its
// backward.
//
// Why a Function rather than composing ATen ops: the composable carriers (gather / take of the
// arg-max pixels) cost a second element-wise pass in the forward and a transposed-index scatter in
// the backward, several times the whole op on CPU. Here the backward is one scatter_add per chunk
// along the [C, B*H*W] channel planes (each channel's scatter stays inside its plane: cache
// friendly and deterministic on CPU; atomics on CUDA, like MMCV).
// IWYU pragma: private, include <mmcv/ops/roi_align.hpp> or <mmcv/ops/roi_pool.hpp> instead.

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace mmcv {
namespace ops {
namespace detail {

/// Bins of one backward scatter chunk: bounds the [C, n, 4] tap temporaries.
inline constexpr int64_t kRoiScatterBudget = int64_t{1} << 22;

/// [C, B*H*W] channel-plane gradient -> [B, C, H, W] (contiguous).
inline at::Tensor roi_planes_to_input(const at::Tensor& planes, at::IntArrayRef input_shape) {
  return planes.view({input_shape[1], input_shape[0], input_shape[2], input_shape[3]}).transpose(0, 1).contiguous();
}

/// roi_pool: out = values; d input[b, c, pixel] += d out[j, c], pixel = index[j, c] (flat
/// b * H * W + y * W + x), for every bin j and channel c; index B*H*W means "no arg-max".
/// values, index: [N, C] (the forward's natural layout; transposed to channel planes in backward).
struct RoiPoolRoute : public torch::autograd::Function<RoiPoolRoute> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& values,
                            const at::Tensor& index) {
    ctx->save_for_backward({index});
    ctx->saved_data["shape"] = input.sizes().vec();
    return values;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto index = ctx->get_saved_variables()[0];
    const auto shape = ctx->saved_data["shape"].toIntVector();
    const int64_t BHW = shape[0] * shape[2] * shape[3];
    auto planes = at::zeros({shape[1], BHW + 1}, grads[0].options());  // + a dummy column for "no arg-max"
    planes.scatter_add_(1, index.t().contiguous(), grads[0].t().contiguous());
    return {roi_planes_to_input(planes.narrow(1, 0, BHW), shape), at::Tensor(), at::Tensor()};
  }
};

/// 1-D bilinear taps of roi_align's samples along one axis (MMCV's RoI rule), one entry per
/// (roi, bin row or column, sample): pixel low / high and their weights, already zeroed for a
/// sample outside [-1, size] (and, on the y axis, for a sample exactly at -1: MMCV's backward takes
/// argmax_y == -1 to mean "no arg-max"). The 2-D tap weights are products of a y and an x entry.
struct RoiMaxAxisTable {
  at::Tensor low, high;      // [R] int64
  at::Tensor w_low, w_high;  // [R] floating
};

/// Concatenate the tables of several chunks after one leading zero-weight entry (row 0: "no
/// arg-max"; the chunks' rows start at 1).
inline RoiMaxAxisTable roi_max_axis_table_cat(const std::vector<RoiMaxAxisTable>& parts) {
  const auto& f = parts.front();
  std::vector<at::Tensor> lo{at::zeros({1}, f.low.options())}, hi{at::zeros({1}, f.high.options())};
  std::vector<at::Tensor> wl{at::zeros({1}, f.w_low.options())}, wh{at::zeros({1}, f.w_high.options())};
  for (const auto& p : parts) {  // host-side: one entry per chunk
    lo.push_back(p.low);
    hi.push_back(p.high);
    wl.push_back(p.w_low);
    wh.push_back(p.w_high);
  }
  return {at::cat(lo), at::cat(hi), at::cat(wl), at::cat(wh)};
}

/// roi_align, max mode: out = values; d input gets d out[c, j] spread over the 4 bilinear taps of
/// the arg-max sample of bin j, channel c (MMCV's backward), whose 1-D taps are entry ry[c, j] of
/// the y table and rx[c, j] of the x table (entry 0, of weight zero, when the bin has no arg-max). The y
/// table holds flat row offsets b * H * W + y * W, the x table columns x.
/// values, ry, rx: [C, N].
struct RoiAlignMaxRoute : public torch::autograd::Function<RoiAlignMaxRoute> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& values,
                            const at::Tensor& ry, const at::Tensor& rx, const at::Tensor& y_low,
                            const at::Tensor& y_high, const at::Tensor& wy_low, const at::Tensor& wy_high,
                            const at::Tensor& x_low, const at::Tensor& x_high, const at::Tensor& wx_low,
                            const at::Tensor& wx_high) {
    ctx->save_for_backward({ry, rx, y_low, y_high, wy_low, wy_high, x_low, x_high, wx_low, wx_high});
    ctx->saved_data["shape"] = input.sizes().vec();
    return values;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const auto shape = ctx->saved_data["shape"].toIntVector();
    const int64_t C = shape[1], N = s[0].size(1);
    const auto g = grads[0].contiguous();
    auto planes = at::zeros({C, shape[0] * shape[2] * shape[3]}, g.options());
    // Chunks of channels: contiguous [c, N] slices of the saved rows and of g.
    const int64_t step = std::max<int64_t>(1, kRoiScatterBudget / std::max<int64_t>(1, N));
    const auto lookup = [](const at::Tensor& table, const at::Tensor& rows) {  // table[rows], rows [c, N]
      return table.index_select(0, rows.reshape({-1})).view(rows.sizes());
    };
    for (int64_t c0 = 0; c0 < C; c0 += step) {  // host-side: chunks of channels (bounded temporaries)
      const int64_t c = std::min(step, C - c0);
      const auto ry = s[0].narrow(0, c0, c), rx = s[1].narrow(0, c0, c);  // [c, N]
      const auto gc = g.narrow(0, c0, c);
      const auto yl = lookup(s[2], ry), yh = lookup(s[3], ry);
      const auto xl = lookup(s[6], rx), xh = lookup(s[7], rx);
      const auto gy_low = gc * lookup(s[4], ry).to(g.scalar_type());
      const auto gy_high = gc * lookup(s[5], ry).to(g.scalar_type());
      const auto wx_low = lookup(s[8], rx).to(g.scalar_type()), wx_high = lookup(s[9], rx).to(g.scalar_type());
      // MMCV's 4 additions: (y_low, x_low) hy*hx, (y_low, x_high) hy*lx, (y_high, x_low) ly*hx, (y_high, x_high) ly*lx
      auto pc = planes.narrow(0, c0, c);
      pc.scatter_add_(1, yl + xl, gy_low * wx_low);
      pc.scatter_add_(1, yl + xh, gy_low * wx_high);
      pc.scatter_add_(1, yh + xl, gy_high * wx_low);
      pc.scatter_add_(1, yh + xh, gy_high * wx_high);
    }
    torch::autograd::variable_list out(12);
    out[0] = roi_planes_to_input(planes, shape);
    return out;
  }
};

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
