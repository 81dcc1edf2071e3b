// train/shards.h — pre-training data: token shard files, the train/validation split, and the
// loader that turns a token stream into (inputs, targets) batches for next-token prediction.
//
// What it is:
//   - token shards in llm.c's file format (write_shard / read_shard), strictly validated;
//   - split_tokens: the last fraction of the tokens held out for validation;
//   - TokenLoader: batches of B randomly placed, contiguous windows of T + 1 tokens, the
//     "randomly sampled, contiguous sequences of 512 tokens" of the GPT-1 paper (section 4.1);
//     batch k is a pure function of (seed, k), so a resumed run reads exactly the batches an
//     uninterrupted one would have read;
//   - sequential_windows: consecutive non-overlapping windows for evaluation (perplexity).
// What it is not: a tokenizer (gpt/ encodes text; `kiso prepare` writes the shards) or a
// streaming reader. Every token of every shard is held in memory as int32 (4 bytes a token, twice
// the file's size); a corpus that does not fit in RAM is out of scope.
//
// The shard format (llm.c, dev/data/data_common.py write_datafile, and train_gpt2.c's loader):
//   bytes [0, 1024)        256 little-endian int32: [0] magic 20240520, [1] version 1,
//                          [2] the token count N, [3..255] zero (written as 0, ignored on read,
//                          as llm.c does)
//   bytes [1024, 1024+2N)  N little-endian uint16 token ids
// So a shard holds vocabularies of at most 65536 ids (GPT-1's 40478 and GPT-2's 50257 fit).
//
// Reference: Radford et al. 2018, "Improving Language Understanding by Generative Pre-Training",
// section 4.1 (Model specifications: "randomly sampled, contiguous sequences of 512 tokens");
// Karpathy, llm.c (the token file format).
// Read next: tests/train/test_shards.cpp (the format checked byte by byte, the sampling rules).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.h"

namespace kiso {

// ---- shard files ----

constexpr int32_t kShardMagic = 20240520;
constexpr int32_t kShardVersion = 1;
constexpr int64_t kShardHeaderInts = 256;
constexpr int64_t kShardHeaderBytes = kShardHeaderInts * 4;  // 1024

// Writes `tokens` (N) as one shard at `path`, all or nothing (gpt/atomic_file.h). Throws when
// there is nothing to write (read_shard would refuse an empty shard), when N does not fit the
// header's int32, or when a token is outside [0, 65535] (naming the token and its position: the
// vocabulary does not fit uint16).
void write_shard(const std::string& path, const std::vector<int32_t>& tokens);

// The N tokens of the shard at `path`. Every error names the file: shorter than the header, bad
// magic, unsupported version, a length after the header that is not a whole number of 2-byte
// tokens, a token count that does not match the file size, an empty shard, or a token id >=
// vocab_size (naming the id, its position and the vocabulary size).
std::vector<int32_t> read_shard(const std::string& path, int64_t vocab_size);
// The same checks on the bytes of a whole shard file held in memory; `what` names it in every
// error (read_shard passes the path). The entry point for tests and fuzzing.
std::vector<int32_t> parse_shard(std::string_view bytes, int64_t vocab_size, const std::string& what);

// ---- train / validation split ----

struct Split {
  std::vector<int32_t> train;  // tokens [0, N - n_val)
  std::vector<int32_t> val;    // tokens [N - n_val, N)
};

// Holds out the LAST val_fraction of the tokens, as one contiguous piece:
//   n_val = round(val_fraction * N)   (to nearest, halves away from zero: std::llround)
// Contiguous and at the end, rather than sampled windows, so that no validation text also sits in
// a training window (random windows of the training part never reach past its end). Each part
// must hold at least `min_tokens` tokens; the default 2 is one (input, target) pair, and a caller
// that knows T passes T + 1 so that the error comes here, with its reason, rather than later from
// the loader. val_fraction must be in (0, 1).
Split split_tokens(const std::vector<int32_t>& tokens, double val_fraction, int64_t min_tokens = 2);

// ---- batches ----

// One batch for next-token prediction: targets[b][t] is the token that follows inputs[b][t].
struct Batch {
  Tensor inputs;   // (B, T) i32
  Tensor targets;  // (B, T) i32
};

// The Philox stream the loader draws its window offsets from ("data" in ASCII): far from the small
// stream numbers (0, 1, ...) a trainer gives initialisation and dropout, so that with one seed for
// the whole run the data order never shares random numbers with them.
constexpr uint64_t kDataStream = 0x64617461;

// Random contiguous windows over one token stream, for pre-training.
//
// Several shards are concatenated in the order given into one stream (not sampled per shard), so
// a window may cross from one shard into the next, just as it crosses document boundaries inside
// a shard: the shards are pieces of one corpus, and separating documents is the tokenizer's job
// (an end-of-text token between them).
//
// Sampling, exactly (so another implementation can reproduce it): with N tokens there are
// M = N - T valid window starts 0 .. N - T - 1. Row b of batch k (0-based) draws
//   c = philox_block(seed, kDataStream, k * B + b)          (base/philox.h)
//   r = uint64(c[1]) << 32 | c[0]
//   start = r % M                                           (bias < M / 2^64: negligible)
//   window = tokens[start, start + T]   (T + 1 tokens)
//   inputs[b] = window[0, T)   targets[b] = window[1, T + 1)
// Rows are independent draws (with replacement), so two windows may overlap; there are no
// epochs — over many batches every start is equally likely. The draws of batch k are the
// k-th range of 4 * B draws of the stream, so batch k depends on (seed, B, T, N) and k only:
// seek(k) is free and exact.
class TokenLoader {
 public:
  // `source` names the data in errors (a file name, "validation split", ...). B, T >= 1, at
  // least T + 1 tokens, B · T within int64 and a batch (2 · B · T · 4 bytes) within the memory
  // budget (base/size.h), each an Error naming the source otherwise.
  TokenLoader(std::vector<int32_t> tokens, int64_t B, int64_t T, uint64_t seed, std::string source = "tokens");

