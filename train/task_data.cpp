// train/task_data.cpp — JSONL and TSV readers for fine-tuning data (see task_data.h).
#include "train/task_data.h"

#include <algorithm>
#include <sstream>

#include "gpt/atomic_file.h"
#include "gpt/json.h"

namespace kiso {

// The JSON fields of each task's texts, in TaskExample order (multiple choice: context, then
// the "candidates" array).
static std::vector<const char*> text_fields(TaskKind kind) {
  switch (kind) {
    case TaskKind::classification: return {"text"};
    case TaskKind::entailment: return {"premise", "hypothesis"};
    case TaskKind::similarity: return {"text_a", "text_b"};
    case TaskKind::multiple_choice: return {"context"};
  }
  return {};
}

// A label written as a string or an integer, as a string.
static std::string label_text(const Json& j, const std::string& where) {
  const Json& v = j.at("label");
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  fail(where.c_str(), "\"label\" must be a string or an integer, found {}", describe_json(v));
}

static TaskRecord parse_jsonl_line(const std::string& line, TaskKind kind, const std::string& where) {
  Json j = parse_json_strict(line, where);
  check(j.is_object(), where.c_str(), "expected a JSON object, found {}", describe_json(j));
  TaskRecord r;
  for (const char* field : text_fields(kind)) r.texts.push_back(get_string(j, field, where));
  if (kind == TaskKind::multiple_choice) {
    check(has_key(j, "candidates") && j["candidates"].is_array() && !j["candidates"].empty(), where.c_str(),
          "expected \"candidates\": a non-empty array of strings");
    for (const Json& c : j["candidates"]) {
      check(c.is_string(), where.c_str(), "a candidate must be a string, found {}", describe_json(c));
      r.texts.push_back(c.get<std::string>());
    }
  }
  if (has_key(j, "label")) r.label = label_text(j, where);
  return r;
}

static TaskRecord parse_tsv_line(const std::string& line, TaskKind kind, const std::string& where) {
  std::vector<std::string> cols;
  std::stringstream in(line);
  for (std::string col; std::getline(in, col, '\t');) cols.push_back(col);
  if (!line.empty() && line.back() == '\t') cols.push_back("");
  size_t texts = text_fields(kind).size();
  size_t least = kind == TaskKind::multiple_choice ? 3 : texts + 1;  // context, ≥ 1 candidate, label
  check(cols.size() >= least && (kind == TaskKind::multiple_choice || cols.size() == texts + 1), where.c_str(),
        "expected {} tab-separated columns for {}, found {}", kind == TaskKind::multiple_choice ? "3 or more" :
        std::to_string(texts + 1), to_string(kind), cols.size());
  TaskRecord r;
  r.texts.assign(cols.begin(), cols.end() - 1);
  r.label = cols.back();
  return r;
}

std::vector<TaskRecord> read_task_file(const std::string& path, TaskKind kind) {
  bool jsonl = path.ends_with(".jsonl") || path.ends_with(".json");
  check(jsonl || path.ends_with(".tsv"), "read_task_file", "{}: expected a .jsonl or .tsv file", path);
  std::stringstream in(read_file(path));
  std::vector<TaskRecord> records;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files
    if (line.empty()) continue;
    std::string where = fmt::format("{}, line {}", path, number);
    TaskRecord r = jsonl ? parse_jsonl_line(line, kind, where) : parse_tsv_line(line, kind, where);
    r.line = number;
    if (kind == TaskKind::multiple_choice && !records.empty())
      check(r.texts.size() == records.front().texts.size(), where.c_str(),
            "{} candidates, but line {} has {}; every example needs the same number", r.texts.size() - 1,
            records.front().line, records.front().texts.size() - 1);
    records.push_back(std::move(r));
  }
  check(!records.empty(), "read_task_file", "{} holds no examples", path);
  return records;
}

std::vector<std::string> label_set(const std::vector<TaskRecord>& records, TaskKind kind) {
  if (kind == TaskKind::multiple_choice) return {};
  std::vector<std::string> labels;
  for (const TaskRecord& r : records)
    if (!r.label.empty() && std::find(labels.begin(), labels.end(), r.label) == labels.end()) labels.push_back(r.label);
  auto is_int = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin() + (s[0] == '-'), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::sort(labels.begin(), labels.end(), [&](const std::string& a, const std::string& b) {
    if (is_int(a) && is_int(b)) return std::stoll(a) < std::stoll(b);
    return a < b;
  });
  return labels;
}

int64_t label_index(const TaskRecord& r, const std::vector<std::string>& labels, TaskKind kind, const std::string& path,
                    int64_t candidates) {
  std::string where = fmt::format("{}, line {}", path, r.line);
  if (kind == TaskKind::multiple_choice) {
    int64_t k = -1;
    try {
      size_t used = 0;
      k = std::stoll(r.label, &used);
      if (used != r.label.size()) k = -1;
    } catch (const std::exception&) {
      k = -1;
    }
    check(k >= 0 && k < candidates, where.c_str(), "label \"{}\" is not a candidate index 0..{}", r.label,
          candidates - 1);
    return k;
  }
  auto it = std::find(labels.begin(), labels.end(), r.label);
  check(it != labels.end(), where.c_str(), "unknown label \"{}\" (known: {})", r.label, [&] {
    std::string known;
    for (size_t i = 0; i < labels.size(); ++i) known += (i ? ", " : "") + labels[i];
    return known;
  }());
  return int64_t(it - labels.begin());
}

}  // namespace kiso
