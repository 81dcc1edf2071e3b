// gpt/gpt1_text.h — what GPT-1's tokenizer does to a text before BPE: normalise, then split into words.
//
// What it is: the two steps Hugging Face's OpenAIGPTTokenizer (transformers 5.24, a `tokenizers` pipeline)
// runs before its BPE, written out so that kiso gives the same words:
//   normalise   BertNormalizer(lowercase=True), in four passes over the code points:
//                 1. clean: drop U+0000, U+FFFD and control characters (gpt1_is_control: categories Cc, Cf,
//                    Co, Cs, but not tab, newline, carriage return); turn white space into ' ';
//                 2. CJK: put a space on both sides of each CJK ideograph (gpt1_is_cjk: the blocks of
//                    CJK Unified Ideographs and Compatibility Ideographs; not kana, not Hangul);
//                 3. strip accents: Unicode's canonical decomposition (NFD) of the whole text, then drop
//                    the nonspacing marks (Mn): "é" -> "e" + U+0301 -> "e";
//                 4. lowercase each character alone (its full lowercase mapping, no context: a final
//                    capital sigma becomes σ, not ς; "İ" was already "I" + U+0307 -> "I" -> "i").
//   split       BertPreTokenizer: white space ends a word and is dropped; each punctuation character
//               (ASCII punctuation, which includes $ + < = > ^ ` | ~, or Unicode's P* categories) is a
//               word of its own: "don't stop." -> "don", "'", "t", "stop", ".".
// GPT-1's own code (OpenAI's finetune-transformer-lm, text_utils.py) used ftfy and spaCy instead;
// transformers falls back to this BERT-style path when they are not installed, and newer transformers
// always uses it. kiso follows transformers: that is what tokenizes GPT-1's released vocabulary today.
// What it is not: the BPE (gpt/tokenizer.cpp does the merges), and not a general Unicode library: ICU
// (libicu, Debian's libicu-dev) supplies NFD, lowercase mappings, categories and each character's age.
//
// Unicode versions (the caveat, measured by tests/gpt/test_tokenizer_gpt1.cpp's sweep of every code
// point against transformers' own output, tests/gpt/data/gpt1_codepoints.txt):
//   - `tokenizers` asks the old `unicode_categories` Rust crate whether a character is a control,
//     a nonspacing mark or punctuation, and that crate's tables are Unicode 8.0's. A character assigned
//     after 8.0 (U+0898, a Mn of Unicode 14; U+2E43, a Po of 9.0) is none of the three to it, so it
//     stays in its word. kiso asks ICU for the character's age (u_charAge) and does the same.
//     Unassigned code points are kept as they are, as transformers keeps them.
//   - a few characters changed category after 8.0; kiso lists them (kChangedSince8) with their 8.0
//     category, so they behave as in transformers.
//   - lowercase and white space come from Rust's standard library, on newer tables (Unicode 16) than
//     ICU 72's (Unicode 15.0): 55 capitals assigned after 15.0 (U+1C89 CYRILLIC CAPITAL LETTER TJE,
//     Unicode 16.0) are not lowercased here.
//   - NFD comes from the unicode-normalization crate, whose tables (in the tokenizers 0.23.3 wheel)
//     lack a decomposition Unicode 13.0 added: transformers leaves U+11938 DIVES AKURU VOWEL SIGN O
//     whole, ICU decomposes it (U+11935 U+11930).
//   Everything else assigned by Unicode 15.0 normalises and splits exactly as transformers does.
// Reference: tokenizers' normalizers/bert.rs and pre_tokenizers/bert.rs; Unicode UAX #15 (NFD),
// UAX #44 (categories); Devlin et al. 2018 (BERT's BasicTokenizer, where these steps come from).
// Read next: gpt/tokenizer.h (the GPT-1 kind of Tokenizer, which calls these two).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace kiso {

// BertNormalizer(lowercase=True) of `text`, which must be valid UTF-8 (check_utf8 first); UTF-8 out.
std::string gpt1_normalize(std::string_view text);

// BertPreTokenizer: calls visit(word) for each word of `normalized` (the output of gpt1_normalize), in
// order; the words are slices of `normalized`, white space left out.
void gpt1_for_each_word(std::string_view normalized, const std::function<void(std::string_view)>& visit);
// The same words as a list.
std::vector<std::string_view> gpt1_split(std::string_view normalized);

// The character classes the two steps use (exposed for tests and for the curious reader).
// Dropped by the normaliser: U+0000, U+FFFD, and these (Cc Cf Co Cs of Unicode 8.0, but \t \n \r).
bool gpt1_is_control(char32_t c);
// Turned into ' ' by the normaliser, and word ends to the splitter: Unicode's White_Space, and \t \n \r.
bool gpt1_is_whitespace(char32_t c);
// Isolated by the normaliser: the CJK ideograph blocks.
bool gpt1_is_cjk(char32_t c);
// Dropped after NFD: nonspacing marks (Mn of Unicode 8.0).
bool gpt1_is_nonspacing_mark(char32_t c);
// A word of its own to the splitter: ASCII punctuation, or P* of Unicode 8.0.
bool gpt1_is_punctuation(char32_t c);

}  // namespace kiso
