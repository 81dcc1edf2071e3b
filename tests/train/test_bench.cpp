// tests/train/test_bench.cpp — `kiso bench`: a smoke run whose derived figures must follow from
// its timings, the defaults per preset and bad options. Nothing asserts on wall time. The FLOP
// count and the peak estimate are tests/train/test_mfu.cpp.
#include <doctest/doctest.h>


#include <cmath>
#include <set>
#include <sstream>

#include "gpt/model.h"
#include "cuda/sim/profile.h"
#include "tests/cuda/each_device.h"
#include "tests/scoped_env.h"
#include "tests/train/toy_config.h"
#include "train/bench.h"
#include "train/bench_attention.h"

using namespace kiso;
using kiso::testing::toy_config;

TEST_SUITE("train") {

TEST_CASE("bench: a smoke run of tiny; rates, GFLOP/s and MFU follow from the timings") {
  BenchOptions o;
  o.preset = "tiny";
  o.batch_size = 1, o.seq_len = 8, o.warmup = 0, o.steps = 1;
  o.peak_gflops = 100;
  std::ostringstream log;
  BenchResult r = run_bench(o, log);

  CHECK(r.batch_size == 1);
  CHECK(r.seq_len == 8);
  CHECK(r.steps == 1);
  CHECK(r.threads >= 1);
  CHECK(r.parameters > r.matmul_parameters);
  CHECK(r.matmul_parameters == matmul_parameters(preset("tiny")));
  CHECK(r.training_flops_per_token == 3 * r.forward_flops_per_token);
  CHECK(r.peak_gflops == 100);
  CHECK(std::isfinite(r.final_loss));
  CHECK(r.final_loss == doctest::Approx(std::log(4096.0)).epsilon(0.05));  // random ids: near ln V
  for (const LoopTiming* t : {&r.training, &r.inference}) {
    REQUIRE(t->ms.size() == 1);
    CHECK(t->best_ms > 0);
    CHECK(t->median_ms == t->best_ms);
    CHECK(t->tokens_per_second == doctest::Approx(8 / (t->median_ms / 1000)));
    CHECK(t->mfu > 0);
    CHECK(t->mfu == doctest::Approx(t->gflops / r.peak_gflops));
  }
  CHECK(r.training.gflops == doctest::Approx(r.training_flops_per_token * r.training.tokens_per_second * 1e-9));
  CHECK(r.inference.gflops == doctest::Approx(r.forward_flops_per_token * r.inference.tokens_per_second * 1e-9));

  std::ostringstream table;
  print_bench(r, table);
  CHECK(table.str().find("2*N + 2*L*T*C") != std::string::npos);
  CHECK(table.str().find("given (--peak-gflops)") != std::string::npos);
  Json j = bench_json(r);
  CHECK(j.at("training").at("mfu").get<double>() == r.training.mfu);
  CHECK(j.at("inference").at("tokens_per_second").get<double>() == r.inference.tokens_per_second);
}

TEST_CASE("bench: the decode loop counts new tokens; --loops picks the loops") {
  BenchOptions o;
  o.preset = "tiny";
  o.batch_size = 2, o.seq_len = 9, o.warmup = 0, o.steps = 1, o.peak_gflops = 100;
  o.loops = "decode";
  std::ostringstream log;
  BenchResult r = run_bench(o, log);
  CHECK_FALSE(r.ran_training);
  CHECK_FALSE(r.ran_inference);
  REQUIRE(r.ran_decode);
  CHECK(r.decode_prompt == 4);      // T/2
  CHECK(r.decode_new_tokens == 5);  // T - T/2, one at a time, B = 1 whatever --batch-size says
  CHECK(r.decode.tokens_per_second == doctest::Approx(5 / (r.decode.median_ms / 1000)));
  CHECK(r.peak_rss_bytes > 0);
  Json j = bench_json(r);
  CHECK(j.contains("decode"));
  CHECK_FALSE(j.contains("training"));
  CHECK(j.at("decode").at("new_tokens").get<int64_t>() == 5);

  for (const char* bad : {"training,bogus", "inference,inference", ""}) {
    o.loops = bad;
    CHECK_THROWS_WITH_AS(run_bench(o, log), doctest::Contains("--loops"), Error);
  }
}

// The profile's FLOPs are counted per call from the shapes (matmul, and the fused attention's
// two products); their sum over an inference step must equal the analytic count of the model's
// products: 2 FLOPs per weight per token (matmul_parameters, the tied head included) plus, per
// layer, Q·Kᵀ and P·V at 2·T·T·C each.
TEST_CASE("bench --profile: every op of a step is timed; the FLOPs add up to the model's") {
  BenchOptions o;
  o.preset = "tiny";
  o.batch_size = 2, o.seq_len = 16, o.warmup = 0, o.steps = 2, o.peak_gflops = 100, o.profile = true;
  std::ostringstream log;
  BenchResult r = run_bench(o, log);
  GPTConfig c = preset("tiny");
  double B = 2, T = 16, C = double(c.block.n_embd), L = double(c.n_layer);
  double flops = 0;
  for (const auto& [key, row] : r.inference_profile.ops) flops += row.flops;  // matmul and attention_forward
  flops /= r.steps;  // the profile holds every timed step
  CHECK(flops == doctest::Approx(2 * B * T * double(matmul_parameters(c)) + L * 4 * B * T * T * C));
  for (const Profile* p : {&r.training_profile, &r.inference_profile, &r.decode_profile}) {
    CHECK(p->seconds > 0);
    CHECK(p->seconds_in_ops() <= p->seconds);  // the outermost scopes only: nothing counted twice
    CHECK(p->allocations > 0);
  }
  // Training has all three phases; the optimizer's op is there once per step (one pass over
  // every parameter, nn/optim.cpp).
  std::set<ProfilePhase> phases;
  int64_t adamw_calls = 0;
  for (const auto& [key, row] : r.training_profile.ops) {
    phases.insert(std::get<1>(key));
    if (std::get<0>(key) == "adamw_update") adamw_calls += row.calls;
  }
  CHECK(phases.size() == 3);
  CHECK(adamw_calls == r.steps);
  std::ostringstream table;
  print_bench(r, table);
  CHECK(table.str().find("profile: training step, per step (mean of 2)") != std::string::npos);
  CHECK(table.str().find("outside ops") != std::string::npos);
  CHECK(bench_json(r).at("inference").at("profile").at("ops").size() > 0);
}

TEST_CASE("bench: the defaults per preset, and bad options are refused") {
  BenchOptions o;
  o.preset = "tiny";
  o.seq_len = 129;  // tiny's context is 128
  std::ostringstream log;
  CHECK_THROWS_WITH_AS(run_bench(o, log), doctest::Contains("n_ctx 128"), Error);
  o.seq_len = 4, o.batch_size = -1;
  CHECK_THROWS_AS(run_bench(o, log), Error);
  // Issue 13: a batch that cannot fit is refused with its figure (was std::bad_alloc), and one
  // whose size overflows int64 is refused as an overflow.
  // (A 1 GiB limit, so the figure is refused on any machine: 10^6 × 4 tokens of 4096 logits alone
  // are 16 GB.)
  {
    testing::ScopedEnv limit("KISO_MEMORY_LIMIT", "1G");
    o.batch_size = 1000000;
    CHECK_THROWS_WITH_AS(run_bench(o, log), doctest::Contains("bench: training with --batch-size 1000000"), Error);
  }
  o.batch_size = 1000000000000, o.seq_len = 128;
  CHECK_THROWS_WITH_AS(run_bench(o, log), doctest::Contains("overflows"), Error);
  o.seq_len = 4, o.batch_size = 1, o.threads = -2;
  CHECK_THROWS_WITH_AS(run_bench(o, log), doctest::Contains("--threads must be >= 0"), Error);
  o.threads = 0, o.preset = "huge";
  CHECK_THROWS_WITH_AS(run_bench(o, log), doctest::Contains("unknown preset"), Error);

  // Defaults, on a cheap run: a toy config labelled "gpt1" gets gpt1's batch of 1 and 2 steps,
  // and T = min(128, n_ctx) = 6.
  BenchOptions g;
  g.preset = "gpt1", g.warmup = 0, g.peak_gflops = 1;
  BenchResult r = run_bench(toy_config(), g, log);
  CHECK(r.batch_size == 1);
  CHECK(r.seq_len == 6);
  CHECK(r.steps == 2);
  CHECK(r.training.ms.size() == 2);
}

TEST_CASE("bench --profile on the simulator: each op waits for its kernels, and one step's kernels have their traffic" *
          doctest::skip(!sim::profile_available())) {
  kiso::testing::SimulatorOn simulator;
  BenchOptions o;
  o.preset = "tiny";
  o.batch_size = 1, o.seq_len = 8, o.warmup = 0, o.steps = 1;
  o.loops = "training";
  o.device = Device::cuda;
  o.profile = true;
  std::ostringstream log;
  BenchResult r = run_bench(o, log);
  REQUIRE(!r.training_kernels.empty());
  std::set<std::string> names;
  uint64_t moved = 0;
  for (const sim::KernelProfile& p : r.training_kernels) {
    names.insert(p.kernel);
    moved += p.sector_bytes();
    CHECK(p.launches >= 1);
  }
  // The kernels a training step must run: its products, the optimizer, the loss.
  auto has = [&](const char* part) {
    for (const std::string& n : names)
      if (n.find(part) != std::string::npos) return true;
    return false;
  };
  CHECK(has("matmul"));
  CHECK(has("adamw"));
  CHECK(has("cross_entropy"));
  // At least every parameter is read and written by AdamW (param, grad, m, v: 4 reads, 3 writes).
  CHECK(double(moved) >= 7.0 * 4.0 * double(r.parameters));
  // Sorted by traffic, the most first.
  for (size_t i = 1; i < r.training_kernels.size(); ++i)
    CHECK(r.training_kernels[i - 1].sector_bytes() >= r.training_kernels[i].sector_bytes());
  std::ostringstream table;
  print_bench(r, table);
  CHECK(table.str().find("simulated memory traffic of one training step") != std::string::npos);
  CHECK(bench_json(r)["training"]["simulated_kernels"].size() == r.training_kernels.size());
}

}  // TEST_SUITE

