// tests/cuda/test_matmul_profile.cpp — each rung of the matmul ladder does to the memory system
// what its header predicts (cuda/kernels/matmul_<n>_<rung>.cu), measured by the simulator's
// profile (cuda/sim/profile.h): 32-byte sectors per warp request of a, b and c, shared-memory
// bank conflicts, barriers, and global traffic against the compulsory bytes. The figures are
// the headers' (derived from the thread-to-data mapping, written before they were measured);
// a rung whose mapping regresses, a profile that miscounts, or a g++ build that splits a
// 128-bit access into scalars fails here. Parity is tested elsewhere (test_matmul_ladder.cpp,
// test_mma.cpp); here c is only checked to hold K, the product of all-ones inputs.
//
// Shape: M = N = 128, K = 64 (one 128 x 128 block tile, 4 tiles of 64, 8 of 16), 256-byte
// aligned buffers as cudaMalloc gives; "sectors" are per warp request.
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>

#include "cuda/kernels.h"
#include "cuda/sim/profile.h"

using namespace kiso;
using cuda::MatmulRung;

namespace {

struct Run {
  sim::KernelProfile p;
  double load_ways, store_ways;  // shared loads' and stores' wavefronts / conflict-free
};

double ways(const sim::AccessCounts& c) { return c.ideal_wavefronts ? double(c.wavefronts) / double(c.ideal_wavefronts) : 0; }

Run profile_rung(MatmulRung rung, bool trans_a, bool trans_b, int64_t M = 128, int64_t N = 128, int64_t K = 64) {
  auto buffer = [](int64_t n, float v) {
    std::unique_ptr<float, decltype(&std::free)> p(static_cast<float*>(std::aligned_alloc(256, size_t(n) * 4 + 256)),
                                                   &std::free);
    for (int64_t i = 0; i < n; ++i) p.get()[i] = v;
    return p;
  };
  auto a = buffer(M * K, 1), b = buffer(K * N, 1), c = buffer(M * N, 0);
  sim::ProfileRecording recording;
  cuda::matmul_rung<cuda::Target::sim>(rung, a.get(), b.get(), c.get(), 1, M, N, K, trans_a, trans_b);
  for (int64_t i = 0; i < M * N; i += 97) REQUIRE(c.get()[i] == float(K));
  sim::KernelProfile p = recording.total();
  return {p, ways(p.shared_load), ways(p.shared_store)};
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("matmul profile: rungs 1-2, what coalescing changes" * doctest::skip(!sim::profile_available())) {
  // naive: lanes along M. a's 32 rows are K apart: 32 sectors; b: one number for all: 1. One of
  // each per k, so 16.5 on average; c: 32 rows apart, 32 sectors.
  Run r = profile_rung(MatmulRung::naive, false, false);
  CHECK(r.p.load_sectors_per_request() == 16.5);
  CHECK(r.p.store_sectors_per_request() == 32);
  CHECK(r.p.shared_load.requests == 0);
  // aᵀ: a's 32 rows are now consecutive: 4 sectors, with b's 1: 2.5.
  CHECK(profile_rung(MatmulRung::naive, true, false).p.load_sectors_per_request() == 2.5);

  // coalesced: lanes along N. a: one number (1), b: 32 consecutive (4); c: 4.
  r = profile_rung(MatmulRung::coalesced, false, false);
  CHECK(r.p.load_sectors_per_request() == 2.5);
  CHECK(r.p.store_sectors_per_request() == 4);
  CHECK(r.p.global_load.requests == 2 * 64 * (128 * 128 / 32));  // 2 loads per k per warp
  // bᵀ: b's 32 columns are K apart: 32 sectors, with a's 1: 16.5 — what tiling fixes.
  CHECK(profile_rung(MatmulRung::coalesced, false, true).p.load_sectors_per_request() == 16.5);
}

TEST_CASE("matmul profile: rung 3, shared-memory tiles" * doctest::skip(!sim::profile_available())) {
  // A warp loads 2 rows x 16 of a 16 x 16 tile: 2 x 64 bytes, 4 sectors, for a and for b.
  Run r = profile_rung(MatmulRung::tiled, false, false);
  CHECK(r.p.load_sectors_per_request() == 4);
  CHECK(r.p.store_sectors_per_request() == 4);
  CHECK(r.load_ways == 1);   // a_tile[ty][k]: a broadcast per row; b_tile[k][tx]: 16 consecutive words
  CHECK(r.store_ways == 2);  // the pitch of 17: lanes 0 and 31 of a warp meet in bank 0
  CHECK(r.p.barriers == 64 * 2 * (64 / 16));  // 64 blocks, 2 per step of 16
  // Each number of a and b is loaded by 128 / 16 = 8 blocks: loads 8x the compulsory.
  CHECK(r.p.global_load.sectors * 32 == 8 * r.p.compulsory_load_bytes);
}

TEST_CASE("matmul profile: rung 4, 1-D register blocks" * doctest::skip(!sim::profile_available())) {
  for (int layout = 0; layout < 4; ++layout) {
    bool ta = layout & 1, tb = layout & 2;
    CAPTURE(ta);
    CAPTURE(tb);
    Run r = profile_rung(MatmulRung::blocktile_1d, ta, tb);
    CHECK(r.p.load_sectors_per_request() == 4);  // lanes along the contiguous axis, either layout
    CHECK(r.p.store_sectors_per_request() == 4);
    CHECK(r.load_ways == 1);  // As[..][k] a broadcast, Bs[k][col] consecutive
    // Stores: untransposed conflict-free; a transposed operand 8-way; one of two such: 4.5.
    CHECK(r.store_ways == (ta && tb ? 8.0 : ta || tb ? 4.5 : 1.0));
    // 64 x 64 tiles: each number of a and b loaded by 128 / 64 = 2 blocks.
    CHECK(r.p.global_load.sectors * 32 == 2 * r.p.compulsory_load_bytes);
  }
}

TEST_CASE("matmul profile: rung 5, 2-D register blocks" * doctest::skip(!sim::profile_available())) {
  Run r = profile_rung(MatmulRung::blocktile_2d, false, false);
  CHECK(r.p.load_sectors_per_request() == 4);
  CHECK(r.p.store_sectors_per_request() == 32);  // 16 thread columns 32 bytes apart, 2 rows
  CHECK(r.load_ways == 3);  // a 2-way and b 4-way, as many of each
  CHECK(r.store_ways == 1);
  CHECK(r.p.barriers == 2 * (64 / 8));  // one block, 2 per step of 8
  CHECK(r.p.global_load.sectors * 32 == r.p.compulsory_load_bytes);  // one 128 x 128 tile: each number once
}

TEST_CASE("matmul profile: rung 6, 128-bit loads" * doctest::skip(!sim::profile_available())) {
  for (int layout = 0; layout < 4; ++layout) {
    bool ta = layout & 1, tb = layout & 2;
    CAPTURE(ta);
    CAPTURE(tb);
    Run r = profile_rung(MatmulRung::vectorized, ta, tb);
    CHECK(r.p.load_sectors_per_request() == 16);     // 512 bytes a request, all used
    CHECK(r.p.global_load.requests == 8 * 2 * 8);    // 8 warps, 1 request per tile per step, 8 steps
    CHECK(r.p.store_sectors_per_request() == 32);    // half of each sector per store
    CHECK(r.load_ways == 1.5);                       // a: 1 wavefront a phase, b: 2
    CHECK(r.store_ways == 1);
  }
}

TEST_CASE("matmul profile: rung 7, warp tiles" * doctest::skip(!sim::profile_available())) {
  for (int layout = 0; layout < 4; ++layout) {
    bool ta = layout & 1, tb = layout & 2;
    CAPTURE(ta);
    CAPTURE(tb);
    Run r = profile_rung(MatmulRung::warptile, ta, tb);
    CHECK(r.p.load_sectors_per_request() == 16);
    CHECK(r.p.store_sectors_per_request() == 16);  // 4 rows x 128 consecutive bytes
    CHECK(r.load_ways == 1);
    CHECK(r.store_ways == 1);
    CHECK(r.p.global_efficiency() == 1);
    CHECK(r.p.traffic_vs_compulsory() == 1);  // one block tile: every number moved once
  }
  // Two tiles each way (M = N = 256): a and b each read by 2 blocks; c written once.
  Run r = profile_rung(MatmulRung::warptile, false, false, 256, 256, 32);
  CHECK(r.p.global_load.sectors * 32 == 2 * r.p.compulsory_load_bytes);
  CHECK(r.p.global_store.sectors * 32 == r.p.compulsory_store_bytes);
}

TEST_CASE("matmul profile: rung 8, tensor cores" * doctest::skip(!sim::profile_available())) {
  for (MatmulRung rung : {MatmulRung::mma_tf32, MatmulRung::mma_bf16})
    for (int layout = 0; layout < 4; ++layout) {
      bool ta = layout & 1, tb = layout & 2;
      CAPTURE(cuda::matmul_rung_name(rung));
      CAPTURE(ta);
      CAPTURE(tb);
      Run r = profile_rung(rung, ta, tb);
      CHECK(r.p.load_sectors_per_request() == 4);   // 128 bytes a request in either layout
      CHECK(r.p.store_sectors_per_request() == 8);  // c from fragments: 8 rows x 32 bytes
      CHECK(r.load_ways == 1);                      // fragment loads: the pitch of 36 words
      // Staging: conflict-free, but for a few mixed-width stores of the BF16 pairing (< 3%).
      CHECK(r.store_ways <= (rung == MatmulRung::mma_bf16 ? 1.03 : 1.0));
      CHECK(r.p.global_load.sectors * 32 == r.p.compulsory_load_bytes);  // M, N <= 128: once
      CHECK(r.p.occupancy == 0.75);  // 36 KiB of shared memory a block: 6 blocks, 48 warps
    }
}

}  // TEST_SUITE
