// SPDX-License-Identifier: Apache-2.0
#pragma once
// Argument checks shared by every op. All user-facing error messages are built here, in one
// format:  "<op>: expected <arg> to <expectation>, but got <actual>".
// IWYU pragma: private, include <mmcv/ops.hpp> or an op header instead.

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#if __has_include(<unistd.h>)
#include <unistd.h>  // sysconf: physical memory (check_can_allocate)
#endif

namespace mmcv {
namespace ops {
namespace detail {

/// "[3, 5]" for a tensor's sizes.
inline std::string shape_str(at::IntArrayRef sizes) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < sizes.size(); ++i) os << (i ? ", " : "") << sizes[i];
  os << ']';
  return os.str();
}

/// "Float" / "Double" / "Long" ...
inline std::string dtype_str(const at::Tensor& t) { return std::string(c10::toString(t.scalar_type())); }

/// Symbolic shape checks with names that bind on first use, kornia style:
///   ShapeChecker sc("nms");
///   sc.check(boxes, "boxes", {"N", "4"});
///   sc.check(scores, "scores", {"N"});          // N must agree with boxes' N
/// A dim spec is a decimal number (exact size), a name (binds, then must agree), or "*" (any).
/// A spec starting with "..." as its first entry allows any number of leading dims.
class ShapeChecker {
 public:
  explicit ShapeChecker(const char* op) : op_(op) {}

  ShapeChecker& check(const at::Tensor& t, const char* arg, std::initializer_list<std::string_view> dims) {
    std::vector<std::string_view> spec(dims);
    bool ellipsis = !spec.empty() && spec.front() == "...";
    if (ellipsis) spec.erase(spec.begin());
    const int64_t want = static_cast<int64_t>(spec.size());
    const int64_t ndim = t.dim();
    bool ok = ellipsis ? ndim >= want : ndim == want;
    const int64_t lead = ndim - want;
    const Bound before = bound_;  // names bound by earlier arguments, for the message
    for (int64_t i = 0; ok && i < want; ++i) {
      const std::string_view s = spec[i];
      const int64_t actual = t.size(lead + i);
      if (s == "*") continue;
      if (is_number(s)) {
        ok = actual == std::stoll(std::string(s));
      } else {
        auto it = find(s);
        if (it == bound_.end()) {
          bound_.emplace_back(std::string(s), actual);
        } else {
          ok = it->second == actual;
        }
      }
    }
    TORCH_CHECK_VALUE(ok, op_, ": expected ", arg, " to have shape ", spec_str(spec, ellipsis),
                      bindings_str(spec, before), ", but got ", shape_str(t.sizes()));
    return *this;
  }

  /// The size bound to a symbolic name (after a successful check), or -1.
  int64_t size(std::string_view name) const {
    auto it = find(name);
    return it == bound_.end() ? -1 : it->second;
  }

 private:
  using Bound = std::vector<std::pair<std::string, int64_t>>;
  static bool is_number(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
      if (c < '0' || c > '9') return false;
    return true;
  }
  Bound::const_iterator find(std::string_view n) const {
    for (auto it = bound_.begin(); it != bound_.end(); ++it)
      if (it->first == n) return it;
    return bound_.end();
  }
  Bound::iterator find(std::string_view n) {
    for (auto it = bound_.begin(); it != bound_.end(); ++it)
      if (it->first == n) return it;
    return bound_.end();
  }
  static std::string spec_str(const std::vector<std::string_view>& spec, bool ellipsis) {
    std::string s = "[";
    if (ellipsis) s += spec.empty() ? "..." : "..., ";
    for (size_t i = 0; i < spec.size(); ++i) {
      if (i) s += ", ";
      s += std::string(spec[i]);
    }
    return s + "]";
  }
  // " (with N = 3)" when a symbolic name was already bound by an earlier argument.
  static std::string bindings_str(const std::vector<std::string_view>& spec, const Bound& bound) {
    std::string s;
    for (const auto& d : spec) {
      if (d == "*" || is_number(d)) continue;
      auto it = bound.begin();
      while (it != bound.end() && it->first != d) ++it;
      if (it == bound.end()) continue;
      s += s.empty() ? " (with " : ", ";
      s += std::string(d) + " = " + std::to_string(it->second);
    }
    return s.empty() ? s : s + ")";
  }

