// SPDX-License-Identifier: Apache-2.0
// First of two TUs including the umbrella header; linked together, a missing `inline` fails to link.
#include <mmcv/ops.hpp>

#include <gtest/gtest.h>

at::Tensor odr_b_overlaps(const at::Tensor& a, const at::Tensor& b);

TEST(odr, umbrella_header_links_from_two_translation_units) {
  auto a = at::tensor({0.f, 0.f, 10.f, 10.f}).reshape({1, 4});
  auto b = at::tensor({5.f, 0.f, 15.f, 10.f}).reshape({1, 4});
  auto here = mmcv::ops::bbox_overlaps(a, b);
  auto there = odr_b_overlaps(a, b);
  EXPECT_TRUE(here.equal(there));
  EXPECT_FLOAT_EQ(here.item<float>(), 50.f / 150.f);
  EXPECT_STREQ(mmcv::ops::version_string, "0.1.0");
}
