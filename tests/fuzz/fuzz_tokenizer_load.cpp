// tests/fuzz/fuzz_tokenizer_load.cpp — libFuzzer target: loading a tokenizer directory from
// arbitrary files (gpt/tokenizer.h Tokenizer::load).
//
// Feeds: the input split at each line "----8<----" into vocab.json, merges.txt and, when there
// is a third part, special_tokens.json (a separator line keeps the seed files readable and
// survives most mutations), written to a scratch directory in /dev/shm (load takes a path),
// then Tokenizer::load(dir).
// Asserts: no crash, no sanitizer report, no hang, only kiso::Error escapes (tests/fuzz/fuzz.h);
// and a tokenizer that loads is usable: a fixed mixed-script text encodes, decodes back to
// itself, every special token has an id inside the vocabulary, and save() then load() gives
// the same vocabulary and merges.
// Seeds: tests/fuzz/corpus/tokenizer_load (a small tokenizer saved by kiso, GPT-2-style files
// without special_tokens.json, and broken ones: ids out of range or repeated, merges whose
// parts are not tokens, bad UTF-8, a missing "#version" line).
#include <filesystem>

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

  std::filesystem::path dir = fuzz::scratch_dir() / "tokenizer";
  std::filesystem::create_directories(dir);
  std::filesystem::remove(dir / "special_tokens.json");
  fuzz::write_scratch("tokenizer/vocab.json", parts[0]);
  fuzz::write_scratch("tokenizer/merges.txt", parts[1]);
  if (parts.size() == 3) fuzz::write_scratch("tokenizer/special_tokens.json", parts[2]);

  fuzz::expect_only_kiso_errors(target, [&] {
    Tokenizer tok = Tokenizer::load(dir.string());
    for (std::string_view name : kSpecialTokens) {
      int32_t id = tok.special(name);
      fuzz::require(id >= 0 && id < tok.vocab_size() && tok.is_special(id), target,
                    "every special token has an id inside the vocabulary");
    }
    const std::string text = "Hello, world! It's 1,234 naïve Ελληνικά 日本語 😀  \n\tend";
    fuzz::require(tok.decode(tok.encode(text)) == text, target, "decode(encode(x)) == x on a loaded tokenizer");

    std::filesystem::path saved = fuzz::scratch_dir() / "saved";
    tok.save(saved.string());
    Tokenizer again = Tokenizer::load(saved.string());
    bool same = again.vocab_size() == tok.vocab_size() && again.merges().size() == tok.merges().size();
    for (int32_t id = 0; same && id < tok.vocab_size(); ++id) same = again.token(id) == tok.token(id);
    for (size_t r = 0; same && r < tok.merges().size(); ++r)
      same = again.merges()[r].left == tok.merges()[r].left && again.merges()[r].right == tok.merges()[r].right &&
             again.merges()[r].result == tok.merges()[r].result;
    fuzz::require(same, target, "save() then load() gives the same tokens and merges");
  });
  return 0;
}
