// tests/train/test_shards.cpp — token shards (llm.c's format), the train/validation split, the
// random-window loader and the sequential evaluation windows (train/shards.h).
//
// Oracles: the format spec itself, read byte by byte from the written file with no help from
// read_shard (magic 20240520 is the bytes 88 d8 34 01); hand-made malformed files for every
// error; token streams whose values are their own positions (tokens[i] = i), so a window's
// content tells where it starts and whether it is contiguous; the documented offset formula
// recomputed from philox_block; an uninterrupted loader as the oracle for seek.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "gpt/atomic_file.h"
#include "base/philox.h"
#include "train/shards.h"

using namespace kiso;
namespace fs = std::filesystem;

namespace {


// A shard assembled by hand, byte by byte, so that malformed headers can be written:
// 256 little-endian int32 (magic, version, count, then zeros) and the tokens as little-endian uint16.
std::string shard_bytes(int32_t magic, int32_t version, int32_t count, const std::vector<uint16_t>& tokens) {
  std::string bytes;
  auto put32 = [&](int32_t v) {
    for (int i = 0; i < 4; ++i) bytes.push_back(char((uint32_t(v) >> (8 * i)) & 0xff));
  };
  put32(magic);
  put32(version);
  put32(count);
  for (int i = 3; i < 256; ++i) put32(0);
  for (uint16_t t : tokens) {
    bytes.push_back(char(t & 0xff));
    bytes.push_back(char(t >> 8));
  }
  return bytes;
}

std::vector<int32_t> iota_tokens(int64_t n) {  // tokens[i] = i
  std::vector<int32_t> v(size_t(n), 0);
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = int32_t(i);
  return v;
}

// doctest::Contains for a message built at run time (doctest::String has no std::string constructor).
doctest::Contains contains(const std::string& text) { return doctest::Contains(text.c_str()); }

bool same_batch(const Batch& a, const Batch& b) {
  return a.inputs.shape() == b.inputs.shape() && a.inputs.to_vector<int32_t>() == b.inputs.to_vector<int32_t>() &&
         a.targets.to_vector<int32_t>() == b.targets.to_vector<int32_t>();
}

}  // namespace

