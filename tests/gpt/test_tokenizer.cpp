// tests/gpt/test_tokenizer.cpp — byte-level BPE: GPT-2 exactness, round trips, training,
// files, special tokens and every refusal.
// Oracles: token ids from PyPI's tiktoken on OpenAI's GPT-2 files (tests/gpt/data, written by
// tests/reference/make_tokenizer_reference.py); a naive trainer that recounts every pair
// before each merge; GPT-2's encoder.py merge loop done literally (scan for the lowest rank,
// replace every occurrence: Tokenizer::encode_plain, itself checked against merges worked by
// hand in test_tokenizer_plain.cpp); the input text itself for round trips; hand-written files for
// the error cases. OpenAI's files are read from ../shared/data/gpt2/ beside the repository;
// the GPT-2 tests fail, saying so, when they are missing.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <cstdio>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "gpt/tokenizer.h"
#include "tests/gpt/utf8_text.h"
#include "base/check.h"

using namespace kiso;
namespace fs = std::filesystem;

using kiso::testing::append_utf8;

namespace {


const std::string kGpt2Dir = std::string(KISO_SOURCE_DIR) + "/../shared/data/gpt2/";

// OpenAI's files are not part of the project (shared/data/gpt2/README.md): where the folder is
// missing, the tests that need them are reported as skipped, with this note on stderr.
bool gpt2_files_present() {
  static const bool present = [] {
    bool ok = fs::exists(kGpt2Dir + "encoder.json") && fs::exists(kGpt2Dir + "vocab.bpe");
    if (!ok)
      std::fprintf(stderr, "note: %s{encoder.json,vocab.bpe} not found: the GPT-2 tokenizer tests are skipped\n",
                   kGpt2Dir.c_str());
    return ok;
  }();
  return present;
}

// OpenAI's GPT-2 tokenizer, loaded once for all the tests that use it.
const Tokenizer& gpt2() {
  static std::optional<Tokenizer> tokenizer;
  if (!tokenizer) {
    for (std::string path : {kGpt2Dir + "encoder.json", kGpt2Dir + "vocab.bpe"}) {
      if (!fs::exists(path)) {
        FAIL("OpenAI's GPT-2 file " << path << " is missing; the GPT-2 tokenizer tests need encoder.json and "
             "vocab.bpe in ../shared/data/gpt2/ beside the repository");
      }
    }
    tokenizer = Tokenizer::load(kGpt2Dir + "encoder.json", kGpt2Dir + "vocab.bpe");
  }
  return *tokenizer;
}

struct ReferenceCase {
  std::string name, text;
  std::vector<int32_t> ids;
};

const std::vector<ReferenceCase>& reference_cases() {
  static std::vector<ReferenceCase> cases;
  if (cases.empty()) {
    std::string path = std::string(KISO_SOURCE_DIR) + "/tests/gpt/data/gpt2_reference.json";
    Json json = parse_json_strict(read_file(path), path);
    for (const Json& c : json.at("cases")) {
      cases.push_back({c.at("name").get<std::string>(), c.at("text").get<std::string>(), c.at("ids").get<std::vector<int32_t>>()});
    }
  }
  return cases;
}

const std::string& reference_text(const std::string& name) {
  for (const ReferenceCase& c : reference_cases()) {
    if (c.name == name) return c.text;
  }
  FAIL("no reference text named " << name);
  static std::string none;
  return none;
}

// Random valid UTF-8: mostly ASCII words, spaces and punctuation, with Latin-1, CJK, emoji,
// NUL, and any Unicode scalar value (unassigned and private-use ones included).
std::string random_text(std::mt19937& rng, size_t characters) {
  const std::string ascii = "abcdefghijklmnopqrstuvwxyz ABC  'stlrevmd 0123456789 .,;!?-\n\t\r\"'<|>";
  std::string out;
  for (size_t i = 0; i < characters; ++i) {
    uint32_t kind = rng() % 20, cp;
    if (kind < 13) cp = uint8_t(ascii[rng() % ascii.size()]);
    else if (kind < 15) cp = 0xA0 + rng() % 0x160;
    else if (kind < 16) cp = 0x4E00 + rng() % 0x200;
    else if (kind < 17) cp = 0x1F300 + rng() % 0x300;
    else if (kind < 18) cp = rng() % 0x20;
    else do cp = rng() % 0x110000; while (cp >= 0xD800 && cp <= 0xDFFF);
    append_utf8(out, cp);
  }
  return out;
}

// Words from a small dictionary with spaces, punctuation and newlines: text with real repeats.
std::string word_corpus(uint32_t seed, size_t words) {
  const char* dictionary[] = {"the", "of", "and", "to", "in", "token", "tokens", "tokenizer", "merge", "merges",
                              "pair", "pairs", "byte", "bytes", "low", "lower", "lowest", "new", "newer", "newest",
                              "wide", "wider", "widest", "café", "naïve", "日本語", "Straße", "it's", "don't", "42",
                              "2019", "GPT", "BPE", "aaaa", "abab"};
  const char* separators[] = {" ", " ", " ", " ", ", ", ". ", "\n", "  ", "\t", "!\n"};
  std::mt19937 rng(seed);
  std::string out;
  for (size_t i = 0; i < words; ++i) {
    out += dictionary[rng() % std::size(dictionary)];
    out += separators[rng() % std::size(separators)];
  }
  return out;
}

// The oracle trainer: Sennrich et al.'s loop with nothing incremental. Every step recounts
// all pairs over all words and merges the most frequent, ties to the smallest (left, right).
std::vector<BpeMerge> naive_train(std::string_view corpus, int64_t vocab_size) {
  std::map<std::string_view, int64_t> counts;
  for (std::string_view piece : pretokenize(corpus)) ++counts[piece];
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  for (auto& [piece, count] : counts) {
    std::vector<int32_t> symbols;
    for (char c : piece) symbols.push_back(static_cast<unsigned char>(c));
    words.push_back({symbols, count});
  }
  std::vector<BpeMerge> merges;
  for (int32_t z = 256; z < vocab_size - 4; ++z) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pairs;
    for (auto& [s, count] : words) {
      for (size_t i = 0; i + 1 < s.size(); ++i) pairs[{s[i], s[i + 1]}] += count;
    }
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it) {
      if (it->second > best->second) best = it;  // ascending keys: the first maximum is the smallest pair
    }
    auto [a, b] = best->first;
    merges.push_back({a, b, z});
    for (auto& [s, count] : words) {
      std::vector<int32_t> merged;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) merged.push_back(z), i += 2;
        else merged.push_back(s[i]), i += 1;
      }
      s = merged;
    }
  }
  return merges;
}

