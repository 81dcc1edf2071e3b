// gpt/bpe_train.cpp — learning the merges of a byte-level BPE from a corpus.
//
// What it is: Sennrich et al.'s BPE learning loop (2016, Algorithm 1: count every adjacent pair
// of symbols over a vocabulary of words, merge the most frequent pair, repeat) on bytes, with
// GPT-2's pre-tokens as the "words" (Radford et al. 2019 §2.2), made fast enough for tens of MB
// of text by never recounting what a merge did not touch:
//   pass 1: cut the corpus into pre-tokens and count each distinct one. Real text has few
//           distinct words (10 MB of English documentation: 2.75 million pre-tokens, 58,000
//           distinct), so the rest of the work scales with them, not with the corpus;
//   pass 2: count every adjacent pair of byte tokens over the distinct words, each weighted by
//           its word's count, and remember in which words each pair occurs;
//   pass 3: repeatedly take the most frequent pair (a, b), give it the next id z, and rewrite
//           only the words that contain it, moving their pair counts from the old symbols to the
//           new ones. A max-heap finds the most frequent pair; counts that went down since they
//           were pushed are noticed when they reach the top and pushed again with the new count
//           (lazy deletion), which is right because a pair's count only ever goes down after the
//           merge that created it.
// Ties: among pairs of equal count the smallest (left id, right id) wins, so training is
// deterministic and independent of hash-table order. Byte tokens have id = byte value.
// What it is not: a trainer with a minimum frequency, a character coverage limit, or a word
// count cut-off; merges go on (down to pairs seen once) until the vocabulary is full or every
// word is a single token.
// Reference: Sennrich, Haddow & Birch 2016 (ACL), §3.2 and Algorithm 1; the incremental pair
// counts are the usual optimisation (as in Hugging Face tokenizers' BPE trainer).
#include <algorithm>
#include <chrono>
#include <queue>

#include "gpt/tokenizer.h"
#include "base/check.h"

