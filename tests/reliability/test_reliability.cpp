// SPDX-License-Identifier: Apache-2.0
// gtest drivers of the reliability suite: one parameterized suite per aspect, one instance per
// registered op spec (tests/reliability/ops/*.cpp). ctest runs the suites as separate entries:
//   reliability_concurrency  ops/concurrency.* and ops/device_agreement.*
//   reliability_properties   ops/properties.*
//   reliability_bad_inputs   ops/bad_inputs.* and ops/nan_policy.*
//   reliability_fuzz         ops/fuzz.* (time-boxed by MMCV_OPS_FUZZ_SECONDS; scripts/fuzz.sh)

#include <csignal>
#include <cstring>
#include <unistd.h>

#include "reliability/reliability.hpp"
#include "reliability/runners.hpp"

namespace {

using mmcv_rel::registered_names;
using mmcv_rel::spec;

std::string param_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

class concurrency : public ::testing::TestWithParam<std::string> {};
TEST_P(concurrency, bit_identical_across_threads) { mmcv_rel::run_concurrency(spec(GetParam())); }
INSTANTIATE_TEST_SUITE_P(ops, concurrency, ::testing::ValuesIn(registered_names()), param_name);

class device_agreement : public ::testing::TestWithParam<std::string> {};
TEST_P(device_agreement, cuda_matches_cpu) { mmcv_rel::run_device_agreement(spec(GetParam())); }
INSTANTIATE_TEST_SUITE_P(ops, device_agreement, ::testing::ValuesIn(registered_names()), param_name);

class properties : public ::testing::TestWithParam<std::string> {};
TEST_P(properties, invariants_hold_on_random_inputs) { mmcv_rel::run_properties(spec(GetParam())); }
INSTANTIATE_TEST_SUITE_P(ops, properties, ::testing::ValuesIn(registered_names()), param_name);

class bad_inputs : public ::testing::TestWithParam<std::string> {};
TEST_P(bad_inputs, named_error_or_correct_result) { mmcv_rel::run_bad_inputs(spec(GetParam())); }
INSTANTIATE_TEST_SUITE_P(ops, bad_inputs, ::testing::ValuesIn(registered_names()), param_name);

class nan_policy : public ::testing::TestWithParam<std::string> {};
TEST_P(nan_policy, documented_behaviour) { mmcv_rel::run_policy(spec(GetParam())); }
INSTANTIATE_TEST_SUITE_P(ops, nan_policy, ::testing::ValuesIn(registered_names()), param_name);

class fuzz : public ::testing::TestWithParam<std::string> {};
TEST_P(fuzz, named_error_or_sane_result) { mmcv_rel::run_fuzz(spec(GetParam())); }
INSTANTIATE_TEST_SUITE_P(ops, fuzz, ::testing::ValuesIn(registered_names()), param_name);

// Outside sanitizer builds (which print their own reports), name the case that crashed.
#if defined(__SANITIZE_ADDRESS__)
#define MMCV_REL_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMCV_REL_SANITIZED 1
#endif
#endif
#ifndef MMCV_REL_SANITIZED
void on_fatal_signal(int sig) {
  const char* label = mmcv_rel::case_label();
  const char head[] = "\n[mmcv-ops reliability] fatal signal while running: ";
  ssize_t rc = write(2, head, sizeof(head) - 1);
  rc = write(2, label, std::strlen(label));
  rc = write(2, "\n", 1);
  (void)rc;
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
const bool g_handlers_installed = [] {
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, on_fatal_signal);
  return true;
}();
#endif

}  // namespace
