// gpt/gradcheck_cases.h — the gradient checks of the whole model and of the fine-tuning heads,
// in f64: `kiso gradcheck` prints them with the op and module cases, tests/gpt runs them.
// Kept out of gpt/model.h and gpt/tasks.h so that a model user does not include the checker.
#pragma once

#include <vector>

#include "autograd/gradcheck.h"

namespace kiso {

// A tiny GPT, post-LN and pre-LN, with and without dropout: every parameter into the loss.
std::vector<GradcheckCase> model_gradcheck_cases();
// Each task head and the fine-tuning loss with lm_coef > 0, on a one-layer model.
std::vector<GradcheckCase> task_gradcheck_cases();

}  // namespace kiso
