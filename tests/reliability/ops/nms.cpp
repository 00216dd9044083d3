// SPDX-License-Identifier: Apache-2.0
// Reliability specs for include/mmcv/ops/nms.hpp (axis-aligned family): nms, soft_nms, nms_match,
// batched_nms. The loop references below are MMCV's CPU kernels (cpu/nms.cpp) in the input's
// dtype, with mmcv-ops' tie rule (equal scores visited in index order).

#include <mmcv/ops/nms.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "common/peer.hpp"
#include "reliability/reliability.hpp"

namespace {

using mmcv_rel::ArgKind;
using mmcv_rel::Gen;
using mmcv_rel::OpSpec;
using mmcv_rel::Sample;
using mmcv_rel::Tensors;
using mmcv_rel::Verdict;

template <typename T>
struct Boxes {
  std::vector<T> x1, y1, x2, y2, area, score;
  explicit Boxes(const at::Tensor& b, const at::Tensor& s, T offset) {
    auto bb = b.detach().cpu().contiguous();
    auto ss = s.detach().cpu().contiguous();
    const int64_t n = bb.size(0);
    const T* p = bb.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) {
      x1.push_back(p[i * 4]), y1.push_back(p[i * 4 + 1]), x2.push_back(p[i * 4 + 2]), y2.push_back(p[i * 4 + 3]);
      area.push_back((x2[i] - x1[i] + offset) * (y2[i] - y1[i] + offset));
      score.push_back(ss.data_ptr<T>()[i]);
    }
  }
  T iou(size_t i, size_t j, T offset) const {  // MMCV's evaluation order
    const T w = std::max(T(0), std::min(x2[i], x2[j]) - std::max(x1[i], x1[j]) + offset);
    const T h = std::max(T(0), std::min(y2[i], y2[j]) - std::max(y1[i], y1[j]) + offset);
    const T inter = w * h;
    return inter / (area[i] + area[j] - inter);
  }
  std::vector<int64_t> order() const {  // descending score, ties by index
    std::vector<int64_t> o(score.size());
    std::iota(o.begin(), o.end(), 0);
    std::stable_sort(o.begin(), o.end(), [&](int64_t a, int64_t b) { return score[a] > score[b]; });
    return o;
  }
};

// nms_cpu; `ge` selects >= (nms_match) instead of >.
template <typename T>
std::vector<int64_t> loop_nms(const Boxes<T>& b, float thr, T offset, bool ge, std::vector<std::vector<int64_t>>* groups) {
  const auto order = b.order();
  std::vector<char> sup(order.size(), 0);
  std::vector<int64_t> keep;
  for (size_t a = 0; a < order.size(); ++a) {
    const auto i = order[a];
    if (sup[a]) continue;
    keep.push_back(i);
    if (groups) groups->push_back({i});
    for (size_t c = a + 1; c < order.size(); ++c) {
      if (sup[c]) continue;
      const T o = b.iou(static_cast<size_t>(i), static_cast<size_t>(order[c]), offset);
      if (ge ? o >= static_cast<T>(thr) : o > static_cast<T>(thr)) {
        sup[c] = 1;
        if (groups) groups->back().push_back(order[c]);
      }
    }
  }
  return keep;
}

