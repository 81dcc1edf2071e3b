// train/commands/predict.cpp — `kiso predict`: a fine-tuned model's answers for a task file, one
// JSON line per example: its line in the file, the predicted label (multiple choice: the
// candidate's index) and the probability of each class. The lines go to stdout, or to --out.
// With --json, stdout holds one JSON object instead: {"predictions": [the same objects]}, or,
// with --out, {"out": FILE, "predictions": N} (the lines still go to FILE).
// The file is read by the one task-data reader (train/task_data.h): a plain .tsv's header row is
// detected (--header / --no-header force it) and the decision is said on stderr. The options are
// checked before the model loads: --model a directory, --input a file, --out writable.
// What it is not: a score (kiso evaluate); any labels in the file are ignored.
#include <iostream>

#include <fmt/core.h>

#include "gpt/atomic_file.h"
#include "gpt/finetuned.h"
#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/option_checks.h"
#include "train/finetune.h"

namespace kiso {

namespace {

struct Options {
  std::string model_dir;  // a fine-tuned model directory
  std::string input;      // the task file
  std::string out;        // the JSONL file; empty: stdout
  HeaderRow header = HeaderRow::detect;  // --header / --no-header
  std::string device = "cpu";
  bool as_json = false;
};

}  // namespace

// {"line": 3, "prediction": "yes", "probabilities": {"no": 0.2, "yes": 0.8}}; for multiple
// choice the prediction is the candidate's index and the probabilities a list.
static Json prediction_json(const TaskInfo& info, const TaskRecord& record, const std::vector<double>& probs,
                            int64_t predicted) {
  Json row{{"line", record.line}};
  if (info.kind == TaskKind::multiple_choice) {
    row["prediction"] = predicted;
    row["probabilities"] = probs;
  } else {
    row["prediction"] = info.labels[size_t(predicted)];
    Json by_label = Json::object();
    for (size_t c = 0; c < info.labels.size(); ++c) by_label[info.labels[c]] = probs[c];
    row["probabilities"] = by_label;
  }
  return row;
}

static int run_predict(const Options& o) {
  require_dir(o.model_dir, "predict", "--model", "a fine-tuned model directory");
  require_file(o.input, "predict", "--input");
  if (!o.out.empty()) require_writable_file(o.out, "predict", "--out");
  Device device = start_device(o.device, "predict");
  FinetunedModel m = load_finetuned(o.model_dir, device);
  TaskFile file = read_task_data(o.input, m.info.kind,
                                 o.header);
  if (!file.note.empty()) fmt::print(stderr, "{}\n", file.note);
  std::vector<TaskRecord>& records = file.records;
  for (TaskRecord& r : records) r.label.clear();  // predict ignores any labels the file has
  Predictions p = predict(m, encode_records(records, m.info, m.tokenizer, o.input));
  Json rows = Json::array();
  std::string lines;
  for (size_t i = 0; i < records.size(); ++i) {
    rows.push_back(prediction_json(m.info, records[i], p.probs[i], p.predicted[i]));
    lines += rows.back().dump() + "\n";
  }
  if (o.out.empty()) {
    if (o.as_json) std::cout << Json{{"predictions", rows}} << "\n";
    else std::cout << lines;
    return 0;
  }
  write_file_atomic(o.out, lines);
  fmt::print(stderr, "wrote {} predictions to {}\n", records.size(), o.out);
  if (o.as_json) std::cout << Json{{"out", o.out}, {"predictions", records.size()}} << "\n";
  return 0;
}

void add_predict(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("predict", "a fine-tuned model's answers for a task file (JSONL)");
  command->add_option("--model", options->model_dir, "a fine-tuned model directory (RUN/model)")->required();
  command->add_option("--input", options->input, "examples (their labels, if any, are ignored)")->required();
  command->add_option("--out", options->out, "write the JSONL here instead of stdout");
  add_header_flags(*command, options->header);
  add_device_option(*command, options->device);
  add_json_flag(*command, options->as_json,
                "print {\"predictions\": [...]} (with --out: {\"out\", \"predictions\": N}) as one JSON object");
  command->callback([options] { exit_with(run_predict(*options)); });
}

}  // namespace kiso
