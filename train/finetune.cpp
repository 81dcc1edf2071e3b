// train/finetune.cpp — fine-tuning, prediction and evaluation of a task (see finetune.h).
#include "train/finetune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <ostream>

#include "autograd/functions.h"
#include "cuda/runtime.h"
#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/safetensors.h"
#include "tensor/dispatch.h"
#include "train/pretrain.h"

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

// ---- prediction and evaluation ----

Predictions predict(const FinetunedModel& m, const std::vector<TaskExample>& examples, int64_t batch_size) {
  check(batch_size >= 1, "predict", "batch size must be at least 1, got {}", batch_size);
  NoGradGuard no_grad;
  Predictions out;
  double loss_sum = 0;
  bool labelled = true;
  for (size_t first = 0; first < examples.size(); first += size_t(batch_size)) {
    std::vector<TaskExample> part(examples.begin() + long(first),
                                  examples.begin() + long(std::min(examples.size(), first + size_t(batch_size))));
    for (const TaskExample& e : part) labelled = labelled && e.label >= 0;
    TaskBatch batch = make_task_batch(m.info.kind, part, m.info.special, m.info.max_len);
    Variable hidden = m.model.hidden_states(batch.ids, Mode::eval());             // (N, T, C)
    Tensor logits = task_logits(m.head, hidden, batch, Mode::eval()).value();     // (E, classes)
    std::vector<double> p = softmax_forward(logits).to_vector<double>();  // from either device
    int64_t classes = logits.size(1);
    for (size_t e = 0; e < part.size(); ++e) {
      std::vector<double> row(p.begin() + long(e) * classes, p.begin() + long(e + 1) * classes);
      out.predicted.push_back(int64_t(std::max_element(row.begin(), row.end()) - row.begin()));
      if (labelled) loss_sum -= std::log(std::max(row[size_t(part[e].label)], 1e-300));
      out.probs.push_back(std::move(row));
    }
  }
  out.loss = labelled && !examples.empty() ? loss_sum / double(examples.size())
                                           : std::numeric_limits<double>::quiet_NaN();
  return out;
}

// The names of the head's outputs: the labels, or "candidate k" for multiple choice.
static std::vector<std::string> class_names(const TaskInfo& info) {
  if (info.kind != TaskKind::multiple_choice) return info.labels;
  std::vector<std::string> names;
  for (int64_t k = 0; k < info.candidates; ++k) names.push_back(fmt::format("candidate {}", k));
  return names;
}

EvalReport evaluate_predictions(const TaskInfo& info, const std::vector<TaskExample>& examples,
                                const Predictions& predictions) {
  check(!examples.empty() && examples.size() == predictions.predicted.size(), "evaluate",
        "{} examples but {} predictions", examples.size(), predictions.predicted.size());
  EvalReport r;
  r.classes = class_names(info);
  size_t K = r.classes.size();
  r.confusion.assign(K, std::vector<int64_t>(K, 0));
  r.examples = int64_t(examples.size());
  r.loss = predictions.loss;
  int64_t right = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    check(examples[i].label >= 0, "evaluate", "example {} has no label; evaluate needs a labelled file", i + 1);
    r.confusion[size_t(examples[i].label)][size_t(predictions.predicted[i])] += 1;
    right += examples[i].label == predictions.predicted[i];
  }
  r.accuracy = double(right) / double(r.examples);
  // Per class c: precision = TP / predicted c, recall = TP / truly c, F1 their harmonic mean
  // (0 when undefined: a class never predicted or never present).
  for (size_t c = 0; c < K; ++c) {
    int64_t tp = r.confusion[c][c], truly = 0, predicted = 0;
    for (size_t o = 0; o < K; ++o) truly += r.confusion[c][o], predicted += r.confusion[o][c];
    double p = predicted ? double(tp) / double(predicted) : 0, rec = truly ? double(tp) / double(truly) : 0;
    r.precision.push_back(p);
    r.recall.push_back(rec);
    r.f1.push_back(p + rec > 0 ? 2 * p * rec / (p + rec) : 0);
  }
  r.macro_f1 = std::accumulate(r.f1.begin(), r.f1.end(), 0.0) / double(K);
  // The majority-class baseline: always answer the most frequent training label.
  int64_t best = -1;
  for (const auto& [label, count] : info.train_label_counts)
    if (count > best) best = count, r.majority_label = label;
  if (best >= 0) {
    int64_t index = -1;
    if (info.kind == TaskKind::multiple_choice) index = std::stoll(r.majority_label);
    else index = int64_t(std::find(info.labels.begin(), info.labels.end(), r.majority_label) - info.labels.begin());
    int64_t hits = 0;
    for (const TaskExample& e : examples) hits += e.label == index;
    r.majority_accuracy = double(hits) / double(r.examples);
  }
  return r;
}