// softnms_cpu, step for step (method 0 naive, 1 linear, 2 gaussian).
template <typename T>
std::pair<std::vector<int64_t>, std::vector<T>> loop_soft_nms(Boxes<T> b, float thr, float sigma, float min_score,
                                                             int method, T offset) {
  int64_t n = static_cast<int64_t>(b.score.size());
  std::vector<int64_t> inds(static_cast<size_t>(n));
  std::iota(inds.begin(), inds.end(), 0);
  std::vector<T> out_scores;
  auto swap_all = [&](size_t a, size_t c) {
    std::swap(b.x1[a], b.x1[c]), std::swap(b.y1[a], b.y1[c]), std::swap(b.x2[a], b.x2[c]);
    std::swap(b.y2[a], b.y2[c]), std::swap(b.area[a], b.area[c]), std::swap(b.score[a], b.score[c]);
    std::swap(inds[a], inds[c]);
  };
  auto copy_from = [&](size_t dst, size_t src) {
    b.x1[dst] = b.x1[src], b.y1[dst] = b.y1[src], b.x2[dst] = b.x2[src], b.y2[dst] = b.y2[src];
    b.area[dst] = b.area[src], b.score[dst] = b.score[src], inds[dst] = inds[src];
  };
  for (int64_t i = 0; i < n; ++i) {
    int64_t max_pos = i;
    for (int64_t p = i + 1; p < n; ++p)
      if (b.score[static_cast<size_t>(max_pos)] < b.score[static_cast<size_t>(p)]) max_pos = p;
    swap_all(static_cast<size_t>(i), static_cast<size_t>(max_pos));
    out_scores.push_back(b.score[static_cast<size_t>(i)]);
    for (int64_t p = i + 1; p < n; ++p) {
      const T o = b.iou(static_cast<size_t>(i), static_cast<size_t>(p), offset);
      T w = 1;
      if (method == 0) {
        if (o >= static_cast<T>(thr)) w = 0;
      } else if (method == 1) {
        if (o >= static_cast<T>(thr)) w = 1 - o;
      } else {
        w = std::exp(-(o * o) / static_cast<T>(sigma));
      }
      b.score[static_cast<size_t>(p)] *= w;
      if (b.score[static_cast<size_t>(p)] < static_cast<T>(min_score)) {
        copy_from(static_cast<size_t>(p), static_cast<size_t>(n - 1));
        --n;
        --p;
      }
    }
  }
  inds.resize(static_cast<size_t>(n));
  out_scores.resize(static_cast<size_t>(n));
  return {inds, out_scores};
}

at::Tensor as_long(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); }

// Boxes that make NMS decisions: clusters of overlapping boxes.
at::Tensor clustered(Gen& g, int64_t n, at::ScalarType dt, Gen::Scale sc) {
  auto b = g.boxes(n, sc, dt, 0.05, 0.1);
  if (n > 0 && sc == Gen::Scale::kNormal) {
    // pull boxes together so IoUs spread over [0, 1]
    auto c = g.boxes(1, sc, at::kDouble, 0, 0);
    b = (b.to(at::kDouble) * 0.3 + c.narrow(1, 0, 2).repeat({1, 2})).to(dt);
    b = at::cat({b.narrow(1, 0, 2), at::maximum(b.narrow(1, 2, 2), b.narrow(1, 0, 2))}, 1);
  }
  return b;
}

double threshold(Gen& g) {
  const double r = g.uniform();
  if (r < 0.1) return 0.0;
  if (r < 0.2) return 1.0;
  if (r < 0.4) return g.pick({0.3, 0.5, 0.7});
  return g.uniform(0, 1);
}

Sample nms_sample(Gen& g, bool with_dets) {
  Sample s;
  const auto dt = g.coin(0.7) ? at::kFloat : at::kDouble;
  const int64_t n = g.count(60);
  const auto b = clustered(g, n, dt, g.scale());
  const auto sc = g.scores(n, dt, g.coin(0.3));
  s.nums["iou_threshold"] = threshold(g);
  s.nums["offset"] = with_dets ? 0 : static_cast<double>(g.integer(0, 1));
  s.nums["score_threshold"] = g.coin(0.3) ? g.uniform(0, 0.6) : 0.0;
  s.nums["max_num"] = g.coin(0.3) ? static_cast<double>(g.integer(1, 10)) : -1.0;
  if (with_dets) {
    s.add("dets", at::cat({b, sc.unsqueeze(1)}, 1));
    s.group({{"dets", 0}});
  } else {
    s.add("boxes", b).add("scores", sc);
    s.group({{"boxes", 0}, {"scores", 0}});
  }
  return s;
}

