// train/loop.cpp — the training loop shared by pre-training and fine-tuning (see loop.h).
#include "train/loop.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "autograd/functions.h"
#include "base/size.h"
#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "train/distributed.h"

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

// One record at the end of log.jsonl, with POSIX calls so that a full disk says so ("No space
// left on device", "File too large") instead of a bare failure.
static void append_line(const std::string& path, const Json& record, const std::string& what) {
  std::string line = record.dump() + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) fail(what.c_str(), "cannot open {} to append a record: {}", path, std::strerror(errno));
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      fail(what.c_str(), "cannot append to {}: {}", path, std::strerror(err));
    }
    p += n, left -= size_t(n);
  }
  ::close(fd);
}

// ---- stopping on SIGINT / SIGTERM ----

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;

// Async-signal-safe: sets one flag. A second signal gets the default action (the process ends).
extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_stop_signal = sig;
}
}  // namespace

int stop_signal() { return g_stop_signal; }

std::string signal_name(int sig) {
  if (sig == SIGINT) return "SIGINT";
  if (sig == SIGTERM) return "SIGTERM";
  return fmt::format("signal {}", sig);
}

StopOnSignals::StopOnSignals() {
  g_stop_signal = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a read or write in progress carries on rather than failing with EINTR
  sigaction(SIGINT, &action, &previous_int_);
  sigaction(SIGTERM, &action, &previous_term_);
}

StopOnSignals::~StopOnSignals() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
  g_stop_signal = 0;  // a later loop without a guard must not see this one's signal
}

// ---- memory ----

int64_t check_training_memory(const GPTConfig& c, int64_t rows, int64_t T, const char* op, const std::string& flags) {
  const int64_t V = c.vocab_size, C = c.block.n_embd, L = c.n_layer, NH = c.block.n_head, F = c.block.n_inner;
  std::string what = "the memory needed for training with " + flags;
  auto mul = [&](int64_t a, int64_t b) { return mul_size(a, b, op, what); };
  auto add = [&](int64_t a, int64_t b) { return add_size(a, b, op, what); };
  // weights, gradients, AdamW m and v: 4 floats a parameter (counted as gpt/config.h does)
  int64_t state_bytes = mul(parameter_count(c), 16);
  int64_t per_token = add(mul(L, add(add(mul(14, C), mul(2, F)), mul(mul(3, NH), T))), add(mul(2, V), mul(3, C)));
  // ×4 bytes a float, ×2: the backward holds a gradient of about the same size for each
  int64_t activation_bytes = mul(mul(mul(rows, T), per_token), 8);
  int64_t total = add(state_bytes, activation_bytes);
  check_memory(total, op,
               fmt::format("training with {} (about {} for the weights, gradients and AdamW moments, {} for the "
                           "activations of one micro-batch and their gradients)",
                           flags, format_bytes(double(state_bytes)), format_bytes(double(activation_bytes))));
  return total;
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
  s.precision = options.precision;
  s.eval_every = options.eval_every;
  s.log_path = out_dir + "/log.jsonl";
  s.checkpoint_dir = out_dir + "/model";
  s.quiet = options.quiet;
  s.progress_bar = options.progress_bar;
  return s;
}

void override_dropout(GPTConfig& config, std::optional<double> p) {
  if (p) config.embd_pdrop = config.block.attn_pdrop = config.block.resid_pdrop = *p;
}

