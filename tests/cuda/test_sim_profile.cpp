// tests/cuda/test_sim_profile.cpp — the simulator's memory profile (cuda/sim/profile.h) on kernels
// whose behaviour is known on paper (tests/cuda/sim_profile_kernels.cpp): sectors per warp
// request for coalesced, strided and 128-bit accesses; traffic against the compulsory bytes;
// shared-memory bank conflicts (a column of an unpadded tile, the padded tile, 8-byte accesses,
// a broadcast); divergent lanes grouped per kind of access; locals not counted; barriers and
// occupancy. Every expected figure is derived in
// the comment beside it from the access pattern alone, so a profile that groups lanes wrongly,
// counts sectors or banks wrongly, or takes locals for memory fails here.
#include <doctest/doctest.h>

#include <cstdlib>
#include <functional>
#include <vector>

#include "cuda/sim/profile.h"
#include "tests/cuda/sim_profile_kernels.h"

using namespace kiso;
namespace pk = kiso::testing::profile_kernels;

namespace {

// 32-byte aligned host buffers, so that sector counts do not depend on where malloc put them.
template <class T>
struct Aligned {
  T* data;
  explicit Aligned(size_t n) : data(static_cast<T*>(std::aligned_alloc(128, (n * sizeof(T) + 127) / 128 * 128))) {
    for (size_t i = 0; i < n; ++i) data[i] = T(i % 1000);
  }
  ~Aligned() { std::free(data); }
  Aligned(const Aligned&) = delete;
  Aligned& operator=(const Aligned&) = delete;
};

sim::KernelProfile profile_of(const std::function<void()>& launch) {
  sim::ProfileRecording recording;
  launch();
  REQUIRE(recording.launches().size() == 1);
  return recording.launches()[0];
}

}  // namespace

TEST_CASE("sim profile: the build carries the access hooks" * doctest::skip(!sim::profile_available())) {
  // Under make debug (AddressSanitizer) the kernels are built without them; there the other
  // cases below are skipped too. Everywhere else this must hold, or the profile reads zeros.
  CHECK(sim::profile_available());
}

TEST_CASE("sim profile: global sectors per request, coalesced, strided and 128-bit" *
          doctest::skip(!sim::profile_available())) {
  constexpr int n = 1024;  // 4 blocks of 256 threads: 32 warps
  Aligned<float> in(n * 32), out(n);

  // Consecutive floats: a warp's 32 lanes read 128 contiguous bytes = 4 sectors, all used.
  sim::KernelProfile p = profile_of([&] { pk::copy_strided(in.data, out.data, n, 1); });
  CHECK(p.global_load.requests == n / 32);
  CHECK(p.load_sectors_per_request() == 4.0);
  CHECK(p.store_sectors_per_request() == 4.0);
  CHECK(p.global_efficiency() == 1.0);
  CHECK(p.traffic_vs_compulsory() == 1.0);  // every sector read or written exactly once
  CHECK(p.compulsory_load_bytes == n * 4);
  CHECK(p.shared_load.requests + p.shared_store.requests == 0);

  // A stride of 8 floats (32 bytes): each lane its own sector, 32 per request, 1/8 of each used.
  p = profile_of([&] { pk::copy_strided(in.data, out.data, n, 8); });
  CHECK(p.load_sectors_per_request() == 32.0);
  CHECK(p.store_sectors_per_request() == 4.0);
  CHECK(p.global_load.lane_bytes == n * 4);
  CHECK(p.global_load.sectors == uint64_t(n / 32) * 32);

  // float4: 32 lanes × 16 bytes = 512 contiguous bytes = 16 sectors a request, all used.
  p = profile_of([&] { pk::copy_float4(in.data, out.data, n / 4); });
  CHECK(p.global_load.requests == n / 4 / 32);
  CHECK(p.load_sectors_per_request() == 16.0);
  CHECK(p.global_efficiency() == 1.0);
}

TEST_CASE("sim profile: traffic against the compulsory bytes" * doctest::skip(!sim::profile_available())) {
  constexpr int n = 512;
  Aligned<float> in(n), out(n);
  // Each input read twice, each output written once: traffic 2n + n floats for a compulsory
  // n + n, so 1.5×; the loads alone are two requests per warp.
  sim::KernelProfile p = profile_of([&] { pk::read_twice(in.data, out.data, n); });
  CHECK(p.global_load.requests == 2 * n / 32);
  CHECK(p.compulsory_load_bytes == n * 4);
  CHECK(p.compulsory_store_bytes == n * 4);
  CHECK(p.traffic_vs_compulsory() == doctest::Approx(1.5));
  CHECK(p.barriers == 2);  // one __syncthreads in each of the 2 blocks
}

