// gpt/tasks.h — GPT-1's fine-tuning input transformations and task heads (Radford et al. 2018,
// §3.2–3.3 and Figure 1, right).
//
// Every task becomes one or more token sequences framed by special tokens; a linear head reads
// the final hidden state at the EXTRACT token of each sequence:
//   classification    <s> text <e>                                  -> W_y h   (classes)
//   entailment        <s> premise <$> hypothesis <e>                -> W_y h   (classes, e.g. 3)
//   similarity        <s> A <$> B <e>  and  <s> B <$> A <e>          -> W_y (h_AB + h_BA)
//   multiple choice   <s> context <$> answer_k <e>  for each k      -> w·h_k, softmax over k
// (<s> = <|start|>, <$> = <|delim|>, <e> = <|extract|>.) A sequence longer than the context is
// cut in its texts (the longest text loses tokens first, from its end), never in the special
// tokens, so the EXTRACT token is always the last real token and always read.
// The fine-tuning objective is L3 = L2 + λ·L1: the task's cross-entropy plus λ times the language
// modelling loss on the same sequences (real tokens only).
// What it is not: the data readers or the training command (train/ builds those on this).
#pragma once

#include <string>
#include <vector>

#include "gpt/model.h"

namespace kiso {

enum class TaskKind { classification, entailment, similarity, multiple_choice };
TaskKind parse_task_kind(const std::string& name);  // "classification", ..., "multiple-choice"
std::string to_string(TaskKind kind);

struct SpecialIds {
  int32_t start, delim, extract;
  int32_t pad;  // fills the batch after a sequence ends; never read (masked out of every loss)
};

// One example, already tokenised: `pieces` are
//   classification: {text}; entailment: {premise, hypothesis}; similarity: {a, b};
//   multiple choice: {context, answer_0, ..., answer_{K-1}}.
struct TaskExample {
  std::vector<std::vector<int32_t>> pieces;
  int64_t label = -1;  // the class, or the index of the right answer; -1 when unknown (predict)
};

// The sequences of one example (1 for classification/entailment, 2 for similarity, K for
// multiple choice), each at most max_len tokens, ending in EXTRACT.
std::vector<std::vector<int32_t>> transform(TaskKind kind, const TaskExample& example, const SpecialIds& special,
                                            int64_t max_len);

// A batch of E examples with S sequences each (N = E·S rows), padded to the longest:
struct TaskBatch {
  Tensor ids;         // i32 (N, T)
  Tensor lm_targets;  // i32 (N, T): the next token, -100 after the last real token (aux LM loss)
  Tensor extract;     // i32 (N,): flat index n·T + position of each row's EXTRACT token
  Tensor labels;      // i32 (E,)
  int64_t examples = 0, per_example = 0;
};
TaskBatch make_task_batch(TaskKind kind, const std::vector<TaskExample>& examples, const SpecialIds& special,
                          int64_t max_len);

// The new parameters of fine-tuning: W_y (and its bias). Multiple choice scores each candidate
// with one output; the other tasks have one output per class.
struct TaskHead {
  TaskKind kind = TaskKind::classification;
  Linear linear;    // (C, classes) or (C, 1)
  Dropout dropout;  // on h before W_y: 0.1 in GPT-1
  TaskHead() = default;
  TaskHead(TaskKind kind, int64_t n_embd, int64_t classes, double dropout, const Init& init);
  Parameters parameters();
};

// Task logits (E, classes) for classification/entailment/similarity, (E, K) scores for multiple
// choice; `hidden` is the model's final hidden states (N, T, C) for the batch.
Variable task_logits(const TaskHead& head, const Variable& hidden, const TaskBatch& batch, const Mode& mode);

// L3 = task cross-entropy + lm_coef · LM cross-entropy on the batch's real tokens. Returns the
// total and, if asked, the two parts' values.
struct FinetuneLoss {
  Variable total;
  double task = 0, lm = 0;
};
FinetuneLoss finetune_loss(const GPT& model, const TaskHead& head, const TaskBatch& batch, double lm_coef,
                           const Mode& mode);

// Grows the token embedding by `count` rows drawn from N(0, std) (the special tokens a
// pre-trained model has never seen), keeping every existing row; vocab_size grows with it.
void add_token_rows(GPT& model, int64_t count, Generator& gen, double std = 0.02);

}  // namespace kiso