TEST_SUITE("train") {

// ---- shard files ----

TEST_CASE("write_shard -> read_shard round trip, and the bytes are exactly llm.c's layout") {
  TempDir dir("shards_roundtrip");
  const std::vector<int32_t> tokens{0, 1, 255, 256, 40477, 65535, 7};
  write_shard(dir.str("a.bin"), tokens);
  CHECK(read_shard(dir.str("a.bin"), 65536) == tokens);

  // The raw bytes, against the spec: no help from read_shard.
  const std::string raw = read_file(dir.str("a.bin"));
  REQUIRE(raw.size() == 1024 + 2 * tokens.size());
  auto byte = [&](size_t i) { return uint8_t(raw[i]); };
  CHECK(std::vector<int>{byte(0), byte(1), byte(2), byte(3)} == std::vector<int>{0x88, 0xd8, 0x34, 0x01});  // 20240520
  CHECK(std::vector<int>{byte(4), byte(5), byte(6), byte(7)} == std::vector<int>{1, 0, 0, 0});              // version
  CHECK(std::vector<int>{byte(8), byte(9), byte(10), byte(11)} == std::vector<int>{7, 0, 0, 0});            // N
  bool rest_zero = true;
  for (size_t i = 12; i < 1024; ++i) rest_zero &= byte(i) == 0;
  CHECK(rest_zero);
  const std::vector<int> body_expected{0x00, 0x00, 0x01, 0x00, 0xff, 0x00, 0x00, 0x01,   // 0, 1, 255, 256
                                       0x1d, 0x9e, 0xff, 0xff, 0x07, 0x00};              // 40477, 65535, 7
  std::vector<int> body;
  for (size_t i = 1024; i < raw.size(); ++i) body.push_back(byte(i));
  CHECK(body == body_expected);

  // And the other way: a file built by hand from the spec reads back.
  write_file_atomic(dir.str("hand.bin"), shard_bytes(20240520, 1, 3, {5, 0x1234, 40000}));
  CHECK(read_shard(dir.str("hand.bin"), 40001) == std::vector<int32_t>{5, 0x1234, 40000});
}

TEST_CASE("write_shard refuses tokens that do not fit uint16 and empty input, and writes nothing") {
  TempDir dir("shards_write_errors");
  const std::string path = dir.str("bad.bin");
  CHECK_THROWS_WITH_AS(write_shard(path, {1, 2, 65536}),
                       doctest::Contains("token 65536 at position 2 is outside [0, 65535]: the vocabulary does not fit uint16"),
                       Error);
  CHECK_THROWS_WITH_AS(write_shard(path, {-1, 2}), doctest::Contains("token -1 at position 0"), Error);
  CHECK_THROWS_WITH_AS(write_shard(path, {-1, 2}), contains(path), Error);
  CHECK_THROWS_WITH_AS(write_shard(path, {}), doctest::Contains("no tokens to write"), Error);
  CHECK_FALSE(fs::exists(path));
  write_shard(path, {65535});  // the largest id that fits
  CHECK(read_shard(path, 65536) == std::vector<int32_t>{65535});
}

TEST_CASE("read_shard rejects malformed files, naming the file and what is wrong") {
  TempDir dir("shards_read_errors");
  auto write = [&](const std::string& name, const std::string& bytes) {
    write_file_atomic(dir.str(name), bytes);
    return dir.str(name);
  };

  SUBCASE("shorter than the header") {
    std::string p = write("short.bin", shard_bytes(20240520, 1, 2, {1, 2}).substr(0, 100));
    CHECK_THROWS_WITH_AS(read_shard(p, 10), contains(p + ": file is 100 bytes, shorter than the 1024-byte header"),
                         Error);
    p = write("zero.bin", "");
    CHECK_THROWS_WITH_AS(read_shard(p, 10), doctest::Contains("file is 0 bytes"), Error);
  }
  SUBCASE("bad magic: expected and found") {
    std::string p = write("magic.bin", shard_bytes(12345, 1, 2, {1, 2}));
    CHECK_THROWS_WITH_AS(read_shard(p, 10), contains(p + ": bad magic number: expected 20240520, found 12345"),
                         Error);
  }
  SUBCASE("unsupported version") {
    std::string p = write("version.bin", shard_bytes(20240520, 2, 2, {1, 2}));
    CHECK_THROWS_WITH_AS(read_shard(p, 10), contains(p + ": unsupported version 2; expected 1"), Error);
  }
  SUBCASE("token count inconsistent with the file size") {
    std::string p = write("count.bin", shard_bytes(20240520, 1, 10, {1, 2, 3, 4, 5, 6, 7, 8}));  // says 10, holds 8
    CHECK_THROWS_WITH_AS(read_shard(p, 10), contains(p + ": token count 10 in the header"), Error);
    CHECK_THROWS_WITH_AS(read_shard(p, 10), doctest::Contains("expected 1044 bytes"), Error);
    CHECK_THROWS_WITH_AS(read_shard(p, 10), doctest::Contains("found 1040"), Error);
    p = write("extra.bin", shard_bytes(20240520, 1, 1, {1, 2}));  // a trailing token is an error too
    CHECK_THROWS_WITH_AS(read_shard(p, 10), doctest::Contains("expected 1026 bytes (1024-byte header + 2 bytes a token), found 1028"),
                         Error);
    p = write("negative.bin", shard_bytes(20240520, 1, -3, {}));
    CHECK_THROWS_WITH_AS(read_shard(p, 10), contains(p + ": the header's token count is negative (-3)"), Error);
  }
  SUBCASE("a length that is not a whole number of 2-byte tokens") {
    std::string odd = shard_bytes(20240520, 1, 2, {1, 2});
    odd.pop_back();  // 1027 bytes: 3 bytes of tokens
    std::string p = write("odd.bin", odd);
    CHECK_THROWS_WITH_AS(read_shard(p, 10),
                         contains(p + ": the 3 bytes after the 1024-byte header are not a whole number of 2-byte "
                                      "tokens (the file is 1027 bytes; truncated?)"),
                         Error);
  }
  SUBCASE("empty shard") {
    std::string p = write("empty.bin", shard_bytes(20240520, 1, 0, {}));
    CHECK_THROWS_WITH_AS(read_shard(p, 10), contains(p + ": empty shard"), Error);
  }
  SUBCASE("ids >= vocab_size: the id, its position and the vocabulary size") {
    std::string p = write("vocab.bin", shard_bytes(20240520, 1, 5, {0, 99, 3, 100, 7}));
    CHECK(read_shard(p, 101) == std::vector<int32_t>{0, 99, 3, 100, 7});  // vocab_size - 1 is the largest id
    CHECK_THROWS_WITH_AS(read_shard(p, 100),
                         contains(p + ": token id 100 at position 3 is outside the vocabulary (vocab_size = 100)"), Error);
    CHECK_THROWS_WITH_AS(read_shard(p, 0), doctest::Contains("vocab_size must be >= 1, got 0"), Error);
  }
  SUBCASE("a missing file") {
    CHECK_THROWS_WITH_AS(read_shard(dir.str("missing.bin"), 10), contains(dir.str("missing.bin")), Error);
  }
}

TEST_CASE("parse_shard reads a shard from memory, with the same checks and the name it is given") {
  std::string bytes = shard_bytes(20240520, 1, 3, {4, 0, 9});
  CHECK(parse_shard(bytes, 10, "mem") == std::vector<int32_t>{4, 0, 9});
  CHECK_THROWS_WITH_AS(parse_shard(bytes, 9, "mem"), doctest::Contains("mem: token id 9 at position 2"), Error);
  CHECK_THROWS_WITH_AS(parse_shard(std::string_view(bytes).substr(0, 1025), 10, "mem"),
                       doctest::Contains("mem: the 1 bytes after the 1024-byte header"), Error);
  // The largest count the header's int32 can state: the expected size is computed without
  // overflow (1024 + 2 · (2^31 - 1)) and reported, with nothing allocated for the tokens.
  std::string big = shard_bytes(20240520, 1, std::numeric_limits<int32_t>::max(), {1, 2});
  CHECK_THROWS_WITH_AS(parse_shard(big, 10, "big"),
                       doctest::Contains("big: token count 2147483647 in the header does not match the file size: "
                                         "expected 4294968318 bytes"),
                       Error);
}

// ---- train / validation split ----

TEST_CASE("split_tokens holds out the last val_fraction, contiguous, and the two parts rebuild the input") {
  const std::vector<int32_t> tokens = iota_tokens(100);
  Split s = split_tokens(tokens, 0.1);
  CHECK(s.train == iota_tokens(90));
  REQUIRE(s.val.size() == 10);
  CHECK(s.val.front() == 90);
  CHECK(s.val.back() == 99);
  std::vector<int32_t> joined = s.train;
  joined.insert(joined.end(), s.val.begin(), s.val.end());
  CHECK(joined == tokens);

  // n_val = round(val_fraction * N): 0.29 * 100 is 28.999999999999996 in double and still gives 29;
  // halves round away from zero.
  CHECK(split_tokens(tokens, 0.29).val.size() == 29);
  CHECK(split_tokens(iota_tokens(10), 0.25).val.size() == 3);  // 2.5 -> 3
  CHECK(split_tokens(iota_tokens(10), 0.24).val.size() == 2);
}

TEST_CASE("split_tokens says why when a part would be too short, and rejects fractions outside (0, 1)") {
  const std::vector<int32_t> tokens = iota_tokens(10);
  CHECK_THROWS_WITH_AS(split_tokens(tokens, 0.01),
                       doctest::Contains("split_tokens: the validation part would hold 0 of 10 tokens (val_fraction = 0.01), fewer than the 2"),
                       Error);
  CHECK_THROWS_WITH_AS(split_tokens(tokens, 0.99), doctest::Contains("the training part would hold 0 of 10 tokens"), Error);
  CHECK_THROWS_WITH_AS(split_tokens(tokens, 0.2, 3), doctest::Contains("the validation part would hold 2 of 10 tokens"), Error);
  CHECK(split_tokens(tokens, 0.3, 3).val.size() == 3);  // exactly min_tokens is enough
  for (double bad : {0.0, 1.0, -0.5, 1.5, std::nan("")})
    CHECK_THROWS_WITH_AS(split_tokens(tokens, bad), doctest::Contains("val_fraction must be in (0, 1)"), Error);
}

// ---- the random-window loader ----

TEST_CASE("TokenLoader: (B, T) i32 batches of contiguous windows; targets are inputs shifted by one") {
  const int64_t N = 500, B = 4, T = 8;
  TokenLoader loader(iota_tokens(N), B, T, 42);
  for (int k = 0; k < 50; ++k) {
    Batch batch = loader.next();
    REQUIRE(batch.inputs.shape() == Shape{B, T});
    REQUIRE(batch.targets.shape() == Shape{B, T});
    CHECK(batch.inputs.dtype() == DType::i32);
    CHECK(batch.targets.dtype() == DType::i32);
    std::vector<int32_t> x = batch.inputs.to_vector<int32_t>(), y = batch.targets.to_vector<int32_t>();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t start = x[b * T];  // tokens[i] = i, so the first input is where the window starts
      CHECK(start == loader.window_start(k, b));
      CHECK(start >= 0);
      CHECK(start + T <= N - 1);  // the window's last token (the last target) is inside the data
      for (int64_t t = 0; t < T; ++t) {
        CHECK(x[b * T + t] == start + t);      // contiguous
        CHECK(y[b * T + t] == start + t + 1);  // the next token
      }
    }
  }
  CHECK(loader.position() == 50);
}