std::string format_report(const EvalReport& r) {
  std::string out = fmt::format("examples {} | accuracy {:.4f} | loss {:.4f} | macro F1 {:.4f}\n", r.examples,
                                r.accuracy, r.loss, r.macro_f1);
  if (r.classes.size() == 2)
    out += fmt::format("F1 (positive class \"{}\") {:.4f}\n", r.classes[1], r.f1[1]);
  if (!r.majority_label.empty())
    out += fmt::format("majority-class baseline (always \"{}\"): accuracy {:.4f}\n", r.majority_label,
                       r.majority_accuracy);
  size_t width = 12;
  for (const std::string& c : r.classes) width = std::max(width, c.size() + 2);
  out += fmt::format("{:<{}}{:>10}{:>10}{:>10}{:>10}\n", "class", width, "precision", "recall", "F1", "support");
  for (size_t c = 0; c < r.classes.size(); ++c) {
    int64_t support = std::accumulate(r.confusion[c].begin(), r.confusion[c].end(), int64_t(0));
    out += fmt::format("{:<{}}{:>10.4f}{:>10.4f}{:>10.4f}{:>10}\n", r.classes[c], width, r.precision[c], r.recall[c],
                       r.f1[c], support);
  }
  out += "confusion matrix (rows: true class, columns: predicted)\n";
  out += fmt::format("{:<{}}", "", width);
  for (const std::string& c : r.classes) out += fmt::format("{:>{}}", c, std::max<size_t>(c.size() + 2, 8));
  out += "\n";
  for (size_t t = 0; t < r.classes.size(); ++t) {
    out += fmt::format("{:<{}}", r.classes[t], width);
    for (size_t p = 0; p < r.classes.size(); ++p)
      out += fmt::format("{:>{}}", r.confusion[t][p], std::max<size_t>(r.classes[p].size() + 2, 8));
    out += "\n";
  }
  return out;
}

Json report_json(const EvalReport& r) {
  Json j{{"examples", r.examples}, {"accuracy", r.accuracy}, {"macro_f1", r.macro_f1},
         {"classes", r.classes},   {"confusion", r.confusion}, {"precision", r.precision},
         {"recall", r.recall},     {"f1", r.f1}};
  j["loss"] = std::isfinite(r.loss) ? Json(r.loss) : Json(nullptr);
  if (!r.majority_label.empty()) j["majority"] = {{"label", r.majority_label}, {"accuracy", r.majority_accuracy}};
  return j;
}

// ---- the fine-tuned model directory ----

static Json task_json(const TaskInfo& info, const Json& options) {
  return Json{{"task", to_string(info.kind)},
              {"labels", info.labels},
              {"candidates", info.candidates},
              {"max_len", info.max_len},
              {"head_dropout", info.head_dropout},
              {"special", {{"start", info.special.start}, {"delim", info.special.delim},
                           {"extract", info.special.extract}, {"pad", info.special.pad}}},
              {"train_label_counts", info.train_label_counts},
              {"options", options}};
}

