// gpt/tokenizer.cpp — BPE encoding, decoding and the tokenizer files, for both kinds (byte-level and
// GPT-1; gpt/tokenizer.h).
//
// Encoding a text runs in three passes (byte-level; GPT-1 differs in passes 2 and 3, below):
//   pass 1: check that the text is UTF-8 (the pattern works on characters, not bytes);
//   pass 2: cut it into pre-tokens with GPT-2's pattern (PCRE2, JIT-compiled when it can be);
//   pass 3: turn each pre-token into ids: its bytes become byte tokens, then the adjacent pair
//           with the lowest merge rank is merged, everywhere in the pre-token, until no adjacent
//           pair has a merge. Pre-tokens repeat a lot in real text ("the", " of", "\n"), so
//           their ids are cached.
//           merge_pretoken_plain does this literally (read it first); merge_pretoken, which
//           encode() uses, does it fast with a heap and must give the same ids.
// GPT-1: pass 2 normalises the text and cuts it into words (gpt/gpt1_text.h); in pass 3 a word starts
// as its characters' tokens, the last one "c</w>", and the same merge loops run.
// What it is not: the trainer (gpt/bpe_train.cpp). Reference: OpenAI gpt-2 src/encoder.py
// (bytes_to_unicode, get_pairs, Encoder.bpe), whose results encode() reproduces.
#include "gpt/tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <optional>

#include <fmt/core.h>

#include "gpt/atomic_file.h"
#include "gpt/gpt1_text.h"
#include "gpt/json.h"
#include "base/check.h"
#include "gpt/utf8.h"

namespace kiso {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// GPT-2's bytes-to-unicode table. BPE files are text, and GPT-2 wanted every token to be
// printable and free of spaces, so that merges.txt can be "left right" per line. Bytes that are
// already printable Latin-1 characters ('!'..'~', '¡'..'¬', '®'..'ÿ', 188 of them) stand for
// themselves; the other 68 (control bytes, space, DEL, 0x80..0xA0, soft hyphen) are given the
// code points 256, 257, ... in byte order, so the space byte 0x20 is U+0120 'Ġ' and '\n' is
// U+010A 'Ċ'.

struct ByteTable {
  std::array<uint32_t, 256> code_point{};  // byte -> code point
  std::array<int16_t, 324> byte{};         // code point (< 324) -> byte, or -1
  ByteTable() {
    byte.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      code_point[b] = printable ? uint32_t(b) : uint32_t(next++);
      byte[code_point[b]] = int16_t(b);
    }
  }
};

const ByteTable& byte_table() {
  static const ByteTable table;
  return table;
}

// unicode_to_bytes without the throw: nullopt when a character is outside the table, and then
// `bad_at` (when given) is the byte offset of that character.
std::optional<std::string> printable_to_bytes(std::string_view text, size_t* bad_at = nullptr) {
  const ByteTable& table = byte_table();
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t at = i;
    uint32_t cp = next_code_point(text, i);
    if (cp >= table.byte.size() || table.byte[cp] < 0) {
      if (bad_at) *bad_at = at;
      return std::nullopt;
    }
    out += char(table.byte[cp]);
  }
  return out;
}

// `s` quoted for an error message: control characters as \xNN, long strings cut.
std::string shown(std::string_view s) {
  std::string out = "\"";
  size_t n = std::min<size_t>(s.size(), 60);
  while (n < s.size() && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02x}", c);
    else out += char(c);
  }
  return out + (n < s.size() ? "...\"" : "\"");
}

// ---------------------------------------------------------------------------------------------
// The pre-tokenisation pattern, GPT-2's:
//
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// The alternatives, tried in order at each position:
//   's|'t|'re|'ve|'m|'ll|'d   English contractions (lowercase only: "'S" splits as "'" + "S")
//   " ?\p{L}+"                a run of letters, with the one space before it
//   " ?\p{N}+"                a run of digits/numerals, with the space before it
//   " ?[^\s\p{L}\p{N}]+"      a run of other symbols (punctuation, emoji), with the space before
//   "\s+(?!\S)"               white space up to, not including, the last space before a word,
//                             so that " word" keeps its space: "a   b" -> "a", "  ", " b"
//   "\s+"                     any other white space (at the end of the text, or before \n)
//
// \s is spelled out as Unicode's White_Space property, which is what \s means to the regex
// engines of GPT-2 (Python's `regex`) and tiktoken (Rust's `regex`). PCRE2's own \s in UCP mode
// also matches U+180E MONGOLIAN VOWEL SEPARATOR, which stopped being white space in Unicode 6.3;
// with it, "a\u180e b" would split differently. UTF: the subject is UTF-8 and \p{..} sees
// characters. The letters and numerals \p{L} and \p{N} are those of the Unicode version PCRE2
// was built with (14.0 for Debian 12's 10.42): a character assigned later is "other" here but
// may be a letter to a newer tiktoken.
std::string gpt2_pattern_text() {
  const std::string space = R"(\t-\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
  return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^)" + space + R"(\p{L}\p{N}]+)" +  //
         "|[" + space + "]+(?![^" + space + "])" +                                          // \s+(?!\S)
         "|[" + space + "]+";                                                                // \s+
}

// Compiled once for the whole program: it never changes, and a compiled PCRE2 pattern may be
// used by many threads at once (each match needs its own match data).
struct CompiledPattern {
  pcre2_code* code = nullptr;
  CompiledPattern() {
    int error = 0;
    PCRE2_SIZE offset = 0;
    const std::string pattern = gpt2_pattern_text();
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &error,
                         &offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      fail("tokenizer", "PCRE2 cannot compile GPT-2's pattern at offset {}: {}", offset,
           reinterpret_cast<const char*>(message));
    }
    // The JIT makes matching several times faster; where it is unavailable PCRE2's interpreter
    // gives the same matches, so a failure here is not an error.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  }
  ~CompiledPattern() { pcre2_code_free(code); }
};