TEST_CASE("TokenLoader: window starts follow the documented Philox formula") {
  // start = (c[1] << 32 | c[0]) % (N - T), c = philox_block(seed, kDataStream, k * B + b)
  const int64_t N = 1000, B = 3, T = 16;
  const uint64_t seed = 0x1234567890abcdefull;
  TokenLoader loader(iota_tokens(N), B, T, seed);
  for (int64_t k : {0, 1, 2, 1000, 123456789}) {
    Batch batch = loader.batch(k);
    std::vector<int32_t> x = batch.inputs.to_vector<int32_t>();
    for (int64_t b = 0; b < B; ++b) {
      PhiloxCounter c = philox_block(seed, kDataStream, uint64_t(k * B + b));
      uint64_t r = uint64_t(c[1]) << 32 | c[0];
      CHECK(x[b * T] == int64_t(r % uint64_t(N - T)));
    }
  }
  CHECK(loader.position() == 0);  // batch(k) does not move the position
}

TEST_CASE("TokenLoader is deterministic for a seed; another seed gives other batches") {
  const std::vector<int32_t> tokens = iota_tokens(2000);
  TokenLoader a(tokens, 4, 8, 7), b(tokens, 4, 8, 7), c(tokens, 4, 8, 8);
  int differ = 0;
  for (int k = 0; k < 20; ++k) {
    Batch ba = a.next(), bb = b.next(), bc = c.next();
    CHECK(same_batch(ba, bb));
    differ += !same_batch(ba, bc);
  }
  CHECK(differ == 20);
  // Consecutive batches of one loader differ too (the batch number is in the counter).
  CHECK_FALSE(same_batch(a.batch(0), a.batch(1)));
}

