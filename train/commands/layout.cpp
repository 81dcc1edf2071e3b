// train/commands/layout.cpp — `kiso layout`: the token sequences one fine-tuning example
// becomes, GPT-1's task input transformations (Figure 1, right), through `kiso finetune`'s own
// encoder (train/layout_figure.h), with a real tokenizer so the BPE split is the real one.
//
//   kiso layout --tokenizer DIR --kind entailment --text "A man is playing a guitar."
//       --text "A person plays music."
//   kiso layout --tokenizer DIR --kind multiple-choice --text "Kim baked a cake."
//       --choice "Her friend loved it." --choice "The cake sang."
//   kiso layout --tokenizer DIR --figure docs/figures/input-transformations.svg
//
// The tokenizer comes from --tokenizer DIR (a tokenizer directory) or --model DIR (a model
// directory, pre-trained or fine-tuned); the special tokens' ids are the tokenizer's, as
// fine-tuning assigns them (special_ids, gpt/finetuned.h). The example's texts, named as the
// JSONL fields of train/task_data.h:
//   --kind classification    --text TEXT
//   --kind entailment        --text PREMISE --text HYPOTHESIS
//   --kind similarity        --text TEXT_A --text TEXT_B         (two sequences, both orders)
//   --kind multiple-choice   --text CONTEXT --choice A --choice B [--choice C ...]
// With --model, --kind defaults to a fine-tuned model's task. --max-len cuts each sequence as
// fine-tuning does (in the texts, never the special tokens); default: a fine-tuned model's
// max_len, else the model's n_ctx, else (--tokenizer) 512, GPT-1's context.
// Prints each sequence as "START | I | ␣keep | ... | EXTRACT" with each id under its token
// ('␣' is a space: Tokenizer::label), then what the head reads. --svg FILE
// draws them; --figure FILE instead draws the four kinds stacked from built-in sentences (and
// prints them). --json: {"kind", "max_len", "texts", "sequences": [{"caption", "ids", "tokens",
// "dropped"}], "read"} (+ "svg"), or with --figure {"figure", "examples": [...]}.
// Options are checked before any work: one of --tokenizer / --model, an existing directory; a
// known --kind; the number of --text and --choice the kind needs, none empty; --max-len >= 4
// (and <= the model's n_ctx with --model); the SVG's directory exists.
// What it is not: the model; nothing runs a forward pass (kiso predict does).
#include <filesystem>
#include <iostream>

#include <fmt/core.h>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/finetuned.h"
#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/option_checks.h"
#include "train/layout_figure.h"

