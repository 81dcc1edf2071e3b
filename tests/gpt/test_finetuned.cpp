// tests/gpt/test_finetuned.cpp — the fine-tuned model directory: save -> load gives back the
// same weights, head and task information, and so the same predictions; loading refuses a
// pre-trained directory, a damaged task.json and a head of the wrong shape, naming the file.
// Oracle: the saved model itself (bit equality of every tensor and of predict's answers).
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/finetuned.h"
#include "gpt/safetensors.h"
#include "tests/gpt/toy_finetuned.h"

using namespace kiso;

namespace {

std::vector<TaskExample> toy_examples(const Tokenizer& tok) {
  return {{{tok.encode("tea good")}, 1}, {{tok.encode("cake bad soup")}, 0}, {{tok.encode("soup")}, 1}};
}

}  // namespace

TEST_SUITE("gpt") {

TEST_CASE("save_finetuned -> load_finetuned: the same weights, task and predictions") {
  TempDir d("finetuned_roundtrip");
  FinetunedModel m = testing::toy_classifier();
  save_finetuned(d.str("ft"), m, Json{{"lr", 0.5}});
  FinetunedModel loaded = load_finetuned(d.str("ft"));

  Parameters a = m.model.parameters(), b = loaded.model.parameters();
  append_parameters(a, "head", m.head.parameters());
  append_parameters(b, "head", loaded.head.parameters());
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].name);
    CHECK(a[i].name == b[i].name);
    CHECK(a[i].variable->value().to_vector<float>() == b[i].variable->value().to_vector<float>());
  }
  CHECK(loaded.info.kind == TaskKind::classification);
  CHECK(loaded.info.labels == m.info.labels);
  CHECK(loaded.info.max_len == 16);
  CHECK(loaded.info.special.extract == m.info.special.extract);
  CHECK(loaded.info.train_label_counts == m.info.train_label_counts);
  CHECK(parse_json_strict(read_file(d.str("ft/task.json")), "task.json")["options"] == Json{{"lr", 0.5}});

  std::vector<TaskExample> examples = toy_examples(m.tokenizer);
  Predictions before = predict(m, examples, 2), after = predict(loaded, examples, 2);
  CHECK(after.probs == before.probs);
  CHECK(after.predicted == before.predicted);
  CHECK(after.loss == before.loss);
}

TEST_CASE("load_finetuned: what is not a fine-tuned model directory is an error naming the file") {
  TempDir d("finetuned_errors");
  FinetunedModel m = testing::toy_classifier();
  // a pre-trained directory is not a fine-tuned one
  save_model(d.str("base"), m.model);
  CHECK_THROWS_WITH_AS(load_finetuned(d.str("base")), doctest::Contains("no task.json"), Error);
  // a damaged task.json
  save_finetuned(d.str("ft"), m, Json::object());
  write_file_atomic(d.str("ft/task.json"), "{\"task\": \"multiple-choice\"}");
  CHECK_THROWS_WITH_AS(load_finetuned(d.str("ft")), doctest::Contains("task.json"), Error);
  // a head of another number of classes
  save_finetuned(d.str("ft"), m, Json::object());
  safetensors::save(d.str("ft/head.safetensors"), {{"linear.weight", zeros({8, 3})}, {"linear.bias", zeros({3})}});
  CHECK_THROWS_WITH_AS(load_finetuned(d.str("ft")),
                       doctest::Contains("head.safetensors: tensor 'linear.weight' has shape (8, 3), expected (8, 2)"),
                       Error);
}

}  // TEST_SUITE