template <typename T>
void check_nms_t(const Sample& s, Verdict& v) {
  const auto& boxes = s.t("boxes");
  const auto& scores = s.t("scores");
  const double thr = s.num("iou_threshold");
  const int64_t offset = s.integer("offset");
  const double score_thr = s.num("score_threshold");
  const int64_t max_num = s.integer("max_num");
  auto [dets, inds] = mmcv::ops::nms(boxes, scores, thr, offset, score_thr, max_num);
  v.require(inds.scalar_type() == at::kLong && inds.dim() == 1, "inds must be int64 [K]");
  v.require(dets.dim() == 2 && dets.size(1) == 5 && dets.size(0) == inds.size(0), "dets must be [K, 5]");
  if (!v.ok()) return;
  v.equal(dets, at::cat({boxes.index_select(0, inds), scores.index_select(0, inds).unsqueeze(1)}, 1),
          "dets == [boxes[inds], scores[inds]]");
  // Reference: MMCV's nms_cpu on the score-filtered boxes, then max_num.
  std::vector<int64_t> valid;
  auto sc = scores.contiguous();
  for (int64_t i = 0; i < scores.size(0); ++i)
    if (!(score_thr > 0) || sc.data_ptr<T>()[i] > static_cast<T>(score_thr)) valid.push_back(i);
  const auto vi = as_long(valid);
  Boxes<T> b(boxes.index_select(0, vi), scores.index_select(0, vi), static_cast<T>(offset));
  auto keep = loop_nms<T>(b, static_cast<float>(thr), static_cast<T>(offset), false, nullptr);
  if (max_num > 0 && static_cast<int64_t>(keep.size()) > max_num) keep.resize(static_cast<size_t>(max_num));
  for (auto& k : keep) k = valid[static_cast<size_t>(k)];
  v.equal(inds, as_long(keep), "inds vs MMCV nms_cpu loop reference");
  // Invariants: unique, descending scores, kept pairwise IoU <= thr.
  v.require(std::set<int64_t>(keep.begin(), keep.end()).size() == keep.size(), "duplicate indices");
  const auto ks = scores.index_select(0, inds);
  if (ks.numel() > 1) v.require(at::all(ks.narrow(0, 0, ks.numel() - 1) >= ks.narrow(0, 1, ks.numel() - 1)).item<bool>(),
                                "kept scores not in descending order");
  Boxes<T> kb(boxes.index_select(0, inds), ks, static_cast<T>(offset));
  for (size_t i = 0; i < kb.score.size(); ++i)
    for (size_t j = i + 1; j < kb.score.size(); ++j)
      if (kb.iou(i, j, static_cast<T>(offset)) > static_cast<T>(static_cast<float>(thr))) {
        v.require(false, "kept boxes " + std::to_string(i) + ", " + std::to_string(j) + " overlap above the threshold");
        return;
      }
}

void check_nms(const Sample& s, Verdict& v) {
  if (s.t("boxes").scalar_type() == at::kDouble) {
    check_nms_t<double>(s, v);
  } else {
    check_nms_t<float>(s, v);
  }
}

Sample soft_nms_sample(Gen& g) {
  Sample s = nms_sample(g, false);
  s.strs["method"] = g.pick<std::string>({"naive", "linear", "gaussian"});
  s.nums["sigma"] = g.pick({0.5, 0.1, 2.0});
  s.nums["min_score"] = g.pick({1e-3, 0.0, 0.2});
  return s;
}

template <typename T>
void check_soft_nms_t(const Sample& s, Verdict& v) {
  const auto& boxes = s.t("boxes");
  const auto& scores = s.t("scores");
  const double thr = s.num("iou_threshold"), sigma = s.num("sigma"), min_score = s.num("min_score");
  const int64_t offset = s.integer("offset");
  const std::string method = s.str("method");
  auto [dets, inds] = mmcv::ops::soft_nms(boxes, scores, thr, sigma, min_score, method, offset);
  const int m = method == "naive" ? 0 : method == "linear" ? 1 : 2;
  auto ref = loop_soft_nms<T>(Boxes<T>(boxes, scores, static_cast<T>(offset)), static_cast<float>(thr),
                              static_cast<float>(sigma), static_cast<float>(min_score), m, static_cast<T>(offset));
  const mmcv_test::Tol tol =
      std::is_same<T, float>::value ? mmcv_test::Tol{1e-5, 1e-6} : mmcv_test::Tol{1e-12, 1e-12};
  const auto ref_inds = as_long(ref.first);
  const auto ref_scores = at::tensor(ref.second, at::CppTypeToScalarType<T>::value);
  v.require(inds.sizes() == ref_inds.sizes(), "kept count differs from MMCV softnms_cpu loop reference");
  if (!v.ok()) return;
  v.close(dets.select(1, 4), ref_scores, tol, "decayed scores vs reference");
  // The pick order must match exactly, except among decayed scores equal to rounding (ATen's
  // vectorised exp / products may differ from expf in the last ulp, which reorders near-ties).
  if (!mmcv_rel::bitwise_equal(inds, ref_inds)) {
    v.require(std::get<0>(inds.sort()).equal(std::get<0>(ref_inds.sort())),
              "kept set differs from MMCV softnms_cpu loop reference");
    const auto differ = (inds != ref_inds).nonzero().squeeze(1);
    const auto ds = dets.select(1, 4).index_select(0, differ).to(at::kDouble);
    const auto sc0 = scores.index_select(0, inds.index_select(0, differ)).to(at::kDouble);
    const auto sc1 = scores.index_select(0, ref_inds.index_select(0, differ)).to(at::kDouble);
    v.require(at::allclose(sc0, sc1, 1e-5, 1e-6) && at::allclose(ds, ref_scores.index_select(0, differ).to(at::kDouble), 1e-5, 1e-6),
              "pick order differs from MMCV softnms_cpu loop reference beyond near-ties");
  }
  v.equal(dets.narrow(1, 0, 4), boxes.index_select(0, inds), "dets boxes == boxes[inds]");
}