const pcre2_code* gpt2_pattern() {
  static const CompiledPattern pattern;
  return pattern.code;
}

// "<|endoftext|>, <|start|>, <|delim|>, <|extract|>", for error messages.
std::string special_names() {
  std::string out;
  for (std::string_view name : kSpecialTokens) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Text checks and pre-tokenisation.

std::string bytes_to_unicode(std::string_view bytes) {
  const ByteTable& table = byte_table();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, table.code_point[static_cast<unsigned char>(c)]);
  return out;
}

std::string unicode_to_bytes(std::string_view text, const std::string& what) {
  check_utf8(text, what.c_str());
  size_t at = 0;
  std::optional<std::string> bytes = printable_to_bytes(text, &at);
  if (!bytes) {
    size_t end = at;
    fail(what.c_str(), "character U+{:04X} at byte {} of {} is not in GPT-2's bytes-to-unicode table",
         uint32_t(next_code_point(text, end)), at, shown(text));
  }
  return *bytes;
}

std::optional<Utf8Error> find_invalid_utf8(std::string_view text) {
  auto u = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    unsigned char c = u(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The lead byte says how long the character is and which values it may encode.
    size_t length;
    uint32_t cp, smallest;
    if (c >= 0xC2 && c <= 0xDF) length = 2, cp = c & 0x1F, smallest = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) length = 3, cp = c & 0x0F, smallest = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) length = 4, cp = c & 0x07, smallest = 0x10000;
    else if (c <= 0xBF) return Utf8Error{i, fmt::format("0x{:02x} is a continuation byte with no lead byte before it", c)};
    else return Utf8Error{i, fmt::format("0x{:02x} never occurs in UTF-8", c)};
    if (i + length > n)
      return Utf8Error{i, fmt::format("0x{:02x} starts a {}-byte character but the text ends after {} byte(s)", c,
                                      length, n - i)};
    for (size_t k = 1; k < length; ++k) {
      if ((u(i + k) & 0xC0) != 0x80)
        return Utf8Error{i, fmt::format("0x{:02x} starts a {}-byte character but byte {} of it is 0x{:02x}, not a "
                                        "continuation byte",
                                        c, length, k + 1, u(i + k))};
      cp = (cp << 6) | (u(i + k) & 0x3F);
    }
    if (cp < smallest) return Utf8Error{i, fmt::format("overlong encoding of U+{:04X}", cp)};
    if (cp >= 0xD800 && cp <= 0xDFFF) return Utf8Error{i, fmt::format("U+{:04X} is a surrogate, not a character", cp)};
    if (cp > 0x10FFFF) return Utf8Error{i, fmt::format("U+{:X} is beyond U+10FFFF", cp)};
    i += length;
  }
  return std::nullopt;
}

void check_utf8(std::string_view text, const char* op) {
  if (std::optional<Utf8Error> bad = find_invalid_utf8(text))
    fail(op, "invalid UTF-8 at byte {}: {}", bad->offset, bad->reason);
}

void check_utf8_file(std::string_view text, const std::string& path) {
  std::optional<Utf8Error> bad = find_invalid_utf8(text);
  if (!bad) return;
  // The line holding the bad byte (lines end at '\n'; a CR before it is part of the line).
  std::string_view before = text.substr(0, bad->offset);
  int64_t line = 1 + int64_t(std::count(before.begin(), before.end(), '\n'));
  size_t line_start = before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1;
  fail(fmt::format("{}, line {}", path, line).c_str(), "invalid UTF-8 at byte {} of the line (byte {} of the file): {}",
       bad->offset - line_start + 1, bad->offset + 1, bad->reason);
}

