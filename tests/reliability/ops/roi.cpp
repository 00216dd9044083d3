// SPDX-License-Identifier: Apache-2.0
// Reliability specs for include/mmcv/ops/roi_align.hpp and roi_pool.hpp. Loop references: MMCV's
// CPU ROIAlignForward (cpu/roi_align.cpp, pre_calc included) and its CUDA roi_pool kernel
// (common/cuda/roi_pool_cuda_kernel.cuh), in the input's dtype.

#include <mmcv/ops/roi_align.hpp>
#include <mmcv/ops/roi_pool.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "common/peer.hpp"
#include "reliability/reliability.hpp"

namespace {

using mmcv_rel::ArgKind;
using mmcv_rel::Gen;
using mmcv_rel::OpSpec;
using mmcv_rel::Sample;
using mmcv_rel::Tensors;
using mmcv_rel::Verdict;

// One sample of MMCV's pre_calc + accumulation. Out-of-window points: MMCV's CPU code keeps
// positions 0 and weights 0 (so 0 * v[0] is still evaluated: a NaN at pixel (0, 0) reaches them),
// its CUDA kernel returns 0 without reading (`cuda_semantics`).
template <typename T>
T roi_sample(const T* img, int H, int W, T y, T x, bool cuda_semantics = false) {
  if (cuda_semantics && (y < -1.0 || y > H || x < -1.0 || x > W)) return 0;
  T w1 = 0, w2 = 0, w3 = 0, w4 = 0;
  int p1 = 0, p2 = 0, p3 = 0, p4 = 0;
  if (!(y < -1.0 || y > H || x < -1.0 || x > W)) {
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int y_low = static_cast<int>(y), x_low = static_cast<int>(x), y_high, x_high;
    if (y_low >= H - 1) {
      y_high = y_low = H - 1;
      y = static_cast<T>(y_low);
    } else {
      y_high = y_low + 1;
    }
    if (x_low >= W - 1) {
      x_high = x_low = W - 1;
      x = static_cast<T>(x_low);
    } else {
      x_high = x_low + 1;
    }
    const T ly = y - y_low, lx = x - x_low;
    const T hy = static_cast<T>(1. - ly), hx = static_cast<T>(1. - lx);
    w1 = hy * hx, w2 = hy * lx, w3 = ly * hx, w4 = ly * lx;
    p1 = y_low * W + x_low, p2 = y_low * W + x_high, p3 = y_high * W + x_low, p4 = y_high * W + x_high;
  }
  return w1 * img[p1] + w2 * img[p2] + w3 * img[p3] + w4 * img[p4];
}

template <typename T>
at::Tensor loop_roi_align(const at::Tensor& input_, const at::Tensor& rois_, int PH, int PW, double scale_d, int sr,
                          bool max_mode, bool aligned, bool cuda_semantics = false) {
  auto input = input_.contiguous();
  auto rois = rois_.contiguous();
  const int K = static_cast<int>(rois.size(0)), C = static_cast<int>(input.size(1));
  const int H = static_cast<int>(input.size(2)), W = static_cast<int>(input.size(3));
  auto out = at::zeros({K, C, PH, PW}, input.options());
  const T* pin = input.data_ptr<T>();
  const T* pr = rois.data_ptr<T>();
  T* po = out.data_ptr<T>();
  const T scale = static_cast<T>(static_cast<float>(scale_d));
  for (int n = 0; n < K; ++n) {
    const T* r = pr + n * 5;
    const int b = static_cast<int>(r[0]);
    const T off = aligned ? static_cast<T>(0.5) : static_cast<T>(0);
    const T sw = r[1] * scale - off, sh = r[2] * scale - off, ew = r[3] * scale - off, eh = r[4] * scale - off;
    T rw = ew - sw, rh = eh - sh;
    if (!aligned) rw = std::max(rw, static_cast<T>(1)), rh = std::max(rh, static_cast<T>(1));
    const T bh = rh / static_cast<T>(PH), bw = rw / static_cast<T>(PW);
    const int gh = sr > 0 ? sr : static_cast<int>(std::ceil(static_cast<float>(rh / PH)));
    const int gw = sr > 0 ? sr : static_cast<int>(std::ceil(static_cast<float>(rw / PW)));
    const T count = static_cast<T>(std::max(gh * gw, 1));
    for (int c = 0; c < C; ++c) {
      const T* img = pin + (static_cast<int64_t>(b) * C + c) * H * W;
      for (int ph = 0; ph < PH; ++ph)
        for (int pw = 0; pw < PW; ++pw) {
          T sum = 0, mx = -10000;
          for (int iy = 0; iy < gh; ++iy) {
            const T y = sh + ph * bh + static_cast<T>(iy + .5f) * bh / static_cast<T>(gh);
            for (int ix = 0; ix < gw; ++ix) {
              const T x = sw + pw * bw + static_cast<T>(ix + .5f) * bw / static_cast<T>(gw);
              const T v = roi_sample<T>(img, H, W, y, x, cuda_semantics);
              if (v > mx) mx = v;
              sum += v;
            }
          }
          po[((n * C + c) * PH + ph) * PW + pw] = max_mode ? mx : sum / count;
        }
    }
  }
  return out;
}

template <typename T>
at::Tensor loop_roi_pool(const at::Tensor& input_, const at::Tensor& rois_, int PH, int PW, double scale_d) {
  auto input = input_.contiguous();
  auto rois = rois_.contiguous();
  const int K = static_cast<int>(rois.size(0)), C = static_cast<int>(input.size(1));
  const int H = static_cast<int>(input.size(2)), W = static_cast<int>(input.size(3));
  auto out = at::zeros({K, C, PH, PW}, input.options());
  const T* pin = input.data_ptr<T>();
  const T* pr = rois.data_ptr<T>();
  T* po = out.data_ptr<T>();
  const T scale = static_cast<T>(static_cast<float>(scale_d));
  for (int n = 0; n < K; ++n) {
    const T* r = pr + n * 5;
    const int b = static_cast<int>(r[0]);
    const T sw = r[1] * scale, sh = r[2] * scale, ew = (r[3] + 1) * scale, eh = (r[4] + 1) * scale;
    const T rw = ew - sw, rh = eh - sh;
    if (rw <= 0 || rh <= 0) continue;
    const T bw = rw / static_cast<T>(PW), bh = rh / static_cast<T>(PH);
    for (int c = 0; c < C; ++c) {
      const T* img = pin + (static_cast<int64_t>(b) * C + c) * H * W;
      for (int ph = 0; ph < PH; ++ph)
        for (int pw = 0; pw < PW; ++pw) {
          int hs = static_cast<int>(std::floor(static_cast<T>(ph) * bh + sh));
          int ws = static_cast<int>(std::floor(static_cast<T>(pw) * bw + sw));
          int he = static_cast<int>(std::ceil(static_cast<T>(ph + 1) * bh + sh));
          int we = static_cast<int>(std::ceil(static_cast<T>(pw + 1) * bw + sw));
          hs = std::min(std::max(hs, 0), H), he = std::min(std::max(he, 0), H);
          ws = std::min(std::max(ws, 0), W), we = std::min(std::max(we, 0), W);
          const bool empty = he <= hs || we <= ws;
          T mx = empty ? 0 : -FLT_MAX;
          for (int h = hs; h < he; ++h)
            for (int w = ws; w < we; ++w)
              if (img[h * W + w] > mx) mx = img[h * W + w];
          po[((n * C + c) * PH + ph) * PW + pw] = mx;
        }
    }
  }
  return out;
}

// rois [K, 5] (batch, x1, y1, x2, y2) for a B x H x W map seen through spatial_scale.
at::Tensor random_rois(Gen& g, int64_t K, int64_t B, int64_t H, int64_t W, double scale, at::ScalarType dt) {
  std::vector<double> v;
  const double iw = W / scale, ih = H / scale;
  for (int64_t k = 0; k < K; ++k) {
    const double b = g.coin(0.3) ? static_cast<double>(g.pick<int64_t>({0, B - 1})) : static_cast<double>(g.integer(0, B - 1));
    double x1, y1, w, h;
    const double r = g.uniform();
    if (r < 0.6) {  // inside-ish
      x1 = g.uniform(-0.2 * iw, iw), y1 = g.uniform(-0.2 * ih, ih), w = g.uniform(0, iw), h = g.uniform(0, ih);
    } else if (r < 0.75) {  // integer grid: sample points on pixel centres and window edges
      x1 = static_cast<double>(g.integer(-2, static_cast<int64_t>(iw))), y1 = static_cast<double>(g.integer(-2, static_cast<int64_t>(ih)));
      w = static_cast<double>(g.integer(0, static_cast<int64_t>(iw))), h = static_cast<double>(g.integer(0, static_cast<int64_t>(ih)));
    } else if (r < 0.85) {  // degenerate
      x1 = g.uniform(0, iw), y1 = g.uniform(0, ih), w = g.coin() ? 0 : g.uniform(0, 1), h = g.coin() ? 0 : g.uniform(0, 1);
    } else {  // far outside / huge
      x1 = g.pick({-1e4, 1e4, -3 * iw}), y1 = g.uniform(-3 * ih, 3 * ih), w = g.uniform(0, 4 * iw), h = g.uniform(0, 4 * ih);
    }
    v.insert(v.end(), {b + (g.coin(0.1) ? 0.75 : 0.0), x1, y1, x1 + w, y1 + h});  // fractional batch index truncates
  }
  return at::tensor(v, at::kDouble).reshape({K, 5}).to(dt);
}

Sample roi_sample_gen(Gen& g, bool pool) {
  Sample s;
  const auto dt = g.coin(0.7) ? at::kFloat : at::kDouble;
  const int64_t B = g.integer(1, 3), C = g.integer(1, 3), H = g.integer(1, 9), W = g.integer(1, 9);
  const double scale = g.pick({1.0, 0.5, 0.25, 0.125});
  s.nums["spatial_scale"] = scale;
  s.nums["oh"] = static_cast<double>(g.integer(1, 4));
  s.nums["ow"] = static_cast<double>(g.integer(1, 4));
  if (!pool) {
    s.nums["sampling_ratio"] = static_cast<double>(g.pick<int64_t>({0, 0, 1, 2, 3}));
    s.nums["aligned"] = g.coin();
    s.strs["pool_mode"] = g.coin(0.7) ? "avg" : "max";
  }
  s.add("input", g.uniform_tensor({B, C, H, W}, -5, 5, dt));
  s.add("rois", random_rois(g, g.count(8), B, H, W, scale, dt));
  s.group({{"rois", 0}});
  return s;
}

at::Tensor call_align(const Sample& s, const at::Tensor& input, const at::Tensor& rois) {
  return mmcv::ops::roi_align(input, rois, {s.integer("oh"), s.integer("ow")}, s.num("spatial_scale"),
                              s.integer("sampling_ratio"), s.str("pool_mode"), s.num("aligned") != 0);
}

// Reversing the batch order and remapping the indices gives the same output (bit for bit).
at::Tensor flip_batch_rois(const at::Tensor& rois, int64_t B) {
  auto r = rois.clone();
  if (r.size(0)) r.select(1, 0).copy_(static_cast<double>(B - 1) - rois.select(1, 0).trunc());
  return r;
}

void check_align(const Sample& s, Verdict& v) {
  const auto& input = s.t("input");
  const auto& rois = s.t("rois");
  const bool aligned = s.num("aligned") != 0;
  const auto out = call_align(s, input, rois);
  const int PH = static_cast<int>(s.integer("oh")), PW = static_cast<int>(s.integer("ow"));
  v.require(out.sizes() == at::IntArrayRef({rois.size(0), input.size(1), PH, PW}), "output shape");
  v.require(out.scalar_type() == input.scalar_type(), "output dtype");
  if (!v.ok()) return;
  const bool mx = s.str("pool_mode") == "max";
  const int sr = static_cast<int>(s.integer("sampling_ratio"));
  const double scale = s.num("spatial_scale");
  const auto ref = input.scalar_type() == at::kDouble
                       ? loop_roi_align<double>(input, rois, PH, PW, scale, sr, mx, aligned)
                       : loop_roi_align<float>(input, rois, PH, PW, scale, sr, mx, aligned);
  v.close(out, ref, input.scalar_type() == at::kDouble ? mmcv_test::Tol{1e-10, 1e-10} : mmcv_test::Tol{1e-5, 1e-5},
          "vs MMCV ROIAlignForward loop reference");
  v.equal(call_align(s, input.flip({0}), flip_batch_rois(rois, input.size(0))), out, "batch order equivariance");
  if (!mx) {  // linearity of average pooling in the feature map
    const auto other = at::sin(input);
    v.close(call_align(s, input * 2.0 - other * 3.0, rois), out * 2.0 - call_align(s, other, rois) * 3.0,
            {1e-4, 1e-4}, "linearity in the input");
  }
}

void check_pool(const Sample& s, Verdict& v) {
  const auto& input = s.t("input");
  const auto& rois = s.t("rois");
  const int PH = static_cast<int>(s.integer("oh")), PW = static_cast<int>(s.integer("ow"));
  const double scale = s.num("spatial_scale");
  const auto out = mmcv::ops::roi_pool(input, rois, {PH, PW}, scale);
  v.require(out.sizes() == at::IntArrayRef({rois.size(0), input.size(1), PH, PW}), "output shape");
  if (!v.ok()) return;
  const auto ref = input.scalar_type() == at::kDouble ? loop_roi_pool<double>(input, rois, PH, PW, scale)
                                                      : loop_roi_pool<float>(input, rois, PH, PW, scale);
  v.equal(out, ref, "vs MMCV roi_pool CUDA-kernel loop reference (a max: exact)");
  v.equal(mmcv::ops::roi_pool(input.flip({0}), flip_batch_rois(rois, input.size(0)), {PH, PW}, scale), out,
          "batch order equivariance");
}

Tensors fixed_inputs(uint64_t seed, int64_t B, int64_t C, int64_t H, int64_t W, int64_t K, double scale) {
  Gen g(seed);
  return {g.uniform_tensor({B, C, H, W}, -5, 5, at::kFloat), random_rois(g, K, B, H, W, scale, at::kFloat)};
}

void roi_bad_rows(OpSpec& s, const std::string& op,
                  const std::function<at::Tensor(const at::Tensor&, const at::Tensor&, at::IntArrayRef, double)>& f) {
  const auto x = [] { return fixed_inputs(3, 2, 2, 6, 7, 3, 1.0); };
  auto with_roi = [x](int col, double val) {
    auto r = x()[1].clone();
    r[0][col] = val;
    return r;
  };
  s.bad.push_back({"output_size 0", [=] { f(x()[0], x()[1], {0, 2}, 1.0); }, op + ": expected output_size to be positive"});
  s.bad.push_back({"output_size of 3 values", [=] { f(x()[0], x()[1], {2, 2, 2}, 1.0); }, op + ": expected output_size"});
  s.bad.push_back({"spatial_scale NaN", [=] { f(x()[0], x()[1], {2, 2}, NAN); }, op + ": expected spatial_scale"});
  s.bad.push_back({"spatial_scale overflows float", [=] { f(x()[0], x()[1], {2, 2}, 1e300); }, op + ": expected spatial_scale"});
  s.bad.push_back({"batch index = B", [=] { f(x()[0], with_roi(0, 2.0), {2, 2}, 1.0); }, op + ": expected rois[:, 0] (batch index)"});
  s.bad.push_back({"batch index -1", [=] { f(x()[0], with_roi(0, -1.0), {2, 2}, 1.0); }, op + ": expected rois[:, 0] (batch index)"});
  s.bad.push_back({"batch index huge", [=] { f(x()[0], with_roi(0, 1e12), {2, 2}, 1.0); }, op + ": expected rois[:, 0]"});
  s.bad.push_back({"H = 0", [=] { f(at::zeros({2, 2, 0, 7}), x()[1], {2, 2}, 1.0); }, op + ": expected input height"});
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  s.policy.emplace_back("NaN / Inf rois are rejected with a named error (MMCV: undefined behaviour)", [=](Verdict& v) {
    for (int col : {0, 1, 4})
      for (double bad : {nan, inf, -inf}) {
        try {
          f(x()[0], with_roi(col, bad), {2, 2}, 1.0);
          v.require(false, "non-finite roi accepted");
        } catch (const c10::Error& e) {
          const std::string m = e.what_without_backtrace();
          v.require(m.find(op + ": expected rois to contain only finite values") != std::string::npos, "message: " + m);
        }
      }
  });
}

}  // namespace

