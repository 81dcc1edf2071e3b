// train/pretrain.cpp — the pre-training run, step by step (see pretrain.h): check the options,
// read the data and size the model, refuse or repair the run directory, then the loop with its
// checkpoints.
#include "train/pretrain.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <ostream>

#include "base/size.h"
#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/json.h"
#include "gpt/tokenizer.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "train/checkpoints.h"
#include "train/loop.h"
#include "train/distributed.h"
#include "train/seams.h"

namespace kiso {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOp = "pretrain";

}  // namespace

// ---- 0. the options, before any work ----

void validate(const PretrainOptions& o) {
  check(!o.data_dir.empty(), kOp, "--data (a directory written by kiso prepare) is required");
  check(!o.out_dir.empty(), kOp, "--out (the run directory) is required");
  if (o.config_path.empty()) {
    std::vector<std::string> names = preset_names();
    check(std::find(names.begin(), names.end(), o.preset) != names.end(), kOp,
          "--preset must be one of {}, got \"{}\"", join(names, ", "), o.preset);
  }
  check_option(o.batch_size >= 1, kOp, "--batch-size", ">= 1", o.batch_size);
  check_option(o.seq_len >= 1, kOp, "--seq-len", ">= 1", o.seq_len);
  check_option(o.grad_accum >= 1, kOp, "--grad-accum", ">= 1", o.grad_accum);
  if (o.steps) check_option(*o.steps >= 1, kOp, "--steps", ">= 1", *o.steps);
  check_option(std::isfinite(o.epochs) && o.epochs >= 0, kOp, "--epochs", "a finite number >= 0 (0: use --steps)",
               o.epochs);
  check_option(std::isfinite(o.lr) && o.lr > 0, kOp, "--lr", "a finite number > 0", o.lr);
  check_option(o.warmup_steps >= 0, kOp, "--warmup", ">= 0 (steps of linear warmup)", o.warmup_steps);
  check_option(o.beta1 >= 0 && o.beta1 < 1, kOp, "--beta1", "in [0, 1)", o.beta1);
  check_option(o.beta2 >= 0 && o.beta2 < 1, kOp, "--beta2", "in [0, 1)", o.beta2);
  check_option(std::isfinite(o.eps) && o.eps > 0, kOp, "--eps", "a finite number > 0", o.eps);
  check_option(std::isfinite(o.weight_decay) && o.weight_decay >= 0, kOp, "--weight-decay", "a finite number >= 0",
               o.weight_decay);
  check_option(std::isfinite(o.loop.clip) && o.loop.clip >= 0, kOp, "--clip", ">= 0 (0 turns clipping off)",
               o.loop.clip);
  if (o.dropout) check_option(*o.dropout >= 0 && *o.dropout < 1, kOp, "--dropout", "in [0, 1)", *o.dropout);
  check_option(o.loop.eval_every >= 0, kOp, "--eval-every", ">= 0 (0: validate only at the end)", o.loop.eval_every);
  check_option(o.eval_batches >= 1, kOp, "--eval-batches", ">= 1", o.eval_batches);
  check_option(o.checkpoint_every >= 0, kOp, "--checkpoint-every", ">= 0 (0: only at the end)", o.checkpoint_every);
  check_option(o.keep_checkpoints >= 1, kOp, "--keep-checkpoints", ">= 1", o.keep_checkpoints);
  check_option(o.stop_at >= 0, kOp, "--stop-at", ">= 0 (0: run to the end)", o.stop_at);
  check(!(o.resume && o.overwrite), kOp,
        "--resume continues the run in {} and --overwrite deletes it: give one of them", o.out_dir);
  // tokens per step: the figure the loop and --epochs divide by; B·T·grad_accum must fit
  mul_size(mul_size(o.batch_size, o.seq_len, kOp, "--batch-size × --seq-len"), o.grad_accum, kOp,
           "--batch-size × --seq-len × --grad-accum");
}

