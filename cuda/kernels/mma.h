// cuda/kernels/mma.h — one warp-wide tensor-core instruction each, `mma.sync` for TF32 and for BF16
// inputs with f32 accumulators, and their simulated twin, so that the tensor-core matmul rungs
// (cuda/kernels/matmul_8_mma.cu) run in CI as well as on the GPU. Included by kernel files only.
//
//   mma_tf32_m16n8k8   mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32    D = A·B + C
//   mma_bf16_m16n8k16  mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32   D = A·B + C
//
// A is 16 x K, B is K x 8, C and D are 16 x 8 (K = 8 for TF32, 16 for BF16). No lane holds a
// whole matrix: each of the 32 lanes holds a fragment in registers, and which element sits in
// which register of which lane is fixed by the PTX ISA ("Matrix Fragments for mma.m16n8k8",
// "... for mma.m16n8k16 with floating point type", PTX ISA 9.x section 9.7.14.5.7 / .8). With
//   g = lane / 4 (the PTX's groupID), t = lane % 4 (threadID_in_group):
//
//   TF32 m16n8k8: four 32-bit registers of A, two of B, one element each
//     a0 = A[g][t]   a1 = A[g+8][t]   a2 = A[g][t+4]   a3 = A[g+8][t+4]
//     b0 = B[t][g]   b1 = B[t+4][g]
//   BF16 m16n8k16: four 32-bit registers of A, two of B, two elements each (the lower k in the
//   low 16 bits: the PTX lists elements "low to high")
//     a{0,1} = A[g][2t, 2t+1]      a{2,3} = A[g+8][2t, 2t+1]
//     a{4,5} = A[g][2t+8, 2t+9]    a{6,7} = A[g+8][2t+8, 2t+9]
//     b{0,1} = B[2t, 2t+1][g]      b{2,3} = B[2t+8, 2t+9][g]
//   C and D, both shapes: four f32 registers
//     c0 = C[g][2t]  c1 = C[g][2t+1]  c2 = C[g+8][2t]  c3 = C[g+8][2t+1]
//
// Read in 32-bit words, the two layouts are one: a BF16 register is a pair of neighbours along k,
// so A is 16 x 8 words and B 8 x 8 words in both, and register r of A holds word
// (g + 8·(r & 1), t + 4·(r >> 1)), register r of B word (t + 4·r, g) — which is why the matmul
// rung loads fragments with the same code for both precisions. The *_row / *_col helpers below
// spell these formulas once, for the rung and the twin.
//
// Rounding on the way in: a TF32 register is an f32 bit pattern of which the tensor core reads
// the top 19 bits (sign, 8 exponent, 10 fraction bits); to_tf32 rounds to nearest, ties away
// from zero (cvt.rna.tf32.f32), so nothing is lost by truncation. pack_bf16 rounds two f32 to
// BF16, to nearest even (cvt.rn.bf16x2.f32), and packs them, the first in the low half.
// base/bf16.h holds the same roundings in software; the simulator uses those.
//
// Under g++ (the simulator) the mma is a warp-collective built on sim::warp_all_gather: every lane
// publishes its fragments, each lane reassembles A, B and C from all 32 lanes by the formulas
// above and computes its own four elements of D. What the twin computes, and what it does not
// model:
//   - every product of two rounded inputs is exact in f32 (TF32: 11 x 11 significand bits = 22
//     <= 24; BF16: 8 x 8 = 16), as on the hardware;
//   - the products are added to C one by one in f32 with round-to-nearest, in k order. The tensor
//     core instead adds the K products and C of one instruction inside its own adder tree: in an
//     unspecified order, aligned to the largest term with a limited number of extra bits and
//     (measured on Volta..Ampere: Fasi, Higham, Mikaitis, Pranesh 2021, "Numerical behavior of
//     NVIDIA tensor cores") truncating rather than rounding. So the twin and a GPU may differ in
//     the last bits of each instruction's sum. Both are within K·2^-23·Σ|a·b| + 2^-23·|C| of the
//     exact A·B + C (a unit roundoff of 2^-23 allows for truncation), and the tests' tolerances
//     (tests/cuda/test_mma.cpp) are derived from that bound, not from the twin's order;
//   - subnormal inputs and outputs: the twin keeps them (IEEE f32 on the CPU); the hardware may
//     flush some to zero. The tests use normal numbers;
//   - the instruction requires all 32 lanes (.aligned); the twin reads zeros for a lane that has
//     returned instead of failing.
// What it is not: ldmatrix, the other shapes and types of mma, or sparse mma.
#pragma once

#include <cstdint>

#include "base/bf16.h"
#include "cuda/launch.h"

