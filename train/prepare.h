// train/prepare.h — raw text files -> a data directory for pre-training.
//
//   DIR/tokenizer/   vocab.json, merges.txt, special_tokens.json (trained here, or copied)
//   DIR/train.bin    the first (1 - val_fraction) of the tokens, an llm.c token shard
//   DIR/val.bin      the last val_fraction of the tokens (held out: never trained on)
//   DIR/meta.json    {"vocab_size", "train_tokens", "val_tokens", "inputs", ...}
// Each input file is one document, read as bytes (it must be UTF-8); documents are joined with
// the <|endoftext|> token, as GPT-2's training data is. Every option is checked before any
// file is read or written (inputs exist, --vocab-size in 260..65536 since a shard stores uint16
// ids, the fraction in (0, 1)), and each input's UTF-8 before the tokenizer sees it, so a bad
// byte is named by its file and line, not by an offset in the joined text.
// With `seams` (the slides' pre-training variant, train/seams.h) each paragraph of each input is
// written as <|start|> sentence <|delim|> sentence ... <|extract|> instead, with no
// <|endoftext|>, and meta.json gets "seams": {"start", "delim", "extract"}: the ids, which are
// the tokenizer's (the ones fine-tuning uses), so that `kiso pretrain` masks their predictions.
// What it is not: a cleaner or a deduplicator; the text is taken as it is.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "gpt/tokenizer.h"

namespace kiso {

struct PrepareOptions {
  std::vector<std::string> inputs;  // text files
  std::string out_dir;
  std::string tokenizer_dir;        // use this tokenizer; empty: train one on the inputs
  int64_t vocab_size = 4096;        // when training a tokenizer
  double val_fraction = 0.05;
  bool seams = false;               // <s> ... <$> ... <e> around paragraphs and sentences (seams.h)
};

struct PrepareResult {
  int64_t vocab_size = 0, train_tokens = 0, val_tokens = 0, bytes = 0;
  double tokenizer_seconds = 0, encode_seconds = 0;
};

PrepareResult prepare(const PrepareOptions& options, std::ostream& log);

}  // namespace kiso
