// cuda/kernels/matmul_epilogue.cu — a linear layer's bias and GELU on the matmul's way out, and
// their backward (cuda/kernels.h, "Epilogue"). Compiled by nvcc for the GPU and by g++ for the
// simulator; tensor/ops_linear.cpp runs them, and its CPU composition (matmul, then a broadcast
// bias add, then gelu) is the oracle (tests/cuda/test_matmul_epilogue.cpp).
//
// Forward, y = gelu(x·W + b) for x (N, C), W (C, 4C), b (4C,), as the MLP's first layer runs it:
//   before  matmul → c;  add(c, b) → h;  gelu(h) → y: three launches, and c and h each written
//           to global memory and read back once more;
//   here    the rung adds b, rounds h (bf16 mode), stores h (the backward's input) and gelu(h)
//           as it stores its results: one launch. Rungs without an epilogue of their own store
//           c, then epilogue_pass below does bias + GELU in one more launch.
// Backward, from dy (N, 4C) and the saved h:
//   before  gelu_backward → dh (reads h, dy, writes dh); sum_to(dh) → dbias (reads dh again)
//   here    bias_gelu_backward: dh and dbias in one launch, each of dy and h read once.
//   Then dx = dh·Wᵀ and dW = xᵀ·dh are the matmul's own backward.
//
// PREDICTED simulated traffic (cuda/sim/profile.h counts sectors, no caches), f32, an output of
// M x N (N a multiple of 32, buffers 32-byte aligned), beyond the product's own loads:
//   before  matmul stores c                   4 MN bytes
//           add: reads c and b (b per element, a warp reads 32 consecutive: 4 MN), writes h
//                                            12 MN
//           gelu: reads h, writes y           8 MN          total 24 MN bytes, 3 launches
//   here    warptile stores y and h           8 MN
//           + the bias, 8 loads a thread per 128 x 128 tile: 8 warps x 8 requests x 4 sectors
//             = 8 KiB a block                 (0.5 MN when M, N are multiples of 128)
//                                                           total 8.5 MN bytes, 1 launch
//   so 15.5 MN bytes and 2 launches fewer: 65% of the forward's non-product traffic. Backward:
//   before 3 MN reads + 1 MN write (gelu_backward) + 1 MN read (sum_to) = 5 MN (×4 bytes); here
//   2 MN reads + 1 MN write = 3 MN, one launch fewer. (Measured: test_matmul_epilogue.cpp.)
// Not done: the bias gradient's column sum uses 8 lanes a column in one block of 32 columns, so a
// (4096, 768) gradient runs 24 blocks: fine for the simulator and deterministic, but on a large
// GPU a split over row chunks (a second, tiny pass adding the chunks in order) would fill more
// SMs; the dW product is still a separate launch (fusing it would need a split-K reduction).
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "cuda/kernels/epilogue.h"

namespace kiso::cuda {
namespace {

// c (rows, N), in place: element i of column i mod N goes through the epilogue, a thread each.
template <class T> __global__ void epilogue_pass_kernel(T* c, int64_t n, int64_t N, Epilogue<T> ep) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) epilogue_store(ep, c, i, c[i], epilogue_bias(ep, i % N, N));
}

constexpr int kBiasColumns = 32;  // columns a block of bias_gelu_backward: one warp's width
static_assert(kBiasColumns * kBiasGradLanes == int(kBlockThreads), "bias_gelu_backward's block");

