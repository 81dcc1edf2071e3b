// train/commands/tokenizer.cpp — `kiso tokenizer train | encode | decode`: byte-level BPE
// (gpt/tokenizer.h) from the command line.
//   train   learns merges on text files, writes vocab.json + merges.txt (GPT-2's formats)
//   encode  text (--text, or --file) -> token ids, one line separated by spaces
//   decode  token ids (--ids, or --ids-file FILE, - for stdin) -> text (--json replaces bytes
//           that end inside a UTF-8 character by U+FFFD). Ids are integers separated by spaces,
//           tabs, newlines or commas, or the JSON `encode --json` prints ({"ids": [...]}, or a
//           bare array), so any number of them fits (--ids is one argument: the shell limits it)
// Options are checked before any work: files named exist, --vocab-size is in 260..2^31-1, a
// --text given is not empty; a text file's bad UTF-8 is named by file and line.
// What it is not: data preparation for training (kiso prepare writes the token shards).
#include <charconv>
#include <climits>
#include <iostream>
#include <iterator>

#include <fmt/core.h>

#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "gpt/tokenizer.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/option_checks.h"

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
  bool text_given = false;  // --text "" is given, and empty
  bool as_json = false;
};

struct DecodeOptions {
  std::string tokenizer_dir;
  std::string ids;       // separated by spaces or commas
  std::string ids_file;  // or a file of them; "-": stdin
  bool ids_given = false;
  bool as_json = false;
};

}  // namespace

static int run_tokenizer_train(const TrainOptions& o) {
  check(!o.inputs.empty(), "tokenizer train", "no --input files");
  for (const std::string& f : o.inputs) require_file(f, "tokenizer train", "--input");
  require_writable_dir(o.out_dir, "tokenizer train", "--out");
  check(o.vocab_size >= 260 && o.vocab_size <= INT32_MAX, "tokenizer train",
        "--vocab-size must be in 260..{} (256 bytes + merges + 4 special tokens), got {}", INT32_MAX, o.vocab_size);
  std::string corpus;
  for (const std::string& f : o.inputs) {
    std::string text = read_file(f);
    check_utf8_file(text, f);  // here, where the file and line are known, not as an offset in the concatenation
    corpus += text;
  }
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
  bool text = o.text_given, file = !o.file.empty();
  check(text != file, "tokenizer encode", "give exactly one of --text and --file (got {})",
        text ? "both" : "neither");
  check(!text || !o.text.empty(), "tokenizer encode", "--text is empty: there is no text to encode");
  if (text) check_utf8(o.text, "tokenizer encode: --text");
  if (file) require_file(o.file, "tokenizer encode", "--file");
  require_dir(o.tokenizer_dir, "tokenizer encode", "--tokenizer", "a tokenizer or model directory");
  std::string input = file ? read_file(o.file) : o.text;
  if (file) check_utf8_file(input, o.file);
  Tokenizer tok = Tokenizer::load(o.tokenizer_dir);
  std::vector<int32_t> ids = tok.encode(input);
  if (o.as_json) std::cout << Json{{"ids", ids}} << "\n";
  else {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    std::cout << line << "\n";
  }
  return 0;
}

// Token ids from `text` (see the top of this file): integers separated by white space or
// commas, or encode --json's {"ids": [...]}, or a JSON array. An item that is not an int32 is
// an error naming `what` and its position (0-based, as Tokenizer::decode counts).
static std::vector<int32_t> parse_ids(std::string_view text, const std::string& what) {
  const char* op = "tokenizer decode";
  std::vector<int32_t> ids;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    Json j = parse_json_strict(text, what);
    if (j.is_object()) {
      check(j.size() == 1 && j.contains("ids"), op, "{}: expected {{\"ids\": [...]}} as encode --json prints it, or "
            "an array of ids; found an object with other keys", what);
      j = j["ids"];
    }
    check(j.is_array(), op, "{}: \"ids\" must be an array of token ids, found {}", what, describe_json(j));
    for (size_t i = 0; i < j.size(); ++i) {
      const Json& v = j[i];
      bool fits = v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(INT32_MAX)
                  : v.is_number_integer() && v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX;
      check(fits, op, "{}: item {} ({}) is not a token id", what, i, describe_json(v));
      ids.push_back(v.get<int32_t>());
    }
    return ids;
  }
  for (size_t at = 0; at < text.size();) {
    size_t begin = text.find_first_not_of(" \t\r\n,", at);
    if (begin == std::string_view::npos) break;
    size_t end = std::min(text.find_first_of(" \t\r\n,", begin), text.size());
    std::string_view word = text.substr(begin, end - begin);
    at = end;
    int32_t id = 0;
    auto [stop, ec] = std::from_chars(word.data(), word.data() + word.size(), id);
    check(ec == std::errc() && stop == word.data() + word.size(), op, "{}: item {} ('{}') is not a token id", what,
          ids.size(), word.size() > 40 ? std::string(word.substr(0, 40)) + "..." : std::string(word));
    ids.push_back(id);
  }
  return ids;
}

static int run_tokenizer_decode(const DecodeOptions& o) {
  check(o.ids_given != !o.ids_file.empty(), "tokenizer decode", "give exactly one of --ids and --ids-file (got {})",
        o.ids_given ? "both" : "neither");
  check(!o.ids_given || !o.ids.empty(), "tokenizer decode", "--ids is empty: there are no ids to decode");
  if (!o.ids_file.empty() && o.ids_file != "-") require_file(o.ids_file, "tokenizer decode", "--ids-file");
  require_dir(o.tokenizer_dir, "tokenizer decode", "--tokenizer", "a tokenizer or model directory");
  std::vector<int32_t> ids =
      o.ids_given ? parse_ids(o.ids, "--ids")
      : o.ids_file == "-" ? parse_ids(std::string(std::istreambuf_iterator<char>(std::cin), {}), "stdin")
                          : parse_ids(read_file(o.ids_file), o.ids_file);
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
  CLI::Option* text = command->add_option("--text", options->text, "the text");
  command->add_option("--file", options->file, "or a file holding it");
  add_json_flag(*command, options->as_json, "print {\"ids\": [...]}");
  command->callback([options, text] {
    options->text_given = text->count() > 0;
    exit_with(run_tokenizer_encode(*options));
  });
}

static void add_decode(CLI::App& tokenizer) {
  auto options = std::make_shared<DecodeOptions>();
  CLI::App* command = tokenizer.add_subcommand("decode", "token ids -> text");
  command->add_option("--tokenizer", options->tokenizer_dir, "a tokenizer or model directory")->required();
  CLI::Option* ids = command->add_option("--ids", options->ids, "ids separated by spaces or commas");
  command->add_option("--ids-file", options->ids_file,
                      "or a file of them (- for stdin): separated by spaces, newlines or commas, or encode --json's "
                      "output")
      ->excludes(ids);
  add_json_flag(*command, options->as_json, "print {\"text\": ...}");
  command->callback([options, ids] {
    options->ids_given = ids->count() > 0;
    exit_with(run_tokenizer_decode(*options));
  });
}

void add_tokenizer(CLI::App& app) {
  CLI::App* tokenizer = app.add_subcommand("tokenizer", "byte-level BPE: train, encode, decode");
  tokenizer->require_subcommand(1);
  add_train(*tokenizer);
  add_encode(*tokenizer);
  add_decode(*tokenizer);
}

}  // namespace kiso
