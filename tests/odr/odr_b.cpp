// SPDX-License-Identifier: Apache-2.0
// Second TU including the umbrella header (see odr_a.cpp).
#include <mmcv/ops.hpp>

at::Tensor odr_b_overlaps(const at::Tensor& a, const at::Tensor& b) { return mmcv::ops::bbox_overlaps(a, b); }