// A vocab.json with the 256 byte tokens (id = byte value) and then `extra` entries, JSON text.
// `replaced_byte`'s entry is renamed "zz" (same id), so that byte has no token.
std::string tiny_vocab(const std::string& extra = R"("ab": 256, "abc": 257)", int replaced_byte = -1) {
  std::string s = "{";
  for (int b = 0; b < 256; ++b) {
    std::string name = b == replaced_byte ? "zz" : bytes_to_unicode(std::string(1, char(b)));
    s += Json(name).dump() + ": " + std::to_string(b) + ", ";
  }
  return s + extra + "}";
}
const std::string kTinyMerges = "#version: 0.2\na b\nab c\n";
const std::string kTinySpecials = R"("<|endoftext|>": 258, "<|start|>": 259, "<|delim|>": 260, "<|extract|>": 261)";

// Writes the files and loads them; an empty `specials` means no special_tokens.json.
Tokenizer load_tiny(const TempDir& dir, const std::string& vocab, const std::string& merges,
                    const std::string& specials = "") {
  fs::remove(dir.str("special_tokens.json"));
  write_file_atomic(dir.str("vocab.json"), vocab);
  write_file_atomic(dir.str("merges.txt"), merges);
  if (!specials.empty()) write_file_atomic(dir.str("special_tokens.json"), specials);
  return Tokenizer::load(dir.str());
}

}  // namespace

