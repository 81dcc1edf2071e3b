// base/philox.h — the one source of randomness in kiso: Philox 4x32-10, and the Generator
// that hands out non-overlapping ranges of its stream.
//
// Philox (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011) is
// counter-based: the n-th random number is a pure function philox(counter = n, key = seed).
// There is no hidden state to advance, so the value an element gets depends only on
// (seed, stream, its index), never on how many threads (or GPU blocks) computed it, or in
// which order. That is what lets initialisation and dropout masks match between CPU and CUDA
// and lets a resumed run continue bit for bit.
//
// Layout kiso uses (fixed; changing it changes every seeded result):
//   key     = (seed low 32 bits, seed high 32 bits)
//   counter = (block low 32, block high 32, stream low 32, stream high 32)
//   32-bit draw number d of a stream is lane d % 4 of the output of block d / 4.
//
// A leaf header (base/): the CPU samplers and the cuda dropout kernel both include it, so the
// masks agree on both devices. The CPU samplers read it 16 blocks at a time (philox_blocks16,
// below), with the same numbers. Not here: the samplers (uniform, normal, dropout) are in
// tensor/ops_random.cpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#if defined(__AVX2__) && !defined(__CUDACC__)
#include <immintrin.h>
#endif

#ifdef __CUDACC__
#define KISO_HOST_DEVICE __host__ __device__
#else
#define KISO_HOST_DEVICE
#endif

namespace kiso {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// Philox 4x32 with R rounds. Each round multiplies two of the four words by fixed odd
// constants, splits the 64-bit products into high and low halves, and mixes them with the
// other words and the key (a Feistel-like network); the key is bumped by the Weyl constants
// (golden ratio, sqrt(3) - 1) between rounds. Ten rounds is the standard strength.
KISO_HOST_DEVICE inline PhiloxCounter philox4x32(PhiloxCounter c, PhiloxKey k, int rounds = 10) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;  // multipliers
  constexpr uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;  // key schedule (Weyl sequence)
  for (int r = 0; r < rounds; ++r) {
    if (r > 0) {
      k[0] += W0;
      k[1] += W1;
    }
    uint64_t p0 = uint64_t(M0) * c[0];
    uint64_t p1 = uint64_t(M1) * c[2];
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
  }
  return c;
}

// The four 32-bit draws of block `block` of (seed, stream): draws 4*block .. 4*block + 3.
KISO_HOST_DEVICE inline PhiloxCounter philox_block(uint64_t seed, uint64_t stream, uint64_t block) {
  return philox4x32({uint32_t(block), uint32_t(block >> 32), uint32_t(stream), uint32_t(stream >> 32)},
                    {uint32_t(seed), uint32_t(seed >> 32)});
}

// ---- CPU only: 16 blocks (64 draws) at a time ----
// The samplers of tensor/ops_random.cpp need every draw of a range, in order. Asking
// philox_block once per draw computes each block four times and keeps one lane; these compute
// blocks first .. first + 15 once each and return their 64 draws in draw order:
//   draws[4 * j + w] = word w of block first + j,  j < 16, w < 4.
// A ladder of two rungs, the same numbers bit for bit (tests/base/test_philox.cpp):
//   1. philox_blocks16_plain: philox_block sixteen times (the oracle, and the path of any CPU
//      without AVX2).
//   2. philox_blocks16_avx2: the sixteen blocks side by side in two sets of four 8-lane
//      registers (word w of blocks j..j+7 in one register), so a round is a few vector
//      instructions for 8 blocks. x86 has no 32 x 32 -> high-32 vector multiply, and the
//      compiler does not vectorise the scalar round by itself (g++ -O3 -fopt-info-vec: "not
//      vectorized: unsupported use in stmt"), hence the intrinsics: vpmuludq multiplies the
//      even lanes into 64-bit products, a 32-bit shift brings the odd lanes under it, and two
//      blends sort the products' halves back into hi and lo registers. Two independent sets
//      keep the multiplier busy while the other set's round waits on its latency. A 4 x 8
//      transpose (unpack, then swap 128-bit halves) puts the words in draw order.
// Measured (one thread, AMD EPYC with AVX2, 2^22 draws in order): philox_block per draw
// 13–16 ns/draw, rung 1 2.5 ns/draw, rung 2 0.93 ns/draw (docs/benchmarks.md).
// On an AVX-512 CPU the AVX2 rung runs (its 16-lane version is not written: no machine here
// to test it on). Not for the device: the cuda kernels call philox_block per thread.
constexpr int kPhiloxBatchBlocks = 16, kPhiloxBatchDraws = 4 * kPhiloxBatchBlocks;

inline void philox_blocks16_plain(uint64_t seed, uint64_t stream, uint64_t first, uint32_t* draws /* [64] */) {
  for (int j = 0; j < kPhiloxBatchBlocks; ++j) {
    PhiloxCounter c = philox_block(seed, stream, first + uint64_t(j));
    for (int w = 0; w < 4; ++w) draws[4 * j + w] = c[std::size_t(w)];
  }
}

