// train/task_data.cpp — the JSONL and plain TSV readers of fine-tuning data, and the file
// type dispatch (see task_data.h); GLUE and ROCStories files are train/task_layouts.cpp.
#include "train/task_data.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "gpt/tokenizer.h"
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
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());  // above int64 too: its digits
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  fail(where.c_str(), "\"label\" must be a string or an integer, found {}", describe_json(v));
}

static TaskRecord parse_jsonl_line(std::string_view line, TaskKind kind, const std::string& where) {
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
static std::vector<std::string> split_tabs(std::string_view line) {
  std::vector<std::string> fields(1);
  for (char c : line)
    if (c == '\t')
      fields.emplace_back();
    else
      fields.back().push_back(c);
  return fields;
}

// The columns of a plain TSV row of `kind`, for messages: how many, and their names.
static const char* plain_count(TaskKind kind) {
  return kind == TaskKind::multiple_choice ? "3 or more" : kind == TaskKind::classification ? "2" : "3";
}
static const char* plain_names(TaskKind kind) {
  switch (kind) {
    case TaskKind::classification: return "text, label";
    case TaskKind::entailment: return "premise, hypothesis, label";
    case TaskKind::similarity: return "text_a, text_b, label";
    case TaskKind::multiple_choice: return "context, candidates, label";
  }
  return "?";
}

// Whether a plain TSV row of `kind` may have `n` columns.
static bool plain_column_count(TaskKind kind, size_t n) {
  return kind == TaskKind::multiple_choice ? n >= 3 : n == text_fields(kind).size() + 1;
}

static TaskRecord parse_tsv_fields(const std::vector<std::string>& cols, TaskKind kind, const std::string& where) {
  check(plain_column_count(kind, cols.size()), where.c_str(), "expected {} tab-separated columns for {} ({}), found {}",
        plain_count(kind), to_string(kind), plain_names(kind), cols.size());
  TaskRecord r;
  r.texts.assign(cols.begin(), cols.end() - 1);
  r.label = cols.back();
  return r;
}

// The lines of `text` without their newlines (a CR before the newline dropped: CRLF files),
// each with its 1-based number; blank lines are skipped.
template <class Visit>
static void for_each_line(std::string_view text, Visit visit) {
  int64_t number = 1;
  for (size_t start = 0; start < text.size(); ++number) {
    size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) visit(line, number);
  }
}

// The non-blank lines of a TSV, split at tabs.
static std::vector<Row> read_tsv_rows(std::string_view text) {
  std::vector<Row> rows;
  for_each_line(text, [&](std::string_view line, int64_t number) { rows.push_back({split_tabs(line), number}); });
  return rows;
}

static std::vector<TaskRecord> read_jsonl(std::string_view text, TaskKind kind, const std::string& path) {
  std::vector<TaskRecord> records;
  for_each_line(text, [&](std::string_view line, int64_t number) {
    records.push_back(parse_jsonl_line(line, kind, at_line(path, number)));
    records.back().line = number;
  });
  return records;
}

// The header rule of task_data.h: a plain TSV's first row is a header when its last column is
// named "label", in any case and with any spaces around it.
static bool looks_like_header(const Row& first) {
  std::string_view last = first.fields.back();
  while (!last.empty() && last.front() == ' ') last.remove_prefix(1);
  while (!last.empty() && last.back() == ' ') last.remove_suffix(1);
  return last.size() == 5 && std::equal(last.begin(), last.end(), "label", [](char a, char b) {
           return (a >= 'A' && a <= 'Z' ? char(a - 'A' + 'a') : a) == b;
         });
}

// A .tsv is GLUE when its first line is a GLUE header, else the plain TSV of task_data.h, whose
// first line is a header or an example by the header rule (or as `header` forces it).
static TaskFile read_tsv(std::string_view text, TaskKind kind, const std::string& path, HeaderRow header) {
  std::vector<Row> rows = read_tsv_rows(text);
  if (header != HeaderRow::no)
    if (std::optional<TaskFile> glue = read_glue(rows, kind, path)) return *glue;
  TaskFile file;
  if (rows.empty()) return file;
  bool forced = header != HeaderRow::detect;
  if (header == HeaderRow::yes || (header == HeaderRow::detect && looks_like_header(rows.front()))) {
    const Row& first = rows.front();
    check(plain_column_count(kind, first.fields.size()), at_line(path, first.line).c_str(),
          "the header has {} tab-separated columns, a {} file has {} ({})", first.fields.size(), to_string(kind),
          plain_count(kind), plain_names(kind));
    file.note = fmt::format("{}: first line taken as a header ({}){}", path, join(first.fields, ", "),
                            forced ? " (--header)" : "");
    rows.erase(rows.begin());
  } else {
    file.note = fmt::format("{}: no header row ({}); line {} read as an example", path,
                            forced ? "--no-header" : fmt::format("line {}'s last column is not \"label\"",
                                                                 rows.front().line),
                            rows.front().line);
  }
  for (const Row& row : rows) {
    file.records.push_back(parse_tsv_fields(row.fields, kind, at_line(path, row.line)));
    file.records.back().line = row.line;
  }
  return file;
}

