// tests/gpt/utf8_text.h — what the tokenizer tests share to build their inputs: a code point
// written as UTF-8. (The tokenizer has its own, private to gpt/tokenizer.cpp; a test writing its
// inputs with the library's encoder would not be testing it.)
#pragma once

#include <cstdint>
#include <string>

namespace kiso::testing {

// Appends code point `cp` (any Unicode scalar value) to `out` as 1 to 4 UTF-8 bytes.
inline void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6)), out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18)), out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
  }
}

}  // namespace kiso::testing
