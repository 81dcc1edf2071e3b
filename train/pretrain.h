// train/pretrain.h — phase 1 of GPT-1: next-token prediction on unlabeled text.
//
// The loop (train/loop.h, shared with fine-tuning) with phase 1's loss (GPT-1 §3.1, objective
// L1 = Σ log P(u_i | u_{i-k} .. u_{i-1})), once per step:
//   for each of grad_accum micro-batches: loss = cross_entropy(model(inputs), targets) / grad_accum;
//                                         backward (gradients add up)
//   clip the global gradient norm; lr from warmup + cosine; AdamW step; zero the gradients
// with a validation loss every eval_every steps and a checkpoint every checkpoint_every steps.
// Data prepared with `kiso prepare --seams` (meta.json "seams"): every target that is <|start|>,
// <|delim|> or <|extract|> is -100 in the training and the validation batches, and each
// checkpoint holds seams.json so that fine-tuning keeps those rows (train/seams.h).
//
// A run directory holds (train/checkpoints.h: how a checkpoint is swapped in safely)
//   checkpoints/step-N/  the last --keep-checkpoints checkpoints, each a complete model
//                        directory (config.json, model.safetensors, the tokenizer files) plus
//                        the training state: state.safetensors (AdamW's m and v) and
//                        state.json (step, loader position, options, the data's identity)
//   model                a link to the latest committed checkpoint: the model directory users
//                        pass to kiso eval, sample, finetune --model
//   log.jsonl            one JSON record per step (and per validation)
// Every source of randomness is a pure function of (seed, step): the loader's batch k, the
// dropout masks of micro-batch k (Philox stream kDropoutStream + k), the initial weights
// (stream kInitStream). So `resume` continues bit for bit: the resumed run's losses and final
// weights equal an uninterrupted run's, after a --stop-at, a SIGINT or a kill -9 at any
// instant (tests/train/test_pretrain.cpp and test_crash.cpp check it).
//
// Starting a run: every option is checked first (validate, before any file is read), then the
// data and the model's size against memory; only then is the run directory created, so a failed
// start leaves nothing behind. A directory that already holds a run is refused unless --resume
// (continue it) or --overwrite (delete it and start again) says what to do with it.
// Resuming compares the run's saved configuration and options with this call's and names every
// difference in one error. What must match is what the saved state depends on: the architecture
// (every config.json field but the dropout rates), the training data (token count and hash),
// --batch-size, --seq-len, --grad-accum, --seed, --lr, --warmup, --beta1, --beta2,
// --weight-decay, --clip. What may change: --steps / --epochs, not given, are the run's own; given,
// they may grow (extend the run; the cosine schedule then spans the new total, so the run is no
// longer the uninterrupted one's) but not shrink (--stop-at stops a run early),
// --dropout (given, it replaces the run's rates; not given, the run's rates are kept),
// --precision (given, the run continues in it; not given, in the run's own: the saved state,
// weights and AdamW moments, is f32 in either),
// --eval-every, --eval-batches, --checkpoint-every, --keep-checkpoints, --stop-at, --device,
// the data directory's path (the data itself is compared). `kiso pretrain --resume` fills each
// must-match option and the architecture that its command line leaves out from the run's saved
// ones (train/commands/pretrain.cpp), so only what is given can differ.
// Precision: loop.precision f32, or BF16 mixed precision (tensor/precision.h); checkpoints are
// F32 either way.
// Distributed (train/distributed.h): under `mpirun -np N` each process takes grad_accum / N of
// every step's micro-batches; the losses are those of one process with the same --grad-accum, and
// a run may resume with any N that divides --grad-accum. Rank 0 alone writes the run directory.
// What it is not: aware of epochs (windows are sampled).
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
constexpr int64_t kDefaultSteps = 200;                   // --steps of a new run when not given

struct PretrainOptions {
  std::string data_dir;     // written by `kiso prepare`: train.bin, val.bin, meta.json, tokenizer/
  std::string out_dir;      // the run directory
  std::string preset = "tiny";
  std::string config_path;  // a config.json to use instead of the preset (vocab_size is the data's)
  int64_t batch_size = 16;  // B, sequences per micro-batch
  int64_t seq_len = 128;    // T, at most the model's n_ctx
  int64_t grad_accum = 1;   // micro-batches per optimizer step
  std::optional<int64_t> steps;  // optimizer steps; not given: kDefaultSteps for a new run, the
                                // run's own for --resume
  double epochs = 0;        // > 0: instead of steps, this many passes' worth of the training
                            // tokens: steps = ceil(epochs · train tokens / (B · T · grad_accum))
  double lr = 2.5e-4;       // GPT-1's maximum learning rate
  int64_t warmup_steps = 20;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;
  std::optional<double> dropout;  // given: overrides the config's three dropout rates
  uint64_t seed = 1337;
  int64_t eval_batches = 8;   // validation batches (sequential windows from token 0)
  int64_t checkpoint_every = 100;
  int64_t keep_checkpoints = 2;  // the newest checkpoints kept in RUN/checkpoints
  bool resume = false;
  bool overwrite = false;        // delete the run already in out_dir and start again
  int64_t stop_at = 0;        // > 0: checkpoint and return after this step, as if interrupted
                              // (the schedule still spans `steps`; --resume continues)
  Device device = Device::cpu;  // where the model trains (cuda: kiso's kernels, GPU or simulator)
  std::string reduce = "auto";  // how gradients are summed over processes (train/distributed.h)
  LoopOptions loop{.clip = 1.0, .eval_every = 50};  // --clip, --eval-every (validation every 50
                                                    // steps), the log lines (train/loop.h)
};

struct PretrainResult {
  std::vector<StepRecord> records;  // the steps this call ran (a resumed run: from its first new step)
  double initial_val_loss = 0;      // before the first step of this call
  double final_val_loss = 0;
  // The final validation loss over real tokens only (every special-token target left out): the
  // figure that compares a --seams run with a plain one (train/seams.h); nullopt without the
  // data's tokenizer.
  std::optional<double> final_val_real_token_loss;
  bool seams = false;               // the data was prepared with --seams: seam targets masked
  std::string model_dir;            // out_dir/model
  int64_t steps_done = 0;           // the step of the last checkpoint
  int interrupted = 0;              // the signal that stopped the run early (train/loop.h), or 0
};

// Every option's range, before any work: "--clip must be >= 0 (0 turns clipping off), got -1".
// pretrain() calls it first; the command line may call it sooner.
void validate(const PretrainOptions& options);

// Runs (or resumes) a pre-training run; one line per step goes to `log`.
PretrainResult pretrain(const PretrainOptions& options, std::ostream& log);

// Mean cross-entropy over every target of `batches` that is not -100 (eval mode, no graph).
double evaluate_loss(const GPT& model, const std::vector<Batch>& batches);

}  // namespace kiso
