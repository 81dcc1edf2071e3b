// train/shards.cpp — llm.c token shards, the train/validation split, the random-window loader
// and the sequential evaluation windows. The format and the sampling rules are in shards.h.
//
// Numbers in a shard are encoded and decoded byte by byte (little-endian), so the code reads the
// same on any host and the layout is visible in the two helpers below.
#include "train/shards.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "base/philox.h"
#include "base/size.h"
#include "gpt/atomic_file.h"

namespace kiso {

namespace {

// Little-endian int32 at p[0..3]: the lowest byte comes first.
int32_t load_le32(const unsigned char* p) {
  uint32_t u = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
  return int32_t(u);
}

void store_le32(char* p, int32_t v) {
  uint32_t u = uint32_t(v);
  for (int i = 0; i < 4; ++i) p[i] = char((u >> (8 * i)) & 0xff);
}

// Little-endian uint16 at p[0..1].
int32_t load_le16(const unsigned char* p) { return int32_t(uint32_t(p[0]) | uint32_t(p[1]) << 8); }

void store_le16(char* p, int32_t v) {
  p[0] = char(v & 0xff);
  p[1] = char((v >> 8) & 0xff);
}

void check_window_sizes(const char* op, int64_t B, int64_t T, int64_t N, const std::string& source) {
  check(B >= 1, op, "{}: batch size B must be >= 1, got {}", source, B);
  check(T >= 1, op, "{}: sequence length T must be >= 1, got {}", source, T);
  // N - 1 >= T rather than N >= T + 1: T + 1 overflows for T = 2^63 - 1 (the message prints it
  // as an unsigned number for the same reason).
  check(N - 1 >= T, op, "{}: holds {} tokens, too short for one window of T + 1 = {} tokens (T = {}); use more data or a smaller T",
        source, N, uint64_t(T) + 1, T);
  // A batch is two (B, T) i32 tensors (inputs and targets): B · T must fit in int64, and the
  // batch in memory, before anything is reserved for it.
  const int64_t BT = mul_size(B, T, op, fmt::format("{}: a batch of B × T tokens", source));
  check_memory(mul_size(BT, 2 * int64_t(sizeof(int32_t)), op, fmt::format("{}: a batch's bytes", source)), op,
               fmt::format("{}: a batch of B {} × T {} tokens (inputs and targets, i32)", source, B, T));
}

// A window's rows: inputs = window[0, T), targets = window[1, T + 1), appended to the batch.
void append_window(const std::vector<int32_t>& tokens, int64_t start, int64_t T, std::vector<int32_t>& inputs,
                   std::vector<int32_t>& targets) {
  const int32_t* w = tokens.data() + start;  // (T + 1,)
  inputs.insert(inputs.end(), w, w + T);
  targets.insert(targets.end(), w + 1, w + T + 1);
}

// "a.bin", "a.bin, b.bin", or "a.bin, ..., z.bin (5 shards)": short enough for an error message.
std::string describe_paths(const std::vector<std::string>& paths) {
  if (paths.size() == 1) return paths[0];
  if (paths.size() == 2) return paths[0] + ", " + paths[1];
  return paths.front() + ", ..., " + paths.back() + " (" + std::to_string(paths.size()) + " shards)";
}

}  // namespace

// ---- shard files ----

void write_shard(const std::string& path, const std::vector<int32_t>& tokens) {
  const char* op = "write_shard";
  const int64_t N = int64_t(tokens.size());
  check(N > 0, op, "{}: no tokens to write; an empty shard is not valid (read_shard refuses it)", path);
  check(N <= std::numeric_limits<int32_t>::max(), op, "{}: {} tokens do not fit the header's int32 count (at most {}); split them over several shards",
        path, N, std::numeric_limits<int32_t>::max());
  for (int64_t i = 0; i < N; ++i)
    check(tokens[i] >= 0 && tokens[i] <= 65535, op,
          "{}: token {} at position {} is outside [0, 65535]: the vocabulary does not fit uint16, the shard format's token type",
          path, tokens[i], i);

  std::string bytes(size_t(kShardHeaderBytes + 2 * N), '\0');  // the header's unused words stay 0
  store_le32(&bytes[0], kShardMagic);
  store_le32(&bytes[4], kShardVersion);
  store_le32(&bytes[8], int32_t(N));
  char* body = &bytes[kShardHeaderBytes];
  for (int64_t i = 0; i < N; ++i) store_le16(body + 2 * i, tokens[i]);
  write_file_atomic(path, bytes);
}

std::vector<int32_t> read_shard(const std::string& path, int64_t vocab_size) {
  return parse_shard(read_file(path), vocab_size, path);
}

std::vector<int32_t> parse_shard(std::string_view bytes, int64_t vocab_size, const std::string& path) {
  const char* op = "read_shard";
  check(vocab_size >= 1, op, "{}: vocab_size must be >= 1, got {}", path, vocab_size);
  const int64_t size = int64_t(bytes.size());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());

