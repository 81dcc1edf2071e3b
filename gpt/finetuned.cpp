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

int64_t head_classes(const TaskInfo& info) {
  return info.kind == TaskKind::multiple_choice ? 2 : int64_t(info.labels.size());
}

// ---- task.json ----

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

FinetunedModel load_finetuned(const std::string& dir, Device device) {
  std::string task_path = dir + "/task.json";
  check(fs::exists(task_path), "load_finetuned", "{} is not a fine-tuned model directory (no task.json); "
        "fine-tune one with `kiso finetune`", dir);
  FinetunedModel m{load_model(dir, device), {},
                   task_info_from_json(parse_json_strict(read_file(task_path), task_path), task_path),
                   Tokenizer::load(dir)};
  const SpecialIds& s = m.info.special;
  check(s.start == m.tokenizer.special("<|start|>") && s.delim == m.tokenizer.special("<|delim|>") &&
            s.extract == m.tokenizer.special("<|extract|>"),
        task_path.c_str(), "the special token ids differ from those of the tokenizer files in {}", dir);
  int64_t V = m.model.config.vocab_size;
  check(std::max({s.start, s.delim, s.extract, s.pad}) < V, task_path.c_str(),
        "a special token id is outside the model's vocabulary of {}", V);
  int64_t C = m.model.config.block.n_embd;
  m.head = TaskHead(m.info.kind, C, head_classes(m.info), m.info.head_dropout, Init{nullptr});
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
