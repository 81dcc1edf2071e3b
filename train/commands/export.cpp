// train/commands/export.cpp — `kiso export`: a fine-tuned model directory (`kiso finetune`'s
// RUN/model) as a Hugging Face transformers directory, head included:
//   kiso export --model RUN/model --out hf_model [--as sequence-classification|double-heads]
// then, in Python, OpenAIGPTForSequenceClassification (or OpenAIGPTDoubleHeadsModel)
// .from_pretrained("hf_model") gives kiso's task logits on the sequences kiso builds
// (`kiso layout` prints them: <|start|> text <|extract|>, ...), and the exported tokenizer builds
// them too: AutoTokenizer's tokenizer(text) or tokenizer(a, b) adds START / DELIM / EXTRACT, so
// pipeline("text-classification", model="hf_model", truncation=True) gives `kiso predict`'s
// probabilities for a classifier (a text longer than max_len cut as kiso cuts it). The forms
// (gpt/hf_export.h):
//   classification, entailment  default sequence-classification: logits (B, classes) at the
//       rightmost non-pad token; kiso's head bias is folded into the last LayerNorm's bias,
//       since that class's score layer has none (refused when W_y's columns are dependent).
//       --as double-heads: exact, no fold; mc_logits[:, 0, :classes] with input_ids (B, 1, T)
//       and mc_token_ids (B, 1) at the EXTRACT token.
//   similarity  default double-heads: the orders (A, B) and (B, A) as two choices (B, 2, T);
//       mc_logits.sum(1)[:, :classes] equal kiso's logits exactly (each order carries half of
//       the bias). --as sequence-classification: the two orders as two rows, logits summed.
//   multiple choice  double-heads only: mc_logits (B, K) at mc_token_ids are the scores.
// It prints the class, the form and the fold's f32 residual; --json prints them as one object:
//   {"out", "class", "head", "task", "labels", "tensors", "fold_residual"}.
// Refused before anything is written: --model not a fine-tuned model directory, an existing
// --out, an unknown --as, a form the task has no counterpart for, and models transformers cannot
// run (pre-LN, erf GELU, n_inner != 4·n_embd).
// What it is not: an import (kiso reads transformers' LM directories with --model directly).
#include <filesystem>
#include <iostream>
#include <optional>

#include <fmt/core.h>

#include "gpt/hf_export.h"
#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/commands/option_checks.h"

namespace kiso {

namespace {

struct Options {
  std::string model_dir;  // a fine-tuned model directory
  std::string out;        // the directory to write; must not exist
  std::string form;       // --as; empty: the task's default
  bool as_json = false;
};

}  // namespace

static int run_export(const Options& o) {
  require_dir(o.model_dir, "export", "--model", "a fine-tuned model directory");
  check(std::filesystem::exists(o.model_dir + "/task.json"), "export",
        "--model {}: not a fine-tuned model directory (no task.json); export takes `kiso finetune`'s RUN/model",
        o.model_dir);
  check(!o.out.empty(), "export", "--out is empty; expected a directory to create");
  std::error_code error;
  check(!std::filesystem::exists(o.out, error), "export", "--out {}: already exists; export writes a new directory",
        o.out);
  std::filesystem::path parent = std::filesystem::path(o.out).parent_path();
  check(parent.empty() || std::filesystem::is_directory(parent, error), "export",
        "--out {}: the directory {} does not exist", o.out, parent.string());
  std::optional<HfHead> form;
  if (!o.form.empty()) form = parse_hf_head(o.form);  // before loading: a typo costs nothing

  FinetunedModel m = load_finetuned(o.model_dir);
  HfHead head = form ? *form : default_hf_head(m.info.kind);
  HfExport e = hf_export(m, head);
  save_hf_export(o.out, m, e);

  if (o.as_json) {
    std::cout << Json{{"out", o.out},           {"class", hf_class_name(head)},  {"head", to_string(head)},
                      {"task", to_string(m.info.kind)}, {"labels", m.info.labels}, {"tensors", e.tensors.size()},
                      {"fold_residual", e.fold_residual}}
              << "\n";
    return 0;
  }
  fmt::print("wrote {} ({}, {} model) for transformers' {}\n", o.out, to_string(head), to_string(m.info.kind),
             hf_class_name(head));
  if (head == HfHead::sequence_classification)
    fmt::print("head bias folded into the last LayerNorm's bias; f32 residual {:.3g}\n", e.fold_residual);
  fmt::print("read: {}\n", e.config["task_specific_params"]["kiso"]["read"].get<std::string>());
  return 0;
}

void add_export(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("export", "a fine-tuned model as a Hugging Face transformers directory");
  command->add_option("--model", options->model_dir, "a fine-tuned model directory (RUN/model)")->required();
  command->add_option("--out", options->out, "the directory to write (must not exist)")->required();
  command->add_option("--as", options->form,
                      "sequence-classification (default for classification, entailment: head bias folded into the "
                      "last LayerNorm) or double-heads (default for similarity, multiple choice: exact)");
  add_json_flag(*command, options->as_json,
                "print {\"out\", \"class\", \"head\", \"task\", \"labels\", \"tensors\", \"fold_residual\"}");
  command->footer(
      "Reading the logits in transformers (inputs: kiso's sequences; tokenizer(text) or tokenizer(a, b) builds them):\n"
      "  classification, entailment  sequence-classification: logits (B, classes) [bias folded into the last "
      "LayerNorm]\n"
      "                              double-heads: input_ids (B, 1, T), mc_token_ids = EXTRACT -> "
      "mc_logits[:, 0, :classes]\n"
      "  similarity                  double-heads: (A, B) and (B, A) as 2 choices -> mc_logits.sum(1)[:, :classes] "
      "(each choice carries half of the bias)\n"
      "                              sequence-classification: the two orders as two rows, logits summed\n"
      "  multiple choice             double-heads: input_ids (B, K, T) -> mc_logits (B, K)");
  command->callback([options] { exit_with(run_export(*options)); });
}

}  // namespace kiso
