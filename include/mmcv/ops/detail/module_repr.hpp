// SPDX-License-Identifier: Apache-2.0
#pragma once
// Python-like text for the pretty_print of our torch::nn modules, so that printing a module reads
// like MMCV's __repr__: floats in shortest round-trip form with a ".0" when integral
// (`spatial_scale=1.0`, `0.0625`), pairs as `(7, 7)`.
// IWYU pragma: private, include a *_module.hpp header or <mmcv/ops.hpp> instead.

#include <cmath>
#include <cstdint>
#include <iomanip>
#include <limits>
#include <sstream>
#include <string>

namespace mmcv {
namespace ops {
namespace detail {

/// Shortest decimal text that reads back as `v` (Python's repr of a float): 1.0, 0.0625, 0.1, inf.
inline std::string py_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s;
  for (int prec = 1; prec <= std::numeric_limits<double>::max_digits10; ++prec) {
    std::ostringstream os;
    os << std::setprecision(prec) << v;
    s = os.str();
    if (std::stod(s) == v) break;
  }
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

/// `(a, b)` as Python prints a 2-tuple.
inline std::string py_pair(int64_t a, int64_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

/// `True` / `False` as Python prints a bool.
inline const char* py_bool(bool v) { return v ? "True" : "False"; }

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
