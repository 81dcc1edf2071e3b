// train/mfu.cpp — the FLOP count of a GPT and the CPU's peak, for MFU (see mfu.h).
#include "train/mfu.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/core.h>

namespace kiso {

// ---- the FLOP count ----

int64_t matmul_parameters(const GPTConfig& c) {
  int64_t C = c.block.n_embd, inner = c.block.n_inner;
  int64_t per_layer = C * 3 * C + C * C + C * inner + inner * C;  // c_attn, c_proj, c_fc, c_proj
  return c.n_layer * per_layer + c.vocab_size * C;                 // + the tied LM head (V, C)
}

double forward_flops_per_token(const GPTConfig& c, int64_t T) {
  return 2.0 * double(matmul_parameters(c)) + 2.0 * double(c.n_layer) * double(T) * double(c.block.n_embd);
}

double training_flops_per_token(const GPTConfig& c, int64_t T) { return 3.0 * forward_flops_per_token(c, T); }

// ---- the peak ----

// The value of the first "key : value" line of /proc/cpuinfo whose key is `key`; "" if none.
static std::string cpuinfo_field(const std::string& cpuinfo, const std::string& key) {
  std::istringstream in(cpuinfo);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string k = line.substr(0, colon);
    k.erase(k.find_last_not_of(" \t") + 1);
    if (k != key) continue;
    size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

static bool has_flag(const std::string& flags, const std::string& flag) {
  return (" " + flags + " ").find(" " + flag + " ") != std::string::npos;
}

PeakEstimate estimate_cpu_peak(const std::string& cpuinfo, int threads, int logical_cpus) {
  std::string mhz = cpuinfo_field(cpuinfo, "cpu MHz");
  if (mhz.empty()) return {0, "unknown: no 'cpu MHz' in /proc/cpuinfo; give the peak (--peak-gflops)"};
  double ghz = std::atof(mhz.c_str()) / 1000.0;
  if (!(ghz > 0)) return {0, fmt::format("unknown: cannot read 'cpu MHz: {}'; give the peak (--peak-gflops)", mhz)};

  std::string flags = cpuinfo_field(cpuinfo, "flags");
  int per_cycle = 8;
  std::string isa = "SSE: 4-wide add + 4-wide multiply";
  if (has_flag(flags, "avx512f")) per_cycle = 64, isa = "AVX-512F: 2 FMA units x 16 floats x 2";
  else if (has_flag(flags, "avx2") && has_flag(flags, "fma")) per_cycle = 32, isa = "AVX2+FMA: 2 FMA units x 8 floats x 2";

  // Hyperthreads of one core share its FMA units: count physical cores.
  int physical = logical_cpus;
  int cores_per_socket = std::atoi(cpuinfo_field(cpuinfo, "cpu cores").c_str());
  int siblings = std::atoi(cpuinfo_field(cpuinfo, "siblings").c_str());
  if (cores_per_socket > 0 && siblings > cores_per_socket) physical = logical_cpus * cores_per_socket / siblings;
  int cores = std::max(1, std::min(threads, physical));

  double gflops = double(cores) * ghz * double(per_cycle);
  return {gflops, fmt::format("estimate: {} core{} x {:.3f} GHz ('cpu MHz' of /proc/cpuinfo) x {} FLOP/cycle ({})",
                              cores, cores == 1 ? "" : "s", ghz, per_cycle, isa)};
}

// The text of /proc/cpuinfo ("" where there is none).
static std::string read_cpuinfo() {
  std::ifstream f("/proc/cpuinfo");
  std::stringstream text;
  text << f.rdbuf();
  return text.str();
}

PeakEstimate estimate_cpu_peak(int threads) {
  int logical = int(std::max(1u, std::thread::hardware_concurrency()));
  return estimate_cpu_peak(read_cpuinfo(), threads, logical);
}

std::string cpu_model_name() {
  std::string name = cpuinfo_field(read_cpuinfo(), "model name");
  return name.empty() ? "unknown" : name;
}

}  // namespace kiso
