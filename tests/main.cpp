// SPDX-License-Identifier: Apache-2.0
// The one test main, compiled once and linked into every test executable.

#include <gtest/gtest.h>

#include "common/test_utils.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  mmcv_test::seed(0);
  return RUN_ALL_TESTS();
}
