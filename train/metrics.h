// train/metrics.h — how good a fine-tuned model's predictions are: accuracy, the confusion
// matrix, per-class precision / recall / F1 (and their macro mean), and the majority-class
// baseline (always answer the most frequent training label) to compare them with.
//
// Per class c: precision = TP / (predicted c), recall = TP / (truly c), F1 their harmonic mean;
// each is 0 where it is undefined (a class never predicted or never present). `kiso evaluate`
// prints format_report, or report_json with --json.
// What it is not: inference (gpt/finetuned.h's predict makes the Predictions scored here).
// Read next: train/commands/evaluate.cpp.
#pragma once

#include <string>
#include <vector>

#include "gpt/finetuned.h"
#include "gpt/json.h"

namespace kiso {

// Accuracy, the confusion matrix and per-class precision / recall / F1 of predictions.
struct EvalReport {
  std::vector<std::string> classes;             // label names (multiple choice: "candidate 0", ...)
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  int64_t examples = 0;
  double accuracy = 0, loss = 0;
  std::vector<double> precision, recall, f1;  // per class
  double macro_f1 = 0;
  std::string majority_label;  // the most frequent training label, and its accuracy here
  double majority_accuracy = 0;
};
// Every example must have a label; throws naming the first that has none.
EvalReport evaluate_predictions(const TaskInfo& info, const std::vector<TaskExample>& examples,
                                const Predictions& predictions);
std::string format_report(const EvalReport& report);  // a few lines for a terminal
Json report_json(const EvalReport& report);

}  // namespace kiso
