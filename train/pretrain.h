// train/pretrain.h — phase 1 of GPT-1: next-token prediction on unlabeled text.
//
// The loop (train/loop.h, shared with fine-tuning) with phase 1's loss (GPT-1 §3.1, objective
// L1 = Σ log P(u_i | u_{i-k} .. u_{i-1})), once per step:
//   for each of grad_accum micro-batches: loss = cross_entropy(model(inputs), targets) / grad_accum;
//                                         backward (gradients add up)
//   clip the global gradient norm; lr from warmup + cosine; AdamW step; zero the gradients
// with a validation loss every eval_every steps and a checkpoint every checkpoint_every steps.
//
// A run directory holds
//   model/        a complete model directory (config.json, model.safetensors, the tokenizer
//                 files) plus the training state: state.safetensors (AdamW's m and v) and
//                 state.json (step, loader position, options); replaced as a whole
//   log.jsonl     one JSON record per step (and per validation)
// Every source of randomness is a pure function of (seed, step): the loader's batch k, the
// dropout masks of micro-batch k (Philox stream kDropoutStream + k), the initial weights
// (stream kInitStream). So `resume` continues bit for bit: the resumed run's losses equal an
// uninterrupted run's (tests/train/test_pretrain.cpp checks it).
// What it is not: distributed, mixed-precision, or aware of epochs (windows are sampled).
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "gpt/model.h"
#include "train/loop.h"
#include "train/shards.h"

namespace kiso {

constexpr uint64_t kInitStream = 1;
constexpr uint64_t kDropoutStream = uint64_t(1) << 40;  // + the micro-batch number

struct PretrainOptions {
  std::string data_dir;     // written by `kiso prepare`: train.bin, val.bin, meta.json, tokenizer/
  std::string out_dir;      // the run directory
  std::string preset = "tiny";
  std::string config_path;  // a config.json to use instead of the preset (vocab_size is the data's)
  int64_t batch_size = 16;  // B, sequences per micro-batch
  int64_t seq_len = 128;    // T, at most the model's n_ctx
  int64_t grad_accum = 1;   // micro-batches per optimizer step
  int64_t steps = 200;
  double epochs = 0;        // > 0: instead of steps, this many passes' worth of the training
                            // tokens: steps = ceil(epochs · train tokens / (B · T · grad_accum))
  double lr = 2.5e-4;       // GPT-1's maximum learning rate
  int64_t warmup_steps = 20;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;
  double dropout = -1;      // >= 0 overrides the config's three dropout rates
  uint64_t seed = 1337;
  int64_t eval_batches = 8;   // validation batches (sequential windows from token 0)
  int64_t checkpoint_every = 100;
  bool resume = false;
  int64_t stop_at = 0;        // > 0: checkpoint and return after this step, as if interrupted
                              // (the schedule still spans `steps`; --resume continues)
  Device device = Device::cpu;  // where the model trains (cuda: kiso's kernels, GPU or simulator)
  LoopOptions loop{.clip = 1.0, .eval_every = 50};  // --clip, --eval-every (validation every 50
                                                    // steps), the log lines (train/loop.h)
};

struct PretrainResult {
  std::vector<StepRecord> records;  // the steps this call ran (a resumed run: from its first new step)
  double initial_val_loss = 0;      // before the first step of this call
  double final_val_loss = 0;
  std::string model_dir;            // out_dir/model
};

// Runs (or resumes) a pre-training run; one line per step goes to `log`.
PretrainResult pretrain(const PretrainOptions& options, std::ostream& log);

// Mean cross-entropy over every target of `batches` (eval mode, no graph).
double evaluate_loss(const GPT& model, const std::vector<Batch>& batches);

}  // namespace kiso