void check_soft_nms(const Sample& s, Verdict& v) {
  if (s.t("boxes").scalar_type() == at::kDouble) {
    check_soft_nms_t<double>(s, v);
  } else {
    check_soft_nms_t<float>(s, v);
  }
}

void check_nms_match(const Sample& s, Verdict& v) {
  const auto& dets = s.t("dets");
  const double thr = s.num("iou_threshold");
  const auto groups = mmcv::ops::nms_match(dets, thr);
  std::vector<std::vector<int64_t>> ref;
  if (dets.size(0) > 0) {
    if (dets.scalar_type() == at::kDouble) {
      Boxes<double> b(dets.narrow(1, 0, 4), dets.select(1, 4), 0.0);
      loop_nms<double>(b, static_cast<float>(thr), 0.0, true, &ref);
    } else {
      Boxes<float> b(dets.narrow(1, 0, 4), dets.select(1, 4), 0.f);
      loop_nms<float>(b, static_cast<float>(thr), 0.f, true, &ref);
    }
  }
  v.require(groups.size() == ref.size(), "group count " + std::to_string(groups.size()) + " vs reference " +
                                             std::to_string(ref.size()));
  if (!v.ok()) return;
  std::set<int64_t> seen;
  for (size_t k = 0; k < groups.size(); ++k) {
    v.equal(groups[k], as_long(ref[k]), "group " + std::to_string(k) + " vs MMCV nms_match_cpu loop reference");
    for (int64_t i = 0; i < groups[k].numel(); ++i) seen.insert(groups[k][i].item<int64_t>());
  }
  v.require(static_cast<int64_t>(seen.size()) == dets.size(0), "groups do not partition the boxes");
}

Sample batched_sample(Gen& g) {
  Sample s = nms_sample(g, false);
  const int64_t n = s.t("boxes").size(0);
  const int64_t classes = g.integer(1, 4);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < n; ++i) idx.push_back(g.integer(0, classes - 1));
  s.add("idxs", at::tensor(idx, at::kLong).reshape({n}));
  s.groups = {{{"boxes", 0}, {"scores", 0}, {"idxs", 0}}};
  s.nums["split_thr"] = g.coin() ? 10000 : static_cast<double>(g.integer(0, 20));
  s.nums["class_agnostic"] = g.coin(0.2);
  return s;
}

