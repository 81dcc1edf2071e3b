// train/task_data.cpp — JSONL, TSV and CSV readers for fine-tuning data (see task_data.h).
#include "train/task_data.h"

#include <algorithm>
#include <charconv>
#include <cmath>
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

// "FILE, line N": where an error points.
static std::string at_line(const std::string& path, int64_t line) { return fmt::format("{}, line {}", path, line); }

static std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
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

// One row of a delimited file: its fields and the physical line it starts on.
struct Row {
  std::vector<std::string> fields;
  int64_t line = 0;
};

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

// The records of a CSV, RFC 4180: fields separated by commas, records by newlines (LF or CRLF).
// A field that starts with a double quote runs to the matching closing quote and may hold
// commas, newlines and "" (one literal quote); a quote inside an unquoted field is literal.
// Blank lines are skipped.
static std::vector<Row> read_csv_rows(const std::string& text, const std::string& path) {
  std::vector<Row> rows;
  const size_t n = text.size();
  auto line_end = [&](size_t i) { return text[i] == '\n' || (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n'); };
  int64_t line = 1;
  size_t i = 0;
  while (i < n) {
    Row row{{}, line};
    for (;;) {  // one field per pass
      std::string field;
      if (i < n && text[i] == '"') {
        int64_t opened = line;
        for (++i;; ++i) {
          if (i == n) fail(at_line(path, opened).c_str(), "unterminated quoted field: its quote is never closed");
          if (text[i] == '"' && i + 1 < n && text[i + 1] == '"') {
            field += '"';  // "" inside quotes: one quote
            ++i;
          } else if (text[i] == '"') {
            ++i;  // the closing quote
            break;
          } else if (!(text[i] == '\r' && i + 1 < n && text[i + 1] == '\n')) {
            if (text[i] == '\n') ++line;
            field += text[i];
          }
        }
        if (i < n && text[i] != ',' && !line_end(i))
          fail(at_line(path, line).c_str(), "'{}' after a closing quote; a quote inside a quoted field is written \"\"",
               text[i]);
      } else {
        while (i < n && text[i] != ',' && !line_end(i)) field += text[i++];
      }
      row.fields.push_back(std::move(field));
      if (i == n || text[i] != ',') break;
      ++i;
    }
    if (i < n) i += text[i] == '\r' ? 2 : 1, ++line;  // past the record's newline
    if (row.fields.size() > 1 || !row.fields[0].empty()) rows.push_back(std::move(row));
  }
  return rows;
}

// A published file layout, known by the column names of its header row.
struct Layout {
  const char* name;
  TaskKind kind;
  std::vector<std::vector<std::string>> texts;  // each text: its columns, joined by single spaces
  std::string label;                            // the label column; test files leave it out
  std::vector<std::string> others;              // ids and metadata, read past
  enum class Label { as_written, sts_score, one_based } rule = Label::as_written;
};

// GLUE, as its download script writes it. RTE comes before STS-B: a header of only index,
// sentence1 and sentence2 is RTE's test file (STS-B's has its metadata columns too).
static const std::vector<Layout>& glue_layouts() {
  static const std::vector<Layout> layouts = {
      {"GLUE SST-2", TaskKind::classification, {{"sentence"}}, "label", {"index"}},
      {"GLUE RTE", TaskKind::entailment, {{"sentence1"}, {"sentence2"}}, "label", {"index"}},
      {"GLUE MRPC", TaskKind::similarity, {{"#1 String"}, {"#2 String"}}, "Quality", {"index", "#1 ID", "#2 ID"}},
      {"GLUE STS-B", TaskKind::similarity, {{"sentence1"}, {"sentence2"}}, "score",
       {"index", "genre", "filename", "year", "old_index", "source1", "source2"}, Layout::Label::sts_score},
  };
  return layouts;
}

static const Layout& rocstories_layout() {
  static const Layout layout = {
      "ROCStories Cloze Test", TaskKind::multiple_choice,
      {{"InputSentence1", "InputSentence2", "InputSentence3", "InputSentence4"}, {"RandomFifthSentenceQuiz1"},
       {"RandomFifthSentenceQuiz2"}},
      "AnswerRightEnding", {"InputStoryid"}, Layout::Label::one_based};
  return layout;
}

// Whether `header` is `layout`'s: it names every text column, and nothing beyond those, the
// label column and the other known columns (each of which may be absent).
static bool header_matches(const std::vector<std::string>& header, const Layout& layout) {
  auto named = [&](const std::string& c) { return std::find(header.begin(), header.end(), c) != header.end(); };
  for (const auto& text : layout.texts)
    if (!std::all_of(text.begin(), text.end(), named)) return false;
  for (const std::string& c : header) {
    bool known = c == layout.label || std::find(layout.others.begin(), layout.others.end(), c) != layout.others.end();
    for (const auto& text : layout.texts) known = known || std::find(text.begin(), text.end(), c) != text.end();
    if (!known) return false;
  }
  return true;
}

// A label cell as TaskRecord holds it; "" stays "" (no label).
static std::string convert_label(const std::string& cell, const Layout& layout, const std::string& where) {
  if (cell.empty() || layout.rule == Layout::Label::as_written) return cell;
  if (layout.rule == Layout::Label::sts_score) {
    // STS-B's score is the mean of annotators' 0..5 similarity ratings; the similarity head is a
    // classifier, so bin it to the nearest integer class, halves up (std::round): 3.5 -> "4".
    double score = -1;
    auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), score);
    check(ec == std::errc() && end == cell.data() + cell.size() && score >= 0 && score <= 5, where.c_str(),
          "{}: score \"{}\" is not a number in [0, 5]", layout.name, cell);
    return std::to_string(int64_t(std::round(score)));
  }
  // one_based: ROCStories numbers its endings 1 and 2; TaskRecord's label is the 0-based index.
  check(cell == "1" || cell == "2", where.c_str(), "{}: {} is \"{}\", expected 1 or 2", layout.name, layout.label,
        cell);
  return std::to_string(cell[0] - '1');
}

