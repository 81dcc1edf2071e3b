// tests/fuzz/fuzz_shards.cpp — libFuzzer target: the token shard reader (train/shards.h
// parse_shard, the checks of read_shard on bytes in memory; llm.c's format).
//
// Feeds: the input bytes as a whole shard file to parse_shard (read_shard is read_file +
// parse_shard), with a 50257-token vocabulary (GPT-2's) so that ids both inside and outside
// the vocabulary occur.
// Asserts: no crash, no sanitizer report, no hang, only kiso::Error escapes (tests/fuzz/fuzz.h);
// and an accepted shard holds exactly (size - 1024) / 2 tokens, each in [0, vocab) and equal
// to the little-endian uint16 at its place in the file.
// Seeds: tests/fuzz/corpus/shards (shards written by write_shard, and broken headers: magic,
// version, counts that disagree with the size, odd sizes, out-of-vocabulary ids).
#include "train/shards.h"
#include "tests/fuzz/fuzz.h"

using namespace kiso;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::set_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int64_t vocab = 50257;
  fuzz::expect_only_kiso_errors("fuzz_shards", [&] {
    std::vector<int32_t> tokens = parse_shard(fuzz::as_view(data, size), vocab, "fuzz.bin");
    fuzz::require(size >= size_t(kShardHeaderBytes) && tokens.size() == (size - size_t(kShardHeaderBytes)) / 2,
                  "fuzz_shards", "an accepted shard holds (size - 1024) / 2 tokens");
    for (size_t i = 0; i < tokens.size(); ++i) {
      const uint8_t* at = data + kShardHeaderBytes + 2 * i;
      fuzz::require(tokens[i] == int32_t(at[0] | (at[1] << 8)) && tokens[i] < vocab, "fuzz_shards",
                    "each token is the file's uint16 at its place and inside the vocabulary");
    }
  });
  return 0;
}
