// train/commands/commands.h — kiso's subcommands, one file each (train/commands/<command>.cpp).
//
// A command file reads top to bottom:
//   1. a header comment: what the command does, what it prints (and with --json), what it is not
//   2. its options struct, in an unnamed namespace: every flag's variable, --json's as_json
//      and, where it runs a model, --device
//   3. static int run_<command>(const Options&): checks the options before any work or write,
//      does the work through the library (train/, gpt/), prints on std::cout (so a test can
//      capture it) and returns the exit status
//   4. void add_<command>(CLI::App& app): registers the subcommand and its flags into a
//      std::shared_ptr<Options> and makes run_<command> its callback (exit_with, command.h)
// To add a command: write train/commands/<command>.cpp in that shape, declare its add_ here,
// call it from main in train/kiso.cpp and from kiso_app in tests/train/test_commands.cpp, which
// checks that every command has --json.
// What it is not: the work itself; a command is the thin layer between flags and the library.
#pragma once

#include <CLI/CLI.hpp>

namespace kiso {

void add_info(CLI::App& app);       // what this build can do: CPU threads, CUDA, GPU
void add_gradcheck(CLI::App& app);  // every differentiable op against finite differences
void add_model(CLI::App& app);      // a preset's or a model directory's shape and size
void add_tokenizer(CLI::App& app);  // byte-level BPE: train, encode, decode
void add_prepare(CLI::App& app);    // text files -> tokenizer + token shards
void add_pretrain(CLI::App& app);   // phase 1: next-token prediction
void add_eval(CLI::App& app);       // loss and perplexity on a shard or a text
void add_sample(CLI::App& app);     // generate text
void add_bench(CLI::App& app);      // training and inference tokens/s, MFU
void add_finetune(CLI::App& app);   // phase 2: a task head on a pre-trained model
void add_predict(CLI::App& app);    // a fine-tuned model's answers for a task file
void add_evaluate(CLI::App& app);   // accuracy, F1 and the confusion matrix on a task file
void add_plot(CLI::App& app);       // a run's loss curves as SVG
void add_layout(CLI::App& app);     // the token sequences of one fine-tuning example (START / DELIM / EXTRACT)
void add_graph(CLI::App& app);      // the autograd graph of a training step as DOT / SVG
void add_trace(CLI::App& app);      // one forward pass of a prompt, stage by stage
void add_attention(CLI::App& app);  // a layer's attention weights as an SVG heatmap
void add_export(CLI::App& app);     // a fine-tuned model as a Hugging Face transformers directory

}  // namespace kiso
