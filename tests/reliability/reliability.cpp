// SPDX-License-Identifier: Apache-2.0
// Reliability suite: registry, generators, shrinking, and the four runners (concurrency, device
// agreement, properties, bad inputs + NaN policy). Drivers in test_reliability.cpp.

#include "reliability/reliability.hpp"

#include <c10/core/impl/VirtualGuardImpl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <limits>
#include <mutex>
#include <sstream>
#include <thread>

#include "reliability/runners.hpp"

namespace mmcv_rel {

// ---------------------------------------------------------------------------------------------
// Gen
// ---------------------------------------------------------------------------------------------

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Gen::Gen(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}

uint64_t Gen::next() {  // xoshiro256**
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Gen::uniform(double lo, double hi) { return lo + (hi - lo) * (static_cast<double>(next() >> 11) * 0x1.0p-53); }

int64_t Gen::integer(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(next() % span);
}

bool Gen::coin(double p) { return uniform() < p; }

int64_t Gen::count(int64_t max) {
  const double r = uniform();
  if (r < 0.1) return 0;
  if (r < 0.2) return std::min<int64_t>(1, max);
  if (r < 0.3) return max;
  return integer(0, max);
}

Gen::Scale Gen::scale() {
  const double r = uniform();
  if (r < 0.55) return Scale::kNormal;
  if (r < 0.7) return Scale::kHuge;
  if (r < 0.85) return Scale::kTiny;
  return Scale::kIntegerGrid;
}

std::pair<double, double> Gen::extent(Scale s) {
  switch (s) {
    case Scale::kHuge:
      return {1e9, 1e8};
    case Scale::kTiny:
      return {1e-6, 5e-7};
    case Scale::kIntegerGrid:
      return {20, 10};
    default:
      return {100, 50};
  }
}

at::Tensor Gen::boxes(int64_t n, Scale s, at::ScalarType dtype, double p_degenerate, double p_duplicate) {
  const auto [pos, size] = extent(s);
  std::vector<double> v(static_cast<size_t>(n) * 4);
  for (int64_t i = 0; i < n; ++i) {
    double* r = &v[static_cast<size_t>(i) * 4];
    if (i > 0 && coin(p_duplicate)) {
      const double* src = &v[static_cast<size_t>(integer(0, i - 1)) * 4];
      std::copy(src, src + 4, r);
      continue;
    }
    double x, y, w, h;
    if (s == Scale::kIntegerGrid) {
      x = static_cast<double>(integer(0, static_cast<int64_t>(pos)));
      y = static_cast<double>(integer(0, static_cast<int64_t>(pos)));
      w = static_cast<double>(integer(0, static_cast<int64_t>(size)));
      h = static_cast<double>(integer(0, static_cast<int64_t>(size)));
    } else {
      const double lo = s == Scale::kHuge ? -pos : 0.0;
      x = uniform(lo, pos);
      y = uniform(lo, pos);
      w = uniform(0, size);
      h = uniform(0, size);
    }
    if (coin(p_degenerate)) (coin() ? w : h) = 0.0;
    r[0] = x;
    r[1] = y;
    r[2] = x + w;
    r[3] = y + h;
  }
  // Rounding each coordinate to dtype is monotone, so x2 >= x1 survives it.
  return at::tensor(v, at::kDouble).reshape({n, 4}).to(dtype);
}

at::Tensor Gen::uniform_tensor(at::IntArrayRef shape, double lo, double hi, at::ScalarType dtype) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = uniform(lo, hi);
  return at::tensor(v, at::kDouble).reshape(shape).to(dtype);
}

at::Tensor Gen::scores(int64_t n, at::ScalarType dtype, bool ties) {
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = ties ? static_cast<double>(integer(0, 7)) / 8.0 : uniform();
  return at::tensor(v, at::kDouble).to(dtype);
}

// ---------------------------------------------------------------------------------------------
// Sample, Verdict
// ---------------------------------------------------------------------------------------------

Sample& Sample::add(const std::string& name, const at::Tensor& t) {
  for (auto& kv : tensors)
    if (kv.first == name) {
      kv.second = t;
      return *this;
    }
  tensors.emplace_back(name, t);
  return *this;
}

const at::Tensor& Sample::t(const std::string& name) const {
  for (const auto& kv : tensors)
    if (kv.first == name) return kv.second;
  throw std::runtime_error("Sample has no tensor " + name);
}

double Sample::num(const std::string& name) const {
  auto it = nums.find(name);
  if (it == nums.end()) throw std::runtime_error("Sample has no number " + name);
  return it->second;
}

const std::string& Sample::str(const std::string& name) const {
  auto it = strs.find(name);
  if (it == strs.end()) throw std::runtime_error("Sample has no string " + name);
  return it->second;
}

Sample& Sample::group(std::initializer_list<std::pair<std::string, int64_t>> members) {
  groups.emplace_back(members);
  return *this;
}

namespace {
std::string num_str(double v, at::ScalarType st) {
  if (std::isnan(v)) return "NAN";
  if (std::isinf(v)) return v > 0 ? "INFINITY" : "-INFINITY";
  std::ostringstream os;
  if (at::isIntegralType(st, /*includeBool=*/true)) {
    os << static_cast<long long>(v);
  } else {
    os << std::setprecision(st == at::kDouble ? 17 : 9) << v;
  }
  return os.str();
}
}  // namespace

std::string Sample::describe() const {
  std::ostringstream os;
  for (const auto& kv : nums) os << "  // " << kv.first << " = " << std::setprecision(17) << kv.second << "\n";
  for (const auto& kv : strs) os << "  // " << kv.first << " = \"" << kv.second << "\"\n";
  for (const auto& kv : tensors) {
    const at::Tensor& t = kv.second;
    if (!t.defined()) {
      os << "  at::Tensor " << kv.first << ";  // undefined\n";
      continue;
    }
    auto c = t.detach().to(at::kCPU).to(at::kDouble).contiguous().reshape({-1});
    os << "  auto " << kv.first << " = at::tensor(std::vector<"
       << (t.scalar_type() == at::kDouble || t.is_floating_point() ? "double" : "int64_t") << ">{";
    const int64_t n = c.numel();
    const double* p = c.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) os << (i ? ", " : "") << num_str(p[i], t.scalar_type());
    os << "}).to(at::k" << c10::toString(t.scalar_type()) << ").reshape({";
    for (int64_t d = 0; d < t.dim(); ++d) os << (d ? ", " : "") << t.size(d);
    os << "});\n";
  }
  return os.str();
}

