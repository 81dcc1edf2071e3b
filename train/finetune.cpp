// train/finetune.cpp — phase 2, step by step (see finetune.h): check the options, read the
// task, build the model, choose what trains, run the loop.
#include "train/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <optional>
#include <ostream>

#include "base/size.h"
#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "train/checkpoints.h"
#include "train/pretrain.h"
#include "train/seams.h"
#include "train/special_rows.h"

namespace kiso {

namespace fs = std::filesystem;

constexpr uint64_t kShuffleStream = uint64_t(2) << 40;  // + the epoch: the order of its examples
constexpr uint64_t kHeadInitStream = 2;                 // W_y and the special-token rows
constexpr uint64_t kSubsetStream = uint64_t(3) << 40;   // which examples --train-limit keeps

// ---- the order of the examples ----

// 0 .. n-1 in a Fisher–Yates shuffle driven by Philox stream `stream`: a pure function of
// (seed, stream). Epoch e visits the training examples in the order of stream kShuffleStream + e,
// so any batch can be rebuilt from its number.
static std::vector<int64_t> shuffled(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t(0));
  for (int64_t i = n - 1; i > 0; --i) {
    uint64_t draw = uint64_t(n - 1 - i);  // the i-th swap uses draw number n-1-i of the stream
    uint32_t bits = philox_block(seed, stream, draw / 4)[draw % 4];
    // j uniform in 0..i: the 32-bit draw scaled by (i + 1) (multiply-shift; a bias below
    // n / 2^32, far under anything a shuffle of a few thousand examples could show)
    int64_t j = int64_t((uint64_t(bits) * uint64_t(i + 1)) >> 32);
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
  return order;
}

// Batch k: positions kB .. kB + B - 1 of the endless sequence epoch 0, epoch 1, ...
struct EpochBatches {
  int64_t n, batch;
  uint64_t seed;
  int64_t cached_epoch = -1;
  std::vector<int64_t> order;

