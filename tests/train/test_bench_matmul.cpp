// tests/train/test_bench_matmul.cpp — `kiso bench --op matmul` without a GPU: the simulated half
// (every rung asked for is run on a·b, a·bᵀ and aᵀ·b, checked against the CPU's product and
// profiled), the products it would time, and bad options. Nothing is timed here. The rungs' own
// parity and traffic claims are tests/cuda/test_matmul_ladder.cpp and test_matmul_profile.cpp.
#include <doctest/doctest.h>

#include <sstream>

#include "base/check.h"
#include "cuda/sim/profile.h"
#include "train/bench_matmul.h"

using namespace kiso;

TEST_SUITE("train") {

TEST_CASE("bench --op matmul: the simulated rows of a rung" * doctest::skip(!sim::profile_available())) {
  MatmulBenchOptions o;
  o.rungs = {"tiled"};
  o.sim_size = 32;
  std::ostringstream log;
  MatmulBenchResult r = run_matmul_bench(o, log);
  REQUIRE(r.sim.size() == 3);
  for (const MatmulSimRow& row : r.sim) {
    CHECK(row.rung == "tiled");
    CHECK(row.note.empty());
    // f32 sums of 32 products against the double product: ~2^-24 · 32 relative at most.
    CHECK(row.max_error < 1e-5);
    CHECK(row.profile.global_load.requests > 0);
  }
  // a·b: the tiled rung's warps read two 16-float rows of a 256-byte aligned tile: 4 sectors,
  // all used; a·bᵀ reads b down columns, 16 lanes 128 bytes apart: more sectors per request.
  CHECK(r.sim[0].kind == "a·b");
  CHECK(r.sim[0].profile.load_sectors_per_request() == 4.0);
  CHECK(r.sim[1].profile.load_sectors_per_request() > 4.0);
  CHECK(r.gpu.empty());  // no GPU here, or the simulator is the device

  std::ostringstream table;
  print_matmul_bench(r, table);
  CHECK(table.str().find("tiled") != std::string::npos);
  Json j = matmul_bench_json(r);
  CHECK(j["sim"].size() == 3);
  CHECK(j["sim"][0]["load_sectors_per_request"].get<double>() == 4.0);
}

TEST_CASE("bench --op matmul: the products are GPT-1's and small's training products") {
  for (const MatmulProduct& p : ladder_products()) {
    CHECK(p.M > 0);
    CHECK(p.flops() == 2.0 * double(p.batch) * double(p.M) * double(p.N) * double(p.K));
    // each product's inner dimension is one of the models' widths or the sequence: 64, 384, 768,
    // 1536, 2048, 3072, 4096
    CHECK((p.K == 64 || p.K == 384 || p.K == 768 || p.K == 1536 || p.K == 2048 || p.K == 3072 || p.K == 4096));
  }
}

TEST_CASE("bench --op matmul: bad options") {
  std::ostringstream log;
  MatmulBenchOptions o;
  o.rungs = {"fastest"};
  CHECK_THROWS_WITH_AS(run_matmul_bench(o, log), doctest::Contains("no matmul rung named 'fastest'"), Error);
  o = {};
  o.sim_size = -1;
  CHECK_THROWS_WITH_AS(run_matmul_bench(o, log), doctest::Contains("--sim-size -1"), Error);
  o = {};
  o.reps = 0;
  CHECK_THROWS_WITH_AS(run_matmul_bench(o, log), doctest::Contains("--reps 0"), Error);
}

}  // TEST_SUITE