TEST_CASE("TokenLoader: offsets spread over the whole data; every token is visited") {
  const int64_t N = 1000, B = 16, T = 8, batches = 400;
  TokenLoader loader(iota_tokens(N), B, T, 3);
  const int64_t M = N - T;  // valid starts 0 .. M - 1
  std::vector<int64_t> per_decile(10, 0), covered(size_t(N), 0);
  for (int64_t k = 0; k < batches; ++k) {
    for (int64_t b = 0; b < B; ++b) {
      const int64_t s = loader.window_start(k, b);
      REQUIRE(s >= 0);
      REQUIRE(s < M);
      per_decile[size_t(s * 10 / M)]++;
      for (int64_t i = s; i <= s + T; ++i) covered[size_t(i)]++;
    }
  }
  // 6400 starts, 640 expected per tenth of the range; a uniform draw stays well within +-25%.
  for (int64_t d = 0; d < 10; ++d) {
    INFO("decile " << d << ": " << per_decile[size_t(d)]);
    CHECK(per_decile[size_t(d)] > 480);
    CHECK(per_decile[size_t(d)] < 800);
  }
  CHECK(std::count(covered.begin(), covered.end(), 0) == 0);  // the first and last tokens included
}

TEST_CASE("TokenLoader: seek(k) then next() is exactly the k-th batch of an uninterrupted loader") {
  const std::vector<int32_t> tokens = iota_tokens(3000);
  TokenLoader uninterrupted(tokens, 5, 12, 99);
  std::vector<Batch> reference;
  for (int k = 0; k < 12; ++k) reference.push_back(uninterrupted.next());

  TokenLoader resumed(tokens, 5, 12, 99);
  resumed.seek(7);
  CHECK(resumed.position() == 7);
  for (int k = 7; k < 12; ++k) CHECK(same_batch(resumed.next(), reference[size_t(k)]));
  CHECK(resumed.position() == 12);
  resumed.seek(2);  // backwards too
  CHECK(same_batch(resumed.next(), reference[2]));
  resumed.seek(0);
  CHECK(same_batch(resumed.next(), reference[0]));
  CHECK_THROWS_WITH_AS(resumed.seek(-1), doctest::Contains("TokenLoader::seek: tokens: batch number must be >= 0, got -1"),
                       Error);
}