  std::vector<int64_t> indices(int64_t k) {
    std::vector<int64_t> out;
    for (int64_t pos = k * batch; pos < (k + 1) * batch; ++pos) {
      int64_t epoch = pos / n;
      if (epoch != cached_epoch) order = shuffled(n, seed, kShuffleStream + uint64_t(cached_epoch = epoch));
      out.push_back(order[size_t(pos % n)]);
    }
    return out;
  }
};

// ---- examples ----

std::vector<TaskExample> encode_records(const std::vector<TaskRecord>& records, const TaskInfo& info,
                                        const Tokenizer& tokenizer, const std::string& path) {
  std::vector<TaskExample> out;
  out.reserve(records.size());
  for (const TaskRecord& r : records) {
    TaskExample e;
    for (const std::string& text : r.texts) e.pieces.push_back(tokenizer.encode(text));
    if (info.kind == TaskKind::multiple_choice)
      check(int64_t(r.texts.size()) - 1 == info.candidates, path.c_str(),
            "line {}: {} candidates, but the model was fine-tuned with {}", r.line, r.texts.size() - 1,
            info.candidates);
    e.label = r.label.empty() ? -1 : label_index(r, info.labels, info.kind, path, info.candidates);
    out.push_back(std::move(e));
  }
  return out;
}

static std::vector<TaskExample> select(const std::vector<TaskExample>& all, const std::vector<int64_t>& indices) {
  std::vector<TaskExample> out;
  for (int64_t i : indices) out.push_back(all[size_t(i)]);
  return out;
}

// ---- 0. the options, before any work ----

void validate(const FinetuneOptions& o) {
  check(!o.model_dir.empty() && !o.train_path.empty() && !o.val_path.empty() && !o.out_dir.empty(), "finetune",
        "needs --model, --train, --val and --out");
  parse_task_kind(o.task);  // names the tasks there are
  check(o.init == "pretrained" || o.init == "scratch", "finetune", "--init must be pretrained or scratch, got \"{}\"",
        o.init);
  check_option(std::isfinite(o.lm_coef) && o.lm_coef >= 0, "finetune", "--lm-coef",
               "a finite number >= 0 (0 turns the LM loss off)", o.lm_coef);
  check_option(std::isfinite(o.lr) && o.lr > 0, "finetune", "--lr", "a finite number > 0", o.lr);
  check_option(o.batch_size >= 1, "finetune", "--batch-size", ">= 1", o.batch_size);
  check_option(o.grad_accum >= 1, "finetune", "--grad-accum", ">= 1", o.grad_accum);
  check(o.batch_size % o.grad_accum == 0, "finetune",
        "--batch-size {} does not split into --grad-accum {} micro-batches of equal size", o.batch_size, o.grad_accum);
  check_option(std::isfinite(o.epochs) && o.epochs > 0, "finetune", "--epochs", "a finite number > 0", o.epochs);
  check_option(o.warmup_fraction >= 0 && o.warmup_fraction <= 1, "finetune", "--warmup", "a fraction in [0, 1]",
               o.warmup_fraction);
  check_option(o.head_dropout >= 0 && o.head_dropout < 1, "finetune", "--head-dropout", "in [0, 1)", o.head_dropout);
  if (o.dropout) check_option(*o.dropout >= 0 && *o.dropout < 1, "finetune", "--dropout", "in [0, 1)", *o.dropout);
  check_option(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "finetune", "--weight-decay",
               "a finite number >= 0", o.weight_decay);
  check_option(o.max_len >= 0, "finetune", "--max-len", ">= 0 (0: the model's context)", o.max_len);
  check_option(o.train_limit >= 0, "finetune", "--train-limit", ">= 0 (0: every example)", o.train_limit);
  check_option(std::isfinite(o.loop.clip) && o.loop.clip >= 0, "finetune", "--clip", ">= 0 (0 turns clipping off)",
               o.loop.clip);
  check_option(o.loop.eval_every >= 0, "finetune", "--eval-every", ">= 0 (0: validate only at the end)",
               o.loop.eval_every);
}

// ---- 1. the task ----

// The records of both files, and what the training file says about the task.
struct TaskFiles {
  TaskInfo info;  // all but max_len, which needs the model
  std::vector<TaskRecord> train, val;
};

// --train-limit: `limit` of the records, a seeded random choice kept in the file's order.
static std::vector<TaskRecord> seeded_subset(std::vector<TaskRecord> records, int64_t limit, uint64_t seed) {
  if (limit <= 0 || limit >= int64_t(records.size())) return records;
  std::vector<int64_t> keep = shuffled(int64_t(records.size()), seed, kSubsetStream);
  keep.resize(size_t(limit));
  std::sort(keep.begin(), keep.end());  // the file's order, for readable logs
  std::vector<TaskRecord> subset;
  for (int64_t i : keep) subset.push_back(records[size_t(i)]);
  return subset;
}

static TaskFiles read_task(const FinetuneOptions& o, const Tokenizer& tokenizer, std::ostream& log) {
  TaskFiles task;
  TaskInfo& info = task.info;
  info.kind = parse_task_kind(o.task);
  TaskFile train = read_task_data(o.train_path, info.kind, o.header), val = read_task_data(o.val_path, info.kind, o.header);
  for (const TaskFile* f : {&train, &val}) if (!f->note.empty()) log << f->note << "\n";  // the header decision
  task.train = std::move(train.records), task.val = std::move(val.records);
  info.labels = label_set(task.train, info.kind);  // of the whole file, before --train-limit
  task.train = seeded_subset(std::move(task.train), o.train_limit, o.seed);
  if (info.kind == TaskKind::multiple_choice) info.candidates = int64_t(task.train.front().texts.size()) - 1;
  else
    check(info.labels.size() >= 2, o.train_path.c_str(), "a {} task needs at least 2 labels; the file has {}",
          to_string(info.kind), info.labels.size());
  for (const TaskRecord& r : task.train) {
    check(!r.label.empty(), o.train_path.c_str(), "line {} has no label; every training example needs one", r.line);
    info.train_label_counts[r.label] += 1;
  }
  info.special = special_ids(tokenizer);
  info.head_dropout = o.head_dropout;
  return task;
}

// ---- 2. the model ----

// The special-token rows: drawn anew, unless fine-tuning starts from a model pre-trained on
// `kiso prepare --seams` data, whose directory holds seams.json (train/seams.h): that model
// learned them, so they are kept. Its ids must be this tokenizer's.
static RowsFrom special_rows_from(const FinetuneOptions& o, const SpecialIds& special) {
  std::string path = o.model_dir + "/" + kSeamsFile;
  if (o.init == "scratch" || !std::filesystem::exists(path)) return RowsFrom::drawn;
  SeamIds ids = *read_seams(Json{{"seams", parse_json_strict(read_file(path), path)}},
                            std::numeric_limits<int32_t>::max(), path);
  check(ids.start == special.start && ids.delim == special.delim && ids.extract == special.extract, path.c_str(),
        "names the seam ids {} but the model's tokenizer has {}", seams_json(ids).dump(),
        seams_json({special.start, special.delim, special.extract}).dump());
  return RowsFrom::pretrained;
}

// The pre-trained model (or its architecture with fresh weights), with the --dropout override,
// new special-token rows and a new head, moved to the device it trains on.
static FinetunedModel build_model(const FinetuneOptions& o, TaskInfo info, Tokenizer tokenizer, RowsFrom rows) {
  std::string config_path = o.model_dir + "/config.json";
  GPTConfig config = config_from_json(parse_json_strict(read_file(config_path), config_path), config_path);
  info.max_len = o.max_len > 0 ? o.max_len : config.n_ctx;
  check(info.max_len >= 4 && info.max_len <= config.n_ctx, "finetune",
        "--max-len {} must be in 4..{} (the model's context)", info.max_len, config.n_ctx);
  // A batch is batch_size examples of 1 sequence (2 for similarity, K for multiple choice).
  int64_t per_example = info.kind == TaskKind::similarity ? 2
                        : info.kind == TaskKind::multiple_choice ? std::max<int64_t>(info.candidates, 1)
                                                                 : 1;
  check_training_memory(config, mul_size(o.batch_size, per_example, "finetune", "--batch-size × sequences"),
                        info.max_len, "finetune",
                        fmt::format("--batch-size {} and --max-len {}", o.batch_size, info.max_len));
  Generator init{o.seed, kInitStream}, head_init{o.seed, kHeadInitStream};
  GPT model = o.init == "scratch" ? GPT(config, init) : load_model(o.model_dir);
  override_dropout(model.config, o.dropout);
  draw_special_token_rows(model, info.special, head_init, rows);
  TaskHead head(info.kind, model.config.block.n_embd, head_classes(info), o.head_dropout, Init{&head_init});
  FinetunedModel m{std::move(model), std::move(head), std::move(info), std::move(tokenizer)};
  move_parameters(m.model.parameters(), o.device);  // before the optimizer: its state goes where they are
  move_parameters(m.head.parameters(), o.device);
  return m;
}

// ---- 3. what trains ----

struct Trainable {
  Parameters params;                    // the model's (or, frozen, the embedding's) and the head's
  std::optional<SpecialRowMask> rows;   // with --freeze-backbone
  int64_t numbers = 0;                  // how many numbers train
};

static Trainable choose_trainable(FinetunedModel& m, bool frozen_backbone) {
  Trainable t;
  if (frozen_backbone) {
    FrozenBackbone frozen = freeze_backbone(m.model, m.info.special);
    t.params = frozen.trainable;
    t.rows = frozen.rows;
  } else {
    t.params = m.model.parameters();
  }
  append_parameters(t.params, "head", m.head.parameters());
  for (const NamedParameter& p : t.params) t.numbers += p.variable->value().numel();
  if (t.rows) t.numbers -= t.rows->frozen_numbers;
  return t;
}

// ---- 4. the loop ----

// The mean number of tokens an example's sequences hold (for the loop's tokens/s).
static double mean_tokens(const std::vector<TaskExample>& examples, const TaskInfo& info) {
  double total = 0;
  for (const TaskExample& e : examples)
    for (const auto& seq : transform(info.kind, e, info.special, info.max_len)) total += double(seq.size());
  return total / double(examples.size());
}

// task.json's "options": how the model was fine-tuned.
static Json options_record(const FinetuneOptions& o, const TaskInfo& info) {
  return Json{{"model", o.model_dir}, {"train", o.train_path}, {"val", o.val_path}, {"init", o.init},
              {"freeze_backbone", o.freeze_backbone}, {"lm_coef", o.lm_coef}, {"lr", o.lr},
              {"batch_size", o.batch_size}, {"epochs", o.epochs}, {"warmup", o.warmup_fraction},
              {"clip", o.loop.clip}, {"weight_decay", o.weight_decay}, {"seed", o.seed},
              {"train_limit", o.train_limit}, {"max_len", info.max_len},
              {"precision", to_string(o.loop.precision)}};
}

// Steps of L3 on batch k of the shuffled epochs, validation accuracy, the model directory
// written at the end; the loop's settings (train/loop.h) with phase 2's own: warmup over a
// fraction of the steps, then linear decay.
static FinetuneResult train_on_task(const FinetuneOptions& o, FinetunedModel& m, const std::vector<TaskExample>& train,
                                    const std::vector<TaskExample>& val, Trainable& trainable, std::ostream& log) {
  const TaskInfo& info = m.info;
  AdamW opt(trainable.params, AdamWConfig{.weight_decay = o.weight_decay});
  int64_t n = int64_t(train.size());
  double planned = std::ceil(o.epochs * double(n) / double(o.batch_size));
  check(planned <= double(int64_t(1) << 53), "finetune",
        "--epochs {} means {:.3g} steps of {} examples over {} training examples, more than kiso counts (2^53)",
        o.epochs, planned, o.batch_size, n);
  int64_t steps = std::max<int64_t>(1, int64_t(planned));
  LoopSettings loop = loop_settings("finetune", o.out_dir, o.loop);
  loop.end = steps;
  loop.schedule = {ScheduleKind::warmup_linear, o.lr, int64_t(std::ceil(o.warmup_fraction * double(steps))), steps};
  loop.tokens_per_step = mean_tokens(train, info) * double(o.batch_size);
  loop.grad_accum = o.grad_accum;
  std::unique_ptr<Reducer> reducer;
  together([&] { reducer = make_reducer(o.reduce, o.device); });
  loop.reducer = reducer.get();
  // Every input is read and checked: only now is the run directory written (by rank 0).
  on_root([&] {
    if (o.overwrite) clear_run(o.out_dir);
    std::error_code ec;
    fs::create_directories(o.out_dir, ec);
    check(!ec, "finetune", "cannot create the run directory {}: {}", o.out_dir, ec.message());
    fs::remove(loop.log_path);
  });
  check_same_on_every_rank(trainable.params, "at the start");

  EpochBatches batches{n, o.batch_size, o.seed, -1, {}};
  Json options = options_record(o, info);
  LoopHooks hooks;
  const int64_t per_micro = o.batch_size / o.grad_accum;
  hooks.loss = [&](int64_t step, int64_t micro) {
    std::vector<int64_t> all = batches.indices(step), part(all.begin() + micro * per_micro,
                                                          all.begin() + (micro + 1) * per_micro);
    TaskBatch b = make_task_batch(info.kind, select(train, part), info.special, info.max_len);
    Generator dropout_rng{o.seed, kDropoutStream + uint64_t(step * o.grad_accum + micro)};
    return finetune_loss(m.model, m.head, b, o.lm_coef, Mode::train(dropout_rng)).total;
  };
  hooks.validate = [&] {
    Predictions p = predict(m, val);
    int64_t right = 0;
    for (size_t i = 0; i < val.size(); ++i) right += p.predicted[i] == val[i].label;
    return Validation{p.loss, double(right) / double(val.size())};
  };
  hooks.checkpoint = [&](int64_t) { save_finetuned(loop.checkpoint_dir, m, options); };
  if (trainable.rows) {
    hooks.before_update = [&] { trainable.rows->mask_gradient(); };
    hooks.after_update = [&] { trainable.rows->restore_frozen_rows(); };
  }
  if (!o.loop.quiet && dist::is_root())
    log << fmt::format("fine-tuning {} ({}{}) on {} examples ({} labels), {} validation; {} steps of {}, "
                       "{} parameters train\n",
                       to_string(info.kind), o.init, o.freeze_backbone ? ", frozen backbone" : "", n,
                       info.kind == TaskKind::multiple_choice ? info.candidates : int64_t(info.labels.size()),
                       val.size(), steps, o.batch_size, trainable.numbers);
  LoopResult run = train_loop(loop, trainable.params, opt, hooks, log);

  FinetuneResult result;
  result.records = std::move(run.records);
  result.initial = run.initial;
  result.final = run.final;
  result.model_dir = loop.checkpoint_dir;
  result.steps = steps;
  result.train_examples = n;
  result.val_examples = int64_t(val.size());
  result.parameters_trained = trainable.numbers;
  result.steps_done = run.steps_done;
  result.interrupted = run.interrupted;
  return result;
}

FinetuneResult finetune(const FinetuneOptions& o, std::ostream& log) {
  auto t_start = std::chrono::steady_clock::now();
  // Every process of a distributed run reads the same files and builds the same model; rank 0
  // alone checks and writes out/ (train/distributed.h).
  together([&] {
    validate(o);
    check(o.grad_accum % dist::size() == 0, "finetune",
          "--grad-accum {} does not split over {} processes: each process takes grad_accum / processes of every "
          "step's micro-batches, so --grad-accum must be a multiple of {}",
          o.grad_accum, dist::size(), dist::size());
  });
  on_root([&] {
    std::vector<std::string> entries = run_entries(o.out_dir);
    check(o.overwrite || entries.empty(), "finetune",
          "the run directory {} already holds a run ({}); fine-tuning does not resume: delete it and start again "
          "with --overwrite, or choose another --out",
          o.out_dir, join(entries, ", "));
  });
  std::optional<FinetunedModel> built;
  std::vector<TaskExample> train, val;
  together([&] {
    Tokenizer tokenizer = Tokenizer::load(o.model_dir);
    TaskFiles task = read_task(o, tokenizer, log);
    RowsFrom rows = special_rows_from(o, task.info.special);
    if (rows == RowsFrom::pretrained && !o.loop.quiet)
      log << fmt::format(
          "special tokens: the rows of <|start|>, <|delim|>, <|extract|> are the pre-trained ones ({}/{})\n",
          o.model_dir, kSeamsFile);
    built.emplace(build_model(o, task.info, std::move(tokenizer), rows));
    train = encode_records(task.train, built->info, built->tokenizer, o.train_path);
    val = encode_records(task.val, built->info, built->tokenizer, o.val_path);
    for (const TaskExample& e : val)
      check(e.label >= 0, o.val_path.c_str(), "every validation example needs a label");
  });
  FinetunedModel& m = *built;
  Trainable trainable = choose_trainable(m, o.freeze_backbone);
  FinetuneResult result = train_on_task(o, m, train, val, trainable, log);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return result;
}

}  // namespace kiso
