// SPDX-License-Identifier: Apache-2.0
// Seeded, time-boxed fuzz driver of the reliability suite (docs/reliability.md, "Fuzzing"). Built
// from the op specs alone (name/op/other_ops, inputs, call, args, empty_dims and the optional
// int_params), so every registered spec is fuzzed with no extra work. Each case takes the spec's
// valid inputs, optionally shrinks a dim that only one argument has to 1 (C = 1, H = 1 ...), and
// applies one hostile mutation:
//   * a view of one argument: every dim strided over NaN garbage, a storage offset, transposed,
//     reversed dim order, channels_last, a random permutation, stride-0 (expand) and overlapping
//     (as_strided) rows; the result must be BIT-equal to the call on the contiguous copy (or both
//     calls must fail with a named error);
//   * a dtype for one or all arguments (half, bfloat16, float64, integers, bool, complex);
//   * huge-but-finite (and non-finite) values written into one argument: +-3e38, the dtype's max,
//     1e30, denormals, NaN, Inf for floating data, 2^40, -1, INT32_MAX, INT64_MAX for indices;
//   * an integer parameter (spec.int_params) set to 0, -1, 2^31, 2^32, 2^40, 2^62 + 1, INT64_MAX,
//     INT64_MIN or a random huge value.
// Every call must end in a c10::Error whose message names the op (or one of spec.other_ops), or in
// a result (for views: bit-equal to the contiguous call). Any other exception type (std::bad_alloc,
// std::length_error, dnnl::error) is a failure. A failure prints its seed, case and a one-line
// reproducer. Environment:
//   MMCV_OPS_FUZZ_SECONDS  total budget over all specs (default 20), split evenly per spec
//   MMCV_OPS_FUZZ_SEED     base seed (default 20241212)
//   MMCV_OPS_FUZZ_CASE     run only this case number (replay)
//   MMCV_OPS_FUZZ_SLOW_MS  report calls slower than this many ms on stderr (default 5000)

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "reliability/reliability.hpp"
#include "reliability/runners.hpp"