void for_each_pretoken(std::string_view text, const std::function<void(std::string_view)>& visit) {
  const pcre2_code* code = gpt2_pattern();
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
  check(match != nullptr, "tokenizer", "out of memory for PCRE2 match data");
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  // Every character is matched by one of the alternatives (a letter, a numeral, white space, or
  // "anything else"), so the matches follow each other with no gap.
  for (size_t at = 0; at < text.size();) {
    int rc = pcre2_match(code, subject, text.size(), at, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      fail("tokenizer", "pre-tokenising at byte {}: PCRE2 error {}: {}", at, rc, reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* range = pcre2_get_ovector_pointer(match.get());  // [start, end)
    check(range[0] == at && range[1] > at, "tokenizer", "pre-tokenising at byte {}: the pattern matched [{}, {})", at,
          range[0], range[1]);
    visit(text.substr(at, range[1] - at));
    at = range[1];
  }
}

std::vector<std::string_view> pretokenize(std::string_view text) {
  check_utf8(text, "pretokenize");
  std::vector<std::string_view> pieces;
  for_each_pretoken(text, [&](std::string_view piece) { pieces.push_back(piece); });
  return pieces;
}

// ---------------------------------------------------------------------------------------------
// The tokenizer: tables, encode, decode.

struct Tokenizer::EncodeCache {
  static constexpr size_t kMaxEntries = size_t(1) << 16;  // then it starts over; ~10 MB at most
  static constexpr size_t kMaxPieceBytes = 128;           // longer pre-tokens are rare: not cached
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> ids;
};

Tokenizer::Tokenizer(std::vector<std::string> tokens, std::vector<BpeMerge> merges, std::array<int32_t, 4> special_ids,
                     TokenizerKind kind)
    : tokens_(std::move(tokens)), merges_(std::move(merges)), special_ids_(special_ids), kind_(kind),
      cache_(std::make_shared<EncodeCache>()) {
  byte_ids_.fill(-1);
  if (kind_ == TokenizerKind::byte_level) {
    for (int32_t id = 0; id < int32_t(tokens_.size()); ++id) {
      if (tokens_[id].size() == 1 && !is_special(id)) byte_ids_[static_cast<unsigned char>(tokens_[id][0])] = id;
    }
    for (int b = 0; b < 256; ++b)
      check(byte_ids_[b] >= 0, "Tokenizer", "internal error: no token for the byte 0x{:02x}", b);
  } else {
    for (int32_t id = 0; id < int32_t(tokens_.size()); ++id) {
      if (!is_special(id)) symbol_ids_.emplace(tokens_[id], id);
    }
    if (auto it = symbol_ids_.find(std::string_view("<unk>")); it != symbol_ids_.end()) unknown_id_ = it->second;
  }
  ranks_.reserve(merges_.size());
  for (int32_t rank = 0; rank < int32_t(merges_.size()); ++rank) {
    ranks_.emplace(pair_key(merges_[rank].left, merges_[rank].right), rank);
  }
}

// The BPE of one pre-token, plain: the version to read first, and the oracle of the fast
// merge_pretoken below (tests/gpt/test_tokenizer_plain.cpp checks that they agree).
// It is GPT-2's encoder.py bpe() line for line: among the adjacent pairs of the pre-token,
// find the one with the lowest rank; replace every occurrence of it, left to right and without
// overlap ("a a a" with the merge "a a" becomes "aa a"); repeat until no adjacent pair has a
// rank. Each round rescans the whole word, so a pre-token of n bytes costs O(n²).
std::vector<int32_t> Tokenizer::merge_pretoken_plain(std::vector<int32_t> word, std::vector<MergeRound>* rounds) const {
  // word: (n,) the symbols, at first one byte token each (GPT-1: one character token each)
  if (rounds) rounds->push_back({-1, word});
  for (;;) {
    // step 1: the lowest rank among the adjacent pairs
    int32_t best = -1;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks_.find(pair_key(word[i], word[i + 1]));
      if (it != ranks_.end() && (best < 0 || it->second < best)) best = it->second;
    }
    if (best < 0) break;  // no pair has a merge: done
    // step 2: replace every occurrence of that pair, left to right; a pair that overlaps one
    // just merged ("a a a": the second "a a") is skipped, as encoder.py does
    const BpeMerge& m = merges_[best];
    std::vector<int32_t> merged;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == m.left && word[i + 1] == m.right) {
        merged.push_back(m.result);
        i += 2;
      } else {
        merged.push_back(word[i]);
        i += 1;
      }
    }
    word = std::move(merged);
    if (rounds) rounds->push_back({best, word});
  }
  return word;
}

