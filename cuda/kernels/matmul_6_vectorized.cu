// cuda/kernels/matmul_6_vectorized.cu — rung 6 of the matmul ladder (docs/kernels.md): 128-bit
// loads and stores. Rung 5's blocks and threads, but global memory is read and c written four
// floats (two doubles) per instruction, and both tiles sit in shared memory k-major, so that the
// inner loop too reads its 8 numbers of a and 8 of b as two 128-bit words each.
//
// The step from rung 5:
//   - global loads: one 128-bit load per thread per tile per step (rung 5: 4 scalar loads), via
//     load_tile_kmajor (matmul_ladder.h), which lays lanes along the operand's contiguous axis in
//     either layout and stores the tile k-major, S[k][r];
//   - a stored transposed, As[k][r]: a thread's 8 rows of a at one k are now contiguous, one
//     128-bit shared load per 4 (rung 5: a scalar load per number, and 2-way conflicts);
//   - c written as 128-bit words;
//   - __launch_bounds__(256, 2) for floats: at most 128 registers a thread, so two blocks share an
//     SM (nvcc -Xptxas -v, sm_90: 128 registers, no spills; rung 5 takes 165, one block an SM).
// A 128-bit access needs a 16-byte aligned address. An operand whose base is unaligned, or whose
// contiguous length (K for untransposed a, M for transposed a; N for untransposed b, K for
// transposed b; N for c) is not a multiple of 4 floats (2 doubles), takes the scalar path: the
// same lanes load the same places one number at a time. Edges of the matrix need no special
// case: when the length is a multiple of the width, a vector is wholly in or wholly out.
//
// Predicted (f32, M, N, K multiples of 128, aligned buffers; sectors per warp request; a 128-bit
// request of 32 lanes is 512 bytes, 16 sectors at the least):
//   load a, b (vector path)  16 sectors per request, either layout: all bytes used. (k-contiguous:
//                  16 rows x 32 bytes, needs K a multiple of 8; r-contiguous: 512 consecutive
//                  bytes.) 1 request per tile per step (rung 5: 4 requests of 4 sectors).
//   load (scalar fallback)   the same places, a request per number: 4x the requests.
//   store c        32 sectors per 512-byte request: lane tcol writes 16 of the 32 bytes
//                  c[i][col0 + tcol·8 ..] in each of its two stores (rung 7 makes it 16).
//   shared stores  conflict-free: untransposed operands are stored transposed by scalar stores
//                  whose lanes hit 32 banks (row pitch 132 puts the two halves 16 banks apart);
//                  transposed ones as 128-bit words, 4 wavefronts per request, the least.
//   shared loads   As[k][trow·8 ..]: 2 distinct 128-bit words per warp, 1 wavefront, no
//                  conflict (rung 5: 2-way). Bs[k][tcol·8 ..]: 16 words 32 bytes apart, 4 in
//                  each group of 4 banks: 4 wavefronts for 256 distinct bytes, 2-way conflict.
//   barriers       2 per 8 steps of k.
//   global bytes   as rung 5: K·sizeof(T)/64 per element of c.
// f64: double2 words, 2 per vector; the same mapping, tiles 128 x 8 of doubles (2 loads per
// thread per tile), row pitch 130.
#include "cuda/kernels.h"
#include "cuda/kernels/block.h"
#include "cuda/kernels/matmul_ladder.h"

namespace kiso::cuda {
namespace {

constexpr int BM = 128, BN = 128, BK = 8;      // the block's tile of c, and the step along K
constexpr int TM = 8, TN = 8;                  // the thread's block of results
constexpr int kThreads = BM * BN / (TM * TN);  // 256

// a (M, K) or (K, M) when trans_a; b (K, N) or (N, K) when trans_b; c (M, N); one product each
// blockIdx.y. Thread t computes c[row0 + trow·TM + m][col0 + tcol·TN + n], m < TM, n < TN.
// At most 128 registers a thread for floats: two 256-thread blocks an SM.
template <class T>
__global__ void KISO_LAUNCH_BOUNDS(kThreads, sizeof(T) == 4 ? 2 : 1)
    matmul_vectorized_kernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ c, int64_t M, int64_t N,
        int64_t K, bool trans_a, bool trans_b, VectorPaths vec) {
  constexpr int W = Vec<T>::W;  // numbers per 128-bit word
  alignas(16) __shared__ T As[BK][BM + W];  // op(a)'s tile, k-major: As[k][r] = A(row0 + r, k0 + k)
  alignas(16) __shared__ T Bs[BK][BN + W];  // op(b)'s tile, k-major: Bs[k][n] = B(k0 + k, col0 + n)
  auto [z, row0, col0] = block_tile<BM, BN>(N);
  a += z * M * K, b += z * K * N, c += z * M * N;
  int t = int(threadIdx.x);
  int tcol = t % (BN / TN), trow = t / (BN / TN);

  T acc[TM][TN] = {};
  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    // a as M rows of K (k-contiguous unless trans_a); b as N rows of K (k-contiguous when trans_b).
    load_tile_kmajor<T, BM, BK, kThreads>(As, a, row0, k0, M, K, !trans_a, vec.a);
    load_tile_kmajor<T, BN, BK, kThreads>(Bs, b, col0, k0, N, K, trans_b, vec.b);
    __syncthreads();
    KISO_UNROLL
    for (int k = 0; k < BK; ++k) {
      // This k's 8 numbers of a (the thread's rows) and 8 of b (its columns): TM / W and TN / W
      // 128-bit shared loads.
      Vec<T> a_frag[TM / W], b_frag[TN / W];
      KISO_UNROLL
      for (int v = 0; v < TM / W; ++v) a_frag[v] = load_vec(&As[k][trow * TM + v * W]);
      KISO_UNROLL
      for (int v = 0; v < TN / W; ++v) b_frag[v] = load_vec(&Bs[k][tcol * TN + v * W]);
      KISO_UNROLL
      for (int m = 0; m < TM; ++m)
        KISO_UNROLL
        for (int n = 0; n < TN; ++n) acc[m][n] += a_frag[m / W].e[m % W] * b_frag[n / W].e[n % W];
    }
    __syncthreads();  // before the next step overwrites the tiles
  }
  KISO_UNROLL
  for (int m = 0; m < TM; ++m) {
    KISO_UNROLL
    for (int n = 0; n < TN; n += W) {
      Vec<T> x;
      KISO_UNROLL
      for (int e = 0; e < W; ++e) x.e[e] = acc[m][n + e];
      store_vector(c, x, row0 + trow * TM + m, col0 + tcol * TN + n, M, N, vec.c);
    }
  }
}

}  // namespace

template <Target D, class T>
void matmul_vectorized(KISO_MATMUL_ARGS) {
  VectorPaths vec{vectors_fit(a, trans_a ? M : K), vectors_fit(b, trans_b ? K : N), vectors_fit(c, N)};
  launch_tiles(a, b, c, batch, M, N, K, BM, BN, [&](const T* a, const T* b, T* c, dim3 grid) {
    KISO_LAUNCH(matmul_vectorized_kernel<T>, grid, dim3(kThreads), 0, a, b, c, M, N, K, trans_a, trans_b, vec);
  });
}
template decltype(matmul_vectorized<kTarget, float>) matmul_vectorized<kTarget, float>;
template decltype(matmul_vectorized<kTarget, double>) matmul_vectorized<kTarget, double>;

}  // namespace kiso::cuda