TEST_SUITE("gpt") {

TEST_CASE("pre-tokens follow GPT-2's pattern") {
  using Pieces = std::vector<std::string_view>;
  CHECK(pretokenize("Hello world") == Pieces{"Hello", " world"});
  CHECK(pretokenize("a   b") == Pieces{"a", "  ", " b"});
  CHECK(pretokenize("it's") == Pieces{"it", "'s"});
  CHECK(pretokenize("IT'S") == Pieces{"IT", "'", "S"});
  CHECK(pretokenize("x\n\ny") == Pieces{"x", "\n", "\n", "y"});
  CHECK(pretokenize("end  ") == Pieces{"end", "  "});
  CHECK(pretokenize(" 42x!!") == Pieces{" 42", "x", "!!"});
  CHECK(pretokenize("a\r\nb") == Pieces{"a", "\r", "\n", "b"});
  CHECK(pretokenize("über 日本語 ") == Pieces{"über", " 日本語", " "});
  CHECK(pretokenize("😀😀 ok?") == Pieces{"😀😀", " ok", "?"});
  CHECK(pretokenize("a\u180e b") == Pieces{"a", "\u180e", " b"});  // U+180E is not white space
  CHECK(pretokenize("").empty());
  // Long runs, one piece each (no backtracking blow-up, no JIT stack overflow).
  std::string spaces(100000, ' ');
  CHECK(pretokenize(spaces + "x") == Pieces{std::string_view(spaces).substr(1), " x"});
  std::string letters(100000, 'q');
  CHECK(pretokenize(letters).size() == 1);
}

TEST_CASE("GPT-2's files encode every reference text exactly as tiktoken does" *
          doctest::skip(!gpt2_files_present())) {
  const Tokenizer& tok = gpt2();
  CHECK(tok.vocab_size() == 50260);
  CHECK(tok.merges().size() == 50000);
  CHECK(tok.special("<|endoftext|>") == 50256);  // GPT-2's own id
  CHECK(tok.special("<|start|>") == 50257);      // the fine-tuning tokens come next
  CHECK(tok.special("<|delim|>") == 50258);
  CHECK(tok.special("<|extract|>") == 50259);
  REQUIRE(reference_cases().size() >= 30);
  size_t total_ids = 0;
  for (const ReferenceCase& c : reference_cases()) {
    INFO("reference text \"" << c.name << "\"");
    CHECK(tok.encode(c.text) == c.ids);
    CHECK(tok.decode(c.ids) == c.text);
    total_ids += c.ids.size();
  }
  CHECK(total_ids > 20000);
}

TEST_CASE("encode equals GPT-2's merge loop done literally" *
          doctest::skip(!gpt2_files_present())) {
  const Tokenizer& tok = gpt2();
  std::mt19937 rng(7);
  for (int i = 0; i < 20; ++i) {
    std::string text = random_text(rng, 300);
    CHECK(tok.encode(text) == tok.encode_plain(text));
  }
  // One long pre-token each: random letters, runs of one letter and of '=', "abab...".
  std::string letters;
  for (int i = 0; i < 3000; ++i) letters += "etaoinshrdlu"[rng() % 12];
  std::string abab;
  for (int i = 0; i < 2000; ++i) abab += "ab";
  for (const std::string& text : {letters, std::string(5000, 'a'), std::string(4097, '='), abab}) {
    CHECK(tok.encode(text) == tok.encode_plain(text));
  }
  CHECK(tok.decode(tok.encode(std::string(200000, 'x'))) == std::string(200000, 'x'));
}

TEST_CASE("decode(encode(text)) == text" *
          doctest::skip(!gpt2_files_present())) {
  std::mt19937 rng(11);
  const Tokenizer trained = Tokenizer::train(word_corpus(1, 3000), 400);
  for (const Tokenizer* tok : {&gpt2(), &trained}) {
    for (const ReferenceCase& c : reference_cases()) {
      INFO(c.name);
      CHECK(tok->decode(tok->encode(c.text)) == c.text);
    }
    for (int i = 0; i < 50; ++i) {
      std::string text = random_text(rng, 1 + rng() % 400);
      std::vector<int32_t> ids = tok->encode(text);
      CHECK(tok->decode(ids) == text);
      CHECK(ids.size() <= text.size());
    }
    std::string nul("a\0b\0\0 c", 7);
    CHECK(tok->decode(tok->encode(nul)) == nul);
  }
}

TEST_CASE("special tokens are never produced from text, and decode to their names" *
          doctest::skip(!gpt2_files_present())) {
  const Tokenizer trained = Tokenizer::train(word_corpus(2, 2000) + " <|endoftext|><|start|> <|delim|> <|extract|>", 300);
  CHECK(trained.vocab_size() == 300);
  CHECK(trained.special("<|endoftext|>") == 296);
  CHECK(trained.special("<|extract|>") == 299);
  for (const Tokenizer* tok : {&gpt2(), &trained}) {
    std::string text = "<|endoftext|> <|start|>x<|delim|>y<|extract|>\n<|endoftext|>";
    std::vector<int32_t> ids = tok->encode(text + reference_text("special_lookalikes"));
    for (std::string_view name : kSpecialTokens) {
      int32_t id = tok->special(name);
      CHECK(tok->is_special(id));
      CHECK(std::find(ids.begin(), ids.end(), id) == ids.end());
      CHECK(tok->decode(std::vector<int32_t>{id}) == name);
      CHECK(tok->token(id) == name);
    }
    CHECK(tok->decode(ids) == text + reference_text("special_lookalikes"));
    CHECK_FALSE(tok->is_special(0));
    std::vector<int32_t> doc = tok->encode("one");
    doc.push_back(tok->special("<|endoftext|>"));
    CHECK(tok->decode(doc) == "one<|endoftext|>");
    CHECK_THROWS_WITH_AS(tok->special("<|pad|>"), doctest::Contains("unknown special token \"<|pad|>\""), Error);
  }
}

TEST_CASE("training matches the naive trainer and is deterministic") {
  std::string corpus = word_corpus(3, 4000);
  TrainStats stats;
  Tokenizer a = Tokenizer::train(corpus, 360, &stats);
  Tokenizer b = Tokenizer::train(corpus, 360);
  std::vector<BpeMerge> expected = naive_train(corpus, 360);
  REQUIRE(a.merges().size() == expected.size());
  REQUIRE(b.merges().size() == expected.size());
  for (size_t r = 0; r < expected.size(); ++r) {
    INFO("merge " << r);
    CHECK(a.merges()[r].left == expected[r].left);
    CHECK(a.merges()[r].right == expected[r].right);
    CHECK(a.merges()[r].result == 256 + int32_t(r));
    CHECK(b.merges()[r].left == expected[r].left);
    CHECK(b.merges()[r].right == expected[r].right);
    CHECK(a.token(256 + int32_t(r)) == a.token(expected[r].left) + a.token(expected[r].right));
  }
  CHECK(a.vocab_size() == 360);
  CHECK(a.token('A') == "A");  // byte tokens are the byte values
  CHECK(stats.bytes == int64_t(corpus.size()));
  CHECK(stats.pretokens == int64_t(pretokenize(corpus).size()));
  CHECK(stats.distinct_pretokens > 30);
  CHECK(stats.merges == 360 - 260);
  CHECK(stats.mb_per_second() > 0);
  std::mt19937 rng(5);
  for (int i = 0; i < 10; ++i) {
    std::string text = word_corpus(100 + i, 50) + random_text(rng, 100);
    CHECK(a.encode(text) == a.encode_plain(text));
    CHECK(a.encode(text) == b.encode(text));
  }
  CHECK(a.encode("the tokenizer merges").size() < 8);  // its words became few tokens
}

TEST_CASE("training: the worked example, early stop, and the smallest vocabulary") {
  // Sennrich et al.'s example as GPT-2 pre-tokens: "low", " low" x4, " lower" x2, " newest" x6,
  // " widest" x3. (e,s) and (s,t) both count 9; ties go to the smaller ids, so 'e' 's' first.
  std::string corpus = "low low low low low lower lower newest newest newest newest newest newest widest widest widest";
  Tokenizer tok = Tokenizer::train(corpus, 264);
  REQUIRE(tok.merges().size() == 4);
  auto merge_text = [&](int r) { return tok.token(tok.merges()[r].left) + "+" + tok.token(tok.merges()[r].right); };
  CHECK(merge_text(0) == "e+s");
  CHECK(merge_text(1) == "es+t");
  CHECK(merge_text(2) == "l+o");   // 7, tied with (o, w): 'l' < 'o'
  CHECK(merge_text(3) == "lo+w");
  // A corpus that runs out of pairs stops early, with a smaller vocabulary.
  Tokenizer small = Tokenizer::train("ab ab", 1000);
  CHECK(small.merges().size() == 2);  // "ab", then " ab"
  CHECK(small.vocab_size() == 262);
  CHECK(small.special("<|endoftext|>") == 258);
  CHECK(small.encode("ab ab") == std::vector<int32_t>{256, 257});
  CHECK(Tokenizer::train("", 300).vocab_size() == 260);
  CHECK(Tokenizer::train("hello", 260).merges().empty());
  CHECK_THROWS_WITH_AS(Tokenizer::train("hello", 259),
                       doctest::Contains("vocab_size 259 is too small: the 256 byte tokens and the 4 special tokens need 260"),
                       Error);
}

TEST_CASE("a trained tokenizer saves and loads with identical encodings") {
  TempDir dir("tokenizer_roundtrip");
  Tokenizer tok = Tokenizer::train(word_corpus(4, 3000), 380);
  tok.save(dir.str("tok"));
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir.str("tok"))) files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"merges.txt", "special_tokens.json", "tokenizer_config.json",
                                          "vocab.json"});  // no temporary left
  CHECK(parse_json_strict(read_file(dir.str("tok/tokenizer_config.json")), "tokenizer_config.json") ==
        Json{{"tokenizer_class", "GPT2Tokenizer"}});  // for transformers' AutoTokenizer
  Tokenizer loaded = Tokenizer::load(dir.str("tok"));
  CHECK(loaded.vocab_size() == tok.vocab_size());
  REQUIRE(loaded.merges().size() == tok.merges().size());
  for (size_t r = 0; r < tok.merges().size(); ++r) {
    CHECK(loaded.merges()[r].left == tok.merges()[r].left);
    CHECK(loaded.merges()[r].right == tok.merges()[r].right);
    CHECK(loaded.merges()[r].result == tok.merges()[r].result);
  }
  for (std::string_view name : kSpecialTokens) CHECK(loaded.special(name) == tok.special(name));
  std::mt19937 rng(9);
  for (int i = 0; i < 20; ++i) {
    std::string text = word_corpus(200 + i, 40) + random_text(rng, 60);
    CHECK(loaded.encode(text) == tok.encode(text));
  }
  // The files: GPT-2's printable bytes in vocab.json, rank order in merges.txt.
  Json vocab = parse_json_strict(read_file(dir.str("tok/vocab.json")), "vocab.json");
  CHECK(vocab.size() == 380);
  CHECK(vocab["\u0120"] == 32);  // 'Ġ' is the space byte
  CHECK(vocab["\u010a"] == 10);  // 'Ċ' is '\n'
  CHECK(vocab["<|extract|>"] == 379);
  std::string merges = read_file(dir.str("tok/merges.txt"));
  CHECK(merges.substr(0, 14) == "#version: 0.2\n");
  CHECK(std::count(merges.begin(), merges.end(), '\n') == 1 + 380 - 260);
  Json specials = parse_json_strict(read_file(dir.str("tok/special_tokens.json")), "special_tokens.json");
  CHECK(specials == Json::parse(R"({"<|endoftext|>": 376, "<|start|>": 377, "<|delim|>": 378, "<|extract|>": 379})"));
}

