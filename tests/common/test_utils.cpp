// SPDX-License-Identifier: Apache-2.0
// Implementation of the shared test harness (compiled once into the test main library).

#include "test_utils.hpp"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>

#ifndef MMCV_OPS_TEST_DATA_DIR
#error "MMCV_OPS_TEST_DATA_DIR must be defined by the build"
#endif

namespace mmcv_test {

namespace {

struct ManifestRow {
  std::string op, kind, key, value;
};

const std::multimap<std::string, ManifestRow>& manifest() {
  static const std::multimap<std::string, ManifestRow> rows = [] {
    std::multimap<std::string, ManifestRow> m;
    std::ifstream f(data_dir() + "/manifest.tsv");
    std::string line;
    while (std::getline(f, line)) {
      std::vector<std::string> parts;
      std::stringstream ss(line);
      std::string p;
      while (std::getline(ss, p, '\t')) parts.push_back(p);
      if (parts.size() != 5) continue;
      m.emplace(parts[0], ManifestRow{parts[1], parts[2], parts[3], parts[4]});
    }
    return m;
  }();
  return rows;
}

at::Tensor scalar_param(const Case& c, const std::string& key) {
  const at::Tensor& t = c.at("param." + key);
  EXPECT_EQ(t.numel(), 1) << c.name << ": param." << key << " is not a scalar";
  return t;
}

}  // namespace

std::string data_dir() { return MMCV_OPS_TEST_DATA_DIR; }

const at::Tensor& Case::at(const std::string& key) const {
  auto it = tensors.find(key);
  if (it == tensors.end()) {
    ADD_FAILURE() << "reference case " << name << " has no key " << key;
    static const at::Tensor undefined;
    return undefined;
  }
  return it->second;
}

double Case::param_double(const std::string& key) const { return scalar_param(*this, key).item<double>(); }
int64_t Case::param_int(const std::string& key) const { return scalar_param(*this, key).item<int64_t>(); }
bool Case::param_bool(const std::string& key) const { return scalar_param(*this, key).item<bool>(); }
std::vector<int64_t> Case::param_ints(const std::string& key) const {
  at::Tensor t = at("param." + key).to(at::kLong).contiguous().reshape({-1});
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
}
std::string Case::param_string(const std::string& key) const {
  auto it = strings.find(key);
  if (it == strings.end()) {
    ADD_FAILURE() << "reference case " << name << " has no string parameter " << key;
    return {};
  }
  return it->second;
}
std::vector<std::string> Case::keys(const std::string& prefix) const {
  std::vector<std::string> out;
  for (const auto& kv : tensors)
    if (kv.first.rfind(prefix, 0) == 0) out.push_back(kv.first);
  return out;
}

Case load_case(const std::string& name) {
  Case c;
  c.name = name;
  const std::string path = data_dir() + "/" + name + ".pt";
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    ADD_FAILURE() << "cannot open reference case " << path;
    return c;
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto dict = torch::jit::pickle_load(bytes).toGenericDict();
  for (const auto& kv : dict) c.tensors[kv.key().toStringRef()] = kv.value().toTensor();
  auto range = manifest().equal_range(name);
  for (auto it = range.first; it != range.second; ++it) {
    const ManifestRow& r = it->second;
    if (r.kind == "string") c.strings[r.key] = r.value;
    if (r.kind == "exact") c.exact_outputs.push_back(r.key);
    if (r.kind == "flag" && r.key == "tie_sensitive") c.tie_sensitive = r.value == "1";
  }
  return c;
}

std::vector<std::string> cases_for_op(const std::string& op) {
  std::set<std::string> names;
  for (const auto& kv : manifest())
    if (kv.second.op == op) names.insert(kv.first);
  return {names.begin(), names.end()};
}

Tol tol_for(at::ScalarType t) {
  switch (t) {
    case at::kDouble:
      return {1e-8, 1e-8};
    case at::kHalf:
    case at::kBFloat16:
      return {1e-2, 1e-2};
    default:
      return {1e-4, 1e-4};
  }
}

namespace {
std::string index_str(int64_t flat, at::IntArrayRef sizes) {
  std::vector<int64_t> idx(sizes.size());
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    const int64_t s = std::max<int64_t>(sizes[d], 1);
    idx[d] = flat % s;
    flat /= s;
  }
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < idx.size(); ++i) os << (i ? ", " : "") << idx[i];
  os << ']';
  return os.str();
}
}  // namespace