void check_batched_nms(const Sample& s, Verdict& v) {
  const auto& boxes = s.t("boxes");
  const auto& scores = s.t("scores");
  const auto& idxs = s.t("idxs");
  const double thr = s.num("iou_threshold");
  const bool agnostic = s.num("class_agnostic") != 0;
  auto cfg = mmcv::ops::NmsConfig().iou_threshold(thr).split_thr(s.integer("split_thr"));
  auto [dets, keep] = mmcv::ops::batched_nms(boxes, scores, idxs, cfg, agnostic);
  v.require(dets.size(0) == keep.size(0) && (keep.numel() == 0 || dets.size(1) == 5), "dets/keep shapes");
  if (!v.ok()) return;
  // Reference: MMCV's batched_nms (nms.py): the coordinate-offset trick in the boxes' dtype unless
  // class_agnostic; one nms below split_thr, else one nms per class (on the offset boxes).
  const auto bfn = agnostic || boxes.size(0) == 0
                       ? boxes
                       : boxes + (idxs.to(boxes.scalar_type()) * (boxes.max() + at::ones({}, boxes.options())))
                                     .unsqueeze(1);
  std::set<int64_t> want;
  if (boxes.size(0) < s.integer("split_thr")) {
    if (boxes.size(0) > 0) {
      auto k = std::get<1>(mmcv::ops::nms(bfn, scores, thr));
      for (int64_t i = 0; i < k.numel(); ++i) want.insert(k[i].item<int64_t>());
    }
  } else {
    const int64_t classes = idxs.numel() ? idxs.max().item<int64_t>() + 1 : 0;
    for (int64_t c = 0; c < classes; ++c) {
      const auto sel = at::nonzero(idxs == c).squeeze(1);
      if (sel.numel() == 0) continue;
      auto k = std::get<1>(mmcv::ops::nms(bfn.index_select(0, sel), scores.index_select(0, sel), thr));
      for (int64_t i = 0; i < k.numel(); ++i) want.insert(sel[k[i].item<int64_t>()].item<int64_t>());
    }
  }
  std::set<int64_t> got;
  for (int64_t i = 0; i < keep.numel(); ++i) got.insert(keep[i].item<int64_t>());
  v.require(got == want, "kept set differs from per-class nms (" + std::to_string(got.size()) + " vs " +
                             std::to_string(want.size()) + " boxes)");
  v.require(static_cast<int64_t>(got.size()) == keep.numel(), "duplicate indices");
  if (keep.numel() > 1) {
    const auto ks = dets.select(1, 4);
    v.require(at::all(ks.narrow(0, 0, ks.numel() - 1) >= ks.narrow(0, 1, ks.numel() - 1)).item<bool>(),
              "scores not descending");
  }
  if (keep.numel() > 0) v.equal(dets.narrow(1, 0, 4), boxes.index_select(0, keep), "dets boxes == boxes[keep]");
}

Tensors fixed_boxes_scores(uint64_t seed, int64_t n) {
  Gen g(seed);
  return {clustered(g, n, at::kFloat, Gen::Scale::kNormal), g.scores(n, at::kFloat, false)};
}

void nonfinite_rows(OpSpec& s, const std::function<void(const at::Tensor&, const at::Tensor&)>& call,
                    const std::string& op, bool has_scores) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  s.policy.emplace_back("NaN / Inf boxes" + std::string(has_scores ? " or scores" : "") +
                            " are rejected with a named error (MMCV keeps NaN boxes; docs/nan_policy.md)",
                        [=](Verdict& v) {
                          const auto x = fixed_boxes_scores(5, 20);
                          for (double bad : {nan, inf, -inf}) {
                            auto b = x[0].clone();
                            b[3][2] = bad;
                            try {
                              call(b, x[1]);
                              v.require(false, "non-finite box accepted");
                            } catch (const c10::Error& e) {
                              const std::string m = e.what_without_backtrace();
                              v.require(m.find(op + ": expected ") != std::string::npos && m.find("finite") != std::string::npos,
                                        "message: " + m);
                            }
                            if (!has_scores) continue;
                            auto sc = x[1].clone();
                            sc[4] = bad;
                            try {
                              call(x[0], sc);
                              v.require(false, "non-finite score accepted");
                            } catch (const c10::Error& e) {
                              const std::string m = e.what_without_backtrace();
                              v.require(m.find(op + ": expected scores") != std::string::npos, "message: " + m);
                            }
                          }
                        });
}

// CPU vs CUDA for outputs [dets, inds, dets, inds, ...] of ops whose decayed scores round
// differently on the device (exp, FMA): same kept sets and close dets; order may differ only
// among near-equal scores.
void compare_nms_pairs(const Tensors& cpu, const Tensors& dev, Verdict& v) {
  v.require(cpu.size() == dev.size(), "output count");
  for (size_t i = 0; i + 1 < cpu.size() && v.ok(); i += 2) {
    const auto dc = dev[i].cpu(), ic = dev[i + 1].cpu();
    v.require(ic.sizes() == cpu[i + 1].sizes(), "kept count differs");
    if (!v.ok()) return;
    v.equal(std::get<0>(ic.sort()), std::get<0>(cpu[i + 1].sort()), "kept set");
    v.close(std::get<0>(dc.select(1, 4).sort()), std::get<0>(cpu[i].select(1, 4).sort()), {1e-5, 1e-5},
            "kept scores");
  }
}

}  // namespace