TEST_CASE("GPT-2's files save as themselves, plus the fine-tuning tokens" *
          doctest::skip(!gpt2_files_present())) {
  TempDir dir("tokenizer_gpt2");
  gpt2().save(dir.str());
  CHECK(read_file(dir.str("merges.txt")) == read_file(kGpt2Dir + "vocab.bpe"));  // byte for byte
  Json saved = parse_json_strict(read_file(dir.str("vocab.json")), "vocab.json");
  Json original = parse_json_strict(read_file(kGpt2Dir + "encoder.json"), "encoder.json");
  CHECK(saved.size() == original.size() + 3);
  bool same = true;
  for (auto& [key, value] : original.items()) same = same && saved.contains(key) && saved[key] == value;
  CHECK(same);
  CHECK(saved["<|delim|>"] == 50258);
  Tokenizer loaded = Tokenizer::load(dir.str());
  CHECK(loaded.vocab_size() == 50260);
  CHECK(loaded.special("<|extract|>") == 50259);
  CHECK(loaded.encode(reference_text("long_mixed")) == gpt2().encode(reference_text("long_mixed")));
}

TEST_CASE("a hand-written tokenizer loads, with or without special_tokens.json") {
  TempDir dir("tokenizer_tiny");
  Tokenizer tok = load_tiny(dir, tiny_vocab(), kTinyMerges);
  CHECK(tok.vocab_size() == 262);
  CHECK(tok.encode("abc ab") == std::vector<int32_t>{257, ' ', 256});
  CHECK(tok.special("<|endoftext|>") == 258);
  CHECK(tok.special("<|extract|>") == 261);
  Tokenizer with = load_tiny(dir, tiny_vocab(R"("ab": 256, "abc": 257, )" + kTinySpecials), kTinyMerges,
                             "{" + kTinySpecials + "}");
  CHECK(with.vocab_size() == 262);
  CHECK(with.special("<|delim|>") == 260);
  CHECK(with.encode("<|delim|>") == std::vector<int32_t>{'<', '|', 'd', 'e', 'l', 'i', 'm', '|', '>'});
  Tokenizer eot_only = load_tiny(dir, tiny_vocab(R"("<|endoftext|>": 256, "ab": 257, "abc": 258)"), kTinyMerges);
  CHECK(eot_only.special("<|endoftext|>") == 256);
  CHECK(eot_only.special("<|start|>") == 259);
  CHECK(eot_only.encode("abc") == std::vector<int32_t>{258});
}