// The same BPE, fast; its result must equal merge_pretoken_plain's on every pre-token.
// The plain loop costs O(n²) for a pre-token of n bytes, and single pre-tokens can be long
// (a line of CJK text has no spaces; a run of "=" in a text file). So the same rounds are run
// with a min-heap of (rank, position) candidates over a linked list of symbols:
//   - a round takes every candidate of the lowest rank r, in position order, and merges it if
//     it is still there (an earlier merge of the round may have used one of its symbols: the
//     "a a a" case). No merge can create a pair of rank r again (the merged token is longer
//     than both its parts), so the round sees exactly the occurrences GPT-2's scan sees;
//   - the new pairs a merge forms with its neighbours wait until the round is over, because
//     GPT-2 only looks for the next lowest rank after replacing every occurrence of r.
// Stale candidates are not removed from the heap: they are recognised when popped (lazy
// deletion), since a position's current pair has a different rank once anything changed.
std::vector<int32_t> Tokenizer::merge_pretoken(const std::vector<int32_t>& symbols) const {
  const int32_t n = int32_t(symbols.size());
  std::vector<int32_t> id(n), next(n), prev(n);  // (n,) a doubly linked list; id -1 = merged away
  for (int32_t i = 0; i < n; ++i) {
    id[i] = symbols[i];
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  auto rank_at = [&](int32_t pos) -> int32_t {  // rank of the pair starting at pos, or -1
    if (pos < 0 || next[pos] < 0) return -1;
    auto it = ranks_.find(pair_key(id[pos], id[next[pos]]));
    return it == ranks_.end() ? -1 : it->second;
  };
  struct Candidate {
    int32_t rank, pos;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Candidate> heap, waiting;
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (int32_t r = rank_at(i); r >= 0) heap.push_back({r, i});
  }
  auto order = std::greater<Candidate>();  // makes std::*_heap a min-heap
  std::make_heap(heap.begin(), heap.end(), order);

  int32_t round = -1;
  for (;;) {
    if (heap.empty() || heap.front().rank != round) {  // round `round` is over
      for (const Candidate& c : waiting) heap.push_back(c), std::push_heap(heap.begin(), heap.end(), order);
      waiting.clear();
      if (heap.empty()) break;
      round = heap.front().rank;
    }
    std::pop_heap(heap.begin(), heap.end(), order);
    Candidate c = heap.back();
    heap.pop_back();
    if (id[c.pos] < 0 || rank_at(c.pos) != c.rank) continue;  // stale
    // Merge the pair at c.pos: the left symbol becomes the result, the right one leaves the list.
    int32_t right = next[c.pos];
    id[c.pos] = merges_[c.rank].result;
    id[right] = -1;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    if (int32_t r = rank_at(prev[c.pos]); r >= 0) waiting.push_back({r, prev[c.pos]});
    if (int32_t r = rank_at(c.pos); r >= 0) waiting.push_back({r, c.pos});
  }
  std::vector<int32_t> out;
  for (int32_t i = 0; i >= 0; i = next[i]) out.push_back(id[i]);  // symbol 0 is never merged away
  return out;
}

// GPT-1: the first code point of `text` whose normal form holds the character `c` (the text's own
// character that became it), as (byte offset, code point); (npos, c) when none does.
static std::pair<size_t, uint32_t> find_source(std::string_view text, std::string_view c) {
  for (size_t i = 0; i < text.size();) {
    size_t at = i;
    uint32_t cp = next_code_point(text, i);
    if (gpt1_normalize(text.substr(at, i - at)).find(c) != std::string::npos) return {at, cp};
  }
  size_t i = 0;
  return {std::string_view::npos, next_code_point(c, i)};
}

std::vector<int32_t> Tokenizer::symbols(std::string_view piece, std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(piece.size());
  if (kind_ == TokenizerKind::byte_level) {
    for (char c : piece) out.push_back(byte_ids_[static_cast<unsigned char>(c)]);
    return out;
  }
  // GPT-1: one symbol per character, "</w>" on the last (the word's end); as OpenAI's text_utils.py
  // (word = tuple(token[:-1]) + (token[-1] + '</w>',)) and tokenizers' BPE with end_of_word_suffix.
  std::string symbol;
  for (size_t i = 0; i < piece.size();) {
    size_t at = i;
    next_code_point(piece, i);
    symbol.assign(piece.substr(at, i - at));
    if (i == piece.size()) symbol += "</w>";
    auto it = symbol_ids_.find(symbol);
    if (it != symbol_ids_.end()) {
      out.push_back(it->second);
      continue;
    }
    if (unknown_id_ < 0) {
      std::string_view c = piece.substr(at, i - at);
      auto [offset, source] = find_source(text, c);
      std::string source_text;
      append_utf8(source_text, source);
      fail("Tokenizer::encode", "the character U+{:04X} {} at byte {} of the text{} is not in the vocabulary ({} is not a "
           "token), and the vocabulary has no \"<unk>\" to stand for it",
           source, shown(source_text), offset == std::string_view::npos ? std::string("?") : std::to_string(offset),
           source_text == c ? "" : ", normalised to " + shown(c) + ",", shown(symbol));
    }
    out.push_back(unknown_id_);  // one <unk> per unknown character (transformers: fuse_unk=False)
  }
  return out;
}

void Tokenizer::for_each_piece(std::string_view text, const std::function<void(std::string_view)>& visit) const {
  if (kind_ == TokenizerKind::byte_level) {
    for_each_pretoken(text, visit);
    return;
  }
  const std::string normalized = gpt1_normalize(text);
  gpt1_for_each_word(normalized, visit);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  check_utf8(text, "Tokenizer::encode");  // pass 1
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3);
  EncodeCache& cache = *cache_;
  const bool bytes = kind_ == TokenizerKind::byte_level;
  for_each_piece(text, [&](std::string_view piece) {  // pass 2
    // pass 3, from the cache when this pre-token was seen before
    if (bytes && piece.size() == 1) {
      ids.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
      return;
    }
    bool cacheable = piece.size() <= EncodeCache::kMaxPieceBytes;
    if (cacheable) {
      std::lock_guard<std::mutex> lock(cache.mutex);
      if (auto it = cache.ids.find(piece); it != cache.ids.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int32_t> piece_ids = merge_pretoken(symbols(piece, text));
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
    if (cacheable) {
      std::lock_guard<std::mutex> lock(cache.mutex);
      if (cache.ids.size() >= EncodeCache::kMaxEntries) cache.ids.clear();
      cache.ids.emplace(std::string(piece), std::move(piece_ids));
    }
  });
  return ids;
}

std::vector<int32_t> Tokenizer::encode_plain(std::string_view text) const {
  check_utf8(text, "Tokenizer::encode_plain");
  std::vector<int32_t> ids;
  for_each_piece(text, [&](std::string_view piece) {
    std::vector<int32_t> piece_ids = merge_pretoken_plain(symbols(piece, text));
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
  });
  return ids;
}

std::string printable_bytes(std::string_view bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size();) {
    unsigned char b = static_cast<unsigned char>(bytes[i]);
    size_t n = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;  // a lead byte's length
    if (b == ' ') out += "\u2423";  // ␣
    else if (b == '\n') out += "\u21b5";  // ↵
    else if (b == '\t') out += "\u21e5";  // ⇥
    else if (n == 1 && b >= 0x20 && b != 0x7f) out += char(b);
    else if (n > 1 && i + n <= bytes.size() && !find_invalid_utf8(bytes.substr(i, n))) {
      out += bytes.substr(i, n);
      i += n;
      continue;
    } else out += fmt::format("\\x{:02x}", b);  // a control byte, or part of a character
    ++i;
  }
  return out;
}

std::string Tokenizer::label(int32_t id) const { return is_special(id) ? token(id) : printable_bytes(token(id)); }

std::string_view kind_name(TokenizerKind kind) {
  return kind == TokenizerKind::gpt1 ? "GPT-1 BPE" : "byte-level BPE";
}

std::string_view hf_tokenizer_class(TokenizerKind kind) {
  return kind == TokenizerKind::gpt1 ? "OpenAIGPTTokenizer" : "GPT2Tokenizer";
}

std::vector<Tokenizer::PretokenTrace> Tokenizer::explain(std::string_view text) const {
  check_utf8(text, "Tokenizer::explain");
  std::vector<PretokenTrace> out;
  for_each_piece(text, [&](std::string_view piece) {
    PretokenTrace& t = out.emplace_back();
    t.text = std::string(piece);
    merge_pretoken_plain(symbols(piece, text), &t.rounds);
  });
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    check(ids[i] >= 0 && ids[i] < int32_t(tokens_.size()), "Tokenizer::decode",
          "unknown id {} at position {}; the vocabulary has ids 0..{}", ids[i], i, tokens_.size() - 1);
    if (kind_ == TokenizerKind::byte_level) {
      text += tokens_[ids[i]];
      continue;
    }
    // GPT-1, as tokenizers' BPEDecoder: every "</w>" of a token becomes a space, or nothing in the
    // last token (so a text does not end in a space).
    std::string_view token = tokens_[ids[i]];
    const std::string_view end_of_word = i + 1 < ids.size() ? " " : "";
    for (size_t at; (at = token.find("</w>")) != std::string_view::npos; token.remove_prefix(at + 4)) {
      text += token.substr(0, at);
      text += end_of_word;
    }
    text += token;
  }
  return text;
}

