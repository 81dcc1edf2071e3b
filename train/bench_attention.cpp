// train/bench_attention.cpp — `kiso bench --op attention`: flash attention against the
// materialised oracle, timed on a GPU, traffic-counted on the simulator. What is measured and
// why: train/bench_attention.h.
#include "train/bench_attention.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>

#include <fmt/core.h>

#include "base/check.h"
#include "cuda/runtime.h"
#include "cuda/sim/profile.h"
#include "tensor/ops.h"
#include "tensor/precision.h"

namespace kiso {

namespace {

// The simulator runs every GPU thread as a fiber: a small shape, the same code paths (several
// key tiles, a diagonal tile, a ragged last tile, dropout on).
constexpr int64_t kSimBatch = 1, kSimHeads = 2, kSimSeq = 80, kSimHeadSize = 16;

struct Inputs {
  Tensor qkv, dy;  // (B, T, 3C), (B, T, C) on the benchmark's device
  PhiloxState state;
};

Inputs make_inputs(const AttentionBenchOptions& o) {
  Generator gen{1234, 7, 0};
  int64_t C = o.n_head * o.head_size;
  Inputs in;
  in.qkv = randn({o.batch, o.seq_len, 3 * C}, gen).to(o.device);
  in.dy = randn({o.batch, o.seq_len, C}, gen).to(o.device);
  in.state = gen.take(uint64_t(o.batch * o.n_head * o.seq_len * o.seq_len));  // the dropout's draws
  return in;
}

struct Outputs {
  Tensor y, dqkv;
};

Outputs forward_backward(const AttentionBenchOptions& o, const Inputs& in) {
  AttentionOutput saved = attention_forward(in.qkv, o.n_head, o.dropout, in.state);
  return {saved.y, attention_backward(in.dy, in.qkv, saved, o.n_head, o.dropout, in.state)};
}

// max |a - b| / max |b| over y and dqkv together.
double relative_error(const Outputs& a, const Outputs& b) {
  double diff = 0, scale = 0;
  for (auto [x, want] : {std::pair{&a.y, &b.y}, std::pair{&a.dqkv, &b.dqkv}}) {
    std::vector<double> got = to_dtype(x->to(Device::cpu), DType::f64).to_vector<double>();
    std::vector<double> ref = to_dtype(want->to(Device::cpu), DType::f64).to_vector<double>();
    for (size_t i = 0; i < ref.size(); ++i) {
      diff = std::max(diff, std::abs(got[i] - ref[i]));
      scale = std::max(scale, std::abs(ref[i]));
    }
  }
  return scale > 0 ? diff / scale : diff;
}

// The median of `reps` timed calls after an untimed one (first-launch costs, the allocator's
// cache filling); on cuda each call waits for its kernels before its clock stops.
template <class F> double median_ms(Device device, int reps, F call) {
  auto wait = [&] {
    if (device == Device::cuda) cuda::synchronize();
  };
  call();
  wait();
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    call();
    wait();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// FlashAttention's FLOP convention for a causal call: QKᵀ and PV are 2·B·NH·T²·HS each, half
// of it visible; the backward is 2.5× the forward (five products, each as large).
double forward_flops(const AttentionBenchOptions& o) {
  return 2.0 * 2.0 * double(o.batch * o.n_head) * double(o.seq_len) * double(o.seq_len) * double(o.head_size) / 2;
}

AttentionBenchRow time_kernel(AttentionKernel kernel, const AttentionBenchOptions& o, const Inputs& in) {
  AttentionBenchRow row;
  row.kernel = attention_kernel_name(kernel);
  set_attention_kernel(kernel);
  try {
    row.forward_ms = median_ms(o.device, o.reps, [&] { (void)attention_forward(in.qkv, o.n_head, o.dropout, in.state); });
    row.train_ms = median_ms(o.device, o.reps, [&] { (void)forward_backward(o, in); });
    size_t before = cuda::memory_stats().in_use;
    cuda::reset_peak_memory();
    (void)forward_backward(o, in);
    cuda::synchronize();
    row.peak_bytes = double(cuda::memory_stats().peak_in_use - before);
  } catch (const Error& e) {
    row.note = e.what();  // e.g. the materialised (B·NH, T, T) tensors do not fit
  }
  reset_attention_kernel();
  double f = forward_flops(o);
  if (row.forward_ms > 0) row.forward_tflops = f / (row.forward_ms * 1e9);
  if (row.train_ms > 0) row.train_tflops = 3.5 * f / (row.train_ms * 1e9);
  return row;
}

void run_gpu(const AttentionBenchOptions& o, AttentionBenchResult& result, std::ostream& log) {
  Inputs in = make_inputs(o);
  for (AttentionKernel kernel : {AttentionKernel::materialised, AttentionKernel::flash}) {
    log << fmt::format("bench attention: {} (B {}, {} heads x {}, T {})\n", attention_kernel_name(kernel), o.batch,
                       o.n_head, o.head_size, o.seq_len);
    result.rows.push_back(time_kernel(kernel, o, in));
  }
  // Flash against the oracle on the same inputs and masks.
  set_attention_kernel(AttentionKernel::materialised);
  Outputs want = forward_backward(o, in);
  set_attention_kernel(AttentionKernel::flash);
  Outputs got = forward_backward(o, in);
  reset_attention_kernel();
  result.rows.back().max_error = relative_error(got, want);
}

void run_simulator(AttentionBenchOptions& o, AttentionBenchResult& result, std::ostream& log) {
  o.batch = kSimBatch, o.n_head = kSimHeads, o.seq_len = kSimSeq, o.head_size = kSimHeadSize;
  log << fmt::format("bench attention: simulated, B {}, {} heads x {}, T {}\n", o.batch, o.n_head, o.head_size,
                     o.seq_len);
  Inputs in = make_inputs(o);
  Outputs want;
  for (AttentionKernel kernel : {AttentionKernel::materialised, AttentionKernel::flash}) {
    AttentionBenchRow row;
    row.kernel = attention_kernel_name(kernel);
    set_attention_kernel(kernel);
    Outputs out;
    {
      size_t before = cuda::memory_stats().in_use;
      cuda::reset_peak_memory();
      sim::ProfileRecording recording;
      out = forward_backward(o, in);
      row.peak_bytes = double(cuda::memory_stats().peak_in_use - before);
      sim::KernelProfile total = recording.total();
      row.launches = int64_t(total.launches);
      row.traffic_bytes = double(total.sector_bytes());
    }
    reset_attention_kernel();
    if (kernel == AttentionKernel::materialised) want = out;
    else row.max_error = relative_error(out, want);
    if (!sim::profile_available()) row.note = "this build's kernels carry no profile hooks (make debug)";
    result.rows.push_back(row);
  }
}

void run_cpu(const AttentionBenchOptions& o, AttentionBenchResult& result, std::ostream& log) {
  log << fmt::format("bench attention: cpu fused op (B {}, {} heads x {}, T {})\n", o.batch, o.n_head, o.head_size,
                     o.seq_len);
  Inputs in = make_inputs(o);
  AttentionBenchRow row;
  row.kernel = "cpu fused";
  row.forward_ms = median_ms(o.device, o.reps, [&] { (void)attention_forward(in.qkv, o.n_head, o.dropout, in.state); });
  row.train_ms = median_ms(o.device, o.reps, [&] { (void)forward_backward(o, in); });
  double f = forward_flops(o);
  row.forward_tflops = f / (row.forward_ms * 1e9);
  row.train_tflops = 3.5 * f / (row.train_ms * 1e9);
  result.rows.push_back(row);
}

}  // namespace

AttentionBenchResult run_attention_bench(AttentionBenchOptions o, std::ostream& log) {
  check(o.batch > 0 && o.seq_len > 0 && o.n_head > 0 && o.head_size > 0, "bench --op attention",
        "batch {}, seq_len {}, heads {}, head size {}: each must be positive", o.batch, o.seq_len, o.n_head,
        o.head_size);
  check(o.reps > 0, "bench --op attention", "--reps must be positive, got {}", o.reps);
  AttentionBenchResult result;
  result.precision = to_string(matmul_precision());
  if (o.device == Device::cpu) {
    result.device = "cpu";
    run_cpu(o, result, log);
  } else if (cuda::simulator_on()) {
    result.device = cuda::device_name();
    run_simulator(o, result, log);
  } else {
    result.device = cuda::device_name();
    run_gpu(o, result, log);
  }
  result.options = o;
  return result;
}

void print_attention_bench(const AttentionBenchResult& r, std::ostream& out) {
  const AttentionBenchOptions& o = r.options;
  out << fmt::format("attention, {}: B {}, {} heads x {}, T {}, dropout {}, {}\n", r.device, o.batch, o.n_head,
                     o.head_size, o.seq_len, o.dropout, r.precision);
  bool simulated = !r.rows.empty() && r.rows[0].launches > 0;
  if (simulated) {
    out << fmt::format("{:<14} {:>9} {:>14} {:>10} {:>10}\n", "kernel", "launches", "traffic (KiB)", "peak (KiB)",
                       "max error");
    for (const AttentionBenchRow& row : r.rows)
      out << fmt::format("{:<14} {:>9} {:>14.1f} {:>10.1f} {:>10} {}\n", row.kernel, row.launches,
                         row.traffic_bytes / 1024, row.peak_bytes / 1024,
                         row.kernel == "materialised" ? "(oracle)" : fmt::format("{:.1e}", row.max_error), row.note);
    if (r.rows.size() == 2 && r.rows[1].traffic_bytes > 0)
      out << fmt::format("flash moves {:.2f}x less memory than the materialised path (simulated, forward + backward)\n",
                         r.rows[0].traffic_bytes / r.rows[1].traffic_bytes);
    return;
  }
  out << fmt::format("{:<14} {:>10} {:>9} {:>10} {:>9} {:>10} {:>10}\n", "kernel", "fwd ms", "TFLOP/s", "fwd+bwd ms",
                     "TFLOP/s", "peak MiB", "max error");
  for (const AttentionBenchRow& row : r.rows) {
    if (!row.note.empty()) {
      out << fmt::format("{:<14} {}\n", row.kernel, row.note);
      continue;
    }
    out << fmt::format("{:<14} {:>10.3f} {:>9.2f} {:>10.3f} {:>9.2f} {:>10} {:>10}\n", row.kernel,
                       row.forward_ms, row.forward_tflops, row.train_ms, row.train_tflops,
                       r.device == "cpu" ? std::string("-") : fmt::format("{:.1f}", row.peak_bytes / (1 << 20)),
                       row.kernel == "flash" ? fmt::format("{:.1e}", row.max_error) : std::string("-"));
  }
  if (r.rows.size() == 2 && r.rows[1].train_ms > 0 && r.rows[0].train_ms > 0)
    out << fmt::format("flash: {:.2f}x the materialised kernels' speed, forward + backward\n",
                       r.rows[0].train_ms / r.rows[1].train_ms);
}

Json attention_bench_json(const AttentionBenchResult& r) {
  const AttentionBenchOptions& o = r.options;
  Json j;
  j["device"] = r.device;
  j["precision"] = r.precision;
  j["shape"] = {{"batch", o.batch}, {"seq_len", o.seq_len}, {"n_head", o.n_head}, {"head_size", o.head_size},
                {"dropout", o.dropout}};
  j["rows"] = Json::array();
  for (const AttentionBenchRow& row : r.rows)
    j["rows"].push_back({{"kernel", row.kernel},
                         {"forward_ms", row.forward_ms},
                         {"train_ms", row.train_ms},
                         {"forward_tflops", row.forward_tflops},
                         {"train_tflops", row.train_tflops},
                         {"peak_bytes", row.peak_bytes},
                         {"max_error", row.max_error},
                         {"launches", row.launches},
                         {"traffic_bytes", row.traffic_bytes},
                         {"note", row.note}});
  return j;
}

}  // namespace kiso
