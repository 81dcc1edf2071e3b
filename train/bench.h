// train/bench.h — `kiso bench`: how fast a whole GPT trains and infers on the CPU (or, on
// Device::cuda, with kiso's kernels), and what fraction of the processor's peak that is (MFU,
// model FLOPs utilisation).
//
// What it is: one model of a preset, random token ids (a fresh batch per iteration), and up to
// three timed loops (--loops picks them):
//   training   forward + cross-entropy + backward + AdamW step, dropout on (Mode::train)
//   inference  forward to the logits only, eval mode, no graph (NoGradGuard)
//   decode     what `kiso sample` does per token: B = 1, a prompt of T/2 random ids fed once
//              into the KV cache (untimed), then T - T/2 new tokens one at a time through the
//              cache, each the argmax of the last logits; tokens/s counts the new tokens
// each after `warmup` untimed iterations, reported as the median and the best of `steps`.
// With --precision bf16 all three run in BF16 mixed precision (tensor/precision.h). On the CPU
// that is an emulation (each matmul first rounds copies of its inputs), slower than f32; it
// times the arithmetic a bf16 run does, not the speed bf16 would buy.
// With --profile every timed iteration is also recorded op by op (tensor/profile.h) and printed
// per step (train/profile_table.h): where the time goes, before anything is made faster. On a
// GPU each op then waits for its kernels, so its row is its kernels' time; on the simulator one
// more training step is recorded kernel by kernel with its memory traffic (training_kernels).
// On cuda the peak device memory of a training and of an inference step is reported beside the
// times. The batches stay on the host, as the trainers keep them (the embedding checks the ids
// there and uploads them), so a step reads nothing back but its loss.
// Speed is turned into FLOP/s with the standard analytic count of a decoder-only transformer
// (train/mfu.h), and divided by a stated peak to give MFU.
// Under `mpirun -np N` the training loop is data-parallel (train/distributed.h): each process a
// batch of its own, the gradients summed before AdamW; the table then counts every process's
// tokens and says what share of the step the sum took.
// What it is not: a test (nothing is asserted) nor a kernel benchmark (train/bench_ops.cpp times
// single ops against OpenBLAS). The numbers depend on the machine and its load: record the
// date, the CPU, the thread count and the load average with every table (docs/benchmarks.md).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "cuda/sim/profile.h"
#include "gpt/config.h"
#include "gpt/json.h"
#include "tensor/precision.h"
#include "tensor/profile.h"
#include "tensor/tensor.h"
#include "train/mfu.h"

namespace kiso {

struct BenchOptions {
  std::string preset = "tiny";  // tiny, small or gpt1
  int64_t batch_size = 0;       // B; 0: 16 for tiny, 8 for small, 1 for gpt1 (keeps a gpt1 step
                                // within seconds to tens of seconds on two cores)
  int64_t seq_len = 0;          // T; 0: 128 (the whole context of tiny), at most n_ctx
  int warmup = 1;               // untimed iterations before each timed loop
  int steps = 0;                // timed iterations; 0: 3, or 2 for gpt1
  int threads = 0;              // OpenMP threads for the run; 0: the current count (OMP_NUM_THREADS)
  double peak_gflops = 0;       // the peak MFU is measured against; 0: estimate from /proc/cpuinfo
  uint64_t seed = 1234;         // initial weights, token ids and dropout masks
  Device device = Device::cpu;  // cuda: kiso's kernels on the GPU (or the simulator); the peak
                                // is then not estimated: give it with peak_gflops
  Precision precision = Precision::f32;  // every loop's matmuls: f32, or bf16 mixed precision
                                         // (tensor/precision.h)
  std::string loops = "training,inference,decode";  // which timed loops run, comma-separated
  bool profile = false;         // record an op profile of every timed iteration
  std::string reduce = "auto";  // under mpirun: how the training loop sums gradients (train/distributed.h)
};

// One timed loop: milliseconds per iteration, sorted from fastest.
struct LoopTiming {
  std::vector<double> ms;
  double best_ms = 0, median_ms = 0;
  double tokens_per_second = 0;       // B·T / median
  double best_tokens_per_second = 0;  // B·T / best
  double gflops = 0;                  // achieved: FLOPs per token × tokens/s (median), in GFLOP/s
  double mfu = 0;                     // gflops / peak_gflops (0 when the peak is unknown)
};

struct BenchResult {
  std::string preset;
  GPTConfig config;
  int64_t batch_size = 0, seq_len = 0;
  int warmup = 0, steps = 0, threads = 0;
  int64_t parameters = 0;         // every parameter (GPT::num_parameters)
  int64_t matmul_parameters = 0;  // N of the FLOP formula
  double forward_flops_per_token = 0, training_flops_per_token = 0;
  double peak_gflops = 0;
  std::string peak_source;        // how the peak was obtained, in words
  Device device = Device::cpu;
  Precision precision = Precision::f32;
  std::string device_name;        // the GPU (device_status's line) when device is cuda
  std::string cpu;                // /proc/cpuinfo "model name"
  std::string load_average;       // /proc/loadavg's three averages before the run
  double final_loss = 0;          // the last training step's loss (a sanity check: near ln V)
  bool ran_training = false, ran_inference = false, ran_decode = false;
  LoopTiming training, inference, decode;  // decode: B = 1, new tokens per second
  int64_t decode_prompt = 0, decode_new_tokens = 0;
  Profile training_profile, inference_profile, decode_profile;  // with --profile, all timed steps
  // With --profile on the simulator (KISO_CUDA_SIM=1 --device cuda): one more training step,
  // untimed, with the simulator's memory profile per kernel (cuda/sim/profile.h), the most
  // traffic first: what a GPU's memory system would see, without a GPU.
  std::vector<sim::KernelProfile> training_kernels;
  int64_t peak_rss_bytes = 0;     // the process's peak resident memory after the run (getrusage)
  // On Device::cuda: the most device memory tensors held during one training (inference) step,
  // in bytes, the largest over the iterations: weights, gradients, AdamW's moments and the
  // step's activations (cuda/runtime.h memory_stats: in use, not the allocator's cache; the peak
  // is reset before each iteration). 0 on the cpu.
  int64_t training_peak_device_bytes = 0, inference_peak_device_bytes = 0;
  // Under mpirun (train/distributed.h) the training loop is data-parallel: every process runs
  // its own B × T batch and the gradients are summed, so training tokens/s counts all processes'
  // tokens (and MFU is against all their peaks); inference and decode stay one process's.
  int processes = 1;
  std::string reducer;              // "mpi", "nccl"; "" for one process
  double training_reduce_ms = 0;    // median over the timed steps of the host's time in the reducer
                                    // (waiting for the slowest process included)
};

// Builds the preset's model and times it; progress lines go to `log`. Throws on a bad preset,
// batch size, sequence length or step count.
BenchResult run_bench(const BenchOptions& options, std::ostream& log);
// The same with a config of one's own (`options.preset` is then only a label).
BenchResult run_bench(const GPTConfig& config, const BenchOptions& options, std::ostream& log);

// The result as a table, with the formula and the peak's source stated.
void print_bench(const BenchResult& result, std::ostream& out);
// The result for --json: every field above, times in ms, rates in tokens/s and GFLOP/s.
Json bench_json(const BenchResult& result);

}  // namespace kiso
