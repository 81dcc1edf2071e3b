// train/commands/tokenizer.cpp — `kiso tokenizer train | encode | decode`: BPE (gpt/tokenizer.h) from
// the command line. encode and decode read either kind of tokenizer directory, byte-level (kiso's,
// GPT-2's) or GPT-1's (openai-gpt's vocab.json + merges.txt, or Hugging Face's tokenizer.json), picking
// the kind from the files (gpt/tokenizer.h says how); train writes byte-level BPE only.
//   train   learns merges on text files, writes vocab.json + merges.txt (GPT-2's formats)
//   encode  text (--text, or --file) -> token ids, one line separated by spaces; --pieces shows
//           each token's text beside its id, --explain the plain merge loop round by round for
//           each pre-token (gpt/tokenizer.cpp's merge_pretoken_plain: read it with this output)
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
  bool pieces = false, explain = false;
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

// The tokens' labels (Tokenizer::label: a space shown as '␣'), separated by spaces.
static std::string visible_tokens(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + tok.label(ids[i]);
  return line;
}

// --explain: each pre-token, its bytes, then one line per round of the plain merge loop.
static void print_explained(const Tokenizer& tok, std::string_view input, bool as_json) {
  std::vector<Tokenizer::PretokenTrace> traces = tok.explain(input);
  if (as_json) {
    Json pretokens = Json::array();
    std::vector<int32_t> ids;
    for (const Tokenizer::PretokenTrace& t : traces) {
      Json rounds = Json::array();
      for (const Tokenizer::MergeRound& r : t.rounds) {
        Json tokens = Json::array();
        for (int32_t id : r.symbols) tokens.push_back(tok.label(id));
        rounds.push_back(Json{{"rank", r.rank}, {"ids", r.symbols}, {"tokens", tokens}});
      }
      ids.insert(ids.end(), t.rounds.back().symbols.begin(), t.rounds.back().symbols.end());
      pretokens.push_back(Json{{"text", printable_bytes(t.text)}, {"rounds", rounds}});
    }
    std::cout << Json{{"ids", ids}, {"pretokens", pretokens}} << "\n";
    return;
  }
  const bool gpt1 = tok.kind() == TokenizerKind::gpt1;
  std::cout << (gpt1 ? fmt::format("{} words (GPT-1: lowercased, accents stripped, split at white space and "
                                   "punctuation; a merge never crosses one; </w> ends a word)\n", traces.size())
                     : fmt::format("{} pre-tokens (GPT-2's pattern; a merge never crosses one)\n", traces.size()));
  std::vector<int32_t> ids;
  for (const Tokenizer::PretokenTrace& t : traces) {
    std::cout << fmt::format("\"{}\"\n", printable_bytes(t.text));
    for (const Tokenizer::MergeRound& r : t.rounds) {
      if (r.rank < 0) {
        std::cout << fmt::format("  {}    {}\n", gpt1 ? "characters" : "bytes     ", visible_tokens(tok, r.symbols));
        continue;
      }
      const BpeMerge& m = tok.merges()[r.rank];
      std::cout << fmt::format("  merge {:<6}  {}   ({} + {})\n", r.rank, visible_tokens(tok, r.symbols),
                               tok.label(m.left), tok.label(m.right));
    }
    ids.insert(ids.end(), t.rounds.back().symbols.begin(), t.rounds.back().symbols.end());
  }
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
  std::cout << "ids: " << line << "\n";
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
  check(!(o.pieces && o.explain), "tokenizer encode", "give at most one of --pieces and --explain (got both)");
  if (o.explain) {
    print_explained(tok, input, o.as_json);
    return 0;
  }
  std::vector<int32_t> ids = tok.encode(input);
  if (o.pieces) {
    Json tokens = Json::array();
    for (int32_t id : ids) tokens.push_back(tok.label(id));
    if (o.as_json) std::cout << Json{{"ids", ids}, {"tokens", tokens}} << "\n";
    else
      for (int32_t id : ids) std::cout << fmt::format("{:>7}  {}\n", id, tok.label(id));
    return 0;
  }
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
  command->add_option("--tokenizer", options->tokenizer_dir,
                      "a tokenizer or model directory (byte-level BPE or GPT-1's: the kind comes from its files)")
      ->required();
  CLI::Option* text = command->add_option("--text", options->text, "the text");
  command->add_option("--file", options->file, "or a file holding it");
  command->add_flag("--pieces", options->pieces,
                    "one token a line: its id and its text (space shown as \u2423; GPT-1's word end as </w>)");
  command->add_flag("--explain", options->explain,
                    "the plain BPE merge loop, round by round, for each pre-token (how the ids came about)");
  add_json_flag(*command, options->as_json, "print {\"ids\": [...]} (and the tokens or rounds with --pieces / --explain)");
  command->callback([options, text] {
    options->text_given = text->count() > 0;
    exit_with(run_tokenizer_encode(*options));
  });
}

static void add_decode(CLI::App& tokenizer) {
  auto options = std::make_shared<DecodeOptions>();
  CLI::App* command = tokenizer.add_subcommand("decode", "token ids -> text");
  command->add_option("--tokenizer", options->tokenizer_dir,
                      "a tokenizer or model directory (byte-level BPE or GPT-1's: the kind comes from its files)")
      ->required();
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
  CLI::App* tokenizer = app.add_subcommand("tokenizer", "BPE: train (byte-level), encode, decode (byte-level or GPT-1's)");
  tokenizer->require_subcommand(1);
  add_train(*tokenizer);
  add_encode(*tokenizer);
  add_decode(*tokenizer);
}

}  // namespace kiso
