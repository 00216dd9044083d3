// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared test harness: MMCV reference-case loader, tolerances, comparison with the worst index
// reported, device parametrization (CPU + CUDA when present), error-message assertions and a
// float64 finite-difference gradient check. Implementations that pull heavy headers
// (torch::jit::pickle_load) live in test_utils.cpp, compiled once.

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mmcv_test {

// ---------------------------------------------------------------------------------------------
// Reference cases (tests/data/<name>.pt, copied from ../shared/reference)
// ---------------------------------------------------------------------------------------------

/// One MMCV reference case: a flat dict str -> Tensor plus the manifest's string parameters.
class Case {
 public:
  std::string name;
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::string> strings;  // manifest params that are strings, e.g. "mode" -> "iou"
  std::vector<std::string> exact_outputs;      // keys to compare bit-exactly (indices, labels)
  bool tie_sensitive = false;

  bool has(const std::string& key) const { return tensors.count(key) != 0; }
  /// The tensor under `key` ("in.boxes", "out.inds", ...); fails the test if absent.
  const at::Tensor& at(const std::string& key) const;
  double param_double(const std::string& key) const;  // "param." prefix implied
  int64_t param_int(const std::string& key) const;
  bool param_bool(const std::string& key) const;
  std::vector<int64_t> param_ints(const std::string& key) const;
  bool has_param(const std::string& key) const { return has("param." + key); }
  /// A string parameter from the manifest ("mode", "pool_mode", "method", "nms_cfg.type").
  std::string param_string(const std::string& key) const;
  bool has_string(const std::string& key) const { return strings.count(key) != 0; }
  /// All keys with a given prefix ("out.", "grad.").
  std::vector<std::string> keys(const std::string& prefix) const;
};

/// Directory holding the copied reference cases (tests/data).
std::string data_dir();
/// Load tests/data/<name>.pt and its manifest strings (tests/data/manifest.tsv).
Case load_case(const std::string& name);
/// Names of every case in tests/data for an op (manifest `op` field), sorted.
std::vector<std::string> cases_for_op(const std::string& op);

// ---------------------------------------------------------------------------------------------
// Tolerances (the one place they live) and comparison
// ---------------------------------------------------------------------------------------------

struct Tol {
  double rtol;
  double atol;
};
/// Default tolerances per dtype for comparing with MMCV's values (see ../shared/reference/README).
Tol tol_for(at::ScalarType t);
inline Tol tol_for(const at::Tensor& t) { return tol_for(t.scalar_type()); }

/// Compare values (after moving both to CPU float64); on failure report shapes, dtypes, max abs /
/// rel error and the worst index. NaN equals NaN when equal_nan. Shapes must match exactly.
::testing::AssertionResult all_close(const at::Tensor& actual, const at::Tensor& expected, Tol tol,
                                     bool equal_nan = true);
inline ::testing::AssertionResult all_close(const at::Tensor& actual, const at::Tensor& expected) {
  return all_close(actual, expected, tol_for(expected));
}
/// Exact equality of values and shapes (integer outputs: indices, labels); dtypes may differ
/// only if `check_dtype` is false.
::testing::AssertionResult all_equal(const at::Tensor& actual, const at::Tensor& expected, bool check_dtype = true);

#define EXPECT_ALLCLOSE(actual, expected, ...) EXPECT_TRUE(::mmcv_test::all_close((actual), (expected), ##__VA_ARGS__))
#define ASSERT_ALLCLOSE(actual, expected, ...) ASSERT_TRUE(::mmcv_test::all_close((actual), (expected), ##__VA_ARGS__))
#define EXPECT_ALLEQUAL(actual, expected, ...) EXPECT_TRUE(::mmcv_test::all_equal((actual), (expected), ##__VA_ARGS__))

// ---------------------------------------------------------------------------------------------
// Error messages
// ---------------------------------------------------------------------------------------------

/// Expect `stmt` to throw c10::Error whose message (without backtrace) contains `substr`.
#define EXPECT_MMCV_ERROR(stmt, substr)                                                                \
  do {                                                                                                 \
    bool mmcv_test_threw_ = false;                                                                     \
    try {                                                                                              \
      (void)(stmt);                                                                                    \
    } catch (const c10::Error& e) {                                                                    \
      mmcv_test_threw_ = true;                                                                         \
      EXPECT_THAT(std::string(e.what_without_backtrace()), ::testing::HasSubstr(substr)) << #stmt;    \
    } catch (const std::exception& e) {                                                                \
      mmcv_test_threw_ = true;                                                                         \
      ADD_FAILURE() << #stmt << " threw a non-c10::Error exception: " << e.what();                     \
    }                                                                                                  \
    if (!mmcv_test_threw_) ADD_FAILURE() << #stmt << " did not throw; expected an error containing \"" \
                                         << (substr) << "\"";                                          \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Devices: every op test runs on CPU, and on CUDA when at::hasCUDA() (visible skip otherwise)
// ---------------------------------------------------------------------------------------------

/// Fixture parametrized by device. SetUp skips (GTEST_SKIP) the CUDA instance without a GPU and
/// seeds the generators.
class DeviceTest : public ::testing::TestWithParam<at::DeviceType> {
 protected:
  void SetUp() override;
  at::Device device() const { return at::Device(GetParam()); }
  at::TensorOptions f32() const { return at::TensorOptions().dtype(at::kFloat).device(device()); }
  at::TensorOptions f64() const { return at::TensorOptions().dtype(at::kDouble).device(device()); }
  /// Move a reference tensor to the test's device (dtype kept).
  at::Tensor dev(const at::Tensor& t) const { return t.to(device()); }
};

std::string device_param_name(const ::testing::TestParamInfo<at::DeviceType>& info);

/// Instantiate a TEST_P suite derived from DeviceTest on {CPU, CUDA}.
#define MMCV_INSTANTIATE_DEVICES(Suite)                                                      \
  INSTANTIATE_TEST_SUITE_P(Devices, Suite, ::testing::Values(at::kCPU, at::kCUDA), \
                           ::mmcv_test::device_param_name)

/// Seed the CPU (and CUDA) generators; used by fixtures.
void seed(uint64_t s = 0);

// ---------------------------------------------------------------------------------------------
// Gradient checks
// ---------------------------------------------------------------------------------------------

/// Finite-difference check in float64: for L(x) = sum(fn(x) * w) with a fixed random w, compare
/// dL/dx from autograd with central differences for every element of every input that requires
/// grad. Inputs must be float64 leaf tensors; those with requires_grad() are checked.
/// Returns failure with the worst element on mismatch.
::testing::AssertionResult gradcheck(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& fn,
                                     std::vector<at::Tensor> inputs, double eps = 1e-6, double atol = 1e-5,
                                     double rtol = 1e-3);

/// Gradients of sum(out * grad_out) with respect to `inputs` (autograd), one per input
/// (undefined where no gradient flows).
std::vector<at::Tensor> vjp(const at::Tensor& out, const at::Tensor& grad_out, const std::vector<at::Tensor>& inputs);

}  // namespace mmcv_test