namespace mmcv_rel {

namespace {

uint64_t fuzz_hash(const std::string& s) {  // FNV-1a
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

enum class FuzzExpect { kNamedOrWork, kSameAsReference };

struct FuzzCase {
  std::string label;
  Tensors args;
  FuzzExpect expect = FuzzExpect::kNamedOrWork;
  Tensors reference;  // kSameAsReference: the contiguous equivalent of args
  bool aten_dtype_ok = false;  // ATen's "not implemented for 'Half'" accepted (kFloatHalfOk args)
  const OpSpec::IntParam* param = nullptr;  // call through this parameter hook
  int64_t param_value = 0;
};

bool is_number(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

at::Tensor nan_like(const at::Tensor& x) {
  if (x.is_floating_point()) return at::full_like(x, std::numeric_limits<double>::quiet_NaN());
  if (x.scalar_type() == at::kBool) return at::ones_like(x);
  return at::full_like(x, x.scalar_type() == at::kLong ? static_cast<double>(int64_t{1} << 40) : 127.0);
}

// Symbolic dims that exactly one argument has (shrinking them keeps the inputs consistent).
std::vector<std::pair<size_t, int64_t>> private_dims(const OpSpec& s, const Tensors& X) {
  std::vector<std::pair<size_t, int64_t>> out;
  const size_t n = std::min(X.size(), s.args.size());
  for (size_t i = 0; i < n; ++i) {
    const auto& dims = s.args[i].dims;
    if (!dims.empty() && dims.front() == "...") continue;
    if (!X[i].defined() || X[i].dim() != static_cast<int64_t>(dims.size())) continue;
    for (size_t k = 0; k < dims.size(); ++k) {
      const auto& d = dims[k];
      if (d == "*" || is_number(d)) continue;
      bool shared = false;
      for (size_t j = 0; j < n; ++j)
        if (j != i && std::find(s.args[j].dims.begin(), s.args[j].dims.end(), d) != s.args[j].dims.end()) shared = true;
      if (!shared && X[i].size(static_cast<int64_t>(k)) > 1) out.emplace_back(i, static_cast<int64_t>(k));
    }
  }
  return out;
}

// One view of x and its contiguous reference; label says which.
std::pair<at::Tensor, at::Tensor> random_view(Gen& g, const at::Tensor& x, std::string* label) {
  const int64_t D = x.dim();
  const int kind = static_cast<int>(g.integer(0, 7));
  switch (kind) {
    case 0: {  // every dim strided over garbage
      *label = "view_strided_every_dim";
      return {at::stack({x, nan_like(x)}, -1).select(-1, 0), x};
    }
    case 1: {  // storage offset
      *label = "view_storage_offset";
      auto flat = at::cat({nan_like(x).reshape({-1}).narrow(0, 0, std::min<int64_t>(3, x.numel())), x.reshape({-1})});
      return {flat.narrow(0, flat.numel() - x.numel(), x.numel()).view(x.sizes()), x};
    }
    case 2:
      if (D >= 2) {
        *label = "view_transposed";
        return {x.transpose(-1, -2).contiguous().transpose(-1, -2), x};
      }
      break;
    case 3:
      if (D == 4) {
        *label = "view_channels_last";
        return {x.contiguous(at::MemoryFormat::ChannelsLast), x};
      }
      break;
    case 4: {  // random permutation of the storage order
      std::vector<int64_t> perm(static_cast<size_t>(D));
      for (int64_t d = 0; d < D; ++d) perm[static_cast<size_t>(d)] = d;
      for (int64_t d = D - 1; d > 0; --d) std::swap(perm[static_cast<size_t>(d)], perm[static_cast<size_t>(g.integer(0, d))]);
      std::vector<int64_t> inv(static_cast<size_t>(D));
      for (int64_t d = 0; d < D; ++d) inv[static_cast<size_t>(perm[static_cast<size_t>(d)])] = d;
      *label = "view_permuted_storage";
      return {x.permute(perm).contiguous().permute(inv), x};
    }
    case 5:
      if (D >= 1 && x.size(0) >= 1) {  // stride 0 along a random dim
        const int64_t d = g.integer(0, D - 1);
        if (x.size(d) >= 1) {
          auto e = x.narrow(d, g.integer(0, x.size(d) - 1), 1).expand(x.sizes());
          *label = "view_expanded_stride0_dim" + std::to_string(d);
          return {e, e.contiguous()};
        }
      }
      break;
    case 6:
      if (D >= 1 && x.size(0) > 1 && x.numel() > x.size(0)) {  // overlapping rows (as_strided)
        auto c = x.contiguous();
        auto strides = c.strides().vec();
        const int64_t row = strides[0];
        if (row > 1) {
          strides[0] = g.integer(1, row - 1);
          auto o = c.as_strided(c.sizes(), strides);
          *label = "view_overlapping_rows_stride" + std::to_string(strides[0]);
          return {o, o.contiguous()};
        }
      }
      break;
    default:
      break;
  }
  if (D >= 3) {
    std::vector<int64_t> rev;
    for (int64_t d = D - 1; d >= 0; --d) rev.push_back(d);
    *label = "view_reversed_dim_order";
    return {x.permute(rev).contiguous().permute(rev), x};
  }
  *label = "view_strided_every_dim";
  return {at::stack({x, nan_like(x)}, -1).select(-1, 0), x};
}

at::Tensor hostile_values(Gen& g, const at::Tensor& x, ArgKind kind, std::string* label) {
  auto y = x.clone();
  if (y.numel() == 0) {
    *label = "values_none(empty)";
    return y;
  }
  auto flat = y.view({-1});
  const int64_t n = g.integer(1, std::min<int64_t>(4, flat.numel()));
  std::ostringstream os;
  os << "values";
  for (int64_t j = 0; j < n; ++j) {
    const int64_t at_i = g.integer(0, flat.numel() - 1);
    double v = 0;
    if (y.is_floating_point()) {
      const double big = y.scalar_type() == at::kDouble ? std::numeric_limits<double>::max()
                                                         : static_cast<double>(std::numeric_limits<float>::max());
      v = g.pick<double>({3e38, -3e38, 1e38, big, -big, 1e30, -1e30, 1e-45, 1e-310, 65504.0, 1e9,
                          std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                          -std::numeric_limits<double>::infinity(), -0.0});
      if (y.scalar_type() == at::kHalf || y.scalar_type() == at::kBFloat16) v = std::max(-65504.0, std::min(65504.0, v));
    } else if (y.scalar_type() == at::kBool) {
      v = 1;
    } else {
      const double hi = y.scalar_type() == at::kLong ? 9.2e18 : 2147483647.0;
      v = g.pick<double>({static_cast<double>(int64_t{1} << 40), -1.0, 2147483647.0, 9.2e18, -9.2e18, 1e6});
      v = std::max(-hi, std::min(hi, v));
      if (y.scalar_type() == at::kByte) v = g.pick<double>({0.0, 255.0});
      if (y.scalar_type() == at::kChar || y.scalar_type() == at::kShort) v = g.pick<double>({-128.0, 127.0});
    }
    flat[at_i].fill_(v);
    os << "[" << at_i << "]=" << v;
  }
  (void)kind;
  *label = os.str();
  return y;
}

int64_t hostile_int(Gen& g) {
  const int64_t big = std::numeric_limits<int64_t>::max();
  switch (g.integer(0, 12)) {
    case 0: return 0;
    case 1: return -1;
    case 2: return int64_t{1} << 31;
    case 3: return int64_t{1} << 32;
    case 4: return int64_t{1} << 40;
    case 5: return (int64_t{1} << 62) + 1;
    case 6: return big;
    case 7: return std::numeric_limits<int64_t>::min();
    case 8: return big / 2;
    case 9: return g.integer(1, 8);
    case 10: return g.integer(int64_t{1} << 44, int64_t{1} << 52);
    case 11: return -g.integer(2, 1 << 20);
    default: return static_cast<int64_t>(g.next() >> 1);
  }
}

FuzzCase make_case(const OpSpec& s, const Tensors& X, Gen& g) {
  FuzzCase c;
  Tensors base = X;
  std::string prefix;
  const size_t n = std::min(X.size(), s.args.size());
  // Shrink a private dim to 1 (the C = 1 views of issue 12 lived there).
  const auto priv = private_dims(s, X);
  if (!priv.empty() && g.coin(0.4)) {
    const auto& pd = priv[static_cast<size_t>(g.integer(0, static_cast<int64_t>(priv.size()) - 1))];
    base[pd.first] = base[pd.first].narrow(pd.second, 0, 1).contiguous();
    prefix = s.args[pd.first].name + ".dim" + std::to_string(pd.second) + "=1 ";
  }
  std::vector<size_t> tensor_args;
  for (size_t i = 0; i < n; ++i)
    if (base[i].defined()) tensor_args.push_back(i);
  const double r = g.uniform();
  const bool has_params = !s.int_params.empty();
  if (tensor_args.empty() || (has_params && r < 0.25)) {
    if (has_params) {
      const auto& p = s.int_params[static_cast<size_t>(g.integer(0, static_cast<int64_t>(s.int_params.size()) - 1))];
      c.param = &p;
      c.param_value = hostile_int(g);
      c.args = base;
      c.label = prefix + "param " + p.name + "=" + std::to_string(c.param_value);
      return c;
    }
    c.args = base;
    c.label = prefix + "plain";
    return c;
  }
  const size_t i = tensor_args[static_cast<size_t>(g.integer(0, static_cast<int64_t>(tensor_args.size()) - 1))];
  const ArgSpec& a = s.args[i];
  if (r < 0.6) {
    std::string label;
    if (base[i].dim() == 0) {
      c.args = base;
      c.label = prefix + "plain";
      return c;
    }
    auto vr = random_view(g, base[i], &label);
    c.args = base;
    c.args[i] = vr.first;
    c.reference = base;
    c.reference[i] = vr.second.contiguous();
    c.expect = FuzzExpect::kSameAsReference;
    c.label = prefix + a.name + " " + label;
    return c;
  }
  if (r < 0.8) {
    const auto st = g.pick<at::ScalarType>({at::kHalf, at::kBFloat16, at::kDouble, at::kFloat, at::kInt, at::kLong,
                                            at::kByte, at::kBool, at::kComplexFloat});
    c.args = base;
    const bool all = g.coin(0.4);
    for (size_t j : tensor_args)
      if (j == i || (all && s.args[j].kind != ArgKind::kIndex)) c.args[j] = base[j].to(st);
    c.aten_dtype_ok = (st == at::kHalf || st == at::kBFloat16) && a.kind == ArgKind::kFloatHalfOk;
    c.label = prefix + (all ? std::string("all floating args") : a.name) + " dtype " + c10::toString(st);
    return c;
  }
  std::string label;
  c.args = base;
  c.args[i] = hostile_values(g, base[i], a.kind, &label);
  c.label = prefix + a.name + " " + label;
  return c;
}

struct Outcome {
  bool threw_c10 = false;
  bool threw_other = false;
  std::string msg;
  Tensors out;
};

Outcome run_call(const OpSpec& s, const FuzzCase& c, const Tensors& args) {
  Outcome o;
  try {
    o.out = c.param ? c.param->call(args, c.param_value) : s.call(args);
  } catch (const c10::Error& e) {
    o.threw_c10 = true;
    o.msg = e.what_without_backtrace();
  } catch (const std::exception& e) {
    o.threw_other = true;
    o.msg = e.what();
  } catch (...) {
    o.threw_other = true;
    o.msg = "unknown exception";
  }
  return o;
}

bool names_op(const OpSpec& s, const std::string& msg) {
  if (msg.find(s.op + ":") != std::string::npos) return true;
  for (const auto& o : s.other_ops)
    if (msg.find(o + ":") != std::string::npos) return true;
  return false;
}

// "" when the outcome is acceptable.
std::string judge(const OpSpec& s, const FuzzCase& c, const Outcome& o) {
  if (o.threw_other) return "threw a non-c10::Error exception: " + o.msg;
  if (o.threw_c10) {
    if (names_op(s, o.msg)) return "";
    if (c.aten_dtype_ok && o.msg.find("not implemented for '") != std::string::npos) return "";
    return "error does not name the op (\"" + s.op + ":\"): " + o.msg.substr(0, 400);
  }
  for (const auto& t : o.out)
    if (t.defined() && t.numel() < 0) return "result with a negative numel";
  return "";
}

std::string first_line(const std::string& m) { return m.substr(0, std::min(m.find('\n'), size_t{300})); }

}  // namespace

void run_fuzz(const OpSpec& s) {
  ASSERT_TRUE(s.inputs && s.call);
  const double total = static_cast<double>(env_int("MMCV_OPS_FUZZ_SECONDS", 20));
  const double per_op = std::max(0.25, total / static_cast<double>(std::max<size_t>(1, registered_names().size())));
  const uint64_t base_seed = static_cast<uint64_t>(env_int("MMCV_OPS_FUZZ_SEED", 20241212));
  const int64_t only = env_int("MMCV_OPS_FUZZ_CASE", -1);
  const int64_t slow_ms = env_int("MMCV_OPS_FUZZ_SLOW_MS", 5000);
  const Tensors X = s.inputs();
  const auto t0 = std::chrono::steady_clock::now();
  int64_t cases = 0, failures = 0;
  for (int64_t k = 0;; ++k) {
    const int64_t idx = only >= 0 ? only : k;
    if (only < 0 && k > 0) {
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (el >= per_op) break;
    }
    if (only >= 0 && k > 0) break;
    const uint64_t case_seed = base_seed ^ fuzz_hash(s.name) ^ (static_cast<uint64_t>(idx) * 0x9e3779b97f4a7c15ULL);
    Gen g(case_seed);
    FuzzCase c;
    try {
      c = make_case(s, X, g);
    } catch (const std::exception&) {
      continue;  // the mutation itself was not constructible for these inputs
    }
    ++cases;
    set_case_label(s.name + " fuzz case " + std::to_string(idx) + ": " + c.label);
    const auto c0 = std::chrono::steady_clock::now();
    const Outcome o = run_call(s, c, c.args);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - c0).count();
    if (ms > slow_ms)
      std::cerr << "[ SLOW     ] " << s.name << " fuzz case " << idx << " (" << c.label << "): " << ms << " ms\n";
    std::string why = judge(s, c, o);
    if (why.empty() && c.expect == FuzzExpect::kSameAsReference) {
      const Outcome ref = run_call(s, c, c.reference);
      if (ref.threw_other) {
        why = "reference call threw a non-c10::Error exception: " + ref.msg;
      } else if (o.threw_c10 != ref.threw_c10) {
        why = std::string("view and contiguous calls disagree: ") + (o.threw_c10 ? "view threw: " + first_line(o.msg)
                                                                                  : "contiguous threw: " + first_line(ref.msg));
      } else if (!o.threw_c10) {
        if (o.out.size() != ref.out.size()) {
          why = "view and contiguous calls return different output counts";
        } else {
          for (size_t j = 0; j < o.out.size() && why.empty(); ++j) {
            auto eq = bitwise_equal(o.out[j], ref.out[j]);
            if (!eq) why = "output " + std::to_string(j) + " of the view is not bit-equal to the contiguous call: " + eq.message();
          }
        }
      }
    }
    if (!why.empty()) {
      ++failures;
      ADD_FAILURE() << s.name << ": fuzz case " << idx << " (" << c.label << ") " << why << "\n  seed: base "
                    << base_seed << ", case seed 0x" << std::hex << case_seed << std::dec
                    << "\n  reproduce: MMCV_OPS_FUZZ_SEED=" << base_seed << " MMCV_OPS_FUZZ_CASE=" << idx
                    << " test_reliability --gtest_filter='ops/fuzz.*/" << s.name << "'";
      if (failures >= 3) break;
    }
  }
  set_case_label("");
  ::testing::Test::RecordProperty("cases", static_cast<int>(cases));
  std::cerr << "[ FUZZ     ] " << s.name << ": " << cases << " cases, seed " << base_seed << "\n";
}

}  // namespace mmcv_rel