std::string Tokenizer::decode_after(std::span<const int32_t> before, std::span<const int32_t> ids) const {
  if (kind_ == TokenizerKind::byte_level || before.empty()) return decode(ids);
  std::vector<int32_t> all(before.begin(), before.end());
  all.insert(all.end(), ids.begin(), ids.end());
  // decode(before) differs from the start of decode(all) only in its last token, whose "</w>" is ""
  // there and " " here: so it is a prefix.
  return decode(all).substr(decode(before).size());
}

int32_t Tokenizer::special(std::string_view name) const {
  for (size_t k = 0; k < kSpecialTokens.size(); ++k) {
    if (kSpecialTokens[k] == name) return special_ids_[k];
  }
  fail("Tokenizer::special", "unknown special token {}; the special tokens are {}", shown(name),
       special_names());
}

bool Tokenizer::is_special(int32_t id) const {
  return std::find(special_ids_.begin(), special_ids_.end(), id) != special_ids_.end();
}

const std::string& Tokenizer::token(int32_t id) const {
  check(id >= 0 && id < int32_t(tokens_.size()), "Tokenizer::token", "unknown id {}; the vocabulary has ids 0..{}", id,
        tokens_.size() - 1);
  return tokens_[id];
}

// ---------------------------------------------------------------------------------------------
// Files.

void Tokenizer::save(const std::string& dir) const {
  std::error_code error;
  fs::create_directories(dir, error);
  check(!error, "Tokenizer::save", "cannot create the directory \"{}\": {}", dir, error.message());
  const std::array<std::string, 3> text = to_text();
  write_file_atomic((fs::path(dir) / "vocab.json").string(), text[0]);
  write_file_atomic((fs::path(dir) / "merges.txt").string(), text[1]);
  write_file_atomic((fs::path(dir) / "special_tokens.json").string(), text[2]);
  // The kind, named as transformers names its tokenizer classes: kiso's own kind rule reads it
  // first, and transformers' AutoTokenizer needs it for the byte-level files (a model directory's
  // config.json says model_type "openai-gpt", from which it would pick GPT-1's tokenizer).
  const std::string unk = kind_ == TokenizerKind::gpt1 ? ",\n  \"unk_token\": \"<unk>\"" : "";
  write_file_atomic((fs::path(dir) / "tokenizer_config.json").string(),
                    fmt::format("{{\n  \"tokenizer_class\": \"{}\"{}\n}}\n", hf_tokenizer_class(kind_), unk));
}

std::array<std::string, 3> Tokenizer::to_text() const {
  // vocab.json in id order, one entry per line (nlohmann's objects would sort the keys). Byte-level
  // tokens are written in GPT-2's printable form; GPT-1's are text already.
  auto name = [&](int32_t id) {
    return is_special(id) || kind_ == TokenizerKind::gpt1 ? tokens_[id] : bytes_to_unicode(tokens_[id]);
  };
  std::string vocab = "{\n";
  for (int32_t id = 0; id < int32_t(tokens_.size()); ++id) {
    vocab += fmt::format("  {}: {}{}\n", Json(name(id)).dump(), id, id + 1 < int32_t(tokens_.size()) ? "," : "");
  }
  vocab += "}\n";
  std::string merges = "#version: 0.2\n";
  for (const BpeMerge& m : merges_) merges += name(m.left) + " " + name(m.right) + "\n";
  std::string specials = "{\n";
  for (size_t k = 0; k < kSpecialTokens.size(); ++k) {
    specials += fmt::format("  \"{}\": {}{}\n", kSpecialTokens[k], special_ids_[k], k + 1 < kSpecialTokens.size() ? "," : "");
  }
  specials += "}\n";
  return {std::move(vocab), std::move(merges), std::move(specials)};
}

// The two namings of a tokenizer's files, preferred first: kiso's and Hugging Face's, then the
// one of OpenAI's GPT-2 release (the same formats under other names).
struct FileNaming {
  const char *vocab, *merges;
};
constexpr FileNaming kNamings[] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};

