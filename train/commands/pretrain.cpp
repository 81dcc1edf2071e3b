// train/commands/pretrain.cpp — `kiso pretrain`: phase 1, next-token prediction on a data
// directory written by kiso prepare (train/pretrain.h). One line per step goes to stdout (to
// stderr with --json, whose one object then is the only thing on stdout), with a progress bar
// when stdout is a terminal; the run directory gets log.jsonl and the checkpoints (RUN/model is
// the latest). SIGINT or SIGTERM stops the run after the step in progress, with a checkpoint:
// one line on stderr says where it went, and the exit status is 130 or 143 (128 + the signal).
// What it is not: fine-tuning (kiso finetune).
#include <filesystem>
#include <iostream>

#include <fmt/core.h>

#include <unistd.h>

#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/checkpoints.h"
#include "train/commands/commands.h"
#include "train/pretrain.h"

namespace kiso {

namespace fs = std::filesystem;

namespace {

struct Options {
  PretrainOptions pretrain;
  std::string device = "cpu";
  bool as_json = false;
};

}  // namespace

static int run_pretrain(const Options& o) {
  PretrainOptions options = o.pretrain;
  validate(options);  // before the device starts or anything is read
  options.device = start_device(o.device, "pretrain");
  options.loop.progress_bar = !o.as_json && isatty(STDOUT_FILENO);  // a bar only on a terminal
  StopOnSignals stop;  // SIGINT / SIGTERM: finish the step, save, return
  PretrainResult r = pretrain(options, o.as_json ? std::cerr : std::cout);
  if (o.as_json)
    std::cout << Json{{"initial_val_loss", r.initial_val_loss}, {"final_val_loss", r.final_val_loss},
                      {"steps", r.records.size()}, {"model", r.model_dir},
                      {"interrupted", r.interrupted ? Json(signal_name(r.interrupted)) : Json()}}
              << std::endl;
  if (r.interrupted == 0) return 0;
  std::cerr << fmt::format("pretrain: interrupted by {} after step {}; saved to {} (checkpoints/{}); continue with "
                           "--resume\n",
                           signal_name(r.interrupted), r.steps_done, r.model_dir,
                           fs::path(checkpoint_path(options.out_dir, r.steps_done)).filename().string());
  return 128 + r.interrupted;
}

void add_pretrain(CLI::App& app) {
  auto options = std::make_shared<Options>();
  PretrainOptions& p = options->pretrain;
  CLI::App* command = app.add_subcommand("pretrain", "phase 1: train a GPT to predict the next token");
  command->add_option("--data", p.data_dir, "a directory written by kiso prepare")->required();
  command->add_option("--out", p.out_dir, "the run directory")->required();
  command->add_option("--preset", p.preset, "gpt1, small or tiny")->capture_default_str();
  command->add_option("--config", p.config_path, "a config.json instead of a preset");
  command->add_option("--batch-size", p.batch_size, "sequences per micro-batch")->capture_default_str();
  command->add_option("--seq-len", p.seq_len, "tokens per sequence")->capture_default_str();
  command->add_option("--grad-accum", p.grad_accum, "micro-batches per step")->capture_default_str();
  command->add_option("--steps", p.steps, "optimizer steps (default 200; on --resume: the run's)");
  command->add_option("--epochs", p.epochs, "or: passes' worth of training tokens (sets --steps)");
  command->add_option("--lr", p.lr, "maximum learning rate")->capture_default_str();
  command->add_option("--warmup", p.warmup_steps, "linear warmup steps, then cosine to 0")->capture_default_str();
  command->add_option("--beta1", p.beta1, "AdamW")->capture_default_str();
  command->add_option("--beta2", p.beta2, "AdamW")->capture_default_str();
  command->add_option("--weight-decay", p.weight_decay, "AdamW, on weights of rank >= 2")->capture_default_str();
  command->add_option("--clip", p.loop.clip, "max gradient norm (0: off)")->capture_default_str();
  command->add_option("--dropout", p.dropout, "override the config's dropout rates (on --resume: the run's)");
  command->add_option("--seed", p.seed, "seeds init, data order and dropout")->capture_default_str();
  command->add_option("--eval-every", p.loop.eval_every, "validation every N steps")->capture_default_str();
  command->add_option("--eval-batches", p.eval_batches, "validation batches")->capture_default_str();
  command->add_option("--checkpoint-every", p.checkpoint_every, "checkpoint every N steps")->capture_default_str();
  command->add_option("--keep-checkpoints", p.keep_checkpoints, "checkpoints kept in RUN/checkpoints")
      ->capture_default_str();
  command->add_flag("--resume", p.resume, "continue the run in --out from its checkpoint");
  command->add_flag("--overwrite", p.overwrite, "delete the run already in --out and start again");
  command->add_option("--stop-at", p.stop_at, "checkpoint and stop after this step (resume later)")
      ->capture_default_str();
  add_device_option(*command, options->device);
  add_json_flag(*command, options->as_json, "print the final result as one JSON object");
  command->callback([options] { exit_with(run_pretrain(*options)); });
}

}  // namespace kiso
