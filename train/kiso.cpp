// train/kiso.cpp — the `kiso` command line. One binary, one subcommand per job.
//
// Now:   kiso info                      what this build has: CUDA or not, a usable GPU or why not
//        kiso gradcheck [--op NAME]     gradient check of every differentiable op, every module
//                                       and a whole tiny GPT (make gradcheck)
//        kiso model --preset NAME       a model's shape and parameter count (or --dir DIR)
//        kiso tokenizer train|encode|decode   byte-level BPE
//        kiso prepare                   text files -> tokenizer + train/val token shards
//        kiso pretrain                  phase 1: next-token prediction (train/pretrain.h)
//        kiso finetune                  phase 2: a task head on a pre-trained model (train/finetune.h)
//        kiso predict / kiso evaluate   a fine-tuned model on a task file: labels, or accuracy,
//                                       F1 and the confusion matrix
//        kiso eval                      loss and perplexity of a model on a shard or text
//        kiso sample                    generate text from a model
//        kiso bench --preset NAME       training and inference tokens/s, model FLOPs utilisation
//        kiso plot --run DIR --out F    the run's training and validation loss as SVG
// The README documents each with an example.
//
// Every subcommand takes --json to print its result as one JSON object on stdout. This is
// the only place that turns a kiso::Error into an exit code (STYLE.md principle 10).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <map>

#include "autograd/gradcheck.h"
#include "gpt/gradcheck_cases.h"
#include "nn/gradcheck_cases.h"
#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/model.h"
#include "gpt/tasks.h"
#include "gpt/tokenizer.h"
#include "train/bench.h"
#include "train/finetune.h"
#include "train/loss_plot.h"
#include "train/metrics.h"
#include "train/prepare.h"
#include "train/pretrain.h"
#include "train/sample.h"
#include "train/shards.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <sstream>
#include "cuda/runtime.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace kiso;
using json = nlohmann::json;

// ---- kiso predict / kiso evaluate ----

// One JSON line per example: its line in the input, the predicted label (multiple choice: the
// candidate's index) and the probability of each class.
// --device: cpu, or cuda after checking, at start-up, that there is a device to run on (a
// usable GPU, or the simulator turned on with KISO_CUDA_SIM=1); it says which on stderr.
static Device start_device(const std::string& name, const char* command) {
  if (name == "cpu") return Device::cpu;
  cuda::require_device(command);
  fmt::print(stderr, "{}: device cuda, {}\n", command, cuda::device_name());
  return Device::cuda;
}