TEST_CASE("TokenLoader: too-short data, B or T < 1 are errors naming the source") {
  CHECK_THROWS_WITH_AS(TokenLoader(iota_tokens(8), 2, 8, 1, "val split"),
                       doctest::Contains("TokenLoader: val split: holds 8 tokens, too short for one window of T + 1 = 9 tokens"),
                       Error);
  CHECK_NOTHROW(TokenLoader(iota_tokens(9), 2, 8, 1));  // exactly T + 1: one possible window
  TokenLoader one(iota_tokens(9), 2, 8, 1);
  CHECK(one.next().inputs.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7});
  CHECK_THROWS_WITH_AS(TokenLoader(iota_tokens(100), 0, 8, 1, "x"), doctest::Contains("x: batch size B must be >= 1, got 0"),
                       Error);
  CHECK_THROWS_WITH_AS(TokenLoader(iota_tokens(100), 2, 0, 1, "x"), doctest::Contains("x: sequence length T must be >= 1, got 0"),
                       Error);
}

TEST_CASE("TokenLoader and sequential_windows: B · T and batch numbers are overflow-checked, batches fit in memory") {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  // T + 1 once wrapped to -2^63, so the length check passed and the loader read past the tokens.
  CHECK_THROWS_WITH_AS(TokenLoader(iota_tokens(100), 1, kMax, 1, "x"),
                       doctest::Contains("x: holds 100 tokens, too short for one window of T + 1 = 9223372036854775808"),
                       Error);
  CHECK_THROWS_WITH_AS(sequential_windows(iota_tokens(100), kMax, 1, "x"), doctest::Contains("x: holds 100 tokens"),
                       Error);
  // B · T past int64, and B · T within int64 but a batch larger than any memory.
  CHECK_THROWS_WITH_AS(TokenLoader(iota_tokens(100), int64_t(1) << 62, 8, 1, "x"),
                       doctest::Contains("x: a batch of B × T tokens overflows: 4611686018427387904 × 8"), Error);
  CHECK_THROWS_WITH_AS(TokenLoader(iota_tokens(100), 1'000'000'000'000, 8, 1, "x"),
                       doctest::Contains("x: a batch of B 1000000000000 × T 8 tokens (inputs and targets, i32) needs "
                                         "58.2 TiB, more than the"),
                       Error);
  CHECK_THROWS_WITH_AS(sequential_windows(iota_tokens(100), 8, int64_t(1) << 62, "x"),
                       doctest::Contains("x: a batch of B × T tokens overflows"), Error);
  // Batch k's draws are numbered k · B + b: a k that would wrap them is an error, not a repeat
  // of an earlier batch.
  TokenLoader loader(iota_tokens(100), 4, 8, 1, "x");
  CHECK_NOTHROW(loader.window_start(kMax / 4 - 1, 3));
  CHECK_THROWS_WITH_AS(loader.window_start(kMax / 4 + 1, 0),
                       doctest::Contains("x: the draw number of batch 2305843009213693952 (k × B + b) overflows"), Error);
  loader.seek(kMax / 2);
  CHECK_THROWS_AS(loader.next(), Error);
}