Verdict& Verdict::require(bool ok, const std::string& what) {
  if (!ok) msg_ += (msg_.empty() ? "" : "\n") + what;
  return *this;
}

Verdict& Verdict::close(const at::Tensor& actual, const at::Tensor& expected, mmcv_test::Tol tol,
                        const std::string& what) {
  auto r = mmcv_test::all_close(actual, expected, tol);
  if (!r) require(false, what + ": " + r.message());
  return *this;
}

Verdict& Verdict::equal(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  auto r = mmcv_test::all_equal(actual, expected, /*check_dtype=*/false);
  if (!r) require(false, what + ": " + r.message());
  return *this;
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

namespace {
struct Entry {
  std::function<OpSpec()> make;
  std::unique_ptr<OpSpec> built;
};
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;
  return r;
}
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

Registrar::Registrar(const char* name, std::function<OpSpec()> make) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto& e = registry()[name];
  if (e.make) {
    std::fprintf(stderr, "mmcv_rel: op spec %s registered twice\n", name);
    std::abort();
  }
  e.make = std::move(make);
}

std::vector<std::string> registered_names() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> names;
  for (const auto& kv : registry()) names.push_back(kv.first);
  return names;
}

const OpSpec& spec(const std::string& name) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto& e = registry().at(name);
  if (!e.built) {
    e.built = std::make_unique<OpSpec>(e.make());
    if (e.built->name.empty()) e.built->name = name;
    if (e.built->op.empty()) e.built->op = name;
  }
  return *e.built;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

::testing::AssertionResult bitwise_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.defined() != b.defined()) return ::testing::AssertionFailure() << "one tensor is undefined";
  if (!a.defined()) return ::testing::AssertionSuccess();
  if (a.sizes() != b.sizes())
    return ::testing::AssertionFailure() << "shapes differ: " << a.sizes() << " vs " << b.sizes();
  if (a.scalar_type() != b.scalar_type())
    return ::testing::AssertionFailure() << "dtypes differ: " << a.scalar_type() << " vs " << b.scalar_type();
  auto ca = a.detach().to(at::kCPU).contiguous();
  auto cb = b.detach().to(at::kCPU).contiguous();
  const size_t nbytes = static_cast<size_t>(ca.numel()) * ca.element_size();
  if (nbytes == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), nbytes) == 0) return ::testing::AssertionSuccess();
  auto r = mmcv_test::all_close(ca, cb, mmcv_test::Tol{0, 0});
  return ::testing::AssertionFailure() << "bytes differ; " << (r ? "values equal up to NaN payload / sign of zero" : r.message());
}

Tensors clone_all(const Tensors& xs) {
  Tensors out;
  out.reserve(xs.size());
  for (const auto& x : xs) out.push_back(x.defined() ? x.detach().clone() : x);
  return out;
}

