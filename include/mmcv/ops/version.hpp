// SPDX-License-Identifier: Apache-2.0
#pragma once
// mmcv-ops version. CMake parses these three lines (keep the format).

#define MMCV_OPS_VERSION_MAJOR 0
#define MMCV_OPS_VERSION_MINOR 1
#define MMCV_OPS_VERSION_PATCH 0

namespace mmcv {
namespace ops {
/// The library version as "MAJOR.MINOR.PATCH".
inline constexpr const char* version_string = "0.1.0";
/// The MMCV release whose semantics this library mirrors.
inline constexpr const char* mmcv_version_mirrored = "2.2.0";
}  // namespace ops
}  // namespace mmcv
