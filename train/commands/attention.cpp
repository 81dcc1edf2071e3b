// train/commands/attention.cpp — `kiso attention`: the attention weights softmax(q kᵀ / √HS)
// of one block for --prompt, as an SVG heatmap (train/attention_map.h) with the tokens on both
// axes: rows are queries, columns keys, the causal upper triangle hatched and empty, a colour
// scale from 0 to 1. --layer L (default 0) picks the block, --head H (default 0) the head, or
// --head all: a grid of small heatmaps, one per head, on the same scale. --out FILE.svg writes
// the picture (atomically); without --out the matrix is printed as a table instead. --json: one
// object {prompt, layer, head, tokens: [{id, text}], heads: [h...], weights: [[[...]]] (per head
// drawn, T rows of T), svg: the file or null}.
// The model: --model DIR (written by kiso pretrain) or --preset NAME --tokenizer DIR [--seed N]
// (random initial weights), as `kiso trace` takes it; --device cpu|cuda.
// Example:
//   kiso attention --model run --prompt "The cat sat on the mat." --layer 1 --head 0 --out attention.svg
// What it is not: a view of every layer at once, or of attention flow across layers.
#include <iostream>

#include <fmt/core.h>

#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "train/attention_map.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/model_source.h"
#include "train/commands/option_checks.h"
#include "train/trace.h"

namespace kiso {

namespace {

struct Options {
  ModelSource source;
  std::string prompt;
  int64_t layer = 0;
  std::string head = "0";  // a number, or "all"
  std::string out;         // empty: print the matrix
  std::string device = "cpu";
  bool as_json = false;
};

}  // namespace

// "all" -> -1; "H" -> H (attention_map checks the range against the model).
static int64_t parse_head(const std::string& text) {
  if (text == "all") return -1;
  size_t used = 0;
  int64_t h = -2;
  try {
    h = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  check(used == text.size() && !text.empty() && h >= 0, "attention",
        "--head must be a head number (0, 1, ...) or 'all', got '{}'", text);
  return h;
}

// The weights as text: one row per query, its label first; "-" for a masked (future) key.
static void print_table(const AttentionMap& m) {
  for (size_t i = 0; i < m.weights.size(); ++i) {
    std::cout << fmt::format("block {}, head {}: row = query, column = key, - = masked (the future)\n", m.layer,
                             m.heads[i]);
    std::cout << fmt::format("{:>16}", "");
    for (size_t j = 0; j < m.tokens.size(); ++j) std::cout << fmt::format(" {:>6}", j);
    std::cout << "\n";
    for (size_t t = 0; t < m.tokens.size(); ++t) {
      std::cout << fmt::format("{:>3} {:<12}", t, m.tokens[t]);
      for (size_t j = 0; j < m.tokens.size(); ++j)
        std::cout << (j > t ? fmt::format(" {:>6}", "-") : fmt::format(" {:6.4f}", m.weights[i][t][j]));
      std::cout << "\n";
    }
  }
}

static int run_attention(const Options& o) {
  check_model_source(o.source, "attention");
  check(!o.prompt.empty(), "attention", "--prompt is empty; expected the text whose attention to draw");
  int64_t head = parse_head(o.head);
  if (!o.out.empty()) require_writable_file(o.out, "attention", "--out");
  Device device = start_device(o.device, "attention");
  LoadedModel m = load_model_source(o.source, device, "attention");
  AttentionMap map = attention_map(m.model, m.tokenizer, o.prompt, o.layer, head, "attention");
  if (!o.out.empty()) write_file_atomic(o.out, attention_svg(map));
  if (o.as_json) {
    Json tokens = Json::array();
    for (size_t i = 0; i < map.ids.size(); ++i) tokens.push_back({{"id", map.ids[i]}, {"text", map.tokens[i]}});
    std::cout << Json{{"prompt", map.prompt},
                      {"layer", map.layer},
                      {"head", head < 0 ? Json("all") : Json(head)},
                      {"tokens", tokens},
                      {"heads", map.heads},
                      {"weights", map.weights},
                      {"svg", o.out.empty() ? Json(nullptr) : Json(o.out)}}
                     .dump()
              << "\n";
  } else if (o.out.empty()) print_table(map);
  else std::cout << fmt::format("wrote {} (block {}, {}, {} tokens)\n", o.out, map.layer,
                                head < 0 ? "every head" : fmt::format("head {}", head), map.tokens.size());
  return 0;
}

void add_attention(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("attention", "a block's attention weights for a prompt, as an SVG heatmap");
  CLI::Option* seed = add_model_source_options(*command, options->source);
  command->add_option("--prompt", options->prompt, "the text whose attention to show")->required();
  command->add_option("--layer", options->layer, "the block, from 0")->capture_default_str();
  command->add_option("--head", options->head, "the head, from 0, or all (a grid of every head)")
      ->capture_default_str();
  command->add_option("--out", options->out, "the SVG file to write (default: print the weights as a table)");
  add_device_option(*command, options->device);
  add_json_flag(*command, options->as_json);
  command->callback([options, seed] {
    options->source.seed_given = seed->count() > 0;
    exit_with(run_attention(*options));
  });
}

}  // namespace kiso
