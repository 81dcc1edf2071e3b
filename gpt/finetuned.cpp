// gpt/finetuned.cpp — the fine-tuned model directory and the model's inference (see finetuned.h).
#include "gpt/finetuned.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/safetensors.h"

namespace kiso {

namespace fs = std::filesystem;

SpecialIds special_ids(const Tokenizer& tokenizer) {
  return {tokenizer.special("<|start|>"), tokenizer.special("<|delim|>"), tokenizer.special("<|extract|>"),
          tokenizer.special("<|endoftext|>")};
}

int64_t head_classes(const TaskInfo& info) {
  return info.kind == TaskKind::multiple_choice ? 2 : int64_t(info.labels.size());
}

// ---- task.json ----

Json task_info_to_json(const TaskInfo& info, const Json& options) {
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

// task.json's fields, type-checked and each within its range: the special ids inside the model's
// vocabulary of V, every other field as task.json's comment in finetuned.h says.
TaskInfo task_info_from_json(const Json& j, const std::string& path, int64_t V) {
  const char* where = path.c_str();
  check(j.is_object(), where, "expected a JSON object, found {}", describe_json(j));
  for (const auto& item : j.items()) {
    const std::string& key = item.key();  // not a structured binding: clang 14 (the fuzz build) cannot capture one
    static const char* known[] = {"task", "labels", "candidates", "max_len", "head_dropout", "special",
                                  "train_label_counts", "options"};
    check(std::find_if(std::begin(known), std::end(known), [&](const char* k) { return key == k; }) != std::end(known),
          where, "unknown key \"{}\"; task.json holds task, labels, candidates, max_len, head_dropout, special, "
          "train_label_counts and options", key);
  }
  TaskInfo info;
  const std::string task = get_string(j, "task", path);  // its error names the file already
  try {
    info.kind = parse_task_kind(task);
  } catch (const Error& e) {
    fail(where, "{}", e.what());  // "task: unknown task 'x'; expected ...", said of this file
  }
  check(has_key(j, "labels") && j["labels"].is_array(), where, "expected \"labels\": an array of strings");
  for (const Json& l : j["labels"]) {
    check(l.is_string(), where, "a label must be a string, found {}", describe_json(l));
    std::string label = l.get<std::string>();
    check(!label.empty(), where, "labels: label {} is empty", info.labels.size());
    check(std::find(info.labels.begin(), info.labels.end(), label) == info.labels.end(), where,
          "labels: \"{}\" appears twice", label);
    info.labels.push_back(std::move(label));
  }
  info.candidates = get_int(j, "candidates", path);
  info.max_len = get_int(j, "max_len", path);
  info.head_dropout = get_number(j, "head_dropout", path);
  check(info.head_dropout >= 0 && info.head_dropout < 1, where, "head_dropout is {}; expected a probability in [0, 1)",
        info.head_dropout);
  check(has_key(j, "special") && j["special"].is_object(), where, "expected \"special\": an object");
  const Json& s = j["special"];
  int32_t* ids[] = {&info.special.start, &info.special.delim, &info.special.extract, &info.special.pad};
  const char* names[] = {"start", "delim", "extract", "pad"};
  for (int k = 0; k < 4; ++k) {
    int64_t id = get_int(s, names[k], path);  // checked as int64: 2^32 + 5 must not become 5
    check(id >= 0 && id < V, where, "special \"{}\" is {}; expected an id in 0..{} (the model's vocabulary)",
          names[k], id, V - 1);
    *ids[k] = int32_t(id);
  }
  if (has_key(j, "train_label_counts")) {
    check(j["train_label_counts"].is_object(), where, "expected \"train_label_counts\": an object");
    for (const auto& [label, count] : j["train_label_counts"].items()) {
      check(count.is_number_integer(), where, "train_label_counts[\"{}\"] must be an integer", label);
      check(info.kind == TaskKind::multiple_choice ||
                std::find(info.labels.begin(), info.labels.end(), label) != info.labels.end(),
            where, "train_label_counts: \"{}\" is not one of the labels", label);
      int64_t n = get_int(j["train_label_counts"], label.c_str(), path);
      check(n >= 0, where, "train_label_counts[\"{}\"] is {}; expected >= 0", label, n);
      info.train_label_counts[label] = n;
    }
  }
  bool mc = info.kind == TaskKind::multiple_choice;
  check(mc ? info.candidates >= 2 && info.labels.empty() : info.labels.size() >= 2 && info.candidates == 0,
        where, "a {} model needs {}; found {} labels and candidates = {}", to_string(info.kind),
        mc ? "candidates >= 2 and no labels" : "at least 2 labels and candidates = 0", info.labels.size(),
        info.candidates);
  return info;
}

// The fields of task.json that must agree with the model and its tokenizer: the first three
// special ids are the tokenizer's own, max_len is within the context.
static void check_task_info(const TaskInfo& info, const GPT& model, const Tokenizer& tokenizer,
                            const std::string& path, const std::string& dir) {
  const char* where = path.c_str();
  int64_t n_ctx = model.config.n_ctx;
  const SpecialIds& s = info.special;
  check(s.start == tokenizer.special("<|start|>") && s.delim == tokenizer.special("<|delim|>") &&
            s.extract == tokenizer.special("<|extract|>"),
        where, "the special token ids differ from those of the tokenizer files in {}", dir);
  check(info.max_len >= 4 && info.max_len <= n_ctx, where,
        "max_len is {}; expected 4..{} (the model's context n_ctx)", info.max_len, n_ctx);
}

void save_finetuned(const std::string& dir, FinetunedModel& m, const Json& options) {
  write_dir_atomic(dir, [&](const std::string& tmp) {
    save_model(tmp, m.model);
    m.tokenizer.save(tmp);
    safetensors::save(tmp + "/head.safetensors",
                      {{"linear.weight", m.head.linear.weight.value()}, {"linear.bias", m.head.linear.bias.value()}});
    write_file_atomic(tmp + "/task.json", task_info_to_json(m.info, options).dump(2) + "\n");
  });
}

FinetunedModel load_finetuned(const std::string& dir, Device device) {
  std::string task_path = dir + "/task.json";
  check(fs::exists(task_path), "load_finetuned", "{} is not a fine-tuned model directory (no task.json); "
        "fine-tune one with `kiso finetune`", dir);
  GPT model = load_model(dir, device);
  TaskInfo info = task_info_from_json(parse_json_strict(read_file(task_path), task_path), task_path,
                                      model.config.vocab_size);
  FinetunedModel m{std::move(model), {}, std::move(info), Tokenizer::load(dir)};
  check_task_info(m.info, m.model, m.tokenizer, task_path, dir);
  int64_t C = m.model.config.block.n_embd;
  m.head = TaskHead(m.info.kind, C, head_classes(m.info), m.info.head_dropout, Init{nullptr});
  std::string head_path = dir + "/head.safetensors";
  safetensors::File f = safetensors::load(head_path);
  Parameters want = m.head.parameters();
  check(f.tensors.size() == want.size(), head_path.c_str(), "expected {} tensors (linear.weight, linear.bias), found {}",
        want.size(), f.tensors.size());
  const char* per = m.info.kind == TaskKind::multiple_choice ? "one output scores each candidate"
                                                             : "one column per label of task.json";
  for (const NamedParameter& p : want) {
    auto it = std::find_if(f.tensors.begin(), f.tensors.end(), [&](const auto& t) { return t.first == p.name; });
    check(it != f.tensors.end(), head_path.c_str(), "missing tensor '{}'", p.name);
    check(it->second.shape() == p.variable->shape(), head_path.c_str(), "tensor '{}' has shape {}, expected {} ({})",
          p.name, shape_str(it->second.shape()), shape_str(p.variable->shape()), per);
    Tensor value = to_dtype(it->second, DType::f32);
    check_finite(value, p.name, head_path);  // gpt/checkpoint.h
    *p.variable = Variable(value, true);
  }
  move_parameters(m.head.parameters(), device);
  return m;
}

// ---- inference ----

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

}  // namespace kiso
