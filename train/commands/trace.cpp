// train/commands/trace.cpp — `kiso trace`: "the life of a token". One forward pass of --prompt,
// printed stage by stage, each with its name as the code names it, its shape, what it is in
// the paper's terms and its first values (train/trace.h):
//   the text -> its BPE tokens (each id with its text: how BPE split the prompt)
//   -> U W_e (B, T, C), W_p rows (T, C), h_0 = U W_e + W_p
//   -> in each block l: attn.c_attn (B, T, 3C), q, k, v in heads (B, NH, T, HS), the attention
//      weights (B, NH, T, T) (head 0's first rows: a triangle, 0 above the diagonal), the
//      attention output and its projection, x + attn and ln_1, mlp.c_fc (B, T, 4C), GELU,
//      mlp.c_proj, h + mlp and ln_2 = h_l
//   -> logits h_n W_eᵀ (B, T, V), P(next), the 5 most probable next tokens, and the next-token
//      loss of the prompt on itself (position t predicts token t+1).
// The model: --model DIR (a directory written by kiso pretrain, tokenizer inside), or --preset
// NAME --tokenizer DIR [--seed N] for random initial weights (what pretraining starts from: the
// loss is then about ln V). --values N (default 4) values of each stage's last row; --layers N
// shows the first N blocks only (the pass still runs them all); --device cpu|cuda; --json: one
// object {prompt, model, norm, tokens: [{id, text}], stages: [{name, layer, shape, index,
// values, description[, corner]}], top: [{id, text, probability}], loss}.
// Example:
//   kiso trace --preset tiny --tokenizer data/tokenizer --seed 1 --prompt "The cat sat on the mat."
// What it is not: a second model. The values are the real forward pass's (gpt/model.cpp,
// nn/modules.cpp, with an Observer); only the heads, the attention weights and the sums a fused
// op keeps inside are formed for the trace, from that pass's own tensors.
#include <cmath>
#include <iostream>

#include <fmt/core.h>

#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/model_source.h"
#include "train/trace.h"

namespace kiso {

namespace {

struct Options {
  ModelSource source;
  std::string prompt;
  int64_t values = 4;
  std::string layers = "all";
  std::string device = "cpu";
  bool as_json = false;
};

}  // namespace

// "all" -> -1; "N" -> N, which must be in 0..n_layer.
static int64_t parse_layers(const std::string& text, int64_t n_layer) {
  if (text == "all") return -1;
  size_t used = 0;
  int64_t n = -1;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  check(used == text.size() && n >= 0 && n <= n_layer, "trace",
        "--layers must be 'all' or a number of blocks in 0..{} (the model's n_layer), got '{}'", n_layer, text);
  return n;
}

// 0.0123 -> "  0.01230"; 0.0000123 -> " 1.23e-05" (a small probability); an exact 0 (a masked
// weight) -> "  0      ", so it stands out.
static std::string number(double x) {
  if (x == 0) return fmt::format("{:<9}", "  0");
  return std::abs(x) < 1e-3 ? fmt::format("{:9.2e}", x) : fmt::format("{:9.5f}", x);
}
static std::string numbers(const std::vector<double>& xs, bool integers) {
  std::string out;
  for (double x : xs) out += integers ? fmt::format(" {}", int64_t(x)) : " " + number(x);
  return out.erase(out.find_last_not_of(' ') + 1);  // no trailing blanks after a last 0
}

static std::string quoted_tokens(const Trace& t) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < t.ids.size(); ++i) parts.push_back(fmt::format("{} \"{}\"", t.ids[i], t.tokens[i]));
  return join(parts, " | ");
}

