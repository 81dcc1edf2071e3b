// tests/train/test_commands.cpp — the command line as main builds it (train/commands/): every
// command takes --json; `kiso predict` prints its answers as JSONL, or with --json as one JSON
// object, through the same argv parsing the binary does; a command's status and errors reach
// main the way kiso.cpp turns them into exit codes. Oracles: CLI11's own list of options, and
// predict() called directly on the same model.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <iostream>
#include <sstream>

#include "gpt/atomic_file.h"
#include "tests/gpt/toy_finetuned.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/finetune.h"

using namespace kiso;

namespace {

// The application main builds, with every command.
std::unique_ptr<CLI::App> kiso_app() {
  auto app = std::make_unique<CLI::App>("kiso");
  app->require_subcommand(1);
  add_info(*app);
  add_gradcheck(*app);
  add_model(*app);
  add_tokenizer(*app);
  add_prepare(*app);
  add_pretrain(*app);
  add_eval(*app);
  add_sample(*app);
  add_bench(*app);
  add_finetune(*app);
  add_predict(*app);
  add_evaluate(*app);
  add_plot(*app);
  return app;
}

// The commands that run: subcommands without subcommands of their own ("tokenizer encode", ...).
void collect_commands(CLI::App& app, const std::string& prefix, std::vector<std::pair<std::string, CLI::App*>>& out) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    std::string name = prefix + sub->get_name();
    if (sub->get_subcommands([](CLI::App*) { return true; }).empty()) out.emplace_back(name, sub);
    else collect_commands(*sub, name + " ", out);
  }
}

// Parses `args` (after the program name) with a fresh kiso_app, so the chosen command runs, and
// returns what it printed on std::cout.
std::string run_kiso(const std::vector<std::string>& args) {
  std::vector<const char*> argv = {"kiso"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream captured;
  std::streambuf* saved = std::cout.rdbuf(captured.rdbuf());
  try {
    kiso_app()->parse(int(argv.size()), argv.data());
  } catch (...) {
    std::cout.rdbuf(saved);
    throw;
  }
  std::cout.rdbuf(saved);
  return captured.str();
}

// A toy classifier's directory and a task file of four unlabelled examples.
struct PredictFixture {
  TempDir dir{"commands_predict"};
  std::string model_dir = dir.str("ft"), input = dir.str("test.jsonl");
  FinetunedModel model = testing::toy_classifier();

  PredictFixture() {
    save_finetuned(model_dir, model, Json::object());
    write_file_atomic(input, "{\"text\": \"tea good\"}\n{\"text\": \"cake bad soup\"}\n\n"
                             "{\"text\": \"soup\", \"label\": \"yes\"}\n{\"text\": \"bad bad tea\"}\n");
  }

  // predict() on the same file, as the command reads it: labels ignored.
  Predictions direct() {
    std::vector<TaskRecord> records = read_task_file(input, TaskKind::classification);
    for (TaskRecord& r : records) r.label.clear();
    return predict(model, encode_records(records, model.info, model.tokenizer, input));
  }
};

// One predict row against the direct call: the file's line, the argmax label, every class's
// probability (the doubles survive JSON exactly).
void check_row(const Json& row, int64_t line, const Predictions& p, size_t i) {
  const std::vector<std::string> labels = {"no", "yes"};
  CHECK(row.at("line") == line);
  CHECK(row.at("prediction") == labels[size_t(p.predicted[i])]);
  for (size_t c = 0; c < labels.size(); ++c) CHECK(row.at("probabilities").at(labels[c]) == p.probs[i][c]);
}

const int64_t kLines[] = {1, 2, 4, 5};  // the examples' lines (line 3 is blank)

}  // namespace

TEST_SUITE("train") {

TEST_CASE("commands: every command kiso has takes --json") {
  std::unique_ptr<CLI::App> app = kiso_app();
  std::vector<std::pair<std::string, CLI::App*>> commands;
  collect_commands(*app, "", commands);
  CHECK(commands.size() == 15);  // 12 commands + tokenizer train, encode, decode
  for (const auto& [name, command] : commands) {
    CAPTURE(name);
    CHECK(command->get_option_no_throw("--json") != nullptr);
  }
}

TEST_CASE("commands: predict prints JSONL, and with --json one object whose predictions are predict()'s") {
  PredictFixture f;
  Predictions p = f.direct();
  REQUIRE(p.predicted.size() == 4);

  // --json: {"predictions": [one object per example]}
  Json out = parse_json_strict(run_kiso({"predict", "--model", f.model_dir, "--input", f.input, "--json"}),
                               "predict --json");
  REQUIRE(out.is_object());
  CHECK(out.size() == 1);
  REQUIRE(out.at("predictions").size() == 4);
  for (size_t i = 0; i < 4; ++i) check_row(out["predictions"][i], kLines[i], p, i);

  // without --json: the same objects, one per line
  std::istringstream lines(run_kiso({"predict", "--model", f.model_dir, "--input", f.input}));
  std::string line;
  for (size_t i = 0; i < 4; ++i) {
    REQUIRE(std::getline(lines, line));
    CHECK(parse_json_strict(line, "predict") == out["predictions"][i]);
  }
  CHECK_FALSE(std::getline(lines, line));

  // --out and --json: the lines go to the file, the object says where and how many
  std::string file = f.dir.str("predictions.jsonl");
  Json summary = parse_json_strict(run_kiso({"predict", "--model", f.model_dir, "--input", f.input, "--out", file,
                                             "--json"}),
                                   "predict --out --json");
  CHECK(summary == Json{{"out", file}, {"predictions", 4}});
  std::istringstream written(read_file(file));
  for (size_t i = 0; i < 4; ++i) {
    REQUIRE(std::getline(written, line));
    CHECK(parse_json_strict(line, file) == out["predictions"][i]);
  }
}

TEST_CASE("commands: a command's status and errors reach main") {
  // a non-zero status leaves the callback as CLI::RuntimeError, which App::exit returns silently
  CLI::App app;
  try {
    exit_with(3);
    FAIL("exit_with(3) returned");
  } catch (const CLI::RuntimeError& e) {
    CHECK(app.exit(e) == 3);
  }
  CHECK_NOTHROW(exit_with(0));
  // a library error propagates out of parse, for main to print and turn into status 2
  CHECK_THROWS_WITH_AS(run_kiso({"gradcheck", "--op", "no_such_op"}), doctest::Contains("no op named 'no_such_op'"),
                       Error);
  // a bad flag is CLI11's error
  CHECK_THROWS_AS(run_kiso({"predict", "--model", "m"}), CLI::RequiredError);
}

}  // TEST_SUITE
