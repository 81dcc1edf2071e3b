// train/task_data.h — fine-tuning data files, per task: JSONL, TSV, and the GLUE and ROCStories files.
//
//   task              JSONL fields                                   TSV columns
//   classification    {"text", "label"}                              text  label
//   entailment        {"premise", "hypothesis", "label"}             premise  hypothesis  label
//   similarity        {"text_a", "text_b", "label"}                  text_a  text_b  label
//   multiple-choice   {"context", "candidates": [...], "label"}       context  cand_1 .. cand_K  label
// A label is a string (a class name) or an integer; for multiple choice it is the index of the
// right candidate (0-based). The format follows the file's extension (.jsonl, .tsv, .csv). Every
// bad row is an error naming the file and the line: a missing field, a wrong type, an unknown
// label, a different number of candidates than the first row.
//
// Published layouts, read as they are downloaded, known by their header row:
//   .tsv  GLUE (unquoted: a field is everything between two tabs)
//     SST-2  classification  sentence; label
//     RTE    entailment      sentence1, sentence2; label (entailment / not_entailment; WNLI too)
//     MRPC   similarity      #1 String, #2 String; Quality (0 / 1)
//     STS-B  similarity      sentence1, sentence2; score in [0, 5], binned to the nearest
//                            integer, halves up: 3.4 -> "3", 3.5 -> "4" (the head is a classifier)
//   .csv  ROCStories Cloze Test (RFC 4180 quoting: "a, b" and "" for one quote)
//           multiple choice  context = InputSentence1..4 joined by spaces;
//                            candidates = RandomFifthSentenceQuiz1, 2; AnswerRightEnding 1/2 -> "0"/"1"
// Columns are found by name, in any order; an index, id or metadata column is read past; a test
// file without the label column gives label "". A .tsv whose first line is not a GLUE header is
// the plain TSV above; a header of another task's layout is an error, as is a row with a
// different number of columns than its header.
// What it is not: the other GLUE layouts (CoLA, MNLI, QNLI, QQP), the ROCStories training
// stories (no endings to choose from), or a tokenizer (gpt/ encodes).
// Read next: task_data.cpp (JSONL, plain TSV), task_layouts.h (GLUE, ROCStories).
#pragma once

#include <string>
#include <vector>

#include "gpt/tasks.h"

namespace kiso {

struct TaskRecord {
  std::vector<std::string> texts;  // in the order of gpt/tasks.h's TaskExample::pieces
  std::string label;               // as written (STS-B binned, ROCStories 0-based); "" if none
  int64_t line = 0;                // 1-based physical line (a CSV record: the line it starts on)
};

// Reads `path` (.jsonl, .tsv or .csv) as examples of `kind`.
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