TEST_CASE("merges run in GPT-2's rounds even when a lower rank needs a token made later") {
  // Rank 0 merges "ab"+"a", but "ab" only exists after rank 1. GPT-2 replaces every "a b" of
  // the round first: "abab" -> [ab, ab]. Merging "ab a" as soon as it appears would give
  // [aba, b]. (Trained merges never do this: a token's merges rank after the one that made it.)
  TempDir dir("tokenizer_rounds");
  Tokenizer tok = load_tiny(dir, tiny_vocab(R"("ab": 256, "aba": 257)"), "#version: 0.2\nab a\na b\n");
  CHECK(tok.encode("abab") == std::vector<int32_t>{256, 256});
  CHECK(tok.encode("aba") == std::vector<int32_t>{257});
  CHECK(tok.encode("ababa") == std::vector<int32_t>{256, 257});  // round "a b": ab ab a; then "ab a"
  for (const char* text : {"abab", "aba", "ababa", "aababab abba"}) CHECK(tok.encode(text) == tok.encode_plain(text));
}

TEST_CASE("malformed vocab.json is refused, naming the problem") {
  TempDir dir("tokenizer_bad_vocab");
  auto load_vocab = [&](const std::string& vocab) { return load_tiny(dir, vocab, kTinyMerges); };
  CHECK_THROWS_WITH_AS(load_vocab("[1, 2]"),
                       doctest::Contains("vocab.json: expected an object mapping token strings to ids, found an array"), Error);
  CHECK_THROWS_WITH_AS(load_vocab("{\"a\": 1"), doctest::Contains("vocab.json: invalid JSON"), Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": 256.0, "abc": 257)")),
                       doctest::Contains("token \"ab\": expected an integer id, found the float 256.0"), Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": "256", "abc": 257)")),
                       doctest::Contains("token \"ab\": expected an integer id, found a string"), Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": 256, "abc": 256)")),
                       doctest::Contains("the id 256 is given to both \"ab\" and \"abc\""), Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": 256, "abc": 300)")),
                       doctest::Contains("token \"abc\" has the id 300; expected ids 0..257"), Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": -1, "abc": 257)")), doctest::Contains("has the id -1"), Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": 256, "ab": 257)")), doctest::Contains("duplicate key \"ab\""), Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": 256, "abc": 257)", 'q')),
                       doctest::Contains("no token for the byte 0x71 (written \"q\")"), Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": 256, "a€": 257)")),
                       doctest::Contains("character U+20AC at byte 1 of \"a€\" is not in GPT-2's bytes-to-unicode table"),
                       Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": 256, "": 257)")),
                       doctest::Contains("the id 257 has an empty token string"), Error);
  fs::remove(dir.str("vocab.json"));
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str()), doctest::Contains("vocab.json"), Error);
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str("nowhere")), doctest::Contains("is not a directory"), Error);
}

