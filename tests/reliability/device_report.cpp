// SPDX-License-Identifier: Apache-2.0
// mmcv_ops_device_report: one row per registered reliability spec with CPU-vs-device agreement,
// the op's time on the device, and its peer's time (torchvision through the dispatcher) when the
// spec names one. Used by scripts/cuda_check.sh; runs on CPU only as a smoke test in ctest.
//
//   mmcv_ops_device_report [--device=cuda|cpu] [--min-time=0.2] [--tsv=path] [--smoke]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/peer.hpp"
#include "reliability/reliability.hpp"
#include "reliability/runners.hpp"

namespace {

using mmcv_rel::Call;
using mmcv_rel::Tensors;

// Median wall time of `fn` (synchronised), repeated for at least min_time seconds (>= 3 runs).
double time_ms(const std::function<void()>& fn, at::Device d, double min_time, int max_runs) {
  fn();  // warm-up (allocator, lazy init, kernels)
  mmcv_rel::synchronize(d);
  std::vector<double> t;
  double total = 0;
  while ((total < min_time || t.size() < 3) && static_cast<int>(t.size()) < max_runs) {
    const auto a = std::chrono::steady_clock::now();
    fn();
    mmcv_rel::synchronize(d);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
    t.push_back(s * 1e3);
    total += s;
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::string fmt(double ms) {
  if (ms < 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, ms < 1 ? "%.3f ms" : "%.2f ms", ms);
  return buf;
}

std::string agreement(const mmcv_rel::OpSpec& s, const Tensors& X, at::Device d) {
  if (d.is_cpu()) return "n/a (no device)";
  const Tensors cpu = s.call(X);
  const Tensors dev = s.call(mmcv_rel::to_device(X, d));
  mmcv_rel::Verdict v;
  mmcv_rel::compare_devices(s, cpu, dev, v);
  if (!v.ok()) {
    std::string m = v.message();
    std::replace(m.begin(), m.end(), '\n', ' ');
    std::replace(m.begin(), m.end(), '\t', ' ');
    return "MISMATCH: " + m.substr(0, 300);
  }
  double worst = 0;
  bool exact = true;
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (!cpu[i].defined() || cpu[i].numel() == 0) continue;
    if (!cpu[i].is_floating_point()) continue;
    auto a = cpu[i].to(at::kDouble), b = dev[i].to(at::kCPU, at::kDouble);
    auto finite = at::isfinite(a) & at::isfinite(b);
    auto diff = (a - b).abs().masked_select(finite);
    if (diff.numel()) worst = std::max(worst, diff.max().item<double>());
    exact = exact && mmcv_rel::bitwise_equal(cpu[i], dev[i].cpu());
  }
  if (exact) return "ok (bit-identical)";
  char buf[64];
  std::snprintf(buf, sizeof buf, "ok (max |diff| %.2g)", worst);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = at::hasCUDA() ? "cuda" : "cpu";
  std::string tsv;
  double min_time = 0.2;
  bool smoke = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--device=", 0) == 0) device = a.substr(9);
    else if (a.rfind("--tsv=", 0) == 0) tsv = a.substr(6);
    else if (a.rfind("--min-time=", 0) == 0) min_time = std::atof(a.c_str() + 11);
    else if (a == "--smoke") smoke = true;
    else {
      std::cerr << "usage: " << argv[0] << " [--device=cuda|cpu] [--min-time=s] [--tsv=path] [--smoke]\n";
      return 2;
    }
  }
  const at::Device dev(device == "cuda" ? at::kCUDA : at::kCPU);
  if (dev.is_cuda() && !at::hasCUDA()) {
    std::cerr << "device_report: --device=cuda but this LibTorch/machine has no CUDA\n";
    return 2;
  }
  auto& tv = mmcv_bench::Torchvision::get();
  std::cerr << "device_report: device " << dev << ", torchvision peer: " << (tv.available() ? tv.path() : "absent")
            << "\n";
  struct Row {
    std::string name, agree, ours, peer_name, peer, cpu;
  };
  std::vector<Row> rows;
  int failures = 0;
  for (const auto& name : mmcv_rel::registered_names()) {
    const auto& s = mmcv_rel::spec(name);
    if (!s.inputs || !s.call) continue;
    Row r{name, "", "", s.peer_name.empty() ? "-" : s.peer_name, "n/a", ""};
    try {
      r.agree = agreement(s, s.inputs(), dev);
      const Tensors B = smoke || !s.bench_inputs ? s.inputs() : s.bench_inputs();
      if (!dev.is_cpu() && r.agree.rfind("ok", 0) == 0 && s.bench_inputs) {
        const std::string big = agreement(s, B, dev);
        if (big.rfind("ok", 0) != 0) r.agree = "bench inputs " + big;
      }
      if (r.agree.rfind("MISMATCH", 0) == 0 || r.agree.rfind("bench", 0) == 0) ++failures;
      const int max_runs = smoke ? 1 : 1000;
      const Tensors Bd = mmcv_rel::to_device(B, dev);
      const Call& timed = s.bench_call ? s.bench_call : s.call;
      r.ours = fmt(time_ms([&] { (void)timed(Bd); }, dev, smoke ? 0 : min_time, max_runs));
      if (!dev.is_cpu()) r.cpu = fmt(time_ms([&] { (void)timed(B); }, at::kCPU, smoke ? 0 : min_time, max_runs));
      if (s.peer && tv.available()) {
        try {
          r.peer = fmt(time_ms([&] { (void)s.peer(Bd); }, dev, smoke ? 0 : min_time, max_runs));
        } catch (const std::exception& e) {
          r.peer = "error";
          const std::string what = e.what();
          std::cerr << name << ": peer failed: " << what.substr(0, what.find('\n')) << "\n";
        }
      }
    } catch (const std::exception& e) {
      r.agree = std::string("ERROR: ") + e.what();
      r.agree = r.agree.substr(0, r.agree.find('\n'));
      ++failures;
    }
    rows.push_back(r);
  }
  std::ostringstream table;
  table << "| op (reliability spec) | CPU vs " << device << " agreement | " << device << " time | peer | peer "
        << device << " time | CPU time (same inputs) |\n|---|---|---|---|---|---|\n";
  for (const auto& r : rows)
    table << "| " << r.name << " | " << r.agree << " | " << r.ours << " | " << r.peer_name << " | " << r.peer << " | "
          << (r.cpu.empty() ? "-" : r.cpu) << " |\n";
  std::cout << table.str();
  if (!tsv.empty()) {
    std::ofstream f(tsv);
    f << "op\tagreement\ttime\tpeer\tpeer_time\tcpu_time\n";
    for (const auto& r : rows)
      f << r.name << '\t' << r.agree << '\t' << r.ours << '\t' << r.peer_name << '\t' << r.peer << '\t' << r.cpu << '\n';
  }
  return failures == 0 ? 0 : 1;
}