static TaskInfo task_info_from_json(const Json& j, const std::string& path) {
  TaskInfo info;
  info.kind = parse_task_kind(get_string(j, "task", path));
  check(has_key(j, "labels") && j["labels"].is_array(), path.c_str(), "expected \"labels\": an array of strings");
  for (const Json& l : j["labels"]) {
    check(l.is_string(), path.c_str(), "a label must be a string, found {}", describe_json(l));
    info.labels.push_back(l.get<std::string>());
  }
  info.candidates = get_int(j, "candidates", path);
  info.max_len = get_int(j, "max_len", path);
  info.head_dropout = get_number(j, "head_dropout", path);
  check(has_key(j, "special") && j["special"].is_object(), path.c_str(), "expected \"special\": an object");
  const Json& s = j["special"];
  info.special = {int32_t(get_int(s, "start", path)), int32_t(get_int(s, "delim", path)),
                  int32_t(get_int(s, "extract", path)), int32_t(get_int(s, "pad", path))};
  if (has_key(j, "train_label_counts"))
    for (const auto& [label, count] : j["train_label_counts"].items()) {
      check(count.is_number_integer(), path.c_str(), "train_label_counts[\"{}\"] must be an integer", label);
      info.train_label_counts[label] = count.get<int64_t>();
    }
  bool mc = info.kind == TaskKind::multiple_choice;
  check(mc ? info.candidates >= 2 && info.labels.empty() : info.labels.size() >= 2 && info.candidates == 0,
        path.c_str(), "a {} model needs {}; found {} labels and candidates = {}", to_string(info.kind),
        mc ? "candidates >= 2 and no labels" : "at least 2 labels and candidates = 0", info.labels.size(),
        info.candidates);
  return info;
}

void save_finetuned(const std::string& dir, FinetunedModel& m, const Json& options) {
  write_dir_atomic(dir, [&](const std::string& tmp) {
    save_model(tmp, m.model);
    m.tokenizer.save(tmp);
    safetensors::save(tmp + "/head.safetensors",
                      {{"linear.weight", m.head.linear.weight.value()}, {"linear.bias", m.head.linear.bias.value()}});
    write_file_atomic(tmp + "/task.json", task_json(m.info, options).dump(2) + "\n");
  });
}

FinetunedModel load_finetuned(const std::string& dir) {
  std::string task_path = dir + "/task.json";
  check(fs::exists(task_path), "load_finetuned", "{} is not a fine-tuned model directory (no task.json); "
        "fine-tune one with `kiso finetune`", dir);
  FinetunedModel m{load_model(dir), {}, task_info_from_json(parse_json_strict(read_file(task_path), task_path),
                                                             task_path), Tokenizer::load(dir)};
  const SpecialIds& s = m.info.special;
  check(s.start == m.tokenizer.special("<|start|>") && s.delim == m.tokenizer.special("<|delim|>") &&
            s.extract == m.tokenizer.special("<|extract|>"),
        task_path.c_str(), "the special token ids differ from those of the tokenizer files in {}", dir);
  int64_t V = m.model.config.vocab_size;
  check(std::max({s.start, s.delim, s.extract, s.pad}) < V, task_path.c_str(),
        "a special token id is outside the model's vocabulary of {}", V);
  int64_t classes = m.info.kind == TaskKind::multiple_choice ? 2 : int64_t(m.info.labels.size());
  m.head = TaskHead(m.info.kind, m.model.config.n_embd, classes, m.info.head_dropout, Init{nullptr});
  std::string head_path = dir + "/head.safetensors";
  safetensors::File f = safetensors::load(head_path);
  Parameters want = m.head.parameters();
  check(f.tensors.size() == want.size(), head_path.c_str(), "expected {} tensors (linear.weight, linear.bias), found {}",
        want.size(), f.tensors.size());
  for (const NamedParameter& p : want) {
    auto it = std::find_if(f.tensors.begin(), f.tensors.end(), [&](const auto& t) { return t.first == p.name; });
    check(it != f.tensors.end(), head_path.c_str(), "missing tensor '{}'", p.name);
    check(it->second.shape() == p.variable->shape(), head_path.c_str(), "tensor '{}' has shape {}, expected {}",
          p.name, shape_str(it->second.shape()), shape_str(p.variable->shape()));
    *p.variable = Variable(to_dtype(it->second, DType::f32), true);
  }
  return m;
}

