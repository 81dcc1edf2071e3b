// tests/fuzz/fuzz_tokenizer_load.cpp — libFuzzer target: loading a tokenizer from arbitrary
// files (gpt/tokenizer.h Tokenizer::from_text, the checks of Tokenizer::load on the files'
// contents in memory).
//
// Feeds: the input split at each line "----8<----" into vocab.json, merges.txt and, when there
// is a third part, special_tokens.json (a separator line keeps the seed files readable and
// survives most mutations), given to Tokenizer::from_text (load() is read_file + from_text).
// Asserts: no crash, no sanitizer report, no hang, only kiso::Error escapes (tests/fuzz/fuzz.h);
// and a tokenizer that loads is usable (no Error at all from here on): a fixed mixed-script
// text encodes, decodes back to itself (a GPT-1 vocabulary, with "</w>" word ends: encodes as
// encode_plain does, when it has "<unk>"), every special token has an id inside the vocabulary,
// and what save() would write (to_text) loads again as the same vocabulary, merges and
// special ids.
// Seeds: tests/fuzz/corpus/tokenizer_load (a small tokenizer saved by kiso, GPT-2-style files
// without special_tokens.json, and broken ones: ids out of range or repeated, merges whose
// parts are not tokens, bad UTF-8, a missing "#version" line; GPT-1-style files with and without <unk>).
#include <optional>

#include "gpt/tokenizer.h"
#include "tests/fuzz/fuzz.h"

using namespace kiso;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::set_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* target = "fuzz_tokenizer_load";
  static const std::string_view separator = "\n----8<----\n";
  std::string_view input = fuzz::as_view(data, size);
  std::vector<std::string_view> parts;
  for (size_t at; parts.size() < 2 && (at = input.find(separator)) != std::string_view::npos;) {
    parts.push_back(input.substr(0, at));
    input.remove_prefix(at + separator.size());
  }
  parts.push_back(input);
  if (parts.size() < 2) return 0;  // needs at least vocab.json and merges.txt

  std::optional<Tokenizer> loaded;
  fuzz::expect_only_kiso_errors(target, [&] {
    std::optional<std::string_view> specials;
    if (parts.size() == 3) specials = parts[2];
    loaded.emplace(Tokenizer::from_text(parts[0], parts[1], specials));
  });
  if (!loaded) return 0;
  // From here on the tokenizer was accepted, so an Error is a finding too (e.g. what to_text
  // writes failing to load again).
  const Tokenizer& tok = *loaded;
  fuzz::expect_no_error(target, "using or re-reading an accepted tokenizer", [&] {
    for (std::string_view name : kSpecialTokens) {
      int32_t id = tok.special(name);
      fuzz::require(id >= 0 && id < tok.vocab_size() && tok.is_special(id), target,
                    "every special token has an id inside the vocabulary");
    }
    const std::string text = "Hello, world! It's 1,234 naïve Ελληνικά 日本語 😀  \n\tend";
    if (tok.kind() == TokenizerKind::byte_level)
      fuzz::require(tok.decode(tok.encode(text)) == text, target, "decode(encode(x)) == x on a loaded tokenizer");
    else if (tok.unknown_id() >= 0)  // GPT-1: lowercased and split, so no round trip; but with <unk> any text encodes
      fuzz::require(tok.encode(text) == tok.encode_plain(text), target, "GPT-1: encode == encode_plain");

    const std::array<std::string, 3> saved = tok.to_text();
    Tokenizer again = Tokenizer::from_text(saved[0], saved[1], saved[2],
                                           {"vocab.json (saved)", "merges.txt (saved)", "special_tokens.json (saved)"});
    bool same = again.vocab_size() == tok.vocab_size() && again.merges().size() == tok.merges().size();
    for (int32_t id = 0; same && id < tok.vocab_size(); ++id) same = again.token(id) == tok.token(id);
    for (size_t r = 0; same && r < tok.merges().size(); ++r)
      same = again.merges()[r].left == tok.merges()[r].left && again.merges()[r].right == tok.merges()[r].right &&
             again.merges()[r].result == tok.merges()[r].result;
    for (std::string_view name : kSpecialTokens) same = same && again.special(name) == tok.special(name);
    fuzz::require(same, target, "to_text() loads again as the same tokens, merges and special ids");
  });
  return 0;
}
