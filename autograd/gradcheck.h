// autograd/gradcheck.h — checks analytic gradients against finite differences, in f64.
//
// For a function f of some input tensors, gradcheck builds the scalar L = Σ f(x) ⊙ R with a
// fixed random R (so every output element, not just their sum, is checked), takes dL/dx by
// backward(), and compares it, element by element, with the five-point central difference
//     dL/dx_i ≈ (-L(x_i + 2h) + 8 L(x_i + h) - 8 L(x_i - h) + L(x_i - 2h)) / (12 h)
// whose truncation error is O(h⁴): with h = 1e-3 both it and the rounding error (≈ ε·|L|/h)
// stay near 1e-12, far below the 1e-6 tolerance. Errors reported per input element:
//     abs = |analytic - numeric|,   rel = abs / max(|analytic|, |numeric|, 1e-3)
// The 1e-3 floor keeps rel meaningful for gradients that are (nearly) zero: below it the
// check is absolute (abs < 1e-9).
//
// The op cases (which ops, which shapes) are in gradcheck_cases.cpp; `kiso gradcheck` prints
// them as a table and tests/autograd/test_gradcheck.cpp asserts them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace kiso {

using GradcheckFn = std::function<Variable(const std::vector<Variable>&)>;

struct GradcheckResult {
  double max_abs_error = 0;
  double max_rel_error = 0;
  bool passed = true;
  std::string worst;  // where the largest relative error is: "input 1, element 7: analytic .. numeric .."
};

struct GradcheckOptions {
  double step = 1e-3;           // h
  double tolerance = 1e-6;      // on the relative error
  uint64_t seed = 1234;         // for the projection R
};

// inputs: f64 tensors (copied; the originals are not touched). wrt[i]: whether input i is
// checked (and requires grad); the others are constants.
GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const std::vector<bool>& wrt,
                          const GradcheckOptions& options = {});

// One gradient check of one op on one set of shapes.
struct GradcheckCase {
  std::string op;      // e.g. "matmul"
  std::string shapes;  // e.g. "(3, 5)ᵀ·(3, 4)"
  std::vector<Tensor> inputs;
  std::vector<bool> wrt;
  GradcheckFn f;
};

// Every differentiable op of autograd/functions.h over several shapes: broadcasting edges,
// size-1 and odd sizes. Inputs are drawn from a fixed seed.
std::vector<GradcheckCase> op_gradcheck_cases();

}  // namespace kiso