TaskFile parse_task_data(std::string_view text, const std::string& path, TaskKind kind, HeaderRow header) {
  bool jsonl = path.ends_with(".jsonl") || path.ends_with(".json"), csv = path.ends_with(".csv");
  check(jsonl || csv || path.ends_with(".tsv"), "read_task_file", "{}: expected a .jsonl, .tsv or .csv file", path);
  check(!jsonl || header == HeaderRow::detect, path.c_str(),
        "--header and --no-header apply to .tsv files; a JSONL file has no header row");
  check(!csv || header != HeaderRow::no, path.c_str(),
        "--no-header does not apply: a .csv file is the ROCStories Cloze Test, whose first line is its header");
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a UTF-8 byte-order mark (GLUE's MRPC files have one)
  check_utf8_file(text, path);  // every text goes to the tokenizer: say here where a bad byte is
  TaskFile file = jsonl ? TaskFile{read_jsonl(text, kind, path), ""}
                  : csv ? read_rocstories(text, kind, path)
                        : read_tsv(text, kind, path, header);
  const std::vector<TaskRecord>& records = file.records;
  check(!records.empty(), "read_task_file", "{} holds no examples", path);
  if (kind == TaskKind::multiple_choice)
    for (const TaskRecord& r : records)
      check(r.texts.size() == records.front().texts.size(), at_line(path, r.line).c_str(),
            "{} candidates, but line {} has {}; every example needs the same number", r.texts.size() - 1,
            records.front().line, records.front().texts.size() - 1);
  return file;
}

TaskFile read_task_data(const std::string& path, TaskKind kind, HeaderRow header) {
  bool known = path.ends_with(".jsonl") || path.ends_with(".json") || path.ends_with(".csv") || path.ends_with(".tsv");
  check(known, "read_task_file", "{}: expected a .jsonl, .tsv or .csv file", path);  // before opening it
  return parse_task_data(read_file(path), path, kind, header);
}

std::vector<TaskRecord> read_task_file(const std::string& path, TaskKind kind) {
  return read_task_data(path, kind).records;
}

// ---- labels ----

// An integer label as task_data.h defines one: an optional '-', then one or more digits.
static bool is_integer_label(std::string_view s) {
  size_t digits = !s.empty() && s[0] == '-' ? 1 : 0;
  return digits < s.size() && std::all_of(s.begin() + long(digits), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// a < b by value, for integer labels of any length: compared as digit strings (sign, then
// length without leading zeros, then digits), so nothing is converted and nothing overflows.
static bool integer_less(std::string_view a, std::string_view b) {
  auto magnitude = [](std::string_view s) {
    if (s[0] == '-') s.remove_prefix(1);
    while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
    return s;
  };
  std::string_view ma = magnitude(a), mb = magnitude(b);
  bool negative_a = a[0] == '-' && ma != "0", negative_b = b[0] == '-' && mb != "0";  // "-0" is 0
  if (negative_a != negative_b) return negative_a;
  bool smaller = ma.size() != mb.size() ? ma.size() < mb.size() : ma < mb;
  bool larger = ma.size() != mb.size() ? ma.size() > mb.size() : ma > mb;
  return negative_a ? larger : smaller;
}

std::vector<std::string> label_set(const std::vector<TaskRecord>& records, TaskKind kind) {
  if (kind == TaskKind::multiple_choice) return {};
  std::vector<std::string> labels;
  for (const TaskRecord& r : records)
    if (!r.label.empty() && std::find(labels.begin(), labels.end(), r.label) == labels.end()) labels.push_back(r.label);
  // One order for the whole set, so the comparator is a strict weak order (see task_data.h):
  // numeric (ties by text) when every label is an integer, else byte order of the text.
  if (std::all_of(labels.begin(), labels.end(), [](const std::string& l) { return is_integer_label(l); }))
    std::sort(labels.begin(), labels.end(), [](const std::string& a, const std::string& b) {
      return integer_less(a, b) || (!integer_less(b, a) && a < b);
    });
  else
    std::sort(labels.begin(), labels.end());
  return labels;
}

int64_t label_index(const TaskRecord& r, const std::vector<std::string>& labels, TaskKind kind, const std::string& path,
                    int64_t candidates) {
  std::string where = at_line(path, r.line);
  if (kind == TaskKind::multiple_choice) {
    // digits only: from_chars alone would take a '-' sign
    int64_t k = -1;
    const char *first = r.label.data(), *last = first + r.label.size();
    bool digits = !r.label.empty() && std::all_of(first, last, [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::from_chars(first, last, k).ec != std::errc()) k = -1;  // out of range: not an index
    check(k >= 0 && k < candidates, where.c_str(), "label \"{}\" is not a candidate index 0..{}", r.label,
          candidates - 1);
    return k;
  }
  auto it = std::find(labels.begin(), labels.end(), r.label);
  check(it != labels.end(), where.c_str(), "unknown label \"{}\" (known: {})", r.label, join(labels, ", "));
  return int64_t(it - labels.begin());
}

}  // namespace kiso