  const char* op_;
  Bound bound_;
};

/// Exact rank.
inline void check_dim(const at::Tensor& t, int64_t ndim, const char* op, const char* arg) {
  TORCH_CHECK_VALUE(t.dim() == ndim, op, ": expected ", arg, " to be a ", ndim, "-D tensor, but got ",
                    t.dim(), "-D tensor of shape ", shape_str(t.sizes()));
}

/// Floating dtype (float32/float64, plus half/bfloat16 when allow_half).
inline void check_floating(const at::Tensor& t, const char* op, const char* arg, bool allow_half = false) {
  const auto st = t.scalar_type();
  const bool ok = st == at::kFloat || st == at::kDouble ||
                  (allow_half && (st == at::kHalf || st == at::kBFloat16));
  TORCH_CHECK_TYPE(ok, op, ": expected ", arg, " to have a floating-point dtype (",
                   allow_half ? "float16, bfloat16, float32 or float64" : "float32 or float64", "), but got ",
                   dtype_str(t));
}

/// Integer dtype (any of int8..int64, uint8).
inline void check_integral(const at::Tensor& t, const char* op, const char* arg) {
  TORCH_CHECK_TYPE(at::isIntegralType(t.scalar_type(), /*includeBool=*/false), op, ": expected ", arg,
                   " to have an integer dtype, but got ", dtype_str(t));
}

inline void check_same_dtype(const at::Tensor& a, const at::Tensor& b, const char* op, const char* arg_a,
                             const char* arg_b) {
  TORCH_CHECK_TYPE(a.scalar_type() == b.scalar_type(), op, ": expected ", arg_b, " to have the same dtype as ",
                   arg_a, " (", dtype_str(a), "), but got ", dtype_str(b));
}

inline void check_same_device(const at::Tensor& a, const at::Tensor& b, const char* op, const char* arg_a,
                              const char* arg_b) {
  TORCH_CHECK_VALUE(a.device() == b.device(), op, ": expected ", arg_b, " to be on the same device as ", arg_a,
                    " (", a.device(), "), but got ", b.device());
}

/// String option in an allowed set: `expected method to be one of {"naive", "linear"}, but got "cubic"`.
inline void check_one_of(const std::string& value, std::initializer_list<const char*> allowed, const char* op,
                         const char* arg) {
  for (const char* a : allowed)
    if (value == a) return;
  std::string set = "{";
  bool first = true;
  for (const char* a : allowed) {
    set += (first ? "\"" : ", \"") + std::string(a) + "\"";
    first = false;
  }
  set += "}";
  TORCH_CHECK_VALUE(false, op, ": expected ", arg, " to be one of ", set, ", but got \"", value, "\"");
}

/// Integer option in an allowed set: `expected offset to be one of {0, 1}, but got 2`.
inline void check_one_of(int64_t value, std::initializer_list<int64_t> allowed, const char* op, const char* arg) {
  for (int64_t a : allowed)
    if (value == a) return;
  std::string set = "{";
  bool first = true;
  for (int64_t a : allowed) {
    set += (first ? "" : ", ") + std::to_string(a);
    first = false;
  }
  set += "}";
  TORCH_CHECK_VALUE(false, op, ": expected ", arg, " to be one of ", set, ", but got ", value);
}

/// Closed range check for scalar parameters; NaN always fails.
inline void check_in_range(double v, double lo, double hi, const char* op, const char* arg) {
  TORCH_CHECK_VALUE(v >= lo && v <= hi, op, ": expected ", arg, " to be in [", lo, ", ", hi, "], but got ", v);
}

/// Finite scalar parameter.
inline void check_finite_scalar(double v, const char* op, const char* arg) {
  TORCH_CHECK_VALUE(std::isfinite(v), op, ": expected ", arg, " to be finite, but got ", v);
}

/// Strictly positive integer parameter.
inline void check_positive(int64_t v, const char* op, const char* arg) {
  TORCH_CHECK_VALUE(v > 0, op, ": expected ", arg, " to be positive, but got ", v);
}

/// Non-negative integer parameter.
inline void check_non_negative(int64_t v, const char* op, const char* arg) {
  TORCH_CHECK_VALUE(v >= 0, op, ": expected ", arg, " to be non-negative, but got ", v);
}

/// Every element finite. Reads device data: on CUDA this synchronises once (documented per op).
inline void check_finite(const at::Tensor& t, const char* op, const char* arg) {
  if (t.numel() == 0 || !t.is_floating_point()) return;
  const bool ok = at::isfinite(t).all().item<bool>();  // host-side: one sync to validate input
  TORCH_CHECK_VALUE(ok, op, ": expected ", arg, " to contain only finite values, but got NaN or Inf");
}

/// A 1- or 2-element size argument (Python's `int or tuple`), e.g. output_size = 7 or (7, 7).
inline std::pair<int64_t, int64_t> pair_arg(at::IntArrayRef v, const char* op, const char* arg) {
  TORCH_CHECK_VALUE(v.size() == 1 || v.size() == 2, op, ": expected ", arg,
                    " to be an int or a pair of ints, but got ", v.size(), " values");
  return v.size() == 1 ? std::make_pair(v[0], v[0]) : std::make_pair(v[0], v[1]);
}

/// A condition no other helper expresses (a relation between arguments, a flag that must hold),
/// in the common format: check_arg(c == 8, "deform_conv2d", "input", "have weight.size(1) * groups
/// = 8 channels", c) -> "deform_conv2d: expected input to have weight.size(1) * groups = 8
/// channels, but got 6".
template <typename Actual>
inline void check_arg(bool ok, const char* op, const char* arg, const std::string& expectation,
                      const Actual& actual) {
  TORCH_CHECK_VALUE(ok, op, ": expected ", arg, " to ", expectation, ", but got ", actual);
}

/// A [N, C] row matrix with canonical strides {C, 1} (same values, no copy when the rows are
/// already contiguous). ATen picks kernels (embedding_bag's fast path, reductions) from strides,
/// and a size-1 dim keeps whatever stride the caller's view had: a C = 1 channels-last or permuted
/// map gives rows of strides {1, 1} or {1, H * W} and, without this, a different summation order,
/// so a view would not be bit-equal to the contiguous call. Differentiable.
inline at::Tensor canonical_rows(const at::Tensor& rows) {
  const int64_t N = rows.size(0), C = rows.size(1);
  const auto r = rows.is_contiguous() ? rows : rows.contiguous();
  if (r.stride(0) == C && r.stride(1) == 1) return r;
  return r.as_strided({N, C}, {C, 1});
}

/// Overflow-checked host-side size arithmetic on user-controlled int64 values (output sizes,
/// bins, channels x groups, chunk plans). Every product or sum of user values computed on the host
/// goes through these: on overflow they raise our error naming the op and what was computed,
/// e.g. checked_mul(K, PH * PW, "roi_pool", "rois.size(0) * output_size") ->
/// "roi_pool: rois.size(0) * output_size overflows int64 (65536 * 4294967296)".
inline int64_t checked_mul(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t r = 0;
  TORCH_CHECK_VALUE(!__builtin_mul_overflow(a, b, &r), op, ": ", what, " overflows int64 (", a, " * ", b, ")");
  return r;
}
inline int64_t checked_add(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t r = 0;
  TORCH_CHECK_VALUE(!__builtin_add_overflow(a, b, &r), op, ": ", what, " overflows int64 (", a, " + ", b, ")");
  return r;
}
inline int64_t checked_sub(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t r = 0;
  TORCH_CHECK_VALUE(!__builtin_sub_overflow(a, b, &r), op, ": ", what, " overflows int64 (", a, " - ", b, ")");
  return r;
}
/// Product of several user values, checked at each step: checked_prod({N, C, H, W}, op, "output numel").
inline int64_t checked_prod(std::initializer_list<int64_t> xs, const char* op, const char* what) {
  int64_t r = 1;
  for (int64_t x : xs) r = checked_mul(r, x, op, what);  // host-side: loop over a few sizes
  return r;
}

/// Largest allocation an op asks for: 2^47 bytes (128 TiB, the user address space of x86-64 and
/// AArch64 with 4-level page tables). A tensor whose size is known up front and exceeds it is
/// rejected before anything is allocated, with the bytes it would need, instead of ATen's bare
/// "DefaultCPUAllocator: can't allocate memory".
inline constexpr int64_t kMaxAllocBytes = int64_t{1} << 47;

/// Elements of a tensor of `sizes` (overflow-checked), after checking that `elem_size` bytes each
/// stay within kMaxAllocBytes: "roi_align: the output [K, C, PH, PW] = [1, 3, 1099511627776, 7]
/// would need 92358976733184 bytes, more than the 2^47-byte allocation limit".
inline int64_t checked_alloc(at::IntArrayRef sizes, int64_t elem_size, const char* op, const char* what) {
  int64_t n = 1;
  for (int64_t x : sizes) {  // host-side: loop over a few sizes
    TORCH_CHECK_VALUE(x >= 0, op, ": ", what, " ", shape_str(sizes), " has a negative size");
    TORCH_CHECK_VALUE(!__builtin_mul_overflow(n, x, &n), op, ": ", what, " ", shape_str(sizes),
                      " has more elements than int64 can count");
  }
  int64_t bytes = 0;
  const bool overflow = __builtin_mul_overflow(n, elem_size, &bytes);
  TORCH_CHECK_VALUE(!overflow && bytes <= kMaxAllocBytes, op, ": ", what, " ", shape_str(sizes), " would need ",
                    overflow ? std::string("more than 2^63") : std::to_string(bytes),
                    " bytes, more than the 2^47-byte allocation limit");
  return n;
}

/// Physical memory of this machine in bytes (0 if unknown).
inline int64_t physical_memory_bytes() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);  // host-side: system query
  if (pages > 0 && page > 0 && pages < std::numeric_limits<int64_t>::max() / page) return int64_t{pages} * page;
