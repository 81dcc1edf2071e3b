// train/loop.h — kiso's one training loop, shared by pre-training and fine-tuning.
//
// Both phases of GPT-1 train the same way; they differ only in what a micro-batch's loss is,
// how the validation set is scored and what a checkpoint writes, so those three come in as
// callbacks and everything else lives here, once:
//   for step = first_step .. end - 1:
//     for each of grad_accum micro-batches: loss = hooks.loss(step, micro) / grad_accum; backward
//     (N processes: each runs its grad_accum / N of them, then the gradients are summed over
//     the processes: train/distributed.h; rank 0 alone validates, logs and checkpoints)
//     (hooks.before_update: e.g. mask the gradients of frozen rows)
//     clip the global gradient norm; lr = schedule.at(step); AdamW step; zero the gradients
//     (hooks.after_update: e.g. put the frozen rows back)
//     one line on the log stream, one JSON record in log.jsonl;
//     every eval_every steps and at the end: hooks.validate; every checkpoint_every steps and at
//     the end: hooks.checkpoint
// The whole loop, validations included, runs in one precision (a PrecisionGuard: f32, or BF16
// mixed precision, tensor/precision.h); the optimizer's arithmetic is f32 in both.
// A non-finite loss stops the run with an error naming the step and the last checkpoint.
// Each step line is flushed as it is written, so a log redirected to a file or a pipe (block
// buffered) holds every finished step even when the process is killed.
// SIGINT / SIGTERM (while a StopOnSignals lives: the commands hold one): the step in progress
// finishes, the loop saves a checkpoint and returns with `interrupted` set to the signal; the
// command then says where it was saved and exits 128 + the signal (130, 143). A second signal
// ends the process at once (the checkpoint being written, if any, is then simply not
// committed: train/checkpoints.h).
// Also here, because both phases build them from their options alike: the settings they share
// (loop_settings), the --dropout override of a model's config (override_dropout) and the memory
// check of a batch before anything is allocated (check_training_memory).
// What it is not: a data loader or a model builder (pretrain.cpp and finetune.cpp set those up).
// Read next: train/pretrain.h (phase 1) and train/finetune.h (phase 2).
#pragma once

#include <csignal>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "gpt/config.h"
#include "train/distributed.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "tensor/precision.h"

