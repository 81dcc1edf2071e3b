// gpt/utf8.h — one code point out of UTF-8, and one back in: the two steps both tokenizers take
// when they walk a text by characters (gpt/tokenizer.cpp, gpt/gpt1_text.cpp).
//
// UTF-8 writes a code point in 1 to 4 bytes; the first byte's high bits say how many:
//   0xxxxxxx                             U+0000 .. U+007F
//   110xxxxx 10xxxxxx                    U+0080 .. U+07FF
//   1110xxxx 10xxxxxx 10xxxxxx           U+0800 .. U+FFFF
//   11110xxx 10xxxxxx 10xxxxxx 10xxxxxx  U+10000 .. U+10FFFF
// What it is not: a validator. next_code_point trusts its input; check_utf8 (gpt/tokenizer.h)
// runs first on every text from outside.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kiso {

// The code point of the valid UTF-8 character starting at s[i]; advances i past it.
inline char32_t next_code_point(std::string_view s, size_t& i) {
  auto u = [&](size_t k) { return char32_t(static_cast<unsigned char>(s[k])); };
  char32_t c = u(i);
  if (c < 0x80) return i += 1, c;
  if (c < 0xE0) return i += 2, ((c & 0x1F) << 6) | (u(i - 1) & 0x3F);
  if (c < 0xF0) return i += 3, ((c & 0x0F) << 12) | ((u(i - 2) & 0x3F) << 6) | (u(i - 1) & 0x3F);
  return i += 4, ((c & 0x07) << 18) | ((u(i - 3) & 0x3F) << 12) | ((u(i - 2) & 0x3F) << 6) | (u(i - 1) & 0x3F);
}

// Appends code point `cp` (at most U+10FFFF) to `out` as UTF-8.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

}  // namespace kiso
