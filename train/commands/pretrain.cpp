// train/commands/pretrain.cpp — `kiso pretrain`: phase 1, next-token prediction on a data
// directory written by kiso prepare (train/pretrain.h). One line per step goes to stdout (to
// stderr with --json, whose one object then is the only thing on stdout), with a progress bar
// when stdout is a terminal; the run directory gets log.jsonl and the checkpoints (RUN/model is
// the latest). SIGINT or SIGTERM stops the run after the step in progress, with a checkpoint:
// one line on stderr says where it went, and the exit status is 130 or 143 (128 + the signal).
// On data prepared with `kiso prepare --seams` the seam tokens' predictions are left out of the
// training and validation losses (train/seams.h); the last line, "val loss per real token",
// compares such a run with a plain one.
// Under `mpirun -np N` the N processes train together (train/distributed.h); rank 0 alone prints.
// What it is not: fine-tuning (kiso finetune).
#include <filesystem>
#include <iostream>

#include <fmt/core.h>

#include <unistd.h>

#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/checkpoints.h"
#include "train/commands/commands.h"
#include "train/distributed.h"
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

// --resume takes what the command line leaves out from the run itself, so `kiso pretrain --data D
// --out RUN --resume` continues any run: the options its saved state depends on (train/pretrain.h)
// and, when neither --preset nor --config is given, the run's own config.json. Options that are
// given are kept, and pretrain() names each one that differs from the run.
static void fill_from_run(const CLI::App& command, PretrainOptions& p) {
  std::string model_dir = p.out_dir + "/model", state_path = model_dir + "/state.json";
  if (!fs::exists(state_path)) return;  // pretrain() says what is missing
  Json state = parse_json_strict(read_file(state_path), state_path);
  if (!has_key(state, "options")) return;  // pretrain() names the malformed file
  const Json& run = state["options"];
  auto given = [&](const char* flag) { return command.count(flag) > 0; };
  auto take_int = [&](const char* flag, const char* key, auto& value) {
    if (!given(flag) && has_key(run, key)) value = decltype(+value)(get_int(run, key, state_path));
  };
  auto take_number = [&](const char* flag, const char* key, double& value) {
    if ((flag == nullptr || !given(flag)) && has_key(run, key)) value = get_number(run, key, state_path);
  };
  take_int("--batch-size", "batch_size", p.batch_size);
  take_int("--seq-len", "seq_len", p.seq_len);
  take_int("--grad-accum", "grad_accum", p.grad_accum);
  take_int("--warmup", "warmup_steps", p.warmup_steps);
  take_int("--seed", "seed", p.seed);
  take_number("--lr", "lr", p.lr);
  take_number("--beta1", "beta1", p.beta1);
  take_number("--beta2", "beta2", p.beta2);
  take_number(nullptr, "eps", p.eps);  // no flag: always the run's
  take_number("--weight-decay", "weight_decay", p.weight_decay);
  take_number("--clip", "clip", p.loop.clip);
  if (!given("--precision") && has_key(run, "precision"))  // a run from before --precision has none: f32
    p.loop.precision = parse_precision(get_string(run, "precision", state_path), state_path);
  if (!given("--preset") && !given("--config") && fs::exists(model_dir + "/config.json"))
    p.config_path = model_dir + "/config.json";
}

static int run_pretrain(const Options& o) {
  PretrainOptions options = o.pretrain;
  together([&] {  // every process of a distributed run alike (train/distributed.h)
    validate(options);  // before the device starts or anything is read
    options.device = start_device(o.device, "pretrain");
  });
  // A bar only on a terminal; not under mpirun, which gives its processes a terminal of their own
  // even when its output goes to a file.
  options.loop.progress_bar = !o.as_json && isatty(STDOUT_FILENO) && !dist::launched();
  StopOnSignals stop;  // SIGINT / SIGTERM: finish the step, save, return
  PretrainResult r = pretrain(options, rank0_stream(o.as_json ? std::cerr : std::cout));
  if (!dist::is_root()) return r.interrupted == 0 ? 0 : 128 + r.interrupted;  // rank 0 reports
  if (o.as_json)
    std::cout << Json{{"initial_val_loss", r.initial_val_loss}, {"final_val_loss", r.final_val_loss},
                      {"final_val_real_token_loss", r.final_val_real_token_loss ? Json(*r.final_val_real_token_loss) : Json()},
                      {"seams", r.seams},
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
  add_precision_option(*command, p.loop.precision, "(on --resume: the run's)");
  add_device_option(*command, options->device);
  add_reduce_option(*command, p.reduce);
  add_json_flag(*command, options->as_json, "print the final result as one JSON object");
  command->callback([options, command] {
    if (options->pretrain.resume) together([&] { fill_from_run(*command, options->pretrain); });
    exit_with(run_pretrain(*options));
  });
}

}  // namespace kiso
