// train/attention_map.h — a layer's attention weights for a prompt, and their picture: an SVG
// heatmap with the prompt's tokens on both axes (what `kiso attention` writes).
//
// Row t is query t (the token that looks), column j is key j (the token looked at); the cell
// holds softmax(q kᵀ / √HS)[t, j] of the chosen head, shaded on a linear scale from 0 (pale) to
// 1 (dark blue) with its legend. The causal mask shows as the empty upper triangle: key j > t is
// in query t's future and gets weight exactly 0; those cells are hatched grey, not coloured.
// Each row sums to 1. `head = -1` draws every head: a grid of small heatmaps, one per head, each
// on the same 0..1 scale (not their mean, which would hide what each head does).
// The weights are the trace's (train/trace.h): formed from the layer's real q and k.
// What it is not: an attention-flow or attribution method (rollout, gradients): one layer, one
// head, as the model computed it.
#pragma once

#include <string>
#include <vector>

#include "gpt/model.h"
#include "gpt/tokenizer.h"

namespace kiso {

struct AttentionMap {
  std::string prompt;
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;  // Tokenizer::label of each id
  int64_t layer = 0;
  int64_t head = 0;                 // -1: every head
  // The weights shown: one (T, T) matrix per head drawn (one, or NH for head -1), row = query.
  std::vector<std::vector<std::vector<double>>> weights;
  std::vector<int64_t> heads;       // which head each matrix is
};

// The weights of block `layer`, head `head` (-1: all) for `prompt`. Throws, naming `op` and the
// option, when the layer or head is out of range, and for the prompt errors of trace_forward.
AttentionMap attention_map(const GPT& model, const Tokenizer& tokenizer, const std::string& prompt, int64_t layer,
                           int64_t head, const char* op = "attention");

// The heatmap: per head T × T cells (<rect class="cell ...">, row by row; a masked cell's class
// is "cell masked"), token labels on both axes (XML-escaped), a title and the colour scale.
std::string attention_svg(const AttentionMap& map);

// The colour of weight w in [0, 1] on the heatmap's scale, "#rrggbb": each channel falls
// linearly from #f7fbff (w = 0) to #08306b (w = 1), so a larger weight is never lighter.
std::string weight_color(double w);

}  // namespace kiso
