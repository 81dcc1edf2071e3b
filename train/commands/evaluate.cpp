// train/commands/evaluate.cpp — `kiso evaluate`: a fine-tuned model on a labelled task file:
// accuracy, loss, per-class precision / recall / F1, the confusion matrix and the majority-class
// baseline (train/metrics.h), as a few lines or, with --json, one object.
// The file is read by the one task-data reader (train/task_data.h), as finetune and predict read
// it: a plain .tsv's header row is detected (--header / --no-header force it) and the decision
// is said on stderr.
// What it is not: the language-model loss of a model (kiso eval), or prediction on unlabelled
// examples (kiso predict).
#include <iostream>

#include <fmt/core.h>

#include "gpt/finetuned.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/option_checks.h"
#include "train/finetune.h"
#include "train/metrics.h"

namespace kiso {

namespace {

struct Options {
  std::string model_dir;  // a fine-tuned model directory
  std::string data;       // labelled examples
  HeaderRow header = HeaderRow::detect;  // --header / --no-header
  std::string device = "cpu";
  bool as_json = false;
};

}  // namespace

static int run_evaluate(const Options& o) {
  require_dir(o.model_dir, "evaluate", "--model", "a fine-tuned model directory");
  require_file(o.data, "evaluate", "--data");
  Device device = start_device(o.device, "evaluate");
  FinetunedModel m = load_finetuned(o.model_dir, device);
  TaskFile file = read_task_data(o.data, m.info.kind,
                                 o.header);
  if (!file.note.empty()) fmt::print(stderr, "{}\n", file.note);
  const std::vector<TaskRecord>& records = file.records;
  for (const TaskRecord& r : records)
    check(!r.label.empty(), o.data.c_str(), "line {} has no label; evaluate needs a labelled file (predict does not)",
          r.line);
  std::vector<TaskExample> examples = encode_records(records, m.info, m.tokenizer, o.data);
  EvalReport report = evaluate_predictions(m.info, examples, predict(m, examples));
  if (o.as_json) std::cout << report_json(report).dump() << "\n";
  else std::cout << format_report(report);
  return 0;
}

void add_evaluate(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("evaluate", "accuracy, F1 and confusion matrix on a labelled task file");
  command->add_option("--model", options->model_dir, "a fine-tuned model directory (RUN/model)")->required();
  command->add_option("--data", options->data, "labelled examples")->required();
  add_header_flags(*command, options->header);
  add_device_option(*command, options->device);
  add_json_flag(*command, options->as_json, "print the report as one JSON object");
  command->callback([options] { exit_with(run_evaluate(*options)); });
}

}  // namespace kiso
