// train/pretrain.cpp — the pre-training loop, its checkpoints and its resume (see pretrain.h).
#include "train/pretrain.h"

#include <cmath>
#include <filesystem>
#include <ostream>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/json.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "train/loop.h"

namespace kiso {

namespace fs = std::filesystem;

// ---- options <-> state.json ----

static Json options_json(const PretrainOptions& o) {
  return Json{{"data_dir", o.data_dir},       {"preset", o.preset},         {"config_path", o.config_path},
              {"batch_size", o.batch_size},   {"seq_len", o.seq_len},       {"grad_accum", o.grad_accum},
              {"steps", o.steps},             {"lr", o.lr},                 {"warmup_steps", o.warmup_steps},
              {"beta1", o.beta1},             {"beta2", o.beta2},           {"eps", o.eps},
              {"weight_decay", o.weight_decay}, {"clip", o.loop.clip},           {"dropout", o.dropout},
              {"seed", o.seed}};
}

// A resumed run must read the same batches and build the same model as the run it continues.
static void check_resume_compatible(const Json& saved, const PretrainOptions& o, const std::string& what) {
  auto same_int = [&](const char* key, int64_t now) {
    int64_t then = get_int(saved, key, what);
    check(then == now, "resume", "{} is {} now but the run in {} used {}; resume with the same value", key, now, what,
          then);
  };
  same_int("batch_size", o.batch_size);
  same_int("seq_len", o.seq_len);
  same_int("grad_accum", o.grad_accum);
  check(uint64_t(get_int(saved, "seed", what)) == o.seed, "resume", "seed {} differs from the run's {} ({})", o.seed,
        get_int(saved, "seed", what), what);
}

// What `kiso prepare` recorded about the data in DATA/meta.json.
struct DataMeta {
  int64_t vocab_size, train_tokens;
};
static DataMeta read_data_meta(const std::string& data_dir) {
  std::string path = data_dir + "/meta.json";
  Json meta = parse_json_strict(read_file(path), path);
  // train_tokens is needed only for --epochs, so a hand-written meta.json may omit it (-1).
  return {get_int(meta, "vocab_size", path), has_key(meta, "train_tokens") ? get_int(meta, "train_tokens", path) : -1};
}

static GPTConfig model_config(const PretrainOptions& o, int64_t vocab_size) {
  GPTConfig c;
  if (o.config_path.empty()) c = preset(o.preset);
  else c = config_from_json(parse_json_strict(read_file(o.config_path), o.config_path), o.config_path);
  c.vocab_size = vocab_size;
  override_dropout(c, o.dropout);
  c.validate();
  check(o.seq_len >= 1 && o.seq_len <= c.n_ctx, "pretrain", "--seq-len {} must be in 1..n_ctx = {} of the model",
        o.seq_len, c.n_ctx);
  return c;
}

// ---- checkpoints ----

// The model, the tokenizer files and the training state, swapped in for out/model as a whole
// (write_dir_atomic): a reader sees the old checkpoint or the new one, never a mix.
static void save_checkpoint(const PretrainOptions& o, GPT& model, const AdamW& opt, int64_t step,
                            int64_t loader_position) {
  write_dir_atomic(o.out_dir + "/model", [&](const std::string& tmp) {
    save_model(tmp, model);
    for (const char* f : {"vocab.json", "merges.txt", "special_tokens.json"}) {
      std::string src = o.data_dir + "/tokenizer/" + f;
      if (fs::exists(src)) write_file_atomic(tmp + "/" + f, read_file(src));
    }
    safetensors::save(tmp + "/state.safetensors", opt.state());
    Json state{{"step", step}, {"loader_position", loader_position}, {"optimizer_steps", opt.steps()},
               {"options", options_json(o)}};
    write_file_atomic(tmp + "/state.json", state.dump(2) + "\n");
  });
}

// ---- evaluation ----

double evaluate_loss(const GPT& model, const std::vector<Batch>& batches) {
  NoGradGuard no_grad;
  double total = 0, count = 0;
  for (const Batch& b : batches) {
    double n = double(b.targets.numel());
    total += model.loss(b.inputs, b.targets, Mode::eval()).value().item() * n;
    count += n;
  }
  check(count > 0, "evaluate_loss", "no validation windows (is the validation split shorter than seq_len + 1?)");
  return total / count;
}

// ---- the run ----

// Steps for `epochs` passes over the training tokens (windows are sampled, so an "epoch" is a
// token count, not a guarantee that every window was seen).
static int64_t steps_for_epochs(const PretrainOptions& o, int64_t tokens) {
  check(tokens > 0, "pretrain", "--epochs needs \"train_tokens\" in {}/meta.json (written by kiso prepare)",
        o.data_dir);
  double per_step = double(o.batch_size * o.seq_len * o.grad_accum);
  return std::max<int64_t>(1, int64_t(std::ceil(o.epochs * double(tokens) / per_step)));
}

PretrainResult pretrain(const PretrainOptions& options, std::ostream& log) {
  PretrainOptions o = options;
  check(!o.data_dir.empty() && !o.out_dir.empty(), "pretrain", "needs a data directory and an output directory");
  check(o.epochs >= 0, "pretrain", "--epochs must be >= 0, got {}", o.epochs);
  DataMeta data = read_data_meta(o.data_dir);
  if (o.epochs > 0 && o.batch_size >= 1 && o.grad_accum >= 1 && o.seq_len >= 1)
    o.steps = steps_for_epochs(o, data.train_tokens);
  check(o.batch_size >= 1 && o.grad_accum >= 1 && o.steps >= 1, "pretrain",
        "batch size ({}), gradient accumulation ({}) and steps ({}) must be at least 1", o.batch_size, o.grad_accum,
        o.steps);
  int64_t vocab = data.vocab_size;
  GPTConfig config = model_config(o, vocab);
  // The loop's settings (train/loop.h) with phase 1's own: the step range, warmup + cosine.
  LoopSettings loop = loop_settings("pretrain", o.out_dir, o.loop);
  loop.end = o.stop_at > 0 ? std::min(o.stop_at, o.steps) : o.steps;
  loop.grad_accum = o.grad_accum;
  loop.schedule = {ScheduleKind::warmup_cosine, o.lr, std::min(o.warmup_steps, o.steps), o.steps};
  loop.checkpoint_every = o.checkpoint_every;
  loop.tokens_per_step = double(o.batch_size * o.seq_len * o.grad_accum);
  const std::string& model_dir = loop.checkpoint_dir;
  fs::create_directories(o.out_dir);

  // The model and the optimizer: fresh, or from the run's last checkpoint.
  Generator init{o.seed, kInitStream};
  GPT model = o.resume ? load_model(model_dir) : GPT(config, init);
  if (o.resume) model.config = config;  // the dropout rates of this call (not stored by HF)
  move_parameters(model.parameters(), o.device);  // before the optimizer: its state goes where they are
  AdamWConfig adamw{.beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.weight_decay};
  AdamW opt(model.parameters(), adamw);
  std::string train_path = o.data_dir + "/train.bin", val_path = o.data_dir + "/val.bin";
  TokenLoader loader(read_shard(train_path, vocab), o.batch_size, o.seq_len, o.seed, train_path);
  std::vector<Batch> val = sequential_windows(read_shard(val_path, vocab), o.seq_len, o.batch_size, val_path);
  if (int64_t(val.size()) > o.eval_batches) val.resize(size_t(o.eval_batches));

  int64_t step = 0;
  if (o.resume) {
    std::string state_path = model_dir + "/state.json";
    Json state = parse_json_strict(read_file(state_path), state_path);
    check_resume_compatible(state.at("options"), o, state_path);
    step = get_int(state, "step", state_path);
    safetensors::File st = safetensors::load(model_dir + "/state.safetensors");
    opt.load_state(st.tensors, get_int(state, "optimizer_steps", state_path));
    loader.seek(get_int(state, "loader_position", state_path));
    truncate_log(loop.log_path, step);
    log << fmt::format("resuming {} at step {} of {}\n", model_dir, step, o.steps);
  } else {
    fs::remove(loop.log_path);
  }

  // The loop with phase 1's loss: next-token cross-entropy on the loader's windows. The
  // loader's position k names the micro-batch, and with it its dropout masks.
  loop.first_step = step;
  LoopHooks hooks;
  hooks.loss = [&](int64_t, int64_t) {
    int64_t k = loader.position();
    Batch b = loader.next();
    Generator dropout_rng{o.seed, kDropoutStream + uint64_t(k)};
    return model.loss(b.inputs, b.targets, Mode::train(dropout_rng));
  };
  hooks.validate = [&] { return Validation{evaluate_loss(model, val), std::nullopt}; };
  hooks.checkpoint = [&](int64_t done) { save_checkpoint(o, model, opt, done, loader.position()); };
  LoopResult run = train_loop(loop, model.parameters(), opt, hooks, log);

  PretrainResult result;
  result.model_dir = model_dir;
  result.records = std::move(run.records);
  result.initial_val_loss = run.initial.loss;
  result.final_val_loss = run.final.loss;
  return result;
}

}  // namespace kiso