Tensors to_device(const Tensors& xs, at::Device d) {
  Tensors out;
  out.reserve(xs.size());
  for (const auto& x : xs) out.push_back(x.defined() ? x.to(d) : x);
  return out;
}

void synchronize(at::Device d) {
  if (d.is_cpu()) return;
  c10::impl::VirtualGuardImpl impl(d.type());
  impl.getStream(d).synchronize();
}

namespace {
// Set while bad inputs run: their comparisons are about the op's values, and the gradients of
// inputs whose dtype a mutation changed are not comparable (integers get none).
thread_local bool g_values_only = false;
struct ValuesOnly {
  ValuesOnly() { g_values_only = true; }
  ~ValuesOnly() { g_values_only = false; }
};
}  // namespace

Tensors with_grads(const std::function<at::Tensor(const Tensors&)>& fn, const Tensors& inputs,
                   const std::vector<bool>& wants_grad) {
  if (g_values_only) {
    Tensors res{fn(inputs).detach()};
    for (size_t i = 0; i < inputs.size(); ++i)
      if (i < wants_grad.size() && wants_grad[i]) res.push_back(at::Tensor());
    return res;
  }
  Tensors leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    // Only floating tensors can require grad: other dtypes go through unchanged so that the op,
    // not autograd, reports them.
    const bool g = i < wants_grad.size() && wants_grad[i] && inputs[i].defined() &&
                   (inputs[i].is_floating_point() || inputs[i].is_complex());
    leaves.push_back(g ? inputs[i].detach().requires_grad_(true) : inputs[i]);
  }
  at::Tensor out = fn(leaves);
  // A fixed, non-uniform cotangent: (k mod 7) - 3.
  at::Tensor w = (at::arange(out.numel(), out.options().dtype(at::kLong).requires_grad(false)).remainder(7) - 3)
                     .to(out.scalar_type())
                     .reshape(out.sizes());
  Tensors res{out.detach()};
  std::vector<at::Tensor> grads;
  if (out.requires_grad()) grads = mmcv_test::vjp(out, w, leaves);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!(i < wants_grad.size() && wants_grad[i])) continue;
    at::Tensor g = i < grads.size() ? grads[i] : at::Tensor();
    res.push_back(g.defined() ? g : at::zeros_like(inputs[i], inputs[i].options().requires_grad(false)));
  }
  return res;
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 0);
  return (end && *end == '\0') ? static_cast<int64_t>(x) : fallback;
}

int64_t scaled_cases(int64_t n) {
  const int64_t pct = env_int("MMCV_OPS_PROPERTY_CASES", 100);
  return std::max<int64_t>(1, n * pct / 100);
}

// ---------------------------------------------------------------------------------------------
// Crash labels: the case being run, printed if the process dies on a signal (outside sanitizers,
// which print their own report).
// ---------------------------------------------------------------------------------------------

namespace {
char g_label[512] = "";
}

void set_case_label(const std::string& label) {
  const size_t n = std::min(label.size(), sizeof(g_label) - 1);
  std::memcpy(g_label, label.data(), n);
  g_label[n] = '\0';
}

const char* case_label() { return g_label; }

// ---------------------------------------------------------------------------------------------
// Output comparison (outputs of one call on two devices, or of two layouts)
// ---------------------------------------------------------------------------------------------

void compare_outputs(const Tensors& actual, const Tensors& expected, mmcv_test::Tol tol, const std::string& what,
                     Verdict& v) {
  if (actual.size() != expected.size()) {
    v.require(false, what + ": " + std::to_string(actual.size()) + " outputs vs " +
                         std::to_string(expected.size()));
    return;
  }
  for (size_t i = 0; i < actual.size(); ++i) {
    const std::string w = what + " output " + std::to_string(i);
    const auto& a = actual[i];
    const auto& e = expected[i];
    if (a.defined() != e.defined()) {
      v.require(false, w + ": defined " + std::to_string(a.defined()) + " vs " + std::to_string(e.defined()));
      continue;
    }
    if (!a.defined()) continue;
    if (e.is_floating_point() || e.is_complex()) {
      v.close(a, e, tol, w);
    } else {
      v.equal(a, e, w);
    }
  }
}

