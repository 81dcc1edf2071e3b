// gpt/hf_export.h — a fine-tuned kiso model as a Hugging Face transformers model directory, so that
// `OpenAIGPTForSequenceClassification` or `OpenAIGPTDoubleHeadsModel` `.from_pretrained(DIR)`
// loads it, head included, and gives kiso's task logits.
//
// The backbone needs no conversion (gpt/checkpoint.h already writes HF's openai-gpt names and
// layout); what differs is the head. kiso's head is W_y (C, classes) + b read at the EXTRACT token
// (gpt/tasks.h). transformers has two heads for openai-gpt, each with its own rules:
//
//   sequence-classification   OpenAIGPTForSequenceClassification: score = Linear(C, classes)
//     WITHOUT a bias, read at the rightmost token that is not config.pad_token_id. kiso pads with
//     its pad id, after EXTRACT, so that token is EXTRACT. The missing bias b is folded into the
//     bias β of the last LayerNorm (post-LN: h.{L-1}.ln_2.bias, whose output is the final hidden
//     state h): with A = W_yᵀ (classes, C), β' = β + Aᵀ (A Aᵀ)⁻¹ b is the smallest change of β with
//     A β' = A β + b, so A h' = A h + b at every position. Only the final hidden states change,
//     and in that architecture nothing else reads them (no LM head). Computed in f64; when A Aᵀ
//     is singular (more classes than C, or two classes with parallel columns) there is no such β'
//     and the export is refused (nearly singular too, where f32 would lose b): use double-heads.
//   double-heads              OpenAIGPTDoubleHeadsModel: multiple_choice_head.summary = Linear
//     WITH a bias, read at mc_token_ids (give the EXTRACT positions), exact, no fold. Its
//     constructor forces num_labels = 1, so
//       multiple choice: summary (1, C) = W_yᵀ, bias b: mc_logits (B, K) are kiso's scores.
//       classes > 1: summary_proj_to_labels = false makes summary (C, C); its first `classes`
//         rows are W_yᵀ (bias b), the rest zero, and mc_logits[..., :classes] are the logits
//         (the remaining C - classes columns are 0).
//
// Per task (the default first):
//   classification, entailment  sequence-classification: input_ids (B, T) -> logits (B, classes);
//                               or double-heads: input_ids (B, 1, T), mc_token_ids (B, 1) ->
//                               mc_logits[:, 0, :classes]
//   similarity                  double-heads: the two orders (A, B) and (B, A) as two "choices"
//                               (B, 2, T), summary bias b/2, so mc_logits (B, 2, C) summed over
//                               the choices, [..., :classes], are W_y (h_AB + h_BA) + b;
//                               or sequence-classification (fold of b/2): the two orders as two
//                               rows, their logits summed
//   multiple choice             double-heads only: input_ids (B, K, T) -> mc_logits (B, K)
// The inputs are the sequences kiso's transform() makes (<|start|> ... <|extract|>): neither
// transformers head adds START / DELIM / EXTRACT itself, and kiso's truncation (the longest text
// loses tokens) is not transformers'. `kiso layout` prints them.
//
// The directory: config.json (config_to_json's backbone keys, kiso's n_inner and kiso_norm kept,
// plus architectures, pad_token_id, id2label/label2id, summary_*, tie_word_embeddings and
// task_specific_params.kiso = {task, head, labels, candidates, max_len, special, read}),
// model.safetensors (F32, names as that class's save_pretrained writes them: "transformer." +
// kiso's names; double-heads stores the tied embedding as lm_head.weight, as transformers does),
// kiso's tokenizer files, a tokenizer_config.json naming transformers' tokenizer class
// (GPT2Tokenizer for kiso's byte-level BPE, OpenAIGPTTokenizer for GPT-1's own) and kiso's four
// special tokens, and a tokenizer.json (the `tokenizers` library's format: the same BPE and the
// same text pipeline as the kind's own tokenizer) whose post-processor frames a text as kiso does:
// tokenizer(text) is <|start|> text <|extract|>, tokenizer(a, b) is <|start|> a <|delim|> b
// <|extract|>. So pipeline("text-classification", model=DIR) gives kiso's probabilities, for a
// text pair too (entailment). Pass truncation=True: model_max_length is kiso's max_len, and a
// text too long is then cut as kiso cuts it; a pair whose two texts are both long can be cut one
// token differently (transformers' "longest_first" is not kiso's rule to the token).
// Refused, each by name: a pre-LN model (transformers' openai-gpt is post-LN only), afn
// gelu_exact, n_inner != 4·n_embd (transformers fixes it), more classes than C for double-heads.
// What it is not: an importer (kiso does not read these directories back as fine-tuned models),
// or an export of the LM-only model (a kiso model directory already loads as
// OpenAIGPTLMHeadModel).
// Read next: gpt/finetuned.h (the directory this reads), train/commands/export.cpp (the command),
// tests/gpt/test_hf_export.cpp (checked against transformers' own logits).
#pragma once

#include <string>
#include <vector>

#include "gpt/finetuned.h"
#include "gpt/json.h"
#include "gpt/safetensors.h"

namespace kiso {

enum class HfHead { sequence_classification, double_heads };
HfHead parse_hf_head(const std::string& name);  // "sequence-classification" or "double-heads"
std::string to_string(HfHead head);
HfHead default_hf_head(TaskKind kind);  // double-heads for similarity and multiple choice
std::string hf_class_name(HfHead head);  // "OpenAIGPTForSequenceClassification", ...

// The directory's contents, before anything is written.
struct HfExport {
  HfHead head = HfHead::sequence_classification;
  Json config;                        // config.json
  Json tokenizer_config;              // tokenizer_config.json
  Json tokenizer_json;                // tokenizer.json (the tokenizer with kiso's framing), or null
  safetensors::NamedTensors tensors;  // model.safetensors, sorted by name
  double fold_residual = 0;  // sequence-classification: max |A β'_f32 − (A β + b_folded)| in f64; else 0
};

// The minimum-norm fold: β' = β + Aᵀ (A Aᵀ)⁻¹ b in f64, for A (classes, C) row-major. Throws when
// A Aᵀ is singular or nearly so (a Cholesky pivot <= 1e-6 of the largest diagonal entry: see
// hf_export.cpp). Alone for testing.
std::vector<double> fold_bias(const std::vector<double>& A, int64_t classes, int64_t C,
                              const std::vector<double>& beta, const std::vector<double>& b);

// The export of `m` in the form `head`; throws (naming what and why) for what transformers
// cannot hold. `m` is not changed.
HfExport hf_export(FinetunedModel& m, HfHead head);
// Writes `dir` as a whole (write_dir_atomic): the export and m's tokenizer files.
void save_hf_export(const std::string& dir, const FinetunedModel& m, const HfExport& e);

}  // namespace kiso
