// train/commands/graph.cpp — `kiso graph`: the autograd graph of one training step's forward
// pass, from the token ids to the loss, as Graphviz DOT (and SVG when Graphviz' `dot` is there).
//
//   kiso graph --preset tiny --layers 1 --seq-len 4 --out graph.dot     DOT text in graph.dot
//   kiso graph --preset tiny --layers 1 --seq-len 4 --svg graph.svg     the picture (needs dot)
//   kiso graph --preset tiny --layers 1 --seq-len 4 --backward-order    the order backward() runs
//   kiso graph --preset tiny --json                                     counts, as one JSON object
//   kiso graph --model run/model --prompt "Hello world" --out graph.dot   a prompt's tokens
// With none of --out, --svg, --backward-order and --json, the DOT text goes to stdout.
//
// It builds the model (a preset, optionally with fewer or more --layers, or --model DIR), draws
// B × T random token ids (--seed; targets are the next ids of the same random stream, as in
// pre-training) or, with --prompt and a --model directory's tokenizer, takes the prompt's n
// tokens (ids: the first n - 1, targets: the last n - 1, in each of the B rows), runs GPT::loss
// in training mode (dropout on: the graph a training step builds) and draws what autograd recorded
// (train/graph_dot.h): one node per op with its output shape, one blue box per parameter with
// its Hugging Face name, each block's ops in a box "h.0", "h.1", ... The ids, positions and
// targets are not Variables (they get no gradient) and are added as dashed notes, read by the two
// embedding gathers and by the cross-entropy.
// Things to look for: tokens_embed.weight (W_e) has two consumers, the embedding gather at the
// bottom and the LM head's matmul at the top, so backward adds two gradients into it; every
// block has the same ops; --backward-order lists the ops loss first, the reverse of the forward.
// What it is not: a profiler (kiso bench --profile) or a trace of values (kiso trace); the
// graph is built on the CPU and is the same on cuda. It runs no backward.
#include <iostream>
#include <map>

#include <fmt/core.h>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/json.h"
#include "gpt/model.h"
#include "gpt/tokenizer.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/option_checks.h"
#include "train/graph_dot.h"

namespace kiso {

namespace {

struct Options {
  std::string preset;
  int64_t layers = 0;  // 0: the preset's own
  std::string model_dir;
  int64_t batch_size = 1;
  int64_t seq_len = 8;
  std::string prompt;
  bool seq_len_given = false, prompt_given = false;  // on the command line (CLI11's count)
  uint64_t seed = 1;
  std::string out;  // the DOT file; empty: stdout (unless another output was asked for)
  std::string svg;
  bool backward_order = false;
  bool as_json = false;
};

}  // namespace

// B·T + 1 ids uniform in [0, V): ids are the first T of each row, targets the last T, so each
// target is the id that follows its position, as in a pre-training batch.
static std::pair<Tensor, Tensor> random_batch(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  Generator data{seed, 1};
  std::vector<float> u = rand({B, T + 1}, data).to_vector<float>();
  std::vector<int32_t> ids, targets;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t <= T; ++t) {
      int32_t id = int32_t(std::min<int64_t>(int64_t(double(u[b * (T + 1) + t]) * double(V)), V - 1));
      if (t < T) ids.push_back(id);
      if (t > 0) targets.push_back(id);
    }
  return {from_vector(ids, {B, T}), from_vector(targets, {B, T})};  // (B, T) i32 each
}

// The prompt's n tokens, each row of B: ids the first n - 1, targets the last n - 1 (each
// position's next token).
static std::pair<Tensor, Tensor> prompt_batch(const std::vector<int32_t>& tokens, int64_t B) {
  std::vector<int32_t> ids, targets;
  for (int64_t b = 0; b < B; ++b) {
    ids.insert(ids.end(), tokens.begin(), tokens.end() - 1);
    targets.insert(targets.end(), tokens.begin() + 1, tokens.end());
  }
  int64_t T = int64_t(tokens.size()) - 1;
  return {from_vector(ids, {B, T}), from_vector(targets, {B, T})};  // (B, T) i32 each
}

