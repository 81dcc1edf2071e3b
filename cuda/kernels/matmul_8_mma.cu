// cuda/kernels/matmul_8_mma.cu — rungs 8 of the matmul ladder: tensor cores. matmul_mma_tf32 and
// matmul_mma_bf16 compute the same product as every rung (cuda/kernels.h), with the multiply-adds
// done by `mma.sync` (cuda/kernels/mma.h): each instruction multiplies a 16 x k tile of A by a
// k x 8 tile of B and adds the 16 x 8 result to f32 accumulators, one warp at a time — k = 8 TF32
// or 16 BF16 inputs, 1024 or 2048 multiply-adds per instruction where a SIMT FMA does one a lane.
// Float only: the inputs are rounded to TF32 (10 fraction bits, ties away from zero) or to BF16
// (7 fraction bits, ties to even) on their way into shared memory; global memory stays f32, and
// sums are f32. The CPU's GEMM (tensor/ops_matmul.cpp) on pre-rounded inputs is the oracle
// (tests/cuda/test_mma.cpp).
//
// What changes from the SIMT rungs (matmul_7_warptile.cu, where each warp owns a sub-tile of C and
// each thread a small block of it, computed with FMAs from shared memory): the warp still owns a
// 64 x 32 sub-tile of C, but no thread computes "its" elements any more. Per k-step the warp loads
// fragments — registers whose lane/element mapping the PTX ISA fixes — and issues a 4 x 4 grid of
// mma instructions; the accumulators are fragments too, and only the epilogue maps them back to
// rows and columns of C.
//
// The block: 256 threads (8 warps, 2 along M x 4 along N) compute a 128 x 128 tile of C. Per step
// along K it stages a 128 x 32-word tile of A and one of B in shared memory — 32 TF32 values, or
// 64 BF16 values packed two to a word — then each warp runs 4 k-steps of 8 words:
//
//             B tile, stored n-major: Bs[n][kw]            kw = word along k
//                    n ->  0 ........ 127
//                        +-----+-----+-----+-----+
//                        | w0  | w1  | w2  | w3  |   warp (wm, wn) reads columns wn·32 .. +31
//                        +-----+-----+-----+-----+
//   A tile, As[m][kw]
//    m  0   +--------+   +-----+-----+-----+-----+
//       :   | rows   |   | w0  | w1  | w2  | w3  |   C tile, 128 x 128: warp (wm, wn) owns
//      63   | 0..63  |   |     |     |     |     |   rows wm·64 .. +63, columns wn·32 .. +31,
//       :   +--------+   +-----+-----+-----+-----+   a 4 x 4 grid of 16 x 8 mma tiles
//     127   | 64..127|   | w4  | w5  | w6  | w7  |
//           +--------+   +-----+-----+-----+-----+
//
//   One mma tile, in 32-bit words (the same for TF32 m16n8k8 and BF16 m16n8k16; g = lane / 4,
//   t = lane % 4; each cell names the lane-register holding it, LL.r):
//
//     A (16 x 8 words)                           B (8 x 8 words, k down, n across)
//           kw: 0    1    2    3    4    5 ..          n: 0    1  ..  7
//     m 0:   0.0  1.0  2.0  3.0  0.2  1.2 ..       kw 0:  0.0  4.0 .. 28.0
//     m 1:   4.0  5.0  6.0  7.0  4.2  5.2 ..       kw 1:  1.0  5.0 .. 29.0
//       :                                            :
//     m 8:   0.1  1.1  2.1  3.1  0.3  1.3 ..       kw 4:  0.1  4.1 .. 28.1
//
//   C / D (16 x 8 f32): lane 4g + t holds C[g][2t], C[g][2t+1] (registers 0, 1) and
//   C[g+8][2t], C[g+8][2t+1] (registers 2, 3).
//
// Both tiles are stored k-contiguous (As[m][kw], Bs[n][kw]), rows padded from 32 to 36 words,
// so that every fragment register of a warp — word (base + g, t) for the 32 lanes — falls in
// bank (36g + t) mod 32 = (4g + t) mod 32: 32 different banks.
//
// PREDICTED memory behaviour (to be measured by the simulator's profile, docs/kernels.md):
//   - shared-memory fragment loads: no bank conflicts (above), A and B, both precisions.
//   - shared-memory stores of the staged tiles: no bank conflicts. A k-contiguous source is
//     stored by a warp as 32 (TF32) or 16 (BF16) consecutive words of one row; an m- (n-)
//     contiguous source as 8 rows x 4 words, banks (4r + w) mod 32, all different.
//   - global loads, one f32 a lane per request: 4 sectors per 128-byte request when the row
//     length is a multiple of 8 floats (rows 32-byte aligned; GPT's shapes are), up to 5 (one
//     contiguous row) or 8 (8 rows x 4 words) otherwise. A k-contiguous operand is read as 32
//     consecutive floats of a row (BF16 pairs neighbours with a shuffle, so its reads stay
//     contiguous); an m- or n-contiguous one as 4 k-rows x 8 consecutive floats.
//   - global stores of C: 8 sectors per request (a store writes C[g][2t] for 8 rows g and 4
//     columns 2t, 16 bytes of each of 8 sectors; the next store fills the other 16 bytes):
//     twice the ideal, in the epilogue only (M·N elements against M·N·K/64 loads per block row).
//   - global bytes: each A element is read by ⌈N/128⌉ blocks and each B element by ⌈M/128⌉, so
//     4·(M·K·⌈N/128⌉ + K·N·⌈M/128⌉) + 4·M·N bytes without L2 hits, against the compulsory
//     4·(M·K + K·N + M·N); on one 128 x 128 tile (M, N <= 128) exactly the compulsory bytes.
//   - barriers: 2 per 32-word step along K.
// Not done here (next steps, GPU-only in their payoff): double buffering (cp.async), ldmatrix,
// 128-bit global loads, and stores of C as float2.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "cuda/kernels/epilogue.h"
#include "cuda/kernels/mma.h"

