// train/trace.h — "the life of a token": one forward pass of a prompt, stage by stage, from the
// text to its token ids, the embeddings, each block's attention and MLP, the logits, the next
// token's probabilities and the loss. What `kiso trace` prints and `kiso attention` draws from.
//
// The values are the real forward pass's: GPT::hidden_states (gpt/model.cpp) runs with an
// Observer (nn/modules.h) in its Mode, and the modules hand it each stage as they compute it.
// Three kinds of stage are formed for the trace alone, from tensors the pass computed:
//   - the heads q, k, v (B, NH, T, HS): the fused projection attn.c_attn (B, T, 3C) cut into its
//     three thirds and each third into NH heads (a reshape: the same numbers);
//   - the attention weights (B, NH, T, T) = softmax(q kᵀ / √HS) under the causal mask: the fused
//     attention op does not keep them (on cuda its flash kernel never forms them), so
//     attention_weights computes them from that layer's q and k;
//   - the residual sums before a post-LN LayerNorm and the MLP's pre-activation before GELU,
//     which fused ops (residual_layernorm, linear_gelu) keep inside: nn/modules.cpp forms them
//     from the same inputs when an observer is present.
// Then the tied head gives the logits (GPT::lm_head, what GPT::logits runs), softmax gives
// P(next token), and cross-entropy against the prompt shifted by one gives the loss that
// GPT::loss computes.
// What it is not: a profiler or a debugger; it runs one prompt, batch 1, in eval mode (no dropout).
// Read next: train/attention_map.h (the weights as a heatmap), train/commands/trace.cpp.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gpt/model.h"
#include "gpt/tokenizer.h"

namespace kiso {

// One stage of the forward pass.
struct TraceStage {
  std::string name;         // as the code names it: "h_0", "h.0.attn.c_attn", "h.1.ln_2", "logits"
  std::string description;  // what it is in the paper's terms: "h_0 = U W_e + W_p"
  int64_t layer = -1;       // the block it belongs to; -1 outside the blocks
  Tensor value;             // the whole tensor, on the CPU
  // The first values of its "last row": batch 0, head 0, the last index of every other axis but
  // the last; `index` says which in NumPy's notation, e.g. "[0, 6, :4]".
  std::vector<double> values;
  std::string index;
  // Attention weights only: head 0's first rows and columns (queries 0..n-1 × keys 0..n-1), a
  // triangle: the causal mask makes every weight above the diagonal exactly 0.
  std::vector<std::vector<double>> corner;
};

// One of the most probable next tokens after the prompt.
struct NextToken {
  int32_t id;
  std::string text;  // Tokenizer::label
  double probability;
};

struct TraceOptions {
  int64_t values = 4;  // how many leading values of each stage's last row to keep
  int64_t layers = -1; // the blocks whose stages to keep: the first `layers`; -1: all
};

struct Trace {
  std::string prompt;
  std::vector<int32_t> ids;          // the prompt's token ids (BPE)
  std::vector<std::string> tokens;   // Tokenizer::label of each id
  Norm norm = Norm::post;            // the model's block: post-LN (GPT-1) or pre-LN (GPT-2)
  std::vector<TraceStage> stages;    // in the order the forward pass computed them
  std::vector<NextToken> top;        // the 5 most probable next tokens, most probable first
  std::optional<double> loss;        // next-token loss of the prompt on itself; none for one token

  // The stage named `name`; throws, listing the names, when there is none.
  const TraceStage& stage(const std::string& name) const;
};

// The trace of `prompt` through `model` (on any device), tokenized by `tokenizer`. Throws,
// naming `op` and the option, for an empty prompt, invalid UTF-8, or a prompt of more tokens
// than the model's context n_ctx; and for a tokenizer with ids the model has no row for.
Trace trace_forward(const GPT& model, const Tokenizer& tokenizer, const std::string& prompt,
                    const TraceOptions& options = {}, const char* op = "trace");

// The attention weights of one layer from its fused projection, as the attention op computes
// them (tensor/ops.h attention_forward), written out:
//   qkv (B, T, 3C) -> q, k (B, NH, T, HS): the first and second thirds, split into NH heads
//   scores = q kᵀ / √HS                        (B, NH, T, T)  (√HS keeps the scores' spread near 1)
//   weights = softmax(scores), causal           (B, NH, T, T)  key j > query t gets exactly 0
Tensor attention_weights(const Tensor& qkv, int64_t n_head);
// qkv (B, T, 3C) -> the heads of one third (0: q, 1: k, 2: v), (B, NH, T, HS).
Tensor split_heads(const Tensor& qkv, int64_t n_head, int third);


// Where the model and its tokenizer come from, as `kiso trace` and `kiso attention` take them:
// a model directory written by `kiso pretrain` (its tokenizer inside), or a preset with random
// initial weights (the ones `kiso pretrain --seed N` starts from) and a tokenizer directory.
struct ModelSource {
  std::string model_dir;      // --model
  std::string preset;         // --preset
  std::string tokenizer_dir;  // --tokenizer (with --preset)
  uint64_t seed = 1337;       // --seed (with --preset): kiso pretrain's default too
  bool seed_given = false;
};
struct LoadedModel {
  GPT model;
  Tokenizer tokenizer;
};
// Checks the options (exactly one of --model and --preset; --tokenizer with --preset only, and
// required by it; --seed with --preset only; the directories exist; the preset is known), naming
// `command` and the flag: call before any work.
void check_model_source(const ModelSource& source, const char* command);
// The model (on `device`) and its tokenizer. A preset's vocabulary is the tokenizer's.
LoadedModel load_model_source(const ModelSource& source, Device device, const char* command);

}  // namespace kiso