static int run_graph(const Options& o) {
  check(o.preset.empty() != o.model_dir.empty(), "graph", "give exactly one of --preset and --model");
  check(o.layers >= 0, "graph", "--layers {}: expected a number of blocks >= 1 (or 0 for the preset's own)", o.layers);
  check(o.layers == 0 || !o.preset.empty(), "graph",
        "--layers changes a preset's depth; a model loaded with --model keeps its own");
  check(o.batch_size >= 1, "graph", "--batch-size {}: expected at least 1", o.batch_size);
  check(!o.prompt_given || !o.model_dir.empty(), "graph",
        "--prompt needs --model DIR: the prompt is encoded with the model directory's tokenizer");
  check(!o.prompt_given || !o.seq_len_given, "graph", "give --seq-len or --prompt, not both: the prompt sets T");
  if (!o.model_dir.empty())
    require_dir(o.model_dir, "graph", "--model", "a model directory (config.json + model.safetensors)");
  if (!o.out.empty()) require_writable_file(o.out, "graph", "--out");
  if (!o.svg.empty()) {
    require_writable_file(o.svg, "graph", "--svg");
    require_dot("graph");  // a missing Graphviz is said before a model is built
  }

  GPTConfig config;
  if (!o.preset.empty()) {
    config = preset(o.preset);
    if (o.layers > 0) config.n_layer = o.layers;
  } else {
    std::string path = o.model_dir + "/config.json";
    config = config_from_json(parse_json_strict(read_file(path), path), path);
  }
  config.validate();
  int64_t B = o.batch_size, T = o.seq_len;
  std::vector<int32_t> tokens;
  if (o.prompt_given) {
    tokens = Tokenizer::load(o.model_dir).encode(o.prompt);
    check(tokens.size() >= 2, "graph",
          "--prompt \"{}\" is {} token(s); expected at least 2 (the inputs, and the next tokens they predict)",
          o.prompt, tokens.size());
    T = int64_t(tokens.size()) - 1;
    check(T <= config.n_ctx, "graph", "--prompt is {} tokens; expected at most n_ctx + 1 = {} (one is only a target)",
          tokens.size(), config.n_ctx + 1);
  }
  check(T >= 1 && T <= config.n_ctx, "graph", "--seq-len {}: expected 1..{} (the model's context n_ctx)", T,
        config.n_ctx);

  Generator init{o.seed, 0}, dropout{o.seed, 2};
  GPT model = o.model_dir.empty() ? GPT(config, init) : load_model(o.model_dir);
  auto [ids, targets] = !o.prompt_given ? random_batch(B, T, config.vocab_size, o.seed) : prompt_batch(tokens, B);
  Variable loss = model.loss(ids, targets, Mode::train(dropout));

  // The graph, plus what autograd's graph does not hold: the integer inputs, each attached to
  // the ops that read it (the gathers from W_e and W_p, the loss).
  Graph graph = graph_of(loss, model.parameters());
  auto embedding_reads = [&](const char* table) {
    std::vector<int> out;
    for (int op : consumers_of(graph, find_node(graph, GraphNodeKind::parameter, table)))
      if (graph.nodes[op].name == "embedding") out.push_back(op);
    return out;
  };
  add_data_input(graph, "ids", {B, T}, embedding_reads("tokens_embed.weight"));
  add_data_input(graph, "positions", {T}, embedding_reads("positions_embed.weight"));
  add_data_input(graph, "targets", {B * T}, {graph.backward_order.front()});

  std::string name = o.preset.empty() ? o.model_dir : o.preset;
  std::string title = fmt::format("autograd graph of one training step: {}, {} layer{}, n_embd {}, B = {}, T = {}",
                                  name, config.n_layer, config.n_layer == 1 ? "" : "s", config.block.n_embd, B, T);
  std::string dot = to_dot(graph, title);
  if (!o.out.empty()) write_file_atomic(o.out, dot);
  if (!o.svg.empty()) render_svg(dot, o.svg);

  std::map<std::string, int64_t> ops_by_name, ops_by_scope;
  int64_t ops = 0, parameters = 0, leaves = 0, data = 0;
  for (const GraphNode& n : graph.nodes) {
    if (n.kind == GraphNodeKind::op) ++ops, ++ops_by_name[n.name], ++ops_by_scope[n.scope.empty() ? "(none)" : n.scope];
    else if (n.kind == GraphNodeKind::parameter) ++parameters;
    else if (n.kind == GraphNodeKind::leaf) ++leaves;
    else ++data;
  }
  if (o.as_json) {
    Json order = Json::array();
    for (int i : graph.backward_order) order.push_back(Json{{"op", graph.nodes[i].name},
                                                            {"shape", graph.nodes[i].shape},
                                                            {"scope", graph.nodes[i].scope}});
    Json result{{"nodes", graph.nodes.size()}, {"ops", ops}, {"ops_by_name", ops_by_name},
                {"ops_by_scope", ops_by_scope}, {"parameters", parameters}, {"other_leaves", leaves},
                {"data_inputs", data}, {"edges", graph.edges.size()}, {"backward_order", order}};
    if (!o.out.empty()) result["dot"] = o.out;
    if (!o.svg.empty()) result["svg"] = o.svg;
    std::cout << result << "\n";
    return 0;
  }
  if (o.backward_order) {
    std::cout << "backward() runs the ops' closures in this order: the loss first, each op after every op "
                 "that read its output\n";
    int step = 0;
    for (int i : graph.backward_order) {
      const GraphNode& n = graph.nodes[i];
      std::string line = fmt::format("{:>4}  {:<18} {:<14} {}", ++step, n.name, shape_str(n.shape), n.scope);
      line.erase(line.find_last_not_of(' ') + 1);  // no trailing blanks after an op in no block
      std::cout << line << "\n";
    }
  }
  if (o.out.empty() && o.svg.empty() && !o.backward_order) {
    std::cout << dot;
    return 0;
  }
  std::string counts = fmt::format("{} ops, {} parameters, {} data inputs, {} edges", ops, parameters, data,
                                   graph.edges.size());
  if (!o.out.empty()) std::cout << fmt::format("wrote {}: {}\n", o.out, counts);
  if (!o.svg.empty()) std::cout << fmt::format("wrote {}: {}\n", o.svg, counts);
  return 0;
}