TEST_CASE("TokenLoader::from_shards concatenates shards in order; windows may cross a shard boundary") {
  TempDir dir("shards_loader");
  const std::vector<int32_t> all = iota_tokens(100);
  write_shard(dir.str("a.bin"), std::vector<int32_t>(all.begin(), all.begin() + 40));
  write_shard(dir.str("b.bin"), std::vector<int32_t>(all.begin() + 40, all.begin() + 70));
  write_shard(dir.str("c.bin"), std::vector<int32_t>(all.begin() + 70, all.end()));
  TokenLoader loader = TokenLoader::from_shards({dir.str("a.bin"), dir.str("b.bin"), dir.str("c.bin")}, 100, 4, 10, 5);
  CHECK(loader.num_tokens() == 100);
  CHECK(loader.source() == dir.str("a.bin") + ", ..., " + dir.str("c.bin") + " (3 shards)");
  TokenLoader in_memory(all, 4, 10, 5);
  bool crossed = false;
  for (int k = 0; k < 30; ++k) {
    Batch batch = loader.next();
    CHECK(same_batch(batch, in_memory.next()));  // the same stream as the concatenation
    std::vector<int32_t> x = batch.targets.to_vector<int32_t>();
    for (int64_t b = 0; b < 4; ++b) crossed |= x[b * 10] < 40 && x[b * 10 + 9] >= 40;
  }
  CHECK(crossed);
  CHECK_THROWS_WITH_AS(TokenLoader::from_shards({dir.str("a.bin")}, 39, 4, 10, 5),
                       contains(dir.str("a.bin") + ": token id 39 at position 39"), Error);
  CHECK_THROWS_WITH_AS(TokenLoader::from_shards({dir.str("b.bin")}, 100, 4, 30, 5),
                       contains(dir.str("b.bin") + ": holds 30 tokens, too short"), Error);
  CHECK_THROWS_WITH_AS(TokenLoader::from_shards({}, 100, 4, 10, 5), doctest::Contains("no shard files given"), Error);
}

// ---- sequential evaluation windows ----

TEST_CASE("sequential_windows: consecutive, non-overlapping, from token 0; the partial window dropped") {
  // N = 28, T = 5: W = floor(27 / 5) = 5 windows over tokens 0..25; tokens 26, 27 dropped.
  std::vector<Batch> batches = sequential_windows(iota_tokens(28), 5, 2);
  REQUIRE(batches.size() == 3);
  CHECK(batches[0].inputs.shape() == Shape{2, 5});
  CHECK(batches[1].inputs.shape() == Shape{2, 5});
  CHECK(batches[2].inputs.shape() == Shape{1, 5});  // the remaining window
  CHECK(batches[2].targets.shape() == Shape{1, 5});
  std::vector<int32_t> inputs, targets;
  for (const Batch& b : batches) {
    CHECK(b.inputs.dtype() == DType::i32);
    std::vector<int32_t> x = b.inputs.to_vector<int32_t>(), y = b.targets.to_vector<int32_t>();
    inputs.insert(inputs.end(), x.begin(), x.end());
    targets.insert(targets.end(), y.begin(), y.end());
  }
  CHECK(inputs == iota_tokens(25));  // windows in order, each token once
  std::vector<int32_t> shifted = iota_tokens(26);
  shifted.erase(shifted.begin());
  CHECK(targets == shifted);  // tokens 1..25, each predicted once

  // N a multiple of T: the last window would need token N, so it is dropped whole. N = 30, T = 5:
  // W = floor(29 / 5) = 5, the last target is token 25 and tokens 26..29 are dropped.
  std::vector<Batch> multiple = sequential_windows(iota_tokens(30), 5, 10);
  REQUIRE(multiple.size() == 1);
  CHECK(multiple[0].inputs.shape() == Shape{5, 5});
  CHECK(multiple[0].targets.to_vector<int32_t>().back() == 25);

  // N - 1 a multiple of T: nothing dropped. N = T + 1: exactly one window.
  std::vector<Batch> whole = sequential_windows(iota_tokens(21), 5, 4);
  REQUIRE(whole.size() == 1);
  CHECK(whole[0].inputs.shape() == Shape{4, 5});
  CHECK(whole[0].targets.to_vector<int32_t>().back() == 20);
  std::vector<Batch> one = sequential_windows(iota_tokens(6), 5, 3);
  REQUIRE(one.size() == 1);
  CHECK(one[0].inputs.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2, 3, 4});
  CHECK(one[0].targets.to_vector<int32_t>() == std::vector<int32_t>{1, 2, 3, 4, 5});
}

TEST_CASE("sequential_windows: too-short data, B or T < 1 are errors naming the source") {
  CHECK_THROWS_WITH_AS(sequential_windows(iota_tokens(5), 5, 1, "val.bin"),
                       doctest::Contains("sequential_windows: val.bin: holds 5 tokens, too short for one window of T + 1 = 6"),
                       Error);
  CHECK_THROWS_WITH_AS(sequential_windows(iota_tokens(50), 5, 0), doctest::Contains("batch size B must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(sequential_windows(iota_tokens(50), -1, 2), doctest::Contains("sequence length T must be >= 1, got -1"),
                       Error);
}

}  // TEST_SUITE("train")
