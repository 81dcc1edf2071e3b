// train/prepare.cpp — text -> tokenizer -> token shards (see prepare.h).
#include "train/prepare.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <ostream>

#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "train/seams.h"
#include "train/shards.h"

namespace kiso {

constexpr int64_t kMaxShardVocab = 65536;  // an llm.c shard stores each id as a uint16

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Every option, before any file is read or written.
static void check_options(const PrepareOptions& o) {
  namespace fs = std::filesystem;
  std::error_code error;
  check(!o.inputs.empty(), "prepare", "no input files given");
  for (const std::string& path : o.inputs)
    check(fs::is_regular_file(path, error), "prepare", "--input {}: no such file", path);
  check(!o.out_dir.empty(), "prepare", "no output directory given");
  check(!fs::exists(o.out_dir, error) || fs::is_directory(o.out_dir, error), "prepare",
        "--out {}: is a file; expected a directory to write", o.out_dir);
  check(o.tokenizer_dir.empty() || fs::is_directory(o.tokenizer_dir, error), "prepare",
        "--tokenizer {}: not a directory; expected a tokenizer or model directory", o.tokenizer_dir);
  check(!o.tokenizer_dir.empty() || (o.vocab_size >= 260 && o.vocab_size <= kMaxShardVocab), "prepare",
        "--vocab-size must be in 260..{} (256 bytes + merges + 4 special tokens; shards store ids as uint16), got {}",
        kMaxShardVocab, o.vocab_size);
  check(o.val_fraction > 0 && o.val_fraction < 1, "prepare", "the validation fraction must be in (0, 1), got {}",
        o.val_fraction);
}

PrepareResult prepare(const PrepareOptions& o, std::ostream& log) {
  check_options(o);
  PrepareResult r;
  std::vector<std::string> texts;
  for (const std::string& path : o.inputs) {
    texts.push_back(read_file(path));
    check_utf8_file(texts.back(), path);  // each file by its own lines, before they are joined
    r.bytes += int64_t(texts.back().size());
  }

  // 1. The tokenizer: trained on all the inputs, or an existing one.
  auto t0 = std::chrono::steady_clock::now();
  Tokenizer tok = [&] {
    if (!o.tokenizer_dir.empty()) {
      Tokenizer given = Tokenizer::load(o.tokenizer_dir);
      check(given.vocab_size() <= kMaxShardVocab, "prepare",
            "--tokenizer {} has {} tokens; token shards store ids as uint16, so at most {}", o.tokenizer_dir,
            given.vocab_size(), kMaxShardVocab);
      return given;
    }
    std::string corpus;
    for (const std::string& t : texts) corpus += t;
    TrainStats stats;
    Tokenizer trained = Tokenizer::train(corpus, o.vocab_size, &stats);
    log << fmt::format("tokenizer: trained {} merges on {:.1f} MB in {:.1f} s ({:.2f} MB/s)\n", stats.merges,
                       double(stats.bytes) / 1e6, stats.pretokenize_seconds + stats.merge_seconds,
                       stats.mb_per_second());
    return trained;
  }();
  r.tokenizer_seconds = seconds_since(t0);
  r.vocab_size = tok.vocab_size();

  // 2. Encode every document; <|endoftext|> between documents, or with --seams each paragraph
  //    framed as <s> sentence <$> sentence ... <e> (train/seams.h).
  t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> ids = o.seams ? encode_with_seams(tok, texts[i]) : tok.encode(texts[i]);  // UTF-8 checked above
    if (i > 0 && !o.seams) tokens.push_back(tok.special("<|endoftext|>"));
    tokens.insert(tokens.end(), ids.begin(), ids.end());
  }
  r.encode_seconds = seconds_since(t0);

  // 3. Split (the validation part is the end of the stream) and write.
  Split split = split_tokens(tokens, o.val_fraction);
  r.train_tokens = int64_t(split.train.size());
  r.val_tokens = int64_t(split.val.size());
  std::filesystem::create_directories(o.out_dir);
  tok.save(o.out_dir + "/tokenizer");
  write_shard(o.out_dir + "/train.bin", split.train);
  write_shard(o.out_dir + "/val.bin", split.val);
  Json meta{{"vocab_size", r.vocab_size}, {"train_tokens", r.train_tokens}, {"val_tokens", r.val_tokens},
            {"bytes", r.bytes},           {"inputs", o.inputs},           {"val_fraction", o.val_fraction}};
  if (o.seams) meta["seams"] = seams_json(seam_ids(tok));
  write_file_atomic(o.out_dir + "/meta.json", meta.dump(2) + "\n");
  log << fmt::format("prepare: {} files, {:.1f} MB -> {} train + {} validation tokens (vocabulary {}), encoded in "
                     "{:.1f} s\n",
                     o.inputs.size(), double(r.bytes) / 1e6, r.train_tokens, r.val_tokens, r.vocab_size,
                     r.encode_seconds);
  if (o.seams) {
    SeamIds s = seam_ids(tok);
    auto count = [&](int32_t id) { return std::count(tokens.begin(), tokens.end(), id); };
    log << fmt::format("seams: {} documents (<|start|> {}), {} sentence breaks (<|delim|> {}), <|extract|> {}\n",
                       count(s.start), s.start, count(s.delim), s.delim, s.extract);
  }
  return r;
}

}  // namespace kiso
