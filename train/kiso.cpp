// train/kiso.cpp — the `kiso` command line. One binary, one subcommand per job.
//
// Now:   kiso info                      what this build has: CUDA or not, a usable GPU or why not
//        kiso gradcheck [--op NAME]     gradient check of every differentiable op, every module
//                                       and a whole tiny GPT (make gradcheck)
//        kiso model --preset NAME       a model's shape and parameter count (or --dir DIR)
// Later issues add tokenizer, prepare, pretrain, finetune, eval, sample and bench here.
//
// Every subcommand takes --json to print its result as one JSON object on stdout. This is
// the only place that turns a kiso::Error into an exit code (STYLE.md principle 10).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <map>

#include "autograd/gradcheck.h"
#include "gpt/checkpoint.h"
#include "gpt/model.h"
#include "cuda/runtime.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace kiso;
using json = nlohmann::json;

// ---- kiso info ----

static int run_info(bool as_json) {
  const cuda::DeviceStatus& s = cuda::device_status();
#ifdef _OPENMP
  int threads = omp_get_max_threads();
#else
  int threads = 1;
#endif
  if (as_json) {
    std::cout << json{{"cuda_built", s.built}, {"cuda_usable", s.usable}, {"cuda", s.message}, {"cpu_threads", threads}}
              << "\n";
    return 0;
  }
  fmt::print("kiso: CPU threads {} (OMP_NUM_THREADS sets it)\n", threads);
  fmt::print("CUDA: {}\n", s.usable ? "usable: " + s.message : s.message);
  return 0;
}

// ---- kiso gradcheck: one row per op, every shape it was tried on ----

struct OpRow {
  std::vector<std::string> shapes;
  double max_abs = 0, max_rel = 0;
  bool passed = true;
  std::string worst;
};

static int run_gradcheck(const std::string& only, bool verbose, bool as_json) {
  std::map<std::string, OpRow> rows;  // sorted by op name
  std::vector<std::string> order;     // ...but printed in the order the cases list them
  std::vector<GradcheckCase> cases = op_gradcheck_cases();
  for (GradcheckCase& c : module_gradcheck_cases()) cases.push_back(std::move(c));
  for (GradcheckCase& c : model_gradcheck_cases()) cases.push_back(std::move(c));
  for (const GradcheckCase& c : cases) {
    if (!only.empty() && c.op != only) continue;
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
    if (verbose && !as_json)
      fmt::print("  {:<16} {:<40} abs {:.2e}  rel {:.2e}  {}\n", c.op, c.shapes, r.max_abs_error, r.max_rel_error,
                 r.passed ? "pass" : "FAIL");
  }
  check(!rows.empty(), "gradcheck", "no op named '{}' (run without --op to see them all)", only);

  int failed = 0;
  for (auto& [op, row] : rows) failed += !row.passed;
  if (as_json) {
    json out = json::array();
    for (const std::string& op : order) {
      const OpRow& r = rows[op];
      out.push_back({{"op", op}, {"shapes", r.shapes}, {"max_abs_error", r.max_abs}, {"max_rel_error", r.max_rel},
                     {"passed", r.passed}});
    }
    std::cout << json{{"ops", out}, {"failed", failed}, {"tolerance", GradcheckOptions{}.tolerance}} << "\n";
    return failed ? 1 : 0;
  }
  fmt::print("Gradient check in f64: five-point central differences (h = {}) against backward();\n"
             "rel = |analytic - numeric| / max(|analytic|, |numeric|, 1e-3); pass when rel < {}.\n\n",
             GradcheckOptions{}.step, GradcheckOptions{}.tolerance);
  fmt::print("{:<20} {:>6}  {:>12}  {:>12}  {:<6}  {}\n", "op", "cases", "max abs err", "max rel err", "result",
             "shapes tried");
  for (const std::string& op : order) {
    const OpRow& r = rows[op];
    std::string shapes;
    for (size_t i = 0; i < r.shapes.size(); ++i) shapes += (i ? "; " : "") + r.shapes[i];
    fmt::print("{:<20} {:>6}  {:>12.3e}  {:>12.3e}  {:<6}  {}\n", op, r.shapes.size(), r.max_abs, r.max_rel,
               r.passed ? "pass" : "FAIL", shapes);
    if (!r.passed) fmt::print("{:<20} worst: {}\n", "", r.worst);
  }
  fmt::print("\n{} rows (ops, modules, the model): {} passed, {} failed\n", rows.size(),
             rows.size() - size_t(failed), failed);
  return failed ? 1 : 0;
}

// ---- kiso model: what a preset or a model directory holds ----

// 116534784 -> "116,534,784"
static std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

static int run_model(const std::string& preset_name, const std::string& dir, bool as_json) {
  check(preset_name.empty() != dir.empty(), "model", "give exactly one of --preset and --dir");
  Generator gen{0};
  GPT model = dir.empty() ? GPT(preset(preset_name), gen) : load_model(dir);
  const GPTConfig& c = model.config;
  int64_t embeddings = model.tokens_embed.weight.value().numel() + model.positions_embed.weight.value().numel();
  int64_t per_block = 0;
  for (const NamedParameter& p : model.h[0].parameters()) per_block += p.variable->value().numel();
  int64_t total = model.num_parameters();
  if (as_json) {
    std::cout << json{{"config", config_to_json(c)}, {"parameters", total}, {"embedding_parameters", embeddings},
                      {"parameters_per_block", per_block}}
              << "\n";
    return 0;
  }
  fmt::print("{}: {} layers, {} heads, n_embd {}, n_inner {}, context {}, vocabulary {}, {}-LN, GELU ({})\n",
             dir.empty() ? preset_name : dir, c.n_layer, c.n_head, c.n_embd, c.n_inner, c.n_ctx, c.vocab_size,
             c.norm == Norm::post ? "post" : "pre", c.activation == GeluKind::tanh ? "tanh" : "erf");
  fmt::print("parameters: {} = embeddings {} + {} blocks x {}{}\n", with_commas(total), with_commas(embeddings),
             c.n_layer, with_commas(per_block),
             c.norm == Norm::pre ? " + final LayerNorm" : "");
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"kiso — a from-scratch GPT engine (GPT-1, Radford et al. 2018)"};
  app.require_subcommand(1);

  bool as_json = false;
  CLI::App* info = app.add_subcommand("info", "what this build can do: CPU threads, CUDA, GPU");
  info->add_flag("--json", as_json, "print the result as one JSON object");

  std::string op;
  bool verbose = false;
  CLI::App* grad = app.add_subcommand("gradcheck", "check every differentiable op against finite differences (f64)");
  grad->add_option("--op", op, "check only this op (e.g. matmul, layernorm)");
  grad->add_flag("-v,--verbose", verbose, "also print one line per case");
  grad->add_flag("--json", as_json, "print the result as one JSON object");

  std::string preset_name, dir;
  CLI::App* model = app.add_subcommand("model", "the shape and parameter count of a preset or a model directory");
  model->add_option("--preset", preset_name, "gpt1, small or tiny");
  model->add_option("--dir", dir, "a model directory (config.json + model.safetensors)");
  model->add_flag("--json", as_json, "print the result as one JSON object");

  try {
    app.parse(argc, argv);
    if (*model) return run_model(preset_name, dir, as_json);
    if (*info) return run_info(as_json);
    if (*grad) return run_gradcheck(op, verbose, as_json);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    fmt::print(stderr, "kiso: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