TEST_CASE("malformed merges.txt is refused, naming the line") {
  TempDir dir("tokenizer_bad_merges");
  auto load_merges = [&](const std::string& merges) { return load_tiny(dir, tiny_vocab(), merges); };
  CHECK_THROWS_WITH_AS(load_merges("a b\nab c\n"),
                       doctest::Contains("merges.txt: line 1: expected \"#version: 0.2\", found \"a b\""), Error);
  CHECK_THROWS_WITH_AS(load_merges(""), doctest::Contains("merges.txt: the file is empty"), Error);
  CHECK_THROWS_WITH_AS(load_merges("#version: 0.2\na b c\n"),
                       doctest::Contains("line 2: expected two tokens separated by one space, found \"a b c\""), Error);
  CHECK_THROWS_WITH_AS(load_merges("#version: 0.2\na b\nabc\n"), doctest::Contains("line 3: expected two tokens"), Error);
  CHECK_THROWS_WITH_AS(load_merges("#version: 0.2\n\na b\n"), doctest::Contains("line 2: expected two tokens"), Error);
  CHECK_THROWS_WITH_AS(load_merges("#version: 0.2\na  b\n"), doctest::Contains("line 2: expected two tokens"), Error);
  CHECK_THROWS_WITH_AS(load_merges("#version: 0.2\na b\r\n"), doctest::Contains("line 2: \"b\\x0d\" is not a token"), Error);
  CHECK_THROWS_WITH_AS(load_merges("#version: 0.2\na b\nxy c\n"),
                       doctest::Contains("line 3: \"xy\" is not a token of"), Error);
  CHECK_THROWS_WITH_AS(load_merges("#version: 0.2\na c\n"),
                       doctest::Contains("line 2: the merge result \"ac\" is not a token of"), Error);
  CHECK_THROWS_WITH_AS(load_merges("#version: 0.2\na b\nab c\na b\n"),
                       doctest::Contains("line 4: the merge \"a b\" repeats line 2"), Error);
  CHECK_THROWS_WITH_AS(load_tiny(dir, tiny_vocab(R"("ab": 256, "abc": 257, "<|endoftext|>": 258)"),
                                 "#version: 0.2\n<|endoftext|> a\n"),
                       doctest::Contains("line 2: \"<|endoftext|>\" is not a token"), Error);
  CHECK(load_merges("#version: 0.2\na b").merges().size() == 1);  // no final newline is fine
}

TEST_CASE("malformed special_tokens.json is refused") {
  TempDir dir("tokenizer_bad_specials");
  const std::string vocab = tiny_vocab(R"("ab": 256, "abc": 257, )" + kTinySpecials);
  auto load_specials = [&](const std::string& specials) { return load_tiny(dir, vocab, kTinyMerges, specials); };
  CHECK_THROWS_WITH_AS(load_specials("{" + kTinySpecials + R"(, "<|pad|>": 3})"),
                       doctest::Contains("special_tokens.json: unknown special token \"<|pad|>\""), Error);
  CHECK_THROWS_WITH_AS(load_specials(R"({"<|endoftext|>": 258, "<|start|>": 259, "<|delim|>": 260})"),
                       doctest::Contains("missing key \"<|extract|>\""), Error);
  CHECK_THROWS_WITH_AS(load_specials(R"({"<|endoftext|>": 258, "<|start|>": 259, "<|delim|>": 261, "<|extract|>": 260})"),
                       doctest::Contains("<|delim|> has the id 261 but"), Error);
  CHECK_THROWS_WITH_AS(load_specials("[]"), doctest::Contains("expected an object mapping special token names"), Error);
  CHECK_THROWS_WITH_AS(load_tiny(dir, tiny_vocab(), kTinyMerges, "{" + kTinySpecials + "}"),
                       doctest::Contains("has no entry \"<|endoftext|>\""), Error);
}