MMCV_RELIABILITY_OP(nms) {
  OpSpec s;
  s.op = "nms";
  s.inputs = [] { return fixed_boxes_scores(31, 300); };
  s.call = [](const Tensors& x) {
    Tensors out;
    for (auto [off, st, mx] : {std::tuple<int64_t, double, int64_t>{0, 0, -1}, {1, 0.3, -1}, {0, 0, 7}}) {
      auto [d, i] = mmcv::ops::nms(x[0], x[1], 0.5, off, st, mx);
      out.push_back(d), out.push_back(i);
    }
    auto g = mmcv_rel::with_grads([](const Tensors& y) { return std::get<0>(mmcv::ops::nms(y[0], y[1], 0.6)); }, x,
                                  {true, true});
    out.insert(out.end(), g.begin(), g.end());
    return out;
  };
  s.args = {{"boxes", {"N", "4"}, ArgKind::kFloat}, {"scores", {"N"}, ArgKind::kFloat}};
  s.empty_dims = {"N"};
  const auto x = [] { return fixed_boxes_scores(3, 5); };
  s.bad = {
      {"iou_threshold 1.5", [=] { mmcv::ops::nms(x()[0], x()[1], 1.5); }, "nms: expected iou_threshold to be in [0, 1]"},
      {"iou_threshold -0.1", [=] { mmcv::ops::nms(x()[0], x()[1], -0.1); }, "nms: expected iou_threshold"},
      {"iou_threshold NaN", [=] { mmcv::ops::nms(x()[0], x()[1], NAN); }, "nms: expected iou_threshold"},
      {"offset 2", [=] { mmcv::ops::nms(x()[0], x()[1], 0.5, 2); }, "nms: expected offset to be one of {0, 1}"},
      {"score_threshold NaN", [=] { mmcv::ops::nms(x()[0], x()[1], 0.5, 0, NAN); }, "nms: expected score_threshold"},
  };
  s.views = {{"flipped inputs keep the same boxes",
              [=] {
                auto b = x()[0].flip({0}), sc = x()[1].flip({0});
                auto [d, i] = mmcv::ops::nms(b, sc, 0.5);
                return Tensors{d};
              },
              [=] { return Tensors{std::get<0>(mmcv::ops::nms(x()[0], x()[1], 0.5))}; }}};
  s.generate = [](Gen& g) { return nms_sample(g, false); };
  s.check = check_nms;
  s.property_cases = 3000;
  nonfinite_rows(s, [](const at::Tensor& b, const at::Tensor& sc) { mmcv::ops::nms(b, sc, 0.5); }, "nms", true);
  s.bench_inputs = [] { return fixed_boxes_scores(32, 2000); };
  s.bench_call = [](const Tensors& x) { return Tensors{std::get<1>(mmcv::ops::nms(x[0], x[1], 0.5))}; };
  s.peer = [](const Tensors& x) {
    auto& tv = mmcv_bench::Torchvision::get();
    return Tensors{tv.op<at::Tensor(const at::Tensor&, const at::Tensor&, double)>("nms").call(x[0], x[1], 0.5)};
  };
  s.peer_name = "torchvision::nms";
  return s;
}

MMCV_RELIABILITY_OP(soft_nms) {
  OpSpec s;
  s.op = "soft_nms";
  s.inputs = [] { return fixed_boxes_scores(41, 60); };
  s.call = [](const Tensors& x) {
    Tensors out;
    for (const char* m : {"naive", "linear", "gaussian"}) {
      auto [d, i] = mmcv::ops::soft_nms(x[0], x[1], 0.3, 0.5, 1e-3, m);
      out.push_back(d), out.push_back(i);
    }
    return out;
  };
  s.args = {{"boxes", {"N", "4"}, ArgKind::kFloat}, {"scores", {"N"}, ArgKind::kFloat}};
  s.empty_dims = {"N"};
  const auto x = [] { return fixed_boxes_scores(3, 5); };
  s.bad = {
      {"method cubic", [=] { mmcv::ops::soft_nms(x()[0], x()[1], 0.3, 0.5, 1e-3, "cubic"); },
       "soft_nms: expected method to be one of {\"naive\", \"linear\", \"gaussian\"}, but got \"cubic\""},
      {"iou_threshold 2", [=] { mmcv::ops::soft_nms(x()[0], x()[1], 2.0); }, "soft_nms: expected iou_threshold"},
      {"sigma 0 gaussian", [=] { mmcv::ops::soft_nms(x()[0], x()[1], 0.3, 0.0, 1e-3, "gaussian"); },
       "soft_nms: expected sigma"},
      {"min_score NaN", [=] { mmcv::ops::soft_nms(x()[0], x()[1], 0.3, 0.5, NAN); }, "soft_nms: expected min_score"},
      {"offset 3", [=] { mmcv::ops::soft_nms(x()[0], x()[1], 0.3, 0.5, 1e-3, "linear", 3); },
       "soft_nms: expected offset"},
  };
  s.device_compare = compare_nms_pairs;
  s.generate = soft_nms_sample;
  s.check = check_soft_nms;
  s.property_cases = 2000;
  nonfinite_rows(s, [](const at::Tensor& b, const at::Tensor& sc) { mmcv::ops::soft_nms(b, sc); }, "soft_nms", true);
  s.bench_inputs = [] { return fixed_boxes_scores(42, 1000); };
  return s;
}