TEST_SUITE("train") {

TEST_CASE("bench on cuda: the peak device memory of a step is reported, and a larger batch needs more") {
  // The simulator's allocator is the device's here: its in-use bytes are the tensors' size
  // classes. Oracle: the peak holds at least the weights, gradients and AdamW's two moments
  // (4 floats a parameter) for training and the weights for inference, and the activations grow
  // with B, so B = 16 must need more than B = 1. (B = 4 is not enough: at the toy's 4 channels
  // the inference step's live activations stay in the allocator's smallest, 512-byte, size class
  // at both sizes once the linear layers run fused.) The figures are printed and in the JSON.
  kiso::testing::SimulatorOn simulator;
  auto peaks = [](int64_t B) {
    BenchOptions o;
    o.batch_size = B, o.seq_len = 6, o.warmup = 0, o.steps = 1;
    o.loops = "training,inference";
    o.device = Device::cuda;
    std::ostringstream log;
    return run_bench(toy_config(), o, log);
  };
  BenchResult one = peaks(1), sixteen = peaks(16);
  CHECK(one.training_peak_device_bytes >= 16 * one.parameters);
  CHECK(one.inference_peak_device_bytes >= 4 * one.parameters);
  CHECK(one.training_peak_device_bytes > one.inference_peak_device_bytes);  // no gradients, no moments
  CHECK(sixteen.training_peak_device_bytes > one.training_peak_device_bytes);
  CHECK(sixteen.inference_peak_device_bytes > one.inference_peak_device_bytes);
  std::ostringstream table;
  print_bench(sixteen, table);
  CHECK(table.str().find("peak device memory in use") != std::string::npos);
  Json j = bench_json(sixteen);
  CHECK(j.at("training").at("peak_device_bytes").get<int64_t>() == sixteen.training_peak_device_bytes);
  CHECK(j.at("inference").at("peak_device_bytes").get<int64_t>() == sixteen.inference_peak_device_bytes);
}

}  // TEST_SUITE

