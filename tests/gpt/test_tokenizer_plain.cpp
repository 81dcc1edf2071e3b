// tests/gpt/test_tokenizer_plain.cpp — the fast BPE merge loop (Tokenizer::encode, a heap)
// against the plain one (Tokenizer::encode_plain, GPT-2's encoder.py loop done literally).
// Oracles: encode_plain for encode, on many inputs; hand-worked merges for encode_plain itself,
// so that the oracle is checked too (left-to-right replacement, no overlap, lowest rank first).
// Not here: GPT-2 exactness against tiktoken, files, training (tests/gpt/test_tokenizer.cpp).
#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "gpt/tokenizer.h"
#include "tests/gpt/utf8_text.h"

using namespace kiso;
namespace fs = std::filesystem;

using kiso::testing::append_utf8;

namespace {

// Random UTF-8: mostly letters, spaces and punctuation from a small set (so that merges
// apply), some accented, CJK, emoji, control and any-plane characters.
std::string random_utf8(std::mt19937& rng, size_t characters) {
  const std::string ascii = "eeetaoinshrdlu  aaaa  '\n\t.,=<|>0123";
  std::string out;
  for (size_t i = 0; i < characters; ++i) {
    uint32_t kind = rng() % 20, cp;
    if (kind < 14) cp = uint8_t(ascii[rng() % ascii.size()]);
    else if (kind < 16) cp = 0xA0 + rng() % 0x60;
    else if (kind < 17) cp = 0x4E00 + rng() % 0x40;
    else if (kind < 18) cp = 0x1F600 + rng() % 0x40;
    else if (kind < 19) cp = rng() % 0x20;
    else do cp = rng() % 0x110000; while (cp >= 0xD800 && cp <= 0xDFFF);
    append_utf8(out, cp);
  }
  return out;
}

// Random bytes, each written as the character of that code point (U+0000..U+00FF), so that
// every byte value 0x80..0xff appears inside valid UTF-8.
std::string random_bytes_as_utf8(std::mt19937& rng, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) append_utf8(out, rng() % 256);
  return out;
}

// Real text: the project's README, and a tokenizer trained on it (so its merges fit it).
const std::string& readme() {
  static const std::string text = read_file(std::string(KISO_SOURCE_DIR) + "/README.md");
  return text;
}
const Tokenizer& trained() {
  static const Tokenizer tok = Tokenizer::train(readme(), 1000);
  return tok;
}

// encode == encode_plain on `text`; counts the ids and bytes seen, to check that merges happened.
struct Compare {
  const Tokenizer& tok;
  size_t ids = 0, bytes = 0;
  void operator()(const std::string& text) {
    std::vector<int32_t> fast = tok.encode(text), plain = tok.encode_plain(text);
    INFO("text (" << text.size() << " bytes): \"" << text.substr(0, 80) << "\"");
    CHECK(fast == plain);
    ids += plain.size();
    bytes += text.size();
  }
};

// A tokenizer by hand: the 256 byte tokens (id = byte value), then `extra` tokens with ids
// 256.., and merges.txt's lines `merges` (each "left right", in rank order).
Tokenizer hand_made(const std::vector<std::string>& extra, const std::vector<std::string>& merges) {
  std::string vocab = "{";
  for (int b = 0; b < 256; ++b) vocab += Json(bytes_to_unicode(std::string(1, char(b)))).dump() + ": " + std::to_string(b) + ", ";
  for (size_t k = 0; k < extra.size(); ++k) vocab += Json(extra[k]).dump() + ": " + std::to_string(256 + k) + ", ";
  vocab.resize(vocab.size() - 2);
  vocab += "}";
  std::string merges_txt = "#version: 0.2\n";
  for (const std::string& m : merges) merges_txt += m + "\n";
  return Tokenizer::from_text(vocab, merges_txt, std::nullopt);
}

std::vector<int32_t> ids_of(const Tokenizer& tok, std::initializer_list<const char*> tokens) {
  std::vector<int32_t> out;
  for (const char* t : tokens) {
    int32_t found = -1;
    for (int32_t id = 0; id < tok.vocab_size(); ++id)
      if (!tok.is_special(id) && tok.token(id) == t) found = id;
    REQUIRE_MESSAGE(found >= 0, "no token " << t);
    out.push_back(found);
  }
  return out;
}

}  // namespace