  // pass 1: the header
  check(size >= kShardHeaderBytes, op, "{}: file is {} bytes, shorter than the {}-byte header (256 int32); not an llm.c token shard",
        path, size, kShardHeaderBytes);
  const int32_t magic = load_le32(p), version = load_le32(p + 4);
  const int64_t N = load_le32(p + 8);
  check(magic == kShardMagic, op, "{}: bad magic number: expected {}, found {}; not an llm.c token shard", path, kShardMagic,
        magic);
  check(version == kShardVersion, op, "{}: unsupported version {}; expected {} (uint16 tokens)", path, version, kShardVersion);
  check(N >= 0, op, "{}: the header's token count is negative ({})", path, N);
  const int64_t body_bytes = size - kShardHeaderBytes;
  check(body_bytes % 2 == 0, op,
        "{}: the {} bytes after the {}-byte header are not a whole number of 2-byte tokens (the file is {} bytes; "
        "truncated?)",
        path, body_bytes, kShardHeaderBytes, size);
  // N is an int32, so this cannot overflow; computed with base/size.h all the same, like every
  // size read from a file.
  const int64_t expected = add_size(kShardHeaderBytes, mul_size(2, N, op, path), op, path);
  check(size == expected, op,
        "{}: token count {} in the header does not match the file size: expected {} bytes ({}-byte header + 2 bytes a token), "
        "found {}; truncated or padded?",
        path, N, expected, kShardHeaderBytes, size);
  check(N > 0, op, "{}: empty shard (the header's token count is 0); expected at least one token", path);

  // pass 2: the tokens, each checked against the vocabulary it will index
  std::vector<int32_t> tokens(size_t(N), 0);  // (N,)
  const unsigned char* body = p + kShardHeaderBytes;
  for (int64_t i = 0; i < N; ++i) {
    tokens[i] = load_le16(body + 2 * i);
    check(tokens[i] < vocab_size, op,
          "{}: token id {} at position {} is outside the vocabulary (vocab_size = {}); was the shard made with another tokenizer?",
          path, tokens[i], i, vocab_size);
  }
  return tokens;
}

// ---- train / validation split ----

Split split_tokens(const std::vector<int32_t>& tokens, double val_fraction, int64_t min_tokens) {
  const char* op = "split_tokens";
  check(val_fraction > 0 && val_fraction < 1, op, "val_fraction must be in (0, 1), got {}", val_fraction);
  check(min_tokens >= 1, op, "min_tokens must be >= 1, got {}", min_tokens);
  const int64_t N = int64_t(tokens.size());
  const int64_t n_val = std::llround(val_fraction * double(N));
  const int64_t n_train = N - n_val;
  check(n_val >= min_tokens, op,
        "the validation part would hold {} of {} tokens (val_fraction = {}), fewer than the {} it needs (one window of T + 1); "
        "use more data or a larger val_fraction",
        n_val, N, val_fraction, min_tokens);
  check(n_train >= min_tokens, op,
        "the training part would hold {} of {} tokens (val_fraction = {}), fewer than the {} it needs (one window of T + 1); "
        "use more data or a smaller val_fraction",
        n_train, N, val_fraction, min_tokens);
  Split s;
  s.train.assign(tokens.begin(), tokens.begin() + n_train);  // (N - n_val,)
  s.val.assign(tokens.begin() + n_train, tokens.end());      // (n_val,)
  return s;
}

