// train/commands/tokenizer.cpp — `kiso tokenizer train | encode | decode`: byte-level BPE
// (gpt/tokenizer.h) from the command line.
//   train   learns merges on text files, writes vocab.json + merges.txt (GPT-2's formats)
//   encode  text (--text, or --file) -> token ids, one line separated by spaces
//   decode  token ids -> text (--json replaces bytes that end inside a UTF-8 character by U+FFFD)
// What it is not: data preparation for training (kiso prepare writes the token shards).
#include <climits>
#include <iostream>
#include <sstream>

#include <fmt/core.h>

#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "gpt/tokenizer.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"

namespace kiso {

namespace {

struct TrainOptions {
  std::vector<std::string> inputs;
  int64_t vocab_size = 4096;
  std::string out_dir;
  bool as_json = false;
};

struct EncodeOptions {
  std::string tokenizer_dir;
  std::string text, file;  // exactly one of them
  bool as_json = false;
};

struct DecodeOptions {
  std::string tokenizer_dir;
  std::string ids;  // separated by spaces
  bool as_json = false;
};

}  // namespace

static int run_tokenizer_train(const TrainOptions& o) {
  check(!o.inputs.empty(), "tokenizer train", "no --input files");
  std::string corpus;
  for (const std::string& f : o.inputs) corpus += read_file(f);
  TrainStats stats;
  Tokenizer tok = Tokenizer::train(corpus, o.vocab_size, &stats);
  tok.save(o.out_dir);
  double seconds = stats.pretokenize_seconds + stats.merge_seconds;
  if (o.as_json)
    std::cout << Json{{"vocab_size", tok.vocab_size()}, {"merges", stats.merges}, {"bytes", stats.bytes},
                      {"seconds", seconds}, {"mb_per_second", stats.mb_per_second()}, {"out", o.out_dir}}
              << "\n";
  else
    std::cout << fmt::format("trained {} merges (vocabulary {}) on {:.2f} MB in {:.2f} s ({:.2f} MB/s) -> {}\n",
                             stats.merges, tok.vocab_size(), double(stats.bytes) / 1e6, seconds, stats.mb_per_second(),
                             o.out_dir);
  return 0;
}

static int run_tokenizer_encode(const EncodeOptions& o) {
  check(o.text.empty() != o.file.empty(), "tokenizer", "give exactly one of --text and --file");
  Tokenizer tok = Tokenizer::load(o.tokenizer_dir);
  std::vector<int32_t> ids = tok.encode(o.file.empty() ? o.text : read_file(o.file));
  if (o.as_json) std::cout << Json{{"ids", ids}} << "\n";
  else {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    std::cout << line << "\n";
  }
  return 0;
}

// "72 101 108" -> {72, 101, 108}; a word that is not an int32 is an error naming it.
static std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == word.size() && v >= INT32_MIN && v <= INT32_MAX, "tokenizer decode", "'{}' is not a token id", word);
    ids.push_back(int32_t(v));
  }
  return ids;
}

static int run_tokenizer_decode(const DecodeOptions& o) {
  std::vector<int32_t> ids = parse_ids(o.ids);
  Tokenizer tok = Tokenizer::load(o.tokenizer_dir);
  std::string text = tok.decode(ids);
  // Ids may end inside a UTF-8 character: JSON output replaces such bytes with U+FFFD.
  if (o.as_json) std::cout << Json{{"text", text}}.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  else std::cout << text << "\n";
  return 0;
}

static void add_train(CLI::App& tokenizer) {
  auto options = std::make_shared<TrainOptions>();
  CLI::App* command = tokenizer.add_subcommand("train", "learn merges on text files, write vocab.json + merges.txt");
  command->add_option("--input", options->inputs, "text files (UTF-8)")->required();
  command->add_option("--vocab-size", options->vocab_size, "256 bytes + merges + 4 special tokens")
      ->capture_default_str();
  command->add_option("--out", options->out_dir, "output directory")->required();
  add_json_flag(*command, options->as_json);
  command->callback([options] { exit_with(run_tokenizer_train(*options)); });
}

static void add_encode(CLI::App& tokenizer) {
  auto options = std::make_shared<EncodeOptions>();
  CLI::App* command = tokenizer.add_subcommand("encode", "text -> token ids");
  command->add_option("--tokenizer", options->tokenizer_dir, "a tokenizer or model directory")->required();
  command->add_option("--text", options->text, "the text");
  command->add_option("--file", options->file, "or a file holding it");
  add_json_flag(*command, options->as_json, "print {\"ids\": [...]}");
  command->callback([options] { exit_with(run_tokenizer_encode(*options)); });
}

static void add_decode(CLI::App& tokenizer) {
  auto options = std::make_shared<DecodeOptions>();
  CLI::App* command = tokenizer.add_subcommand("decode", "token ids -> text");
  command->add_option("--tokenizer", options->tokenizer_dir, "a tokenizer or model directory")->required();
  command->add_option("--ids", options->ids, "ids separated by spaces")->required();
  add_json_flag(*command, options->as_json, "print {\"text\": ...}");
  command->callback([options] { exit_with(run_tokenizer_decode(*options)); });
}

void add_tokenizer(CLI::App& app) {
  CLI::App* tokenizer = app.add_subcommand("tokenizer", "byte-level BPE: train, encode, decode");
  tokenizer->require_subcommand(1);
  add_train(*tokenizer);
  add_encode(*tokenizer);
  add_decode(*tokenizer);
}

}  // namespace kiso