MMCV_RELIABILITY_OP(roi_align) {
  OpSpec s;
  s.op = "roi_align";
  s.inputs = [] { return fixed_inputs(71, 2, 8, 24, 32, 40, 0.5); };
  s.call = [](const Tensors& x) {
    auto g = mmcv_rel::with_grads(
        [](const Tensors& y) { return mmcv::ops::roi_align(y[0], y[1], {7, 7}, 0.5, 0, "avg", true); }, x, {true, false});
    g.push_back(mmcv::ops::roi_align(x[0], x[1], {3, 5}, 0.5, 2, "max", false));
    g.push_back(mmcv::ops::roi_align(x[0], x[1], 4, 0.5, 1, "avg", false));
    return g;
  };
  s.args = {{"input", {"B", "C", "H", "W"}, ArgKind::kFloatHalfOk}, {"rois", {"K", "5"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = {"K", "C"};
  {  // fuzz: hostile integer parameters, on two rois (valid values must stay cheap)
    const auto two = [](const Tensors& x) { return Tensors{x[0], x[1].narrow(0, 0, std::min<int64_t>(2, x[1].size(0)))}; };
    s.int_params = {
        {"output_size[0]", [two](const Tensors& x, int64_t v) { auto y = two(x); return Tensors{mmcv::ops::roi_align(y[0], y[1], {v, 2}, 0.5, 2, "max")}; }},
        {"output_size", [two](const Tensors& x, int64_t v) { auto y = two(x); return Tensors{mmcv::ops::roi_align(y[0], y[1], v, 0.5, 1, "avg")}; }},
        {"sampling_ratio", [two](const Tensors& x, int64_t v) { auto y = two(x); return Tensors{mmcv::ops::roi_align(y[0], y[1], 2, 0.5, v, "max")}; }},
        {"sampling_ratio(avg)", [two](const Tensors& x, int64_t v) { auto y = two(x); return Tensors{mmcv::ops::roi_align(y[0], y[1], 2, 0.5, v, "avg")}; }},
    };
  }
  roi_bad_rows(s, "roi_align", [](const at::Tensor& i, const at::Tensor& r, at::IntArrayRef o, double sc) {
    return mmcv::ops::roi_align(i, r, o, sc);
  });
  const auto x = [] { return fixed_inputs(3, 2, 2, 6, 7, 3, 1.0); };
  s.bad.push_back({"sampling_ratio -1", [=] { mmcv::ops::roi_align(x()[0], x()[1], 2, 1.0, -1); },
                   "roi_align: expected sampling_ratio to be non-negative"});
  s.bad.push_back({"pool_mode min", [=] { mmcv::ops::roi_align(x()[0], x()[1], 2, 1.0, 0, "min"); },
                   "roi_align: expected pool_mode to be one of {\"avg\", \"max\"}, but got \"min\""});
  s.bad.push_back({"aligned, negative width", [=] {
                     auto r = x()[1].clone();
                     r[0][3] = r[0][1] - 5;
                     mmcv::ops::roi_align(x()[0], r, 2, 1.0, 0, "avg", true);
                   },
                   "roi_align: expected"});
  for (const char* mode : {"avg", "max"}) {
    const std::string m = mode;
    // max: a bin whose samples are all NaN gives MMCV's floor -10000.
    const std::string label = m +
                              ": NaN feature values as MMCV's CPU kernel (avg propagates NaN, max skips it); samples "
                              "outside the window read pixel (0, 0) with weight 0, as MMCV's CPU pre_calc";
    s.policy.emplace_back(label, [=](Verdict& v) {
      auto in = fixed_inputs(72, 2, 3, 6, 7, 12, 1.0);
      in[0][0][1][0][0] = NAN;
      in[0][1][2][3][4] = NAN;
      for (bool aligned : {true, false}) {
        auto out = mmcv::ops::roi_align(in[0], in[1], {3, 2}, 1.0, 2, m, aligned);
        v.close(out, loop_roi_align<float>(in[0], in[1], 3, 2, 1.0, 2, m == "max", aligned), {1e-5, 1e-5},
                std::string("vs MMCV CPU loop reference, aligned=") + (aligned ? "true" : "false"));
      }
    });
  }
  s.generate = [](Gen& g) { return roi_sample_gen(g, false); };
  s.check = check_align;
  s.property_cases = 2000;
  s.bench_inputs = [] { return fixed_inputs(73, 2, 256, 100, 152, 512, 0.125); };
  s.bench_call = [](const Tensors& x) { return Tensors{mmcv::ops::roi_align(x[0], x[1], {7, 7}, 0.5, 0, "avg", true)}; };
  s.peer = [](const Tensors& x) {
    auto& tv = mmcv_bench::Torchvision::get();
    return Tensors{tv.op<at::Tensor(const at::Tensor&, const at::Tensor&, double, int64_t, int64_t, int64_t, bool)>("roi_align")
                       .call(x[0], x[1], 0.5, 7, 7, 0, true)};
  };
  s.peer_name = "torchvision::roi_align";
  return s;
}

MMCV_RELIABILITY_OP(roi_pool) {
  OpSpec s;
  s.op = "roi_pool";
  s.inputs = [] { return fixed_inputs(81, 2, 8, 24, 32, 40, 0.5); };
  s.call = [](const Tensors& x) {
    auto g = mmcv_rel::with_grads([](const Tensors& y) { return mmcv::ops::roi_pool(y[0], y[1], {7, 7}, 0.5); }, x,
                                  {true, false});
    g.push_back(mmcv::ops::roi_pool(x[0], x[1], {2, 3}, 0.5));
    return g;
  };
  s.args = {{"input", {"B", "C", "H", "W"}, ArgKind::kFloatHalfOk}, {"rois", {"K", "5"}, ArgKind::kFloatHalfOk}};
  s.empty_dims = {"K", "C"};
  s.int_params = {
      {"output_size[1]", [](const Tensors& x, int64_t v) { return Tensors{mmcv::ops::roi_pool(x[0], x[1].narrow(0, 0, std::min<int64_t>(2, x[1].size(0))), {2, v}, 0.5)}; }},
      {"output_size", [](const Tensors& x, int64_t v) { return Tensors{mmcv::ops::roi_pool(x[0], x[1].narrow(0, 0, std::min<int64_t>(2, x[1].size(0))), v, 0.5)}; }},
  };
  roi_bad_rows(s, "roi_pool", [](const at::Tensor& i, const at::Tensor& r, at::IntArrayRef o, double sc) {
    return mmcv::ops::roi_pool(i, r, o, sc);
  });
  s.policy.emplace_back("NaN feature values are skipped by the max (MMCV's `>`)", [](Verdict& v) {
    auto in = fixed_inputs(82, 2, 3, 6, 7, 12, 1.0);
    in[0][0][1][0][0] = NAN;
    in[0][1][2][3][4] = NAN;
    auto out = mmcv::ops::roi_pool(in[0], in[1], {3, 2}, 1.0);
    v.require(!at::isnan(out).any().item<bool>(), "a NaN reached the output");
    v.equal(out, loop_roi_pool<float>(in[0], in[1], 3, 2, 1.0), "vs MMCV loop reference");
  });
  s.generate = [](Gen& g) { return roi_sample_gen(g, true); };
  s.check = check_pool;
  s.property_cases = 3000;
  s.bench_inputs = [] { return fixed_inputs(83, 2, 256, 100, 152, 512, 0.125); };
  s.bench_call = [](const Tensors& x) { return Tensors{mmcv::ops::roi_pool(x[0], x[1], {7, 7}, 0.5)}; };
  s.peer = [](const Tensors& x) {
    auto& tv = mmcv_bench::Torchvision::get();
    auto r = tv.op<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, double, int64_t, int64_t)>(
                   "roi_pool")
                 .call(x[0], x[1], 0.5, 7, 7);
    return Tensors{std::get<0>(r)};
  };
  s.peer_name = "torchvision::roi_pool";
  return s;
}
