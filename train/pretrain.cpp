// train/pretrain.cpp — the pre-training loop, its checkpoints and its resume (see pretrain.h).
#include "train/pretrain.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/json.h"
#include "nn/optim.h"
#include "nn/schedule.h"

namespace kiso {

namespace fs = std::filesystem;

// ---- options <-> state.json ----

static Json options_json(const PretrainOptions& o) {
  return Json{{"data_dir", o.data_dir},       {"preset", o.preset},         {"config_path", o.config_path},
              {"batch_size", o.batch_size},   {"seq_len", o.seq_len},       {"grad_accum", o.grad_accum},
              {"steps", o.steps},             {"lr", o.lr},                 {"warmup_steps", o.warmup_steps},
              {"beta1", o.beta1},             {"beta2", o.beta2},           {"eps", o.eps},
              {"weight_decay", o.weight_decay}, {"clip", o.clip},           {"dropout", o.dropout},
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
  if (o.dropout >= 0) c.embd_pdrop = c.attn_pdrop = c.resid_pdrop = o.dropout;
  c.validate();
  check(o.seq_len >= 1 && o.seq_len <= c.n_ctx, "pretrain", "--seq-len {} must be in 1..n_ctx = {} of the model",
        o.seq_len, c.n_ctx);
  return c;
}

// ---- checkpoints ----

// Writes the model, the tokenizer files and the training state into out/model.tmp, then
// swaps it in for out/model: a reader sees the old checkpoint or the new one, never a mix.
static void save_checkpoint(const PretrainOptions& o, GPT& model, const AdamW& opt, int64_t step,
                            int64_t loader_position) {
  std::string final_dir = o.out_dir + "/model", tmp = final_dir + ".tmp", old = final_dir + ".old";
  fs::remove_all(tmp);
  save_model(tmp, model);
  for (const char* f : {"vocab.json", "merges.txt", "special_tokens.json"}) {
    std::string src = o.data_dir + "/tokenizer/" + f;
    if (fs::exists(src)) write_file_atomic(tmp + "/" + f, read_file(src));
  }
  safetensors::save(tmp + "/state.safetensors", opt.state());
  Json state{{"step", step}, {"loader_position", loader_position}, {"optimizer_steps", opt.steps()},
             {"options", options_json(o)}};
  write_file_atomic(tmp + "/state.json", state.dump(2) + "\n");
  fs::remove_all(old);
  if (fs::exists(final_dir)) fs::rename(final_dir, old);
  fs::rename(tmp, final_dir);
  fs::remove_all(old);
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

// ---- the loop ----

// "[#########...........]  45%  step 450/1000  eta 1m20s", drawn without a newline so the next
// write can erase it ("\r\033[K": carriage return, clear to the end of the line).
static std::string progress_bar(int64_t step, int64_t end, double seconds_per_step) {
  constexpr int width = 30;
  int filled = int(width * step / std::max<int64_t>(end, 1));
  int64_t eta = int64_t(seconds_per_step * double(end - step));
  return fmt::format("[{}{}] {:3d}%  step {}/{}  eta {}m{:02d}s", std::string(size_t(filled), '#'),
                     std::string(size_t(width - filled), '.'), int(100 * step / std::max<int64_t>(end, 1)), step, end,
                     eta / 60, eta % 60);
}

static void append_line(const std::string& path, const Json& record) {
  std::ofstream f(path, std::ios::app);
  f << record.dump() << "\n";
  check(bool(f), "pretrain", "cannot append to {}", path);
}

// On resume, keep only the log records up to the checkpoint's step (a crash after the last
// checkpoint may have logged steps that are now run again).
static void truncate_log(const std::string& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json r = parse_json_strict(line, path);
    if (get_int(r, "step", path) <= step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

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
  std::string model_dir = o.out_dir + "/model", log_path = o.out_dir + "/log.jsonl";
  fs::create_directories(o.out_dir);

  // The model and the optimizer: fresh, or from the run's last checkpoint.
  Generator init{o.seed, kInitStream};
  GPT model = o.resume ? load_model(model_dir) : GPT(config, init);
  if (o.resume) model.config = config;  // the dropout rates of this call (not stored by HF)
  AdamWConfig adamw{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay};
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
    truncate_log(log_path, step);
    log << fmt::format("resuming {} at step {} of {}\n", model_dir, step, o.steps);
  } else {
    fs::remove(log_path);
  }

  LRSchedule schedule{ScheduleKind::warmup_cosine, o.lr, std::min(o.warmup_steps, o.steps), o.steps};
  PretrainResult result;
  result.model_dir = model_dir;
  result.initial_val_loss = evaluate_loss(model, val);
  if (!o.quiet) log << fmt::format("step {:>5} | val loss {:.4f}\n", step, result.initial_val_loss);
  Parameters params = model.parameters();
  int64_t last_checkpoint = step;

  int64_t end = o.stop_at > 0 ? std::min(o.stop_at, o.steps) : o.steps;
  while (step < end) {
    auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    for (int64_t micro = 0; micro < o.grad_accum; ++micro) {
      int64_t k = loader.position();  // the global micro-batch number: names its dropout masks
      Batch b = loader.next();
      Generator dropout_rng{o.seed, kDropoutStream + uint64_t(k)};
      Variable loss = model.loss(b.inputs, b.targets, Mode::train(dropout_rng));
      double value = loss.value().item();
      check(std::isfinite(value), "pretrain",
            "the loss is {} at step {}: stopping. The last good checkpoint (step {}) in {} is kept; try a lower --lr "
            "or --clip",
            value, step + 1, last_checkpoint, model_dir);
      loss_sum += value;
      mul(loss, 1.0 / double(o.grad_accum)).backward();  // gradients of the mean over micro-batches
    }
    double grad_norm = o.clip > 0 ? clip_grad_norm(params, o.clip) : 0.0;
    double lr = schedule.at(step);
    opt.step(lr);
    opt.zero_grad();
    ++step;

    StepRecord r;
    r.step = step;
    r.loss = loss_sum / double(o.grad_accum);
    r.lr = lr;
    r.grad_norm = grad_norm;
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    r.tokens_per_second = double(o.batch_size * o.seq_len * o.grad_accum) / (r.ms / 1000.0);
    if ((o.eval_every > 0 && step % o.eval_every == 0) || step == end) r.val_loss = evaluate_loss(model, val);
    if (o.progress_bar) log << "\r\033[K";  // erase the bar, write the step line, redraw the bar
    if (!o.quiet)
      log << fmt::format("step {:>5}/{} | loss {:.4f} | lr {:.2e} | grad norm {:.3f} | {:.0f} ms | {:.0f} tok/s{}\n",
                         step, o.steps, r.loss, r.lr, r.grad_norm, r.ms, r.tokens_per_second,
                         r.val_loss ? fmt::format(" | val loss {:.4f}", *r.val_loss) : "");
    if (o.progress_bar) log << progress_bar(step, end, r.ms / 1000.0) << std::flush;
    Json rec{{"step", step}, {"loss", r.loss}, {"lr", r.lr}, {"grad_norm", r.grad_norm}, {"ms", r.ms},
             {"tokens_per_second", r.tokens_per_second}};
    if (r.val_loss) rec["val_loss"] = *r.val_loss;
    append_line(log_path, rec);
    result.records.push_back(r);

    if ((o.checkpoint_every > 0 && step % o.checkpoint_every == 0) || step == end) {
      save_checkpoint(o, model, opt, step, loader.position());
      last_checkpoint = step;
    }
  }
  if (o.progress_bar) log << "\n";
  result.final_val_loss = result.records.empty() ? result.initial_val_loss : *result.records.back().val_loss;
  return result;
}

}  // namespace kiso
