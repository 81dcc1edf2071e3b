// train/commands/model.cpp — `kiso model`: a model's shape and parameter count, from a preset
// (--preset gpt1) or a model directory (--dir). The count is split as the architecture is:
// embeddings + L blocks × a block's parameters (+ the final LayerNorm of a pre-LN model).
// What it is not: a loader: it reads config.json only and builds no weights.
#include <iostream>

#include <fmt/core.h>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/option_checks.h"

namespace kiso {

namespace {

struct Options {
  std::string preset;
  std::string dir;
  bool as_json = false;
};

}  // namespace

// 116534784 -> "116,534,784"
static std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

static int run_model(const Options& o) {
  check(o.preset.empty() != o.dir.empty(), "model", "give exactly one of --preset and --dir");
  if (!o.dir.empty()) require_dir(o.dir, "model", "--dir", "a model directory (config.json + model.safetensors)");
  // The counts follow from the configuration alone (gpt/config.h parameter_count), so no
  // weights are built or read: `model --preset gpt1` used to allocate all 117M of them.
  std::string config_path = o.dir + "/config.json";
  GPTConfig c = o.dir.empty() ? preset(o.preset)
                              : config_from_json(parse_json_strict(read_file(config_path), config_path), config_path);
  c.validate();
  int64_t embeddings = (c.vocab_size + c.n_ctx) * c.block.n_embd;  // fits: validate counted it
  int64_t per_block = parameter_count(c.block, "model");
  int64_t total = parameter_count(c);
  if (o.as_json) {
    std::cout << Json{{"config", config_to_json(c)}, {"parameters", total}, {"embedding_parameters", embeddings},
                      {"parameters_per_block", per_block}}
              << "\n";
    return 0;
  }
  const BlockConfig& b = c.block;
  std::cout << fmt::format("{}: {} layers, {} heads, n_embd {}, n_inner {}, context {}, vocabulary {}, {}-LN, "
                           "GELU ({})\n",
                           o.dir.empty() ? o.preset : o.dir, c.n_layer, b.n_head, b.n_embd, b.n_inner, c.n_ctx,
                           c.vocab_size, b.norm == Norm::post ? "post" : "pre",
                           b.activation == GeluKind::tanh ? "tanh" : "erf");
  std::cout << fmt::format("parameters: {} = embeddings {} + {} blocks x {}{}\n", with_commas(total),
                           with_commas(embeddings), c.n_layer, with_commas(per_block),
                           b.norm == Norm::pre ? " + final LayerNorm" : "");
  return 0;
}

void add_model(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("model", "the shape and parameter count of a preset or a model directory");
  command->add_option("--preset", options->preset, "gpt1, small or tiny");
  command->add_option("--dir", options->dir, "a model directory (config.json + model.safetensors)");
  add_json_flag(*command, options->as_json);
  command->callback([options] { exit_with(run_model(*options)); });
}

}  // namespace kiso