namespace {

// ---- 1. the data and the model ----

// What `kiso prepare` recorded about the data in DATA/meta.json, checked against its tokenizer.
struct DataMeta {
  int64_t vocab_size, train_tokens;
  std::optional<SeamIds> seams;  // prepared with --seams: these targets are masked
  std::optional<Tokenizer> tokenizer;  // DATA/tokenizer, when there is one
};

DataMeta read_data_meta(const std::string& data_dir) {
  std::string path = data_dir + "/meta.json";
  Json meta = parse_json_strict(read_file(path), path);
  // train_tokens is needed only for --epochs, so a hand-written meta.json may omit it (-1).
  DataMeta m{get_int(meta, "vocab_size", path), has_key(meta, "train_tokens") ? get_int(meta, "train_tokens", path) : -1,
             std::nullopt, std::nullopt};
  // Shards hold uint16 ids (train/shards.h), so no data directory has more than 65536 tokens.
  check(m.vocab_size >= 1 && m.vocab_size <= 65536, path.c_str(),
        "\"vocab_size\" must be in 1..65536 (token shards hold uint16 ids), found {}", m.vocab_size);
  // The model's vocabulary is meta.json's; a tokenizer with another size would produce ids the
  // model lacks (or never produce the rows it has).
  std::string tokenizer_dir = data_dir + "/tokenizer";
  if (fs::exists(tokenizer_dir)) {
    m.tokenizer = Tokenizer::load(tokenizer_dir);
    int64_t tokens = m.tokenizer->vocab_size();
    check(tokens == m.vocab_size, path.c_str(),
          "\"vocab_size\" is {}, but the tokenizer in {} has {} tokens; they must agree (run kiso prepare again, or "
          "correct meta.json)",
          m.vocab_size, tokenizer_dir, tokens);
  }
  m.seams = read_seams(meta, m.vocab_size, path);
  // The masked ids must be the ones fine-tuning will read from the same tokenizer files.
  if (m.seams && m.tokenizer) {
    SeamIds t = seam_ids(*m.tokenizer);
    check(m.seams->start == t.start && m.seams->delim == t.delim && m.seams->extract == t.extract, path.c_str(),
          "\"seams\" is {} but the tokenizer in {} has {}; they must agree (run kiso prepare --seams again)",
          seams_json(*m.seams).dump(), tokenizer_dir, seams_json(t).dump());
  }
  return m;
}

// --epochs: steps = ceil(epochs · train tokens / tokens per step), checked to fit an int64 (a
// float to int conversion of 1e30 is undefined behaviour, not a large number).
int64_t steps_for_epochs(const PretrainOptions& o, int64_t tokens) {
  check(tokens > 0, kOp, "--epochs needs \"train_tokens\" in {}/meta.json (written by kiso prepare)", o.data_dir);
  double per_step = double(o.batch_size) * double(o.seq_len) * double(o.grad_accum);
  double steps = std::ceil(o.epochs * double(tokens) / per_step);
  check(steps <= double(int64_t(1) << 53), kOp,
        "--epochs {} means {:.3g} steps of {} tokens over {} training tokens, more than kiso counts (2^53); give "
        "fewer epochs",
        o.epochs, steps, int64_t(per_step), tokens);
  return std::max<int64_t>(1, int64_t(steps));
}

GPTConfig model_config(const PretrainOptions& o, int64_t vocab_size) {
  GPTConfig c;
  if (o.config_path.empty()) c = preset(o.preset);
  else c = config_from_json(parse_json_strict(read_file(o.config_path), o.config_path), o.config_path);
  c.vocab_size = vocab_size;
  override_dropout(c, o.dropout);
  c.validate();
  check(o.seq_len <= c.n_ctx, kOp, "--seq-len {} must be in 1..n_ctx = {} of the model", o.seq_len, c.n_ctx);
  return c;
}

// FNV-1a over the token ids: the identity of the training data that a resumed run compares
// (its path may change; its contents may not).
std::string tokens_hash(const std::vector<int32_t>& tokens) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t t : tokens) h = (h ^ uint32_t(t)) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

