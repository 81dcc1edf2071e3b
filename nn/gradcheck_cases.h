// nn/gradcheck_cases.h — the gradient checks of every module (Linear ... Block), in f64:
// `kiso gradcheck` prints them with the op and model cases, tests/nn runs them.
// Kept out of nn/modules.h so that a module user does not include the checker.
#pragma once

#include <vector>

#include "autograd/gradcheck.h"

namespace kiso {

std::vector<GradcheckCase> module_gradcheck_cases();  // nn/gradcheck_cases.cpp

}  // namespace kiso