// ---- set-up ----

// Draws the rows of <|start|>, <|delim|> and <|extract|> anew from N(0, 0.02), growing the
// embedding first when the vocabulary ends before them (e.g. GPT-2's files put them at
// 50257..50259).
static void init_special_rows(GPT& model, const SpecialIds& s, Generator& gen) {
  int32_t top = std::max({s.start, s.delim, s.extract});
  if (top >= model.config.vocab_size) add_token_rows(model, top + 1 - model.config.vocab_size, gen);
  Tensor wte = model.tokens_embed.weight.value();  // (V, C)
  int64_t C = wte.size(1);
  Tensor rows = to_dtype(mul(randn({3, C}, gen, DType::f64), 0.02), wte.dtype());  // (3, C)
  with_float(wte, [&]<class T>(T) {
    int32_t ids[3] = {s.start, s.delim, s.extract};
    for (int r = 0; r < 3; ++r)
      std::copy_n(rows.data<T>() + r * C, C, wte.data<T>() + int64_t(ids[r]) * C);
  });
}

// Runs f on t's numbers in host memory: t itself on the cpu; for a cuda tensor a host copy,
// written back afterwards (one copy each way; the frozen-backbone mode is a small-model option).
template <class F> static void edit_on_host(Tensor t, F f) {
  if (!t.is_cuda()) return f(t);  // t shares the caller's storage: f edits it
  Tensor host = t.to(Device::cpu);
  f(host);
  cuda::copy_host_to_device(t.raw_data(), host.raw_data(), size_t(t.numel()) * dtype_size(t.dtype()));
}

// --freeze-backbone: every backbone parameter but the token embedding stops requiring a
// gradient; of the embedding only the special rows may change. Their gradients are kept
// before the update (so clipping sees only trainable numbers) and the other rows are put back
// after it (AdamW's weight decay would otherwise shrink them).
struct FrozenRows {
  Variable* wte = nullptr;
  std::vector<int32_t> trainable;
  Tensor saved;  // (V, C) the frozen values, on the cpu

  void mask_gradient() const {
    if (!wte->grad().defined()) return;
    edit_on_host(wte->grad(), [&](Tensor& g) {
      with_float(g, [&]<class T>(T) {
        int64_t V = g.size(0), C = g.size(1);
        T* pg = g.data<T>();
        for (int64_t v = 0; v < V; ++v)
          if (std::find(trainable.begin(), trainable.end(), v) == trainable.end()) std::fill_n(pg + v * C, C, T(0));
      });
    });
  }
  void restore() const {
    edit_on_host(wte->value(), [&](Tensor& w) {
      with_float(w, [&]<class T>(T) {
        int64_t V = w.size(0), C = w.size(1);
        T* pw = w.data<T>();
        for (int64_t v = 0; v < V; ++v)
          if (std::find(trainable.begin(), trainable.end(), v) == trainable.end())
            std::copy_n(saved.data<T>() + v * C, C, pw + v * C);
      });
    });
  }
};