namespace kiso::cuda {
namespace {

enum class Precision { tf32, bf16 };

constexpr int kTileM = 128, kTileN = 128;  // the block's tile of C
constexpr int kWords = 32;                 // words along k staged per step (32 TF32 or 64 BF16)
constexpr int kPitch = kWords + 4;         // shared row pitch in words: the +4 spreads the banks
constexpr int kWarpsM = 2, kWarpsN = 4;
constexpr int kThreads = 32 * kWarpsM * kWarpsN;
constexpr int kWarpM = kTileM / kWarpsM, kWarpN = kTileN / kWarpsN;  // 64 x 32 per warp
constexpr int kMmaM = kWarpM / 16, kMmaN = kWarpN / 8;               // 4 x 4 mma tiles per warp
static_assert(kTileM == kTileN, "stage_tile serves A and B with one row count");

// Stages op(x)'s tile rows row0 .. row0+127 (m for A, n for B) x elements k0 .. k0 + kWords·per - 1
// into tile[r][w], rounded and packed into words: TF32 one a word, BF16 two (the lower k in the
// low half). Zero outside the matrix (rows >= `rows` or k >= K), so ragged edges add nothing.
// k_contiguous: element (row, k) is x[row·K + k]; otherwise x[k·rows + row].
template <Precision P>
__device__ void stage_tile(const float* x, uint32_t (*tile)[kPitch], int64_t rows, int64_t K, int64_t row0, int64_t k0,
                           bool k_contiguous) {
  int tid = int(threadIdx.x);
  auto at = [&](int64_t row, int64_t k) -> float {
    if (row >= rows || k >= K) return 0.0f;
    return k_contiguous ? x[row * K + k] : x[k * rows + row];
  };
  if constexpr (P == Precision::bf16) {
    if (k_contiguous) {
      // A warp reads 32 consecutive floats of one row (4 sectors); lane 2j takes its right
      // neighbour's value by a shuffle and stores the pair as word j. Every lane runs the same
      // number of rounds (128 x 64 elements / 256 threads), as the shuffle needs.
      constexpr int kElems = 2 * kWords;
      for (int idx = tid; idx < kTileM * kElems; idx += kThreads) {
        int r = idx / kElems, e = idx % kElems;
        float v = at(row0 + r, k0 + e);
        float next = __shfl_down_sync(0xffffffffu, v, 1);
        if (e % 2 == 0) tile[r][e / 2] = pack_bf16(v, next);
      }
      return;
    }
  }
  constexpr int kPer = P == Precision::tf32 ? 1 : 2;
  for (int idx = tid; idx < kTileM * kWords; idx += kThreads) {
    int r, w;
    if (k_contiguous) {
      r = idx / kWords, w = idx % kWords;  // a warp: 32 words of one row
    } else {
      r = idx % 8 + 8 * (idx / (8 * kWords)), w = idx / 8 % kWords;  // a warp: 8 rows x 4 words
    }
    int64_t k = k0 + kPer * w;
    tile[r][w] = kPer == 1 ? to_tf32(at(row0 + r, k)) : pack_bf16(at(row0 + r, k), at(row0 + r, k + 1));
  }
}

// Two blocks per SM on the GPU: nvcc gives the kernel 130-134 registers a thread (sm_90), which
// leaves room for one 256-thread block of an SM's 65536; capped at 128 (24 bytes spilled), two
// fit, and one block's global loads overlap the other's mma — this rung's only overlap of memory
// and math, as it stages its tiles without double buffering. Predicted, not measured.
#ifdef __CUDACC__
#define KISO_MMA_BOUNDS __launch_bounds__(kThreads, 2)
#else
#define KISO_MMA_BOUNDS
#endif

// One element through the epilogue, as a call rather than inlined 64 times: inlined, the GELU code
// beside the 64 live accumulators made nvcc spill 260 bytes a thread in the BF16 kernel (16 in
// TF32); as a call, 32 (8). nvcc -Xptxas -v, sm_90; what it costs in time is not measured yet.
#ifdef __CUDACC__
#define KISO_MMA_NOINLINE __noinline__
#else
#define KISO_MMA_NOINLINE
#endif
KISO_MMA_NOINLINE __device__ void epilogue_store_one(const Epilogue<float>& ep, float* c, int64_t at, float acc,
                                                     float bias) {
  epilogue_store(ep, c, at, acc, bias);
}

// Block (x, y, z) computes C[z] rows y·128 .. +127, columns x·128 .. +127; warp w owns the 64 x 32
// sub-tile at (w / 4, w % 4). a: (M, K) or, trans_a, (K, M); b: (K, N) or, trans_b, (N, K);
// c: (M, N); each offset by z products. With kEpilogue the results go out through the epilogue
// `ep` (cuda/kernels/epilogue.h); without, they are stored as they are, and the kernel is the
// rung's own (a separate instantiation: the epilogue's GELU code raises nvcc's register demand,
// which the plain product must not pay — 128 registers, 24 bytes spilled, as before it).
template <Precision P, bool kEpilogue>
__global__ void KISO_MMA_BOUNDS matmul_mma_kernel(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K,
                                  bool trans_a, bool trans_b, Epilogue<float> ep) {
  __shared__ uint32_t a_tile[kTileM][kPitch];  // As[m][kw]
  __shared__ uint32_t b_tile[kTileN][kPitch];  // Bs[n][kw]
  constexpr int64_t kStepK = P == Precision::tf32 ? kWords : 2 * kWords;  // elements along k a step
  int64_t z = blockIdx.z;
  a += z * M * K, b += z * K * N, c += z * M * N;
  ep = epilogue_at(ep, z * M * N);
  int64_t m0 = int64_t(blockIdx.y) * kTileM, n0 = int64_t(blockIdx.x) * kTileN;
  int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  int wm = warp / kWarpsN * kWarpM, wn = warp % kWarpsN * kWarpN;  // the warp's corner in the tile

  float acc[kMmaM][kMmaN][4] = {};  // the warp's 64 x 32 sub-tile of C, as mma accumulator fragments
  for (int64_t k0 = 0; k0 < K; k0 += kStepK) {
    stage_tile<P>(a, a_tile, M, K, m0, k0, !trans_a);
    stage_tile<P>(b, b_tile, N, K, n0, k0, trans_b);
    __syncthreads();
    for (int kw = 0; kw < kWords; kw += 8) {  // one mma k-step: 8 words (8 TF32, 16 BF16)
      uint32_t af[kMmaM][4], bf[kMmaN][2];
      for (int i = 0; i < kMmaM; ++i)
        for (int r = 0; r < 4; ++r) af[i][r] = a_tile[wm + 16 * i + mma_a_row(lane, r)][kw + mma_a_col(lane, r)];
      for (int j = 0; j < kMmaN; ++j)
        for (int r = 0; r < 2; ++r) bf[j][r] = b_tile[wn + 8 * j + mma_b_col(lane, r)][kw + mma_b_row(lane, r)];
      for (int i = 0; i < kMmaM; ++i)
        for (int j = 0; j < kMmaN; ++j) {
          if constexpr (P == Precision::tf32)
            mma_tf32_m16n8k8(acc[i][j], af[i], bf[j], acc[i][j]);
          else
            mma_bf16_m16n8k16(acc[i][j], af[i], bf[j], acc[i][j]);
        }
    }
    __syncthreads();  // before the next step overwrites the tiles
  }

  // Epilogue: each accumulator register back to its row and column of C.
  if constexpr (!kEpilogue) {
    for (int i = 0; i < kMmaM; ++i)
      for (int j = 0; j < kMmaN; ++j)
        for (int r = 0; r < 4; ++r) {
          int64_t row = m0 + wm + 16 * i + mma_c_row(lane, r), col = n0 + wn + 8 * j + mma_c_col(lane, r);
          if (row < M && col < N) c[row * N + col] = acc[i][j][r];
        }
  } else {
    // With `ep` (bias, bf16 rounding, GELU): a lane owns 2 columns of each of the warp's kMmaN
    // mma tiles (registers 0, 1; 2 and 3 repeat them 8 rows down): their bias is loaded once.
    float bias[kMmaN][2];
    for (int j = 0; j < kMmaN; ++j)
      for (int r = 0; r < 2; ++r) bias[j][r] = epilogue_bias(ep, n0 + wn + 8 * j + mma_c_col(lane, r), N);
    for (int i = 0; i < kMmaM; ++i)
      for (int j = 0; j < kMmaN; ++j)
        for (int r = 0; r < 4; ++r) {
          int64_t row = m0 + wm + 16 * i + mma_c_row(lane, r), col = n0 + wn + 8 * j + mma_c_col(lane, r);
          if (row < M && col < N) epilogue_store_one(ep, c, row * N + col, acc[i][j][r], bias[j][r % 2]);
        }
  }
}

template <Precision P>
void launch_mma(const float* a, const float* b, float* c, int64_t batch, int64_t M, int64_t N, int64_t K, bool trans_a,
                bool trans_b, const Epilogue<float>& ep) {
  if (batch == 0 || M == 0 || N == 0) return;
  dim3 grid(unsigned((N + kTileN - 1) / kTileN), unsigned((M + kTileM - 1) / kTileM), unsigned(batch));
  if (ep.bias == nullptr && !ep.gelu && !ep.round_pre_bf16)
    KISO_LAUNCH((matmul_mma_kernel<P, false>), grid, dim3(kThreads), 0, a, b, c, M, N, K, trans_a, trans_b, ep);
  else
    KISO_LAUNCH((matmul_mma_kernel<P, true>), grid, dim3(kThreads), 0, a, b, c, M, N, K, trans_a, trans_b, ep);
}

}  // namespace

template <Target D, class T>
void matmul_mma_tf32(KISO_MATMUL_ARGS, const Epilogue<T>& ep) {
  static_assert(sizeof(T) == sizeof(float), "the tensor-core rungs are float only");
  launch_mma<Precision::tf32>(a, b, c, batch, M, N, K, trans_a, trans_b, ep);
}
template decltype(matmul_mma_tf32<kTarget, float>) matmul_mma_tf32<kTarget, float>;

template <Target D, class T>
void matmul_mma_bf16(KISO_MATMUL_ARGS, const Epilogue<T>& ep) {
  static_assert(sizeof(T) == sizeof(float), "the tensor-core rungs are float only");
  launch_mma<Precision::bf16>(a, b, c, batch, M, N, K, trans_a, trans_b, ep);
}
template decltype(matmul_mma_bf16<kTarget, float>) matmul_mma_bf16<kTarget, float>;

}  // namespace kiso::cuda
