// train/commands/finetune.cpp — `kiso finetune`: phase 2, a task head on a pre-trained model
// (train/finetune.h), with GPT-1's recipe as the defaults. One line per step goes to stdout (to
// stderr with --json), then the validation accuracy before and after; the run directory gets
// model/ (a fine-tuned model directory, gpt/finetuned.h) and log.jsonl. SIGINT or SIGTERM stops
// the run after the step in progress and saves the model as trained so far: one line on stderr
// says where, and the exit status is 130 or 143 (128 + the signal).
// What it is not: prediction or evaluation of the result (kiso predict, kiso evaluate).
#include <iostream>

#include <fmt/core.h>
#include <unistd.h>

#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/distributed.h"
#include "train/finetune.h"

namespace kiso {

namespace {

struct Options {
  FinetuneOptions finetune;
  std::string device = "cpu";
  bool as_json = false;
};

}  // namespace

static int run_finetune(const Options& o) {
  FinetuneOptions options = o.finetune;
  together([&] {  // every process of a distributed run alike (train/distributed.h)
    validate(options);  // before the device starts or anything is read
    options.device = start_device(o.device, "finetune");
  });
  // A bar only on a terminal; not under mpirun, which gives its processes a terminal of their own
  // even when its output goes to a file.
  options.loop.progress_bar = !o.as_json && isatty(STDOUT_FILENO) && !dist::launched();
  StopOnSignals stop;  // SIGINT / SIGTERM: finish the step, save, return
  FinetuneResult r = finetune(options, rank0_stream(o.as_json ? std::cerr : std::cout));
  if (!dist::is_root()) return r.interrupted == 0 ? 0 : 128 + r.interrupted;  // rank 0 reports
  if (r.interrupted != 0) {
    std::cerr << fmt::format("finetune: interrupted by {} after step {} of {}; the model as trained so far is saved "
                             "to {} (fine-tuning does not resume: run it again with --overwrite)\n",
                             signal_name(r.interrupted), r.steps_done, r.steps, r.model_dir);
    return 128 + r.interrupted;
  }
  if (o.as_json)
    std::cout << Json{{"initial_val_loss", r.initial.loss}, {"final_val_loss", r.final.loss},
                      {"initial_val_accuracy", *r.initial.accuracy}, {"final_val_accuracy", *r.final.accuracy},
                      {"steps", r.steps}, {"train_examples", r.train_examples}, {"val_examples", r.val_examples},
                      {"parameters_trained", r.parameters_trained}, {"seconds", r.seconds}, {"model", r.model_dir}}
              << "\n";
  else
    std::cout << fmt::format("validation accuracy {:.4f} (before: {:.4f}); model in {}\n", *r.final.accuracy,
                             *r.initial.accuracy, r.model_dir);
  return 0;
}

void add_finetune(CLI::App& app) {
  auto options = std::make_shared<Options>();
  FinetuneOptions& f = options->finetune;
  CLI::App* command = app.add_subcommand("finetune", "phase 2: fine-tune a pre-trained model on a task");
  command->add_option("--model", f.model_dir, "a pre-trained model directory (e.g. RUN/model)")->required();
  command->add_option("--task", f.task, "classification, entailment, similarity or multiple-choice")->required();
  command->add_option("--train", f.train_path, "training examples (.jsonl, .tsv, GLUE .tsv, ROCStories .csv)")
      ->required();
  command->add_option("--val", f.val_path, "validation examples (same formats)")->required();
  add_header_flags(*command, f.header);
  command->add_option("--out", f.out_dir, "the run directory (OUT/model, OUT/log.jsonl)")->required();
  command->add_option("--init", f.init, "pretrained, or scratch: random weights (ablation)")->capture_default_str();
  command->add_flag("--freeze-backbone", f.freeze_backbone, "train only the head and the special-token rows");
  command->add_option("--lm-coef", f.lm_coef, "lambda of the auxiliary LM loss (0: off)")->capture_default_str();
  command->add_option("--lr", f.lr, "maximum learning rate")->capture_default_str();
  command->add_option("--batch-size", f.batch_size, "examples per step")->capture_default_str();
  command->add_option("--grad-accum", f.grad_accum, "micro-batches per step (each batch-size / grad-accum examples)")
      ->capture_default_str();
  command->add_option("--epochs", f.epochs, "passes over the training examples")->capture_default_str();
  command->add_option("--warmup", f.warmup_fraction, "fraction of the steps for linear warmup, then linear decay")
      ->capture_default_str();
  command->add_option("--clip", f.loop.clip, "max gradient norm (0: off)")->capture_default_str();
  command->add_option("--head-dropout", f.head_dropout, "dropout before the head")->capture_default_str();
  command->add_option("--dropout", f.dropout, "override the backbone's dropout rates");
  command->add_option("--weight-decay", f.weight_decay, "AdamW, on weights of rank >= 2")->capture_default_str();
  command->add_option("--max-len", f.max_len, "tokens per sequence (0: the model's context)")->capture_default_str();
  command->add_option("--train-limit", f.train_limit, "use a seeded random subset of N training examples");
  command->add_option("--seed", f.seed, "seeds the head, data order and dropout")->capture_default_str();
  command->add_flag("--overwrite", f.overwrite, "replace the run already in --out");
  command->add_option("--eval-every", f.loop.eval_every, "validation every N steps (0: at the end)")->capture_default_str();
  add_precision_option(*command, f.loop.precision);
  add_device_option(*command, options->device);
  add_reduce_option(*command, f.reduce);
  add_json_flag(*command, options->as_json, "print the final result as one JSON object");
  command->callback([options] { exit_with(run_finetune(*options)); });
}

}  // namespace kiso
