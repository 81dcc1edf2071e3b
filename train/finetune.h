// train/finetune.h — phase 2 of GPT-1: supervised fine-tuning of a pre-trained model on a task.
//
// GPT-1 §3.2: the pre-trained model reads each example through the task's input transformation
// (gpt/tasks.h), a new linear head W_y reads the final hidden state at the EXTRACT token, and
// the objective is L3 = L2 (task cross-entropy) + λ·L1 (language modelling on the same inputs).
// The paper's recipe is the default here: lr 6.25e-5, batch 32, 3 epochs, linear warmup over
// 0.2% of the steps then linear decay to 0, gradient clipping at 1, dropout 0.1 before the
// head, λ = 0.5. The steps run through the same loop as pre-training (train/loop.h).
//
// Set-up, before the first step, each a named step of finetune.cpp:
//   - the task: its two files (train/task_data.h); the class names are the sorted distinct
//     labels of the training file, --train-limit keeps a seeded subset of its examples
//   - the model and its tokenizer come from a model directory (`kiso pretrain`'s out/model);
//     with init = "scratch" only its config and tokenizer are used, the weights are drawn anew
//     (the paper's "no pre-training" ablation); the special-token rows are drawn anew (kept
//     when the model was pre-trained on --seams data: its seams.json, train/seams.h) and the
//     head W_y is new (train/special_rows.h)
//   - what trains: everything, or with freeze_backbone only W_y and the special rows (the
//     other rows of the embedding are held by a mask, train/special_rows.h)
// Examples are served in epochs, each a Philox shuffle of the training file: batch k is a pure
// function of (seed, k), like pre-training's loader. With --grad-accum M the step's batch is cut
// into M micro-batches of batch_size / M examples; micro-batch m of step k draws its dropout
// masks from stream kDropoutStream + k·M + m (M = 1: kDropoutStream + k). Under `mpirun -np N`
// each process takes M / N of them (train/distributed.h); rank 0 alone writes out/.
//
// The result is a fine-tuned model directory, out/model (gpt/finetuned.h), and out/log.jsonl.
// Every option is checked before anything is read (validate), the batch's memory before the
// weights are loaded, and out/ is created only once every input is read and checked; an out/
// that already holds a run is refused unless --overwrite. SIGINT / SIGTERM (train/loop.h): the
// step finishes and the model as trained so far is saved to out/model.
// What it is not: resumable (runs are minutes long; pre-training's --resume is the one that
// matters), or multi-task. Prediction and its scores are gpt/finetuned.h and train/metrics.h.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "gpt/finetuned.h"
#include "train/loop.h"
#include "train/task_data.h"

namespace kiso {

struct FinetuneOptions {
  std::string model_dir;  // the pre-trained model directory (with its tokenizer files)
  std::string task;       // classification | entailment | similarity | multiple-choice
  std::string train_path, val_path;
  HeaderRow header = HeaderRow::detect;  // a plain .tsv's first line: detected, or forced (--header)
  std::string out_dir;    // the run directory: out/model and out/log.jsonl
  std::string init = "pretrained";  // or "scratch": the same architecture from random weights
  bool freeze_backbone = false;     // train only W_y and the special-token rows
  double lm_coef = 0.5;             // λ of L3 = L2 + λ·L1; 0 turns the auxiliary loss off
  double lr = 6.25e-5;
  int64_t batch_size = 32;          // examples per step (a multiple-choice example is K rows)
  int64_t grad_accum = 1;           // micro-batches per step, batch_size / grad_accum examples each
  double epochs = 3;
  double warmup_fraction = 0.002;   // of the steps, then linear decay to 0
  double head_dropout = 0.1;        // dropout on h before W_y
  std::optional<double> dropout;    // given: overrides the backbone's three dropout rates
  double weight_decay = 0.01;
  int64_t max_len = 0;              // tokens per sequence; 0: the model's n_ctx
  int64_t train_limit = 0;          // > 0: a seeded random subset of this many training examples
                                    // (learning curves, quick runs); the label set stays the file's
  uint64_t seed = 1337;
  bool overwrite = false;           // replace a run already in out_dir
  Device device = Device::cpu;  // where it trains (cuda: kiso's kernels, GPU or simulator)
  std::string reduce = "auto";  // how gradients are summed over processes (train/distributed.h)
  LoopOptions loop{.clip = 1.0, .eval_every = 0};  // --clip, --eval-every (0: validation only at
                                                   // the end), the log lines (train/loop.h)
};

struct FinetuneResult {
  std::vector<StepRecord> records;
  Validation initial, final;  // on the validation file
  std::string model_dir;      // out/model
  int64_t steps = 0, train_examples = 0, val_examples = 0, parameters_trained = 0;
  int64_t steps_done = 0;     // = steps, unless interrupted
  int interrupted = 0;        // the signal that stopped the run early (train/loop.h), or 0
  double seconds = 0;
};

// Every option's range, before any work: "--warmup must be a fraction in [0, 1], got 5".
// finetune() calls it first; the command line may call it sooner.
void validate(const FinetuneOptions& options);

FinetuneResult finetune(const FinetuneOptions& options, std::ostream& log);

// The records of a task file as token ids, with labels as indices (-1 where a record has none).
std::vector<TaskExample> encode_records(const std::vector<TaskRecord>& records, const TaskInfo& info,
                                        const Tokenizer& tokenizer, const std::string& path);

}  // namespace kiso
