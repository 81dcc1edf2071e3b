// tests/base/test_philox.cpp — Philox 4x32 (base/philox.h) and the way kiso lays its stream out.
//
// Oracles: the published known-answer vectors of Random123 (kat_vectors, the reference
// implementation of Salmon et al., SC 2011) for 7 and 10 rounds; the header's own layout
// comment (key = seed, counter = (block, stream), draw d = lane d % 4 of block d / 4) checked
// through those vectors and through rand(); the 16-block rungs (philox_blocks16_*) against
// philox_block; Generator::take checked against hand-worked offsets.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "tensor/ops.h"

using namespace kiso;

TEST_SUITE("tensor") {

// Random123 kat_vectors, "philox4x32 R ctr0 ctr1 ctr2 ctr3 key0 key1 -> out0 out1 out2 out3".
constexpr PhiloxCounter kZeros{0, 0, 0, 0}, kOnes{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
constexpr PhiloxCounter kPiCounter{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};  // digits of pi
constexpr PhiloxKey kZeroKey{0, 0}, kOnesKey{0xffffffffu, 0xffffffffu}, kPiKey{0xa4093822u, 0x299f31d0u};

TEST_CASE("philox4x32-10 matches Random123's known answers (default rounds)") {
  CHECK(philox4x32(kZeros, kZeroKey) == PhiloxCounter{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(philox4x32(kOnes, kOnesKey) == PhiloxCounter{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(philox4x32(kPiCounter, kPiKey) == PhiloxCounter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
  CHECK(philox4x32(kPiCounter, kPiKey, 10) == PhiloxCounter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("philox4x32-7 matches Random123's known answers (the round count is honoured)") {
  CHECK(philox4x32(kZeros, kZeroKey, 7) == PhiloxCounter{0x5f6fb709u, 0x0d893f64u, 0x4f121f81u, 0x4f730a48u});
  CHECK(philox4x32(kOnes, kOnesKey, 7) == PhiloxCounter{0x5207ddc2u, 0x45165e59u, 0x4d8ee751u, 0x8c52f662u});
  CHECK(philox4x32(kPiCounter, kPiKey, 7) == PhiloxCounter{0x4dfccabau, 0x190a87f0u, 0xc47362bau, 0xb6b5242au});
}

TEST_CASE("philox_block puts block in counter words 0-1, stream in 2-3, seed in the key (low word first)") {
  // The pi vector read through the layout: every word lands in a different place, so swapping
  // halves, or block with stream, changes the answer.
  uint64_t seed = 0x299f31d0a4093822ull, stream = 0x0370734413198a2eull, block = 0x85a308d3243f6a88ull;
  CHECK(philox_block(seed, stream, block) == PhiloxCounter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
  CHECK(philox_block(~0ull, ~0ull, ~0ull) == PhiloxCounter{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(philox_block(0, 0, 0) == PhiloxCounter{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
}

TEST_CASE("uniform_from_bits keeps the top 24 bits: exact, in [0, 1)") {
  CHECK(uniform_from_bits(0u) == 0.0f);
  CHECK(uniform_from_bits(0x80000000u) == 0.5f);
  CHECK(uniform_from_bits(0x000000ffu) == 0.0f);                   // the low 8 bits are dropped
  CHECK(uniform_from_bits(0xffffffffu) == 1.0f - 0x1p-24f);        // the largest value is below 1
  CHECK(uniform_from_bits(0x00000100u) == 0x1p-24f);               // one step is 2^-24
}

TEST_CASE("draw d of a stream is lane d % 4 of block d / 4 (read through rand)") {
  // Seed 0, stream 0, offset 0: the first block is the all-zero known answer, so rand's first
  // four values are the four lanes of 6627e8d5 e169c58d bc57ac4c 9b00dbd8, in order.
  Generator gen{0, 0, 0};
  std::vector<float> u = rand({11}, gen).to_vector<float>();
  CHECK(u[0] == uniform_from_bits(0x6627e8d5u));
  CHECK(u[1] == uniform_from_bits(0xe169c58du));
  CHECK(u[2] == uniform_from_bits(0xbc57ac4cu));
  CHECK(u[3] == uniform_from_bits(0x9b00dbd8u));
  // Beyond the first block: d = 4 * block + lane, for a stream and seed that are not zero.
  Generator g2{0x1234567890abcdefull, 7, 8};  // offset 8: starts at block 2
  std::vector<float> v = rand({11}, g2).to_vector<float>();
  for (uint64_t i = 0; i < v.size(); ++i) {
    uint64_t d = 8 + i;
    INFO("element ", i, " = draw ", d);
    CHECK(v[i] == uniform_from_bits(philox_block(0x1234567890abcdefull, 7, d / 4)[d % 4]));
  }
}

TEST_CASE("randn element i is Box-Muller of draws 2i and 2i + 1, computed in double") {
  // The layout ops.h documents, which a CUDA sampler has to reproduce bit for bit:
  // u1 = (bits(2i) + 1)·2^-32 in (0, 1], u2 = bits(2i + 1)·2^-32 in [0, 1),
  // z = sqrt(-2 ln u1) cos(2π u2).
  uint64_t seed = 31, stream = 5, offset = 4;
  Generator gen{seed, stream, offset};
  std::vector<double> z = randn({9}, gen, DType::f64).to_vector<double>();
  auto bits = [&](uint64_t d) { return philox_block(seed, stream, d / 4)[d % 4]; };
  int64_t not_float = 0;
  for (uint64_t i = 0; i < z.size(); ++i) {
    double u1 = (double(bits(offset + 2 * i)) + 1.0) * 0x1p-32, u2 = double(bits(offset + 2 * i + 1)) * 0x1p-32;
    double ref = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    INFO("element ", i);
    CHECK(std::abs(z[i] - ref) <= 1e-14 * std::max(1.0, std::abs(ref)));  // the same formula; libm ulps only
    not_float += z[i] != double(float(z[i]));
  }
  CHECK(not_float > 0);  // f64 output keeps double precision, it is not a widened float
}

TEST_CASE("philox_blocks16: each rung gives philox_block's words, 16 blocks in draw order") {
  // Oracle: philox_block (checked above against Random123), one block at a time. The cases
  // cover seeds and streams with both 32-bit halves set, and first blocks whose 16 blocks carry
  // from the low counter word into the high one (0xfffffff8 + 8 = 2^32) or wrap the whole
  // 64-bit counter, which an implementation that forgot the high word would get wrong.
  auto check_rung = [](const char* rung, void (*blocks16)(uint64_t, uint64_t, uint64_t, uint32_t*)) {
    int64_t wrong = 0, cases = 0;
    for (uint64_t seed : {0ull, 0x1234567890abcdefull, ~0ull})
      for (uint64_t stream : {0ull, 7ull, 0xfedcba9876543210ull})
        for (uint64_t first : {0ull, 5ull, 0xfffffff8ull, 0x1fffffff5ull, 0xfffffffffffffff8ull}) {
          uint32_t draws[kPhiloxBatchDraws];
          blocks16(seed, stream, first, draws);
          for (int j = 0; j < kPhiloxBatchBlocks; ++j)
            for (int w = 0; w < 4; ++w) wrong += draws[4 * j + w] != philox_block(seed, stream, first + uint64_t(j))[size_t(w)];
          ++cases;
        }
    INFO(rung, ": ", cases, " cases of 64 draws");
    CHECK(wrong == 0);
  };
  check_rung("plain", philox_blocks16_plain);
#if defined(__AVX2__)
  check_rung("avx2", philox_blocks16_avx2);
#endif
  check_rung("the build's choice", philox_blocks16);
}

TEST_CASE("Generator::take hands out whole blocks that never overlap") {
  Generator gen{42, 3, 0};
  PhiloxState a = gen.take(5);  // draws 0..4, rounded up to two blocks: next free is 8
  CHECK(a.seed == 42);
  CHECK(a.stream == 3);
  CHECK(a.offset == 0);
  CHECK(gen.offset == 8);
  PhiloxState b = gen.take(4);  // exactly one block
  CHECK(b.offset == 8);
  CHECK(gen.offset == 12);
  PhiloxState c = gen.take(0);  // nothing reserved, nothing skipped
  CHECK(c.offset == 12);
  CHECK(gen.offset == 12);
  PhiloxState d = gen.take(1);
  CHECK(d.offset == 12);
  CHECK(gen.offset == 16);
  CHECK(gen.take(9).offset == 16);
  CHECK(gen.offset == 28);

  // Through the samplers: rand(5) then rand(3) read draws 0..4 and 8..10 of the same stream,
  // i.e. the same numbers as one rand(11) at those positions; randn(3) uses 2 * 3 = 6 draws.
  Generator g1{99, 1, 0}, whole{99, 1, 0};
  std::vector<float> first = rand({5}, g1).to_vector<float>();
  std::vector<float> second = rand({3}, g1).to_vector<float>();
  std::vector<float> all = rand({11}, whole).to_vector<float>();
  for (size_t i = 0; i < 5; ++i) CHECK(first[i] == all[i]);
  for (size_t i = 0; i < 3; ++i) CHECK(second[i] == all[8 + i]);
  CHECK(g1.offset == 12);
  Generator gn{99, 1, 0};
  randn({3}, gn);
  CHECK(gn.offset == 8);
}

}  // TEST_SUITE
