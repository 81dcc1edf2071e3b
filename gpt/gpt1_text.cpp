// gpt/gpt1_text.cpp — GPT-1's normaliser and word splitter (transformers' BertNormalizer(lowercase=True) and
// BertPreTokenizer); see gpt/gpt1_text.h for what each step does and the Unicode-version caveat.
//
// The normaliser runs in passes over the whole text, in the order of tokenizers' normalizers/bert.rs:
//   pass 1: UTF-8 -> UTF-16 (ICU's string form), cleaning and spacing CJK on the way;
//   pass 2: NFD of the whole text (ICU): decomposition must see a base and its marks together, and
//           marks are put in canonical order across characters;
//   pass 3: drop the nonspacing marks, lowercase each character, back to UTF-8.
// ASCII needs none of ICU: pass 2 is skipped when no code point is >= U+00C0 (the first with a
// decomposition), and ASCII letters are lowercased inline.
#include "gpt/gpt1_text.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include <algorithm>
#include <utility>

#include "base/check.h"
#include "gpt/utf8.h"

namespace kiso {

namespace {

void append_utf16(std::u16string& out, char32_t cp) {
  if (cp < 0x10000) {
    out += char16_t(cp);
  } else {
    out += char16_t(U16_LEAD(cp));
    out += char16_t(U16_TRAIL(cp));
  }
}

// True when ICU says `c` was assigned by Unicode 8.0, the version of the tables tokenizers classifies
// with (see the header). u_charAge gives 0.0 for a code point that is still unassigned.
bool assigned_by_unicode_8(char32_t c) {
  UVersionInfo age;
  u_charAge(UChar32(c), age);
  return age[0] != 0 && age[0] <= 8 && !(age[0] == 8 && age[1] > 0);
}

// Characters whose general category changed between Unicode 8.0 and ICU's 15.0, found by the
// code-point sweep against transformers (tests/gpt/test_tokenizer_gpt1.cpp): their category in 8.0.
struct ChangedCategory {
  char32_t first, last;
  UCharCategory category_in_8;
};
constexpr ChangedCategory kChangedSince8[] = {
    {0x166D, 0x166D, U_OTHER_PUNCTUATION},    // CANADIAN SYLLABICS CHI SIGN: Po, now So
    {0x1734, 0x1734, U_NON_SPACING_MARK},     // HANUNOO SIGN PAMUDPOD: Mn, now Mc
    {0x1885, 0x1886, U_OTHER_LETTER},         // MONGOLIAN LETTER ALI GALI BALUDA, THREE BALUDA: Lo, now Mn
    {0xA9BD, 0xA9BD, U_COMBINING_SPACING_MARK},  // JAVANESE CONSONANT SIGN KERET: Mc, now Mn
    {0x111C9, 0x111C9, U_OTHER_PUNCTUATION},  // SHARADA SANDHI MARK: Po, now Mn
};

// The general category `c` had in Unicode 8.0, as tokenizers' tables give it; U_UNASSIGNED for a
// character assigned later.
UCharCategory category_in_unicode_8(char32_t c) {
  for (const ChangedCategory& k : kChangedSince8)
    if (c >= k.first && c <= k.last) return k.category_in_8;
  if (!assigned_by_unicode_8(c)) return U_UNASSIGNED;
  return UCharCategory(u_charType(UChar32(c)));
}

// Lowercase of one code point, appended as UTF-8: its full lowercase mapping (it may be longer than
// one code point), without context (no final sigma), in no language's special rules (root locale).
void append_lowercase(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += char(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    return;
  }
  UChar in[2], lower[8];
  int32_t n_in = 0;
  U16_APPEND_UNSAFE(in, n_in, UChar32(c));
  UErrorCode error = U_ZERO_ERROR;
  int32_t n = u_strToLower(lower, 8, in, n_in, "", &error);
  check(U_SUCCESS(error), "gpt1_normalize", "ICU cannot lowercase U+{:04X}: {}", uint32_t(c), u_errorName(error));
  for (int32_t i = 0; i < n;) {
    UChar32 cp;
    U16_NEXT(lower, i, n, cp);
    append_utf8(out, char32_t(cp));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Character classes.

bool gpt1_is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;  // white space to BERT, not control
  if (c < 0x80) return c < 0x20 || c == 0x7F;             // ASCII's controls (Cc), without asking ICU
  switch (category_in_unicode_8(c)) {
    case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_PRIVATE_USE_CHAR: case U_SURROGATE: return true;
    default: return false;  // not unassigned (Cn) code points: tokenizers keeps them
  }
}

bool gpt1_is_whitespace(char32_t c) {
  return c == '\t' || c == '\n' || c == '\r' || u_isUWhiteSpace(UChar32(c));
}

bool gpt1_is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool gpt1_is_nonspacing_mark(char32_t c) { return c >= 0x300 && category_in_unicode_8(c) == U_NON_SPACING_MARK; }

bool gpt1_is_punctuation(char32_t c) {
  if (c < 0x80) return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
  switch (category_in_unicode_8(c)) {
    case U_DASH_PUNCTUATION: case U_START_PUNCTUATION: case U_END_PUNCTUATION: case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION: case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION: return true;
    default: return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The normaliser.

std::string gpt1_normalize(std::string_view text) {
  // pass 1: clean (drop NUL, U+FFFD and controls; white space -> ' ') and space out CJK ideographs
  std::u16string cleaned;  // UTF-16, for ICU
  cleaned.reserve(text.size() + 8);
  bool all_below_c0 = true;  // then NFD changes nothing
  for (size_t i = 0; i < text.size();) {
    char32_t c = next_code_point(text, i);
    if (c == 0 || c == 0xFFFD || gpt1_is_control(c)) continue;
    if (gpt1_is_whitespace(c)) {
      cleaned += u' ';
    } else if (gpt1_is_cjk(c)) {
      cleaned += u' ';
      append_utf16(cleaned, c);
      cleaned += u' ';
    } else {
      append_utf16(cleaned, c);
    }
    all_below_c0 = all_below_c0 && c < 0xC0;
  }

  // pass 2: canonical decomposition (NFD) of the whole text
  std::u16string decomposed;
  if (all_below_c0) {
    decomposed = std::move(cleaned);
  } else {
    UErrorCode error = U_ZERO_ERROR;
    const UNormalizer2* nfd = unorm2_getNFDInstance(&error);
    check(U_SUCCESS(error), "gpt1_normalize", "ICU has no NFD normaliser: {}", u_errorName(error));
    // A first call measures (U_BUFFER_OVERFLOW_ERROR is expected), the second writes.
    int32_t n = unorm2_normalize(nfd, reinterpret_cast<const UChar*>(cleaned.data()), int32_t(cleaned.size()),
                                 nullptr, 0, &error);
    check(error == U_BUFFER_OVERFLOW_ERROR || U_SUCCESS(error), "gpt1_normalize", "ICU NFD failed: {}",
          u_errorName(error));
    decomposed.resize(size_t(n));
    error = U_ZERO_ERROR;
    unorm2_normalize(nfd, reinterpret_cast<const UChar*>(cleaned.data()), int32_t(cleaned.size()),
                     reinterpret_cast<UChar*>(decomposed.data()), n, &error);
    check(U_SUCCESS(error), "gpt1_normalize", "ICU NFD failed: {}", u_errorName(error));
  }

  // pass 3: strip the nonspacing marks, lowercase the rest, one code point at a time
  std::string out;
  out.reserve(decomposed.size() + decomposed.size() / 4);
  const auto* s = reinterpret_cast<const UChar*>(decomposed.data());
  const int32_t n = int32_t(decomposed.size());
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U16_NEXT(s, i, n, c);
    if (gpt1_is_nonspacing_mark(char32_t(c))) continue;
    append_lowercase(out, char32_t(c));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The word splitter.

void gpt1_for_each_word(std::string_view normalized, const std::function<void(std::string_view)>& visit) {
  size_t word_start = 0;  // where the word being read began
  for (size_t i = 0; i < normalized.size();) {
    size_t at = i;
    char32_t c = next_code_point(normalized, i);
    bool space = gpt1_is_whitespace(c), punctuation = !space && gpt1_is_punctuation(c);
    if (!space && !punctuation) continue;  // part of the word
    if (at > word_start) visit(normalized.substr(word_start, at - word_start));  // the word before it
    if (punctuation) visit(normalized.substr(at, i - at));                        // a word of its own
    word_start = i;
  }
  if (normalized.size() > word_start) visit(normalized.substr(word_start));
}

std::vector<std::string_view> gpt1_split(std::string_view normalized) {
  std::vector<std::string_view> words;
  gpt1_for_each_word(normalized, [&](std::string_view w) { words.push_back(w); });
  return words;
}

}  // namespace kiso