void add_graph(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "graph", "the autograd graph of one training step (ids -> loss) as Graphviz DOT, or SVG with dot");
  command->add_option("--preset", options->preset, "a model shape: gpt1, small or tiny");
  command->add_option("--layers", options->layers, "with --preset: this many blocks instead of the preset's");
  command->add_option("--model", options->model_dir, "a model directory (config.json + model.safetensors)");
  command->add_option("--batch-size", options->batch_size, "B, sequences in the batch")->capture_default_str();
  CLI::Option* seq_len = command->add_option("--seq-len", options->seq_len, "T, tokens per sequence")
                             ->capture_default_str();
  CLI::Option* prompt = command->add_option(
      "--prompt", options->prompt, "with --model: this text's tokens instead of random ids (T = its tokens - 1)");
  command->add_option("--seed", options->seed, "seeds the weights, the random ids and dropout")->capture_default_str();
  command->add_option("--out", options->out, "the DOT file to write (default: DOT on stdout)");
  command->add_option("--svg", options->svg, "also render the graph to this SVG file with Graphviz' dot");
  command->add_flag("--backward-order", options->backward_order,
                    "list the ops in the order backward() runs them (loss first)");
  add_json_flag(*command, options->as_json, "print counts (ops by name and by block, parameters, edges) and the "
                                            "backward order as one JSON object");
  command->callback([options, seq_len, prompt] {
    options->seq_len_given = seq_len->count() > 0;
    options->prompt_given = prompt->count() > 0;
    exit_with(run_graph(*options));
  });
}

}  // namespace kiso
