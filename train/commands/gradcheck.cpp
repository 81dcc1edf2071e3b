// train/commands/gradcheck.cpp — `kiso gradcheck` (make gradcheck): every differentiable op,
// every module, a whole tiny GPT and the task heads against finite differences in f64, one row
// per op with every shape it was tried on. Exit status 1 when a row fails.
// What it is not: the checker (autograd/gradcheck.h) or the cases (nn/ and gpt/
// gradcheck_cases.h); this only runs them and prints the table.
#include <iostream>
#include <map>

#include <fmt/core.h>

#include "autograd/gradcheck.h"
#include "gpt/gradcheck_cases.h"
#include "gpt/json.h"
#include "nn/gradcheck_cases.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"

namespace kiso {

namespace {

struct Options {
  std::string op;  // only this op's cases; empty: all
  bool verbose = false;
  bool as_json = false;
};

// One op's cases together: every shape tried, the largest errors, the worst case.
struct OpRow {
  std::vector<std::string> shapes;
  double max_abs = 0, max_rel = 0;
  bool passed = true;
  std::string worst;
};

}  // namespace

static std::vector<GradcheckCase> every_case() {
  std::vector<GradcheckCase> cases = op_gradcheck_cases();
  for (GradcheckCase& c : module_gradcheck_cases()) cases.push_back(std::move(c));
  for (GradcheckCase& c : model_gradcheck_cases()) cases.push_back(std::move(c));
  for (GradcheckCase& c : task_gradcheck_cases()) cases.push_back(std::move(c));
  return cases;
}

static void print_table(const std::vector<std::string>& order, const std::map<std::string, OpRow>& rows, int failed) {
  std::cout << fmt::format("Gradient check in f64: five-point central differences (h = {}) against backward();\n"
                           "rel = |analytic - numeric| / max(|analytic|, |numeric|, 1e-3); pass when rel < {}.\n\n",
                           GradcheckOptions{}.step, GradcheckOptions{}.tolerance);
  std::cout << fmt::format("{:<24} {:>6}  {:>12}  {:>12}  {:<6}  {}\n", "op", "cases", "max abs err", "max rel err",
                           "result", "shapes tried");
  for (const std::string& op : order) {
    const OpRow& r = rows.at(op);
    std::string shapes;
    for (size_t i = 0; i < r.shapes.size(); ++i) shapes += (i ? "; " : "") + r.shapes[i];
    std::cout << fmt::format("{:<24} {:>6}  {:>12.3e}  {:>12.3e}  {:<6}  {}\n", op, r.shapes.size(), r.max_abs,
                             r.max_rel, r.passed ? "pass" : "FAIL", shapes);
    if (!r.passed) std::cout << fmt::format("{:<24} worst: {}\n", "", r.worst);
  }
  std::cout << fmt::format("\n{} rows (ops, modules, the model): {} passed, {} failed\n", rows.size(),
                           rows.size() - size_t(failed), failed);
}

static Json table_json(const std::vector<std::string>& order, const std::map<std::string, OpRow>& rows, int failed) {
  Json out = Json::array();
  for (const std::string& op : order) {
    const OpRow& r = rows.at(op);
    out.push_back({{"op", op}, {"shapes", r.shapes}, {"max_abs_error", r.max_abs}, {"max_rel_error", r.max_rel},
                   {"passed", r.passed}});
  }
  return Json{{"ops", out}, {"failed", failed}, {"tolerance", GradcheckOptions{}.tolerance}};
}

static int run_gradcheck(const Options& o) {
  std::map<std::string, OpRow> rows;  // sorted by op name
  std::vector<std::string> order;     // ...but printed in the order the cases list them
  for (const GradcheckCase& c : every_case()) {
    if (!o.op.empty() && c.op != o.op) continue;
    GradcheckResult r = gradcheck(c.f, c.inputs, c.wrt);
    if (!rows.count(c.op)) order.push_back(c.op);
    OpRow& row = rows[c.op];
    row.shapes.push_back(c.shapes);
    row.max_abs = std::max(row.max_abs, r.max_abs_error);
    if (r.max_rel_error >= row.max_rel) {
      row.max_rel = r.max_rel_error;
      row.worst = c.shapes + ": " + r.worst;
    }
    row.passed = row.passed && r.passed;
    if (o.verbose && !o.as_json)
      std::cout << fmt::format("  {:<16} {:<40} abs {:.2e}  rel {:.2e}  {}\n", c.op, c.shapes, r.max_abs_error,
                               r.max_rel_error, r.passed ? "pass" : "FAIL");
  }
  check(!rows.empty(), "gradcheck", "no op named '{}' (run without --op to see them all)", o.op);

  int failed = 0;
  for (auto& [op, row] : rows) failed += !row.passed;
  if (o.as_json) std::cout << table_json(order, rows, failed) << "\n";
  else print_table(order, rows, failed);
  return failed ? 1 : 0;
}

void add_gradcheck(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("gradcheck", "check every differentiable op against finite differences (f64)");
  command->add_option("--op", options->op, "check only this op (e.g. matmul, layernorm)");
  command->add_flag("-v,--verbose", options->verbose, "also print one line per case");
  add_json_flag(*command, options->as_json);
  command->callback([options] { exit_with(run_gradcheck(*options)); });
}

}  // namespace kiso
