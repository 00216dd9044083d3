// SPDX-License-Identifier: Apache-2.0
#pragma once
// Reliability suite: one registry of op specs, five drivers (the fifth, fuzz.cpp, is the seeded,
// time-boxed fuzz driver built from the same specs).
//
// Each file tests/reliability/ops/<stem>.cpp registers one or more OpSpec with MMCV_RELIABILITY_OP.
// A spec says, for one public op (or one mode of it):
//   * how to build a fixed, deterministic set of inputs and call the op   -> concurrency (8 threads,
//     bit-for-bit equal to the single-thread result) and device agreement (CPU vs CUDA);
//   * the signature of its tensor arguments (symbolic dims + kind)           -> bad-input mutations
//     derived automatically (rank, trailing size, mismatched lengths, dtypes, mixed dtypes,
//     devices, non-contiguous / expanded / offset views), plus an explicit table of bad
//     parameters;
//   * a seeded generator of random valid inputs and an invariant check     -> property tests with
//     shrinking to a minimal failing case, printed with its seed as pasteable C++.
//   * optionally larger inputs and a peer (torchvision) for the CUDA timing table.
// See docs/reliability.md ("Adding an op to the reliability suite").

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/test_utils.hpp"

namespace mmcv_rel {

using Tensors = std::vector<at::Tensor>;
using Call = std::function<Tensors(const Tensors&)>;

// ---------------------------------------------------------------------------------------------
// Random generation (deterministic: our own PRNG, independent of ATen's generators and threads)
// ---------------------------------------------------------------------------------------------

/// splitmix64-seeded xoshiro256** generator plus helpers for the shapes and values ops need.
class Gen {
 public:
  explicit Gen(uint64_t seed);
  uint64_t next();
  double uniform(double lo = 0.0, double hi = 1.0);  // [lo, hi)
  int64_t integer(int64_t lo, int64_t hi);           // [lo, hi] inclusive
  bool coin(double p = 0.5);
  /// A count in [0, max] biased to the edges: 0, 1 and max each ~10% of the time.
  int64_t count(int64_t max);
  template <typename T>
  const T& pick(std::initializer_list<T> xs) {
    return *(xs.begin() + integer(0, static_cast<int64_t>(xs.size()) - 1));
  }

  /// Coordinate regime of a generated set: scale of positions and sizes.
  enum class Scale { kNormal, kHuge, kTiny, kIntegerGrid };
  Scale scale();
  /// Typical magnitude of a regime: position range and size range.
  static std::pair<double, double> extent(Scale s);

  /// n axis-aligned boxes (x1, y1, x2, y2), x2 >= x1, y2 >= y1 (degenerate zero-size boxes and
  /// duplicated rows appear on purpose), values exactly representable in `dtype`, on CPU.
  at::Tensor boxes(int64_t n, Scale s, at::ScalarType dtype, double p_degenerate = 0.05, double p_duplicate = 0.1);
  /// Values uniform in [lo, hi) of a given shape, rounded to dtype, on CPU.
  at::Tensor uniform_tensor(at::IntArrayRef shape, double lo, double hi, at::ScalarType dtype);
  /// Scores in [0, 1) with deliberate ties (quantised) when `ties`.
  at::Tensor scores(int64_t n, at::ScalarType dtype, bool ties);

 private:
  uint64_t s_[4];
};

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// One generated input: named tensors, scalar/string parameters (for the check and for printing),
/// and "shrink groups": sets of (tensor, dim) pairs sharing a removable length (e.g. boxes dim 0 and
/// scores dim 0). The shrinker removes rows from a group while the check still fails.
struct Sample {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::map<std::string, double> nums;
  std::map<std::string, std::string> strs;
  std::vector<std::vector<std::pair<std::string, int64_t>>> groups;

  Sample& add(const std::string& name, const at::Tensor& t);
  const at::Tensor& t(const std::string& name) const;
  double num(const std::string& name) const;
  int64_t integer(const std::string& name) const { return static_cast<int64_t>(num(name)); }
  const std::string& str(const std::string& name) const;
  /// Declare a shrink group: rows along `dim` of each named tensor are removed together.
  Sample& group(std::initializer_list<std::pair<std::string, int64_t>> members);
  /// Pasteable C++ for the tensors + the parameters.
  std::string describe() const;
};

/// Collects invariant violations; an empty message means the sample passed.
class Verdict {
 public:
  /// Record a failure if !ok.
  Verdict& require(bool ok, const std::string& what);
  /// Values close (NaN == NaN, shapes must match), with `what` naming the comparison.
  Verdict& close(const at::Tensor& actual, const at::Tensor& expected, mmcv_test::Tol tol, const std::string& what);
  /// Exactly equal values and shapes.
  Verdict& equal(const at::Tensor& actual, const at::Tensor& expected, const std::string& what);
  bool ok() const { return msg_.empty(); }
  const std::string& message() const { return msg_; }