::testing::AssertionResult all_close(const at::Tensor& actual, const at::Tensor& expected, Tol tol, bool equal_nan) {
  if (!actual.defined() || !expected.defined())
    return ::testing::AssertionFailure() << "undefined tensor (actual " << actual.defined() << ", expected "
                                         << expected.defined() << ")";
  if (actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure() << "shape mismatch: actual " << actual.sizes() << " vs expected "
                                         << expected.sizes();
  if (actual.numel() == 0) return ::testing::AssertionSuccess();
  at::Tensor a = actual.detach().to(at::kCPU, at::kDouble).contiguous().reshape({-1});
  at::Tensor e = expected.detach().to(at::kCPU, at::kDouble).contiguous().reshape({-1});
  const double* pa = a.data_ptr<double>();
  const double* pe = e.data_ptr<double>();
  double max_abs = 0, max_rel = 0, worst_excess = -std::numeric_limits<double>::infinity();
  int64_t worst = -1, n_bad = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = pa[i], y = pe[i];
    bool ok;
    double diff;
    if (std::isnan(x) || std::isnan(y)) {
      ok = equal_nan && std::isnan(x) && std::isnan(y);
      diff = ok ? 0 : std::numeric_limits<double>::infinity();
    } else if (std::isinf(x) || std::isinf(y)) {
      ok = x == y;
      diff = ok ? 0 : std::numeric_limits<double>::infinity();
    } else {
      diff = std::abs(x - y);
      ok = diff <= tol.atol + tol.rtol * std::abs(y);
    }
    max_abs = std::max(max_abs, diff);
    if (std::isfinite(diff) && y != 0) max_rel = std::max(max_rel, diff / std::abs(y));
    // NaN or Inf in either value makes |y| or diff non-finite: rank such a mismatch worst (never skip it).
    const double excess = std::isfinite(diff) && std::isfinite(y) ? diff - (tol.atol + tol.rtol * std::abs(y))
                                                                 : std::numeric_limits<double>::infinity();
    if (!ok) ++n_bad;
    if (!ok && excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (n_bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << n_bad << " of " << a.numel() << " elements differ (rtol " << tol.rtol
                                       << ", atol " << tol.atol << "); max abs err " << max_abs
                                       << ", max rel err " << max_rel << "; worst at "
                                       << index_str(worst, actual.sizes()) << ": actual " << pa[worst]
                                       << " vs expected " << pe[worst] << " (dtypes " << actual.scalar_type()
                                       << " / " << expected.scalar_type() << ")";
}

::testing::AssertionResult all_equal(const at::Tensor& actual, const at::Tensor& expected, bool check_dtype) {
  if (!actual.defined() || !expected.defined())
    return ::testing::AssertionFailure() << "undefined tensor";
  if (actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure() << "shape mismatch: actual " << actual.sizes() << " vs expected "
                                         << expected.sizes() << "\nactual: " << actual.cpu()
                                         << "\nexpected: " << expected.cpu();
  if (check_dtype && actual.scalar_type() != expected.scalar_type())
    return ::testing::AssertionFailure() << "dtype mismatch: actual " << actual.scalar_type() << " vs expected "
                                         << expected.scalar_type();
  if (actual.numel() == 0) return ::testing::AssertionSuccess();
  at::Tensor a = actual.detach().cpu().to(expected.scalar_type());
  at::Tensor e = expected.detach().cpu();
  at::Tensor ne = (a != e).reshape({-1});
  if (a.is_floating_point()) ne = ne & ~(at::isnan(a) & at::isnan(e)).reshape({-1});
  const int64_t n_bad = ne.sum().item<int64_t>();
  if (n_bad == 0) return ::testing::AssertionSuccess();
  const int64_t first = ne.nonzero().select(1, 0)[0].item<int64_t>();
  return ::testing::AssertionFailure() << n_bad << " of " << a.numel() << " elements differ; first at "
                                       << index_str(first, actual.sizes()) << ": actual "
                                       << a.reshape({-1})[first].item<double>() << " vs expected "
                                       << e.reshape({-1})[first].item<double>();
}

void seed(uint64_t s) { at::manual_seed(s); }

void DeviceTest::SetUp() {
  if (GetParam() == at::kCUDA && !at::hasCUDA()) GTEST_SKIP() << "CUDA is not available in this build/machine";
  seed(0);
}

std::string device_param_name(const ::testing::TestParamInfo<at::DeviceType>& info) {
  return info.param == at::kCUDA ? "CUDA" : "CPU";
}

std::vector<at::Tensor> vjp(const at::Tensor& out, const at::Tensor& grad_out, const std::vector<at::Tensor>& inputs) {
  std::vector<at::Tensor> want;
  std::vector<size_t> where;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].requires_grad()) {
      want.push_back(inputs[i]);
      where.push_back(i);
    }
  std::vector<at::Tensor> res(inputs.size());
  if (want.empty()) return res;
  auto g = torch::autograd::grad({out}, want, {grad_out}, /*retain_graph=*/true, /*create_graph=*/false,
                                 /*allow_unused=*/true);
  for (size_t k = 0; k < want.size(); ++k) res[where[k]] = g[k];
  return res;
}

::testing::AssertionResult gradcheck(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& fn,
                                     std::vector<at::Tensor> inputs, double eps, double atol, double rtol) {
  for (auto& x : inputs)
    if (x.defined() && x.requires_grad() && x.scalar_type() != at::kDouble)
      return ::testing::AssertionFailure() << "gradcheck needs float64 inputs";
  at::Tensor out = fn(inputs);
  at::Tensor w = at::rand(out.sizes(), out.options().requires_grad(false)) * 2 - 1;
  std::vector<at::Tensor> analytic = vjp(out, w, inputs);
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    at::Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    at::Tensor ga = analytic[i].defined() ? analytic[i].to(at::kCPU) : at::zeros(x.sizes(), at::kDouble);
    at::Tensor flat = x.detach();  // shares storage with x; we perturb in place
    at::Tensor num = at::zeros({x.numel()}, at::kDouble);
    at::Tensor view = flat.reshape({-1});  // host-side: test-only finite differences, element by element
    for (int64_t k = 0; k < x.numel(); ++k) {
      const double orig = view[k].item<double>();
      view[k].fill_(orig + eps);
      const double lp = (fn(inputs) * w).sum().item<double>();
      view[k].fill_(orig - eps);
      const double lm = (fn(inputs) * w).sum().item<double>();
      view[k].fill_(orig);
      num[k] = (lp - lm) / (2 * eps);
    }
    auto r = all_close(ga.reshape({-1}), num, Tol{rtol, atol});
    if (!r) return ::testing::AssertionFailure() << "gradient of input " << i << ": analytic vs numeric: " << r.message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace mmcv_test