#endif
  return 0;
}

/// checked_alloc, then a memory check for results of 1 GiB or more, so that a result that cannot
/// exist fails fast, before any work, with `op`'s message and the bytes it needs (instead of a
/// bare allocator error, or of hours of work into memory the kernel overcommitted): on CPU, more
/// bytes than the machine's physical memory are refused; on other devices one trial allocation of
/// that size is made and released at once (their allocators raise c10::Error when out of memory).
inline void check_can_allocate(at::IntArrayRef sizes, const at::TensorOptions& opt, const char* op, const char* what) {
  const int64_t elem = static_cast<int64_t>(c10::elementSize(c10::typeMetaToScalarType(opt.dtype())));
  const int64_t n = checked_alloc(sizes, elem, op, what);
  const int64_t bytes = n * elem;
  if (bytes < (int64_t{1} << 30)) return;
  if (opt.device().is_cpu()) {
    const int64_t ram = physical_memory_bytes();
    TORCH_CHECK(ram == 0 || bytes <= ram, op, ": cannot allocate ", what, " ", shape_str(sizes), " (", bytes,
                " bytes): more than the physical memory of this machine (", ram, " bytes)");
    return;
  }
  try {
    at::empty({n}, opt);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, op, ": cannot allocate ", what, " ", shape_str(sizes), " (", bytes,
                " bytes): ", e.what_without_backtrace());
  }
}

}  // namespace detail
}  // namespace ops
}  // namespace mmcv