// ---- the random-window loader ----

TokenLoader::TokenLoader(std::vector<int32_t> tokens, int64_t B, int64_t T, uint64_t seed, std::string source)
    : tokens_(std::move(tokens)), B_(B), T_(T), seed_(seed), source_(std::move(source)) {
  check_window_sizes("TokenLoader", B_, T_, num_tokens(), source_);
}

TokenLoader TokenLoader::from_shards(const std::vector<std::string>& paths, int64_t vocab_size, int64_t B, int64_t T,
                                     uint64_t seed) {
  check(!paths.empty(), "TokenLoader", "no shard files given; expected at least one");
  std::vector<int32_t> all;
  for (const std::string& path : paths) {
    std::vector<int32_t> shard = read_shard(path, vocab_size);
    const int64_t total = add_size(int64_t(all.size()), int64_t(shard.size()), "TokenLoader", "the token count");
    check_memory(mul_size(total, int64_t(sizeof(int32_t)), "TokenLoader", "the token bytes"), "TokenLoader",
                 fmt::format("the tokens of {} (4 bytes each, through {})", describe_paths(paths), path));
    all.insert(all.end(), shard.begin(), shard.end());
  }
  return TokenLoader(std::move(all), B, T, seed, describe_paths(paths));
}

int64_t TokenLoader::window_start(int64_t k, int64_t b) const {
  check(k >= 0, "TokenLoader", "{}: batch number must be >= 0, got {}", source_, k);
  check(b >= 0 && b < B_, "TokenLoader", "{}: row {} is outside the batch (B = {})", source_, b, B_);
  const uint64_t M = uint64_t(num_tokens() - T_);  // valid starts 0 .. N - T - 1
  // Draw k · B + b, checked: a wrapped number would silently repeat an earlier batch's windows.
  const std::string what = fmt::format("{}: the draw number of batch {} (k × B + b)", source_, k);
  const int64_t draw = add_size(mul_size(k, B_, "TokenLoader", what), b, "TokenLoader", what);
  const PhiloxCounter c = philox_block(seed_, kDataStream, uint64_t(draw));
  const uint64_t r = uint64_t(c[1]) << 32 | c[0];
  return int64_t(r % M);
}

Batch TokenLoader::batch(int64_t k) const {
  std::vector<int32_t> inputs, targets;  // (B * T,) each
  inputs.reserve(size_t(B_ * T_));
  targets.reserve(size_t(B_ * T_));
  for (int64_t b = 0; b < B_; ++b) append_window(tokens_, window_start(k, b), T_, inputs, targets);
  return {from_vector(inputs, {B_, T_}), from_vector(targets, {B_, T_})};  // (B, T) each
}

Batch TokenLoader::next() {
  Batch out = batch(position_);
  ++position_;
  return out;
}

void TokenLoader::seek(int64_t batch) {
  check(batch >= 0, "TokenLoader::seek", "{}: batch number must be >= 0, got {}", source_, batch);
  position_ = batch;
}

// ---- sequential evaluation windows ----

std::vector<Batch> sequential_windows(const std::vector<int32_t>& tokens, int64_t T, int64_t B, const std::string& source) {
  const int64_t N = int64_t(tokens.size());
  check_window_sizes("sequential_windows", B, T, N, source);
  const int64_t W = (N - 1) / T;  // whole windows; the (N - 1) % T tokens after token W*T are dropped
  std::vector<Batch> batches;
  for (int64_t first = 0; first < W; first += B) {
    const int64_t rows = std::min(B, W - first);  // B, except maybe the last batch
    std::vector<int32_t> inputs, targets;         // (rows * T,) each
    inputs.reserve(size_t(rows * T));
    targets.reserve(size_t(rows * T));
    for (int64_t w = first; w < first + rows; ++w) append_window(tokens, w * T, T, inputs, targets);
    batches.push_back({from_vector(inputs, {rows, T}), from_vector(targets, {rows, T})});  // (rows, T) each
  }
  return batches;
}

}  // namespace kiso
