// train/metrics.cpp — accuracy, per-class precision / recall / F1, the confusion matrix and the
// majority-class baseline of a fine-tuned model's predictions (see metrics.h).
#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kiso {

// The names of the head's outputs: the labels, or "candidate k" for multiple choice.
static std::vector<std::string> class_names(const TaskInfo& info) {
  if (info.kind != TaskKind::multiple_choice) return info.labels;
  std::vector<std::string> names;
  for (int64_t k = 0; k < info.candidates; ++k) names.push_back(fmt::format("candidate {}", k));
  return names;
}

// Per class c of the confusion matrix: precision, recall and F1 (see metrics.h).
static void add_class_scores(EvalReport& r) {
  size_t K = r.classes.size();
  for (size_t c = 0; c < K; ++c) {
    int64_t tp = r.confusion[c][c], truly = 0, predicted = 0;
    for (size_t o = 0; o < K; ++o) truly += r.confusion[c][o], predicted += r.confusion[o][c];
    double p = predicted ? double(tp) / double(predicted) : 0, rec = truly ? double(tp) / double(truly) : 0;
    r.precision.push_back(p);
    r.recall.push_back(rec);
    r.f1.push_back(p + rec > 0 ? 2 * p * rec / (p + rec) : 0);
  }
  r.macro_f1 = std::accumulate(r.f1.begin(), r.f1.end(), 0.0) / double(K);
}

// The majority-class baseline: always answer the most frequent training label (none when the
// model recorded no training label counts).
static void add_majority_baseline(EvalReport& r, const TaskInfo& info, const std::vector<TaskExample>& examples) {
  int64_t best = -1;
  for (const auto& [label, count] : info.train_label_counts)
    if (count > best) best = count, r.majority_label = label;
  if (best < 0) return;
  int64_t index = -1;
  if (info.kind == TaskKind::multiple_choice) index = std::stoll(r.majority_label);
  else index = int64_t(std::find(info.labels.begin(), info.labels.end(), r.majority_label) - info.labels.begin());
  int64_t hits = 0;
  for (const TaskExample& e : examples) hits += e.label == index;
  r.majority_accuracy = double(hits) / double(r.examples);
}

EvalReport evaluate_predictions(const TaskInfo& info, const std::vector<TaskExample>& examples,
                                const Predictions& predictions) {
  check(!examples.empty() && examples.size() == predictions.predicted.size(), "evaluate",
        "{} examples but {} predictions", examples.size(), predictions.predicted.size());
  EvalReport r;
  r.classes = class_names(info);
  size_t K = r.classes.size();
  r.confusion.assign(K, std::vector<int64_t>(K, 0));
  r.examples = int64_t(examples.size());
  r.loss = predictions.loss;
  int64_t right = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    check(examples[i].label >= 0, "evaluate", "example {} has no label; evaluate needs a labelled file", i + 1);
    r.confusion[size_t(examples[i].label)][size_t(predictions.predicted[i])] += 1;
    right += examples[i].label == predictions.predicted[i];
  }
  r.accuracy = double(right) / double(r.examples);
  add_class_scores(r);
  add_majority_baseline(r, info, examples);
  return r;
}

std::string format_report(const EvalReport& r) {
  std::string out = fmt::format("examples {} | accuracy {:.4f} | loss {:.4f} | macro F1 {:.4f}\n", r.examples,
                                r.accuracy, r.loss, r.macro_f1);
  if (r.classes.size() == 2)
    out += fmt::format("F1 (positive class \"{}\") {:.4f}\n", r.classes[1], r.f1[1]);
  if (!r.majority_label.empty())
    out += fmt::format("majority-class baseline (always \"{}\"): accuracy {:.4f}\n", r.majority_label,
                       r.majority_accuracy);
  size_t width = 12;
  for (const std::string& c : r.classes) width = std::max(width, c.size() + 2);
  out += fmt::format("{:<{}}{:>10}{:>10}{:>10}{:>10}\n", "class", width, "precision", "recall", "F1", "support");
  for (size_t c = 0; c < r.classes.size(); ++c) {
    int64_t support = std::accumulate(r.confusion[c].begin(), r.confusion[c].end(), int64_t(0));
    out += fmt::format("{:<{}}{:>10.4f}{:>10.4f}{:>10.4f}{:>10}\n", r.classes[c], width, r.precision[c], r.recall[c],
                       r.f1[c], support);
  }
  out += "confusion matrix (rows: true class, columns: predicted)\n";
  out += fmt::format("{:<{}}", "", width);
  for (const std::string& c : r.classes) out += fmt::format("{:>{}}", c, std::max<size_t>(c.size() + 2, 8));
  out += "\n";
  for (size_t t = 0; t < r.classes.size(); ++t) {
    out += fmt::format("{:<{}}", r.classes[t], width);
    for (size_t p = 0; p < r.classes.size(); ++p)
      out += fmt::format("{:>{}}", r.confusion[t][p], std::max<size_t>(r.classes[p].size() + 2, 8));
    out += "\n";
  }
  return out;
}

Json report_json(const EvalReport& r) {
  Json j{{"examples", r.examples}, {"accuracy", r.accuracy}, {"macro_f1", r.macro_f1},
         {"classes", r.classes},   {"confusion", r.confusion}, {"precision", r.precision},
         {"recall", r.recall},     {"f1", r.f1}};
  j["loss"] = std::isfinite(r.loss) ? Json(r.loss) : Json(nullptr);
  if (!r.majority_label.empty()) j["majority"] = {{"label", r.majority_label}, {"accuracy", r.majority_accuracy}};
  return j;
}

}  // namespace kiso
