// tests/fuzz/fuzz_tokenizer_encode.cpp — libFuzzer target: encoding arbitrary bytes with a
// fixed, valid tokenizer (gpt/tokenizer.h encode, decode, pretokenize).
//
// Feeds: the input bytes as text to Tokenizer::encode, with a byte-level BPE of 400 tokens
// trained once at start-up (Tokenizer::train, deterministic) on a small corpus of English,
// digits, punctuation, whitespace runs, accented Latin, Greek, CJK and emoji, so that merges
// fire inside every kind of pre-token the GPT-2 pattern makes.
// Asserts: no crash, no sanitizer report, no hang, only kiso::Error escapes (tests/fuzz/fuzz.h);
// and the tokenizer's contract: encode succeeds exactly when check_utf8 accepts the bytes,
// decode(encode(x)) == x, no special token is ever produced, and the pre-tokens tile the text.
// The same bytes go to a small GPT-1 tokenizer (gpt/gpt1_text.h: ICU normalisation, words, "</w>",
// "<unk>"): it encodes exactly the valid texts, as encode_plain does, into ids of its vocabulary.
// Seeds: tests/fuzz/corpus/tokenizer_encode (texts in several scripts, the GPT-2 reference
// strings of tests/gpt/data, invalid UTF-8: overlong forms, surrogates, truncated characters).
#include "gpt/tokenizer.h"
#include "tests/fuzz/fuzz.h"

using namespace kiso;

namespace {

const Tokenizer& fixed_tokenizer() {
  static const Tokenizer* tok = [] {
    std::string corpus;
    for (int i = 0; i < 20; ++i)
      corpus += "The quick brown fox jumps over the lazy dog. It's 2024; they'll say we've won 1,234 times!\n"
                "  indented\t\ttabs   and    spaces\r\n"
                "Café déjà vu, naïve façade. Ελληνικά γράμματα. 日本語のテキスト。中文文本。 😀🎉👍🏽\n"
                "<|endoftext|> x^2 + y_1 = z[3] {a: 'b'} \"quoted\" -- (parens) ... ???\n";
    return new Tokenizer(Tokenizer::train(corpus, 400));
  }();
  return *tok;
}

// A hand-made GPT-1 vocabulary: <unk>, a few letters and punctuation with and without "</w>", and
// merges that build "the</w>" and "an".
const Tokenizer& gpt1_tokenizer() {
  static const Tokenizer* tok = [] {
    std::vector<std::string> tokens = {"<unk>"};
    for (const char* c : {"a", "e", "h", "n", "s", "t", "é", "σ", "日", ".", ","}) {
      tokens.push_back(c);
      tokens.push_back(std::string(c) + "</w>");
    }
    for (const char* t : {"th", "the</w>", "an", "an</w>"}) tokens.push_back(t);
    std::string vocab = "{";
    for (size_t id = 0; id < tokens.size(); ++id) vocab += (id ? ", \"" : "\"") + tokens[id] + "\": " + std::to_string(id);
    vocab += "}";
    return new Tokenizer(Tokenizer::from_text(vocab, "#version: 0.2\nt h\nth e</w>\na n\na n</w>\n", std::nullopt));
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::set_memory_budget();
  (void)fixed_tokenizer();
  (void)gpt1_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* target = "fuzz_tokenizer_encode";
  const Tokenizer& tok = fixed_tokenizer();
  std::string_view text = fuzz::as_view(data, size);
  bool valid = false;
  fuzz::expect_only_kiso_errors(target, [&] {
    check_utf8(text, "fuzz");
    valid = true;
  });
  bool encoded = false;
  fuzz::expect_only_kiso_errors(target, [&] {
    std::vector<int32_t> ids = tok.encode(text);
    encoded = true;
    for (int32_t id : ids) fuzz::require(!tok.is_special(id), target, "encode never produces a special token");
    fuzz::require(tok.decode(ids) == text, target, "decode(encode(x)) == x");
    std::string joined;
    for (std::string_view piece : pretokenize(text)) joined += piece;
    fuzz::require(joined == text, target, "the pre-tokens tile the text");
  });
  fuzz::require(encoded == valid, target, "encode succeeds exactly when check_utf8 accepts the text");

  const Tokenizer& gpt1 = gpt1_tokenizer();
  bool gpt1_encoded = false;
  fuzz::expect_only_kiso_errors(target, [&] {
    std::vector<int32_t> ids = gpt1.encode(text);
    gpt1_encoded = true;
    fuzz::require(gpt1.encode_plain(text) == ids, target, "GPT-1: encode == encode_plain");
    for (int32_t id : ids) fuzz::require(id >= 0 && id < gpt1.vocab_size() && !gpt1.is_special(id), target,
                                         "GPT-1: ids are ordinary tokens of the vocabulary");
    (void)gpt1.decode(ids);
  });
  fuzz::require(gpt1_encoded == valid, target, "GPT-1: encode succeeds exactly when check_utf8 accepts the text");
  return 0;
}
