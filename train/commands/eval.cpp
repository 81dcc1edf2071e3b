// train/commands/eval.cpp — `kiso eval`: a model's loss and perplexity over consecutive,
// non-overlapping windows of --seq-len tokens from token 0 of a token shard (.bin) or a text file
// (encoded with the model directory's tokenizer); the last partial window is dropped. The
// options are checked before the weights load: --seq-len within the model's context, the
// batch's logits within memory (base/size.h), --data a file (a text one UTF-8, a bad byte named
// by line). With the model's tokenizer files it also gives the loss per real token (every
// special-token target left out), which compares a --seams model with a plain one (train/seams.h).
// What it is not: the validation inside training (the same evaluate_loss, on the run's val.bin),
// or a fine-tuned model's task score (kiso evaluate).
#include <cmath>
#include <filesystem>
#include <optional>
#include <iostream>

#include <fmt/core.h>

#include "base/size.h"
#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/json.h"
#include "gpt/tokenizer.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/option_checks.h"
#include "train/pretrain.h"
#include "train/seams.h"
#include "train/shards.h"

namespace kiso {

namespace fs = std::filesystem;

namespace {

struct Options {
  std::string model_dir;
  std::string data;        // a .bin shard or a text file
  int64_t seq_len = 0;     // T; 0: the model's context
  int64_t batch_size = 8;  // B windows per batch
  std::string device = "cpu";
  bool as_json = false;
};

}  // namespace

// The window length T the options give, after checking them against the model's config.json
// (read before the weights, so that a bad option costs no loading).
static int64_t check_options(const Options& o) {
  require_dir(o.model_dir, "eval", "--model", "a model directory");
  require_file(o.data, "eval", "--data");
  check(o.seq_len >= 0, "eval", "--seq-len must be >= 1 (or 0: the model's context), got {}", o.seq_len);
  check(o.batch_size >= 1, "eval", "--batch-size must be >= 1, got {}", o.batch_size);
  std::string config_path = o.model_dir + "/config.json";
  GPTConfig c = config_from_json(parse_json_strict(read_file(config_path), config_path), config_path);
  int64_t T = o.seq_len > 0 ? o.seq_len : c.n_ctx;
  check(T <= c.n_ctx, "eval", "--seq-len {} is longer than the model's context n_ctx = {}", T, c.n_ctx);
  // the largest buffer of a batch: its logits, (B, T, V) floats
  int64_t logits = mul_size(product_size({o.batch_size, T, c.vocab_size}, "eval", "the logits of a batch"), 4, "eval",
                            "the logits of a batch");
  check_memory(logits, "eval", fmt::format("--batch-size {} × --seq-len {} (logits over {} tokens)", o.batch_size, T,
                                           c.vocab_size));
  return T;
}

static int run_eval(const Options& o) {
  int64_t T = check_options(o);
  Device device = start_device(o.device, "eval");
  GPT model = load_model(o.model_dir, device);
  std::vector<int32_t> tokens;
  if (o.data.ends_with(".bin")) {
    tokens = read_shard(o.data, model.config.vocab_size);
  } else {
    std::string text = read_file(o.data);
    check_utf8_file(text, o.data);  // names the line, not the byte offset in the whole file
    tokens = Tokenizer::load(o.model_dir).encode(text);
  }
  std::vector<Batch> batches = sequential_windows(tokens, T, o.batch_size, o.data);
  double loss = evaluate_loss(model, batches);
  int64_t predicted = 0;
  for (const Batch& b : batches) predicted += b.targets.numel();
  // The loss per real token (special-token targets left out): what compares a model pre-trained
  // with `prepare --seams` with a plain one (train/seams.h); needs the model's tokenizer.
  std::optional<double> real;
  if (fs::exists(o.model_dir + "/special_tokens.json")) real = real_token_loss(model, batches, Tokenizer::load(o.model_dir));
  if (o.as_json)
    std::cout << Json{{"loss", loss}, {"perplexity", std::exp(loss)}, {"tokens", predicted}, {"seq_len", T},
                      {"real_token_loss", real ? Json(*real) : Json()}}
              << "\n";
  else
    std::cout << fmt::format("{}: loss {:.4f}, perplexity {:.2f} over {} predicted tokens "
                             "(windows of {} from token 0){}\n",
                             o.data, loss, std::exp(loss), predicted, T,
                             real ? fmt::format("; per real token (special-token targets left out) {:.4f}", *real)
                                  : "");
  return 0;
}

void add_eval(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("eval", "loss and perplexity on a token shard (.bin) or a text file");
  command->add_option("--model", options->model_dir, "a model directory")->required();
  command->add_option("--data", options->data, "a .bin shard or a text file")->required();
  command->add_option("--seq-len", options->seq_len, "window length (default: the model's context)");
  command->add_option("--batch-size", options->batch_size, "windows per batch")->capture_default_str();
  add_device_option(*command, options->device);
  add_json_flag(*command, options->as_json);
  command->callback([options] { exit_with(run_eval(*options)); });
}

}  // namespace kiso
