// tensor/gelu_kind.h — which of the two GELUs an op, a module or a config means.
//
// A leaf header on its own so that a config (nn/BlockConfig, gpt/GPTConfig) can name the
// activation without including the whole op set; tensor/ops.h has the GELU ops themselves.
#pragma once

namespace kiso {

// erf:  gelu(x) = x * Φ(x) = 0.5 x (1 + erf(x / sqrt 2))            (exact)
// tanh: gelu(x) ≈ 0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³)))      (GPT-1 and GPT-2 use this)
enum class GeluKind { tanh, erf };

}  // namespace kiso