MMCV_RELIABILITY_OP(nms_match) {
  OpSpec s;
  s.op = "nms_match";
  s.inputs = [] {
    auto x = fixed_boxes_scores(51, 200);
    return Tensors{at::cat({x[0], x[1].unsqueeze(1)}, 1)};
  };
  s.call = [](const Tensors& x) { return mmcv::ops::nms_match(x[0], 0.5); };
  s.args = {{"dets", {"N", "5"}, ArgKind::kFloat}};
  s.empty_dims = {"N"};
  const auto d = [] {
    auto x = fixed_boxes_scores(3, 5);
    return at::cat({x[0], x[1].unsqueeze(1)}, 1);
  };
  s.bad = {{"iou_threshold 1.01", [=] { mmcv::ops::nms_match(d(), 1.01); }, "nms_match: expected iou_threshold"}};
  // Tie order and group order are exact on every device (stable sort): compare groups exactly.
  s.generate = [](Gen& g) { return nms_sample(g, true); };
  s.check = check_nms_match;
  s.property_cases = 2000;
  nonfinite_rows(s, [](const at::Tensor& b, const at::Tensor& sc) { mmcv::ops::nms_match(at::cat({b, sc.unsqueeze(1)}, 1), 0.5); },
                 "nms_match", false);
  return s;
}

MMCV_RELIABILITY_OP(batched_nms) {
  OpSpec s;
  s.op = "batched_nms";
  s.inputs = [] {
    auto x = fixed_boxes_scores(61, 120);
    return Tensors{x[0], x[1], at::arange(120, at::kLong).remainder(5)};
  };
  s.call = [](const Tensors& x) {
    Tensors out;
    for (int64_t split : {10000, 10}) {
      auto [d, k] = mmcv::ops::batched_nms(x[0], x[1], x[2], mmcv::ops::NmsConfig().iou_threshold(0.5).split_thr(split));
      out.push_back(d), out.push_back(k);
    }
    auto [d, k] = mmcv::ops::batched_nms(x[0], x[1], x[2], mmcv::ops::NmsConfig().type("soft_nms").iou_threshold(0.5));
    out.push_back(d), out.push_back(k);
    return out;
  };
  s.args = {{"boxes", {"N", "4"}, ArgKind::kFloat}, {"scores", {"N"}, ArgKind::kFloat}, {"idxs", {"N"}, ArgKind::kIndex}};
  s.empty_dims = {"N"};
  const auto x = [] {
    auto y = fixed_boxes_scores(3, 6);
    return Tensors{y[0], y[1], at::arange(6, at::kLong).remainder(2)};
  };
  s.bad = {
      {"type unknown", [=] { mmcv::ops::batched_nms(x()[0], x()[1], x()[2], mmcv::ops::NmsConfig().type("fast_nms").iou_threshold(0.5)); },
       "batched_nms: expected"},
      {"nms without iou_threshold", [=] { mmcv::ops::batched_nms(x()[0], x()[1], x()[2], mmcv::ops::NmsConfig()); },
       "iou_threshold"},
  };
  s.device_compare = compare_nms_pairs;
  s.other_ops = {"nms"};  // errors of the op it forwards to (MMCV's batched_nms calls nms)
  nonfinite_rows(s, [](const at::Tensor& b, const at::Tensor& sc) {
    mmcv::ops::batched_nms(b, sc, at::zeros({b.size(0)}, at::kLong), mmcv::ops::NmsConfig().iou_threshold(0.5));
  }, "nms", true);
  s.generate = batched_sample;
  s.check = check_batched_nms;
  s.property_cases = 1500;
  return s;
}
