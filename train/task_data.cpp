// train/task_data.cpp — the JSONL and plain TSV readers of fine-tuning data, and the file
// type dispatch (see task_data.h); GLUE and ROCStories files are train/task_layouts.cpp.
#include "train/task_data.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <sstream>

#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "train/task_layouts.h"

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

// Splits a line at every tab: n tabs make n + 1 fields (an empty last field included). GLUE
// writes its TSVs without quoting, so a field is taken literally.
static std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> fields(1);
  for (char c : line)
    if (c == '\t')
      fields.emplace_back();
    else
      fields.back().push_back(c);
  return fields;
}

static TaskRecord parse_tsv_fields(const std::vector<std::string>& cols, TaskKind kind, const std::string& where) {
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

// The non-blank lines of a TSV, split at tabs (a CR before the newline dropped: CRLF files).
static std::vector<Row> read_tsv_rows(const std::string& text) {
  std::vector<Row> rows;
  std::stringstream in(text);
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) rows.push_back({split_tabs(line), number});
  }
  return rows;
}

static std::vector<TaskRecord> read_jsonl(const std::string& text, TaskKind kind, const std::string& path) {
  std::vector<TaskRecord> records;
  std::stringstream in(text);
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files
    if (line.empty()) continue;
    records.push_back(parse_jsonl_line(line, kind, at_line(path, number)));
    records.back().line = number;
  }
  return records;
}

// A .tsv is GLUE when its first line is a GLUE header, else the plain TSV of task_data.h.
static std::vector<TaskRecord> read_tsv(const std::string& text, TaskKind kind, const std::string& path) {
  std::vector<Row> rows = read_tsv_rows(text);
  if (std::optional<std::vector<TaskRecord>> glue = read_glue(rows, kind, path)) return *glue;
  std::vector<TaskRecord> records;
  for (const Row& row : rows) {
    records.push_back(parse_tsv_fields(row.fields, kind, at_line(path, row.line)));
    records.back().line = row.line;
  }
  return records;
}

std::vector<TaskRecord> read_task_file(const std::string& path, TaskKind kind) {
  bool jsonl = path.ends_with(".jsonl") || path.ends_with(".json"), csv = path.ends_with(".csv");
  check(jsonl || csv || path.ends_with(".tsv"), "read_task_file", "{}: expected a .jsonl, .tsv or .csv file", path);
  std::string text = read_file(path);
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);  // a UTF-8 byte-order mark (GLUE's MRPC files have one)
  std::vector<TaskRecord> records =
      jsonl ? read_jsonl(text, kind, path) : csv ? read_rocstories(text, kind, path) : read_tsv(text, kind, path);
  check(!records.empty(), "read_task_file", "{} holds no examples", path);
  if (kind == TaskKind::multiple_choice)
    for (const TaskRecord& r : records)
      check(r.texts.size() == records.front().texts.size(), at_line(path, r.line).c_str(),
            "{} candidates, but line {} has {}; every example needs the same number", r.texts.size() - 1,
            records.front().line, records.front().texts.size() - 1);
  return records;
}

std::vector<std::string> label_set(const std::vector<TaskRecord>& records, TaskKind kind) {
  if (kind == TaskKind::multiple_choice) return {};
  std::vector<std::string> labels;
  for (const TaskRecord& r : records)
    if (!r.label.empty() && std::find(labels.begin(), labels.end(), r.label) == labels.end()) labels.push_back(r.label);
  // An integer label is one that parses whole as int64 (from_chars: "-" or 20 digits are text,
  // not a std::stoll exception). Integers sort numerically before all text labels, which sort
  // as strings, ties by text ("1", "01"): a strict weak order even when the two kinds mix.
  auto as_int = [](const std::string& s) -> std::optional<int64_t> {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && end == s.data() + s.size() ? std::optional<int64_t>(v) : std::nullopt;
  };
  std::sort(labels.begin(), labels.end(), [&](const std::string& a, const std::string& b) {
    std::optional<int64_t> x = as_int(a), y = as_int(b);
    if (x.has_value() != y.has_value()) return x.has_value();
    if (x && *x != *y) return *x < *y;
    return a < b;
  });
  return labels;
}

int64_t label_index(const TaskRecord& r, const std::vector<std::string>& labels, TaskKind kind, const std::string& path,
                    int64_t candidates) {
  std::string where = at_line(path, r.line);
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
  check(it != labels.end(), where.c_str(), "unknown label \"{}\" (known: {})", r.label, join(labels, ", "));
  return int64_t(it - labels.begin());
}

}  // namespace kiso