TEST_CASE("encode and train refuse invalid UTF-8, naming the byte offset") {
  const Tokenizer tok = Tokenizer::train("ok", 260);
  struct Bad {
    std::string text, message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"ok\xff", "invalid UTF-8 at byte 2: 0xff never occurs in UTF-8"},
           {"abc\x80", "invalid UTF-8 at byte 3: 0x80 is a continuation byte with no lead byte before it"},
           {"ab\xe6\x97", "invalid UTF-8 at byte 2: 0xe6 starts a 3-byte character but the text ends after 2 byte(s)"},
           {"\xc3(", "invalid UTF-8 at byte 0: 0xc3 starts a 2-byte character but byte 2 of it is 0x28"},
           {"xy\xc0\xaf", "invalid UTF-8 at byte 2: 0xc0 never occurs"},
           {"\xe0\x80\xaf", "invalid UTF-8 at byte 0: overlong encoding of U+002F"},
           {"a\xed\xa0\x80", "invalid UTF-8 at byte 1: U+D800 is a surrogate"},
           {"\xf4\x90\x80\x80", "invalid UTF-8 at byte 0: U+110000 is beyond U+10FFFF"},
       }) {
    CHECK_THROWS_WITH_AS(tok.encode(bad.text), doctest::Contains(("Tokenizer::encode: " + bad.message).c_str()), Error);
    CHECK_THROWS_WITH_AS(Tokenizer::train(bad.text, 300), doctest::Contains(("Tokenizer::train: " + bad.message).c_str()), Error);
  }
}

TEST_CASE("decode refuses unknown ids, naming the id and its position") {
  const Tokenizer tok = Tokenizer::train("ok", 260);
  CHECK_THROWS_WITH_AS(tok.decode(std::vector<int32_t>{104, 105, 260}),
                       doctest::Contains("Tokenizer::decode: unknown id 260 at position 2; the vocabulary has ids 0..259"),
                       Error);
  CHECK_THROWS_WITH_AS(tok.decode(std::vector<int32_t>{-1}), doctest::Contains("unknown id -1 at position 0"), Error);
  CHECK_THROWS_WITH_AS(tok.token(5000), doctest::Contains("unknown id 5000"), Error);
  CHECK(tok.decode(std::vector<int32_t>{}).empty());
  // Ids may end inside a character: decode gives the bytes as they are.
  CHECK(tok.decode(std::vector<int32_t>{0xE6}) == "\xe6");
}

TEST_CASE("encode is safe from several threads at once" *
          doctest::skip(!gpt2_files_present())) {
  const Tokenizer tok = gpt2();  // a copy shares the cache
  const ReferenceCase* long_case = nullptr;
  for (const ReferenceCase& c : reference_cases()) {
    if (c.name == "long_mixed") long_case = &c;
  }
  REQUIRE(long_case != nullptr);
  std::vector<int> same(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] { same[t] = tok.encode(long_case->text) == long_case->ids; });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(same == std::vector<int>{1, 1, 1, 1});
}

}  // TEST_SUITE("gpt")

// ---- issue 13: both namings of the files, and malformed files never crash ----

TEST_SUITE("gpt") {

TEST_CASE("a tokenizer directory may use OpenAI's names, encoder.json + vocab.bpe") {
  TempDir dir("tokenizer_namings");
  // OpenAI's naming alone: loads, the same tokenizer as the kiso naming of the same files.
  write_file_atomic(dir.str("encoder.json"), tiny_vocab());
  write_file_atomic(dir.str("vocab.bpe"), kTinyMerges);
  Tokenizer openai = Tokenizer::load(dir.str());
  CHECK(openai.merges().size() == 2);
  CHECK(openai.encode("abc") == std::vector<int32_t>{257});
  // Both namings: vocab.json + merges.txt is preferred (here with one merge, to tell them apart).
  write_file_atomic(dir.str("vocab.json"), tiny_vocab());
  write_file_atomic(dir.str("merges.txt"), "#version: 0.2\na b\n");
  CHECK(Tokenizer::load(dir.str()).merges().size() == 1);
  // Half a pair of one naming and nothing of the other: the missing half is named.
  fs::remove(dir.str("merges.txt"));
  fs::remove(dir.str("vocab.bpe"));
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str()),
                       doctest::Contains("vocab.json is there but merges.txt is not; a tokenizer directory holds "
                                         "vocab.json + merges.txt, or encoder.json + vocab.bpe"),
                       Error);
  // Neither: both namings are listed.
  fs::remove(dir.str("vocab.json"));
  fs::remove(dir.str("encoder.json"));
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str()),
                       doctest::Contains("holds no tokenizer: expected vocab.json + merges.txt, or encoder.json + "
                                         "vocab.bpe (OpenAI's GPT-2 naming)"),
                       Error);
}