FinetuneResult finetune(const FinetuneOptions& options, std::ostream& log) {
  const FinetuneOptions& o = options;
  auto t_start = std::chrono::steady_clock::now();
  check(!o.model_dir.empty() && !o.train_path.empty() && !o.val_path.empty() && !o.out_dir.empty(), "finetune",
        "needs --model, --train, --val and --out");
  check(o.init == "pretrained" || o.init == "scratch", "finetune", "--init must be pretrained or scratch, got \"{}\"",
        o.init);
  check(o.lm_coef >= 0, "finetune", "--lm-coef must be >= 0, got {}", o.lm_coef);
  check(o.batch_size >= 1 && o.epochs > 0, "finetune", "batch size ({}) must be >= 1 and epochs ({}) > 0",
        o.batch_size, o.epochs);
  check(o.warmup_fraction >= 0 && o.warmup_fraction <= 1, "finetune", "--warmup must be a fraction in [0, 1], got {}",
        o.warmup_fraction);
  check(o.head_dropout >= 0 && o.head_dropout < 1, "finetune", "--head-dropout must be in [0, 1), got {}",
        o.head_dropout);
  check(o.train_limit >= 0, "finetune", "--train-limit must be >= 0 (0: every example), got {}", o.train_limit);

  // 1. the data, and what it says about the task
  Tokenizer tokenizer = Tokenizer::load(o.model_dir);
  TaskInfo info;
  info.kind = parse_task_kind(o.task);
  std::vector<TaskRecord> train_records = read_task_file(o.train_path, info.kind);
  std::vector<TaskRecord> val_records = read_task_file(o.val_path, info.kind);
  info.labels = label_set(train_records, info.kind);
  if (o.train_limit > 0 && o.train_limit < int64_t(train_records.size())) {
    std::vector<int64_t> keep = shuffled(int64_t(train_records.size()), o.seed, kSubsetStream);
    keep.resize(size_t(o.train_limit));
    std::sort(keep.begin(), keep.end());  // the file's order, for readable logs
    std::vector<TaskRecord> subset;
    for (int64_t i : keep) subset.push_back(train_records[size_t(i)]);
    train_records = std::move(subset);
  }
  if (info.kind == TaskKind::multiple_choice) info.candidates = int64_t(train_records.front().texts.size()) - 1;
  else
    check(info.labels.size() >= 2, o.train_path.c_str(), "a {} task needs at least 2 labels; the file has {}",
          to_string(info.kind), info.labels.size());
  for (const TaskRecord& r : train_records) {
    check(!r.label.empty(), o.train_path.c_str(), "line {} has no label; every training example needs one", r.line);
    info.train_label_counts[r.label] += 1;
  }
  info.special = {tokenizer.special("<|start|>"), tokenizer.special("<|delim|>"), tokenizer.special("<|extract|>"),
                  tokenizer.special("<|endoftext|>")};
  info.head_dropout = o.head_dropout;

  // 2. the model: pre-trained weights or fresh ones, new special rows, the new head
  std::string config_path = o.model_dir + "/config.json";
  GPTConfig config = config_from_json(parse_json_strict(read_file(config_path), config_path), config_path);
  Generator init{o.seed, kInitStream}, head_init{o.seed, kHeadInitStream};
  GPT model = o.init == "scratch" ? GPT(config, init) : load_model(o.model_dir);
  if (o.dropout >= 0) model.config.embd_pdrop = model.config.attn_pdrop = model.config.resid_pdrop = o.dropout;
  init_special_rows(model, info.special, head_init);
  info.max_len = o.max_len > 0 ? o.max_len : model.config.n_ctx;
  check(info.max_len >= 4 && info.max_len <= model.config.n_ctx, "finetune",
        "--max-len {} must be in 4..{} (the model's context)", info.max_len, model.config.n_ctx);
  int64_t classes = info.kind == TaskKind::multiple_choice ? 2 : int64_t(info.labels.size());
  TaskHead head(info.kind, model.config.n_embd, classes, o.head_dropout, Init{&head_init});
  FinetunedModel m{std::move(model), std::move(head), info, std::move(tokenizer)};
  move_parameters(m.model.parameters(), o.device);  // before the optimizer: its state goes where they are
  move_parameters(m.head.parameters(), o.device);

  std::vector<TaskExample> train = encode_records(train_records, info, m.tokenizer, o.train_path);
  std::vector<TaskExample> val = encode_records(val_records, info, m.tokenizer, o.val_path);
  for (const TaskExample& e : val)
    check(e.label >= 0, o.val_path.c_str(), "every validation example needs a label");

  // 3. what trains
  Parameters params;
  FrozenRows frozen;
  if (o.freeze_backbone) {
    for (NamedParameter& p : m.model.parameters())
      if (p.variable != &m.model.tokens_embed.weight) *p.variable = Variable(p.variable->value(), false);
    params.push_back({"tokens_embed.weight", &m.model.tokens_embed.weight});
    frozen = {&m.model.tokens_embed.weight, {info.special.start, info.special.delim, info.special.extract},
              m.model.tokens_embed.weight.value().clone().to(Device::cpu)};
  } else {
    params = m.model.parameters();
  }
  append_parameters(params, "head", m.head.parameters());
  int64_t trained = 0;
  for (const NamedParameter& p : params) trained += p.variable->value().numel();
  if (o.freeze_backbone) trained -= m.model.tokens_embed.weight.value().numel() - 3 * m.model.config.n_embd;
  AdamW opt(params, AdamWConfig{.weight_decay = o.weight_decay});

  // 4. the loop, with L3 on shuffled batches of examples
  int64_t n = int64_t(train.size());
  int64_t steps = std::max<int64_t>(1, int64_t(std::ceil(o.epochs * double(n) / double(o.batch_size))));
  double mean_tokens = 0;
  for (const TaskExample& e : train)
    for (const auto& seq : transform(info.kind, e, info.special, info.max_len)) mean_tokens += double(seq.size());
  mean_tokens /= double(n);
  fs::create_directories(o.out_dir);
  std::string log_path = o.out_dir + "/log.jsonl", model_dir = o.out_dir + "/model";
  fs::remove(log_path);
  Json options_record{{"model", o.model_dir}, {"train", o.train_path}, {"val", o.val_path}, {"init", o.init},
                      {"freeze_backbone", o.freeze_backbone}, {"lm_coef", o.lm_coef}, {"lr", o.lr},
                      {"batch_size", o.batch_size}, {"epochs", o.epochs}, {"warmup", o.warmup_fraction},
                      {"clip", o.clip}, {"weight_decay", o.weight_decay}, {"seed", o.seed},
                      {"train_limit", o.train_limit}, {"max_len", info.max_len}};

  LoopSettings loop;
  loop.what = "finetune";
  loop.end = steps;
  loop.clip = o.clip;
  loop.schedule = {ScheduleKind::warmup_linear, o.lr, int64_t(std::ceil(o.warmup_fraction * double(steps))), steps};
  loop.eval_every = o.eval_every;
  loop.tokens_per_step = mean_tokens * double(o.batch_size);
  loop.log_path = log_path;
  loop.checkpoint_dir = model_dir;
  loop.quiet = o.quiet;
  loop.progress_bar = o.progress_bar;
  EpochBatches batches{n, o.batch_size, o.seed, -1, {}};
  LoopHooks hooks;
  hooks.loss = [&](int64_t step, int64_t) {
    TaskBatch b = make_task_batch(info.kind, select(train, batches.indices(step)), info.special, info.max_len);
    Generator dropout_rng{o.seed, kDropoutStream + uint64_t(step)};
    return finetune_loss(m.model, m.head, b, o.lm_coef, Mode::train(dropout_rng)).total;
  };
  hooks.validate = [&] {
    Predictions p = predict(m, val);
    int64_t right = 0;
    for (size_t i = 0; i < val.size(); ++i) right += p.predicted[i] == val[i].label;
    return Validation{p.loss, double(right) / double(val.size())};
  };
  hooks.checkpoint = [&](int64_t) { save_finetuned(model_dir, m, options_record); };
  if (o.freeze_backbone) {
    hooks.before_update = [&] { frozen.mask_gradient(); };
    hooks.after_update = [&] { frozen.restore(); };
  }
  if (!o.quiet)
    log << fmt::format("fine-tuning {} ({}{}) on {} examples ({} labels), {} validation; {} steps of {}, "
                       "{} parameters train\n",
                       to_string(info.kind), o.init, o.freeze_backbone ? ", frozen backbone" : "", n,
                       info.kind == TaskKind::multiple_choice ? info.candidates : int64_t(info.labels.size()),
                       val.size(), steps, o.batch_size, trained);
  LoopResult run = train_loop(loop, params, opt, hooks, log);

  FinetuneResult result;
  result.records = std::move(run.records);
  result.initial = run.initial;
  result.final = run.final;
  result.model_dir = model_dir;
  result.steps = steps;
  result.train_examples = n;
  result.val_examples = int64_t(val.size());
  result.parameters_trained = trained;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return result;
}

}  // namespace kiso