// The records of a file whose first row is `layout`'s header: texts and label by column name.
static std::vector<TaskRecord> read_with_header(const std::vector<Row>& rows, const Layout& layout, TaskKind kind,
                                                const std::string& path, const char* separated) {
  const Row& header = rows.front();
  check(layout.kind == kind, at_line(path, header.line).c_str(), "the header is that of {}, whose task is {}, not {}",
        layout.name, to_string(layout.kind), to_string(kind));
  auto column = [&](const std::string& name) {
    return size_t(std::find(header.fields.begin(), header.fields.end(), name) - header.fields.begin());
  };
  std::vector<TaskRecord> records;
  for (size_t k = 1; k < rows.size(); ++k) {
    const Row& row = rows[k];
    std::string where = at_line(path, row.line);
    check(row.fields.size() == header.fields.size(), where.c_str(),
          "expected {} {} columns as in the {} header on line {}, found {}", header.fields.size(), separated,
          layout.name, header.line, row.fields.size());
    TaskRecord r;
    for (const auto& text : layout.texts) {
      std::vector<std::string> parts;
      for (const std::string& c : text) parts.push_back(row.fields[column(c)]);
      r.texts.push_back(join(parts, " "));
    }
    size_t label = column(layout.label);  // past the end when the file has no label column
    if (label < row.fields.size()) r.label = convert_label(row.fields[label], layout, where);
    r.line = row.line;
    records.push_back(std::move(r));
  }
  return records;
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
  for (const Layout& layout : glue_layouts())
    if (!rows.empty() && header_matches(rows.front().fields, layout))
      return read_with_header(rows, layout, kind, path, "tab-separated");
  std::vector<TaskRecord> records;
  for (const Row& row : rows) {
    records.push_back(parse_tsv_fields(row.fields, kind, at_line(path, row.line)));
    records.back().line = row.line;
  }
  return records;
}

// A .csv is the ROCStories Cloze Test or an error.
static std::vector<TaskRecord> read_csv(const std::string& text, TaskKind kind, const std::string& path) {
  std::vector<Row> rows = read_csv_rows(text, path);
  const Layout& roc = rocstories_layout();
  if (!rows.empty() && header_matches(rows.front().fields, roc))
    return read_with_header(rows, roc, kind, path, "comma-separated");
  fail(at_line(path, rows.empty() ? 1 : rows.front().line).c_str(),
       "a .csv file must be the {}, whose header is InputStoryid,InputSentence1..4,RandomFifthSentenceQuiz1,"
       "RandomFifthSentenceQuiz2[,AnswerRightEnding]; found \"{}\"",
       roc.name, rows.empty() ? "" : join(rows.front().fields, ","));
}

std::vector<TaskRecord> read_task_file(const std::string& path, TaskKind kind) {
  bool jsonl = path.ends_with(".jsonl") || path.ends_with(".json"), csv = path.ends_with(".csv");
  check(jsonl || csv || path.ends_with(".tsv"), "read_task_file", "{}: expected a .jsonl, .tsv or .csv file", path);
  std::string text = read_file(path);
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);  // a UTF-8 byte-order mark (GLUE's MRPC files have one)
  std::vector<TaskRecord> records =
      jsonl ? read_jsonl(text, kind, path) : csv ? read_csv(text, kind, path) : read_tsv(text, kind, path);
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