namespace kiso {

namespace {

struct Word {
  std::vector<int32_t> symbols;  // current token ids, left to right
  int64_t count = 0;             // how often the pre-token occurs in the corpus
};

struct PairStats {
  int64_t count = 0;           // occurrences in the corpus (each word's count, times per word)
  std::vector<int32_t> words;  // indices of words that contain it (maybe stale, maybe repeated)
};

struct Candidate {
  int64_t count;
  int32_t left, right;
  // The heap's top is the largest: higher count first, then the smaller pair of ids.
  bool operator<(const Candidate& o) const {
    if (count != o.count) return count < o.count;
    return left != o.left ? left > o.left : right > o.right;
  }
};

uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

bool contains_pair(const std::vector<int32_t>& s, int32_t a, int32_t b) {
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] == a && s[i + 1] == b) return true;
  }
  return false;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Tokenizer Tokenizer::train(std::string_view corpus, int64_t vocab_size, TrainStats* stats) {
  const char* op = "Tokenizer::train";
  const int64_t fixed = 256 + int64_t(kSpecialTokens.size());
  check(vocab_size >= fixed, op, "vocab_size {} is too small: the 256 byte tokens and the {} special tokens need {}",
        vocab_size, kSpecialTokens.size(), fixed);
  check(vocab_size <= INT32_MAX, op, "vocab_size {} does not fit int32 ids", vocab_size);
  TrainStats local;
  TrainStats& st = stats ? *stats : local;
  st = TrainStats{};
  st.bytes = int64_t(corpus.size());

  // pass 1: pre-tokens and their counts. Words are numbered in order of first appearance, and
  // the views point into `corpus` (no copies).
  auto start = std::chrono::steady_clock::now();
  check_utf8(corpus, op);
  std::unordered_map<std::string_view, int32_t, StringHash, std::equal_to<>> word_index;  // piece -> word
  std::vector<std::string_view> pieces;                                                  // word -> piece
  std::vector<int64_t> piece_counts;                                                     // word -> count
  for_each_pretoken(corpus, [&](std::string_view piece) {
    auto [it, inserted] = word_index.try_emplace(piece, int32_t(pieces.size()));
    if (inserted) pieces.push_back(piece), piece_counts.push_back(0);
    ++piece_counts[it->second];
    ++st.pretokens;
  });
  st.distinct_pretokens = int64_t(pieces.size());
  st.pretokenize_seconds = seconds_since(start);

  // pass 2: every word as byte tokens; every adjacent pair counted.
  start = std::chrono::steady_clock::now();
  std::vector<Word> words(pieces.size());
  std::unordered_map<uint64_t, PairStats> pairs;
  for (int32_t w = 0; w < int32_t(words.size()); ++w) {
    words[w].count = piece_counts[w];
    for (char c : pieces[w]) words[w].symbols.push_back(static_cast<unsigned char>(c));
    const std::vector<int32_t>& s = words[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      PairStats& p = pairs[pair_key(s[i], s[i + 1])];
      p.count += words[w].count;
      if (p.words.empty() || p.words.back() != w) p.words.push_back(w);
    }
  }
  std::priority_queue<Candidate> heap;
  for (const auto& [key, p] : pairs) heap.push({p.count, int32_t(key >> 32), int32_t(uint32_t(key))});

  // pass 3: merge the most frequent pair, vocab_size - 260 times (or until no pair is left).
  std::vector<std::string> tokens;  // (V,) id -> bytes
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, char(b)));
  std::vector<BpeMerge> merges;
  const int64_t wanted = vocab_size - fixed;
  std::vector<uint64_t> created;  // pairs that contain the new token, to push on the heap
  while (int64_t(merges.size()) < wanted && !heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    const uint64_t ab = pair_key(top.left, top.right);
    auto found = pairs.find(ab);
    int64_t count = found == pairs.end() ? 0 : found->second.count;
    if (count != top.count) {  // stale: its count went down after it was pushed
      if (count > 0) heap.push({count, top.left, top.right});
      continue;
    }
    const int32_t a = top.left, b = top.right, z = int32_t(tokens.size());
    merges.push_back({a, b, z});
    tokens.push_back(tokens[a] + tokens[b]);

    // Rewrite each word that holds (a, b): take its pairs out of the counts, merge every
    // occurrence left to right without overlap ("a a a" -> "aa a", as encode does), put the new
    // pairs in. Pairs away from the merge are taken out and put back unchanged; words are short,
    // so this is simpler than patching the neighbours and costs little.
    std::vector<int32_t> where = std::move(found->second.words);
    std::sort(where.begin(), where.end());
    where.erase(std::unique(where.begin(), where.end()), where.end());
    created.clear();
    for (int32_t w : where) {
      std::vector<int32_t>& s = words[w].symbols;
      if (!contains_pair(s, a, b)) continue;  // an earlier merge already rewrote it
      const int64_t c = words[w].count;
      for (size_t i = 0; i + 1 < s.size(); ++i) pairs[pair_key(s[i], s[i + 1])].count -= c;
      size_t out = 0;
      for (size_t i = 0; i < s.size(); ++out) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) s[out] = z, i += 2;
        else s[out] = s[i], i += 1;
      }
      s.resize(out);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        uint64_t key = pair_key(s[i], s[i + 1]);
        PairStats& p = pairs[key];
        p.count += c;
        if (s[i] == z || s[i + 1] == z) {
          if (p.words.empty() || p.words.back() != w) p.words.push_back(w);
          created.push_back(key);
        }
      }
    }
    auto merged = pairs.find(ab);
    check(merged->second.count == 0, op, "internal error: the pair ({}, {}) still counts {} after its merge", a, b,
          merged->second.count);
    pairs.erase(merged);  // (a, b) can never be adjacent again: no merge splits a token
    std::sort(created.begin(), created.end());
    created.erase(std::unique(created.begin(), created.end()), created.end());
    for (uint64_t key : created) heap.push({pairs[key].count, int32_t(key >> 32), int32_t(uint32_t(key))});
  }
  st.merges = int64_t(merges.size());

  // The special tokens come last, their names standing in for their bytes.
  std::array<int32_t, 4> special_ids{};
  for (size_t k = 0; k < kSpecialTokens.size(); ++k) {
    special_ids[k] = int32_t(tokens.size());
    tokens.push_back(std::string(kSpecialTokens[k]));
  }
  st.merge_seconds = seconds_since(start);
  return Tokenizer(std::move(tokens), std::move(merges), special_ids);
}

}  // namespace kiso
