// tests/train/test_prepare_sample.cpp — `kiso prepare` (text -> tokenizer + shards) and the
// sampler. Oracles: decoding the shards gives back the input text; sampling frequencies
// against the probabilities computed here; greedy decoding against argmax; the cpu's tokens
// for generation on cuda.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "gpt/atomic_file.h"
#include "tests/cuda/each_device.h"
#include "train/prepare.h"
#include "train/sample.h"
#include "train/shards.h"

using namespace kiso;
namespace fs = std::filesystem;

TEST_SUITE("train") {

TEST_CASE("prepare: the shards decode back to the documents joined by <|endoftext|>") {
  TempDir tmp("prepare");
  fs::path dir = tmp.path;
  std::string a, b;
  for (int i = 0; i < 200; ++i) a += "the cat sat on the mat " + std::to_string(i % 7) + ". ";
  for (int i = 0; i < 100; ++i) b += "Über straße — naïve café ";
  write_file_atomic((dir / "a.txt").string(), a);
  write_file_atomic((dir / "b.txt").string(), b);
  PrepareOptions o;
  o.inputs = {(dir / "a.txt").string(), (dir / "b.txt").string()};
  o.out_dir = (dir / "data").string();
  o.vocab_size = 300;
  o.val_fraction = 0.1;
  std::ostringstream log;
  PrepareResult r = prepare(o, log);
  Tokenizer tok = Tokenizer::load(o.out_dir + "/tokenizer");
  CHECK(r.vocab_size == tok.vocab_size());
  std::vector<int32_t> train = read_shard(o.out_dir + "/train.bin", r.vocab_size);
  std::vector<int32_t> val = read_shard(o.out_dir + "/val.bin", r.vocab_size);
  CHECK(int64_t(train.size()) == r.train_tokens);
  CHECK(std::abs(double(val.size()) / double(train.size() + val.size()) - 0.1) < 0.01);
  train.insert(train.end(), val.begin(), val.end());
  CHECK(tok.decode(train) == a + "<|endoftext|>" + b);
  // An input that is not UTF-8 is refused, naming the file.
  write_file_atomic((dir / "bad.txt").string(), std::string("ok \xff\xfe bad"));
  o.inputs = {(dir / "bad.txt").string()};
  o.tokenizer_dir = o.out_dir + "/tokenizer";
  CHECK_THROWS_WITH_AS(prepare(o, log), doctest::Contains("bad.txt"), Error);
}

TEST_CASE("sample_from_logits: greedy, top-k, top-p and the sampled frequencies") {
  std::vector<float> logits{1.0f, 3.0f, 2.0f, -1.0f};
  SampleOptions greedy;
  greedy.temperature = 0;
  CHECK(sample_from_logits(logits, greedy, 0.99) == 1);
  SampleOptions top1;
  top1.top_k = 1;
  for (double u : {0.0, 0.5, 0.999}) CHECK(sample_from_logits(logits, top1, u) == 1);
  SampleOptions nucleus;
  nucleus.top_p = 0.5;  // p(1) = e³ / Σ ≈ 0.66 ≥ 0.5: only the top token is kept
  for (double u : {0.0, 0.999}) CHECK(sample_from_logits(logits, nucleus, u) == 1);
  // Frequencies over a fine grid of u equal the softmax probabilities (inverse-CDF sampling):
  // each of the 10000 grid points carries 1e-4, so counts are exact to within 1e-4 per token.
  SampleOptions plain;
  std::vector<double> count(4, 0);
  for (int i = 0; i < 10000; ++i) count[size_t(sample_from_logits(logits, plain, (i + 0.5) / 10000))] += 1e-4;
  double z = 0;
  for (float l : logits) z += std::exp(l);
  for (size_t i = 0; i < 4; ++i) CHECK(std::abs(count[i] - std::exp(logits[i]) / z) < 2e-4);
  CHECK_THROWS_WITH_AS(sample_from_logits(logits, SampleOptions{10, 1.0, 0, 0.0}, 0.5), doctest::Contains("top_p"), Error);
}

TEST_CASE("generate: greedy decoding is deterministic and extends the prompt") {
  Generator gen{1};
  GPTConfig c;
  c.vocab_size = 20, c.n_ctx = 8, c.n_layer = 1, c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 16;
  GPT model(c, gen);
  SampleOptions o;
  o.temperature = 0;
  o.max_new_tokens = 12;  // longer than the context: the window slides
  std::vector<int32_t> out = generate(model, {3, 4}, o);
  CHECK(out.size() == 14);
  CHECK(out[0] == 3);
  CHECK(generate(model, {3, 4}, o) == out);
  // Each greedy token is the argmax of the model's logits on the (last n_ctx) tokens before it.
  std::vector<int32_t> window(out.begin() + 5, out.begin() + 13);  // the 8 tokens before out[13]
  Tensor logits = model.logits(from_vector(window, {1, 8}), Mode::eval()).value();
  std::vector<float> last = slice(logits, 1, 7, 8).to_vector<float>();
  CHECK(int32_t(std::max_element(last.begin(), last.end()) - last.begin()) == out[13]);
}

}  // TEST_SUITE

