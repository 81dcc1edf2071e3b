// gpt/model.cpp — the GPT forward pass (see model.h for the equations it follows).
#include "gpt/model.h"

namespace kiso {

// Builds every module with `init`; the weights come from init.gen, or are zeros without one.
static void build(GPT& m, const Init& init) {
  const GPTConfig& c = m.config;
  c.validate();  // every field, and the f32 weights against the memory budget, before any tensor
  if (dtype_size(init.dtype) > 4) check_model_memory(c, int64_t(dtype_size(init.dtype)));
  int64_t C = c.block.n_embd;
  m.tokens_embed = Embedding(c.vocab_size, C, init);
  m.positions_embed = Embedding(c.n_ctx, C, init);
  m.drop = Dropout{c.embd_pdrop};
  for (int64_t l = 0; l < c.n_layer; ++l) m.h.emplace_back(c.block, init);
  if (c.block.norm == Norm::pre) m.ln_f = LayerNorm(C, c.block.layer_norm_epsilon, init);
}

GPT::GPT(const GPTConfig& cfg, Generator& gen, DType dtype) : config(cfg) {
  build(*this, Init{&gen, dtype, config.initializer_range});
}

GPT::GPT(const GPTConfig& cfg, DType dtype) : config(cfg) { build(*this, Init{nullptr, dtype, 0.0}); }

Variable GPT::hidden_states(const Tensor& ids, const Mode& mode, KVCache* cache) const {
  check(ids.defined() && ids.dim() == 2 && ids.dtype() == DType::i32, "GPT", "ids must be i32 (B, T), got {} {}",
        ids.defined() ? to_string(ids.dtype()) : "undefined", ids.defined() ? shape_str(ids.shape()) : "");
  int64_t T = ids.size(1), past = cache ? cache->length : 0;
  check(T >= 1 && past + T <= config.n_ctx, "GPT",
        "sequence length {} is outside 1..n_ctx = {} (the model has {} positions)", past + T, config.n_ctx,
        config.n_ctx);
  if (cache) {
    cache->layers.resize(h.size());
    for (LayerCache& layer : cache->layers) layer.capacity = config.n_ctx;  // room for the whole context
  }
  Tensor positions = arange(past, past + T, DType::i32);        // (T,) absolute positions
  Variable token_rows = tokens_embed.forward(ids);              // U W_e (B, T, C): row ids[b, t] of W_e
  Variable position_rows = positions_embed.forward(positions);  // W_p rows (T, C)
  Variable x = drop.forward(token_rows + position_rows, mode);  // h_0 (B, T, C)
  mode.observe("U W_e", token_rows);  // (an optional observer, nn/modules.h: kiso trace)
  mode.observe("W_p", position_rows);
  mode.observe("h_0", x);
  for (size_t l = 0; l < h.size(); ++l) {
    GraphScope block("h." + std::to_string(l));  // names block l's ops in pictures of the graph (kiso graph)
    if (mode.observer) mode.observer->layer = int64_t(l);
    x = h[l].forward(x, mode, cache ? &cache->layers[l] : nullptr);  // (B, T, C)
  }
  if (mode.observer) mode.observer->layer = -1;
  if (cache) cache->length += T;
  if (config.block.norm == Norm::pre) {
    x = ln_f.forward(x);
    mode.observe("ln_f", x);
  }
  return x;
}

Variable GPT::logits(const Tensor& ids, const Mode& mode, KVCache* cache) const {
  return lm_head(hidden_states(ids, mode, cache));
}

// The tied head on the rows: hidden states (B, T, C) -> logits (B·T, V) = h W_eᵀ.
static Variable head_rows(const GPT& m, const Variable& x) {
  int64_t B = x.shape()[0], T = x.shape()[1], C = m.config.block.n_embd;  // x (B, T, C)
  Variable flat = reshape(x, {B * T, C});                                // (B·T, C)
  return matmul(flat, m.tokens_embed.weight, false, true);               // (B·T, V)
}
Variable GPT::lm_head(const Variable& x) const {
  int64_t B = x.shape()[0], T = x.shape()[1];
  return reshape(head_rows(*this, x), {B, T, config.vocab_size});  // (B, T, V)
}

Variable GPT::loss(const Tensor& ids, const Tensor& targets, const Mode& mode) const {
  check(targets.defined() && targets.shape() == ids.shape(), "GPT::loss", "targets must have the shape of ids {}, got {}",
        shape_str(ids.shape()), targets.defined() ? shape_str(targets.shape()) : "undefined");
  // The logits (B·T, V) go to the loss as a temporary that nothing else holds (no (B, T, V) view
  // of them either): cross_entropy's backward then writes dlogits over them, and the step holds
  // one (B·T, V) buffer at the loss instead of two (autograd/functions.h).
  return cross_entropy(head_rows(*this, hidden_states(ids, mode)), targets.reshape({-1}));
}

Parameters GPT::parameters() {
  Parameters out;
  append_parameters(out, "tokens_embed", tokens_embed.parameters());
  append_parameters(out, "positions_embed", positions_embed.parameters());
  for (size_t l = 0; l < h.size(); ++l) append_parameters(out, "h." + std::to_string(l), h[l].parameters());
  if (config.block.norm == Norm::pre) append_parameters(out, "ln_f", ln_f.parameters());
  return out;
}

int64_t GPT::num_parameters() {
  int64_t n = 0;
  for (const NamedParameter& p : parameters()) n += p.variable->value().numel();
  return n;
}

}  // namespace kiso
