// train/finetune.h — phase 2 of GPT-1: supervised fine-tuning of a pre-trained model on a task.
//
// GPT-1 §3.2: the pre-trained model reads each example through the task's input transformation
// (gpt/tasks.h), a new linear head W_y reads the final hidden state at the EXTRACT token, and
// the objective is L3 = L2 (task cross-entropy) + λ·L1 (language modelling on the same inputs).
// The paper's recipe is the default here: lr 6.25e-5, batch 32, 3 epochs, linear warmup over
// 0.2% of the steps then linear decay to 0, gradient clipping at 1, dropout 0.1 before the
// head, λ = 0.5. The steps run through the same loop as pre-training (train/loop.h).
//
// Set-up, before the first step:
//   - the model and its tokenizer come from a model directory (`kiso pretrain`'s out/model);
//     with init = "scratch" only its config and tokenizer are used, the weights are drawn anew
//     (the paper's "no pre-training" ablation)
//   - the rows of <|start|>, <|delim|> and <|extract|> in the token embedding are drawn anew
//     from N(0, 0.02), appended when the vocabulary lacks them: the pre-trained model has never
//     read these tokens, so their rows hold nothing useful
//   - freeze_backbone: only W_y and those three rows train (every other parameter is fixed; the
//     special rows still need gradients through the whole network, so backward runs through it)
//   - the class names are the sorted distinct labels of the training file (task_data.h)
// Examples are served in epochs, each a Philox shuffle of the training file: batch k is a pure
// function of (seed, k), like pre-training's loader. Dropout masks of step k come from stream
// kDropoutStream + k.
//
// A fine-tuned model directory (out/model) holds a complete model directory (config.json with
// the grown vocabulary, model.safetensors, the tokenizer files) plus
//   head.safetensors  W_y as "linear.weight" (C, classes) and "linear.bias" (classes,)
//   task.json         {"task", "labels", "candidates", "max_len", "head_dropout", "special",
//                      "train_label_counts", "options"}
// so `kiso predict` and `kiso evaluate` need nothing else. What it is not: resumable (runs are
// minutes long; pre-training's --resume is the one that matters), or multi-task.
#pragma once

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "gpt/json.h"
#include "gpt/tasks.h"
#include "gpt/tokenizer.h"
#include "train/loop.h"
#include "train/task_data.h"

namespace kiso {

struct FinetuneOptions {
  std::string model_dir;  // the pre-trained model directory (with its tokenizer files)
  std::string task;       // classification | entailment | similarity | multiple-choice
  std::string train_path, val_path;
  std::string out_dir;    // the run directory: out/model and out/log.jsonl
  std::string init = "pretrained";  // or "scratch": the same architecture from random weights
  bool freeze_backbone = false;     // train only W_y and the special-token rows
  double lm_coef = 0.5;             // λ of L3 = L2 + λ·L1; 0 turns the auxiliary loss off
  double lr = 6.25e-5;
  int64_t batch_size = 32;          // examples per step (a multiple-choice example is K rows)
  double epochs = 3;
  double warmup_fraction = 0.002;   // of the steps, then linear decay to 0
  double clip = 1.0;
  double head_dropout = 0.1;        // dropout on h before W_y
  double dropout = -1;              // >= 0 overrides the backbone's three dropout rates
  double weight_decay = 0.01;
  int64_t max_len = 0;              // tokens per sequence; 0: the model's n_ctx
  int64_t train_limit = 0;          // > 0: a seeded random subset of this many training examples
                                    // (learning curves, quick runs); the label set stays the file's
  uint64_t seed = 1337;
  int64_t eval_every = 0;           // 0: only at the end
  Device device = Device::cpu;  // where it trains (cuda: kiso's kernels, GPU or simulator)
  bool quiet = false;
  bool progress_bar = false;
};

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

// A fine-tuned model, ready to predict.
struct FinetunedModel {
  GPT model;
  TaskHead head;
  TaskInfo info;
  Tokenizer tokenizer;
};
void save_finetuned(const std::string& dir, FinetunedModel& m, const Json& options);
FinetunedModel load_finetuned(const std::string& dir);

struct FinetuneResult {
  std::vector<StepRecord> records;
  Validation initial, final;  // on the validation file
  std::string model_dir;      // out/model
  int64_t steps = 0, train_examples = 0, val_examples = 0, parameters_trained = 0;
  double seconds = 0;
};
FinetuneResult finetune(const FinetuneOptions& options, std::ostream& log);

// The records of a task file as token ids, with labels as indices (-1 where a record has none).
std::vector<TaskExample> encode_records(const std::vector<TaskRecord>& records, const TaskInfo& info,
                                        const Tokenizer& tokenizer, const std::string& path);

// Class (or candidate) probabilities of each example, in eval mode: (E, classes) row-major,
// in batches of `batch_size`; `loss` gets the mean task cross-entropy when every example has a label.
struct Predictions {
  std::vector<std::vector<double>> probs;  // [example][class]
  std::vector<int64_t> predicted;          // argmax of each row
  double loss = 0;                         // NaN when some example has no label
};
Predictions predict(const FinetunedModel& m, const std::vector<TaskExample>& examples, int64_t batch_size = 32);

// Accuracy, the confusion matrix and per-class precision / recall / F1 of predictions.
struct EvalReport {
  std::vector<std::string> classes;           // label names (multiple choice: "candidate 0", ...)
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  int64_t examples = 0;
  double accuracy = 0, loss = 0;
  std::vector<double> precision, recall, f1;  // per class
  double macro_f1 = 0;
  std::string majority_label;  // the most frequent training label, and its accuracy here
  double majority_accuracy = 0;
};
EvalReport evaluate_predictions(const TaskInfo& info, const std::vector<TaskExample>& examples,
                                const Predictions& predictions);
std::string format_report(const EvalReport& report);  // a few lines for a terminal
Json report_json(const EvalReport& report);

}  // namespace kiso
