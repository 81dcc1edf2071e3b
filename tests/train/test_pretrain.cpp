// tests/train/test_pretrain.cpp — the pre-training loop: loss goes down, an interrupted and
// resumed run equals an uninterrupted one bit for bit, a diverging run stops without touching
// its last good checkpoint, and --device cuda (under the simulator) trains as the cpu does; every
// option is checked before anything is read or written, a run directory is never replaced
// without --overwrite, a resumed run names every way it differs from its checkpoint, the last
// --keep-checkpoints are kept, and --resume repairs what a kill left (hand-made here; the real
// kills are tests/train/test_crash.cpp). Oracle: the uninterrupted run itself, and the cpu run
// for the cuda one.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <csignal>
#include <filesystem>
#include <functional>
#include <sstream>

#include "tests/cuda/each_device.h"
#include "tests/train/toy_data.h"
#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/tokenizer.h"
#include "train/checkpoints.h"
#include "train/pretrain.h"

using namespace kiso;
namespace fs = std::filesystem;

namespace {

using testing::write_toy_data;

// doctest's Contains takes its own String
doctest::Contains contains(const std::string& text) { return doctest::Contains(text.c_str()); }

PretrainOptions toy_options(const TempDir& d, const std::string& out) {
  PretrainOptions o;
  o.data_dir = d.str("data");
  o.out_dir = d.str(out);
  o.preset = "tiny";
  o.batch_size = 4, o.seq_len = 16, o.grad_accum = 2, o.steps = 6, o.lr = 3e-3, o.warmup_steps = 2;
  o.loop.eval_every = 2, o.eval_batches = 2, o.checkpoint_every = 2, o.loop.quiet = true;
  return o;
}

// toy_options with the smallest model (tests/train/toy_data.h), for the tests that run many
// short runs: DIR/data and DIR/toy.json are written on the first call.
PretrainOptions small_options(const TempDir& d, const std::string& out) {
  if (!fs::exists(d.str("toy.json"))) {
    write_toy_data(d.str("data"));
    testing::write_toy_config(d.str("toy.json"));
  }
  PretrainOptions o = toy_options(d, out);
  o.config_path = d.str("toy.json");
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

TEST_CASE("pretrain: every option is checked before anything is read or written") {
  // The data directory does not exist: an option error must come first, and --out must not
  // appear (issue 13, defects 8 and 9: --lr -1 and --warmup -5 were refused only after the data
  // was read and a validation pass ran; --clip -1, --eval-every -1, ... were accepted).
  TempDir d("validate");
  std::ostringstream log;
  struct Case {
    const char* message;
    std::function<void(PretrainOptions&)> set;
  };
  std::vector<Case> cases = {
      {"--clip must be >= 0 (0 turns clipping off), got -1", [](PretrainOptions& o) { o.loop.clip = -1; }},
      {"--eval-every must be >= 0 (0: validate only at the end), got -1", [](PretrainOptions& o) { o.loop.eval_every = -1; }},
      {"--checkpoint-every must be >= 0 (0: only at the end), got -1", [](PretrainOptions& o) { o.checkpoint_every = -1; }},
      {"--stop-at must be >= 0 (0: run to the end), got -1", [](PretrainOptions& o) { o.stop_at = -1; }},
      {"--lr must be a finite number > 0, got -1", [](PretrainOptions& o) { o.lr = -1; }},
      {"--warmup must be >= 0 (steps of linear warmup), got -5", [](PretrainOptions& o) { o.warmup_steps = -5; }},
      {"--eval-batches must be >= 1, got 0", [](PretrainOptions& o) { o.eval_batches = 0; }},
      {"--keep-checkpoints must be >= 1, got 0", [](PretrainOptions& o) { o.keep_checkpoints = 0; }},
      {"--epochs must be a finite number >= 0 (0: use --steps), got -1", [](PretrainOptions& o) { o.epochs = -1; }},
      {"--epochs must be a finite number >= 0 (0: use --steps), got inf", [](PretrainOptions& o) { o.epochs = INFINITY; }},
      {"--beta2 must be in [0, 1), got 1", [](PretrainOptions& o) { o.beta2 = 1; }},
      {"--dropout must be in [0, 1), got 1.5", [](PretrainOptions& o) { o.dropout = 1.5; }},
      {"--weight-decay must be a finite number >= 0, got -0.1", [](PretrainOptions& o) { o.weight_decay = -0.1; }},
      {"--batch-size must be >= 1, got 0", [](PretrainOptions& o) { o.batch_size = 0; }},
      {"--grad-accum must be >= 1, got -2", [](PretrainOptions& o) { o.grad_accum = -2; }},
      {"--steps must be >= 1, got 0", [](PretrainOptions& o) { o.steps = 0; }},
      {"--preset must be one of gpt1, small, tiny, got \"huge\"", [](PretrainOptions& o) { o.preset = "huge"; }},
      {"--resume continues the run in", [](PretrainOptions& o) { o.resume = o.overwrite = true; }},
      {"--batch-size × --seq-len × --grad-accum overflows", [](PretrainOptions& o) {
         o.batch_size = int64_t(1) << 40, o.grad_accum = int64_t(1) << 20;
       }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    PretrainOptions o = toy_options(d, "run");
    o.data_dir = d.str("no_such_data");
    c.set(o);
    CHECK_THROWS_WITH_AS(pretrain(o, log), doctest::Contains(c.message), Error);
    CHECK_FALSE(fs::exists(d.str("run")));
  }
}

TEST_CASE("pretrain: sizes from the data and the flags are refused with their figures, before any write") {
  TempDir d("sizes");
  write_toy_data(d.str("data"));
  std::ostringstream log;
  // --batch-size 10^12 (issue 13, defect 2): was std::bad_alloc after the data was read.
  PretrainOptions o = toy_options(d, "run");
  o.batch_size = 1000000000000;
  CHECK_THROWS_WITH_AS(pretrain(o, log),
                       doctest::Contains("training with --batch-size 1000000000000 and --seq-len 16 (about"), Error);
  CHECK_FALSE(fs::exists(d.str("run")));
  o.seq_len = 128;  // a byte count past 2^63: named, not wrapped
  CHECK_THROWS_WITH_AS(pretrain(o, log),
                       doctest::Contains("the memory needed for training with --batch-size 1000000000000 and --seq-len "
                                         "128 overflows"),
                       Error);
  CHECK_FALSE(fs::exists(d.str("run")));
  // --epochs 1e30 (defect 9): a float -> int conversion that ran 1 step; now its figure.
  o = toy_options(d, "run");
  o.epochs = 1e30;
  CHECK_THROWS_WITH_AS(pretrain(o, log), doctest::Contains("--epochs 1e+30 means 3.44e+31 steps of 128 tokens over 4400 training tokens"), Error);
  CHECK_FALSE(fs::exists(d.str("run")));
  // a validation split shorter than one window (defect 8 asked for the real cause to be named)
  write_shard(d.str("data/val.bin"), std::vector<int32_t>(10, 1));
  o = toy_options(d, "run");
  CHECK_THROWS_WITH_AS(pretrain(o, log),
                       doctest::Contains("val.bin: holds 10 tokens, fewer than the --seq-len + 1 = 17 of one validation window"),
                       Error);
  CHECK_FALSE(fs::exists(d.str("run")));
}

TEST_CASE("pretrain: meta.json's vocab_size must be the tokenizer's") {
  TempDir d("vocab");
  write_toy_data(d.str("data"));
  Tokenizer tok = Tokenizer::train("tea cake soup tea cake soup bread jam", 280);
  tok.save(d.str("data/tokenizer"));
  write_file_atomic(d.str("data/meta.json"), fmt::format(R"({{"vocab_size": {}}})", tok.vocab_size() + 88));
  std::ostringstream log;
  CHECK_THROWS_WITH_AS(pretrain(toy_options(d, "run"), log),
                       contains(fmt::format("meta.json: \"vocab_size\" is {}, but the tokenizer in {} has {} tokens",
                                                     tok.vocab_size() + 88, d.str("data/tokenizer"), tok.vocab_size())),
                       Error);
  CHECK_FALSE(fs::exists(d.str("run")));
  // issue 13, defect 1: a vocab_size of 2^57 was an element count that wrapped to 0; it is now
  // refused by meta.json's own bound (shards hold uint16 ids), naming the file.
  fs::remove_all(d.str("data/tokenizer"));
  write_file_atomic(d.str("data/meta.json"), R"({"vocab_size": 144115188075855872})");
  CHECK_THROWS_WITH_AS(pretrain(toy_options(d, "run"), log),
                       contains("meta.json: \"vocab_size\" must be in 1..65536 (token shards hold uint16 ids), "
                                "found 144115188075855872"),
                       Error);
  CHECK_FALSE(fs::exists(d.str("run")));
}

TEST_CASE("pretrain: an existing run is continued with --resume or replaced with --overwrite, never silently") {
  TempDir d("existing");
  std::ostringstream log;
  PretrainOptions o = small_options(d, "run");
  o.steps = 2;
  pretrain(o, log);
  std::string before = read_file(d.str("run/model/model.safetensors"));
  // issue 13, defect 5: this replaced the checkpoint and log.jsonl without a word
  o.seed = 7;
  CHECK_THROWS_WITH_AS(pretrain(o, log),
                       contains(fmt::format("the run directory {} already holds a run (model, checkpoints, "
                                                     "log.jsonl); continue it with --resume, or delete it and start "
                                                     "again with --overwrite",
                                                     d.str("run"))),
                       Error);
  CHECK(read_file(d.str("run/model/model.safetensors")) == before);
  // a file of the user's in the run directory is not kiso's to delete
  write_file_atomic(d.str("run/notes.txt"), "mine");
  o.overwrite = true;
  pretrain(o, log);
  CHECK(read_file(d.str("run/model/model.safetensors")) != before);  // another seed, another model
  CHECK(read_file(d.str("run/notes.txt")) == "mine");
  // --resume of a directory without a run
  PretrainOptions r = small_options(d, "empty");
  r.resume = true;
  CHECK_THROWS_WITH_AS(pretrain(r, log), doctest::Contains("holds no run to resume"), Error);
  CHECK_FALSE(fs::exists(d.str("empty")));
}

TEST_CASE("pretrain --resume: every difference from the run is named in one error") {
  TempDir d("differs");
  std::ostringstream log;
  PretrainOptions o = small_options(d, "run");
  o.stop_at = 2;
  pretrain(o, log);
  std::string saved = read_file(d.str("run/model/model.safetensors"));
  // n_head 2 -> 4 has the same tensor shapes: accepted before, with config.json rewritten
  GPTConfig c = config_from_json(parse_json_strict(read_file(d.str("toy.json")), "toy.json"), "toy.json");
  c.block.n_head = 4;
  write_file_atomic(d.str("heads.json"), config_to_json(c).dump());
  PretrainOptions r = small_options(d, "run");
  r.resume = true, r.config_path = d.str("heads.json"), r.lr = 1e-3;
  CHECK_THROWS_WITH_AS(pretrain(r, log),
                       contains(fmt::format("--resume: the run in {} differs from this call: n_head is 4 now but the "
                                            "run used 2; --lr is 0.001 now but the run used 0.003.",
                                            d.str("run/model"))),
                       Error);
  // --preset small on a smaller run: was "reshape: cannot view (4, 32, 128) ..."
  r = small_options(d, "run");
  r.resume = true, r.config_path = "", r.preset = "small";
  CHECK_THROWS_WITH_AS(pretrain(r, log),
                       doctest::Contains("n_embd is 384 now but the run used 16; n_head is 6 now but the run used 2; "
                                         "n_inner is 1536 now but the run used 32; n_layer is 6 now but the run used "
                                         "2; n_positions is 256 now but the run used 16."),
                       Error);
  // other data, a shorter run
  r = small_options(d, "run");
  r.resume = true, r.steps = 4;
  std::vector<int32_t> other(4400, 7);
  write_shard(d.str("data/train.bin"), other);
  CHECK_THROWS_WITH_AS(pretrain(r, log), doctest::Contains("the training data"), Error);
  CHECK_THROWS_WITH_AS(pretrain(r, log), doctest::Contains("--steps is 4 now but the run planned 6"), Error);
  CHECK(read_file(d.str("run/model/model.safetensors")) == saved);  // nothing was rewritten
}

TEST_CASE("pretrain --resume: --steps is the run's unless given, and may grow; --dropout is the run's unless given") {
  TempDir d("extend");
  std::ostringstream log;
  // dropout 0 throughout, straight and interrupted: a plain --resume keeps the run's rates
  // (before, it took the preset's 0.1 and the resumed run was another run)
  PretrainOptions o = small_options(d, "a");
  o.dropout = 0.0;
  PretrainResult straight = pretrain(o, log);
  PretrainOptions first = o;
  first.out_dir = d.str("b"), first.stop_at = 3;
  pretrain(first, log);
  PretrainOptions rest = small_options(d, "b");
  rest.resume = true;  // no --dropout
  PretrainResult resumed = pretrain(rest, log);
  CHECK(read_file(d.str("a/model/model.safetensors")) == read_file(d.str("b/model/model.safetensors")));
  CHECK(resumed.final_val_loss == straight.final_val_loss);
  // without --steps, a resume is the run's own 6 steps (a default 200 extended it before)
  rest.steps.reset();
  CHECK(pretrain(rest, log).records.empty());
  // a finished run extended by 2 steps
  rest.steps = 8;
  std::ostringstream more;
  PretrainResult extended = pretrain(rest, more);
  CHECK(extended.records.size() == 2);
  CHECK(more.str().find("resuming " + d.str("b/model") + " at step 6 of 8 (the run planned 6") != std::string::npos);
}

TEST_CASE("pretrain: checkpoints are versioned, RUN/model is the latest, the last --keep-checkpoints stay") {
  TempDir d("keep");
  std::ostringstream log;
  for (int64_t keep : {1, 2, 3}) {
    CAPTURE(keep);
    std::string out = "keep" + std::to_string(keep);
    PretrainOptions o = small_options(d, out);
    o.steps = 8, o.keep_checkpoints = keep;  // checkpoints at 2, 4, 6, 8
    pretrain(o, log);
    std::vector<std::string> want;
    for (int64_t s = 8; s > 8 - 2 * keep; s -= 2) want.insert(want.begin(), fmt::format("step-{:08d}", s));
    std::vector<std::string> have;
    for (const auto& e : fs::directory_iterator(d.str(out + "/checkpoints"))) have.push_back(e.path().filename());
    std::sort(have.begin(), have.end());
    CHECK(have == want);
    CHECK(fs::is_symlink(d.str(out + "/model")));
    CHECK(fs::read_symlink(d.str(out + "/model")) == "checkpoints/step-00000008");
    load_model(d.str(out + "/model"));  // a model directory through the link
  }
}

TEST_CASE("pretrain --resume repairs what a kill left, and continues bit for bit") {
  // Each state below is what a kill at one instant of a checkpoint swap leaves (train/checkpoints.h),
  // made by hand from a run stopped at step 4; resuming must give the uninterrupted run's model.
  TempDir d("repair");
  std::ostringstream log;
  PretrainOptions o = small_options(d, "straight");
  o.steps = 8;
  pretrain(o, log);
  std::string want = read_file(d.str("straight/model/model.safetensors"));
  std::string ck2 = "checkpoints/step-00000002", ck4 = "checkpoints/step-00000004";
  struct Case {
    const char* what;
    std::function<void(const std::string& run)> leave;
  };
  std::vector<Case> cases = {
      {"killed while filling a checkpoint, while pruning one, and before renaming the new link",
       [&](const std::string& run) {
         fs::copy(run + "/" + ck4, run + "/checkpoints/step-00000006.tmp");
         fs::copy(run + "/" + ck2, run + "/checkpoints/step-00000000.deleting");
         fs::create_directory_symlink("checkpoints/step-00000006", run + "/model.new");
       }},
      {"killed after renaming a checkpoint, before its link (so it is not committed)",
       [&](const std::string& run) { fs::copy(run + "/" + ck4, run + "/checkpoints/step-00000006"); }},
      {"killed between the first checkpoint's rename and its link: no RUN/model at all",
       [&](const std::string& run) { fs::remove(run + "/model"); }},
      // issue 13, defect 3: model.old and model.tmp, no model; eval and --resume failed with
      // "cannot open run/model/config.json"
      {"a run directory of kiso before versioned checkpoints, killed between its two renames",
       [&](const std::string& run) {
         fs::copy(run + "/" + ck2, run + "/model.old");
         fs::copy(run + "/" + ck4, run + "/model.tmp");
         fs::remove_all(run + "/checkpoints");
         fs::remove(run + "/model");
       }},
      {"a run directory of kiso before versioned checkpoints: RUN/model a real directory",
       [&](const std::string& run) {
         fs::path real = fs::canonical(run + "/model");
         fs::remove(run + "/model");
         fs::rename(real, run + "/model");
         fs::remove_all(run + "/checkpoints");
       }},
  };
  int n = 0;
  for (const Case& c : cases) {
    CAPTURE(c.what);
    PretrainOptions p = o;
    p.out_dir = d.str("run" + std::to_string(n++)), p.stop_at = 4;
    pretrain(p, log);
    c.leave(p.out_dir);
    p.stop_at = 0, p.resume = true;
    pretrain(p, log);
    CHECK(read_file(p.out_dir + "/model/model.safetensors") == want);
    CHECK(fs::read_symlink(p.out_dir + "/model") == "checkpoints/step-00000008");
    for (const auto& e : fs::directory_iterator(p.out_dir + "/checkpoints")) {
      CAPTURE(e.path().string());
      CHECK(e.path().filename().string().find('.') == std::string::npos);  // no .tmp, no .deleting
    }
    CHECK_FALSE(fs::exists(fs::symlink_status(p.out_dir + "/model.new")));
    CHECK_FALSE(fs::exists(p.out_dir + "/model.old"));
    CHECK_FALSE(fs::exists(p.out_dir + "/model.tmp"));
  }
}

TEST_CASE("pretrain: a stop request before the first step saves step 0, twice, and the run resumes bit for bit") {
  // The command's SIGINT handler (train/loop.h StopOnSignals) with the signal raised before the
  // loop starts: a fresh run commits step 0; a resume from it, stopped again at once, finds that
  // step already committed and leaves it (it used to try to rewrite RUN/model's own checkpoint).
  TempDir d("stop0");
  std::ostringstream log;
  PretrainOptions o = small_options(d, "straight");
  pretrain(o, log);
  PretrainOptions p = small_options(d, "run");
  for (bool resume : {false, true}) {
    CAPTURE(resume);
    p.resume = resume;
    StopOnSignals stop;
    std::raise(SIGINT);
    PretrainResult r = pretrain(p, log);
    CHECK(r.interrupted == SIGINT);
    CHECK(r.steps_done == 0);
    CHECK(fs::read_symlink(d.str("run/model")) == "checkpoints/step-00000000");
  }
  p.resume = true;
  PretrainResult rest = pretrain(p, log);
  CHECK(rest.interrupted == 0);
  CHECK(rest.records.size() == 6);
  CHECK(read_file(d.str("run/model/model.safetensors")) == read_file(d.str("straight/model/model.safetensors")));
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