// Rule 1 of the kind (gpt/tokenizer.h): tokenizer_config.json's "tokenizer_class", when there is one.
static std::optional<Tokenizer::KindClaim> read_tokenizer_config(const std::string& dir) {
  const std::string path = (fs::path(dir) / "tokenizer_config.json").string();
  if (!fs::is_regular_file(path)) return std::nullopt;
  Json config = parse_json_strict(read_file(path), path);
  check(config.is_object(), path.c_str(), "expected an object, found {}", describe_json(config));
  if (!config.contains("tokenizer_class")) return std::nullopt;
  const std::string name = get_string(config, "tokenizer_class", path);
  std::optional<TokenizerKind> kind;
  if (name == "OpenAIGPTTokenizer" || name == "OpenAIGPTTokenizerFast") kind = TokenizerKind::gpt1;
  if (name == "GPT2Tokenizer" || name == "GPT2TokenizerFast") kind = TokenizerKind::byte_level;
  check(kind.has_value(), path.c_str(), "\"tokenizer_class\": {} is not a tokenizer kiso reads; expected "
        "\"OpenAIGPTTokenizer\" (GPT-1's BPE) or \"GPT2Tokenizer\" (byte-level BPE), or their \"...Fast\" twins",
        shown(name));
  // GPT-1: the unknown token must be "<unk>", the one kiso looks up (a string, or older transformers'
  // {"__type": "AddedToken", "content": ...}).
  if (*kind == TokenizerKind::gpt1 && config.contains("unk_token") && !config["unk_token"].is_null()) {
    const Json& unk = config["unk_token"];
    const Json* content = unk.is_object() && unk.contains("content") ? &unk["content"] : &unk;
    check(content->is_string() && content->get<std::string>() == "<unk>", path.c_str(),
          "\"unk_token\": {}; kiso's GPT-1 tokenizer knows only \"<unk>\"", unk.dump());
  }
  return Tokenizer::KindClaim{*kind, fmt::format("{}: \"tokenizer_class\": \"{}\"", path, name)};
}

Tokenizer Tokenizer::load(const std::string& dir) {
  check(fs::is_directory(dir), "Tokenizer::load",
        "\"{}\" is not a directory (expected vocab.json + merges.txt, or encoder.json + vocab.bpe, or tokenizer.json, "
        "in it)", dir);
  fs::path specials = fs::path(dir) / "special_tokens.json";
  std::string special_file = fs::exists(specials) ? specials.string() : "";
  std::optional<KindClaim> claim = read_tokenizer_config(dir);
  auto has = [&](const char* name) { return fs::is_regular_file(fs::path(dir) / name); };
  for (const FileNaming& n : kNamings)
    if (has(n.vocab) && has(n.merges))
      return load_files((fs::path(dir) / n.vocab).string(), (fs::path(dir) / n.merges).string(), special_file, claim);
  if (has("tokenizer.json")) return load_tokenizer_json((fs::path(dir) / "tokenizer.json").string(), special_file, claim);
  for (const FileNaming& n : kNamings)  // half a pair: say which half is missing
    if (has(n.vocab) != has(n.merges))
      fail("Tokenizer::load", "{}: {} is there but {} is not; a tokenizer directory holds vocab.json + merges.txt, "
           "or encoder.json + vocab.bpe (OpenAI's GPT-2 naming), or tokenizer.json (Hugging Face's)", dir,
           has(n.vocab) ? n.vocab : n.merges, has(n.vocab) ? n.merges : n.vocab);
  fail("Tokenizer::load", "{} holds no tokenizer: expected vocab.json + merges.txt, or encoder.json + vocab.bpe "
       "(OpenAI's GPT-2 naming), or tokenizer.json (Hugging Face's)", dir);
}

