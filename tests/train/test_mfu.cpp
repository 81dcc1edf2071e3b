// tests/train/test_mfu.cpp — the FLOP count of `kiso bench`'s MFU against a hand computation
// and against the model's own parameter list, and the peak estimate on canned /proc/cpuinfo
// text. Oracles: hand arithmetic, GPT::parameters().
#include <doctest/doctest.h>

#include "gpt/model.h"
#include "tests/train/toy_config.h"
#include "train/mfu.h"

using namespace kiso;
using kiso::testing::toy_config;

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
      if (p.name.ends_with(".weight") && p.name.find("ln_") == std::string::npos && p.name != "positions_embed.weight")
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

}  // TEST_SUITE
