// tests/train/test_pretrain.cpp — the pre-training loop: loss goes down, an interrupted and
// resumed run equals an uninterrupted one bit for bit, a diverging run stops without touching
// its last good checkpoint, and --device cuda (under the simulator) trains as the cpu does.
// Oracle: the uninterrupted run itself, and the cpu run for the cuda one.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <filesystem>
#include <sstream>

#include "tests/cuda/each_device.h"
#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "train/pretrain.h"

using namespace kiso;
namespace fs = std::filesystem;

namespace {


// A data directory of a learnable toy language: counting modulo 50 with a random stride per
// "document", so the next token is predictable from the previous two.
void write_toy_data(const std::string& dir) {
  fs::create_directories(dir);
  std::vector<int32_t> tokens;
  Generator gen{3};
  std::vector<float> u = rand({400}, gen).to_vector<float>();
  for (float x : u) {
    int32_t stride = 1 + int32_t(x * 4), t = int32_t(x * 50);
    for (int i = 0; i < 12; ++i) tokens.push_back((t += stride) % 50);
  }
  std::vector<int32_t> train(tokens.begin(), tokens.end() - 400), val(tokens.end() - 400, tokens.end());
  write_shard(dir + "/train.bin", train);
  write_shard(dir + "/val.bin", val);
  write_file_atomic(dir + "/meta.json", R"({"vocab_size": 50})");
}

PretrainOptions toy_options(const TempDir& d, const std::string& out) {
  PretrainOptions o;
  o.data_dir = d.str("data");
  o.out_dir = d.str(out);
  o.preset = "tiny";
  o.batch_size = 4, o.seq_len = 16, o.grad_accum = 2, o.steps = 6, o.lr = 3e-3, o.warmup_steps = 2;
  o.loop.eval_every = 2, o.eval_batches = 2, o.checkpoint_every = 2, o.loop.quiet = true;
  return o;
}

}  // namespace

TEST_SUITE("train") {

TEST_CASE("pretrain: a resumed run's losses equal an uninterrupted run's, bit for bit") {
  TempDir d("resume");
  write_toy_data(d.str("data"));
  std::ostringstream log;
  PretrainResult straight = pretrain(toy_options(d, "a"), log);
  REQUIRE(straight.records.size() == 6);

  PretrainOptions first = toy_options(d, "b");
  first.stop_at = 3;  // interrupted after step 3 (between checkpoints 2 and 4: it saves at 3)
  PretrainResult part1 = pretrain(first, log);
  REQUIRE(part1.records.size() == 3);
  PretrainOptions second = toy_options(d, "b");
  second.resume = true;
  PretrainResult part2 = pretrain(second, log);
  REQUIRE(part2.records.size() == 3);

  for (size_t i = 0; i < 3; ++i) {
    INFO("step ", i + 1);
    CHECK(part1.records[i].loss == straight.records[i].loss);
  }
  for (size_t i = 0; i < 3; ++i) {
    INFO("step ", i + 4);
    CHECK(part2.records[i].step == straight.records[i + 3].step);
    CHECK(part2.records[i].loss == straight.records[i + 3].loss);           // bit-identical doubles
    CHECK(part2.records[i].grad_norm == straight.records[i + 3].grad_norm);
  }
  CHECK(part2.final_val_loss == straight.final_val_loss);
  // ... and the saved weights are identical too.
  GPT a = load_model(straight.model_dir), b = load_model(part2.model_dir);
  Parameters pa = a.parameters(), pb = b.parameters();
  for (size_t i = 0; i < pa.size(); ++i) CHECK(pa[i].variable->value().to_vector<float>() == pb[i].variable->value().to_vector<float>());
  // The log holds each step once.
  std::string lines = read_file(d.str("b/log.jsonl"));
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 6);
}

TEST_CASE("pretrain: the loss falls on a learnable toy language") {
  TempDir d("learn");
  write_toy_data(d.str("data"));
  PretrainOptions o = toy_options(d, "run");
  o.steps = 40, o.loop.eval_every = 0, o.checkpoint_every = 0;
  std::ostringstream log;
  PretrainResult r = pretrain(o, log);
  // ln 50 = 3.9 at the start; 40 steps of a 2-layer model learn most of the counting rule.
  CHECK(r.initial_val_loss > 3.5);
  CHECK(r.final_val_loss < r.initial_val_loss - 1.0);
}