// tokenizer.json, the one file transformers 5's save_pretrained writes: a serialised `tokenizers`
// pipeline. kiso reads the model's vocabulary and merges, after checking that the rest of the pipeline
// is one of kiso's two kinds; then it is loaded as vocab.json + merges.txt would be.
Tokenizer Tokenizer::load_tokenizer_json(const std::string& path, const std::string& special_tokens_json,
                                         const std::optional<KindClaim>& config_claim) {
  const char* what = path.c_str();
  Json file = parse_json_strict(read_file(path), path);
  check(file.is_object() && file.contains("model") && file["model"].is_object(), what,
        "expected an object with a \"model\" object (a Hugging Face tokenizers file), found {}", describe_json(file));
  const Json& model = file["model"];
  auto text_of = [](const Json& obj, const char* key) -> std::string {  // a string setting, "" when null or absent
    if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return "";
    return obj[key].is_string() ? obj[key].get<std::string>() : obj[key].dump();
  };
  auto type_of = [&](const char* key) { return file.contains(key) ? text_of(file[key], "type") : ""; };
  check(text_of(model, "type") == "BPE", what, "model.type is {}; kiso reads BPE tokenizers only",
        shown(text_of(model, "type")));
  // The settings that make each kind (transformers' OpenAIGPTTokenizer and GPT2Tokenizer).
  const std::string normalizer = type_of("normalizer"), pre_tokenizer = type_of("pre_tokenizer"),
                    suffix = text_of(model, "end_of_word_suffix"), prefix = text_of(model, "continuing_subword_prefix");
  auto flag = [&](const char* key, bool absent) {  // a BertNormalizer flag; `absent`: its default
    const Json& n = file["normalizer"];
    return !n.contains(key) || n[key].is_null() ? absent : n[key] == Json(true);
  };
  // Options of tokenizers' BPE that neither kind uses (transformers sets them so for both classes).
  for (const char* option : {"dropout", "fuse_unk", "byte_fallback", "ignore_merges"}) {
    const std::string value = text_of(model, option);
    check(value.empty() || value == "false", what, "model.{} is {}; kiso's BPE has no such option", option, value);
  }
  std::optional<TokenizerKind> kind;
  if (suffix == "</w>" && prefix.empty() && normalizer == "BertNormalizer" && pre_tokenizer == "BertPreTokenizer" &&
      flag("lowercase", true) && flag("clean_text", true) && flag("handle_chinese_chars", true) &&
      flag("strip_accents", true))
    kind = TokenizerKind::gpt1;
  if (suffix.empty() && prefix.empty() && normalizer.empty() && pre_tokenizer == "ByteLevel" &&
      text_of(file["pre_tokenizer"], "add_prefix_space") != "true")
    kind = TokenizerKind::byte_level;
  check(kind.has_value(), what, "a BPE pipeline kiso does not implement (normalizer {}, pre_tokenizer {}, "
        "model.end_of_word_suffix {}, model.continuing_subword_prefix {}); kiso reads GPT-1's (BertNormalizer with "
        "lowercase, BertPreTokenizer, \"</w>\") and GPT-2's (ByteLevel)",
        shown(normalizer), shown(pre_tokenizer), shown(suffix), shown(prefix));
  check(!config_claim || config_claim->kind == *kind, what, "this file is {} but {} says {}", kind_name(*kind),
        config_claim ? config_claim->source : "", config_claim ? kind_name(config_claim->kind) : "");
  check(text_of(model, "unk_token").empty() || text_of(model, "unk_token") == "<unk>", what,
        "model.unk_token is {}; kiso's GPT-1 tokenizer knows only \"<unk>\"", shown(text_of(model, "unk_token")));

  // model.vocab as vocab.json, model.merges ([["a", "b"], ...] or ["a b", ...]) as merges.txt.
  check(model.contains("vocab") && model["vocab"].is_object(), what, "model.vocab: expected an object, found {}",
        model.contains("vocab") ? describe_json(model["vocab"]) : "nothing");
  check(model.contains("merges") && model["merges"].is_array(), what, "model.merges: expected an array, found {}",
        model.contains("merges") ? describe_json(model["merges"]) : "nothing");
  std::string merges = "#version: 0.2\n";
  for (size_t i = 0; i < model["merges"].size(); ++i) {
    const Json& m = model["merges"][i];
    bool pair = m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string();
    check(pair || m.is_string(), what, "model.merges[{}]: expected [\"left\", \"right\"] or \"left right\", found {}", i,
          describe_json(m));
    std::string line = pair ? m[0].get<std::string>() + " " + m[1].get<std::string>() : m.get<std::string>();
    check(line.find('\n') == std::string::npos && (!pair || m[0].get<std::string>().find(' ') == std::string::npos),
          what, "model.merges[{}]: {} holds a space or a newline inside a token, which merges.txt cannot write", i,
          shown(line));
    merges += line + "\n";
  }
  std::optional<std::string> specials;
  if (!special_tokens_json.empty()) specials = read_file(special_tokens_json);
  return from_text(model["vocab"].dump(), merges, specials ? std::optional<std::string_view>(*specials) : std::nullopt,
                   {path + " (model.vocab)", path + " (model.merges)", special_tokens_json},
                   KindClaim{*kind, path + "'s pipeline"});
}

Tokenizer Tokenizer::load(const std::string& vocab_json, const std::string& merges_txt) {
  return load_files(vocab_json, merges_txt, "", std::nullopt);
}

Tokenizer Tokenizer::load_files(const std::string& vocab_json, const std::string& merges_txt,
                                const std::string& special_tokens_json, const std::optional<KindClaim>& claim) {
  std::string vocab = read_file(vocab_json), merges = read_file(merges_txt);
  std::optional<std::string> specials;
  if (!special_tokens_json.empty()) specials = read_file(special_tokens_json);
  return from_text(vocab, merges, specials ? std::optional<std::string_view>(*specials) : std::nullopt,
                   {vocab_json, merges_txt, special_tokens_json}, claim);
}