TEST_CASE("sim profile: shared-memory bank conflicts" * doctest::skip(!sim::profile_available())) {
  Aligned<float> in(32 * 32), out(32 * 32);

  // Unpadded 32x32 tile: the stores (a warp along a row) hit 32 banks once each, the column
  // reads hit one bank 32 times. 32 warps, each one store and one load request:
  // stores 32 wavefronts, loads 32 × 32; ideal 32 + 32. Ways = (32 + 1024) / 64 = 16.5.
  sim::KernelProfile p = profile_of([&] { pk::transpose_tile(in.data, out.data, false); });
  CHECK(p.shared_store.requests == 32);
  CHECK(p.shared_load.requests == 32);
  CHECK(p.shared_store.wavefronts == 32);
  CHECK(p.shared_load.wavefronts == 32 * 32);
  CHECK(p.shared_conflict_ways() == doctest::Approx(16.5));
  CHECK(p.shared_bytes_per_block == 32 * 32 * 4);  // the tile's span
  for (int i = 0; i < 32; ++i) REQUIRE(out.data[i * 32 + 3] == in.data[3 * 32 + i]);  // it did transpose

  // 33 columns: the column's words x·33 + y lie in 32 different banks: no conflict anywhere.
  p = profile_of([&] { pk::transpose_tile(in.data, out.data, true); });
  CHECK(p.shared_load.wavefronts == 32);
  CHECK(p.shared_conflict_ways() == 1.0);
  CHECK(p.shared_bytes_per_block == 32 * 33 * 4 - 4);  // the span touched: the last row's pad is not

  // 8-byte accesses, consecutive: served a half-warp at a time, 16 lanes × 8 bytes = 32 banks
  // once each: 2 wavefronts a request, which is also the ideal.
  Aligned<double> d(32);
  p = profile_of([&] { pk::shared_doubles(d.data); });
  CHECK(p.shared_load.requests == 1);
  CHECK(p.shared_load.wavefronts == 2);
  CHECK(p.shared_load.ideal_wavefronts == 2);

  // One word read by all 32 lanes: a broadcast, one wavefront.
  Aligned<float> b(32);
  p = profile_of([&] { pk::shared_broadcast(b.data); });
  CHECK(p.shared_load.requests == 1);
  CHECK(p.shared_load.wavefronts == 1);
  CHECK(b.data[31] == 42.0f);
}

TEST_CASE("sim profile: lanes that skip an access do not shift the others" *
          doctest::skip(!sim::profile_available())) {
  // The even lanes store to shared memory before the load every lane makes. Grouped by position
  // in each lane's log, the odd lanes' load would pair with the even lanes' store and the even
  // lanes' load come second: two half-warp requests. Grouped per kind, as the hardware issues
  // it: one load of 32 consecutive floats (4 sectors) and one store by 16 lanes.
  Aligned<float> in(32), out(32);
  sim::KernelProfile p = profile_of([&] { pk::divergent_store(in.data, out.data); });
  CHECK(p.global_load.requests == 1);
  CHECK(p.load_sectors_per_request() == 4.0);
  CHECK(p.shared_store.requests == 1);
  CHECK(p.shared_store.lane_bytes == 16 * 4);
}

TEST_CASE("sim profile: locals are not memory traffic" * doctest::skip(!sim::profile_available())) {
  Aligned<float> out(32);
  sim::KernelProfile p = profile_of([&] { pk::locals_only(out.data); });
  CHECK(p.global_load.requests == 0);  // 32 loads and 32 stores a lane on its own stack: none counted
  CHECK(p.global_store.requests == 1);
  CHECK(p.shared_load.requests + p.shared_store.requests == 0);
  CHECK(out.data[2] == 2.0f * (15 * 16 / 2));
}

TEST_CASE("sim profile: barriers, warps and occupancy" * doctest::skip(!sim::profile_available())) {
  // 1024 threads a block: 32 warps; an SM holds 2048 threads, so 2 blocks: 64 warps, 100%.
  sim::KernelProfile p = profile_of([] { pk::barriers(3, 1024, 0); });
  CHECK(p.barriers == 3 * 3);
  CHECK(p.warps == 3 * 32);
  CHECK(p.blocks_per_sm == 2);
  CHECK(p.occupancy == 1.0);

  // 96 threads (3 warps): threads would allow 21 blocks; 40 KiB of shared memory (+1 KiB the
  // system reserves) allows ⌊228 / 41⌋ = 5 blocks: 15 warps of 64.
  p = profile_of([] { pk::barriers(1, 96, 40 * 1024); });
  CHECK(p.blocks_per_sm == 5);
  CHECK(p.occupancy == doctest::Approx(15.0 / 64));

  // 32 threads: the 32-blocks-an-SM limit: 32 warps, 50%.
  p = profile_of([] { pk::barriers(1, 32, 0); });
  CHECK(p.blocks_per_sm == 32);
  CHECK(p.occupancy == 0.5);
}

TEST_CASE("sim profile: the table names each kernel and its figures" * doctest::skip(!sim::profile_available())) {
  Aligned<float> in(256), out(256);
  sim::ProfileRecording recording;
  pk::copy_strided(in.data, out.data, 256, 1);
  pk::copy_strided(in.data, out.data, 256, 1);
  sim::KernelProfile total = recording.total("copy_strided");
  CHECK(total.launches == 2);
  CHECK(total.global_load.requests == 2 * 256 / 32);
  std::string table = sim::profile_table({total});
  CHECK(table.find("copy_strided") != std::string::npos);
  CHECK(table.find("4.00") != std::string::npos);  // sectors per request
}
