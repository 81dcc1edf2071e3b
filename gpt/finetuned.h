// gpt/finetuned.h — a fine-tuned model: the GPT, its task head W_y, what it knows about its
// task, and the directory format that holds them.
//
// A fine-tuned model directory (`kiso finetune`'s OUT/model) is a complete model directory
// (gpt/checkpoint.h: config.json with the grown vocabulary, model.safetensors; the tokenizer
// files) plus
//   head.safetensors  W_y as "linear.weight" (C, classes) and "linear.bias" (classes,)
//   task.json         {"task", "labels", "candidates", "max_len", "head_dropout", "special",
//                      "train_label_counts", "options"}
// so `kiso predict` and `kiso evaluate` need nothing else. Loading is strict, each error naming
// the file and the field or tensor: task.json has no unknown key, its task kind is known, its
// labels are distinct non-empty strings (>= 2, or none for multiple choice with candidates >= 2),
// every special id is inside the model's vocabulary (checked as int64, so 2^32 + 5 is not read
// as 5) and the first three are the tokenizer's, max_len is in 4..n_ctx, head_dropout in [0, 1),
// train_label_counts counts known labels, >= 0; the head holds exactly its two tensors, with
// the shapes the labels give, every value finite (the backbone's are gpt/checkpoint.h's to check).
// predict() is the model's inference: class (or candidate) probabilities of tokenised examples.
// What it is not: training (train/finetune.h), reading task files or scoring predictions
// (train/task_data.h, train/metrics.h), or resumable (no optimizer state is saved).
// Read next: gpt/tasks.h (the input transformations and the head), train/finetune.h.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "gpt/json.h"
#include "gpt/tasks.h"
#include "gpt/tokenizer.h"

namespace kiso {

// What a fine-tuned model directory records about its task (task.json).
struct TaskInfo {
  TaskKind kind = TaskKind::classification;
  std::vector<std::string> labels;           // class names (index = head output); empty for multiple choice
  int64_t candidates = 0;                    // K for multiple choice, else 0
  int64_t max_len = 0;
  double head_dropout = 0.1;
  SpecialIds special{};
  std::map<std::string, int64_t> train_label_counts;  // for the majority-class baseline
};

// The ids of START, DELIM, EXTRACT (and <|endoftext|> as padding) in `tokenizer`: where
// fine-tuning (train/finetune.cpp) and `kiso layout` both take them from.
SpecialIds special_ids(const Tokenizer& tokenizer);

// The `classes` argument of the task's TaskHead: one per label; multiple choice scores each
// candidate with one output, whatever this number is.
int64_t head_classes(const TaskInfo& info);

// task.json as save_finetuned writes it; `options` becomes its "options".
Json task_info_to_json(const TaskInfo& info, const Json& options);
// task.json's fields, each checked as the top of this file says (errors name `path`), with the
// special ids inside a vocabulary of `vocab_size`; the checks that need the model and its
// tokenizer (max_len <= n_ctx, the special ids are the tokenizer's) are load_finetuned's. On
// its own so that it can be tested and fuzzed without a model (tests/fuzz/fuzz_task_info.cpp).
TaskInfo task_info_from_json(const Json& j, const std::string& path, int64_t vocab_size);

// A fine-tuned model, ready to predict.
struct FinetunedModel {
  GPT model;
  TaskHead head;
  TaskInfo info;
  Tokenizer tokenizer;
};

// Writes `dir` as a whole (write_dir_atomic); `options` is recorded as task.json's "options".
void save_finetuned(const std::string& dir, FinetunedModel& m, const Json& options);
// Reads a fine-tuned model directory; its parameters are moved to `device`.
FinetunedModel load_finetuned(const std::string& dir, Device device = Device::cpu);

// Class (or candidate) probabilities of each example, in eval mode, in batches of
// `batch_size`; `loss` gets the mean task cross-entropy when every example has a label.
struct Predictions {
  std::vector<std::vector<double>> probs;  // [example][class]
  std::vector<int64_t> predicted;          // argmax of each row
  double loss = 0;                         // NaN when some example has no label
};
Predictions predict(const FinetunedModel& m, const std::vector<TaskExample>& examples, int64_t batch_size = 32);

}  // namespace kiso