 private:
  std::string msg_;
};

using Generate = std::function<Sample(Gen&)>;
using Check = std::function<void(const Sample&, Verdict&)>;

// ---------------------------------------------------------------------------------------------
// Bad inputs
// ---------------------------------------------------------------------------------------------

/// What a tensor argument is, which decides the automatic dtype mutations:
/// kFloat: floating data; integer/bool/complex must be rejected with the argument named.
/// kFloatHalfOk: like kFloat, but float16/bfloat16 are valid on some devices (may work or throw).
/// kIndex: integer indices (any outcome but a crash is accepted for other dtypes).
/// kCastToFloat: any real dtype is converted to the computation dtype (MMCV's deform conv input
///   and weight): integer dtypes and float64 must give the result of the converted values; bool
///   and complex must be rejected by name.
enum class ArgKind { kFloat, kFloatHalfOk, kIndex, kCastToFloat };

/// A tensor argument: name as in the op's error messages, symbolic dims as in
/// detail::ShapeChecker ({"N", "4"}; "..." first = optional leading batch dims; "*" = any), kind.
struct ArgSpec {
  std::string name;
  std::vector<std::string> dims;
  ArgKind kind = ArgKind::kFloat;
};

/// An explicit bad-input row: a thunk and the substring its c10::Error must contain.
struct BadCase {
  std::string label;
  std::function<void()> run;
  std::string expect;  // substring of what_without_backtrace()
};

/// An explicit valid-view row: `view` and `reference` must give the same result.
struct ViewCase {
  std::string label;
  std::function<Tensors()> view;
  std::function<Tensors()> reference;
};

// ---------------------------------------------------------------------------------------------
// The spec
// ---------------------------------------------------------------------------------------------

struct OpSpec {
  std::string name;     // registry / test name, e.g. "bbox_overlaps" or "nms_offset1"
  std::string op;       // the op name that prefixes its error messages, e.g. "bbox_overlaps"
  std::vector<std::string> other_ops;  // ops it forwards to, whose messages may also appear

  // Fixed inputs (CPU, deterministic) and the call: used by concurrency, device agreement and as
  // the valid base of bad-input mutations. `call` may return several tensors (outputs, gradients).
  std::function<Tensors()> inputs;
  Call call;
  std::vector<ArgSpec> args;  // parallel to inputs(); empty = no automatic mutations
  /// Whether the all-float64 mutation must agree with the float32 result (1e-4); false for ops
  /// whose float32 arithmetic legitimately decides differently (say why in the spec).
  bool compare_float64 = true;
  /// Symbolic dims that may be zero (each gives a case that must succeed), e.g. {"N"}.
  std::vector<std::string> empty_dims;

  // Explicit tables.
  std::vector<BadCase> bad;
  std::vector<ViewCase> views;
  /// NaN / Inf policy rows (docs/nan_policy.md): each records violations in the Verdict.
  std::vector<std::pair<std::string, std::function<void(Verdict&)>>> policy;

  // Properties.
  Generate generate;
  Check check;
  int64_t property_cases = 3000;

  // CPU vs CUDA agreement: tolerance for floating outputs (integer outputs must match exactly
  // unless `device_compare` is given).
  std::optional<mmcv_test::Tol> device_tol;
  std::function<void(const Tensors& cpu, const Tensors& cuda, Verdict&)> device_compare;

  // Fuzz driver (optional; everything else it needs comes from the fields above): integer
  // parameters of the call that may be set to hostile values (0, -1, 2^31, 2^62 + 1, INT64_MAX ...).
  // Each row: the parameter's name and a call on the inputs with that one parameter set to `v`.
  struct IntParam {
    std::string name;
    std::function<Tensors(const Tensors&, int64_t)> call;
  };
  std::vector<IntParam> int_params;

  // Timing table (scripts/cuda_check.sh): larger inputs, and a peer computing the same thing
  // (torchvision through the dispatcher) if one exists. `peer_name` labels the peer column.
  std::function<Tensors()> bench_inputs;
  Call bench_call;  // the timed call (forward only, same parameters as `peer`); default: `call`
  Call peer;
  std::string peer_name;
};

/// Registry (filled by static registrars in ops/*.cpp, read only after main() starts).
std::vector<std::string> registered_names();
const OpSpec& spec(const std::string& name);
struct Registrar {
  Registrar(const char* name, std::function<OpSpec()> make);
};

#define MMCV_RELIABILITY_CAT_(a, b) a##b
#define MMCV_RELIABILITY_CAT(a, b) MMCV_RELIABILITY_CAT_(a, b)
/// MMCV_RELIABILITY_OP(name) { OpSpec s; ...; return s; }
#define MMCV_RELIABILITY_OP(name)                                                                         \
  static ::mmcv_rel::OpSpec MMCV_RELIABILITY_CAT(mmcv_rel_make_, name)();                                 \
  static const ::mmcv_rel::Registrar MMCV_RELIABILITY_CAT(mmcv_rel_registrar_, name)(                     \
      #name, &MMCV_RELIABILITY_CAT(mmcv_rel_make_, name));                                                \
  static ::mmcv_rel::OpSpec MMCV_RELIABILITY_CAT(mmcv_rel_make_, name)()

// ---------------------------------------------------------------------------------------------
// Helpers shared by op files and drivers
// ---------------------------------------------------------------------------------------------

/// Bitwise equality (sizes, dtype, every byte of the values; NaN payloads included).
::testing::AssertionResult bitwise_equal(const at::Tensor& a, const at::Tensor& b);
/// Deep copies (contiguous, same device), for "the inputs were not modified" checks.
Tensors clone_all(const Tensors& xs);
Tensors to_device(const Tensors& xs, at::Device d);
/// Block until the device's current stream finished (no CUDA headers: through c10's guard impl).
void synchronize(at::Device d);
/// Gradients of sum(out * w) for a fixed w (ones-like pattern) wrt `inputs`, as fresh leaves.
/// Returns {out, grad_0, grad_1, ...} (undefined grads become zeros). Thread-safe.
Tensors with_grads(const std::function<at::Tensor(const Tensors&)>& fn, const Tensors& inputs,
                   const std::vector<bool>& wants_grad);
/// Number of property cases after the MMCV_OPS_PROPERTY_CASES scaling (percent; default 100).
int64_t scaled_cases(int64_t n);
/// Env var as integer, or `fallback`.
int64_t env_int(const char* name, int64_t fallback);

}  // namespace mmcv_rel
