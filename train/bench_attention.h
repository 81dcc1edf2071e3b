// train/bench_attention.h — `kiso bench --op attention`: the attention op alone, the flash
// kernels (cuda/kernels/attention.cu, docs/attention.md) against the materialised oracle (the
// (B·NH, T, T) probabilities in memory, tensor/ops_attention.cpp's composite), forward and
// forward + backward, with dropout, at GPT-1's shape: 12 heads 64 wide, T 512.
//
// Where it runs:
//   gpu        (a CUDA build with a usable GPU) each kernel's median milliseconds, its rate
//              (TFLOP/s of the causal half: see AttentionBenchRow), the device memory the call
//              holds at its peak, and flash's largest difference from the materialised result;
//   simulator  (the cuda device without a GPU) the same comparison at a small shape, with the
//              simulated memory traffic and launches of each kernel: what flash saves in bytes
//              can be read without a GPU;
//   cpu        the CPU's fused op (materialised), for reference.
// PyTorch's scaled_dot_product_attention on the same shape is tests/gpu/torch_attention.py's
// figure; tests/gpu/device_check.sh prints the two side by side.
// What it is not: a test (tests/cuda/test_flash_attention.cpp checks parity and traffic).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "gpt/json.h"
#include "tensor/tensor.h"

namespace kiso {

struct AttentionBenchOptions {
  int64_t batch = 8, seq_len = 512, n_head = 12, head_size = 64;
  double dropout = 0.1;  // GPT-1's attn_pdrop: the masks are part of the work
  int reps = 5;          // timed calls per figure, after one untimed
  Device device = Device::cuda;
};

struct AttentionBenchRow {
  std::string kernel;              // "materialised" or "flash" (or "cpu fused")
  double forward_ms = 0, train_ms = 0;  // medians: forward alone; forward + backward
  // FLOPs of the causal half the kernels compute, FlashAttention's convention: forward
  // 2 products · 2·B·NH·T²·HS / 2 (the visible half), backward 2.5× the forward.
  double forward_tflops = 0, train_tflops = 0;
  double peak_bytes = 0;           // device memory in use at the call's peak, above its inputs
  double max_error = 0;            // max |flash - materialised| / max |materialised| (y and dqkv)
  int64_t launches = 0;            // simulator: kernel launches of forward + backward
  double traffic_bytes = 0;        // simulator: global memory traffic of forward + backward
  std::string note;                // why a figure is missing
};

struct AttentionBenchResult {
  std::string device, precision;
  AttentionBenchOptions options;  // the shape that ran (the simulator's is smaller)
  std::vector<AttentionBenchRow> rows;
};

AttentionBenchResult run_attention_bench(AttentionBenchOptions options, std::ostream& log);
void print_attention_bench(const AttentionBenchResult& result, std::ostream& out);
Json attention_bench_json(const AttentionBenchResult& result);

}  // namespace kiso
