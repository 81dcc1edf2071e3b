// train/kiso.cpp — the `kiso` command line. One binary, one subcommand per job, each in its own
// file under train/commands/ (the layout of a command file: train/commands/commands.h):
//   kiso info                      what this build has: CUDA or not, a usable GPU or why not
//   kiso gradcheck [--op NAME]     every differentiable op, every module and a whole tiny GPT
//                                  against finite differences (make gradcheck)
//   kiso model --preset NAME       a model's shape and parameter count (or --dir DIR)
//   kiso tokenizer train|encode|decode   byte-level BPE
//   kiso prepare                   text files -> tokenizer + train/val token shards
//   kiso pretrain                  phase 1: next-token prediction (train/pretrain.h)
//   kiso eval                      loss and perplexity of a model on a shard or text
//   kiso sample                    generate text from a model
//   kiso bench --preset NAME       training and inference tokens/s, model FLOPs utilisation
//   kiso finetune                  phase 2: a task head on a pre-trained model (train/finetune.h)
//   kiso predict / kiso evaluate   a fine-tuned model on a task file: its answers, or accuracy,
//                                  F1 and the confusion matrix
//   kiso plot --run DIR            the run's training and validation loss as SVG
//   kiso layout --kind KIND --text T   the token sequences of one fine-tuning example (START /
//                                  DELIM / EXTRACT), as text or SVG (--figure: all four kinds)
//   kiso graph --preset NAME       the autograd graph of a training step as DOT (SVG with dot)
//   kiso trace --prompt TEXT       one forward pass, stage by stage: shapes and values
//   kiso attention --prompt TEXT   a layer's attention weights as an SVG heatmap
//   kiso export --model M --out D  a fine-tuned model as a transformers directory (gpt/hf_export.h)
// The README documents each with an example. Every subcommand takes --json to print its result
// as one JSON object on stdout.
//
// main only lists the commands, and is the one place that turns an error into an exit code:
// a kiso::Error or another exception is "kiso: error: ..." on stderr and status 2 (in a
// distributed run: said once by rank 0 when every process has it, else by the process that
// failed, and then MPI_Abort ends them all rather than leave them waiting); a bad
// command line is CLI11's message and status; a command's own non-zero status (gradcheck's 1
// when a row fails) comes back through CLI::RuntimeError.
#include <CLI/CLI.hpp>

#include <fmt/core.h>

#include "base/check.h"
#include "train/commands/commands.h"
#include "train/distributed.h"

// "rank 1 of 2: " in a distributed run, so that an error says which process it came from.
static std::string rank_prefix() {
  if (!kiso::dist::started() || kiso::dist::size() == 1) return "";
  return fmt::format("rank {} of {}: ", kiso::dist::rank(), kiso::dist::size());
}

int main(int argc, char** argv) {
  CLI::App app{"kiso — a from-scratch GPT engine (GPT-1, Radford et al. 2018)"};
  app.require_subcommand(1);
  kiso::add_info(app);
  kiso::add_gradcheck(app);
  kiso::add_model(app);
  kiso::add_tokenizer(app);
  kiso::add_prepare(app);
  kiso::add_pretrain(app);
  kiso::add_eval(app);
  kiso::add_sample(app);
  kiso::add_bench(app);
  kiso::add_finetune(app);
  kiso::add_predict(app);
  kiso::add_evaluate(app);
  kiso::add_plot(app);
  kiso::add_layout(app);
  kiso::add_graph(app);
  kiso::add_trace(app);
  kiso::add_attention(app);
  kiso::add_export(app);

  try {
    app.parse(argc, argv);  // runs the chosen command (its callback)
  } catch (const CLI::ParseError& e) {  // CLI::RuntimeError included: a command's status
    return app.exit(e);
  } catch (const kiso::AgreedError& e) {  // every process of a distributed run has it: rank 0 says it
    if (!e.quiet) fmt::print(stderr, "kiso: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {  // a kiso::Error, or e.g. a std::filesystem error (a full disk)
    fmt::print(stderr, "kiso: error: {}{}\n", rank_prefix(), e.what());
    // One process of a distributed run failed alone: the others would wait for it in their next
    // sum forever, so the whole run ends here (train/distributed.h). A command that never joined
    // the world (eval, sample under mpirun) has no one waiting for it.
    if (kiso::dist::started() && kiso::dist::size() > 1) kiso::dist::abort(2);
    return 2;
  }
  return 0;
}
