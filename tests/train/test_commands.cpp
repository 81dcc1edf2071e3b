// tests/train/test_commands.cpp — the command line as main builds it (train/commands/): every
// command takes --json; `kiso predict` prints its answers as JSONL, or with --json as one JSON
// object, through the same argv parsing the binary does; a command's status and errors reach
// main the way kiso.cpp turns them into exit codes. Oracles: CLI11's own list of options, and
// predict() called directly on the same model.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <filesystem>
#include <iostream>
#include <sstream>

#include "gpt/atomic_file.h"
#include "tests/gpt/toy_finetuned.h"
#include "tests/train/run_command.h"
#include "tests/train/toy_data.h"
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
  add_layout(*app);
  add_graph(*app);
  add_trace(*app);
  add_attention(*app);
  add_export(*app);
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
  return kiso::testing::parse_capturing(*kiso_app(), args);
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
  CHECK(commands.size() == 20);  // 17 commands + tokenizer train, encode, decode
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

// ---- issue 13: options checked up front, decode's ids from a file, one header rule ----

TEST_SUITE("train") {

namespace {

// `args` must fail with an Error containing `message` (and, where given, leave `untouched` absent).
void refused(const std::vector<std::string>& args, const std::string& message, const std::string& untouched = "") {
  std::string joined;
  for (const std::string& a : args) joined += a + " ";
  CAPTURE(joined);
  CHECK_THROWS_WITH_AS(run_kiso(args), doctest::Contains(message.c_str()), Error);
  if (!untouched.empty()) CHECK_FALSE(std::filesystem::exists(untouched));
}

}  // namespace

TEST_CASE("tokenizer encode: --pieces and --explain give encode's ids, with the tokens' text") {
  PredictFixture f;  // its tokenizer was trained on "tea good cake bad soup good" lines
  const std::string m = f.model_dir, text = " good tea, bad soup!";
  Json plain = parse_json_strict(run_kiso({"tokenizer", "encode", "--tokenizer", m, "--text", text, "--json"}), "encode");
  Json pieces =
      parse_json_strict(run_kiso({"tokenizer", "encode", "--tokenizer", m, "--text", text, "--pieces", "--json"}), "pieces");
  Json explained =
      parse_json_strict(run_kiso({"tokenizer", "encode", "--tokenizer", m, "--text", text, "--explain", "--json"}), "explain");
  CHECK(pieces["ids"] == plain["ids"]);
  CHECK(explained["ids"] == plain["ids"]);
  // The tokens' text, joined, is the text again, with the space shown as U+2423.
  std::string joined, spaced;
  for (const Json& t : pieces["tokens"]) joined += t.get<std::string>();
  for (char c : text) spaced += c == ' ' ? std::string("\u2423") : std::string(1, c);
  CHECK(joined == spaced);
  // One trace per pre-token of GPT-2's pattern: " good", " tea", ",", " bad", " soup", "!".
  REQUIRE(explained["pretokens"].size() == 6);
  CHECK(explained["pretokens"][0]["text"] == "\u2423good");
  // Its first round is the bytes; the text output ends with the same ids.
  CHECK(explained["pretokens"][0]["rounds"][0]["rank"] == -1);
  CHECK(explained["pretokens"][0]["rounds"][0]["ids"].size() == 5);
  std::string out = run_kiso({"tokenizer", "encode", "--tokenizer", m, "--text", text, "--explain"});
  std::string ids_line = run_kiso({"tokenizer", "encode", "--tokenizer", m, "--text", text});
  CHECK(out.find("ids: " + ids_line) != std::string::npos);
}

TEST_CASE("commands: every option is checked before any work, the error naming the flag") {
  PredictFixture f;  // f.model_dir is a model directory with its tokenizer: n_ctx 16, vocabulary 278
  const std::string m = f.model_dir, text = f.dir.str("corpus.txt"), none = f.dir.str("none");
  write_file_atomic(text, "tea good cake bad soup good\n");
  // sample
  refused({"sample", "--model", m, "--max-new-tokens", "-1"}, "sample: --max-new-tokens must be >= 1, got -1");
  refused({"sample", "--model", m, "--prompt", ""}, "sample: --prompt is empty");
  refused({"sample", "--model", m, "--temperature", "-0.5"}, "sample: --temperature must be a finite number >= 0");
  refused({"sample", "--model", m, "--top-k", "-2"}, "sample: --top-k must be >= 0");
  refused({"sample", "--model", m, "--top-p", "0"}, "sample: --top-p must be in (0, 1]");
  refused({"sample", "--model", none}, "sample: --model " + none + ": no such directory");
  refused({"sample", "--model", m, "--prompt", "ok\xff"}, "sample: --prompt: invalid UTF-8 at byte 2");
  refused({"tokenizer", "encode", "--tokenizer", m, "--text", "\xc3"}, "tokenizer encode: --text: invalid UTF-8 at byte 0");
  write_file_atomic(f.dir.str("bad.txt"), "one\ntw\xffo\n");
  refused({"tokenizer", "encode", "--tokenizer", m, "--file", f.dir.str("bad.txt")},
          f.dir.str("bad.txt") + ", line 2: invalid UTF-8 at byte 3 of the line");
  refused({"eval", "--model", m, "--data", f.dir.str("bad.txt")}, f.dir.str("bad.txt") + ", line 2: invalid UTF-8");
  refused({"tokenizer", "train", "--input", text, "--input", f.dir.str("bad.txt"), "--out", f.dir.str("tok")},
          f.dir.str("bad.txt") + ", line 2: invalid UTF-8", f.dir.str("tok"));
  // tokenizer
  refused({"tokenizer", "encode", "--tokenizer", m, "--text", ""}, "tokenizer encode: --text is empty");
  refused({"tokenizer", "encode", "--tokenizer", m}, "give exactly one of --text and --file (got neither)");
  refused({"tokenizer", "encode", "--tokenizer", m, "--text", "x", "--pieces", "--explain"},
          "give at most one of --pieces and --explain (got both)");
  refused({"tokenizer", "encode", "--tokenizer", m, "--file", none}, "tokenizer encode: --file " + none + ": no such file");
  refused({"tokenizer", "encode", "--tokenizer", none, "--text", "x"}, "--tokenizer " + none + ": no such directory");
  refused({"tokenizer", "decode", "--tokenizer", m, "--ids", ""}, "tokenizer decode: --ids is empty");
  refused({"tokenizer", "decode", "--tokenizer", m}, "give exactly one of --ids and --ids-file (got neither)");
  refused({"tokenizer", "train", "--input", none, "--out", f.dir.str("tok")}, "--input " + none + ": no such file",
          f.dir.str("tok"));
  refused({"tokenizer", "train", "--input", text, "--out", f.dir.str("tok"), "--vocab-size", "100"},
          "--vocab-size must be in 260..2147483647", f.dir.str("tok"));
  // prepare: nothing is written
  refused({"prepare", "--input", text, "--out", f.dir.str("data"), "--vocab-size", "70000"},
          "prepare: --vocab-size must be in 260..65536", f.dir.str("data"));
  refused({"prepare", "--input", text, "--out", f.dir.str("data"), "--val-fraction", "1.5"},
          "the validation fraction must be in (0, 1), got 1.5", f.dir.str("data"));
  refused({"prepare", "--input", none, "--out", f.dir.str("data")}, "prepare: --input " + none + ": no such file",
          f.dir.str("data"));
  refused({"prepare", "--input", text, "--out", text}, "prepare: --out " + text + ": is a file");
  // eval: checked against config.json before the weights load
  refused({"eval", "--model", m, "--data", text, "--seq-len", "1000"},
          "eval: --seq-len 1000 is longer than the model's context n_ctx = 16");
  refused({"eval", "--model", m, "--data", text, "--seq-len", "-1"}, "eval: --seq-len must be >= 1");
  refused({"eval", "--model", m, "--data", text, "--batch-size", "0"}, "eval: --batch-size must be >= 1, got 0");
  refused({"eval", "--model", m, "--data", text, "--batch-size", "1000000000000"},
          "eval: --batch-size 1000000000000 × --seq-len 16 (logits over 278 tokens) needs");
  refused({"eval", "--model", m, "--data", none}, "eval: --data " + none + ": no such file");
  // predict, evaluate
  refused({"predict", "--model", m, "--input", none}, "predict: --input " + none + ": no such file");
  refused({"predict", "--model", m, "--input", f.input, "--out", f.dir.str("no/such/dir/p.jsonl")},
          "predict: --out " + f.dir.str("no/such/dir/p.jsonl") + ": the directory " + f.dir.str("no/such/dir") +
              " does not exist");
  refused({"evaluate", "--model", none, "--data", f.input}, "evaluate: --model " + none + ": no such directory");
  refused({"evaluate", "--model", m, "--data", none}, "evaluate: --data " + none + ": no such file");
  // model, plot
  refused({"model", "--preset", "huge"}, "unknown preset 'huge'");
  refused({"model", "--dir", none}, "model: --dir " + none + ": no such directory");
  refused({"plot", "--run", none}, "plot: --run " + none + ": no such directory");
  refused({"plot", "--run", m}, "plot: --run " + m + ": no log.jsonl in it");
}

TEST_CASE("commands: tokenizer decode reads any number of ids from a file or stdin, also encode --json's output") {
  PredictFixture f;
  const Tokenizer& tok = f.model.tokenizer;
  std::string text;
  for (int i = 0; i < 8000; ++i) text += "tea good cake bad soup ";
  std::vector<int32_t> ids = tok.encode(text);
  REQUIRE(ids.size() >= 40000);  // the report: 40k ids as one --ids argument hit "Argument list too long"
  // separated by spaces, newlines and commas, mixed
  std::string listed;
  for (size_t i = 0; i < ids.size(); ++i) listed += std::to_string(ids[i]) + (i % 3 == 0 ? " " : i % 3 == 1 ? ",\n" : ",");
  write_file_atomic(f.dir.str("ids.txt"), listed);
  CHECK(run_kiso({"tokenizer", "decode", "--tokenizer", f.model_dir, "--ids-file", f.dir.str("ids.txt")}) ==
        text + "\n");
  // encode --json's output, as it is
  write_file_atomic(f.dir.str("text.txt"), text);
  write_file_atomic(f.dir.str("ids.json"),
                    run_kiso({"tokenizer", "encode", "--tokenizer", f.model_dir, "--file", f.dir.str("text.txt"),
                              "--json"}));
  CHECK(run_kiso({"tokenizer", "decode", "--tokenizer", f.model_dir, "--ids-file", f.dir.str("ids.json")}) ==
        text + "\n");
  // stdin
  std::istringstream in(Json(tok.encode("soup good")).dump());
  std::streambuf* saved = std::cin.rdbuf(in.rdbuf());
  std::string from_stdin = run_kiso({"tokenizer", "decode", "--tokenizer", f.model_dir, "--ids-file", "-"});
  std::cin.rdbuf(saved);
  CHECK(from_stdin == "soup good\n");
  // bad ids are named with their position
  write_file_atomic(f.dir.str("bad.txt"), "1 2\nx 4\n");
  refused({"tokenizer", "decode", "--tokenizer", f.model_dir, "--ids-file", f.dir.str("bad.txt")},
          "tokenizer decode: " + f.dir.str("bad.txt") + ": item 2 ('x') is not a token id");
  write_file_atomic(f.dir.str("bad.json"), "{\"ids\": [1, 2.5]}");
  refused({"tokenizer", "decode", "--tokenizer", f.model_dir, "--ids-file", f.dir.str("bad.json")},
          "item 1 (the float 2.5) is not a token id");
  refused({"tokenizer", "decode", "--tokenizer", f.model_dir, "--ids", "5 99999999999"},
          "tokenizer decode: --ids: item 1 ('99999999999') is not a token id");
  refused({"tokenizer", "decode", "--tokenizer", f.model_dir, "--ids", "5,9999"},
          "Tokenizer::decode: unknown id 9999 at position 1; the vocabulary has ids 0..277");
}

TEST_CASE("commands: evaluate and predict take a TSV header row by the rule finetune uses") {
  PredictFixture f;  // labels no / yes
  write_file_atomic(f.dir.str("labelled.tsv"), "text\tlabel\ntea good\tyes\nsoup bad\tno\ncake\tyes\n");
  // the report: evaluate refused the header finetune trained on; now both skip it
  Json report = parse_json_strict(run_kiso({"evaluate", "--model", f.model_dir, "--data", f.dir.str("labelled.tsv"),
                                            "--json"}),
                                  "evaluate --json");
  CHECK(report.at("examples") == 3);
  refused({"evaluate", "--model", f.model_dir, "--data", f.dir.str("labelled.tsv"), "--no-header"},
          "line 1: unknown label \"label\" (known: no, yes)");
  CHECK_THROWS_AS(run_kiso({"evaluate", "--model", f.model_dir, "--data", f.dir.str("labelled.tsv"), "--header",
                            "--no-header"}),
                  CLI::ExcludesError);
  // predict: a header-less file read whole, or its first line skipped with --header
  write_file_atomic(f.dir.str("plain.tsv"), "tea good\t\nsoup\t\n");
  Json all = parse_json_strict(run_kiso({"predict", "--model", f.model_dir, "--input", f.dir.str("plain.tsv"),
                                         "--json"}), "predict");
  Json skipped = parse_json_strict(run_kiso({"predict", "--model", f.model_dir, "--input", f.dir.str("plain.tsv"),
                                             "--header", "--json"}), "predict --header");
  REQUIRE(all.at("predictions").size() == 2);
  REQUIRE(skipped.at("predictions").size() == 1);
  CHECK(skipped["predictions"][0] == all["predictions"][1]);
}

}  // TEST_SUITE

