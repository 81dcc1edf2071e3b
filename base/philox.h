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
// masks agree on both devices. Not here: the samplers (uniform, normal, dropout) are in
// tensor/ops_random.cpp.
#pragma once

#include <array>
#include <cstdint>

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