// Loading in four passes: vocab.json into names by id (and the kind); the special tokens; each
// ordinary name back to bytes (GPT-1: names are the tokens); merges.txt into merges of ids.
// Everything is checked on the way.
Tokenizer Tokenizer::from_text(std::string_view vocab_text, std::string_view merges_text,
                               std::optional<std::string_view> special_text,
                               const std::array<std::string, 3>& file_names, const std::optional<KindClaim>& claim) {
  const std::string &vocab_json = file_names[0], &merges_txt = file_names[1], &special_tokens_json = file_names[2];
  // pass 1: vocab.json, {"token": id, ...} with each id 0..N-1 exactly once.
  const char* vocab_what = vocab_json.c_str();
  Json vocab = parse_json_strict(vocab_text, vocab_json);
  check(vocab.is_object(), vocab_what, "expected an object mapping token strings to ids, found {}", describe_json(vocab));
  const size_t n = vocab.size();
  check(n < size_t(INT32_MAX), vocab_what, "{} entries is more than int32 ids can number", n);
  std::vector<std::string> names(n);
  std::vector<bool> seen(n, false);
  for (auto& [key, value] : vocab.items()) {
    check(value.is_number_integer(), vocab_what, "token {}: expected an integer id, found {}", shown(key),
          describe_json(value));
    bool in_range = value.is_number_unsigned() ? value.get<uint64_t>() < n
                                               : value.get<int64_t>() >= 0 && value.get<int64_t>() < int64_t(n);
    check(in_range, vocab_what, "token {} has the id {}; expected ids 0..{} (one per entry)", shown(key), value.dump(),
          n - 1);
    size_t id = value.get<size_t>();
    check(!seen[id], vocab_what, "the id {} is given to both {} and {}", id, shown(names[id]), shown(key));
    seen[id] = true;
    names[id] = key;
  }
  // The kind (rule 3 of gpt/tokenizer.h): GPT-1's tokens end words with "</w>", byte-level ones never do.
  const bool word_ends = std::any_of(names.begin(), names.end(), [](const std::string& t) {
    return t.size() >= 4 && t.compare(t.size() - 4, 4, "</w>") == 0;
  });
  const TokenizerKind kind = word_ends ? TokenizerKind::gpt1 : TokenizerKind::byte_level;
  check(!claim || claim->kind == kind, vocab_what, "{} names {}, but this vocabulary is {}: {}", claim ? claim->source : "",
        claim ? kind_name(claim->kind) : "", kind_name(kind),
        word_ends ? "tokens end words with \"</w>\", as GPT-1's do"
                  : "no token ends in \"</w>\", where GPT-1's vocabulary marks every word end so");
  const bool gpt1 = kind == TokenizerKind::gpt1;

  // pass 2: the special tokens' ids, from special_tokens.json or by the GPT-2 convention.
  std::array<int32_t, 4> special_ids{};
  if (special_text) {
    const char* what = special_tokens_json.c_str();
    Json specials = parse_json_strict(*special_text, special_tokens_json);
    check(specials.is_object(), what, "expected an object mapping special token names to ids, found {}",
          describe_json(specials));
    for (auto& [key, value] : specials.items()) {
      check(std::find(kSpecialTokens.begin(), kSpecialTokens.end(), key) != kSpecialTokens.end(), what,
            "unknown special token {}; expected exactly {}", shown(key), special_names());
    }
    for (size_t k = 0; k < kSpecialTokens.size(); ++k) {
      std::string name(kSpecialTokens[k]);
      int64_t id = get_int(specials, name.c_str(), special_tokens_json);
      check(vocab.contains(name), what, "{} has the id {} but {} has no entry {}", name, id, vocab_json, shown(name));
      check(vocab[name].get<int64_t>() == id, what, "{} has the id {} but {} gives it {}", name, id, vocab_json,
            vocab[name].dump());
      special_ids[k] = int32_t(id);
    }
  } else {
    for (size_t k = 0; k < kSpecialTokens.size(); ++k) {
      std::string name(kSpecialTokens[k]);
      if (vocab.contains(name)) {
        special_ids[k] = vocab[name].get<int32_t>();
      } else {
        special_ids[k] = int32_t(names.size());
        names.push_back(name);
      }
    }
  }
  auto is_special = [&](size_t id) {
    return std::find(special_ids.begin(), special_ids.end(), int32_t(id)) != special_ids.end();
  };

  // pass 3: ordinary tokens back to bytes; every single byte must have a token. (GPT-1: tokens are
  // text as written, and there is no such rule: a character without a token becomes "<unk>".)
  std::vector<std::string> tokens(names.size());
  std::unordered_map<std::string, int32_t> ids;  // bytes -> id, special tokens left out
  for (size_t id = 0; id < names.size(); ++id) {
    if (is_special(id)) {
      tokens[id] = names[id];
      continue;
    }
    check(!names[id].empty(), vocab_what, "the id {} has an empty token string", id);
    tokens[id] = gpt1 ? names[id]
                      : unicode_to_bytes(names[id], fmt::format("{}: token {} (id {})", vocab_json, shown(names[id]), id));
    ids.emplace(tokens[id], int32_t(id));
  }
  for (int b = 0; b < 256 && !gpt1; ++b) {
    check(ids.count(std::string(1, char(b))) > 0, vocab_what,
          "no token for the byte 0x{:02x} (written {}); byte-level BPE needs all 256", b,
          shown(bytes_to_unicode(std::string(1, char(b)))));
  }

  // pass 4: merges.txt, "#version: 0.2" and then "left right" lines, rank 0 first.
  const char* merges_what = merges_txt.c_str();
  const std::string_view text = merges_text;
  std::vector<BpeMerge> merges;
  std::unordered_map<uint64_t, size_t> line_of;  // (left, right) -> line, to refuse repeats
  size_t line_number = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    ++line_number;
    if (line_number == 1) {
      check(line == "#version: 0.2", merges_what, "line 1: expected \"#version: 0.2\", found {}", shown(line));
      continue;
    }
    size_t space = line.find(' ');
    check(space != std::string_view::npos && space > 0 && space + 1 < line.size() &&
              line.find(' ', space + 1) == std::string_view::npos,
          merges_what, "line {}: expected two tokens separated by one space, found {}", line_number, shown(line));
    check_utf8(line, fmt::format("{}: line {}", merges_txt, line_number).c_str());
    std::string_view parts[2] = {line.substr(0, space), line.substr(space + 1)};
    int32_t part_ids[2];
    std::string bytes[2];
    for (int p = 0; p < 2; ++p) {
      std::optional<std::string> b = gpt1 ? std::optional<std::string>(std::string(parts[p])) : printable_to_bytes(parts[p]);
      auto it = b ? ids.find(*b) : ids.end();
      check(it != ids.end(), merges_what, "line {}: {} is not a token of {}", line_number, shown(parts[p]), vocab_json);
      part_ids[p] = it->second;
      bytes[p] = *b;
    }
    auto result = ids.find(bytes[0] + bytes[1]);
    check(result != ids.end(), merges_what, "line {}: the merge result {} is not a token of {}", line_number,
          shown(std::string(parts[0]) + std::string(parts[1])), vocab_json);
    auto [previous, inserted] = line_of.emplace(pair_key(part_ids[0], part_ids[1]), line_number);
    check(inserted, merges_what, "line {}: the merge {} repeats line {}", line_number, shown(line), previous->second);
    merges.push_back({part_ids[0], part_ids[1], result->second});
  }
  check(line_number >= 1, merges_what, "the file is empty; expected \"#version: 0.2\" and then one merge per line");
  return Tokenizer(std::move(tokens), std::move(merges), special_ids, kind);
}

}  // namespace kiso