// ---- 2. state.json: what a resumed run must agree with ----

Json options_json(const PretrainOptions& o) {
  return Json{{"data_dir", o.data_dir},       {"preset", o.preset},         {"config_path", o.config_path},
              {"batch_size", o.batch_size},   {"seq_len", o.seq_len},       {"grad_accum", o.grad_accum},
              {"steps", o.steps.value()},             {"lr", o.lr},                 {"warmup_steps", o.warmup_steps},
              {"beta1", o.beta1},             {"beta2", o.beta2},           {"eps", o.eps},
              {"weight_decay", o.weight_decay}, {"clip", o.loop.clip},      {"seed", o.seed},
              {"precision", to_string(o.loop.precision)}};
}

// The options that the saved state depends on, by their state.json key and flag.
struct MustMatch {
  const char* key;
  const char* flag;
};
constexpr MustMatch kMustMatch[] = {
    {"batch_size", "--batch-size"}, {"seq_len", "--seq-len"}, {"grad_accum", "--grad-accum"}, {"seed", "--seed"},
    {"lr", "--lr"},                 {"warmup_steps", "--warmup"}, {"beta1", "--beta1"},       {"beta2", "--beta2"},
    {"eps", "eps"},                 {"weight_decay", "--weight-decay"}, {"clip", "--clip"}};

// Every difference between the run in `model_dir` and this call, in one Error; see pretrain.h
// for what must match and why.
void check_resume_matches(const std::string& model_dir, const Json& state, const GPTConfig& saved,
                          const GPTConfig& now, const PretrainOptions& o, const Json& data, int64_t step) {
  std::vector<std::string> differences;
  Json a = config_to_json(now), b = config_to_json(saved);
  for (const auto& [key, value] : a.items()) {
    if (key == "embd_pdrop" || key == "attn_pdrop" || key == "resid_pdrop") continue;  // --dropout may change them
    if (value != b[key]) differences.push_back(fmt::format("{} is {} now but the run used {}", key, value.dump(), b[key].dump()));
  }
  const Json& saved_options = state.at("options");
  Json now_options = options_json(o);
  for (const MustMatch& m : kMustMatch)
    if (has_key(saved_options, m.key) && saved_options.at(m.key) != now_options.at(m.key))
      differences.push_back(fmt::format("{} is {} now but the run used {}", m.flag, now_options.at(m.key).dump(),
                                        saved_options.at(m.key).dump()));
  if (has_key(state, "data") && state.at("data") != data)
    differences.push_back(fmt::format("the training data ({}/train.bin) is {} tokens with hash {} now but the run "
                                      "used {} tokens with hash {}",
                                      o.data_dir, data.at("tokens").dump(), data.at("hash").dump(),
                                      state.at("data").value("tokens", Json()).dump(),
                                      state.at("data").value("hash", Json()).dump()));
  // --steps may grow (a longer run), never shrink: a default --steps 200 given to a run of 1000
  // would otherwise end it early without a word (--stop-at stops early on purpose)
  if (int64_t planned = get_int(saved_options, "steps", model_dir); *o.steps < planned)
    differences.push_back(fmt::format("--steps is {} now but the run planned {} (a run may be extended, not "
                                      "shortened; --stop-at stops it early)", *o.steps, planned));
  if (o.stop_at > 0 && o.stop_at <= step)
    differences.push_back(fmt::format("--stop-at {} is not after the step the run has reached ({})", o.stop_at, step));
  if (differences.empty()) return;
  fail("--resume", "the run in {} differs from this call: {}. Resume with the run's values, or start a new run "
       "(another --out, or --overwrite)", model_dir, join(differences, "; "));
}

// ---- 3. checkpoints ----