LoopResult train_loop(const LoopSettings& s, const Parameters& params, AdamW& opt, const LoopHooks& hooks,
                      std::ostream& log) {
  check(s.grad_accum >= 1, s.what.c_str(), "gradient accumulation must be at least 1, got {}", s.grad_accum);
  // This rank's share of every step's micro-batches (train/distributed.h); one process: all.
  const int64_t ranks = dist::size(), per_rank = s.grad_accum / ranks, first_micro = dist::rank() * per_rank;
  check(s.grad_accum % ranks == 0, s.what.c_str(), "the {} micro-batches of a step (--grad-accum) must split evenly "
        "over the {} processes", s.grad_accum, ranks);
  const bool root = dist::is_root(), quiet = s.quiet || !root;
  PrecisionGuard precision(s.precision);
  LoopResult result;
  on_root([&] { result.initial = hooks.validate(); });
  if (!quiet) log << fmt::format("step {:>5}{}\n", s.first_step, validation_text(result.initial)) << std::flush;
  result.final = result.initial;
  int64_t step = s.first_step, last_checkpoint = s.first_step;
  bool saved = s.first_step > 0;  // a resumed run starts from its checkpoint
  StepGradients gradients(params, s.reducer);

  while (step < s.end) {
    // 0. a signal asked to stop (any rank's: they stop together): keep the steps done so far
    if (int sig = int(dist::allreduce_max(stop_signal())); sig != 0) {
      if (!saved || last_checkpoint != step) on_root([&] { hooks.checkpoint(step); });
      result.interrupted = sig;
      break;
    }
    auto t0 = std::chrono::steady_clock::now();
    // 1. forward and backward of this rank's micro-batches; their gradients add up to those of
    //    their mean (each divided by grad_accum), then sum over the ranks (StepGradients)
    double loss_sum = 0;
    double reduce_before = gradients.reduce_seconds();
    for (int64_t i = 0; i < per_rank; ++i) {
      Variable loss = hooks.loss(step, first_micro + i);
      loss_sum += loss.value().item();
      gradients.backward(mul(loss, 1.0 / double(s.grad_accum)), i == per_rank - 1);
    }
    gradients.finish();
    dist::allreduce_sum(&loss_sum, 1);
    if (!std::isfinite(loss_sum)) {  // the same sum on every rank: they all stop here, rank 0 says why
      std::string message = fmt::format(
          "{}: the loss is {} at step {}: stopping. The last good checkpoint (step {}) in {} is kept; try a lower "
          "--lr or --clip",
          s.what, loss_sum / double(s.grad_accum), step + 1, last_checkpoint, s.checkpoint_dir);
      if (ranks == 1) throw Error(message);
      throw AgreedError(message, !root);
    }
    // 2. the update: clip, schedule, AdamW
    if (hooks.before_update) hooks.before_update();
    // The clip stays on the device (AdamW reads its factor there): the norm is read back only
    // below, for the log, once the update is queued.
    ClipFactor clip = s.clip > 0 ? clip_grad_factor(params, s.clip) : ClipFactor{};
    double lr = s.schedule.at(step);
    opt.step(lr, clip.scale);
    opt.zero_grad();
    if (hooks.after_update) hooks.after_update();
    ++step;
    double grad_norm = clip.norm.defined() ? clip.norm.item() : 0.0;

    // 3. the record of this step, validation, the log line (rank 0)
    StepRecord r;
    r.step = step;
    r.loss = loss_sum / double(s.grad_accum);
    r.lr = lr;
    r.grad_norm = grad_norm;
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    r.tokens_per_second = s.tokens_per_step / (r.ms / 1000.0);
    if (ranks > 1) r.reduce_ms = 1000.0 * (gradients.reduce_seconds() - reduce_before);
    on_root([&] {
      if ((s.eval_every > 0 && step % s.eval_every == 0) || step == s.end) r.val = result.final = hooks.validate();
      if (s.progress_bar) log << "\r\033[K";  // erase the bar, write the step line, redraw the bar
      if (!quiet)
        log << fmt::format("step {:>5}/{} | loss {:.4f} | lr {:.2e} | grad norm {:.3f} | {:.0f} ms{} | {:.0f} tok/s{}\n",
                           step, s.schedule.total_steps, r.loss, r.lr, r.grad_norm, r.ms,
                           ranks > 1 ? fmt::format(" (reduce {:.0f})", r.reduce_ms) : "", r.tokens_per_second,
                           r.val ? validation_text(*r.val) : "")
            << std::flush;  // line by line even when the log is a file or a pipe
      if (s.progress_bar) log << progress_bar(step, s.end, r.ms / 1000.0) << std::flush;
      Json rec{{"step", step}, {"loss", r.loss}, {"lr", r.lr}, {"grad_norm", r.grad_norm}, {"ms", r.ms},
               {"tokens_per_second", r.tokens_per_second}};
      if (ranks > 1) rec["processes"] = ranks, rec["reduce_ms"] = r.reduce_ms;
      if (r.val) rec["val_loss"] = r.val->loss;
      if (r.val && r.val->accuracy) rec["val_accuracy"] = *r.val->accuracy;
      append_line(s.log_path, rec, s.what);
    });
    result.records.push_back(r);

    // 4. the checkpoint (rank 0; the others' weights are the same, check_same_on_every_rank)
    if ((s.checkpoint_every > 0 && step % s.checkpoint_every == 0) || step == s.end) {
      check_same_on_every_rank(params, fmt::format("after step {}", step).c_str());
      on_root([&] { hooks.checkpoint(step); });
      last_checkpoint = step, saved = true;
    }
  }
  if (s.progress_bar && root) log << "\n" << std::flush;
  result.steps_done = step;
  return result;
}

}  // namespace kiso
