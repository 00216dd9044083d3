// SPDX-License-Identifier: Apache-2.0
#pragma once
// In-process peers for side-by-side benchmarks and cross-checks: torchvision's compiled kernels,
// loaded from Debian's python3-torchvision (or MMCV_OPS_TORCHVISION_LIB) with dlopen and called
// through the c10 dispatcher. Absent or ABI-incompatible: available() is false and callers skip.

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace mmcv_bench {

/// Loads torchvision's `_C` library once. Search order: $MMCV_OPS_TORCHVISION_LIB, then Debian's
/// python3-torchvision path. Never throws.
class Torchvision {
 public:
  static Torchvision& get() {
    static Torchvision tv;
    return tv;
  }
  bool available() const { return handle_ != nullptr; }
  const std::string& path() const { return path_; }
  const std::string& why_not() const { return why_; }

  /// A typed handle to torchvision::<name>; check available() first. Throws c10::Error if the
  /// schema is missing.
  template <typename Sig>
  c10::TypedOperatorHandle<Sig> op(const char* name) const {
    return c10::Dispatcher::singleton().findSchemaOrThrow((std::string("torchvision::") + name).c_str(), "")
        .template typed<Sig>();
  }
  bool has_op(const char* name) const {
    return available() &&
           c10::Dispatcher::singleton().findSchema({std::string("torchvision::") + name, ""}).has_value();
  }

 private:
  Torchvision() {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("MMCV_OPS_TORCHVISION_LIB")) candidates.emplace_back(env);
    candidates.emplace_back("/usr/lib/python3/dist-packages/torchvision/_C.cpython-311-x86_64-linux-gnu.so");
    candidates.emplace_back("/usr/lib/python3/dist-packages/torchvision/_C.so");
    for (const auto& c : candidates) {
      handle_ = dlopen(c.c_str(), RTLD_NOW | RTLD_GLOBAL);  // host-side: one-time peer library load
      if (handle_) {
        path_ = c;
        return;
      }
      const char* err = dlerror();
      why_ += c + ": " + (err ? err : "not loadable") + "\n";
    }
  }
  void* handle_ = nullptr;
  std::string path_;
  std::string why_;
};

}  // namespace mmcv_bench
