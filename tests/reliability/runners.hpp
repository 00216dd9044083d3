// SPDX-License-Identifier: Apache-2.0
#pragma once
// The runners behind the gtest drivers and the device report (tests/reliability/reliability.cpp).

#include <string>

#include "reliability/reliability.hpp"

namespace mmcv_rel {

/// 8 threads (MMCV_OPS_STRESS_THREADS) x MMCV_OPS_STRESS_ITERS calls on shared inputs; every result
/// bit-for-bit equal to the single-thread one; inputs unmodified.
void run_concurrency(const OpSpec& s);
/// CPU vs CUDA on the spec's fixed inputs (skipped without CUDA).
void run_device_agreement(const OpSpec& s);
/// Seeded random cases; the first failure is shrunk and printed with its seed.
void run_properties(const OpSpec& s);
/// Automatic mutations of the valid inputs + the spec's explicit bad-input and view tables.
void run_bad_inputs(const OpSpec& s);
/// Seeded, time-boxed fuzzing of the spec (fuzz.cpp): hostile views, dtypes, values and integer
/// parameters; MMCV_OPS_FUZZ_SECONDS (total over all specs), MMCV_OPS_FUZZ_SEED, MMCV_OPS_FUZZ_CASE.
void run_fuzz(const OpSpec& s);
/// The spec's NaN / Inf policy rows.
void run_policy(const OpSpec& s);

/// Compare two output lists: floating values with `tol` (NaN == NaN), others exactly.
void compare_outputs(const Tensors& actual, const Tensors& expected, mmcv_test::Tol tol, const std::string& what,
                     Verdict& v);
/// CPU vs device outputs with the spec's tolerance or comparator.
void compare_devices(const OpSpec& s, const Tensors& cpu, const Tensors& dev, Verdict& v);

/// The case being run (printed by the crash handler).
void set_case_label(const std::string& label);
const char* case_label();

}  // namespace mmcv_rel