// The model, the tokenizer files and the training state, written as checkpoint `step` and then
// committed as RUN/model (train/checkpoints.h).
void save_checkpoint(const PretrainOptions& o, GPT& model, const AdamW& opt, int64_t step, int64_t loader_position,
                     const Json& data, const std::optional<SeamIds>& seams) {
  commit_checkpoint(o.out_dir, step, o.keep_checkpoints, [&](const std::string& dir) {
    save_model(dir, model);
    if (seams) write_file_atomic(dir + "/" + kSeamsFile, seams_json(*seams).dump(2) + "\n");  // the rows were learned
    for (const char* f : {"vocab.json", "merges.txt", "special_tokens.json"}) {
      std::string src = o.data_dir + "/tokenizer/" + f;
      if (fs::exists(src)) write_file_atomic(dir + "/" + f, read_file(src));
    }
    safetensors::save(dir + "/state.safetensors", opt.state());
    Json state{{"step", step},         {"loader_position", loader_position}, {"optimizer_steps", opt.steps()},
               {"options", options_json(o)}, {"data", data}};
    write_file_atomic(dir + "/state.json", state.dump(2) + "\n");
  });
}

}  // namespace

// ---- evaluation ----

double evaluate_loss(const GPT& model, const std::vector<Batch>& batches) {
  NoGradGuard no_grad;
  double total = 0, count = 0;
  for (const Batch& b : batches) {
    // Each batch's loss is the mean over its counted targets (not -100: a seam, train/seams.h),
    // so it weighs by that count; a batch with none counted adds nothing (and has no mean).
    std::vector<int32_t> t = b.targets.to(Device::cpu).to_vector<int32_t>();  // (B·T,)
    double n = double(std::count_if(t.begin(), t.end(), [](int32_t id) { return id != -100; }));
    if (n == 0) continue;
    total += model.loss(b.inputs, b.targets, Mode::eval()).value().item() * n;
    count += n;
  }
  check(count > 0, "evaluate_loss", "no validation targets (no windows, or every target masked)");
  return total / count;
}

// ---- the run ----

