// train/task_layouts.cpp — the published layouts of fine-tuning data: GLUE's TSVs and the
// ROCStories Cloze Test CSV, known by their header rows (see task_data.h for the layouts,
// task_layouts.h for what this file offers).
#include "train/task_layouts.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "base/check.h"

namespace kiso {

// The records of a CSV, RFC 4180: fields separated by commas, records by newlines (LF or CRLF).
// A field that starts with a double quote runs to the matching closing quote and may hold
// commas, newlines and "" (one literal quote); a quote inside an unquoted field is literal.
// Blank lines are skipped.
static std::vector<Row> read_csv_rows(std::string_view text, const std::string& path) {
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

// What the reader says about a published layout's header.
static std::string header_note(const std::string& path, const Layout& layout) {
  return fmt::format("{}: first line taken as the {} header", path, layout.name);
}

std::optional<TaskFile> read_glue(const std::vector<Row>& rows, TaskKind kind, const std::string& path) {
  for (const Layout& layout : glue_layouts())
    if (!rows.empty() && header_matches(rows.front().fields, layout))
      return TaskFile{read_with_header(rows, layout, kind, path, "tab-separated"), header_note(path, layout)};
  return std::nullopt;
}

TaskFile read_rocstories(std::string_view text, TaskKind kind, const std::string& path) {
  std::vector<Row> rows = read_csv_rows(text, path);
  const Layout& roc = rocstories_layout();
  if (!rows.empty() && header_matches(rows.front().fields, roc))
    return {read_with_header(rows, roc, kind, path, "comma-separated"), header_note(path, roc)};
  fail(at_line(path, rows.empty() ? 1 : rows.front().line).c_str(),
       "a .csv file must be the {}, whose header is InputStoryid,InputSentence1..4,RandomFifthSentenceQuiz1,"
       "RandomFifthSentenceQuiz2[,AnswerRightEnding]; found \"{}\"",
       roc.name, rows.empty() ? "" : join(rows.front().fields, ","));
}

}  // namespace kiso
