// autograd/composite.cpp — fused ops as compositions of primitives (see composite.h).
#include "autograd/composite.h"

#include <cmath>
#include <limits>
#include <numbers>

namespace kiso::composite {

// softmax(x) = exp(x - max x) / Σ exp(x - max x). The causal mask adds -∞ to future keys, so
// their exponentials are exactly 0 (x + mask has the same gradient as x).
Variable softmax(const Variable& x, bool causal) {
  Variable z = x;
  if (causal) {
    int64_t Tq = x.value().size(-2), Tk = x.value().size(-1);
    std::vector<double> mask(size_t(Tq * Tk), 0.0);
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t j = i + (Tk - Tq) + 1; j < Tk; ++j) mask[size_t(i * Tk + j)] = -std::numeric_limits<double>::infinity();
    z = z + Variable(to_dtype(from_vector(mask, {Tq, Tk}), x.value().dtype()));
  }
  Variable e = exp(z - max_last(z));
  return e / sum_last(e);
}

// layernorm: mean, centred x, biased variance, 1/√(var + eps), then scale and shift.
Variable layernorm(const Variable& x, const Variable& gamma, const Variable& beta, double eps) {
  Variable xc = x - mean_last(x);            // (..., C)
  Variable var = mean_last(xc * xc);         // (..., 1)
  Variable xhat = xc * rsqrt(add(var, eps)); // (..., C)
  return xhat * gamma + beta;
}

// gelu, erf:  0.5 x (1 + erf(x / √2))
// gelu, tanh: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
Variable gelu(const Variable& x, GeluKind kind) {
  if (kind == GeluKind::erf) return mul(x * add(erf(mul(x, 1.0 / std::numbers::sqrt2)), 1.0), 0.5);
  Variable u = mul(x + mul(pow(x, 3.0), 0.044715), std::sqrt(2.0 / std::numbers::pi));
  return mul(x * add(tanh(u), 1.0), 0.5);
}

// cross-entropy: log softmax through logsumexp around the row max, pick the target's entry
// with a constant one-hot mask (all-zero rows for ignored targets), average over kept rows.
Variable cross_entropy(const Variable& logits, const Tensor& targets, int64_t ignore_index) {
  int64_t N = logits.value().size(0), V = logits.value().size(1);
  std::vector<double> pick(size_t(N * V), 0.0);
  int64_t count = 0;
  std::vector<int32_t> t = targets.to_vector<int32_t>();
  for (int64_t n = 0; n < N; ++n) {
    if (t[size_t(n)] == ignore_index) continue;
    pick[size_t(n * V + t[size_t(n)])] = 1.0;
    ++count;
  }
  Variable onehot(to_dtype(from_vector(pick, {N, V}), logits.value().dtype()));
  Variable m = max_last(logits);                               // (N, 1)
  Variable lse = log(sum_last(exp(logits - m))) + m;           // (N, 1)
  Variable logp = logits - lse;                                // (N, V)
  Variable picked = sum(logp * onehot);                        // ()
  return mul(picked, count ? -1.0 / double(count) : 0.0);
}

// attention: (B, T, 3C) -> heads (B·NH, T, HS) by slice + permute, then the maths per head,
// with the fused softmax (its own twin is above; the fused one is what the unfused model ran).
static Variable split_heads(const Variable& x, int64_t NH) {
  int64_t B = x.shape()[0], T = x.shape()[1], C = x.shape()[2];
  return reshape(permute(reshape(x, {B, T, NH, C / NH}), {0, 2, 1, 3}), {B * NH, T, C / NH});
}

Variable attention(const Variable& qkv, int64_t n_head, double p, Generator* gen) {
  int64_t B = qkv.shape()[0], T = qkv.shape()[1], C = qkv.shape()[2] / 3, HS = C / n_head;
  Variable q = split_heads(slice(qkv, -1, 0, C), n_head);  // (B·NH, T, HS)
  Variable k = split_heads(slice(qkv, -1, C, 2 * C), n_head);
  Variable v = split_heads(slice(qkv, -1, 2 * C, 3 * C), n_head);
  Variable att = kiso::softmax(mul(matmul(q, k, false, true), 1.0 / std::sqrt(double(HS))), /*causal=*/true);
  if (p > 0) att = dropout(att, p, *gen);                                    // (B·NH, T, T)
  Variable y = reshape(matmul(att, v), {B, n_head, T, HS});                  // (B, NH, T, HS)
  return reshape(permute(y, {0, 2, 1, 3}), {B, T, C});                       // (B, T, C)
}

}  // namespace kiso::composite