#if defined(__AVX2__) && !defined(__CUDACC__)
inline void philox_blocks16_avx2(uint64_t seed, uint64_t stream, uint64_t first, uint32_t* draws /* [64] */) {
  const __m256i M0 = _mm256_set1_epi32(int(0xD2511F53u)), M1 = _mm256_set1_epi32(int(0xCD9E8D57u));
  // c[s][w]: word w of the counters of blocks first + 8s .. first + 8s + 7 (lane l = block 8s + l)
  __m256i c[2][4];
  for (int s = 0; s < 2; ++s) {
    alignas(32) uint32_t lo[8], hi[8];
    for (int l = 0; l < 8; ++l) {
      uint64_t block = first + uint64_t(8 * s + l);  // may carry into the high word
      lo[l] = uint32_t(block);
      hi[l] = uint32_t(block >> 32);
    }
    c[s][0] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
    c[s][1] = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));
    c[s][2] = _mm256_set1_epi32(int(uint32_t(stream)));
    c[s][3] = _mm256_set1_epi32(int(uint32_t(stream >> 32)));
  }
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  // (hi, lo) of a · m for each 32-bit lane: even lanes' products from one vpmuludq, odd lanes'
  // from another on a shifted by 32; 0xAA selects the odd 32-bit positions.
  auto mul_hi_lo = [](__m256i a, __m256i m, __m256i& hi, __m256i& lo) {
    __m256i even = _mm256_mul_epu32(a, m);                         // lanes 0, 2, 4, 6 as 64-bit
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);  // lanes 1, 3, 5, 7
    hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  };
  for (int r = 0; r < 10; ++r) {  // philox4x32's round, on 8 blocks per register
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const __m256i K0 = _mm256_set1_epi32(int(k0)), K1 = _mm256_set1_epi32(int(k1));
    for (int s = 0; s < 2; ++s) {
      __m256i hi0, lo0, hi1, lo1;
      mul_hi_lo(c[s][0], M0, hi0, lo0);
      mul_hi_lo(c[s][2], M1, hi1, lo1);
      __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c[s][1]), K0);
      __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c[s][3]), K1);
      c[s][0] = n0;
      c[s][1] = lo1;
      c[s][2] = n2;
      c[s][3] = lo0;
    }
  }
  for (int s = 0; s < 2; ++s) {  // 4 x 8 transpose: registers of words -> registers of 2 blocks
    __m256i t0 = _mm256_unpacklo_epi32(c[s][0], c[s][1]), t1 = _mm256_unpackhi_epi32(c[s][0], c[s][1]);
    __m256i t2 = _mm256_unpacklo_epi32(c[s][2], c[s][3]), t3 = _mm256_unpackhi_epi32(c[s][2], c[s][3]);
    __m256i b04 = _mm256_unpacklo_epi64(t0, t2), b15 = _mm256_unpackhi_epi64(t0, t2);  // blocks (0, 4), (1, 5)
    __m256i b26 = _mm256_unpacklo_epi64(t1, t3), b37 = _mm256_unpackhi_epi64(t1, t3);  // blocks (2, 6), (3, 7)
    __m256i* out = reinterpret_cast<__m256i*>(draws + 32 * s);
    _mm256_storeu_si256(out + 0, _mm256_permute2x128_si256(b04, b15, 0x20));  // blocks 0, 1
    _mm256_storeu_si256(out + 1, _mm256_permute2x128_si256(b26, b37, 0x20));  // blocks 2, 3
    _mm256_storeu_si256(out + 2, _mm256_permute2x128_si256(b04, b15, 0x31));  // blocks 4, 5
    _mm256_storeu_si256(out + 3, _mm256_permute2x128_si256(b26, b37, 0x31));  // blocks 6, 7
  }
}
#endif

// The fastest rung this build has.
inline void philox_blocks16(uint64_t seed, uint64_t stream, uint64_t first, uint32_t* draws /* [64] */) {
#if defined(__AVX2__) && !defined(__CUDACC__)
  philox_blocks16_avx2(seed, stream, first, draws);
#else
  philox_blocks16_plain(seed, stream, first, draws);
#endif
}

// Draw d as a float in [0, 1): the top 24 bits scaled by 2^-24, exact in both float and double.
KISO_HOST_DEVICE inline float uniform_from_bits(uint32_t bits) { return float(bits >> 8) * (1.0f / 16777216.0f); }

// Where a random op starts reading the stream. Ops take one of these by value and never
// change it, so a backward pass can regenerate exactly the forward's numbers (dropout).
struct PhiloxState {
  uint64_t seed = 0;
  uint64_t stream = 0;
  uint64_t offset = 0;  // first draw number; always a multiple of 4 (a block boundary)
};

// Hands out consecutive, non-overlapping ranges of one stream. Not global: whoever needs
// randomness owns a Generator (the model for init, the trainer for dropout) and passes it.
struct Generator {
  uint64_t seed = 0;
  uint64_t stream = 0;
  uint64_t offset = 0;  // next unused draw

  // Reserves `draws` 32-bit numbers and returns where they start; the offset moves to the
  // next block boundary so that ranges never share a block.
  PhiloxState take(uint64_t draws) {
    PhiloxState s{seed, stream, offset};
    offset += (draws + 3) / 4 * 4;
    return s;
  }
};

}  // namespace kiso
