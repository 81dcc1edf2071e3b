// tests/train/test_seams.cpp — the slides' pre-training variant (train/seams.h): the document and
// sentence splitter on hand-made text (its documented failure included), `prepare --seams`
// writing exactly <s> ... <$> ... <e> with the ids fine-tuning uses, the masked loss, and a
// pre-training on seam data whose special rows a fine-tuning then starts from, bit for bit.
// Oracles: sentences and token streams written out by hand; a cross-entropy computed here in
// double from the model's logits; the pre-trained model's own files for the rows.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/finetuned.h"
#include "gpt/json.h"
#include "gpt/safetensors.h"
#include "tests/train/toy_config.h"
#include "tests/train/toy_data.h"
#include "train/finetune.h"
#include "train/prepare.h"
#include "train/pretrain.h"
#include "train/seams.h"

using namespace kiso;
namespace fs = std::filesystem;

namespace {

Tensor stored(const std::string& dir, const std::string& name, const std::string& file = "model.safetensors") {
  for (const auto& [n, t] : safetensors::load(dir + "/" + file).tensors)
    if (n == name) return t;
  FAIL("no tensor " << name);
  return {};
}

// Row `id` of a (V, C) f32 tensor.
std::vector<float> row(const Tensor& w, int32_t id) {
  std::vector<float> all = w.to_vector<float>();
  int64_t C = w.size(1);
  return {all.begin() + id * C, all.begin() + (id + 1) * C};
}

// A small corpus of paragraphs: toy sentences, a blank line between paragraphs.
std::string toy_corpus(int paragraphs, uint32_t seed) {
  const char* words[] = {"tea", "cake", "soup", "bread", "jam", "rice", "is", "good", "bad", "and"};
  uint32_t state = seed;
  auto next = [&] { return (state = state * 1664525u + 1013904223u) >> 8; };
  std::string out;
  for (int p = 0; p < paragraphs; ++p) {
    int sentences = 1 + int(next() % 3);
    for (int s = 0; s < sentences; ++s) {
      int n = 3 + int(next() % 4);
      for (int w = 0; w < n; ++w) out += std::string(w ? " " : "") + words[next() % 10];
      out += next() % 4 ? ". " : "? ";
    }
    out += "\n\n";
  }
  return out;
}

}  // namespace