TEST_CASE("pretrain: a diverging run stops with a clear message and keeps its last good checkpoint") {
  TempDir d("nan");
  write_toy_data(d.str("data"));
  PretrainOptions o = toy_options(d, "run");
  o.lr = 1e30, o.warmup_steps = 0, o.loop.clip = 0, o.checkpoint_every = 1, o.steps = 5;
  std::ostringstream log;
  CHECK_THROWS_WITH_AS(pretrain(o, log), doctest::Contains("stopping. The last good checkpoint"), Error);
  std::string state = read_file(d.str("run/model/state.json"));
  CHECK(state.find("\"step\": 1") != std::string::npos);
}

TEST_CASE("pretrain: bad options are errors") {
  TempDir d("bad");
  write_toy_data(d.str("data"));
  std::ostringstream log;
  PretrainOptions o = toy_options(d, "run");
  o.seq_len = 500;
  CHECK_THROWS_WITH_AS(pretrain(o, log), doctest::Contains("--seq-len 500 must be in 1..n_ctx = 128"), Error);
  o = toy_options(d, "run");
  o.data_dir = d.str("missing");
  CHECK_THROWS_WITH_AS(pretrain(o, log), doctest::Contains("missing/meta.json"), Error);
  o = toy_options(d, "run");
  o.steps = 2;
  pretrain(o, log);
  o.resume = true;
  o.batch_size = 8;
  CHECK_THROWS_WITH_AS(pretrain(o, log), doctest::Contains("--batch-size is 8 now but the run used 4"), Error);
}

TEST_CASE("pretrain --device cuda: the simulator's run follows the cpu's, and resumes bit for bit") {
  // A model small enough for the simulator's fibers (one layer, 16 wide); everything else as
  // the cpu tests run it: grad accumulation, clipping, dropout, checkpoints, validation.
  TempDir d("cuda");
  write_toy_data(d.str("data"));
  GPTConfig c = preset("tiny");
  c.vocab_size = 50, c.n_ctx = 16, c.n_layer = 1, c.block.n_head = 2, c.block.n_embd = 16, c.block.n_inner = 32;
  write_file_atomic(d.str("config.json"), config_to_json(c).dump());
  auto options = [&](const std::string& out, Device device) {
    PretrainOptions o = toy_options(d, out);
    o.config_path = d.str("config.json");
    o.steps = 3, o.device = device;
    return o;
  };
  testing::SimulatorOn simulator;
  std::ostringstream log;
  PretrainResult cpu = pretrain(options("cpu", Device::cpu), log);
  PretrainResult dev = pretrain(options("cuda", Device::cuda), log);
  REQUIRE(dev.records.size() == cpu.records.size());
  // f32 on both sides, differing in the order of additions only: the model parity test
  // (tests/cuda/test_model_cuda.cpp) derives 5e-4 relative after three steps.
  for (size_t s = 0; s < cpu.records.size(); ++s) {
    CAPTURE(s);
    CHECK(std::abs(dev.records[s].loss - cpu.records[s].loss) <= 5e-4 * cpu.records[s].loss);
    CHECK(std::abs(dev.records[s].grad_norm - cpu.records[s].grad_norm) <= 5e-4 * cpu.records[s].grad_norm);
  }
  CHECK(std::abs(dev.final_val_loss - cpu.final_val_loss) <= 5e-4 * cpu.final_val_loss);
  GPT saved = load_model(dev.model_dir);  // written from device memory
  GPT want = load_model(cpu.model_dir);
  Parameters ps = saved.parameters(), pw = want.parameters();
  for (size_t i = 0; i < pw.size(); ++i) {
    std::vector<float> a = ps[i].variable->value().to_vector<float>(), b = pw[i].variable->value().to_vector<float>();
    for (size_t k = 0; k < b.size(); ++k) REQUIRE(std::abs(a[k] - b[k]) <= 5e-4 * (std::abs(b[k]) + 0.02));
  }

  // Interrupted after step 2 and resumed on cuda: the optimizer state went to disk from device
  // memory and came back; the simulator is deterministic, so the run is the straight one's.
  PretrainOptions first = options("resumed", Device::cuda);
  first.stop_at = 2;
  pretrain(first, log);
  PretrainOptions rest = options("resumed", Device::cuda);
  rest.resume = true;
  PretrainResult resumed = pretrain(rest, log);
  REQUIRE(resumed.records.size() == 1);
  CHECK(resumed.records[0].loss == dev.records[2].loss);
  CHECK(resumed.final_val_loss == dev.final_val_loss);
}

}  // TEST_SUITE