void compare_devices(const OpSpec& s, const Tensors& cpu, const Tensors& dev, Verdict& v) {
  for (size_t i = 0; i < dev.size(); ++i)
    if (dev[i].defined() && i < cpu.size() && cpu[i].defined() && dev[i].device().type() == at::kCPU &&
        cpu[i].numel() > 0)
      v.require(false, "output " + std::to_string(i) + " came back on the CPU");
  if (s.device_compare) {
    s.device_compare(cpu, dev, v);
    return;
  }
  mmcv_test::Tol tol = s.device_tol ? *s.device_tol : mmcv_test::Tol{1e-5, 1e-5};
  compare_outputs(dev, cpu, tol, "CUDA vs CPU", v);
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

void run_concurrency(const OpSpec& s) {
  ASSERT_TRUE(s.inputs && s.call) << s.name << ": no inputs/call";
  const Tensors X = s.inputs();
  const Tensors X0 = clone_all(X);
  const Tensors ref = s.call(X);
  {
    const Tensors again = s.call(X);
    ASSERT_EQ(again.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i)
      ASSERT_TRUE(bitwise_equal(again[i], ref[i])) << s.name << ": output " << i
                                                   << " differs between two single-thread calls";
  }
  const int threads = static_cast<int>(env_int("MMCV_OPS_STRESS_THREADS", 8));
  const int iters = static_cast<int>(env_int("MMCV_OPS_STRESS_ITERS", 24));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int64_t> calls{0};
  std::mutex m;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& msg) {
    std::lock_guard<std::mutex> lock(m);
    if (failures.size() < 5) failures.push_back(msg);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      for (int it = 0; it < iters; ++it) {
        try {
          const Tensors out = s.call(X);
          calls.fetch_add(1);
          if (out.size() != ref.size()) {
            fail("thread " + std::to_string(t) + ": output count changed");
            return;
          }
          for (size_t i = 0; i < out.size(); ++i) {
            auto r = bitwise_equal(out[i], ref[i]);
            if (!r) {
              fail("thread " + std::to_string(t) + " iteration " + std::to_string(it) + " output " +
                   std::to_string(i) + ": " + r.message());
              return;
            }
          }
        } catch (const std::exception& e) {
          fail("thread " + std::to_string(t) + " threw: " + e.what());
          return;
        }
      }
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  go.store(true);
  for (auto& th : pool) th.join();
  for (const auto& f : failures) ADD_FAILURE() << s.name << ": " << f;
  EXPECT_EQ(calls.load(), static_cast<int64_t>(threads) * iters) << s.name;
  for (size_t i = 0; i < X.size(); ++i)
    EXPECT_TRUE(bitwise_equal(X[i], X0[i])) << s.name << ": input " << i << " was modified";
}

// ---------------------------------------------------------------------------------------------
// Device agreement
// ---------------------------------------------------------------------------------------------

void run_device_agreement(const OpSpec& s) {
  if (!at::hasCUDA()) GTEST_SKIP() << "CUDA is not available in this build/machine";
  ASSERT_TRUE(s.inputs && s.call);
  const Tensors X = s.inputs();
  const Tensors cpu = s.call(X);
  const Tensors dev = s.call(to_device(X, at::Device(at::kCUDA)));
  Verdict v;
  compare_devices(s, cpu, dev, v);
  EXPECT_TRUE(v.ok()) << s.name << ": " << v.message();
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

namespace {

uint64_t name_hash(const std::string& s) {  // FNV-1a
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::string run_check(const OpSpec& s, const Sample& x) {
  Verdict v;
  try {
    s.check(x, v);
  } catch (const c10::Error& e) {
    v.require(false, std::string("threw c10::Error on a valid input: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    v.require(false, std::string("threw on a valid input: ") + e.what());
  }
  return v.message();
}

// Remove rows [begin, end) of a group from every member.
Sample without_rows(const Sample& x, size_t g, int64_t begin, int64_t end) {
  Sample y = x;
  for (const auto& member : x.groups[g]) {
    const at::Tensor& t = x.t(member.first);
    const int64_t d = member.second;
    const int64_t n = t.size(d);
    auto keep = at::cat({at::arange(0, begin, at::kLong), at::arange(end, n, at::kLong)});
    y.add(member.first, t.index_select(d, keep.to(t.device())));
  }
  return y;
}

int64_t group_len(const Sample& x, size_t g) {
  const auto& m = x.groups[g].front();
  return x.t(m.first).size(m.second);
}

// Greedy delta debugging over the shrink groups: drop halves, quarters, ... single rows while the
// check still fails. Returns the smallest failing sample found and its message.
std::pair<Sample, std::string> shrink(const OpSpec& s, Sample x, std::string msg, int* steps) {
  int budget = 3000;
  bool progress = true;
  while (progress && budget > 0) {
    progress = false;
    for (size_t g = 0; g < x.groups.size(); ++g) {
      for (int64_t chunk = std::max<int64_t>(1, group_len(x, g) / 2); chunk >= 1 && budget > 0; chunk /= 2) {
        for (int64_t begin = 0; begin < group_len(x, g) && budget > 0;) {
          const int64_t end = std::min(group_len(x, g), begin + chunk);
          Sample y = without_rows(x, g, begin, end);
          --budget;
          std::string m = run_check(s, y);
          if (!m.empty()) {
            x = std::move(y);
            msg = std::move(m);
            ++*steps;
            progress = true;
          } else {
            begin = end;
          }
        }
        if (chunk == 1) break;
      }
    }
  }
  return {std::move(x), std::move(msg)};
}

}  // namespace

void run_properties(const OpSpec& s) {
  if (!s.generate || !s.check) GTEST_SKIP() << s.name << " has no property generator";
  const uint64_t base = static_cast<uint64_t>(env_int("MMCV_OPS_PROPERTY_SEED", 20240607));
  const int64_t only = env_int("MMCV_OPS_PROPERTY_CASE", -1);
  const int64_t n = only >= 0 ? 1 : scaled_cases(s.property_cases);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = only >= 0 ? only : k;
    uint64_t seed_state = base ^ name_hash(s.name);
    seed_state += static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL;
    const uint64_t case_seed = splitmix64(seed_state);
    Gen gen(case_seed);
    Sample x;
    try {
      x = s.generate(gen);
    } catch (const std::exception& e) {
      ADD_FAILURE() << s.name << ": generator threw at case " << i << ": " << e.what();
      return;
    }
    set_case_label(s.name + " property case " + std::to_string(i));
    std::string msg = run_check(s, x);
    if (msg.empty()) continue;
    const std::string original = x.describe();
    int steps = 0;
    auto [small, small_msg] = shrink(s, x, msg, &steps);
    ADD_FAILURE() << s.name << ": property failed at case " << i << " (case seed 0x" << std::hex << case_seed
                  << std::dec << ", base seed " << base << ")\n"
                  << msg << "\n--- minimal failing case (" << steps << " shrink steps) ---\n"
                  << small_msg << "\n"
                  << small.describe() << "--- original case ---\n"
                  << original << "replay: MMCV_OPS_PROPERTY_SEED=" << base << " MMCV_OPS_PROPERTY_CASE=" << i
                  << " test_reliability --gtest_filter='ops/properties.*/" << s.name << "'";
    return;  // one report per op
  }
  set_case_label("");
}

// ---------------------------------------------------------------------------------------------
// Bad inputs
// ---------------------------------------------------------------------------------------------

namespace {

// kThrowOrWorkAten: like kThrowOrWork, but ATen's own "<kernel>" not implemented for '<dtype>'"
// is also accepted (half / bfloat16 on ops documented as "where ATen supports them").
enum class Expect { kThrowNamed, kThrowOrWork, kThrowOrWorkAten, kWork, kSameAs };

struct Mutation {
  std::string label;
  Tensors args;
  Expect expect;
  std::vector<std::string> names;  // kThrowNamed: message must contain one of these
  Tensors reference;               // kSameAs / kThrowOrWork (if it works): compare with call(reference)
  mmcv_test::Tol tol{1e-5, 1e-5};
};

at::Tensor garbage_like(const at::Tensor& x, at::IntArrayRef sizes) {
  auto opts = x.options();
  if (x.is_floating_point()) return at::full(sizes, std::numeric_limits<double>::quiet_NaN(), opts);
  if (x.scalar_type() == at::kBool) return at::ones(sizes, opts);
  const double big = x.scalar_type() == at::kLong ? static_cast<double>(int64_t{1} << 40)
                                                  : static_cast<double>(std::numeric_limits<int8_t>::max());
  return at::full(sizes, big, opts);
}

// Position in the tensor of spec dim k (handles a leading "...").
int64_t tensor_dim(const ArgSpec& a, const at::Tensor& x, size_t k) {
  const bool ell = !a.dims.empty() && a.dims.front() == "...";
  if (!ell) return static_cast<int64_t>(k);
  return x.dim() - static_cast<int64_t>(a.dims.size() - 1) + static_cast<int64_t>(k) - 1;
}

bool is_number(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<Mutation> derive(const OpSpec& s, const Tensors& X) {
  std::vector<Mutation> out;
  const size_t n = std::min(X.size(), s.args.size());
  std::vector<std::string> all_names;
  std::vector<size_t> float_args;
  for (size_t i = 0; i < n; ++i) {
    all_names.push_back(s.args[i].name);
    if (s.args[i].kind != ArgKind::kIndex) float_args.push_back(i);
  }
  auto with = [&](size_t i, const at::Tensor& t) {
    Tensors y = X;
    y[i] = t;
    return y;
  };
  for (size_t i = 0; i < n; ++i) {
    const ArgSpec& a = s.args[i];
    const at::Tensor& x = X[i];
    const bool ell = !a.dims.empty() && a.dims.front() == "...";
    const std::string p = a.name + "/";
    // Rank.
    if (!ell) out.push_back({p + "rank+1", with(i, x.unsqueeze(0)), Expect::kThrowNamed, {a.name}, {}, {}});
    if (x.dim() >= 1 && x.size(-1) > 0)
      out.push_back({p + "rank-1", with(i, x.select(-1, 0)), Expect::kThrowNamed, {a.name}, {}, {}});
    if (x.dim() >= 1 && !ell) out.push_back({p + "rank0", with(i, x.reshape({-1}).narrow(0, 0, 1).reshape({})),
                                             Expect::kThrowNamed, {a.name}, {}, {}});
    // Fixed sizes (the trailing 4, 5, 8...): one more and one fewer.
    for (size_t k = ell ? 1 : 0; k < a.dims.size(); ++k) {
      const int64_t d = tensor_dim(a, x, k);
      if (d < 0 || d >= x.dim()) continue;
      if (is_number(a.dims[k])) {
        auto sizes = x.sizes().vec();
        sizes[static_cast<size_t>(d)] = 1;
        auto bigger = at::cat({x, at::zeros(sizes, x.options())}, d);
        out.push_back({p + "dim" + std::to_string(d) + "_size+1", with(i, bigger), Expect::kThrowNamed, {a.name}, {}, {}});
        if (x.size(d) > 1)
          out.push_back({p + "dim" + std::to_string(d) + "_size-1", with(i, x.narrow(d, 0, x.size(d) - 1)),
                         Expect::kThrowNamed, {a.name}, {}, {}});
      } else if (a.dims[k] != "*") {
        // A symbolic size shared with another argument: shrink it here only.
        std::vector<std::string> sharers;
        for (size_t j = 0; j < n; ++j)
          if (j != i && std::find(s.args[j].dims.begin(), s.args[j].dims.end(), a.dims[k]) != s.args[j].dims.end())
            sharers.push_back(s.args[j].name);
        if (!sharers.empty() && x.size(d) >= 1) {
          sharers.push_back(a.name);
          out.push_back({p + "mismatched_" + a.dims[k], with(i, x.narrow(d, 0, x.size(d) - 1)), Expect::kThrowNamed,
                         sharers, {}, {}});
        }
      }
    }
    // Dtypes.
    if (a.kind == ArgKind::kCastToFloat) {
      for (auto st : {at::kInt, at::kLong, at::kByte, at::kDouble}) {
        auto cast = x.to(st);
        out.push_back({p + "dtype_" + c10::toString(st), with(i, cast), Expect::kThrowOrWork, {a.name},
                       with(i, cast.to(x.scalar_type())), {1e-5, 1e-5}});
      }
      for (auto st : {at::kBool, at::kComplexFloat})
        out.push_back({p + "dtype_" + c10::toString(st), with(i, x.to(st)), Expect::kThrowNamed, {a.name}, {}, {}});
    } else if (a.kind != ArgKind::kIndex) {
      for (auto st : {at::kInt, at::kLong, at::kByte, at::kBool, at::kComplexFloat}) {
        out.push_back({p + "dtype_" + c10::toString(st), with(i, x.to(st)), Expect::kThrowNamed, {a.name}, {}, {}});
      }
      // Mixed float32 / float64: rejected, unless other arguments are converted to this one's
      // dtype (kCastToFloat), where the float64 result must match the float32 one.
      bool others_cast = false;
      for (size_t j = 0; j < n; ++j) others_cast = others_cast || (j != i && s.args[j].kind == ArgKind::kCastToFloat);
      if (float_args.size() >= 2 && x.scalar_type() == at::kFloat)
        out.push_back({p + "mixed_dtype_Double", with(i, x.to(at::kDouble)),
                       others_cast ? Expect::kThrowOrWork : Expect::kThrowNamed, all_names, others_cast ? X : Tensors{},
                       {1e-4, 1e-4}});
    } else {
      for (auto st : {at::kFloat, at::kInt, at::kBool}) {
        if (st == x.scalar_type()) continue;
        out.push_back({p + "dtype_" + c10::toString(st), with(i, x.to(st)), Expect::kThrowOrWork, {a.name}, X, {}});
      }
    }
    // Devices.
    if (at::hasCUDA() && n >= 2)
      out.push_back({p + "on_cuda_alone", with(i, x.to(at::kCUDA)), Expect::kThrowNamed, all_names, {}, {}});
    // Valid views: must give the result of the contiguous input (garbage around them is NaN).
    if (x.dim() >= 1) {
      auto strided = at::stack({x, garbage_like(x, x.sizes())}, -1).select(-1, 0);
      out.push_back({p + "view_strided_every_dim", with(i, strided), Expect::kSameAs, {}, X, {}});
      auto gsizes = x.sizes().vec();
      gsizes[0] = 1;
      auto offset = at::cat({garbage_like(x, gsizes), x}, 0).narrow(0, 1, x.size(0));
      out.push_back({p + "view_storage_offset", with(i, offset), Expect::kSameAs, {}, X, {}});
      if (x.size(0) >= 1) {
        auto expanded = x.narrow(0, 0, 1).expand(x.sizes());
        out.push_back({p + "view_expanded_stride0", with(i, expanded), Expect::kSameAs, {}, with(i, expanded.contiguous()), {}});
      }
    }
    if (x.dim() >= 2) {
      auto colmajor = x.transpose(-1, -2).contiguous().transpose(-1, -2);
      out.push_back({p + "view_transposed", with(i, colmajor), Expect::kSameAs, {}, X, {}});
    }
    if (x.dim() == 4)
      out.push_back({p + "view_channels_last", with(i, x.contiguous(at::MemoryFormat::ChannelsLast)), Expect::kSameAs,
                     {}, X, {}});
    if (x.dim() >= 3) {
      std::vector<int64_t> rev;
      for (int64_t d = x.dim() - 1; d >= 0; --d) rev.push_back(d);
      auto reversed = x.permute(rev).contiguous().permute(rev);
      out.push_back({p + "view_reversed_dim_order", with(i, reversed), Expect::kSameAs, {}, X, {}});
    }
  }
  // Every floating argument at once: other floating dtypes.
  if (!float_args.empty()) {
    auto all_to = [&](at::ScalarType st) {
      Tensors y = X;
      for (size_t i : float_args) y[i] = X[i].to(st);
      return y;
    };
    auto all_rounded = [&](at::ScalarType st) {
      Tensors y = X;
      for (size_t i : float_args) y[i] = X[i].to(st).to(X[i].scalar_type());
      return y;
    };
    out.push_back({"all/dtype_Long", all_to(at::kLong), Expect::kThrowNamed, all_names, {}, {}});
    out.push_back({"all/dtype_Double", all_to(at::kDouble), Expect::kThrowOrWork, all_names,
                   s.compare_float64 ? X : Tensors{}, {1e-4, 1e-4}});
    // Half / bfloat16: ops that accept them (kFloatHalfOk) may also fail inside ATen where a kernel
    // lacks the dtype on this device; the others must reject them by name.
    bool half_ok = true;
    for (size_t i : float_args) half_ok = half_ok && s.args[i].kind == ArgKind::kFloatHalfOk;
    const Expect half_expect = half_ok ? Expect::kThrowOrWorkAten : Expect::kThrowNamed;
    out.push_back({"all/dtype_Half", all_to(at::kHalf), half_expect, all_names, all_rounded(at::kHalf), {1e-2, 1e-2}});
    out.push_back({"all/dtype_BFloat16", all_to(at::kBFloat16), half_expect, all_names, all_rounded(at::kBFloat16),
                   {5e-2, 5e-2}});
    // Every argument non-contiguous at once.
    Tensors strided = X;
    for (size_t i = 0; i < n; ++i)
      if (X[i].dim() >= 1) strided[i] = at::stack({X[i], garbage_like(X[i], X[i].sizes())}, -1).select(-1, 0);
    out.push_back({"all/view_strided_every_dim", strided, Expect::kSameAs, {}, X, {}});
  }
  // Empty along a symbolic dim (every argument that has it): valid, must work.
  for (const auto& dim : s.empty_dims) {
    Tensors y = X;
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      const ArgSpec& a = s.args[i];
      for (size_t k = 0; k < a.dims.size(); ++k)
        if (a.dims[k] == dim) {
          const int64_t d = tensor_dim(a, X[i], k);
          y[i] = y[i].narrow(d, 0, 0);
          any = true;
        }
    }
    if (any) out.push_back({"empty_" + dim, y, Expect::kWork, {}, {}, {}});
  }
  return out;
}

std::string types_str(const Tensors& xs) {
  std::ostringstream os;
  bool first = true;
  for (const auto& x : xs) {
    os << (first ? "" : ", ");
    first = false;
    if (x.defined()) {
      os << x.scalar_type() << x.sizes();
    } else {
      os << "undefined";
    }
  }
  return os.str();
}

}  // namespace

void run_bad_inputs(const OpSpec& s) {
  ASSERT_TRUE(s.inputs && s.call);
  const ValuesOnly values_only;
  const Tensors X = s.inputs();
  const std::string prefix = s.op + ":";
  int n_cases = 0;
  for (const auto& m : derive(s, X)) {
    ++n_cases;
    SCOPED_TRACE(s.name + " mutation " + m.label + " (" + types_str(m.args) + ")");
    set_case_label(s.name + " bad input " + m.label);
    Tensors out;
    bool threw = false;
    std::string msg;
    try {
      out = s.call(m.args);
    } catch (const c10::Error& e) {
      threw = true;
      msg = e.what_without_backtrace();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw a non-c10::Error exception: " << e.what();
      continue;
    }
    if (threw) {
      bool named_op = msg.find(prefix) != std::string::npos;
      for (const auto& o : s.other_ops) named_op = named_op || msg.find(o + ":") != std::string::npos;
      bool named_arg = m.names.empty();
      for (const auto& nm : m.names) named_arg = named_arg || msg.find(nm) != std::string::npos;
      if (m.expect == Expect::kWork || m.expect == Expect::kSameAs) {
        ADD_FAILURE() << "valid input threw: " << msg;
      } else if (m.expect == Expect::kThrowOrWorkAten && msg.find("not implemented for '") != std::string::npos) {
        // documented: supported where ATen's kernels support the dtype
      } else if (!named_op || !named_arg) {
        ADD_FAILURE() << "error does not name the op (\"" << prefix << "\") and the argument: " << msg;
      }
      continue;
    }
    if (m.expect == Expect::kThrowNamed) {
      ADD_FAILURE() << "did not throw";
      continue;
    }
    for (const auto& o : out) EXPECT_TRUE(!o.defined() || o.numel() >= 0);
    const bool may_work = m.expect == Expect::kThrowOrWork || m.expect == Expect::kThrowOrWorkAten;
    if (m.expect == Expect::kSameAs) {
      // docs/reliability.md: a valid view gives the contiguous call's result bit for bit.
      const Tensors ref = s.call(m.reference);
      ASSERT_EQ(out.size(), ref.size());
      for (size_t i = 0; i < out.size(); ++i) EXPECT_TRUE(bitwise_equal(out[i], ref[i])) << "output " << i;
    } else if (may_work && !m.reference.empty()) {
      Tensors ref = s.call(m.reference);
      Verdict v;
      compare_outputs(out, ref, m.tol, m.label, v);
      EXPECT_TRUE(v.ok()) << v.message();
    }
  }
  for (const auto& b : s.bad) {
    ++n_cases;
    set_case_label(s.name + " bad input " + b.label);
    SCOPED_TRACE(s.name + " table row " + b.label);
    EXPECT_MMCV_ERROR(b.run(), b.expect);
  }
  for (const auto& vc : s.views) {
    ++n_cases;
    set_case_label(s.name + " view " + vc.label);
    SCOPED_TRACE(s.name + " view row " + vc.label);
    try {
      const Tensors out = vc.view(), ref = vc.reference();
      ASSERT_EQ(out.size(), ref.size());
      for (size_t i = 0; i < out.size(); ++i) EXPECT_TRUE(bitwise_equal(out[i], ref[i])) << "output " << i;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "valid view threw: " << e.what();
    }
  }
  set_case_label("");
  ::testing::Test::RecordProperty("cases", n_cases);
}

void run_policy(const OpSpec& s) {
  if (s.policy.empty()) GTEST_SKIP() << s.name << " has no NaN/Inf policy rows";
  for (const auto& row : s.policy) {
    set_case_label(s.name + " policy " + row.first);
    Verdict v;
    try {
      row.second(v);
    } catch (const c10::Error& e) {
      v.require(false, std::string("threw: ") + e.what_without_backtrace());
    }
    // A row labelled "KNOWN BUG ..." states MMCV's behaviour for a bug reported but not yet fixed:
    // it must still fail (printed as a warning); once it passes, the label must go.
    if (row.first.rfind("KNOWN BUG", 0) == 0) {
      EXPECT_FALSE(v.ok()) << s.name << ": \"" << row.first << "\" passes now: remove the KNOWN BUG mark";
      if (!v.ok())
        std::cerr << "[ WARNING  ] " << s.name << " known bug (docs/nan_policy.md): " << row.first << "\n  "
                  << v.message() << "\n";
      continue;
    }
    EXPECT_TRUE(v.ok()) << s.name << " NaN/Inf policy \"" << row.first << "\": " << v.message();
  }
  set_case_label("");
}

}  // namespace mmcv_rel