TEST_CASE("commands: pretrain --resume takes the options it is not given from the run, and is bit-exact") {
  // `kiso pretrain --data D --out RUN --resume` must continue any run, whatever flags started it:
  // the options the saved state depends on come from RUN/model/state.json, the architecture from
  // RUN/model/config.json. Oracle: the same run without a stop, through the same command line.
  TempDir d("commands_resume");
  testing::write_toy_data(d.str("data"));
  testing::write_toy_config(d.str("toy.json"));
  std::vector<std::string> start = {"pretrain", "--data", d.str("data"), "--config", d.str("toy.json"),
                                    "--batch-size", "3", "--seq-len", "8", "--steps", "6", "--lr", "3e-3",
                                    "--warmup", "2", "--clip", "0.5", "--seed", "11", "--eval-every", "0",
                                    "--checkpoint-every", "2", "--weight-decay", "0.05", "--json"};
  auto with = [&](std::vector<std::string> args, std::initializer_list<std::string> more) {
    args.insert(args.end(), more);
    return args;
  };
  run_kiso(with(start, {"--out", d.str("whole")}));
  run_kiso(with(start, {"--out", d.str("split"), "--stop-at", "4"}));
  run_kiso({"pretrain", "--data", d.str("data"), "--out", d.str("split"), "--resume", "--json"});
  CHECK(read_file(d.str("split/model/model.safetensors")) == read_file(d.str("whole/model/model.safetensors")));
  CHECK(read_file(d.str("split/model/state.safetensors")) == read_file(d.str("whole/model/state.safetensors")));
  // A flag that is given still has to agree with the run, and the error names it.
  CHECK_THROWS_WITH_AS(run_kiso({"pretrain", "--data", d.str("data"), "--out", d.str("split"), "--resume",
                                 "--lr", "1e-3", "--steps", "8"}),
                       doctest::Contains("--lr is 0.001 now but the run used 0.003"), Error);
}

TEST_CASE("commands: finetune, evaluate and predict share --header / --no-header") {
  // The one header rule of train/task_data.h, forced from each command line: forcing it on a
  // JSONL file (which has no header row) is refused by the reader, so the error proves the flag
  // reached it; giving both flags is refused by the parser.
  PredictFixture f;
  for (std::string command : {"finetune", "evaluate", "predict"}) {
    CAPTURE(command);
    std::vector<std::string> args =
        command == "finetune" ? std::vector<std::string>{"finetune", "--model", f.model_dir, "--task", "classification",
                                                         "--train", f.input, "--val", f.input, "--out", f.dir.str("ft2")}
        : command == "evaluate" ? std::vector<std::string>{"evaluate", "--model", f.model_dir, "--data", f.input}
                                : std::vector<std::string>{"predict", "--model", f.model_dir, "--input", f.input};
    args.push_back("--no-header");
    CHECK_THROWS_WITH_AS(run_kiso(args), doctest::Contains("--header and --no-header apply to .tsv files"), Error);
    args.push_back("--header");
    CHECK_THROWS_AS(run_kiso(args), CLI::ExcludesError);
  }
}