TEST_SUITE("train") {

TEST_CASE("bench --op attention: on the simulator flash agrees with the materialised oracle and moves less") {
  // Oracles: flash's result against the materialised kernels' on the same inputs and dropout
  // masks, within f32 rounding of sums over T = 80 keys (the tests of
  // tests/cuda/test_flash_attention.cpp derive 4·(T + HS + 8)·2^-24 ≈ 2.5e-5 of the scale; a
  // wrong kernel is off by O(1)); its traffic and peak memory below the materialised path's,
  // which stores and rereads the (B·NH, T, T) probabilities (7.8x and 10x less when written).
  kiso::testing::SimulatorOn simulator;
  std::ostringstream log, table;
  AttentionBenchResult r = run_attention_bench(AttentionBenchOptions{}, log);
  REQUIRE(r.rows.size() == 2);
  const AttentionBenchRow &materialised = r.rows[0], &flash = r.rows[1];
  CHECK(materialised.kernel == "materialised");
  CHECK(flash.kernel == "flash");
  CHECK(flash.max_error < 2.5e-5);
  CHECK(flash.launches > 0);
  CHECK(flash.launches < materialised.launches);
  if (sim::profile_available()) CHECK(flash.traffic_bytes < materialised.traffic_bytes / 4);
  CHECK(flash.peak_bytes < materialised.peak_bytes / 4);
  print_attention_bench(r, table);
  CHECK(table.str().find("flash moves") != std::string::npos);
  CHECK(attention_bench_json(r).at("rows").size() == 2);
}

TEST_CASE("bench --op attention: the CPU's fused op is timed, and bad shapes are refused") {
  AttentionBenchOptions o;
  o.device = Device::cpu;
  o.batch = 1, o.seq_len = 8, o.n_head = 2, o.head_size = 4, o.reps = 1;
  std::ostringstream log;
  AttentionBenchResult r = run_attention_bench(o, log);
  REQUIRE(r.rows.size() == 1);
  CHECK(r.rows[0].train_ms > 0);
  CHECK(r.rows[0].forward_ms > 0);
  o.seq_len = 0;
  CHECK_THROWS_WITH_AS(run_attention_bench(o, log), doctest::Contains("seq_len 0"), Error);
}

}  // TEST_SUITE
