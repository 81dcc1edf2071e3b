// tests/train/test_bench.cpp — `kiso bench`: the FLOP count against a hand computation and
// against the model's own parameter list, the peak estimate on canned /proc/cpuinfo text, and
// a smoke run whose derived figures must follow from its timings. Nothing asserts on wall time.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include "gpt/model.h"
#include "train/bench.h"

using namespace kiso;

namespace {

GPTConfig toy_config() {
  GPTConfig c;
  c.vocab_size = 10, c.n_ctx = 6, c.n_layer = 2, c.block.n_head = 2, c.block.n_embd = 4, c.block.n_inner = 8;
  return c;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

TEST_SUITE("train") {

TEST_CASE("bench flops: 2N + 2LTC per token forward, three times that to train, by hand") {
  GPTConfig c = toy_config();
  // per layer: c_attn 4x12 = 48, attn c_proj 4x4 = 16, c_fc 4x8 = 32, mlp c_proj 8x4 = 32 -> 128;
  // two layers 256, plus the tied head 10x4 = 40
  CHECK(matmul_parameters(c) == 296);
  // T = 3: 2*296 + 2*2*3*4 = 592 + 48
  CHECK(forward_flops_per_token(c, 3) == 640.0);
  CHECK(training_flops_per_token(c, 3) == 1920.0);

  // GPT-1: 12 x (4*768^2 + 2*768*3072) + 40478*768
  GPTConfig g = preset("gpt1");
  CHECK(matmul_parameters(g) == 116021760);
  CHECK(forward_flops_per_token(g, 128) == 2.0 * 116021760 + 2.0 * 12 * 128 * 768);
}

TEST_CASE("bench flops: N is the model's matrix weights, counted from its parameter list") {
  // An independent count: every ".weight" of the model except LayerNorm gains and the position
  // table (the token table counts once, as the LM head).
  for (GPTConfig c : {toy_config(), preset("tiny")}) {
    Generator gen{5};
    GPT model(c, gen);
    int64_t n = 0;
    for (const NamedParameter& p : model.parameters())
      if (ends_with(p.name, ".weight") && p.name.find("ln_") == std::string::npos && p.name != "positions_embed.weight")
        n += p.variable->value().numel();
    CHECK(matmul_parameters(c) == n);
  }
}

TEST_CASE("bench peak: cores x GHz x FLOP/cycle from /proc/cpuinfo text") {
  std::string avx512 =
      "processor\t: 0\nmodel name\t: Test CPU\ncpu MHz\t\t: 2600.000\nsiblings\t: 2\ncpu cores\t: 2\n"
      "flags\t\t: fpu sse avx avx2 fma avx512f avx512bw\n\nprocessor\t: 1\ncpu MHz\t\t: 1200.000\n";
  PeakEstimate p = estimate_cpu_peak(avx512, 2, 2);
  CHECK(p.gflops == doctest::Approx(2 * 2.6 * 64));  // the first processor's clock
  CHECK(p.source.find("AVX-512F") != std::string::npos);
  CHECK(estimate_cpu_peak(avx512, 8, 2).gflops == doctest::Approx(2 * 2.6 * 64));  // capped at the cores
  CHECK(estimate_cpu_peak(avx512, 1, 2).gflops == doctest::Approx(2.6 * 64));

  // AVX2 + FMA, hyperthreads: 8 logical CPUs are 4 cores
  std::string avx2 = "cpu MHz\t\t: 3000.0\nsiblings\t: 8\ncpu cores\t: 4\nflags\t\t: sse avx avx2 fma\n";
  CHECK(estimate_cpu_peak(avx2, 8, 8).gflops == doctest::Approx(4 * 3.0 * 32));
  // "avx2" without "fma", and "avx512foo" is not "avx512f"
  CHECK(estimate_cpu_peak("cpu MHz : 1000\nflags : avx2 avx512foo\n", 1, 1).gflops == doctest::Approx(8.0));

  PeakEstimate none = estimate_cpu_peak("processor : 0\nflags : avx2 fma\n", 2, 2);
  CHECK(none.gflops == 0);
  CHECK(none.source.find("unknown") != std::string::npos);
}

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

TEST_CASE("bench: the defaults per preset, and bad options are refused") {
  BenchOptions o;
  o.preset = "tiny";
  o.seq_len = 129;  // tiny's context is 128
  std::ostringstream log;
  CHECK_THROWS_WITH_AS(run_bench(o, log), doctest::Contains("n_ctx 128"), Error);
  o.seq_len = 4, o.batch_size = -1;
  CHECK_THROWS_AS(run_bench(o, log), Error);
  o.batch_size = 1, o.preset = "huge";
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

}  // TEST_SUITE
