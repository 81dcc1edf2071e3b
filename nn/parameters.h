// nn/parameters.h — how modules name their parameters.
//
// Every module lists its parameters in a fixed order with a name, e.g. Linear gives
// {"weight", "bias"}; a Block prefixes its children's names ("attn.c_attn.weight") and the
// GPT model prefixes blocks ("h.0.attn.c_attn.weight"). The names are the Hugging Face
// `openai-gpt` names, so checkpoints need no translation table. Optimizers, gradient
// clipping, checkpoints and gradient checks all walk this one list.
#pragma once

#include <string>
#include <vector>

#include "autograd/variable.h"

namespace kiso {

struct NamedParameter {
  std::string name;
  Variable* variable;  // owned by the module; the list is valid while the module lives
};

using Parameters = std::vector<NamedParameter>;

// Moves every parameter's value to `device` (a copy there; gradients are dropped). Run it
// before an optimizer is built over the list: its state is made where the parameters are.
inline void move_parameters(const Parameters& params, Device device) {
  for (const NamedParameter& p : params)
    *p.variable = Variable(p.variable->value().to(device), p.variable->requires_grad());
}

// Appends `inner` to `out` with "prefix." in front of each name.
inline void append_parameters(Parameters& out, const std::string& prefix, const Parameters& inner) {
  for (const NamedParameter& p : inner) out.push_back({prefix + "." + p.name, p.variable});
}

}  // namespace kiso
