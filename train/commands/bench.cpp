// train/commands/bench.cpp — `kiso bench`: training, inference and KV-cache decode tokens/s of
// a preset's whole GPT, its model FLOPs utilisation and, with --profile, where each step's time
// goes (train/bench.h); with --op matmul, the GPU matmul ladder rung by rung, simulated and
// against cuBLAS (train/bench_matmul.h); with --op attention, flash attention against the
// materialised oracle (train/bench_attention.h). Progress lines go to stderr, the tables (or --json's
// object) to stdout. What it is not: the CPU op benchmark against OpenBLAS (make bench,
// train/bench_ops.cpp).
#include <iostream>

#include "train/bench.h"
#include "train/bench_attention.h"
#include "train/bench_matmul.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/distributed.h"
#include "tensor/precision.h"

namespace kiso {

namespace {

struct Options {
  BenchOptions bench;
  std::string op;  // empty: the whole model; "matmul": the ladder; "attention": flash vs materialised
  MatmulBenchOptions matmul;
  AttentionBenchOptions attention;
  std::string device = "cpu";
  bool as_json = false;
};

}  // namespace

// (run_bench is the library's: train/bench.h.)
static int run_bench_command(const Options& o) {
  if (o.op == "attention") {
    AttentionBenchOptions options = o.attention;
    options.device = start_device(o.device, "bench");
    // --batch-size and --seq-len, when given, set the attention's shape too (else B 8, T 512).
    if (o.bench.batch_size > 0) options.batch = o.bench.batch_size;
    if (o.bench.seq_len > 0) options.seq_len = o.bench.seq_len;
    options.reps = o.matmul.reps;
    PrecisionGuard precision(o.bench.precision);
    AttentionBenchResult r = run_attention_bench(options, std::cerr);
    if (o.as_json) std::cout << attention_bench_json(r) << "\n";
    else print_attention_bench(r, std::cout);
    return 0;
  }
  if (!o.op.empty()) {
    check(o.op == "matmul", "bench", "--op '{}'; expected matmul or attention (or no --op: the whole model)", o.op);
    start_device(o.device, "bench");
    MatmulBenchResult r = run_matmul_bench(o.matmul, std::cerr);
    if (o.as_json) std::cout << matmul_bench_json(r) << "\n";
    else print_matmul_bench(r, std::cout);
    return 0;
  }
  BenchOptions options = o.bench;
  options.device = start_device(o.device, "bench");
  BenchResult r = run_bench(options, rank0_stream(std::cerr));
  if (!dist::is_root()) return 0;  // under mpirun: rank 0 reports
  if (o.as_json) std::cout << bench_json(r) << "\n";
  else print_bench(r, std::cout);
  return 0;
}

void add_bench(CLI::App& app) {
  auto options = std::make_shared<Options>();
  BenchOptions& b = options->bench;
  CLI::App* command = app.add_subcommand("bench", "training, inference and decode tokens/s and MFU of a preset");
  command->add_option("--preset", b.preset, "gpt1, small or tiny")->capture_default_str();
  command->add_option("--batch-size", b.batch_size, "0: 16 tiny, 8 small, 1 gpt1");
  command->add_option("--seq-len", b.seq_len, "0: min(128, n_ctx)");
  command->add_option("--warmup", b.warmup, "untimed steps first")->capture_default_str();
  command->add_option("--steps", b.steps, "timed steps (0: 3, or 2 for gpt1)");
  command->add_option("--threads", b.threads, "0: OMP_NUM_THREADS or all cores");
  command->add_option("--peak-gflops", b.peak_gflops, "the peak MFU is measured against (0: estimate)");
  command->add_option("--loops", b.loops, "timed loops, comma-separated: training, inference, decode")
      ->capture_default_str();
  command->add_flag("--profile", b.profile, "also print where each step's time goes, op by op");
  command->add_option("--op", options->op, "matmul: the GPU matmul ladder, simulated and against cuBLAS; "
                      "attention: flash attention against the materialised kernels (B 8, 12 heads x 64, T 512); "
                      "instead of the whole model");
  command->add_option("--rungs", options->matmul.rungs, "with --op matmul: these rungs only (default: all)")
      ->delimiter(',');
  command->add_option("--reps", options->matmul.reps, "with --op matmul or attention: timed calls per GPU figure")
      ->capture_default_str();
  command->add_option("--sim-size", options->matmul.sim_size,
                      "with --op matmul: M = N = K of the simulated products (0: none)")
      ->capture_default_str();
  add_precision_option(*command, b.precision);
  add_device_option(*command, options->device);
  add_reduce_option(*command, b.reduce);
  add_json_flag(*command, options->as_json);
  command->callback([options] { exit_with(run_bench_command(*options)); });
}

}  // namespace kiso
