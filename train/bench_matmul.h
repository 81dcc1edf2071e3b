// train/bench_matmul.h — `kiso bench --op matmul`: the matmul ladder (cuda/kernels/matmul_*.cu,
// docs/kernels.md) rung by rung, on the products a training step of GPT-1 and of the `small`
// preset runs, next to cuBLAS at the same precision.
//
// Two halves, both printed:
//   simulator  every rung on three small products (a·b, a·bᵀ as in dX = dY·Wᵀ, aᵀ·b as in
//              dW = Xᵀ·dY; M = N = K = sim_size) under cuda/sim with the memory profile on:
//              sectors per warp request, traffic against the compulsory bytes, shared-memory
//              bank conflicts, occupancy. Any build, no GPU needed; each result is checked
//              against the CPU's product first.
//   gpu        (a CUDA build with a usable GPU) every rung's GFLOP/s on the real shapes, and
//              cuBLAS's: SGEMM with TF32 off for the exact rungs, TF32 tensor ops for mma_tf32,
//              the BF16 GEMM (f32 accumulation) for mma_bf16. Each rung's output is compared
//              with cuBLAS's before it is timed; a rung that disagrees is reported, not timed.
// cuBLAS is loaded at run time (dlopen) by this benchmark only, as OpenBLAS is linked only by
// make bench: the engine never calls it.
// What it is not: a test (nothing is asserted; tests/cuda/ test every rung's parity and
// tests/cuda/test_matmul_profile.cpp their simulated traffic).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "cuda/sim/profile.h"
#include "gpt/json.h"

namespace kiso {

// One product of a training step: c (batch, M, N) = op(a) · op(b).
struct MatmulProduct {
  std::string name;  // e.g. "gpt1 fc dW"
  int64_t batch = 1, M = 0, N = 0, K = 0;
  bool trans_a = false, trans_b = false;
  double flops() const { return 2.0 * double(batch) * double(M) * double(N) * double(K); }
};

// GPT-1 at B·T = 4096 (C = 768, 4C = 3072, T = 512, 12 heads) and `small` at B·T = 2048: the
// MLP's forward, dX and dW products and attention's q·kᵀ.
std::vector<MatmulProduct> ladder_products();

struct MatmulBenchOptions {
  std::vector<std::string> rungs;  // names (cuda/kernels.h); empty: every rung
  int reps = 5;                    // timed calls per GPU figure, after one untimed
  int64_t sim_size = 128;          // M = N = K of the simulated products; 0: skip the simulator
};

struct MatmulSimRow {
  std::string rung, kind;     // kind: "a·b", "a·bᵀ" or "aᵀ·b"
  sim::KernelProfile profile;  // every launch of the rung's call, summed
  double max_error = 0;        // max |rung - cpu| / max |cpu|
  std::string note;            // why there is no figure (the rung refused the call)
};

struct MatmulGpuRow {
  std::string rung, product;  // rung: a rung's name, or "cublas f32", "cublas tf32", "cublas bf16"
  double ms = 0, gflops = 0;  // median over reps
  double cublas_gflops = 0;   // cuBLAS at the rung's precision, on the same product (0: none)
  double max_error = 0;       // against cuBLAS f32 (or the tiled rung without cuBLAS)
  std::string note;           // why a figure is missing
};

struct MatmulBenchResult {
  std::string device;  // the GPU's line, or why there is none
  std::string cublas;  // the library loaded, or why none was
  int64_t sim_size = 0;
  std::vector<MatmulSimRow> sim;
  std::vector<MatmulGpuRow> gpu;
};

MatmulBenchResult run_matmul_bench(const MatmulBenchOptions& options, std::ostream& log);
void print_matmul_bench(const MatmulBenchResult& result, std::ostream& out);
Json matmul_bench_json(const MatmulBenchResult& result);

}  // namespace kiso
