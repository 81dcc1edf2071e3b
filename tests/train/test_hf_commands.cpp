// tests/train/test_hf_commands.cpp — kiso's commands on a model directory written by Hugging Face
// transformers (tests/gpt/data/hf_tiny: OpenAIGPTLMHeadModel.save_pretrained plus GPT-1's own
// tokenizer files, vocab.json + merges.txt with </w> word ends; see
// tests/reference/make_hf_fixture.py).
//
// Oracles: what transformers computed on the same directory and text, recorded in
// hf_tiny_expected.safetensors' metadata — the mean loss over hf_tiny_eval.txt in kiso eval's
// windows (tokenised by transformers' OpenAIGPTTokenizer, so the tokenizer and the model are
// checked together), and greedy generation's 8 token ids after a prompt. Fine-tuning has no
// transformers counterpart to compare with: it must run end to end, grow the vocabulary by the
// special tokens, and give a model that kiso predict reads.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"
#include "tests/train/run_command.h"

#include <cmath>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/finetuned.h"
#include "gpt/json.h"
#include "gpt/safetensors.h"
#include "train/commands/commands.h"

using namespace kiso;

#ifndef KISO_SOURCE_DIR
#define KISO_SOURCE_DIR "."
#endif

namespace {

const std::string kData = std::string(KISO_SOURCE_DIR) + "/tests/gpt/data/";
const std::string kModel = kData + "hf_tiny";

std::string run(const std::vector<std::string>& args) {
  CLI::App app("kiso");
  app.require_subcommand(1);
  add_eval(app);
  add_sample(app);
  add_finetune(app);
  add_predict(app);
  return testing::parse_capturing(app, args);
}

std::map<std::string, std::string> expected_metadata() {
  return safetensors::load(kData + "hf_tiny_expected.safetensors").metadata;
}

}  // namespace

TEST_SUITE("train") {

TEST_CASE("transformers' directory: kiso eval gives transformers' loss on a text (tokenizer and model together)") {
  auto meta = expected_metadata();
  Json r = Json::parse(run({"eval", "--model", kModel, "--data", kData + "hf_tiny_eval.txt", "--json"}));
  // Same windows and token count; the mean of 624 cross-entropies of about 7.5 each, in f32 on
  // kiso's side (f64 in the script): ~1e-6 relative, 1e-5 leaves a margin. A single token
  // encoded differently changes the count or moves the mean by ~1e-2.
  CHECK(r.at("tokens").get<int64_t>() == std::stoll(meta.at("eval_tokens")));
  double want = std::stod(meta.at("eval_loss"));
  CHECK(std::abs(r.at("loss").get<double>() - want) < 1e-5 * want);
}

TEST_CASE("transformers' directory: kiso sample --temperature 0 continues a prompt with transformers' greedy ids") {
  auto meta = expected_metadata();
  Json r = Json::parse(run({"sample", "--model", kModel, "--prompt", meta.at("greedy_prompt"), "--max-new-tokens", "8",
                            "--temperature", "0", "--json"}));
  CHECK(r.at("ids") == Json::parse(meta.at("greedy_ids")));
  // Without a prompt kiso starts a document with <|endoftext|>, which this model's 1,000-row
  // vocabulary lacks (the tokenizer appends it at id 1000): an error saying so, not a crash.
  CHECK_THROWS_WITH_AS(run({"sample", "--model", kModel, "--max-new-tokens", "2"}), doctest::Contains("--prompt"),
                       Error);
}

TEST_CASE("transformers' directory: kiso finetune runs on it, and kiso predict reads the result") {
  TempDir dir("hf_finetune");
  // A toy task: is the text about software or about copying? 4 examples to train on, 2 to validate.
  std::string train = dir.str("train.jsonl"), val = dir.str("val.jsonl");
  write_file_atomic(train,
                    "{\"text\": \"the software is free\", \"label\": \"software\"}\n"
                    "{\"text\": \"you may copy the program\", \"label\": \"copy\"}\n"
                    "{\"text\": \"free software for everyone\", \"label\": \"software\"}\n"
                    "{\"text\": \"copies of the license\", \"label\": \"copy\"}\n");
  write_file_atomic(val,
                    "{\"text\": \"this program is software\", \"label\": \"software\"}\n"
                    "{\"text\": \"copy it\", \"label\": \"copy\"}\n");
  Json r = Json::parse(run({"finetune", "--model", kModel, "--task", "classification", "--train", train, "--val", val,
                            "--out", dir.str("run"), "--epochs", "2", "--batch-size", "2", "--json"}));
  CHECK(r.at("steps").get<int64_t>() == 4);  // 4 examples in batches of 2, 2 epochs
  CHECK(r.contains("final_val_accuracy"));
  FinetunedModel m = load_finetuned(dir.str("run/model"));
  // GPT-1's 1,000 tokens plus the four kiso appends (<|endoftext|>, <|start|>, <|delim|>, <|extract|>).
  CHECK(m.model.config.vocab_size == 1004);
  CHECK(m.tokenizer.vocab_size() == 1004);
  std::string lines = run({"predict", "--model", dir.str("run/model"), "--input", val});
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 2);
  CHECK(lines.find("\"prediction\"") != std::string::npos);
}

}  // TEST_SUITE