TEST_SUITE("gpt") {

TEST_CASE("the plain merge loop follows encoder.py on hand-worked merges") {
  // Merges in rank order: "a a" (0), "aa a" (1), "b c" (2), "a b" (3), "ab c" (4).
  const Tokenizer tok = hand_made({"aa", "aaa", "bc", "ab", "abc"}, {"a a", "aa a", "b c", "a b", "ab c"});
  // Left to right, no overlap: "aaa" is "aa a" after round 0, then "aaa" in round 1.
  CHECK(tok.encode_plain("aaa") == ids_of(tok, {"aaa"}));
  // "aaaaa": round 0 gives aa aa a, round 1 merges the pair (aa, a) at the end: aa aaa.
  CHECK(tok.encode_plain("aaaaa") == ids_of(tok, {"aa", "aaa"}));
  CHECK(tok.encode_plain("aaaa") == ids_of(tok, {"aa", "aa"}));
  // Lowest rank first: "abc" has a b (3) and b c (2); b c wins, leaving a bc (no merge).
  CHECK(tok.encode_plain("abc") == ids_of(tok, {"a", "bc"}));
  // "abab": only a b (3) applies, at both places.
  CHECK(tok.encode_plain("abab") == ids_of(tok, {"ab", "ab"}));
  // Merges never cross pre-tokens: "a a" is "a" and " a".
  CHECK(tok.encode_plain("a a") == ids_of(tok, {"a", " ", "a"}));
  CHECK(tok.encode_plain("").empty());
  for (const char* text : {"aaa", "aaaaa", "aaaa", "abc", "abab", "a a", "aabcaaab abcbc aaaaaaa"})
    CHECK(tok.encode(text) == tok.encode_plain(text));
}

TEST_CASE("encode equals the plain merge loop on a trained tokenizer") {
  const Tokenizer& tok = trained();
  REQUIRE(tok.merges().size() > 500);
  Compare compare{tok};
  // Real text: the README whole, and each of its lines (pre-tokens seen with and without cache).
  compare(readme());
  for (size_t start = 0; start < readme().size();) {
    size_t end = std::min(readme().find('\n', start), readme().size());
    compare(readme().substr(start, end - start));
    start = end + 1;
  }
  std::mt19937 rng(17);
  for (int i = 0; i < 200; ++i) compare(random_utf8(rng, 1 + rng() % 200));
  for (int i = 0; i < 100; ++i) compare(random_bytes_as_utf8(rng, 1 + rng() % 100));
  // Runs of one character (overlapping pairs), of two, and whitespace runs, of every length
  // up to 64 and a few long ones.
  for (size_t n = 1; n <= 64; ++n) {
    for (const char* unit : {"a", "e", "=", "-", " ", "\n", "\t", "ab", "aab", "é", " \n", "\r\n", "日"}) {
      std::string run;
      for (size_t k = 0; k < n; ++k) run += unit;
      compare(run);
      compare("x" + run + "y");
    }
  }
  for (size_t n : {500, 1001}) {
    compare(std::string(n, 'e'));
    compare(std::string(n, ' ') + "end");
  }
  // Text that looks like special tokens is ordinary text for both.
  for (const char* text : {"<|endoftext|>", "a<|endoftext|>b", " <|start|> x <|delim|> y <|extract|>",
                           "<|<|endoftext|>|>", "<||>", "|<|endoftext|>\n\n<|endoftext|>"})
    compare(text);
  // Both merged (a pair of loops that merge nothing would pass the comparisons above); random
  // text merges little, so the bound is loose: here ~0.73 ids per byte, 1.0 with no merges.
  CHECK(compare.ids < compare.bytes * 9 / 10);
}

TEST_CASE("explain shows the plain loop's rounds, ending in encode's ids") {
  // On the hand-made merges: "aaaaa" is a a a a a, then aa aa a (rank 0), then aa aaa (rank 1).
  const Tokenizer hand = hand_made({"aa", "aaa", "bc", "ab", "abc"}, {"a a", "aa a", "b c", "a b", "ab c"});
  std::vector<Tokenizer::PretokenTrace> t = hand.explain("aaaaa");
  REQUIRE(t.size() == 1);
  REQUIRE(t[0].rounds.size() == 3);
  CHECK(t[0].rounds[0].rank == -1);
  CHECK(t[0].rounds[0].symbols == ids_of(hand, {"a", "a", "a", "a", "a"}));
  CHECK(t[0].rounds[1].rank == 0);
  CHECK(t[0].rounds[1].symbols == ids_of(hand, {"aa", "aa", "a"}));
  CHECK(t[0].rounds[2].rank == 1);
  CHECK(t[0].rounds[2].symbols == ids_of(hand, {"aa", "aaa"}));
  // On real text: one trace per pre-token; each round keeps the pre-token's bytes, has fewer
  // symbols and a higher rank than the one before (the lowest rank is merged first, and a
  // merge's result can only take part in later merges); the last rounds are encode()'s ids.
  const Tokenizer& tok = trained();
  std::string text = readme().substr(0, 2000);
  std::vector<int32_t> ids;
  for (const Tokenizer::PretokenTrace& p : tok.explain(text)) {
    int32_t last_rank = -1;
    size_t last_size = p.text.size() + 1;
    for (const Tokenizer::MergeRound& r : p.rounds) {
      CHECK(tok.decode(r.symbols) == p.text);
      CHECK(r.symbols.size() < last_size);
      if (&r != &p.rounds.front()) CHECK(r.rank > last_rank);
      last_rank = r.rank, last_size = r.symbols.size();
    }
    ids.insert(ids.end(), p.rounds.back().symbols.begin(), p.rounds.back().symbols.end());
  }
  CHECK(ids == tok.encode(text));
  CHECK(ids.size() < text.size() / 2);  // it merged (README text: ~0.3 ids a byte at 4096 tokens)
}

TEST_CASE("encode equals the plain merge loop on GPT-2's files" *
          doctest::skip(!fs::exists(std::string(KISO_SOURCE_DIR) + "/../shared/data/gpt2/vocab.bpe"))) {
  const std::string dir = std::string(KISO_SOURCE_DIR) + "/../shared/data/gpt2/";
  const Tokenizer tok = Tokenizer::load(dir + "encoder.json", dir + "vocab.bpe");
  Compare compare{tok};
  compare(readme());
  std::mt19937 rng(23);
  for (int i = 0; i < 100; ++i) compare(random_utf8(rng, 1 + rng() % 200));
  for (size_t n : {1, 2, 3, 7, 16, 33, 300}) {
    compare(std::string(n, 'a'));
    compare(std::string(n, '='));
    compare(std::string(n, ' ') + "x");
  }
  CHECK(compare.ids < compare.bytes * 9 / 10);  // ~0.51 ids per byte; 1.0 with no merges
}

}  // TEST_SUITE
