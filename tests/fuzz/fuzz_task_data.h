// tests/fuzz/fuzz_task_data.h — the body shared by the three task-data targets
// (fuzz_task_jsonl, fuzz_task_tsv, fuzz_task_csv): one per file extension, because the
// extension picks the reader (train/task_data.h).
//
// Feeds: the input bytes as the text of a task file named "fuzz<extension>" to parse_task_data
// (in memory; read_task_data is read_file + parse_task_data), once as each of the four task
// kinds with the header row detected, then the labels through label_set and label_index as
// fine-tuning uses them; and again for each kind with the header row forced (HeaderRow::yes,
// HeaderRow::no), as --header and --no-header do.
// Asserts: no crash, no sanitizer report, no hang, only kiso::Error escapes (tests/fuzz/fuzz.h:
// std::invalid_argument from std::stoll on a label is a finding); and on a file the reader
// accepts: at least one record, each with a line >= 1 and the number of texts its kind has
// (1 for classification, 2 for entailment and similarity, context + >= 1 candidates for
// multiple choice), label_set sorted without repeats, and every non-empty label found by
// label_index (label_set was built from these very records). The header rule: JSONL refuses
// both forced modes and has no note, .csv refuses --no-header; a .tsv always says what it
// decided (a note), and what detection accepts is exactly what forcing its decision gives (the
// same records as HeaderRow::yes when it took a header, GLUE's included, as HeaderRow::no
// when it did not).
#pragma once

#include <optional>
#include <set>

#include "tests/fuzz/fuzz.h"
#include "train/task_data.h"

namespace kiso::fuzz {

inline bool same_records(const std::vector<TaskRecord>& a, const std::vector<TaskRecord>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].texts != b[i].texts || a[i].label != b[i].label || a[i].line != b[i].line) return false;
  return true;
}

// The records of parse_task_data with `header` forced, or nullopt when it refused the text.
inline std::optional<TaskFile> parse_forced(const char* target, std::string_view text, const std::string& path,
                                            TaskKind kind, HeaderRow header) {
  std::optional<TaskFile> file;
  expect_only_kiso_errors(target, [&] { file = parse_task_data(text, path, kind, header); });
  return file;
}

inline void fuzz_task_file(const char* target, const char* extension, const uint8_t* data, size_t size) {
  const std::string path = std::string("fuzz") + extension;
  const std::string_view text = as_view(data, size);
  const bool jsonl = path.ends_with(".jsonl"), csv = path.ends_with(".csv");
  for (TaskKind kind : {TaskKind::classification, TaskKind::entailment, TaskKind::similarity,
                        TaskKind::multiple_choice}) {
    std::optional<TaskFile> forced_yes = parse_forced(target, text, path, kind, HeaderRow::yes);
    std::optional<TaskFile> forced_no = parse_forced(target, text, path, kind, HeaderRow::no);
    require(!(jsonl && (forced_yes || forced_no)), target, "a .jsonl file refuses --header and --no-header");
    require(!(csv && forced_no), target, "a .csv file refuses --no-header");
    expect_only_kiso_errors(target, [&] {
      TaskFile file = parse_task_data(text, path, kind, HeaderRow::detect);
      const std::vector<TaskRecord>& records = file.records;
      require(!records.empty(), target, "an accepted task file holds at least one record");
      for (const TaskRecord& r : records) {
        require(r.line >= 1, target, "a record's line is 1-based");
        size_t n = r.texts.size();
        bool right = kind == TaskKind::classification ? n == 1
                     : kind == TaskKind::multiple_choice ? n >= 2
                                                         : n == 2;
        require(right, target, "a record holds the number of texts its task kind has");
      }
      if (jsonl) {
        require(file.note.empty(), target, "a .jsonl file has no header note");
      } else if (csv) {
        require(forced_yes && same_records(forced_yes->records, records), target,
                "a .csv file reads the same with --header as without");
      } else {
        bool took_header = file.note.find(": first line taken as ") != std::string::npos;
        require(took_header || file.note.find(": no header row (") != std::string::npos, target,
                "a .tsv file's note says whether the first line was a header");
        const std::optional<TaskFile>& forced = took_header ? forced_yes : forced_no;
        require(forced && same_records(forced->records, records), target,
                "a detected header decision reads the same as forcing it (--header / --no-header)");
      }
      std::vector<std::string> labels = label_set(records, kind);
      require(std::set<std::string>(labels.begin(), labels.end()).size() == labels.size(), target,
              "label_set has no repeats");
      for (const TaskRecord& r : records) {
        if (kind == TaskKind::multiple_choice) {
          expect_only_kiso_errors(target, [&] {
            int64_t k = label_index(r, labels, kind, path, int64_t(r.texts.size()) - 1);
            require(k >= 0 && k < int64_t(r.texts.size()) - 1, target, "a candidate index is in range");
          });
        } else if (!r.label.empty()) {
          int64_t k = label_index(r, labels, kind, path, 0);
          require(labels[size_t(k)] == r.label, target, "label_index finds every label of label_set's records");
        }
      }
    });
  }
}

}  // namespace kiso::fuzz