// Adds --device to a command (one variable serves them all: a run has one command).
static void add_device_option(CLI::App* command, std::string& device) {
  command->add_option("--device", device, "cpu, or cuda (kiso's kernels; KISO_CUDA_SIM=1: the simulator)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
}

// A fine-tuned model directory, loaded and moved to `device`.
static FinetunedModel load_finetuned_on(const std::string& dir, Device device) {
  FinetunedModel m = load_finetuned(dir);
  move_parameters(m.model.parameters(), device);
  move_parameters(m.head.parameters(), device);
  return m;
}

static int run_predict(const std::string& dir, const std::string& input, const std::string& output, Device device) {
  FinetunedModel m = load_finetuned_on(dir, device);
  std::vector<TaskRecord> records = read_task_file(input, m.info.kind);
  for (TaskRecord& r : records) r.label.clear();  // predict ignores any labels the file has
  Predictions p = predict(m, encode_records(records, m.info, m.tokenizer, input));
  std::string lines;
  for (size_t i = 0; i < records.size(); ++i) {
    json row{{"line", records[i].line}};
    if (m.info.kind == TaskKind::multiple_choice) {
      row["prediction"] = p.predicted[i];
      row["probabilities"] = p.probs[i];
    } else {
      row["prediction"] = m.info.labels[size_t(p.predicted[i])];
      json probs = json::object();
      for (size_t c = 0; c < m.info.labels.size(); ++c) probs[m.info.labels[c]] = p.probs[i][c];
      row["probabilities"] = probs;
    }
    lines += row.dump() + "\n";
  }
  if (output.empty()) std::cout << lines;
  else {
    write_file_atomic(output, lines);
    fmt::print(stderr, "wrote {} predictions to {}\n", records.size(), output);
  }
  return 0;
}

static int run_evaluate(const std::string& dir, const std::string& input, bool as_json, Device device) {
  FinetunedModel m = load_finetuned_on(dir, device);
  std::vector<TaskRecord> records = read_task_file(input, m.info.kind);
  for (const TaskRecord& r : records)
    check(!r.label.empty(), input.c_str(), "line {} has no label; evaluate needs a labelled file (predict does not)",
          r.line);
  std::vector<TaskExample> examples = encode_records(records, m.info, m.tokenizer, input);
  EvalReport report = evaluate_predictions(m.info, examples, predict(m, examples));
  if (as_json) std::cout << report_json(report).dump() << "\n";
  else std::cout << format_report(report);
  return 0;
}

// ---- kiso info ----

static int run_info(bool as_json) {
  const cuda::DeviceStatus& s = cuda::device_status();
#ifdef _OPENMP
  int threads = omp_get_max_threads();
#else
  int threads = 1;
#endif
  if (as_json) {
    std::cout << json{{"cuda_built", s.built},
                      {"cuda_usable", s.usable},
                      {"cuda", s.message},
                      {"cuda_simulator", cuda::simulator_on()},
                      {"cpu_threads", threads}}
              << "\n";
    return 0;
  }
  fmt::print("kiso: CPU threads {} (OMP_NUM_THREADS sets it)\n", threads);
  fmt::print("CUDA: {}\n", s.usable ? "usable: " + s.message : s.message);
  fmt::print("CUDA simulator: {}\n", cuda::simulator_on() ? "on (KISO_CUDA_SIM=1): Device::cuda is host memory, kernels "
                                                             "run under cuda/sim"
                                                           : "off (KISO_CUDA_SIM=1 turns it on)");
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
  for (GradcheckCase& c : task_gradcheck_cases()) cases.push_back(std::move(c));
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
  fmt::print("{:<24} {:>6}  {:>12}  {:>12}  {:<6}  {}\n", "op", "cases", "max abs err", "max rel err", "result",
             "shapes tried");
  for (const std::string& op : order) {
    const OpRow& r = rows[op];
    std::string shapes;
    for (size_t i = 0; i < r.shapes.size(); ++i) shapes += (i ? "; " : "") + r.shapes[i];
    fmt::print("{:<24} {:>6}  {:>12.3e}  {:>12.3e}  {:<6}  {}\n", op, r.shapes.size(), r.max_abs, r.max_rel,
               r.passed ? "pass" : "FAIL", shapes);
    if (!r.passed) fmt::print("{:<24} worst: {}\n", "", r.worst);
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
  GPT model = dir.empty() ? GPT(preset(preset_name)) : load_model(dir);  // a preset's shape only: zero weights
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

// ---- kiso tokenizer ----

static int run_tokenizer_train(const std::vector<std::string>& inputs, int64_t vocab_size, const std::string& out,
                               bool as_json) {
  check(!inputs.empty(), "tokenizer train", "no --input files");
  std::string corpus;
  for (const std::string& f : inputs) corpus += read_file(f);
  TrainStats stats;
  Tokenizer tok = Tokenizer::train(corpus, vocab_size, &stats);
  tok.save(out);
  double seconds = stats.pretokenize_seconds + stats.merge_seconds;
  if (as_json)
    std::cout << json{{"vocab_size", tok.vocab_size()}, {"merges", stats.merges}, {"bytes", stats.bytes},
                      {"seconds", seconds}, {"mb_per_second", stats.mb_per_second()}, {"out", out}}
              << "\n";
  else
    fmt::print("trained {} merges (vocabulary {}) on {:.2f} MB in {:.2f} s ({:.2f} MB/s) -> {}\n", stats.merges,
               tok.vocab_size(), double(stats.bytes) / 1e6, seconds, stats.mb_per_second(), out);
  return 0;
}

static std::string read_text_argument(const std::string& text, const std::string& file) {
  check(text.empty() != file.empty(), "tokenizer", "give exactly one of --text and --file");
  return file.empty() ? text : read_file(file);
}

static int run_tokenizer_encode(const std::string& dir, const std::string& text, const std::string& file, bool as_json) {
  Tokenizer tok = Tokenizer::load(dir);
  std::vector<int32_t> ids = tok.encode(read_text_argument(text, file));
  if (as_json) std::cout << json{{"ids", ids}} << "\n";
  else {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
    fmt::print("{}\n", line);
  }
  return 0;
}

static int run_tokenizer_decode(const std::string& dir, const std::string& ids_text, bool as_json) {
  Tokenizer tok = Tokenizer::load(dir);
  std::vector<int32_t> ids;
  std::istringstream in(ids_text);
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == word.size() && v >= INT32_MIN && v <= INT32_MAX, "tokenizer decode", "'{}' is not a token id", word);
    ids.push_back(int32_t(v));
  }
  std::string text = tok.decode(ids);
  // Ids may end inside a UTF-8 character: JSON output replaces such bytes with U+FFFD.
  if (as_json) std::cout << json{{"text", text}}.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  else fmt::print("{}\n", text);
  return 0;
}

// ---- kiso eval: loss and perplexity over consecutive windows from token 0 ----

static int run_eval(const std::string& model_dir, const std::string& data, int64_t T, int64_t B, bool as_json,
                    Device device) {
  GPT model = load_model(model_dir);
  move_parameters(model.parameters(), device);
  if (T <= 0) T = model.config.n_ctx;
  std::vector<int32_t> tokens = data.ends_with(".bin") ? read_shard(data, model.config.vocab_size)
                                                       : Tokenizer::load(model_dir).encode(read_file(data));
  std::vector<Batch> batches = sequential_windows(tokens, T, B, data);
  double loss = evaluate_loss(model, batches);
  int64_t predicted = 0;
  for (const Batch& b : batches) predicted += b.targets.numel();
  if (as_json)
    std::cout << json{{"loss", loss}, {"perplexity", std::exp(loss)}, {"tokens", predicted}, {"seq_len", T}} << "\n";
  else
    fmt::print("{}: loss {:.4f}, perplexity {:.2f} over {} predicted tokens (windows of {} from token 0)\n", data, loss,
               std::exp(loss), predicted, T);
  return 0;
}

// ---- kiso sample ----

static int run_sample(const std::string& model_dir, const std::string& prompt, const SampleOptions& options,
                      bool as_json, Device device) {
  GPT model = load_model(model_dir);
  move_parameters(model.parameters(), device);
  Tokenizer tok = Tokenizer::load(model_dir);
  SampleOptions o = options;
  o.stop_token = tok.special("<|endoftext|>");
  std::vector<int32_t> ids = prompt.empty() ? std::vector<int32_t>{o.stop_token} : tok.encode(prompt);
  std::vector<int32_t> out = generate(model, ids, o);
  std::vector<int32_t> fresh(out.begin() + long(ids.size()), out.end());
  if (!fresh.empty() && fresh.back() == o.stop_token) fresh.pop_back();
  std::string text = tok.decode(fresh);
  if (as_json)
    std::cout << json{{"prompt", prompt}, {"text", text}, {"ids", fresh}}.dump(-1, ' ', false, json::error_handler_t::replace)
              << "\n";
  else fmt::print("{}{}\n", prompt, text);
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"kiso — a from-scratch GPT engine (GPT-1, Radford et al. 2018)"};
  app.require_subcommand(1);

  bool as_json = false;
  std::string device = "cpu";  // --device of the commands that take it
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

  // kiso tokenizer train | encode | decode
  CLI::App* tokenizer = app.add_subcommand("tokenizer", "byte-level BPE: train, encode, decode");
  tokenizer->require_subcommand(1);
  std::vector<std::string> inputs;
  int64_t vocab_size = 4096;
  std::string out_dir, tok_dir, text, file, ids_text;
  CLI::App* tok_train = tokenizer->add_subcommand("train", "learn merges on text files, write vocab.json + merges.txt");
  tok_train->add_option("--input", inputs, "text files (UTF-8)")->required();
  tok_train->add_option("--vocab-size", vocab_size, "256 bytes + merges + 4 special tokens")->capture_default_str();
  tok_train->add_option("--out", out_dir, "output directory")->required();
  tok_train->add_flag("--json", as_json, "print the result as one JSON object");
  CLI::App* tok_encode = tokenizer->add_subcommand("encode", "text -> token ids");
  tok_encode->add_option("--tokenizer", tok_dir, "a tokenizer or model directory")->required();
  tok_encode->add_option("--text", text, "the text");
  tok_encode->add_option("--file", file, "or a file holding it");
  tok_encode->add_flag("--json", as_json, "print {\"ids\": [...]}");
  CLI::App* tok_decode = tokenizer->add_subcommand("decode", "token ids -> text");
  tok_decode->add_option("--tokenizer", tok_dir, "a tokenizer or model directory")->required();
  tok_decode->add_option("--ids", ids_text, "ids separated by spaces")->required();
  tok_decode->add_flag("--json", as_json, "print {\"text\": ...}");

  // kiso prepare
  PrepareOptions prep;
  CLI::App* prepare_cmd = app.add_subcommand("prepare", "text files -> tokenizer + train/val token shards");
  prepare_cmd->add_option("--input", prep.inputs, "text files, one document each")->required();
  prepare_cmd->add_option("--out", prep.out_dir, "the data directory to write")->required();
  prepare_cmd->add_option("--tokenizer", prep.tokenizer_dir, "use this tokenizer instead of training one");
  prepare_cmd->add_option("--vocab-size", prep.vocab_size, "vocabulary of the trained tokenizer")->capture_default_str();
  prepare_cmd->add_option("--val-fraction", prep.val_fraction, "held-out end of the token stream")->capture_default_str();
  prepare_cmd->add_flag("--json", as_json, "print the result as one JSON object");

  // kiso pretrain
  PretrainOptions pre;
  CLI::App* pretrain_cmd = app.add_subcommand("pretrain", "phase 1: train a GPT to predict the next token");
  pretrain_cmd->add_option("--data", pre.data_dir, "a directory written by kiso prepare")->required();
  pretrain_cmd->add_option("--out", pre.out_dir, "the run directory")->required();
  pretrain_cmd->add_option("--preset", pre.preset, "gpt1, small or tiny")->capture_default_str();
  pretrain_cmd->add_option("--config", pre.config_path, "a config.json instead of a preset");
  pretrain_cmd->add_option("--batch-size", pre.batch_size, "sequences per micro-batch")->capture_default_str();
  pretrain_cmd->add_option("--seq-len", pre.seq_len, "tokens per sequence")->capture_default_str();
  pretrain_cmd->add_option("--grad-accum", pre.grad_accum, "micro-batches per step")->capture_default_str();
  pretrain_cmd->add_option("--steps", pre.steps, "optimizer steps")->capture_default_str();
  pretrain_cmd->add_option("--epochs", pre.epochs, "or: passes' worth of training tokens (sets --steps)");
  pretrain_cmd->add_option("--lr", pre.lr, "maximum learning rate")->capture_default_str();
  pretrain_cmd->add_option("--warmup", pre.warmup_steps, "linear warmup steps, then cosine to 0")->capture_default_str();
  pretrain_cmd->add_option("--beta1", pre.beta1, "AdamW")->capture_default_str();
  pretrain_cmd->add_option("--beta2", pre.beta2, "AdamW")->capture_default_str();
  pretrain_cmd->add_option("--weight-decay", pre.weight_decay, "AdamW, on weights of rank >= 2")->capture_default_str();
  pretrain_cmd->add_option("--clip", pre.clip, "max gradient norm (0: off)")->capture_default_str();
  pretrain_cmd->add_option("--dropout", pre.dropout, "override the config's dropout rates");
  pretrain_cmd->add_option("--seed", pre.seed, "seeds init, data order and dropout")->capture_default_str();
  pretrain_cmd->add_option("--eval-every", pre.eval_every, "validation every N steps")->capture_default_str();
  pretrain_cmd->add_option("--eval-batches", pre.eval_batches, "validation batches")->capture_default_str();
  pretrain_cmd->add_option("--checkpoint-every", pre.checkpoint_every, "checkpoint every N steps")->capture_default_str();
  pretrain_cmd->add_flag("--resume", pre.resume, "continue the run in --out from its checkpoint");
  pretrain_cmd->add_option("--stop-at", pre.stop_at, "checkpoint and stop after this step (resume later)");
  add_device_option(pretrain_cmd, device);
  pretrain_cmd->add_flag("--json", as_json, "print the final result as one JSON object");

  // kiso eval
  std::string data;
  int64_t eval_T = 0, eval_B = 8;
  CLI::App* eval_cmd = app.add_subcommand("eval", "loss and perplexity on a token shard (.bin) or a text file");
  eval_cmd->add_option("--model", dir, "a model directory")->required();
  eval_cmd->add_option("--data", data, "a .bin shard or a text file")->required();
  eval_cmd->add_option("--seq-len", eval_T, "window length (default: the model's context)");
  eval_cmd->add_option("--batch-size", eval_B, "windows per batch")->capture_default_str();
  add_device_option(eval_cmd, device);
  eval_cmd->add_flag("--json", as_json, "print the result as one JSON object");

  // kiso sample
  SampleOptions sample;
  std::string prompt;
  CLI::App* sample_cmd = app.add_subcommand("sample", "generate text");
  sample_cmd->add_option("--model", dir, "a model directory (with its tokenizer)")->required();
  sample_cmd->add_option("--prompt", prompt, "text to continue (default: start a new document)");
  sample_cmd->add_option("--max-new-tokens", sample.max_new_tokens, "tokens to generate")->capture_default_str();
  sample_cmd->add_option("--temperature", sample.temperature, "0: greedy")->capture_default_str();
  sample_cmd->add_option("--top-k", sample.top_k, "0: no limit")->capture_default_str();
  sample_cmd->add_option("--top-p", sample.top_p, "1: no limit")->capture_default_str();
  sample_cmd->add_option("--seed", sample.seed, "the sampling stream")->capture_default_str();
  add_device_option(sample_cmd, device);
  sample_cmd->add_flag("--json", as_json, "print the result as one JSON object");

  // kiso bench
  BenchOptions bench;
  CLI::App* bench_cmd = app.add_subcommand("bench", "training and inference tokens/s and MFU of a preset");
  bench_cmd->add_option("--preset", bench.preset, "gpt1, small or tiny")->capture_default_str();
  bench_cmd->add_option("--batch-size", bench.batch_size, "0: 16 tiny, 8 small, 1 gpt1");
  bench_cmd->add_option("--seq-len", bench.seq_len, "0: min(128, n_ctx)");
  bench_cmd->add_option("--warmup", bench.warmup, "untimed steps first")->capture_default_str();
  bench_cmd->add_option("--steps", bench.steps, "timed steps (0: 3, or 2 for gpt1)");
  bench_cmd->add_option("--threads", bench.threads, "0: OMP_NUM_THREADS or all cores");
  bench_cmd->add_option("--peak-gflops", bench.peak_gflops, "the peak MFU is measured against (0: estimate)");
  add_device_option(bench_cmd, device);
  bench_cmd->add_flag("--json", as_json, "print the result as one JSON object");

  // kiso finetune
  FinetuneOptions ft;
  CLI::App* finetune_cmd = app.add_subcommand("finetune", "phase 2: fine-tune a pre-trained model on a task");
  finetune_cmd->add_option("--model", ft.model_dir, "a pre-trained model directory (e.g. RUN/model)")->required();
  finetune_cmd->add_option("--task", ft.task, "classification, entailment, similarity or multiple-choice")->required();
  finetune_cmd->add_option("--train", ft.train_path, "training examples (.jsonl, .tsv, GLUE .tsv, ROCStories .csv)")
      ->required();
  finetune_cmd->add_option("--val", ft.val_path, "validation examples (same formats)")->required();
  finetune_cmd->add_option("--out", ft.out_dir, "the run directory (OUT/model, OUT/log.jsonl)")->required();
  finetune_cmd->add_option("--init", ft.init, "pretrained, or scratch: random weights (ablation)")->capture_default_str();
  finetune_cmd->add_flag("--freeze-backbone", ft.freeze_backbone, "train only the head and the special-token rows");
  finetune_cmd->add_option("--lm-coef", ft.lm_coef, "lambda of the auxiliary LM loss (0: off)")->capture_default_str();
  finetune_cmd->add_option("--lr", ft.lr, "maximum learning rate")->capture_default_str();
  finetune_cmd->add_option("--batch-size", ft.batch_size, "examples per step")->capture_default_str();
  finetune_cmd->add_option("--epochs", ft.epochs, "passes over the training examples")->capture_default_str();
  finetune_cmd->add_option("--warmup", ft.warmup_fraction, "fraction of the steps for linear warmup, then linear decay")
      ->capture_default_str();
  finetune_cmd->add_option("--clip", ft.clip, "max gradient norm (0: off)")->capture_default_str();
  finetune_cmd->add_option("--head-dropout", ft.head_dropout, "dropout before the head")->capture_default_str();
  finetune_cmd->add_option("--dropout", ft.dropout, "override the backbone's dropout rates");
  finetune_cmd->add_option("--weight-decay", ft.weight_decay, "AdamW, on weights of rank >= 2")->capture_default_str();
  finetune_cmd->add_option("--max-len", ft.max_len, "tokens per sequence (0: the model's context)")
      ->capture_default_str();
  finetune_cmd->add_option("--train-limit", ft.train_limit, "use a seeded random subset of N training examples");
  finetune_cmd->add_option("--seed", ft.seed, "seeds the head, data order and dropout")->capture_default_str();
  finetune_cmd->add_option("--eval-every", ft.eval_every, "validation every N steps (0: at the end)")
      ->capture_default_str();
  add_device_option(finetune_cmd, device);
  finetune_cmd->add_flag("--json", as_json, "print the final result as one JSON object");

  // kiso predict / kiso evaluate
  std::string task_file, predictions_out;
  CLI::App* predict_cmd = app.add_subcommand("predict", "a fine-tuned model's answers for a task file (JSONL)");
  predict_cmd->add_option("--model", dir, "a fine-tuned model directory (RUN/model)")->required();
  predict_cmd->add_option("--input", task_file, "examples (their labels, if any, are ignored)")->required();
  predict_cmd->add_option("--out", predictions_out, "write the JSONL here instead of stdout");
  add_device_option(predict_cmd, device);
  CLI::App* evaluate_cmd = app.add_subcommand("evaluate", "accuracy, F1 and confusion matrix on a labelled task file");
  evaluate_cmd->add_option("--model", dir, "a fine-tuned model directory (RUN/model)")->required();
  evaluate_cmd->add_option("--data", task_file, "labelled examples")->required();
  add_device_option(evaluate_cmd, device);
  evaluate_cmd->add_flag("--json", as_json, "print the report as one JSON object");

  // kiso plot
  PlotOptions plot;
  std::string run_dir, plot_out;
  CLI::App* plot_cmd = app.add_subcommand("plot", "draw a run's training and validation loss as SVG");
  plot_cmd->add_option("--run", run_dir, "a run directory (with log.jsonl)")->required();
  plot_cmd->add_option("--out", plot_out, "the SVG file to write (default: RUN/loss.svg)");
  plot_cmd->add_option("--title", plot.title, "the chart's title")->capture_default_str();
  plot_cmd->add_flag("--log-y", plot.log_y, "logarithmic loss axis");
  plot_cmd->add_flag("--json", as_json, "print the result as one JSON object");

  try {
    app.parse(argc, argv);
    if (*plot_cmd) {
      if (plot_out.empty()) plot_out = run_dir + "/loss.svg";
      plot_run(run_dir, plot_out, plot);
      if (as_json) std::cout << json{{"svg", plot_out}} << "\n";
      else fmt::print("wrote {}\n", plot_out);
      return 0;
    }
    if (*bench_cmd) {
      bench.device = start_device(device, "bench");
      BenchResult r = run_bench(bench, std::cerr);
      if (as_json) std::cout << bench_json(r) << "\n";
      else print_bench(r, std::cout);
      return 0;
    }
    if (*model) return run_model(preset_name, dir, as_json);
    if (*tok_train) return run_tokenizer_train(inputs, vocab_size, out_dir, as_json);
    if (*tok_encode) return run_tokenizer_encode(tok_dir, text, file, as_json);
    if (*tok_decode) return run_tokenizer_decode(tok_dir, ids_text, as_json);
    if (*prepare_cmd) {
      PrepareResult r = prepare(prep, std::cerr);
      if (as_json)
        std::cout << json{{"vocab_size", r.vocab_size}, {"train_tokens", r.train_tokens}, {"val_tokens", r.val_tokens},
                          {"tokenizer_seconds", r.tokenizer_seconds}, {"encode_seconds", r.encode_seconds}}
                  << "\n";
      return 0;
    }
    if (*pretrain_cmd) {
      pre.device = start_device(device, "pretrain");
      pre.progress_bar = !as_json && isatty(STDOUT_FILENO);  // a bar only on a terminal
      PretrainResult r = pretrain(pre, as_json ? std::cerr : std::cout);
      if (as_json)
        std::cout << json{{"initial_val_loss", r.initial_val_loss}, {"final_val_loss", r.final_val_loss},
                          {"steps", r.records.size()}, {"model", r.model_dir}}
                  << "\n";
      return 0;
    }
    if (*finetune_cmd) {
      ft.device = start_device(device, "finetune");
      ft.progress_bar = !as_json && isatty(STDOUT_FILENO);
      FinetuneResult r = finetune(ft, as_json ? std::cerr : std::cout);
      json out{{"initial_val_loss", r.initial.loss}, {"final_val_loss", r.final.loss},
               {"initial_val_accuracy", *r.initial.accuracy}, {"final_val_accuracy", *r.final.accuracy},
               {"steps", r.steps}, {"train_examples", r.train_examples}, {"val_examples", r.val_examples},
               {"parameters_trained", r.parameters_trained}, {"seconds", r.seconds}, {"model", r.model_dir}};
      if (as_json) std::cout << out << "\n";
      else
        fmt::print("validation accuracy {:.4f} (before: {:.4f}); model in {}\n", *r.final.accuracy,
                   *r.initial.accuracy, r.model_dir);
      return 0;
    }
    if (*predict_cmd) return run_predict(dir, task_file, predictions_out, start_device(device, "predict"));
    if (*evaluate_cmd) return run_evaluate(dir, task_file, as_json, start_device(device, "evaluate"));
    if (*eval_cmd) return run_eval(dir, data, eval_T, eval_B, as_json, start_device(device, "eval"));
    if (*sample_cmd) return run_sample(dir, prompt, sample, as_json, start_device(device, "sample"));
    if (*info) return run_info(as_json);
    if (*grad) return run_gradcheck(op, verbose, as_json);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    fmt::print(stderr, "kiso: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {  // e.g. std::filesystem errors (a full disk, a permission)
    fmt::print(stderr, "kiso: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