TEST_SUITE("train") {

TEST_CASE("split_documents: paragraphs between blank lines, sentences at . ! ? before whitespace") {
  std::string text =
      "It is a truth. Is it?\nYes!  \"Quite so,\" he said.\n"  // one paragraph over two lines
      "   \n"                                                  // a blank line (only spaces)
      "A line\nbroken here. Pi is 3.14 and e... is not\n"      // 3.14: no whitespace after '.'
      "\n\n"
      "\"I am sure.\" She went.\n"                             // a closing quote after the '.'
      "\n"
      "Mr. Darcy came. \xE2\x80\x9C" "Oh!\xE2\x80\x9D said she.";  // the known failures
  std::vector<Document> docs = split_documents(text);
  REQUIRE(docs.size() == 4);
  CHECK(docs[0] == Document{"It is a truth.", "Is it?", "Yes!", "\"Quite so,\" he said."});
  // The line break inside a sentence stays; "e..." ends a sentence (before whitespace), and the
  // last piece has no end mark and is a sentence all the same.
  CHECK(docs[1] == Document{"A line\nbroken here.", "Pi is 3.14 and e...", "is not"});
  CHECK(docs[2] == Document{"\"I am sure.\"", "She went."});
  // Documented failures: an abbreviation and a quoted exclamation end a sentence.
  CHECK(docs[3] == Document{"Mr.", "Darcy came.", "\xE2\x80\x9C" "Oh!\xE2\x80\x9D", "said she."});
  // No text, or only blank lines: no document; no blank line: one document.
  CHECK(split_documents("").empty());
  CHECK(split_documents("\n \n\t\n").empty());
  CHECK(split_documents("one. two") == std::vector<Document>{{"one.", "two"}});
  // Full-width end marks need no space after them (Japanese): 。 then 」 close a sentence; an
  // ASCII '.' inside Japanese text still needs whitespace.
  CHECK(split_documents("吾輩は猫である。名前はまだない。") == std::vector<Document>{{"吾輩は猫である。", "名前はまだない。"}});
  CHECK(split_documents("「本当？」と聞いた。ver.2は！？新しい") ==
        std::vector<Document>{{"「本当？」", "と聞いた。", "ver.2は！？", "新しい"}});
}

TEST_CASE("prepare --seams: each paragraph is <|start|> s1 <|delim|> s2 ... <|extract|>, with the finetune ids") {
  TempDir d("seams_prepare");
  write_file_atomic(d.str("a.txt"), "The cat sat. It slept!\n\nA dog ran?\n");
  write_file_atomic(d.str("b.txt"), "Then rain.\n");
  PrepareOptions o;
  o.inputs = {d.str("a.txt"), d.str("b.txt")};
  o.out_dir = d.str("data");
  o.vocab_size = 280;
  o.val_fraction = 0.2;
  o.seams = true;
  std::ostringstream log;
  prepare(o, log);
  Tokenizer tok = Tokenizer::load(o.out_dir + "/tokenizer");
  // The ids kiso finetune reads (train/finetune.cpp read_task: the tokenizer's specials).
  int32_t s = tok.special("<|start|>"), m = tok.special("<|delim|>"), e = tok.special("<|extract|>");
  std::vector<int32_t> expected;
  auto add = [&](std::initializer_list<int32_t> specials, const std::string& text) {
    expected.insert(expected.end(), specials);
    std::vector<int32_t> ids = tok.encode(text);
    expected.insert(expected.end(), ids.begin(), ids.end());
  };
  add({s}, "The cat sat."), add({m}, "It slept!"), add({e, s}, "A dog ran?"), add({e, s}, "Then rain.");
  expected.push_back(e);  // and no <|endoftext|> anywhere
  std::vector<int32_t> all = read_shard(o.out_dir + "/train.bin", tok.vocab_size());
  std::vector<int32_t> val = read_shard(o.out_dir + "/val.bin", tok.vocab_size());
  all.insert(all.end(), val.begin(), val.end());
  CHECK(all == expected);
  CHECK(tok.decode(all) ==
        "<|start|>The cat sat.<|delim|>It slept!<|extract|><|start|>A dog ran?<|extract|><|start|>Then rain.<|extract|>");
  std::string meta_path = o.out_dir + "/meta.json";
  Json meta = parse_json_strict(read_file(meta_path), meta_path);
  CHECK(meta["seams"] == Json{{"start", s}, {"delim", m}, {"extract", e}});
  std::optional<SeamIds> read = read_seams(meta, tok.vocab_size(), meta_path);
  REQUIRE(read);
  CHECK((read->start == s && read->delim == m && read->extract == e));
  // An id outside the vocabulary is refused, naming the field.
  meta["seams"]["delim"] = tok.vocab_size();
  CHECK_THROWS_WITH_AS(read_seams(meta, tok.vocab_size(), meta_path), doctest::Contains("\"seams\".\"delim\""), Error);
  // Without --seams, meta.json has no "seams" (and pretrain masks nothing).
  o.seams = false, o.out_dir = d.str("plain");
  prepare(o, log);
  CHECK_FALSE(has_key(parse_json_strict(read_file(d.str("plain/meta.json")), "meta"), "seams"));
}

TEST_CASE("seams: the masked loss is the mean over the non-seam targets, computed by hand") {
  Generator gen{11};
  GPT model(testing::toy_config(), gen);  // V = 10, n_ctx 6
  const SeamIds seam{7, 8, 9};
  std::vector<int32_t> in = {7, 1, 2, 8, 3, 4, 5, 9, 7, 0, 1, 2};  // (2, 6)
  std::vector<int32_t> tg = {1, 2, 8, 3, 4, 9, 9, 7, 0, 1, 2, 3};  // (2, 6): 8, 9, 9, 7 are seams
  Tensor inputs = from_vector(in, {2, 6}), targets = from_vector(tg, {2, 6});
  Tensor masked = mask_seam_targets(targets, seam);
  std::vector<int32_t> expected_mask = {1, 2, -100, 3, 4, -100, -100, -100, 0, 1, 2, 3};
  CHECK(masked.to_vector<int32_t>() == expected_mask);
  // The oracle: -log softmax(logits)[target] in double, averaged over the 8 kept positions.
  std::vector<float> logits = model.logits(inputs, Mode::eval()).value().to_vector<float>();  // (2, 6, 10)
  double sum = 0;
  int kept = 0;
  for (size_t p = 0; p < tg.size(); ++p) {
    if (seam.contains(tg[p])) continue;
    double mx = -1e30, z = 0;
    for (int v = 0; v < 10; ++v) mx = std::max(mx, double(logits[p * 10 + v]));
    for (int v = 0; v < 10; ++v) z += std::exp(double(logits[p * 10 + v]) - mx);
    sum += -(double(logits[p * 10 + size_t(tg[p])]) - mx - std::log(z));
    ++kept;
  }
  REQUIRE(kept == 8);
  double oracle = sum / kept;
  // f32 logits and an f32 log-sum-exp over 10 values of size ~1: 1e-5 is ~100 f32 ulps of a
  // loss near 2.3, far below the ~0.1 that counting a masked target would change it by.
  CHECK(std::abs(model.loss(inputs, masked, Mode::eval()).value().item() - oracle) < 1e-5);
  // evaluate_loss weighs each batch by its kept targets: the two rows as two batches, the first
  // keeping 2 targets and the second 6 (no mask on it), give the mean over those 8, not the mean
  // of the two batch means.
  std::vector<Batch> batches = {{from_vector(std::vector<int32_t>(in.begin(), in.begin() + 6), {1, 6}),
                                 from_vector(std::vector<int32_t>{1, 2, -100, -100, -100, -100}, {1, 6})},
                                {from_vector(std::vector<int32_t>(in.begin() + 6, in.end()), {1, 6}),
                                 from_vector(std::vector<int32_t>(tg.begin() + 6, tg.end()), {1, 6})}};
  double num = 0;
  int n = 0;
  const std::vector<int32_t> kept_targets = {1, 2, -100, -100, -100, -100, 9, 7, 0, 1, 2, 3};
  for (size_t p = 0; p < 12; ++p) {
    if (kept_targets[p] < 0) continue;
    double mx = -1e30, z = 0;
    for (int v = 0; v < 10; ++v) mx = std::max(mx, double(logits[p * 10 + v]));
    for (int v = 0; v < 10; ++v) z += std::exp(double(logits[p * 10 + v]) - mx);
    num += -(double(logits[p * 10 + size_t(kept_targets[p])]) - mx - std::log(z));
    ++n;
  }
  CHECK(std::abs(evaluate_loss(model, batches) - num / n) < 1e-5);  // the same bound as above
  // A batch with every target masked adds nothing; all masked is an error, not a NaN.
  batches[0].targets = from_vector(std::vector<int32_t>(6, -100), {1, 6});
  batches.pop_back();
  CHECK_THROWS_WITH_AS(evaluate_loss(model, batches), doctest::Contains("every target masked"), Error);
}

TEST_CASE("seams: pretrain masks the seams and marks its model; finetune starts from those rows, bit for bit") {
  TempDir d("seams_run");
  write_file_atomic(d.str("corpus.txt"), toy_corpus(60, 3));
  PrepareOptions prep;
  prep.inputs = {d.str("corpus.txt")};
  prep.out_dir = d.str("data");
  prep.vocab_size = 300;
  prep.val_fraction = 0.2;
  prep.seams = true;
  std::ostringstream log;
  prepare(prep, log);
  Tokenizer tok = Tokenizer::load(d.str("data/tokenizer"));
  const SeamIds seam = seam_ids(tok);

  testing::write_toy_config(d.str("toy.json"));  // 2 layers of 16, context 16 (vocab: the data's)
  PretrainOptions o;
  o.data_dir = d.str("data"), o.out_dir = d.str("run"), o.config_path = d.str("toy.json");
  o.batch_size = 4, o.seq_len = 16, o.steps = 4, o.lr = 1e-2, o.warmup_steps = 1;
  o.loop.eval_every = 0, o.eval_batches = 2, o.checkpoint_every = 0, o.loop.quiet = true;
  o.dropout = 0.0;  // so that step 1's training loss is the eval-mode loss of its batch
  PretrainResult r = pretrain(o, log);
  CHECK(r.seams);
  REQUIRE(r.final_val_real_token_loss);
  // The val loss before the first step, recomputed here from the same initial weights on the
  // val windows with the seam targets masked by hand.
  std::string cfg_path = d.str("toy.json");
  GPTConfig c = config_from_json(parse_json_strict(read_file(cfg_path), cfg_path), cfg_path);
  c.vocab_size = tok.vocab_size();
  Generator init{o.seed, kInitStream};
  GPT initial(c, init);
  std::vector<Batch> val = sequential_windows(read_shard(d.str("data/val.bin"), tok.vocab_size()), 16, 4);
  val.resize(std::min<size_t>(val.size(), 2));
  for (Batch& b : val) {
    std::vector<int32_t> t = b.targets.to_vector<int32_t>();
    for (int32_t& id : t)
      if (id == seam.start || id == seam.delim || id == seam.extract) id = -100;
    b.targets = from_vector(t, b.targets.shape());
  }
  CHECK(r.initial_val_loss == evaluate_loss(initial, val));  // the same computation: bit for bit
  // Step 1's training loss: the loader's batch 0 with its seam targets masked by hand, through
  // the initial weights. Training mode at dropout 0 runs the same arithmetic as eval mode; 1e-5
  // (~20 f32 ulps of a loss near ln 300 ≈ 5.7) leaves room for another order of the sums only:
  // at the initial weights every target costs about ln 300, so counting the seams moves the
  // mean by little, 0.0025 measured with the mask taken out of pretrain, 250 times the bound.
  Batch first = TokenLoader(read_shard(d.str("data/train.bin"), tok.vocab_size()), 4, 16, o.seed).batch(0);
  std::vector<int32_t> t0 = first.targets.to_vector<int32_t>();
  int masked = 0;
  for (int32_t& id : t0)
    if (id == seam.start || id == seam.delim || id == seam.extract) id = -100, ++masked;
  REQUIRE(masked > 0);  // the batch has seams to leave out
  double by_hand = [&] {
    NoGradGuard no_grad;  // only here: the fine-tuning below needs its graph
    return initial.loss(first.inputs, from_vector(t0, {4, 16}), Mode::eval()).value().item();
  }();
  CHECK(std::abs(r.records[0].loss - by_hand) < 1e-5);
  // The seam rows moved in pre-training (as inputs, and through the tied head's softmax) ...
  Tensor pre = stored(r.model_dir, "tokens_embed.weight");
  Tensor init_wte = initial.tokens_embed.weight.value();
  for (int32_t id : {seam.start, seam.delim, seam.extract}) CHECK(row(pre, id) != row(init_wte, id));
  // ... and the model directory says so.
  CHECK(fs::exists(r.model_dir + "/" + kSeamsFile));
  // Stopped after step 2 and resumed, the run ends on the same weights, bit for bit (the mask is
  // a pure function of the batch, so resume's guarantee carries over).
  PretrainOptions half = o;
  half.out_dir = d.str("run2"), half.stop_at = 2;
  pretrain(half, log);
  half.stop_at = 0, half.resume = true;
  PretrainResult resumed = pretrain(half, log);
  REQUIRE(resumed.records.size() == 2);
  CHECK(resumed.records.back().loss == r.records.back().loss);
  CHECK(resumed.final_val_loss == r.final_val_loss);
  CHECK(stored(resumed.model_dir, "tokens_embed.weight").to_vector<float>() == pre.to_vector<float>());

  // Fine-tuning from it, with a step too small to move any f32 weight (lr 1e-30: the update and
  // the weight decay are ~1e-30, far below half an ulp of weights of size ~1e-2), so the saved
  // rows are the rows fine-tuning started from.
  std::string train_jsonl, val_jsonl;
  for (int i = 0; i < 8; ++i) {
    train_jsonl += Json{{"text", i % 2 ? "tea is good." : "cake is bad."}, {"label", i % 2 ? "yes" : "no"}}.dump() + "\n";
    val_jsonl += Json{{"text", i % 2 ? "jam is good." : "rice is bad."}, {"label", i % 2 ? "yes" : "no"}}.dump() + "\n";
  }
  write_file_atomic(d.str("train.jsonl"), train_jsonl);
  write_file_atomic(d.str("val.jsonl"), val_jsonl);
  FinetuneOptions f;
  f.model_dir = r.model_dir, f.task = "classification", f.train_path = d.str("train.jsonl");
  f.val_path = d.str("val.jsonl"), f.out_dir = d.str("ft"), f.lr = 1e-30, f.batch_size = 8, f.epochs = 1;
  f.loop.quiet = true;
  FinetuneResult kept = finetune(f, log);
  Tensor after = stored(kept.model_dir, "tokens_embed.weight");
  for (int32_t id : {seam.start, seam.delim, seam.extract}) CHECK(row(after, id) == row(pre, id));
  CHECK(row(after, 100) == row(pre, 100));  // an ordinary row: lr 1e-30 indeed moves nothing
  // The fine-tuned model records the same three ids as meta.json.
  Json task = parse_json_strict(read_file(kept.model_dir + "/task.json"), "task.json");
  CHECK(task["special"]["start"] == seam.start);
  CHECK(task["special"]["delim"] == seam.delim);
  CHECK(task["special"]["extract"] == seam.extract);

  // The control: the same model without seams.json gets new rows (so the check above can fail).
  fs::copy(r.model_dir, d.str("unmarked"), fs::copy_options::recursive);  // RUN/model is a link: followed
  fs::remove(d.str("unmarked/") + kSeamsFile);
  f.model_dir = d.str("unmarked"), f.out_dir = d.str("ft_drawn");
  Tensor drawn = stored(finetune(f, log).model_dir, "tokens_embed.weight");
  for (int32_t id : {seam.start, seam.delim, seam.extract}) CHECK(row(drawn, id) != row(pre, id));
  CHECK(row(drawn, 100) == row(pre, 100));
  // The head is drawn after the rows from one generator; keeping the rows still draws them, so
  // the two runs' heads start equal (and with lr 1e-30 end equal).
  CHECK(stored(kept.model_dir, "linear.weight", "head.safetensors").to_vector<float>() ==
        stored(d.str("ft_drawn/model"), "linear.weight", "head.safetensors").to_vector<float>());
}

}  // TEST_SUITE
