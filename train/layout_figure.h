// train/layout_figure.h — GPT-1's task input transformations (Figure 1, right) shown on a real
// example: the token sequences one fine-tuning example becomes, printed as text, as JSON and
// drawn as SVG (`kiso layout`, and docs/figures/input-transformations.svg).
//
//   classification    START text EXTRACT                         -> W_y h
//   entailment        START premise DELIM hypothesis EXTRACT     -> W_y h
//   similarity        START A DELIM B EXTRACT, START B DELIM A EXTRACT  -> W_y (h_AB + h_BA)
//   multiple choice   START context DELIM choice_k EXTRACT, each k  -> w·h_k, softmax over k
//
// The sequences are never built here: the example goes through fine-tuning's own path, the
// texts tokenised by encode_records (train/finetune.h) and framed by transform (gpt/tasks.h)
// with the special ids of special_ids (gpt/finetuned.h), so what is shown is what
// `kiso finetune` feeds the model, cut to max_len the same way. What this file adds is only
// presentation: a name for each token (START, DELIM, EXTRACT, or the token's bytes in GPT-2's
// printable form, 'Ġ' for a space), which text each token came from, and the pictures.
// What it is not: the file layouts of task data (train/task_layouts.h), or the model: nothing
// here runs a forward pass.
// Read next: gpt/tasks.cpp (transform, task_logits), train/finetune.cpp (encode_records).
#pragma once

#include <string>
#include <vector>

#include "gpt/json.h"
#include "gpt/tasks.h"
#include "gpt/tokenizer.h"

namespace kiso {

// One sequence of an example, as the model reads it.
struct LayoutSequence {
  std::vector<int32_t> ids;          // START ... EXTRACT, what transform() returns
  std::vector<std::string> tokens;   // each id's name: "START", "DELIM", "EXTRACT", or e.g. "Ġcat"
  std::vector<int> field;            // each token's text (an index into Layout::texts), -1 for a special
  std::string caption;               // which texts, in order: "premise DELIM hypothesis"
  std::string state;                 // the name of its EXTRACT state in the note: "h", "h_AB", "h_2"
  int64_t dropped = 0;               // text tokens cut to fit max_len
};

// One example and its sequences.
struct LayoutExample {
  TaskKind kind = TaskKind::classification;
  std::vector<std::string> texts;        // in TaskRecord order: {text}, {premise, hypothesis},
                                         // {text_a, text_b}, {context, choice_1, ..., choice_K}
  std::vector<std::string> field_names;  // "text", "premise", ..., "choice 2": one per text
  std::vector<LayoutSequence> sequences;
  std::string read;                      // what the head reads: "the EXTRACT state h → the linear head ..."
  std::string classes;                   // for the figure, e.g. "positive / negative"; "" when unknown
  int64_t max_len = 0;
};

// The sequences of one example of `kind`, through fine-tuning's encoder. `texts` as
// LayoutExample::texts; each must be non-empty, and their number must suit the kind
// (1; 2; 2; context + at least 2 choices), else an error naming `command` and what was given.
LayoutExample layout_example(TaskKind kind, const std::vector<std::string>& texts, const Tokenizer& tokenizer,
                             int64_t max_len, const char* command = "layout");

// The built-in examples of the figure, one per kind (the deck's and GLUE-like sentences),
// tokenised with `tokenizer`.
std::vector<LayoutExample> figure_examples(const Tokenizer& tokenizer, int64_t max_len);

// For stdout: per sequence its caption, then its tokens "START | I | Ġkeep | ... | EXTRACT" with
// each id under its token, wrapped at `width` characters (a line ending in '|' goes on below);
// then what the head reads.
std::string layout_text(const LayoutExample& example, int width = 100);

// {"kind", "max_len", "texts", "sequences": [{"caption", "ids", "tokens", "dropped"}], "read"}
Json layout_json(const LayoutExample& example);

// An SVG of the examples stacked: for each, its title, then per sequence one row of token boxes
// (specials coloured, each text its own fill, the id under each box), an arrow from EXTRACT to
// its state's name, and the note of what the head reads. Each token box carries
// class="token" (so a test can count them); rows wrap at about 900 px.
std::string layout_svg(const std::vector<LayoutExample>& examples, const std::string& title = "");

}  // namespace kiso
