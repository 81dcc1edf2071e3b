// autograd/gradcheck.cpp — finite differences against backward(); the maths is in gradcheck.h.
#include "autograd/gradcheck.h"

#include <cmath>

#include "autograd/functions.h"

namespace kiso {

// L = Σ f(x) ⊙ R, as a Variable (for backward) ...
static Variable projected(const GradcheckFn& f, const std::vector<Variable>& xs, const Tensor& R) {
  return sum(f(xs) * Variable(R));
}

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, const std::vector<bool>& wrt,
                          const GradcheckOptions& options) {
  check(inputs.size() == wrt.size(), "gradcheck", "{} inputs but {} wrt flags", inputs.size(), wrt.size());
  std::vector<Variable> xs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    check(inputs[i].dtype() == DType::f64, "gradcheck", "input {} is {}; gradient checks run in f64", i,
          to_string(inputs[i].dtype()));
    xs.emplace_back(inputs[i].clone(), bool(wrt[i]));
  }

  // The projection R: fixed, random, the shape of f's output.
  Tensor R;
  {
    NoGradGuard no_grad;
    Generator gen{options.seed};
    R = randn(f(xs).shape(), gen, DType::f64);
  }

  // Analytic: one backward of L.
  projected(f, xs, R).backward();

  // Numeric: perturb one element at a time, in place, and evaluate L without a graph.
  NoGradGuard no_grad;
  auto L = [&] { return projected(f, xs, R).value().item(); };
  GradcheckResult result;
  double h = options.step;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!wrt[i]) continue;
    Tensor x = xs[i].value();  // shares storage with the leaf: writes move the input itself
    double* p = x.data<double>();
    Tensor g = xs[i].grad();
    std::vector<double> analytic = g.defined() ? g.to_vector<double>() : std::vector<double>(size_t(x.numel()), 0.0);
    for (int64_t j = 0; j < x.numel(); ++j) {
      double v = p[j];
      p[j] = v + 2 * h; double l2 = L();
      p[j] = v + h;     double l1 = L();
      p[j] = v - h;     double m1 = L();
      p[j] = v - 2 * h; double m2 = L();
      p[j] = v;
      double numeric = (-l2 + 8 * l1 - 8 * m1 + m2) / (12 * h);
      double a = analytic[size_t(j)];
      double abs_err = std::abs(a - numeric);
      double rel_err = abs_err / std::max({std::abs(a), std::abs(numeric), 1e-3});
      if (!std::isfinite(a) || !std::isfinite(numeric)) rel_err = abs_err = INFINITY;
      result.max_abs_error = std::max(result.max_abs_error, abs_err);
      if (rel_err >= result.max_rel_error) {
        result.max_rel_error = rel_err;
        result.worst = fmt::format("input {}, element {}: analytic {:.10g}, numeric {:.10g}", i, j, a, numeric);
      }
    }
  }
  result.passed = result.max_rel_error < options.tolerance;
  return result;
}

}  // namespace kiso
