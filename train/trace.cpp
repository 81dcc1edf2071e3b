// train/trace.cpp — one forward pass of a prompt, stage by stage (see trace.h).
#include "train/trace.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include <fmt/core.h>

#include "gpt/checkpoint.h"
#include "train/pretrain.h"

namespace kiso {

// ---- the stages' descriptions, in the paper's terms ----

// What stage `stage` (a block's stage without its "h.l." prefix, or the model's own) is.
static std::string describe(const std::string& stage, const GPTConfig& c) {
  bool post = c.block.norm == Norm::post;
  if (stage == "ids") return "U: the prompt's token ids (BPE)";
  if (stage == "U W_e") return "token embeddings: row ids[t] of W_e (tokens_embed), a gather";
  if (stage == "W_p") return "position embeddings: rows 0..T-1 of W_p (positions_embed), learned";
  if (stage == "h_0") return "h_0 = U W_e + W_p (W_p broadcast over the batch; dropout is off in eval)";
  if (stage == "attn.c_attn") return "q, k, v = x W + b: the three projections in one matmul (C -> 3C)";
  if (stage == "attn.q") return "q: the first third, cut into NH heads of HS channels";
  if (stage == "attn.k") return "k: the second third, in heads";
  if (stage == "attn.v") return "v: the last third, in heads";
  if (stage == "attn.weights")
    return "softmax(q kᵀ / √HS) under the causal mask: query t weighs keys 0..t (formed from q and k for the trace)";
  if (stage == "attn.attention") return "weights · v in each head, the heads merged back to C channels";
  if (stage == "attn.c_proj") return "the output projection (C -> C): attn(x)";
  if (stage == "x + attn")
    return post ? "the residual sum x + attn(x) (formed for the trace: residual_layernorm fuses it with ln_1)"
                : "h = x + attn(ln_1(x)): the residual stream";
  if (stage == "ln_1")
    return post ? "h = LN(x + attn(x)): post-LN, the norm after the sum" : "ln_1(x): the attention's input (pre-LN)";
  if (stage == "mlp.c_fc")
    return fmt::format("h W_fc + b (C -> {}), before GELU (formed for the trace: linear_gelu fuses it with GELU)",
                       c.block.n_inner);
  if (stage == "mlp.gelu")
    return c.block.activation == GeluKind::tanh ? "GELU (the tanh approximation), element by element" : "GELU (erf)";
  if (stage == "mlp.c_proj") return fmt::format("the MLP's second layer ({} -> C): mlp(h)", c.block.n_inner);
  if (stage == "h + mlp")
    return post ? "the residual sum h + mlp(h) (formed for the trace: residual_layernorm fuses it with ln_2)"
                : "h_l = h + mlp(ln_2(h)): the block's output";
  if (stage == "ln_2") return post ? "h_l = LN(h + mlp(h)): the block's output" : "ln_2(h): the MLP's input (pre-LN)";
  if (stage == "ln_f") return "h_n = ln_f(h_L): the final LayerNorm of a pre-LN model";
  if (stage == "logits") return "h_n W_eᵀ: the LM head, tied to the token embedding W_e";
  if (stage == "probabilities") return "P(u) = softmax(h_n W_eᵀ): the next token's distribution at each position";
  return "";
}

// ---- the heads and the attention weights, from the fused projection ----

Tensor split_heads(const Tensor& qkv, int64_t n_head, int third) {
  int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, HS = C / n_head;
  Tensor part = slice(qkv, -1, third * C, (third + 1) * C);                // (B, T, C)
  return permute(part.reshape({B, T, n_head, HS}), {0, 2, 1, 3});          // (B, NH, T, HS)
}

Tensor attention_weights(const Tensor& qkv, int64_t n_head) {
  check(qkv.dim() == 3 && qkv.size(2) % (3 * n_head) == 0, "attention_weights",
        "qkv must be (B, T, 3C) with C a multiple of n_head {}, got {}", n_head, shape_str(qkv.shape()));
  int64_t HS = qkv.size(2) / 3 / n_head;
  Tensor q = split_heads(qkv, n_head, 0), k = split_heads(qkv, n_head, 1);  // (B, NH, T, HS) each
  Tensor scores = mul(matmul(q, k, false, true), 1.0 / std::sqrt(double(HS)));  // (B, NH, T, T)
  return softmax_forward(scores, /*causal=*/true);                             // (B, NH, T, T)
}

// ---- tokens as text ----

// ---- the trace ----

const TraceStage& Trace::stage(const std::string& name) const {
  for (const TraceStage& s : stages)
    if (s.name == name) return s;
  std::vector<std::string> names;
  for (const TraceStage& s : stages) names.push_back(s.name);
  fail("trace", "no stage named '{}'; the stages are: {}", name, join(names, ", "));
}

// `value`'s "last row" (batch 0, head 0, the last index of the other leading axes) and its first
// n values, and NumPy's notation for them.
static void show_last_row(TraceStage& s, int64_t n) {
  const Shape& shape = s.value.shape();
  int64_t rank = int64_t(shape.size()), width = rank == 0 ? 1 : shape.back(), offset = 0, stride = 1;
  std::vector<std::string> index;
  for (int64_t axis = rank - 2; axis >= 0; --axis) {  // from the innermost leading axis outwards
    stride *= shape[size_t(axis + 1)];
    bool batch_or_head = (rank >= 3 && axis == 0) || (rank == 4 && axis == 1);
    int64_t i = batch_or_head ? 0 : shape[size_t(axis)] - 1;
    offset += i * stride;
    index.insert(index.begin(), std::to_string(i));
  }
  int64_t shown = std::min(n, width);
  index.push_back(fmt::format(":{}", shown));
  s.index = fmt::format("[{}]", join(index, ", "));
  std::vector<double> all = s.value.to_vector<double>();
  s.values.assign(all.begin() + offset, all.begin() + offset + shown);
}

Trace trace_forward(const GPT& model, const Tokenizer& tokenizer, const std::string& prompt,
                    const TraceOptions& options, const char* op) {
  const GPTConfig& c = model.config;
  check(!prompt.empty(), op, "--prompt is empty; expected the text to trace");
  check_utf8(prompt, fmt::format("{}: --prompt", op).c_str());
  check(options.values >= 1, op, "--values must be >= 1, got {}", options.values);
  Trace trace;
  trace.prompt = prompt;
  trace.norm = c.block.norm;
  trace.ids = tokenizer.encode(prompt);
  int64_t T = int64_t(trace.ids.size()), n = options.values;
  check(T <= c.n_ctx, op, "--prompt is {} tokens long, more than the model's context n_ctx = {}; give a shorter prompt",
        T, c.n_ctx);
  for (int32_t id : trace.ids) {
    check(id < c.vocab_size, op, "the tokenizer gave id {}, but the model has only {} token rows (vocab_size); "
          "the tokenizer is not the model's", id, c.vocab_size);
    trace.tokens.push_back(tokenizer.label(id));
  }

  auto record = [&](int64_t layer, const std::string& stage, const Tensor& value) {
    TraceStage s;
    s.name = layer < 0 ? stage : fmt::format("h.{}.{}", layer, stage);
    s.description = describe(stage, c);
    s.layer = layer;
    s.value = value.to(Device::cpu);
    show_last_row(s, n);
    if (stage == "attn.weights") {  // head 0's top-left corner: the causal triangle
      int64_t k = std::min(n, T);
      std::vector<double> all = s.value.to_vector<double>();  // (1, NH, T, T): head 0 first
      for (int64_t t = 0; t < k; ++t) s.corner.emplace_back(all.begin() + t * T, all.begin() + t * T + k);
    }
    trace.stages.push_back(std::move(s));
  };
  Observer observer;
  observer.see = [&](int64_t layer, const std::string& stage, const Tensor& value) {
    if (options.layers >= 0 && layer >= options.layers) return;
    record(layer, stage, value);
    if (stage != "attn.c_attn") return;
    Tensor qkv = value.to(Device::cpu);  // (1, T, 3C): the heads and weights are formed from it
    int64_t NH = c.block.n_head;
    record(layer, "attn.q", split_heads(qkv, NH, 0));
    record(layer, "attn.k", split_heads(qkv, NH, 1));
    record(layer, "attn.v", split_heads(qkv, NH, 2));
    record(layer, "attn.weights", attention_weights(qkv, NH));
  };

  NoGradGuard no_grad;  // inference: no graph
  Device device = model.tokens_embed.weight.value().device();
  Tensor ids = from_vector(trace.ids, {1, T}).to(device);  // (1, T)
  record(-1, "ids", ids);
  Mode mode = Mode::eval();
  mode.observer = &observer;
  Variable hidden = model.hidden_states(ids, mode);  // (1, T, C)
  Variable logits = model.lm_head(hidden);           // (1, T, V): what GPT::logits computes
  record(-1, "logits", logits.value());
  Tensor probabilities = softmax_forward(trace.stages.back().value);  // (1, T, V) on the CPU
  record(-1, "probabilities", probabilities);

  // The five most probable next tokens after the prompt: the last position's distribution.
  int64_t V = c.vocab_size;
  std::vector<double> last = probabilities.to_vector<double>();
  last.erase(last.begin(), last.begin() + (T - 1) * V);
  std::vector<int32_t> order(size_t(V), 0);
  std::iota(order.begin(), order.end(), 0);
  size_t top = std::min<size_t>(5, order.size());
  std::partial_sort(order.begin(), order.begin() + long(top), order.end(),
                    [&](int32_t a, int32_t b) { return last[a] != last[b] ? last[a] > last[b] : a < b; });
  for (size_t i = 0; i < top; ++i) {
    int32_t id = order[i];
    std::string text = id < tokenizer.vocab_size() ? tokenizer.label(id) : fmt::format("<id {}>", id);
    trace.top.push_back({id, text, last[size_t(id)]});
  }

  // The loss of the prompt on itself, as GPT::loss computes it: position t predicts token t+1;
  // the last position has no next token (ignore_index -100).
  if (T >= 2) {
    std::vector<int32_t> targets(trace.ids.begin() + 1, trace.ids.end());
    targets.push_back(-100);
    Tensor target_ids = from_vector(targets, {T}).to(device);                        // (T,)
    trace.loss = cross_entropy(reshape(logits, {T, V}), target_ids).value().item();  // mean over T-1
  }
  return trace;
}

// ---- where the model comes from ----

void check_model_source(const ModelSource& s, const char* command) {
  check(s.model_dir.empty() != s.preset.empty(), command,
        "give exactly one of --model (a model directory) and --preset (random initial weights), got {}",
        s.model_dir.empty() ? "neither" : "both");
  if (!s.model_dir.empty()) {
    check(s.tokenizer_dir.empty(), command, "--tokenizer goes with --preset; --model {} has its own tokenizer",
          s.model_dir);
    check(!s.seed_given, command, "--seed goes with --preset; --model {} has trained weights", s.model_dir);
    check(std::filesystem::is_directory(s.model_dir), command,
          "--model {}: no such directory; expected a model directory written by kiso pretrain", s.model_dir);
    return;
  }
  std::vector<std::string> names = preset_names();
  check(std::find(names.begin(), names.end(), s.preset) != names.end(), command,
        "--preset {}: unknown; expected one of {}", s.preset, join(names, ", "));
  check(!s.tokenizer_dir.empty(), command,
        "--preset {} needs --tokenizer DIR (a tokenizer directory, e.g. kiso prepare's DATA/tokenizer)", s.preset);
  check(std::filesystem::is_directory(s.tokenizer_dir), command,
        "--tokenizer {}: no such directory; expected a tokenizer directory (vocab.json, merges.txt)", s.tokenizer_dir);
}

LoadedModel load_model_source(const ModelSource& s, Device device, const char* command) {
  check_model_source(s, command);
  if (!s.model_dir.empty()) return {load_model(s.model_dir, device), Tokenizer::load(s.model_dir)};
  Tokenizer tokenizer = Tokenizer::load(s.tokenizer_dir);
  GPTConfig config = preset(s.preset);
  config.vocab_size = tokenizer.vocab_size();  // as kiso pretrain sizes it from the data
  Generator init{s.seed, kInitStream};         // the weights kiso pretrain --seed starts from
  GPT model(config, init);
  move_parameters(model.parameters(), device);
  return {std::move(model), std::move(tokenizer)};
}

}  // namespace kiso