namespace kiso {

// A validation score: the mean loss and, for a task with a right answer, the accuracy.
struct Validation {
  double loss = 0;
  std::optional<double> accuracy;
};

struct StepRecord {
  int64_t step = 0;  // 1-based: the number of optimizer steps done
  double loss = 0, lr = 0, grad_norm = 0, ms = 0, tokens_per_second = 0;
  double reduce_ms = 0;  // of ms, the host's time summing gradients over the processes (0 for one)
  std::optional<Validation> val;
};

// The loop's options that are flags of both phases (--clip, --eval-every) or set alike by the
// command line (quiet, progress_bar): PretrainOptions and FinetuneOptions each hold one.
struct LoopOptions {
  double clip = 1.0;          // max global gradient norm; 0 turns clipping off
  int64_t eval_every = 0;     // validation every N steps; 0: only at the end
  Precision precision = Precision::f32;  // --precision: f32, or bf16 mixed precision
                                         // (tensor/precision.h)
  bool quiet = false;         // no per-step lines on the log stream
  bool progress_bar = false;  // redraw a bar under the step lines (for a terminal; the command
                              // line sets it when stdout is one)
};

struct LoopSettings {
  std::string what = "train";  // "pretrain" or "finetune": names the errors
  int64_t first_step = 0;      // steps already done (a resumed run)
  int64_t end = 0;             // the step to stop after (at most schedule.total_steps)
  int64_t grad_accum = 1;      // micro-batches per optimizer step
  double clip = 1.0;           // max global gradient norm; 0 turns clipping off
  Precision precision = Precision::f32;  // of every forward, backward and validation of the loop
  LRSchedule schedule;
  int64_t eval_every = 0;        // 0: only at the end
  int64_t checkpoint_every = 0;  // 0: only at the end
  double tokens_per_step = 0;    // for the tok/s figure
  std::string log_path;          // log.jsonl (appended to)
  std::string checkpoint_dir;    // named when a bad loss stops the run
  bool quiet = false;            // no per-step lines
  bool progress_bar = false;     // redraw a bar under the step lines (for a terminal)
  Reducer* reducer = nullptr;    // sums the gradients over the processes; null: one process
};

struct LoopHooks {
  // The mean loss of micro-batch `micro` (0 .. grad_accum - 1) of step `step` (0-based), built
  // in training mode; the loop divides it by grad_accum and calls backward. In a distributed run
  // each rank is asked for its own share of the micro (train/distributed.h).
  std::function<Variable(int64_t step, int64_t micro)> loss;
  std::function<Validation()> validate;                 // rank 0 only
  std::function<void(int64_t steps_done)> checkpoint;   // rank 0 only
  std::function<void()> before_update;  // optional
  std::function<void()> after_update;   // optional
};

struct LoopResult {
  std::vector<StepRecord> records;  // the steps this call ran
  Validation initial;               // before the first step of this call
  Validation final;                 // after the last (= initial when no step ran)
  int interrupted = 0;              // the signal (SIGINT, SIGTERM) that stopped the run early, or 0
  int64_t steps_done = 0;           // the step the run stopped after (its last checkpoint's)
};

// The settings both phases fill alike: log_path OUT/log.jsonl and checkpoint_dir OUT/model of
// the run directory `out_dir`, and `options`. Each phase then sets its own: first_step, end,
// grad_accum, schedule, checkpoint_every, tokens_per_step.
LoopSettings loop_settings(const std::string& what, const std::string& out_dir, const LoopOptions& options);

// --dropout: a given p sets the model's three dropout rates (embeddings, attention, residual
// branches) to p; none keeps the config's.
void override_dropout(GPTConfig& config, std::optional<double> p);

// An option out of its range, the way both phases refuse one before any work:
//   check_option(o.loop.clip >= 0, "pretrain", "--clip", ">= 0 (0 turns clipping off)", o.loop.clip)
//   -> "pretrain: --clip must be >= 0 (0 turns clipping off), got -1"
template <class T>
void check_option(bool ok, const char* op, const char* flag, const char* expected, const T& found) {
  if (!ok) fail(op, "{} must be {}, got {}", flag, expected, found);
}

// Refuses, before anything is allocated, a run that cannot fit in memory (base/size.h
// check_memory: the machine's RAM or KISO_MEMORY_LIMIT), with the figure and the flags that
// ask for it (`flags`, e.g. "--batch-size 1000000000000 and --seq-len 128"). The estimate is
// the weights, their gradients and AdamW's two moments (16 bytes a parameter) plus what the
// autograd tape keeps for one micro-batch of `rows` sequences of T tokens: per token and layer
// about 14·C + 2·n_inner + 3·NH·T floats (LayerNorm, q/k/v and their head-major copies, the
// attention scores, probabilities and dropout mask, the MLP's two n_inner activations), plus
// 2·V + 3·C per token (embeddings, logits, softmax), twice (the backward's gradients of them).
// Measured against the peak resident memory of the tiny preset at T = 128: 158 MiB estimated,
// 168 MiB peak at B = 16; 612 MiB estimated, 588 MiB peak at B = 64 — close, and a refusal
// only comes at the machine's whole memory. Every product is overflow-checked, so
// --batch-size 10^12 is this error and not a std::bad_alloc. Returns the estimate in bytes.
int64_t check_training_memory(const GPTConfig& config, int64_t rows, int64_t T, const char* op,
                              const std::string& flags);

// The signal that asked the loop to stop (SIGINT, SIGTERM), or 0.
int stop_signal();
// "SIGINT", "SIGTERM" (or "signal N") for messages.
std::string signal_name(int signal);

// While one lives, SIGINT and SIGTERM ask the loop to stop after the current step (see the
// file header) instead of killing the process; the previous handlers come back after it.
class StopOnSignals {
 public:
  StopOnSignals();
  ~StopOnSignals();
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

 private:
  struct sigaction previous_int_, previous_term_;
};

// Runs steps first_step+1 .. end of `params` with `opt`; see the file header.
LoopResult train_loop(const LoopSettings& settings, const Parameters& params, AdamW& opt, const LoopHooks& hooks,
                      std::ostream& log);

// On resume: keeps only the records of log.jsonl up to `step` (a crash after the last
// checkpoint may have logged steps that are now run again).
void truncate_log(const std::string& path, int64_t step);

}  // namespace kiso
