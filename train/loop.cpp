// train/loop.cpp — the training loop shared by pre-training and fine-tuning (see loop.h).
#include "train/loop.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "gpt/atomic_file.h"
#include "autograd/functions.h"
#include "gpt/json.h"

namespace kiso {

namespace fs = std::filesystem;

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

static void append_line(const std::string& path, const Json& record, const std::string& what) {
  std::ofstream f(path, std::ios::app);
  f << record.dump() << "\n";
  check(bool(f), what.c_str(), "cannot append to {}", path);
}

void truncate_log(const std::string& path, int64_t step) {
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

// " | val loss 1.2345 | val acc 0.812" (the accuracy only for a task with answers).
static std::string validation_text(const Validation& v) {
  return fmt::format(" | val loss {:.4f}{}", v.loss, v.accuracy ? fmt::format(" | val acc {:.3f}", *v.accuracy) : "");
}

LoopSettings loop_settings(const std::string& what, const std::string& out_dir, const LoopOptions& options) {
  LoopSettings s;
  s.what = what;
  s.clip = options.clip;
  s.eval_every = options.eval_every;
  s.log_path = out_dir + "/log.jsonl";
  s.checkpoint_dir = out_dir + "/model";
  s.quiet = options.quiet;
  s.progress_bar = options.progress_bar;
  return s;
}

void override_dropout(GPTConfig& config, double p) {
  if (p >= 0) config.embd_pdrop = config.block.attn_pdrop = config.block.resid_pdrop = p;
}

LoopResult train_loop(const LoopSettings& s, const Parameters& params, AdamW& opt, const LoopHooks& hooks,
                      std::ostream& log) {
  check(s.grad_accum >= 1, s.what.c_str(), "gradient accumulation must be at least 1, got {}", s.grad_accum);
  LoopResult result;
  result.initial = hooks.validate();
  if (!s.quiet) log << fmt::format("step {:>5}{}\n", s.first_step, validation_text(result.initial));
  result.final = result.initial;
  int64_t step = s.first_step, last_checkpoint = s.first_step;

  while (step < s.end) {
    auto t0 = std::chrono::steady_clock::now();
    // 1. forward and backward of each micro-batch; the gradients add up to those of their mean
    double loss_sum = 0;
    for (int64_t micro = 0; micro < s.grad_accum; ++micro) {
      Variable loss = hooks.loss(step, micro);
      double value = loss.value().item();
      check(std::isfinite(value), s.what.c_str(),
            "the loss is {} at step {}: stopping. The last good checkpoint (step {}) in {} is kept; try a lower --lr "
            "or --clip",
            value, step + 1, last_checkpoint, s.checkpoint_dir);
      loss_sum += value;
      mul(loss, 1.0 / double(s.grad_accum)).backward();
    }
    // 2. the update: clip, schedule, AdamW
    if (hooks.before_update) hooks.before_update();
    double grad_norm = s.clip > 0 ? clip_grad_norm(params, s.clip) : 0.0;
    double lr = s.schedule.at(step);
    opt.step(lr);
    opt.zero_grad();
    if (hooks.after_update) hooks.after_update();
    ++step;

    // 3. the record of this step, validation, the log line
    StepRecord r;
    r.step = step;
    r.loss = loss_sum / double(s.grad_accum);
    r.lr = lr;
    r.grad_norm = grad_norm;
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    r.tokens_per_second = s.tokens_per_step / (r.ms / 1000.0);
    if ((s.eval_every > 0 && step % s.eval_every == 0) || step == s.end) r.val = result.final = hooks.validate();
    if (s.progress_bar) log << "\r\033[K";  // erase the bar, write the step line, redraw the bar
    if (!s.quiet)
      log << fmt::format("step {:>5}/{} | loss {:.4f} | lr {:.2e} | grad norm {:.3f} | {:.0f} ms | {:.0f} tok/s{}\n",
                         step, s.schedule.total_steps, r.loss, r.lr, r.grad_norm, r.ms, r.tokens_per_second,
                         r.val ? validation_text(*r.val) : "");
    if (s.progress_bar) log << progress_bar(step, s.end, r.ms / 1000.0) << std::flush;
    Json rec{{"step", step}, {"loss", r.loss}, {"lr", r.lr}, {"grad_norm", r.grad_norm}, {"ms", r.ms},
             {"tokens_per_second", r.tokens_per_second}};
    if (r.val) rec["val_loss"] = r.val->loss;
    if (r.val && r.val->accuracy) rec["val_accuracy"] = *r.val->accuracy;
    append_line(s.log_path, rec, s.what);
    result.records.push_back(r);

    // 4. the checkpoint
    if ((s.checkpoint_every > 0 && step % s.checkpoint_every == 0) || step == s.end) {
      hooks.checkpoint(step);
      last_checkpoint = step;
    }
  }
  if (s.progress_bar) log << "\n";
  return result;
}

}  // namespace kiso
