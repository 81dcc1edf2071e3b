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
//
// Header rows. One rule for every command that reads these files (finetune, evaluate,
// predict): a published layout's header is known by its column names (above); a plain .tsv's
// first non-blank line is a header when its last column is named "label" (any case, e.g.
// "text<TAB>label", "premise<TAB>hypothesis<TAB>Label"), and an example otherwise. A command
// may force it either way (--header, --no-header: HeaderRow::yes / no). What was decided comes
// back as TaskFile::note for the command to print, e.g.
//   "train.tsv: first line taken as a header (text, label)"
// JSONL has no header row; a ROCStories .csv always has one.
//
// Labels. Any text is a label (a JSON integer is its decimal digits, however large). The class
// order, which fixes the head's output index of each class, is a strict weak order chosen for
// the whole set: when every label is an integer (an optional '-', then digits) numeric order, of
// any length and never overflowing ("-12" < "-3" < "5" < "99999999999999999999"; equal values
// written differently, "01" and "1", by their text); otherwise plain byte order of the text
// ("10" < "1a" < "9" < "b"). A multiple-choice label is a decimal candidate index 0..K-1,
// nothing else ("+1", " 1", "1.0" are refused).
//
// Text. Every file must be UTF-8 (a byte-order mark at the start is dropped); a bad byte is an
// error naming the file, the line and the byte (gpt/tokenizer.h check_utf8_file).
// What it is not: the other GLUE layouts (CoLA, MNLI, QNLI, QQP), the ROCStories training
// stories (no endings to choose from), or a tokenizer (gpt/ encodes).
// Read next: task_data.cpp (JSONL, plain TSV), task_layouts.h (GLUE, ROCStories).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gpt/tasks.h"

namespace kiso {

struct TaskRecord {
  std::vector<std::string> texts;  // in the order of gpt/tasks.h's TaskExample::pieces
  std::string label;               // as written (STS-B binned, ROCStories 0-based); "" if none
  int64_t line = 0;                // 1-based physical line (a CSV record: the line it starts on)
};

// Whether a plain .tsv's first line is a header row: by the rule above, or as a command forces it.
enum class HeaderRow { detect, yes, no };

// A task file as read: its records and what the reader decided about a header row ("" when
// there was nothing to decide, as for JSONL), for the command to print.
struct TaskFile {
  std::vector<TaskRecord> records;
  std::string note;
};

// Reads `path` (.jsonl, .tsv or .csv) as examples of `kind`.
TaskFile read_task_data(const std::string& path, TaskKind kind, HeaderRow header = HeaderRow::detect);
// The same reader on text already in memory (tests, fuzzing): `path` chooses the format by its
// extension and names the text in errors; no file is opened.
TaskFile parse_task_data(std::string_view text, const std::string& path, TaskKind kind,
                         HeaderRow header = HeaderRow::detect);
// read_task_data(path, kind).records: the examples, with the header rule applied.
std::vector<TaskRecord> read_task_file(const std::string& path, TaskKind kind);

// The class names of a task: for multiple choice none (labels are indices); otherwise the
// distinct non-empty labels of `records` in the class order above (numeric when all are
// integers, else text), so that a training file fixes the label <-> index map that a model
// directory then records.
std::vector<std::string> label_set(const std::vector<TaskRecord>& records, TaskKind kind);

// The index of a record's label in `labels` (or the candidate index for multiple choice).
// Throws naming the file and line when the label is unknown or out of range.
int64_t label_index(const TaskRecord& record, const std::vector<std::string>& labels, TaskKind kind,
                    const std::string& path, int64_t candidates);

}  // namespace kiso
