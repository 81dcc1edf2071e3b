// tests/fuzz/fuzz_task_data.h — the body shared by the three task-data targets
// (fuzz_task_jsonl, fuzz_task_tsv, fuzz_task_csv): one per file extension, because the
// extension picks the reader (train/task_data.h).
//
// Feeds: the input bytes as a task file with the target's extension (written to a scratch file
// in /dev/shm: read_task_file takes a path), read once as each of the four task kinds, then
// the labels through label_set and label_index as fine-tuning uses them.
// Asserts: no crash, no sanitizer report, no hang, only kiso::Error escapes (tests/fuzz/fuzz.h:
// std::invalid_argument from std::stoll on a label is a finding); and on a file the reader
// accepts: at least one record, each with a line >= 1 and the number of texts its kind has
// (1 for classification, 2 for entailment and similarity, context + >= 1 candidates for
// multiple choice), label_set sorted without repeats, and every non-empty label found by
// label_index (label_set was built from these very records).
#pragma once

#include <set>

#include "tests/fuzz/fuzz.h"
#include "train/task_data.h"

namespace kiso::fuzz {

inline void fuzz_task_file(const char* target, const char* extension, const uint8_t* data, size_t size) {
  std::string path = write_scratch(std::string("input") + extension, as_view(data, size));
  for (TaskKind kind : {TaskKind::classification, TaskKind::entailment, TaskKind::similarity,
                        TaskKind::multiple_choice}) {
    expect_only_kiso_errors(target, [&] {
      std::vector<TaskRecord> records = read_task_file(path, kind);
      require(!records.empty(), target, "an accepted task file holds at least one record");
      for (const TaskRecord& r : records) {
        require(r.line >= 1, target, "a record's line is 1-based");
        size_t n = r.texts.size();
        bool right = kind == TaskKind::classification ? n == 1
                     : kind == TaskKind::multiple_choice ? n >= 2
                                                         : n == 2;
        require(right, target, "a record holds the number of texts its task kind has");
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