TEST_CASE("OpenAI's GPT-2 directory loads by its name alone" * doctest::skip(!gpt2_files_present())) {
  Tokenizer by_dir = Tokenizer::load(kGpt2Dir);
  CHECK(by_dir.vocab_size() == gpt2().vocab_size());
  CHECK(by_dir.encode("Hello, world! Ġ\n") == gpt2().encode("Hello, world! Ġ\n"));
}

TEST_CASE("malformed tokenizer files are errors naming the file and the entry, never a crash") {
  TempDir dir("tokenizer_malformed");
  auto load_vocab = [&](const std::string& vocab) { return load_tiny(dir, vocab, kTinyMerges); };
  // ids above int64, above uint32, and the largest uint64: refused by value, not wrapped
  for (const char* id : {"18446744073709551615", "9223372036854775808", "4294967552", "2147483648"}) {
    CAPTURE(id);
    CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(fmt::format(R"("ab": 256, "abc": {})", id))),
                         doctest::Contains(fmt::format("token \"abc\" has the id {}; expected ids 0..257", id).c_str()),
                         Error);
  }
  // an id given twice, a value that is an object or null
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": 256, "abc": 97)")),
                       doctest::Contains("vocab.json: the id 97 is given to both"), Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": 256, "abc": {"id": 257})")),
                       doctest::Contains("token \"abc\": expected an integer id, found an object"), Error);
  CHECK_THROWS_WITH_AS(load_vocab(tiny_vocab(R"("ab": 256, "abc": null)")),
                       doctest::Contains("token \"abc\": expected an integer id, found null"), Error);
  CHECK_THROWS_WITH_AS(load_vocab("{}"), doctest::Contains("vocab.json: no token for the byte 0x00"), Error);
  CHECK_THROWS_WITH_AS(load_vocab("\"vocab\""), doctest::Contains("expected an object mapping token strings to ids"),
                       Error);
  // merges naming tokens vocab.json lacks, a merge of invalid UTF-8
  auto load_merges = [&](const std::string& merges) { return load_tiny(dir, tiny_vocab(), merges); };
  CHECK_THROWS_WITH_AS(load_merges("#version: 0.2\na b\nzz q\n"), doctest::Contains("merges.txt: line 3: \"zz\" is not a token"),
                       Error);
  CHECK_THROWS_WITH_AS(load_merges("#version: 0.2\na \xff\n"),
                       doctest::Contains("merges.txt: line 2: invalid UTF-8 at byte 2"), Error);
  // special_tokens.json with ids above int32 or naming nothing in vocab.json
  const std::string vocab = tiny_vocab(R"("ab": 256, "abc": 257, )" + kTinySpecials);
  CHECK_THROWS_WITH_AS(load_tiny(dir, vocab, kTinyMerges,
                                 R"({"<|endoftext|>": 18446744073709551615, "<|start|>": 259, "<|delim|>": 260, "<|extract|>": 261})"),
                       doctest::Contains("special_tokens.json: key \"<|endoftext|>\": the integer 18446744073709551615 does "
                                         "not fit in int64"),
                       Error);
  CHECK_THROWS_WITH_AS(load_tiny(dir, vocab, kTinyMerges,
                                 R"({"<|endoftext|>": 4294967554, "<|start|>": 259, "<|delim|>": 260, "<|extract|>": 261})"),
                       doctest::Contains("<|endoftext|> has the id 4294967554 but"), Error);
}

}  // TEST_SUITE

TEST_SUITE("gpt") {

TEST_CASE("Tokenizer::from_text reads the files' contents from memory as load reads the files") {
  TempDir dir("tokenizer_from_text");
  const std::string vocab = tiny_vocab(R"("ab": 256, "abc": 257, )" + kTinySpecials);
  const std::string specials = "{" + kTinySpecials + "}";
  Tokenizer from_files = load_tiny(dir, vocab, kTinyMerges, specials);
  Tokenizer from_memory = Tokenizer::from_text(vocab, kTinyMerges, specials);
  CHECK(from_memory.vocab_size() == from_files.vocab_size());
  CHECK(from_memory.encode("abcab ca") == from_files.encode("abcab ca"));
  CHECK(from_memory.special("<|extract|>") == 261);
  // errors name what the caller calls the texts
  CHECK_THROWS_WITH_AS(Tokenizer::from_text(vocab, "#version: 0.2\nq\n", std::nullopt, {"v", "m.txt", "s"}),
                       doctest::Contains("m.txt: line 2: expected two tokens"), Error);
}

}  // TEST_SUITE
