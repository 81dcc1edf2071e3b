// nn/block_config.cpp — BlockConfig's field checks and its parameter count (see block_config.h).
#include "nn/block_config.h"

#include <cmath>
#include <utility>

#include "base/size.h"

namespace kiso {

void BlockConfig::validate(const char* op) const {
  // Shape: positive, and the heads split the channels evenly (HS = C / NH).
  check(n_head > 0, op, "n_head must be positive, got {}", n_head);
  check(n_embd > 0, op, "n_embd must be positive, got {}", n_embd);
  check(n_embd % n_head == 0, op, "n_embd ({}) must be a multiple of n_head ({}): each head has n_embd / n_head channels",
        n_embd, n_head);
  check(n_inner > 0, op, "n_inner must be positive, got {}", n_inner);
  // Regularisation: a dropout of 1 would zero everything (and divide by 1 - p = 0); NaN fails
  // both comparisons, so it is refused too.
  for (auto [name, p] : {std::pair{"attn_pdrop", attn_pdrop}, std::pair{"resid_pdrop", resid_pdrop}})
    check(p >= 0 && p < 1, op, "{} must be in [0, 1), got {}", name, p);
  check(layer_norm_epsilon > 0 && std::isfinite(layer_norm_epsilon), op,
        "layer_norm_epsilon must be a finite number > 0, got {}", layer_norm_epsilon);
  // The enums: a value cast from an int (or memory gone wrong) is none of the listed ones.
  check(activation == GeluKind::tanh || activation == GeluKind::erf, op,
        "activation {} is not a GeluKind (tanh or erf)", int(activation));
  check(norm == Norm::post || norm == Norm::pre, op, "norm {} is not a Norm (post or pre)", int(norm));
  // Size: the parameter count must fit in int64 (the memory budget is the caller's, who knows
  // how many blocks there are).
  (void)parameter_count(*this, op);
}

int64_t parameter_count(const BlockConfig& c, const char* op) {
  const int64_t C = c.n_embd, I = c.n_inner;
  const std::string what = fmt::format("the parameter count of a block (n_embd {}, n_inner {})", C, I);
  int64_t n = mul_size(4, mul_size(C, C, op, what), op, what);  // c_attn C·3C + c_proj C·C
  n = add_size(n, mul_size(2, mul_size(C, I, op, what), op, what), op, what);  // c_fc C·I + mlp c_proj I·C
  n = add_size(n, mul_size(9, C, op, what), op, what);  // biases 3C + C + C, LayerNorm gains and biases 4C
  return add_size(n, I, op, what);                      // c_fc's bias
}

}  // namespace kiso