namespace kiso {

namespace {

struct Options {
  std::string tokenizer_dir, model_dir;  // exactly one
  std::string kind;                      // "": a fine-tuned --model's task
  std::vector<std::string> texts, choices;
  int64_t max_len = 0;                   // 0: the default above
  std::string svg, figure;
  bool as_json = false;
};

constexpr int64_t kGpt1Context = 512;

// What --model says: its context, and for a fine-tuned model its task and max_len.
struct ModelFacts {
  int64_t n_ctx = 0, max_len = 0;
  std::string task;
};

ModelFacts read_model_facts(const std::string& dir) {
  ModelFacts facts;
  std::string config_path = dir + "/config.json";
  require_file(config_path, "layout", "--model's config.json");
  GPTConfig config = config_from_json(parse_json_strict(read_file(config_path), config_path), config_path);
  facts.n_ctx = config.n_ctx;
  std::string task_path = dir + "/task.json";
  if (std::filesystem::is_regular_file(task_path)) {
    TaskInfo info = task_info_from_json(parse_json_strict(read_file(task_path), task_path), task_path, config.vocab_size);
    facts.task = to_string(info.kind), facts.max_len = info.max_len;
  }
  return facts;
}

}  // namespace

static int run_layout(const Options& o) {
  // ---- the options, before any work ----
  check(o.tokenizer_dir.empty() != o.model_dir.empty(), "layout",
        "give one of --tokenizer DIR (a tokenizer directory) or --model DIR (a model directory); got {}",
        o.tokenizer_dir.empty() ? "neither" : "both");
  std::string dir = o.tokenizer_dir.empty() ? o.model_dir : o.tokenizer_dir;
  if (!o.model_dir.empty()) require_dir(o.model_dir, "layout", "--model", "a model directory (with its tokenizer)");
  else require_dir(o.tokenizer_dir, "layout", "--tokenizer", "a tokenizer directory (vocab.json, merges.txt)");
  ModelFacts facts = o.model_dir.empty() ? ModelFacts{} : read_model_facts(o.model_dir);
  int64_t max_len = o.max_len != 0  ? o.max_len
                    : facts.max_len   ? facts.max_len
                    : facts.n_ctx     ? facts.n_ctx
                                      : kGpt1Context;
  check(max_len >= 4, "layout", "--max-len must be >= 4 (START, a text, DELIM, a text, EXTRACT need room), got {}",
        max_len);
  if (facts.n_ctx > 0)
    check(max_len <= facts.n_ctx, "layout", "--max-len {} is longer than the model's context n_ctx = {}", max_len,
          facts.n_ctx);
  for (const std::string& t : o.texts) check_utf8(t, "layout: --text");
  for (const std::string& t : o.choices) check_utf8(t, "layout: --choice");

  if (!o.figure.empty()) {
    check(o.kind.empty() && o.texts.empty() && o.choices.empty() && o.svg.empty(), "layout",
          "--figure draws its own built-in examples of all four kinds; leave out --kind, --text, --choice and --svg");
    require_writable_file(o.figure, "layout", "--figure");
    Tokenizer tokenizer = Tokenizer::load(dir);
    std::vector<LayoutExample> examples = figure_examples(tokenizer, max_len);
    write_file_atomic(o.figure, layout_svg(examples, "GPT-1's input transformations (Figure 1, right), "
                                                     "tokenised by kiso's BPE"));
    if (o.as_json) {
      Json all = Json::array();
      for (const LayoutExample& ex : examples) all.push_back(layout_json(ex));
      std::cout << Json{{"figure", o.figure}, {"examples", all}} << "\n";
    } else {
      for (const LayoutExample& ex : examples) std::cout << layout_text(ex) << "\n";
      std::cout << fmt::format("wrote {}\n", o.figure);
    }
    return 0;
  }

  std::string kind_name = o.kind.empty() ? facts.task : o.kind;
  check(!kind_name.empty(), "layout", "--kind is missing; expected classification, entailment, similarity or "
                                      "multiple-choice (or --figure for all four)");
  check(kind_name == "classification" || kind_name == "entailment" || kind_name == "similarity" ||
            kind_name == "multiple-choice",
        "layout", "--kind {}: unknown; expected classification, entailment, similarity or multiple-choice", kind_name);
  TaskKind kind = parse_task_kind(kind_name);
  if (kind == TaskKind::multiple_choice)
    check(o.texts.size() <= 1, "layout",
          "--kind multiple-choice takes one --text (the context) and the candidates as --choice; got {} --text",
          o.texts.size());
  else
    check(o.choices.empty(), "layout", "--choice is for --kind multiple-choice; --kind {} takes only --text", kind_name);
  if (!o.svg.empty()) require_writable_file(o.svg, "layout", "--svg");
  std::vector<std::string> texts = o.texts;
  texts.insert(texts.end(), o.choices.begin(), o.choices.end());

  // ---- the work ----
  Tokenizer tokenizer = Tokenizer::load(dir);
  LayoutExample ex = layout_example(kind, texts, tokenizer, max_len);
  if (!o.svg.empty()) write_file_atomic(o.svg, layout_svg({ex}));
  if (o.as_json) {
    Json j = layout_json(ex);
    if (!o.svg.empty()) j["svg"] = o.svg;
    std::cout << j << "\n";
  } else {
    std::cout << layout_text(ex);
    if (!o.svg.empty()) std::cout << fmt::format("wrote {}\n", o.svg);
  }
  return 0;
}

void add_layout(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "layout", "the token sequences one fine-tuning example becomes (START / DELIM / EXTRACT), as text or SVG");
  command->add_option("--tokenizer", options->tokenizer_dir, "a tokenizer directory (vocab.json, merges.txt)");
  command->add_option("--model", options->model_dir, "or a model directory (its tokenizer, context and task)");
  command->add_option("--kind", options->kind, "classification | entailment | similarity | multiple-choice");
  command->add_option("--text", options->texts,
                      "the example's texts: TEXT; PREMISE HYPOTHESIS; TEXT_A TEXT_B; or the CONTEXT (repeat --text)")
      ->allow_extra_args(false);
  command->add_option("--choice", options->choices, "a candidate answer for multiple-choice (repeat it)")
      ->allow_extra_args(false);
  command->add_option("--max-len", options->max_len,
                      "tokens per sequence, cut as fine-tuning cuts (default: the model's, or 512)");
  command->add_option("--svg", options->svg, "draw the sequences in this SVG file");
  command->add_option("--figure", options->figure, "draw built-in examples of all four kinds in this SVG file");
  add_json_flag(*command, options->as_json);
  command->footer(
      "The texts of each kind (the JSONL fields of kiso finetune):\n"
      "  --kind classification    --text TEXT\n"
      "  --kind entailment        --text PREMISE --text HYPOTHESIS\n"
      "  --kind similarity        --text TEXT_A --text TEXT_B    (two sequences: A DELIM B, B DELIM A)\n"
      "  --kind multiple-choice   --text CONTEXT --choice A --choice B [...]    (one sequence per choice)\n"
      "e.g. kiso layout --tokenizer data/tokenizer --kind entailment --text \"A man is playing a guitar.\" "
      "--text \"A person plays music.\"");
  command->callback([options] { exit_with(run_layout(*options)); });
}

}  // namespace kiso