TEST_SUITE("train") {

TEST_CASE("generate: the KV cache gives the same tokens as running the whole window each time") {
  Generator gen{2};
  GPTConfig c;
  c.vocab_size = 30, c.n_ctx = 10, c.n_layer = 2, c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 16;
  c.initializer_range = 0.5;  // peaked distributions: different caches would show in the tokens
  for (Norm norm : {Norm::post, Norm::pre}) {
    c.block.norm = norm;
    GPT model(c, gen, DType::f64);  // f64: the two paths round differently only near 1e-16
    for (double temperature : {0.0, 1.0}) {
      SampleOptions cached, uncached;
      cached.max_new_tokens = uncached.max_new_tokens = 16;  // past n_ctx = 10: the window slides
      cached.temperature = uncached.temperature = temperature;
      uncached.use_cache = false;
      std::vector<int32_t> prompt{1, 2, 3};
      INFO("norm ", norm == Norm::post ? "post" : "pre", ", temperature ", temperature);
      CHECK(generate(model, prompt, cached) == generate(model, prompt, uncached));
    }
  }
  // The cache is for inference only.
  GPT model(c, gen);
  KVCache cache;
  CHECK_THROWS_WITH_AS(model.logits(from_vector(std::vector<int32_t>{1}, {1, 1}), Mode::eval(), &cache),
                       doctest::Contains("KV cache is for inference"), Error);
}

TEST_CASE("generate on cuda (the simulator) gives the cpu's tokens, KV cache and sliding window included") {
  // f64, so the two devices' logits agree to ~1e-15 and every draw picks the same token; the
  // cached keys and values live on the device and grow by concat there.
  testing::SimulatorOn simulator;
  Generator gen{4};
  GPTConfig c;
  c.vocab_size = 30, c.n_ctx = 10, c.n_layer = 2, c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 16;
  c.initializer_range = 0.5;  // peaked distributions, as above
  GPT cpu(c, gen, DType::f64);
  Generator same{4};
  GPT dev(c, same, DType::f64);
  move_parameters(dev.parameters(), Device::cuda);
  SampleOptions o;
  o.max_new_tokens = 14;  // past n_ctx = 10: the window slides and the cache restarts
  o.seed = 9;
  std::vector<int32_t> prompt{1, 2, 3};
  std::vector<int32_t> want = generate(cpu, prompt, o);
  CHECK(generate(dev, prompt, o) == want);
  CHECK(want.size() == prompt.size() + 14);
}

}  // TEST_SUITE

// ---- issue 13: a bad byte is named by its input file and line, not an offset in the joined text ----

TEST_SUITE("train") {

TEST_CASE("prepare: invalid UTF-8 is named by the input file and line, before anything is written") {
  TempDir d("prepare_utf8");
  write_file_atomic(d.str("good.txt"), std::string(3000, 'a') + "\n");
  write_file_atomic(d.str("bad.txt"), "fine\nalso fine\nbro\xffken\n");
  PrepareOptions o;
  o.inputs = {d.str("good.txt"), d.str("bad.txt")};
  o.out_dir = d.str("data");
  o.vocab_size = 270;
  std::ostringstream log;
  CHECK_THROWS_WITH_AS(prepare(o, log),
                       doctest::Contains((d.str("bad.txt") + ", line 3: invalid UTF-8 at byte 4 of the line (byte 19 "
                                          "of the file): 0xff never occurs in UTF-8").c_str()),
                       Error);
  CHECK_FALSE(std::filesystem::exists(d.str("data")));
  // the options, before any file is read: a missing input, a vocabulary shards cannot hold
  o.inputs = {d.str("good.txt"), d.str("missing.txt")};
  CHECK_THROWS_WITH_AS(prepare(o, log), doctest::Contains(("--input " + d.str("missing.txt") + ": no such file").c_str()), Error);
  o.inputs = {d.str("good.txt")};
  o.vocab_size = 65537;
  CHECK_THROWS_WITH_AS(prepare(o, log), doctest::Contains("--vocab-size must be in 260..65536"), Error);
  CHECK_FALSE(std::filesystem::exists(d.str("data")));
}

TEST_CASE("generate and sample_from_logits refuse a negative token count and a non-finite temperature") {
  SampleOptions o;
  o.temperature = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(sample_from_logits({0.f, 1.f}, o, 0.5), doctest::Contains("expected a finite temperature"),
                       Error);
  GPTConfig c;
  c.vocab_size = 8, c.n_ctx = 8, c.n_layer = 1;
  c.block.n_head = 1, c.block.n_embd = 4, c.block.n_inner = 8;
  Generator gen{1};
  GPT model(c, gen);
  SampleOptions negative;
  negative.max_new_tokens = -1;
  CHECK_THROWS_WITH_AS(generate(model, {1}, negative), doctest::Contains("max_new_tokens must be >= 0, got -1"), Error);
}

}  // TEST_SUITE
