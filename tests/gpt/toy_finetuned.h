// tests/gpt/toy_finetuned.h — a small fine-tuned classifier with random weights, for the tests
// that need one without training it (the model directory format, kiso predict): a BPE trained on
// a few words (its special tokens inside the vocabulary), a 1-layer GPT and a head over the
// labels "no" and "yes". Deterministic: the same weights on every call.
#pragma once

#include "gpt/finetuned.h"

namespace kiso::testing {

inline FinetunedModel toy_classifier() {
  std::string corpus;
  for (int i = 0; i < 20; ++i) corpus += "tea good cake bad soup good ";
  Tokenizer tok = Tokenizer::train(corpus, 280);
  GPTConfig c;
  c.vocab_size = tok.vocab_size(), c.n_ctx = 16, c.n_layer = 1;
  c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 16;
  Generator gen{3};
  TaskInfo info;
  info.labels = {"no", "yes"};
  info.max_len = 16;
  info.special = {tok.special("<|start|>"), tok.special("<|delim|>"), tok.special("<|extract|>"),
                  tok.special("<|endoftext|>")};
  info.train_label_counts = {{"no", 4}, {"yes", 6}};
  TaskHead head(info.kind, c.block.n_embd, head_classes(info), info.head_dropout, Init{&gen});
  return FinetunedModel{GPT(c, gen), std::move(head), info, std::move(tok)};
}

}  // namespace kiso::testing
