// train/task_layouts.h — the published layouts of fine-tuning data, read as they are
// downloaded: GLUE's TSVs (SST-2, RTE, MRPC, STS-B) and the ROCStories Cloze Test CSV. Each is
// known by the column names of its header row; task_data.h documents them for users.
//
// What it is: the part of read_task_file (train/task_data.h) that knows these files: a CSV
// reader (RFC 4180 quoting), the table of layouts, and the reading of rows by column name.
// What it is not: the JSONL and plain TSV readers, or the choice by file extension
// (train/task_data.cpp); nothing outside train/task_data.cpp needs this header.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "train/task_data.h"

namespace kiso {

// One row of a delimited file: its fields and the physical line it starts on.
struct Row {
  std::vector<std::string> fields;
  int64_t line = 0;
};

// The records of a .tsv whose first row is a GLUE header, with the note naming the layout;
// nullopt when it is not one (the file is then the plain TSV of task_data.h).
std::optional<TaskFile> read_glue(const std::vector<Row>& rows, TaskKind kind, const std::string& path);

// The records of a .csv, which must be the ROCStories Cloze Test; anything else is an error
// naming the header it expected.
TaskFile read_rocstories(std::string_view text, TaskKind kind, const std::string& path);

// "FILE, line N": where an error points.
inline std::string at_line(const std::string& path, int64_t line) { return fmt::format("{}, line {}", path, line); }

}  // namespace kiso
