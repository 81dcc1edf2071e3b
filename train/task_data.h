// train/task_data.h — fine-tuning data files: one example per line, JSONL or TSV, per task.
//
//   task              JSONL fields                                   TSV columns
//   classification    {"text", "label"}                              text  label
//   entailment        {"premise", "hypothesis", "label"}             premise  hypothesis  label
//   similarity        {"text_a", "text_b", "label"}                  text_a  text_b  label
//   multiple-choice   {"context", "candidates": [...], "label"}       context  cand_1 .. cand_K  label
// A label is a string (a class name) or an integer; for multiple choice it is the index of the
// right candidate (0-based). The format follows the file's extension (.jsonl, .tsv). Every bad
// row is an error naming the file and the line: a missing field, a wrong type, an unknown label,
// a different number of candidates than the first row.
// What it is not: the GLUE / ROCStories column layouts (next), or a tokenizer (gpt/ encodes).
#pragma once

#include <string>
#include <vector>

#include "gpt/tasks.h"

namespace kiso {

struct TaskRecord {
  std::vector<std::string> texts;  // in the order of gpt/tasks.h's TaskExample::pieces
  std::string label;               // as written; "" when the file has no label (prediction)
  int64_t line = 0;                // 1-based, for error messages
};

// Reads `path` (.jsonl or .tsv) as examples of `kind`.
std::vector<TaskRecord> read_task_file(const std::string& path, TaskKind kind);

// The class names of a task: for multiple choice none (labels are indices); otherwise the
// distinct labels of `records` in sorted order (integers sort numerically), so that a training
// file fixes the label <-> index map that a model directory then records.
std::vector<std::string> label_set(const std::vector<TaskRecord>& records, TaskKind kind);

// The index of a record's label in `labels` (or the candidate index for multiple choice).
// Throws naming the file and line when the label is unknown or out of range.
int64_t label_index(const TaskRecord& record, const std::vector<std::string>& labels, TaskKind kind,
                    const std::string& path, int64_t candidates);

}  // namespace kiso
