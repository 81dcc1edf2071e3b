// train/commands/model_source.h — the options that choose the model of kiso trace and kiso
// attention: a trained model directory (--model), or a preset with random initial weights
// (--preset, --tokenizer, --seed). One place, so the two commands take them the same way.
// What it is not: the checks and the loading (train/trace.h, load_model_source).
#pragma once

#include <CLI/CLI.hpp>

#include "train/trace.h"

namespace kiso {

// Adds --model, --preset, --tokenizer and --seed to `command`, bound to `source`; returns the
// --seed option, whose count() the callback copies into source.seed_given.
inline CLI::Option* add_model_source_options(CLI::App& command, ModelSource& source) {
  command.add_option("--model", source.model_dir, "a model directory written by kiso pretrain (its tokenizer is used)");
  command.add_option("--preset", source.preset, "or a preset (gpt1, small, tiny) with random initial weights");
  command.add_option("--tokenizer", source.tokenizer_dir, "with --preset: a tokenizer directory");
  return command.add_option("--seed", source.seed, "with --preset: the initial weights' seed (kiso pretrain's)")
      ->capture_default_str();
}

}  // namespace kiso