// Thread (tx, ty) of block x: column j = 32x + tx, lane ty. It walks rows ty, ty + 8, ... in order:
//   dh[i, j] = dy[i, j] · gelu'(pre[i, j])   (in the forward this was y = gelu(h), so now
//                                             dh = dy · gelu'(h); without pre, dh = dy)
//   s += dh[i, j]                            (this lane's share of Σ_i dh[i, j], in T)
// A warp is one lane of 32 consecutive columns: each row read and written as 128 contiguous
// bytes. Then the 8 lanes of a column are added in order 0..7 (a fixed order: deterministic, and
// the CPU's). dbias[j] = Σ_i dh[i, j] is the bias gradient: in the forward the bias was added to
// every row, so its gradient is the sum over the rows.
template <class T>
__global__ void bias_gelu_backward_kernel(const T* dy, const T* pre, T* dh, T* dbias, int64_t rows, int64_t N,
                                          bool exact) {
  __shared__ T lane_sum[kBiasGradLanes][kBiasColumns + 1];  // +1: the lanes of one column, 33 banks apart
  int tx = int(threadIdx.x), ty = int(threadIdx.y);
  int64_t j = int64_t(blockIdx.x) * kBiasColumns + tx;
  T s = T(0);
  if (j < N) {
    for (int64_t i = ty; i < rows; i += kBiasGradLanes) {
      T g = dy[i * N + j];
      if (pre != nullptr) {
        g = g * gelu_derivative(pre[i * N + j], exact);
        dh[i * N + j] = g;
      }
      s += g;
    }
  }
  lane_sum[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && j < N) {
    T total = lane_sum[0][tx];
    for (int lane = 1; lane < kBiasGradLanes; ++lane) total += lane_sum[lane][tx];
    dbias[j] = total;
  }
}

}  // namespace

template <Target D, class T> void epilogue_pass(T* c, int64_t rows, int64_t N, const Epilogue<T>& ep) {
  int64_t n = rows * N;
  if (n == 0) return;
  KISO_LAUNCH(epilogue_pass_kernel<T>, blocks_for(n), dim3(kBlockThreads), 0, c, n, N, ep);
}
template decltype(epilogue_pass<kTarget, float>) epilogue_pass<kTarget, float>;
template decltype(epilogue_pass<kTarget, double>) epilogue_pass<kTarget, double>;

template <Target D, class T>
void matmul_epilogue(MatmulRung rung, KISO_MATMUL_ARGS, const Epilogue<T>& ep) {
  [[maybe_unused]] constexpr bool is_float = sizeof(T) == sizeof(float);
  switch (rung) {
    case MatmulRung::tiled: return matmul_tiled<D>(a, b, c, batch, M, N, K, trans_a, trans_b, ep);
    case MatmulRung::warptile: return matmul_warptile<D>(a, b, c, batch, M, N, K, trans_a, trans_b, ep);
    case MatmulRung::mma_tf32:
      if constexpr (is_float) return matmul_mma_tf32<D>(a, b, c, batch, M, N, K, trans_a, trans_b, ep);
      break;
    case MatmulRung::mma_bf16:
      if constexpr (is_float) return matmul_mma_bf16<D>(a, b, c, batch, M, N, K, trans_a, trans_b, ep);
      break;
    default:  // a rung without an epilogue of its own: its product, then one pass over c
      matmul_rung<D>(rung, a, b, c, batch, M, N, K, trans_a, trans_b);
      return epilogue_pass<D>(c, batch * M, N, ep);
  }
  matmul_rung_refused(rung, is_float ? "float" : "double");
}
template decltype(matmul_epilogue<kTarget, float>) matmul_epilogue<kTarget, float>;
template decltype(matmul_epilogue<kTarget, double>) matmul_epilogue<kTarget, double>;

template <Target D, class T>
void bias_gelu_backward(const T* dy, const T* pre, T* dh, T* dbias, int64_t rows, int64_t N, bool exact) {
  if (N == 0) return;
  dim3 grid(unsigned((N + kBiasColumns - 1) / kBiasColumns));
  KISO_LAUNCH(bias_gelu_backward_kernel<T>, grid, dim3(kBiasColumns, kBiasGradLanes), 0, dy, pre, dh, dbias, rows, N,
              exact);
}
template decltype(bias_gelu_backward<kTarget, float>) bias_gelu_backward<kTarget, float>;
template decltype(bias_gelu_backward<kTarget, double>) bias_gelu_backward<kTarget, double>;

}  // namespace kiso::cuda
