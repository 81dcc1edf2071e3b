// train/special_rows.h — the rows of <|start|>, <|delim|> and <|extract|> in the token
// embedding at fine-tuning: drawn anew before training, and with --freeze-backbone the only
// numbers of the pre-trained model that train.
//
// Why anew: the pre-trained model has never read these tokens, so their rows hold nothing
// useful; GPT-1 (§3.3) adds them as randomly initialised start, delimiter and extract tokens.
// Except when it has: a model pre-trained on `kiso prepare --seams` data (train/seams.h) read
// them at every paragraph and sentence, and its directory holds seams.json naming their ids;
// then the rows it learned are kept (RowsFrom::pretrained), as its other rows are.
// Why a mask: freezing whole parameters is requires_grad = false, but the three rows live in
// the (V, C) embedding with every other token's row, and they still need gradients through the
// whole network, so backward runs through it. "Only these rows train" is a (V, 1) mask `keep`
// on the embedding's device, 1 on the special rows and 0 elsewhere:
//   before the update   g ← g ⊙ keep                 (clipping and AdamW see only those rows)
//   after the update    w ← w ⊙ keep + w₀ ⊙ (1 − keep) (AdamW's weight decay shrinks every row of
//                                                      a matrix, even one whose gradient is 0;
//                                                      this puts the frozen rows back bit for bit)
// with w₀ the embedding at set-up. Both are tensor ops, so the embedding never leaves its device.
// What it is not: the fine-tuning run (train/finetune.h) or the loop (train/loop.h), which
// calls the mask through its before_update / after_update hooks.
#pragma once

#include "gpt/tasks.h"

namespace kiso {

// Draws the three rows anew from N(0, 0.02) with `gen`, growing the embedding first when the
// vocabulary ends before them (GPT-2's files put them at 50257..50259). The model must be on
// the cpu in f32, as it is at set-up, before it moves to its device. With RowsFrom::pretrained
// the numbers are drawn all the same (so `gen` is left where it would be, and the head drawn
// from it next is the same as a plain run's of that seed) but the rows keep their values.
enum class RowsFrom { drawn, pretrained };
void draw_special_token_rows(GPT& model, const SpecialIds& special, Generator& gen, RowsFrom from = RowsFrom::drawn);

// --freeze-backbone's rule for the token embedding: only the special rows change.
struct SpecialRowMask {
  Variable* weight = nullptr;  // the token embedding W_e (V, C)
  Tensor keep;                 // (V, 1): 1 on the special rows, 0 elsewhere
  Tensor frozen;               // (V, C): w₀ ⊙ (1 − keep), the frozen rows as they were at set-up
  int64_t frozen_numbers = 0;  // (V − 3)·C: listed as a parameter, yet never trained

  void mask_gradient() const;       // g ← g ⊙ keep
  void restore_frozen_rows() const;  // w ← w ⊙ keep + frozen
};

// The parameters a frozen-backbone run trains, and the mask of its embedding.
struct FrozenBackbone {
  Parameters trainable;  // {"tokens_embed.weight"}: the head is the caller's to add
  SpecialRowMask rows;
};

// Every parameter of `model` except the token embedding stops requiring a gradient; the
// embedding trains through the mask, made on the device the model is on now.
FrozenBackbone freeze_backbone(GPT& model, const SpecialIds& special);

}  // namespace kiso