  // Reads the shards at `paths` (read_shard, each checked against vocab_size) and concatenates
  // them in the order given.
  static TokenLoader from_shards(const std::vector<std::string>& paths, int64_t vocab_size, int64_t B, int64_t T,
                                 uint64_t seed);

  Batch next();                       // batch(position()), then position() + 1
  Batch batch(int64_t k) const;       // the k-th batch (0-based), without moving the position
  int64_t position() const { return position_; }  // batches served so far
  void seek(int64_t batch);           // next() then returns batch(batch); batch >= 0

  // Where row b of batch k starts in the token stream (the formula above). k · B + b must fit
  // in int64 (an Error otherwise, rather than a wrapped draw that repeats an earlier batch).
  int64_t window_start(int64_t k, int64_t b) const;

  int64_t num_tokens() const { return int64_t(tokens_.size()); }
  int64_t batch_size() const { return B_; }
  int64_t seq_len() const { return T_; }
  uint64_t seed() const { return seed_; }
  const std::string& source() const { return source_; }

 private:
  std::vector<int32_t> tokens_;  // (N,)
  int64_t B_, T_;
  uint64_t seed_;
  std::string source_;
  int64_t position_ = 0;
};

// Evaluation windows, in order: window w (w = 0, 1, ..., W - 1) is
//   inputs  = tokens[w*T,     w*T + T)
//   targets = tokens[w*T + 1, w*T + T + 1)
// with W = floor((N - 1) / T): consecutive and non-overlapping, starting at token 0; the
// (N - 1) % T tokens after token W*T (a partial window) are dropped, so exactly W * T tokens
// (tokens 1 .. W*T) are predicted, each once, and each window starts with an empty context.
// Windows are grouped B at a time in order; every batch is (B, T) except the last, which holds
// the remaining W - B * floor((W - 1) / B) windows (between 1 and B rows). A perplexity is
// exp(mean over all W * T targets of -log p(target)). All batches are built at once (8 bytes a
// token); meant for a validation split, not a whole corpus.
std::vector<Batch> sequential_windows(const std::vector<int32_t>& tokens, int64_t T, int64_t B,
                                      const std::string& source = "tokens");

}  // namespace kiso