static void print_text(const Trace& t, const std::string& model, const GPTConfig& c) {
  bool post = t.norm == Norm::post;
  std::cout << fmt::format("model   {}: {} blocks, C = {}, NH = {}, HS = {}, V = {}, n_ctx = {}, {}\n", model,
                           c.n_layer, c.block.n_embd, c.block.n_head, c.block.n_embd / c.block.n_head, c.vocab_size,
                           c.n_ctx,
                           post ? "post-LN (GPT-1: h = LN(x + attn(x)), h_l = LN(h + mlp(h)))"
                                : "pre-LN (GPT-2: h = x + attn(LN(x)), h_l = h + mlp(LN(h)), then ln_f)");
  std::cout << fmt::format("text    \"{}\"\n", t.prompt);
  std::cout << fmt::format("tokens  T = {}: {}\n", t.ids.size(), quoted_tokens(t));
  int64_t layer = -1, shown = 0;
  bool after = false;  // past the blocks
  for (const TraceStage& s : t.stages) {
    if (s.layer != layer && s.layer >= 0) {
      std::cout << fmt::format("-- block {} --\n", s.layer);
      ++shown;
    }
    if (!after && (s.name == "ln_f" || s.name == "logits")) {
      after = true;
      if (shown < c.n_layer)
        std::cout << fmt::format("-- blocks {}..{}: run, not shown (--layers {}) --\n", shown, c.n_layer - 1, shown);
      std::cout << "-- after the blocks --\n";
    }
    layer = s.layer;
    std::cout << fmt::format("{:<22} {:<16} {}\n", s.name, shape_str(s.value.shape()), s.description);
    std::cout << fmt::format("{:<22} {} ={}\n", "", s.index, numbers(s.values, s.value.dtype() == DType::i32));
    if (s.corner.empty()) continue;
    std::cout << fmt::format("{:<22} head 0, queries 0..{} x keys 0..{} (above the diagonal: the future, masked):\n",
                             "", s.corner.size() - 1, s.corner.size() - 1);
    for (size_t q = 0; q < s.corner.size(); ++q)
      std::cout << fmt::format("{:<22}   t={:<3} {:<10} {}\n", "", q, t.tokens[q], numbers(s.corner[q], false));
  }
  std::cout << fmt::format("next token after \"{}\" (the last position's P):\n", t.tokens.back());
  for (const NextToken& n : t.top) std::cout << fmt::format("  {:8.5f}  {:>6} \"{}\"\n", n.probability, n.id, n.text);
  if (t.loss)
    std::cout << fmt::format("loss    {:.4f}: mean of -log P(token t+1) over the {} positions that have a next token "
                             "(a uniform guess: ln V = {:.4f})\n",
                             *t.loss, t.ids.size() - 1, std::log(double(c.vocab_size)));
  else std::cout << "loss    none: a one-token prompt has no next token to predict\n";
}

static Json to_json(const Trace& t, const std::string& model) {
  Json tokens = Json::array(), stages = Json::array(), top = Json::array();
  for (size_t i = 0; i < t.ids.size(); ++i) tokens.push_back({{"id", t.ids[i]}, {"text", t.tokens[i]}});
  for (const TraceStage& s : t.stages) {
    Json j = {{"name", s.name},   {"layer", s.layer},   {"shape", s.value.shape()},
              {"index", s.index}, {"values", s.values}, {"description", s.description}};
    if (!s.corner.empty()) j["corner"] = s.corner;
    stages.push_back(j);
  }
  for (const NextToken& n : t.top) top.push_back({{"id", n.id}, {"text", n.text}, {"probability", n.probability}});
  return {{"prompt", t.prompt}, {"model", model},   {"norm", t.norm == Norm::post ? "post" : "pre"},
          {"tokens", tokens},   {"stages", stages}, {"top", top},
          {"loss", t.loss ? Json(*t.loss) : Json(nullptr)}};
}

static int run_trace(const Options& o) {
  check_model_source(o.source, "trace");
  check(!o.prompt.empty(), "trace", "--prompt is empty; expected the text to trace");
  check(o.values >= 1, "trace", "--values must be >= 1, got {}", o.values);
  Device device = start_device(o.device, "trace");
  LoadedModel m = load_model_source(o.source, device, "trace");
  TraceOptions options{o.values, parse_layers(o.layers, m.model.config.n_layer)};
  Trace t = trace_forward(m.model, m.tokenizer, o.prompt, options, "trace");
  std::string model = o.source.model_dir.empty()
                          ? fmt::format("--preset {} (random initial weights, seed {})", o.source.preset, o.source.seed)
                          : o.source.model_dir;
  if (o.as_json) std::cout << to_json(t, model).dump() << "\n";
  else print_text(t, model, m.model.config);
  return 0;
}

void add_trace(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("trace", "one forward pass of a prompt, stage by stage: shapes and values");
  CLI::Option* seed = add_model_source_options(*command, options->source);
  command->add_option("--prompt", options->prompt, "the text to trace")->required();
  command->add_option("--values", options->values, "values shown of each stage's last row")->capture_default_str();
  command->add_option("--layers", options->layers, "blocks shown: all, or the first N")->capture_default_str();
  add_device_option(*command, options->device);
  add_json_flag(*command, options->as_json);
  command->callback([options, seed] {
    options->source.seed_given = seed->count() > 0;
    exit_with(run_trace(*options));
  });
}

}  // namespace kiso