PretrainResult pretrain(const PretrainOptions& options, std::ostream& log) {
  PretrainOptions o = options;
  // In a distributed run (train/distributed.h) every rank runs the set-up below, reading the same
  // data and, on --resume, the same checkpoint (the run directory on a shared filesystem); rank 0
  // alone checks, repairs and writes the run directory. Each stage ends with the ranks agreeing
  // that it went well (together, on_root), so an error stops them all, said once.
  DataMeta meta;
  GPTConfig config;
  std::vector<std::string> entries;
  together([&] {
    // 0. every option, before any file is read
    validate(o);
    check(o.grad_accum % dist::size() == 0, kOp,
          "--grad-accum {} does not split over {} processes: each process takes grad_accum / processes of every "
          "step's micro-batches, so --grad-accum must be a multiple of {} (e.g. --grad-accum {} with --batch-size {} "
          "keeps the tokens per step)",
          o.grad_accum, dist::size(), dist::size(), o.grad_accum * dist::size(),
          std::max<int64_t>(1, o.batch_size / dist::size()));
    // 1. the data's description, the model's size, the memory they need
    meta = read_data_meta(o.data_dir);
    if (o.epochs > 0) o.steps = steps_for_epochs(o, meta.train_tokens);
    if (!o.steps && !o.resume) o.steps = kDefaultSteps;  // a resumed run's: from its state, below
    config = model_config(o, meta.vocab_size);
    check_training_memory(config, o.batch_size, o.seq_len, kOp,
                          fmt::format("--batch-size {} and --seq-len {}", o.batch_size, o.seq_len));
  });

  // 2. the run directory: refused when it holds a run this call was not told what to do with;
  //    a resumed run's is repaired (train/checkpoints.h) before anyone reads it
  on_root([&] {
    entries = run_entries(o.out_dir);
    if (!o.resume && !o.overwrite)
      check(entries.empty(), kOp,
            "the run directory {} already holds a run ({}); continue it with --resume, or delete it and start again "
            "with --overwrite",
            o.out_dir, join(entries, ", "));
    if (o.resume) {
      check(!entries.empty(), "--resume", "{} holds no run to resume (no model, checkpoints or log.jsonl); start it "
            "without --resume", o.out_dir);
      check(!recover_run(o.out_dir).empty(), "--resume",
            "the run in {} stopped before its first checkpoint, so there is nothing to resume; start it again with "
            "--overwrite",
            o.out_dir);
    }
  });

  // 3. the data itself; 4. resume: compare the run with this call
  std::string train_path = o.data_dir + "/train.bin", val_path = o.data_dir + "/val.bin";
  std::vector<int32_t> train_tokens, val_tokens;
  Json data;
  LoopSettings loop = loop_settings(kOp, o.out_dir, o.loop);
  const std::string& model_dir = loop.checkpoint_dir;
  int64_t step = 0;
  Json state;
  together([&] {
    train_tokens = read_shard(train_path, meta.vocab_size);
    val_tokens = read_shard(val_path, meta.vocab_size);
    check(int64_t(val_tokens.size()) >= o.seq_len + 1, val_path.c_str(),
          "holds {} tokens, fewer than the --seq-len + 1 = {} of one validation window", val_tokens.size(),
          o.seq_len + 1);
    data = Json{{"tokens", int64_t(train_tokens.size())}, {"hash", tokens_hash(train_tokens)}};
    if (!o.resume) return;
    std::string state_path = model_dir + "/state.json", config_path = model_dir + "/config.json";
    state = parse_json_strict(read_file(state_path), state_path);
    step = get_int(state, "step", state_path);
    if (!o.steps) o.steps = get_int(state.at("options"), "steps", state_path);  // the run's own
    GPTConfig saved = config_from_json(parse_json_strict(read_file(config_path), config_path), config_path);
    check_resume_matches(model_dir, state, saved, config, o, data, step);
    if (!o.dropout)  // the run's own rates, so that a plain --resume continues the same run
      config.embd_pdrop = saved.embd_pdrop, config.block.attn_pdrop = saved.block.attn_pdrop,
      config.block.resid_pdrop = saved.block.resid_pdrop;
    // Batch k of the run is step · grad_accum + micro, whatever the number of processes: the
    // loader's position must be where the steps done put it.
    int64_t position = get_int(state, "loader_position", state_path);
    check(position == step * o.grad_accum, state_path.c_str(),
          "\"loader_position\" is {}, but {} steps of --grad-accum {} read {} batches", position, step, o.grad_accum,
          step * o.grad_accum);
  });

  // 5. a new run: only now, with every input checked, is anything written
  if (!o.resume)
    on_root([&] {
      if (o.overwrite) clear_run(o.out_dir);
      std::error_code ec;
      fs::create_directories(o.out_dir, ec);
      check(!ec, kOp, "cannot create the run directory {}: {}", o.out_dir, ec.message());
    });

  const int64_t steps = *o.steps;

  // The model and the optimizer: fresh, or from the run's last checkpoint. Every rank builds
  // the same ones (the same seed, or the same files); check_same_on_every_rank makes sure.
  std::optional<GPT> built;
  std::optional<AdamW> adamw_built;
  std::unique_ptr<Reducer> reducer;
  together([&] {
    Generator init{o.seed, kInitStream};
    built.emplace(o.resume ? load_model(model_dir) : GPT(config, init));
    if (o.resume) built->config = config;  // this call's dropout rates (the architecture is the same)
    move_parameters(built->parameters(), o.device);  // before the optimizer: its state goes where they are
    AdamWConfig adamw{.beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps, .weight_decay = o.weight_decay};
    adamw_built.emplace(built->parameters(), adamw);
    if (o.resume) {
      std::string state_path = model_dir + "/state.json";
      safetensors::File st = safetensors::load(model_dir + "/state.safetensors");
      adamw_built->load_state(st.tensors, get_int(state, "optimizer_steps", state_path));
    }
    reducer = make_reducer(o.reduce, o.device);
  });
  GPT& model = *built;
  AdamW& opt = *adamw_built;
  check_same_on_every_rank(model.parameters(), "at the start");
  TokenLoader loader(std::move(train_tokens), o.batch_size, o.seq_len, o.seed, train_path);
  std::vector<Batch> val = sequential_windows(val_tokens, o.seq_len, o.batch_size, val_path);
  if (int64_t(val.size()) > o.eval_batches) val.resize(size_t(o.eval_batches));

  const bool root = dist::is_root();
  if (o.resume) {
    on_root([&] { truncate_log(loop.log_path, step); });
    int64_t planned = get_int(state.at("options"), "steps", model_dir + "/state.json");
    if (root)
      log << fmt::format("resuming {} at step {} of {}{}\n", model_dir, step, steps,
                         planned == steps ? ""
                                            : fmt::format(" (the run planned {}: the learning-rate schedule now spans {})",
                                                          planned, steps))
          << std::flush;
  } else {
    on_root([&] { fs::remove(loop.log_path); });
  }
  if (root && dist::size() > 1)
    log << fmt::format("{} processes: each takes {} of the {} micro-batches of a step; gradients summed by {}\n",
                       dist::size(), o.grad_accum / dist::size(), o.grad_accum, reducer->name())
        << std::flush;

  // The loop with phase 1's settings (the step range, warmup + cosine) and loss: next-token
  // cross-entropy on the loader's windows. Micro-batch `micro` of step `step` is the loader's
  // batch k = step · grad_accum + micro, and k names its dropout masks too: a pure function of
  // (seed, k), whichever process computes it.
  loop.first_step = step;
  loop.end = o.stop_at > 0 ? std::min(o.stop_at, steps) : steps;
  loop.grad_accum = o.grad_accum;
  loop.schedule = {ScheduleKind::warmup_cosine, o.lr, std::min(o.warmup_steps, steps), steps};
  loop.checkpoint_every = o.checkpoint_every;
  loop.tokens_per_step = double(o.batch_size * o.seq_len * o.grad_accum);
  loop.reducer = reducer.get();
  LoopHooks hooks;
  if (meta.seams) {
    for (Batch& b : val) b.targets = mask_seam_targets(b.targets, *meta.seams);
    if (root)
      log << fmt::format("seams: targets <|start|> {}, <|delim|> {}, <|extract|> {} are left out of the loss (train "
                         "and val), so the val loss is not comparable with a plain run's; compare runs by the val loss "
                         "per real token printed at the end\n",
                         meta.seams->start, meta.seams->delim, meta.seams->extract)
          << std::flush;
  }
  hooks.loss = [&](int64_t step, int64_t micro) {
    int64_t k = step * o.grad_accum + micro;
    Batch b = loader.batch(k);
    if (meta.seams) b.targets = mask_seam_targets(b.targets, *meta.seams);  // (B, T), -100 at the seams
    Generator dropout_rng{o.seed, kDropoutStream + uint64_t(k)};
    return model.loss(b.inputs, b.targets, Mode::train(dropout_rng));
  };
  hooks.validate = [&] { return Validation{evaluate_loss(model, val), std::nullopt}; };
  hooks.checkpoint = [&](int64_t done) {
    save_checkpoint(o, model, opt, done, done * o.grad_accum, data, meta.seams);
  };
  LoopResult run = train_loop(loop, model.parameters(), opt, hooks, log);

  PretrainResult result;
  result.model_dir = model_dir;
  result.records = std::move(run.records);
  result.initial_val_loss = run.initial.loss;
  result.final_val_loss = run.final.loss;
  result.seams = meta.seams.has_value();
  if (meta.tokenizer && !run.interrupted && root) {
    PrecisionGuard precision(o.loop.precision);  // the precision the loop validated in
    result.final_val_real_token_loss = real_token_loss(model, val, *meta.tokenizer);
    log << fmt::format("val loss per real token (special-token targets left out): {:.4f}\n",
                       *result.final_val_real_token_loss);
  }
  result.steps_done = run.steps_done;
  result.interrupted = run.interrupted;
  return result;
}

}  // namespace kiso
