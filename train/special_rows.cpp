// train/special_rows.cpp — the special-token rows: drawn anew, and the frozen-backbone mask
// (see special_rows.h).
#include "train/special_rows.h"

#include <algorithm>

namespace kiso {

void draw_special_token_rows(GPT& model, const SpecialIds& special, Generator& gen, RowsFrom from) {
  int32_t top = std::max({special.start, special.delim, special.extract});
  if (top >= model.config.vocab_size) add_token_rows(model, top + 1 - model.config.vocab_size, gen);
  Tensor wte = model.tokens_embed.weight.value();  // (V, C), the parameter's own storage
  int64_t C = wte.size(1);
  Tensor drawn = to_dtype(mul(randn({3, C}, gen, DType::f64), 0.02), DType::f32);  // (3, C), N(0, 0.02)
  if (from == RowsFrom::pretrained) return;  // drawn only to move `gen` as a plain run does
  std::vector<float> rows = drawn.to_vector<float>();
  const int32_t ids[3] = {special.start, special.delim, special.extract};
  for (int r = 0; r < 3; ++r) std::copy_n(rows.begin() + r * C, C, wte.data<float>() + int64_t(ids[r]) * C);
}

void SpecialRowMask::mask_gradient() const {
  if (!weight->grad().defined()) return;
  Tensor g = mul(weight->grad(), keep);  // (V, C) ⊙ (V, 1)
  weight->zero_grad();
  weight->accumulate_grad(g);
}

// A new value rather than an in-place write: the optimizer holds the Variable's address and
// reads its value at every step, so it updates the restored embedding next time.
void SpecialRowMask::restore_frozen_rows() const {
  *weight = Variable(add(mul(weight->value(), keep), frozen), true);  // (V, C)
}

FrozenBackbone freeze_backbone(GPT& model, const SpecialIds& special) {
  Variable& wte = model.tokens_embed.weight;
  for (NamedParameter& p : model.parameters())
    if (p.variable != &wte) *p.variable = Variable(p.variable->value(), false);

  const Tensor& w = wte.value();  // (V, C)
  int64_t V = w.size(0), C = w.size(1);
  std::vector<float> keep(size_t(V), 0.0f);
  for (int32_t id : {special.start, special.delim, special.extract}) keep[size_t(id)] = 1.0f;
  FrozenBackbone out;
  out.trainable = {{"tokens_embed.weight", &wte}};
  out.rows.weight = &wte;
  out.rows.keep = to_dtype(from_vector(keep, {V, 1}), w.dtype()).to(w.device());  // (V, 1)
  out.rows.frozen = mul(w, sub(ones({V, 1}, w.dtype(), w.device()), out.rows.keep));  // (V, C), a copy of w₀
  out.rows.frozen_numbers = (V - 3) * C;
  return out;
}

}  // namespace kiso
