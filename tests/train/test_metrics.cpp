// tests/train/test_metrics.cpp — the scores `kiso evaluate` reports: accuracy, the confusion
// matrix, per-class precision / recall / F1 and the majority-class baseline, on predictions
// made up by hand. Oracle: a hand count.
#include <doctest/doctest.h>

#include "train/metrics.h"

using namespace kiso;

TEST_SUITE("train") {

TEST_CASE("evaluate: accuracy, per-class F1 and the confusion matrix match a hand count") {
  TaskInfo info;
  info.labels = {"neg", "pos"};
  info.train_label_counts = {{"neg", 3}, {"pos", 7}};
  std::vector<TaskExample> ex;
  std::vector<int64_t> truth = {1, 1, 1, 0, 0, 1}, guess = {1, 0, 1, 0, 1, 1};
  for (int64_t t : truth) ex.push_back({{}, t});
  Predictions p;
  p.predicted = guess;
  p.loss = 0.5;
  EvalReport r = evaluate_predictions(info, ex, p);
  // true pos 4 (3 found), true neg 2 (1 found); predicted pos 4 (3 right), predicted neg 2 (1 right)
  CHECK(r.confusion == std::vector<std::vector<int64_t>>{{1, 1}, {1, 3}});
  CHECK(r.accuracy == doctest::Approx(4.0 / 6));
  CHECK(r.precision[1] == doctest::Approx(0.75));
  CHECK(r.recall[1] == doctest::Approx(0.75));
  CHECK(r.f1[0] == doctest::Approx(0.5));  // precision 1/2, recall 1/2
  CHECK(r.macro_f1 == doctest::Approx((0.5 + 0.75) / 2));
  CHECK(r.majority_label == "pos");
  CHECK(r.majority_accuracy == doctest::Approx(4.0 / 6));
  std::string text = format_report(r);
  CHECK(text.find("F1 (positive class \"pos\") 0.7500") != std::string::npos);
}

}  // TEST_SUITE
