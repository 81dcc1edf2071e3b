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

#include <functional>
#include <limits>

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

// ---- issue 13: every field of task.json and the head's values are checked on load ----

TEST_SUITE("gpt") {

TEST_CASE("load_finetuned: each task.json field out of range is an error naming the file and the field") {
  TempDir d("finetuned_fields");
  FinetunedModel m = testing::toy_classifier();  // vocabulary 278, n_ctx 16, labels no / yes
  save_finetuned(d.str("ft"), m, Json::object());
  const std::string task_path = d.str("ft/task.json");
  const Json good = parse_json_strict(read_file(task_path), "task.json");
  // Writes task.json with one change and expects loading to fail with `message`.
  auto fails = [&](const std::function<void(Json&)>& change, const std::string& message) {
    Json j = good;
    change(j);
    write_file_atomic(task_path, j.dump(2));
    CHECK_THROWS_WITH_AS(load_finetuned(d.str("ft")), doctest::Contains((task_path + ": " + message).c_str()), Error);
  };
  // the report: pad -1 reached the embedding ("embedding: id -1"); 2^32 + 5 was cut to 5
  fails([](Json& j) { j["special"]["pad"] = -1; }, "special \"pad\" is -1; expected an id in 0..277");
  fails([](Json& j) { j["special"]["pad"] = (int64_t(1) << 32) + 5; },
        "special \"pad\" is 4294967301; expected an id in 0..277");
  fails([](Json& j) { j["special"]["start"] = 278; }, "special \"start\" is 278; expected an id in 0..277");
  // the report: max_len 100000 surfaced as "sequence length ..." at the first long input
  fails([](Json& j) { j["max_len"] = 100000; }, "max_len is 100000; expected 4..16 (the model's context n_ctx)");
  fails([](Json& j) { j["max_len"] = 3; }, "max_len is 3; expected 4..16");
  fails([](Json& j) { j["head_dropout"] = 5; }, "head_dropout is 5; expected a probability in [0, 1)");
  fails([](Json& j) { j["head_dropout"] = -0.5; }, "head_dropout is -0.5");
  fails([](Json& j) { j["task"] = "regression"; }, "task: unknown task 'regression'");
  fails([](Json& j) { j["labels"] = {"no", "no"}; }, "labels: \"no\" appears twice");
  fails([](Json& j) { j["labels"] = {"no", ""}; }, "labels: label 1 is empty");
  fails([](Json& j) { j["train_label_counts"] = {{"maybe", 3}}; },
        "train_label_counts: \"maybe\" is not one of the labels");
  fails([](Json& j) { j["train_label_counts"] = {{"no", -3}}; }, "train_label_counts[\"no\"] is -3; expected >= 0");
  fails([](Json& j) { j["colour"] = "blue"; }, "unknown key \"colour\"");
  // the class list must match the head's shape: three labels, a two-output head
  Json three = good;
  three["labels"] = {"a", "b", "c"};
  three["train_label_counts"] = {{"a", 1}};
  write_file_atomic(task_path, three.dump(2));
  CHECK_THROWS_WITH_AS(load_finetuned(d.str("ft")),
                       doctest::Contains("head.safetensors: tensor 'linear.weight' has shape (8, 2), expected (8, 3) "
                                         "(one column per label of task.json)"),
                       Error);
  // the untouched file still loads
  write_file_atomic(task_path, good.dump(2));
  CHECK_NOTHROW(load_finetuned(d.str("ft")));
}

TEST_CASE("load_finetuned: a head weight that is NaN or infinite is an error naming the tensor") {
  TempDir d("finetuned_nan");
  FinetunedModel m = testing::toy_classifier();
  save_finetuned(d.str("ft"), m, Json::object());
  Tensor bias = m.head.linear.bias.value().clone();
  bias.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  safetensors::save(d.str("ft/head.safetensors"), {{"linear.weight", m.head.linear.weight.value()}, {"linear.bias", bias}});
  CHECK_THROWS_WITH_AS(load_finetuned(d.str("ft")),
                       doctest::Contains("head.safetensors: tensor 'linear.bias' holds a non-finite value: "
                                         "element [1] (flat index 1) is nan"),
                       Error);
  Tensor weight = m.head.linear.weight.value().clone();
  weight.data<float>()[5] = -std::numeric_limits<float>::infinity();
  safetensors::save(d.str("ft/head.safetensors"), {{"linear.weight", weight}, {"linear.bias", m.head.linear.bias.value()}});
  CHECK_THROWS_WITH_AS(load_finetuned(d.str("ft")),
                       doctest::Contains("(flat index 5) is -inf"), Error);
}

TEST_CASE("task_info_from_json: a task that is not a string is an error naming task.json once") {
  // Found while writing tests/fuzz/fuzz_task_info.cpp: get_string's error, which already names
  // the file, was wrapped in a second "task.json: " by the unknown-task handler.
  Json j = parse_json_strict(R"({"task": 1, "labels": ["a", "b"], "candidates": 0, "max_len": 8, "head_dropout": 0.1,
                                 "special": {"start": 1, "delim": 2, "extract": 3, "pad": 0}})",
                             "task.json");
  CHECK_THROWS_WITH_AS(task_info_from_json(j, "m/task.json", 10),
                       "m/task.json: key \"task\": expected a string, found the integer 1", Error);
  j["task"] = "regression";  // the unknown-task message keeps its one prefix
  CHECK_THROWS_WITH_AS(task_info_from_json(j, "m/task.json", 10),
                       doctest::Contains("m/task.json: task: unknown task 'regression'"), Error);
  j["task"] = "classification";
  CHECK(task_info_from_json(j, "m/task.json", 10).labels == std::vector<std::string>{"a", "b"});
}

}  // TEST_SUITE