namespace kiso::cuda {
namespace {

// ---- the fragment layouts (PTX ISA), in 32-bit words; g = lane / 4, t = lane % 4 ----

// Register r (0..3) of A: row and word column within the 16 x 8-word A.
__device__ __forceinline__ int mma_a_row(int lane, int r) { return lane / 4 + 8 * (r & 1); }
__device__ __forceinline__ int mma_a_col(int lane, int r) { return lane % 4 + 4 * (r >> 1); }
// Register r (0..1) of B: word row and column within the 8 x 8-word B.
__device__ __forceinline__ int mma_b_row(int lane, int r) { return lane % 4 + 4 * r; }
__device__ __forceinline__ int mma_b_col(int lane, int /*r*/) { return lane / 4; }
// Register r (0..3) of C and D (f32): row and column within the 16 x 8 C.
__device__ __forceinline__ int mma_c_row(int lane, int r) { return lane / 4 + 8 * (r >> 1); }
__device__ __forceinline__ int mma_c_col(int lane, int r) { return 2 * (lane % 4) + (r & 1); }

#ifdef __CUDACC__

// ---- the GPU: the instructions themselves ----

__device__ __forceinline__ uint32_t to_tf32(float x) {
  uint32_t bits;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(bits) : "f"(x));
  return bits;
}

// lo in bits 0..15, hi in bits 16..31. cvt.rn.bf16x2.f32 d, a, b puts a in the upper half.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  uint32_t bits;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(bits) : "f"(hi), "f"(lo));
  return bits;
}

__device__ __forceinline__ void mma_tf32_m16n8k8(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                 const float c[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
}

__device__ __forceinline__ void mma_bf16_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                  const float c[4]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]),
        "f"(c[3]));
}

#else

// ---- the simulator: the same instructions as a warp-collective ----

inline uint32_t to_tf32(float x) { return f32_bits(round_tf32(x)); }
inline uint32_t pack_bf16(float lo, float hi) { return uint32_t(to_bf16(lo).bits) | uint32_t(to_bf16(hi).bits) << 16; }

// What the tensor core reads from a register: a TF32 register's top 19 bits; a BF16 register's
// element `half` (0: bits 0..15, 1: bits 16..31).
inline float tf32_value(uint32_t w) { return f32_from_bits(w & 0xffffe000u); }
inline float bf16_value(uint32_t w, int half) { return to_f32(bf16{uint16_t(half ? w >> 16 : w & 0xffffu)}); }

// One lane's operands, as published to the warp (40 bytes: within sim::kGatherBytes).
struct MmaFragments {
  uint32_t a[4], b[2];
  float c[4];
};

// The twin of both instructions: K = 8 (TF32, one element a register) or 16 (BF16, two).
// no_sanitize("thread"): an mma reads and writes registers only, so the twin's bookkeeping on the
// fiber's stack must stay out of the memory profile should the simulator build its kernels with
// -fsanitize=thread's load/store hooks (issue 15); without that flag the attribute does nothing.
template <int K>
__attribute__((no_sanitize("thread"))) void mma_twin(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  static_assert(K == 8 || K == 16);
  constexpr int kPer = K / 8;  // elements a 32-bit register holds
  MmaFragments mine;
  for (int r = 0; r < 4; ++r) mine.a[r] = a[r], mine.c[r] = c[r];
  for (int r = 0; r < 2; ++r) mine.b[r] = b[r];
  MmaFragments all[sim::kWarpSize];
  sim::warp_all_gather(&mine, all, sizeof(MmaFragments));

  // Reassemble A (16 x K), B (K x 8) and C (16 x 8) from the 32 lanes' registers.
  float A[16][K], B[K][8], C[16][8];
  auto value = [](uint32_t w, int half) { return kPer == 1 ? tf32_value(w) : bf16_value(w, half); };
  for (int lane = 0; lane < sim::kWarpSize; ++lane) {
    const MmaFragments& f = all[lane];
    for (int r = 0; r < 4; ++r)
      for (int h = 0; h < kPer; ++h) A[mma_a_row(lane, r)][kPer * mma_a_col(lane, r) + h] = value(f.a[r], h);
    for (int r = 0; r < 2; ++r)
      for (int h = 0; h < kPer; ++h) B[kPer * mma_b_row(lane, r) + h][mma_b_col(lane, r)] = value(f.b[r], h);
    for (int r = 0; r < 4; ++r) C[mma_c_row(lane, r)][mma_c_col(lane, r)] = f.c[r];
  }

  // This lane's four elements of D = A·B + C: exact products, added in f32 in k order.
  int lane = sim::lane_id();
  for (int r = 0; r < 4; ++r) {
    int i = mma_c_row(lane, r), j = mma_c_col(lane, r);
    float acc = C[i][j];
    for (int k = 0; k < K; ++k) acc += A[i][k] * B[k][j];
    d[r] = acc;
  }
}

inline void mma_tf32_m16n8k8(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  mma_twin<8>(d, a, b, c);
}
inline void mma_bf16_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
  mma_twin<16>(d, a, b, c);
}

#endif

}  // namespace
}  // namespace kiso::cuda
