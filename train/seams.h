// train/seams.h — the slides' pre-training variant ("学習時の入力文の工夫", gpt-slides-ja p. 22):
// special tokens at the seams of the pre-training text, with their predictions left out of the
// loss. `kiso prepare --seams` writes the data this way; `kiso pretrain` reads meta.json and
// masks; `kiso finetune` then starts from the rows pre-training learned for them.
//
// The idea: fine-tuning frames every example as <s> text <$> text <e> (gpt/tasks.h), but a
// plainly pre-trained model has never read <s>, <$> or <e>, so their embedding rows start as
// noise and the EXTRACT state the head reads is one the model never produced before. Framing the
// pre-training text the same way lets the model learn those rows, and learn to carry a
// paragraph's meaning to its EXTRACT position, before fine-tuning starts.
//
// The layout of the token stream, for every document of every input file, in order:
//   <|start|> sentence_1 <|delim|> sentence_2 <|delim|> ... sentence_n <|extract|>
// and the next document's <|start|> right after. Plain `prepare` puts <|endoftext|> between
// documents instead; here it is left out: the <e> <s> pair already marks every boundary, and one
// more token would be one more prediction either trained (a token fine-tuning uses only as
// padding, never read) or masked. The ids are the tokenizer's own (gpt/tokenizer.h
// kSpecialTokens), the same ids `kiso finetune` reads from the same tokenizer files.
//
// What a document and a sentence are (split_documents; deliberately simple rules, tested):
//   document  a paragraph: the text between blank lines (a line empty or only whitespace);
//             a file with no blank line is one document. A paragraph, not a whole file: a
//             fine-tuning example (a review, a premise and its hypothesis) is the length of a
//             paragraph, not of a novel, and the demo's corpus is one paragraph a line.
//   sentence  ends after one or more of . ! ? , then any closing quotes or brackets ( " ' ” ’
//             ) ] ), when whitespace or the document's end follows. The whitespace between two
//             sentences is dropped (a DELIM stands for it), the one inside a sentence kept.
//             The full-width 。 ！ ？ (and closers 」 』 ）) end a sentence with no whitespace after
//             them, as Japanese and Chinese write: 「吾輩は猫である。名前はまだない。」 is two.
//   Known failures, left as they are: an abbreviation ends a sentence ("Mr. Darcy" is "Mr." +
//   "Darcy ..."; also "e.g. this", "St. Ives"); a quoted exclamation inside a sentence ends it
//   ("\"Oh!\" said she." is "\"Oh!\"" + "said she."); a sentence without its end mark runs on
//   into the next one ("Chapter 1 It was" stays one sentence). The model then sees a DELIM in
//   a wrong place now and then: noise in a pre-training signal, not an error.
//
// The loss: every position whose TARGET is <s>, <$> or <e> is set to ignore_index (-100), so
// the model is never trained to predict a seam (where sentences or paragraphs end is the
// splitter's guess, not the text's), while the positions whose INPUT is one of them still train
// (from <s> and <$> the model predicts a paragraph's or a sentence's first word). The position
// whose input is <e> always has the next document's <s> as its target, so it is dropped by the
// same rule: the final hidden state at <e>, the one fine-tuning's head reads, gets no loss of its
// own in pre-training; <e>'s row learns only as context for the tokens after it. Validation uses
// the same mask, so a seams run's val loss is a mean over other targets than a plain run's
// (which includes <|endoftext|>): the two are compared by the loss per real token
// (real_token_loss: every special-token target left out, in either run).
// Whether it changes the fine-tuning results at kiso's tiny scale: docs/results.md, "Seam tokens
// in pre-training".
// What it is not: a sentence tokenizer (no abbreviation list, no language model of punctuation).
// Read next: train/prepare.h (writes the data), train/pretrain.h (masks), train/special_rows.h
// (fine-tuning keeps the rows).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpt/json.h"
#include "gpt/model.h"
#include "gpt/tokenizer.h"
#include "train/shards.h"

namespace kiso {

// A document is its sentences, each trimmed of surrounding whitespace, none empty.
using Document = std::vector<std::string>;

// The documents of `text` by the rules above, in order; blank documents are skipped.
std::vector<Document> split_documents(std::string_view text);

// The three seam tokens' ids: <|start|>, <|delim|>, <|extract|> of a tokenizer.
struct SeamIds {
  int32_t start = -1, delim = -1, extract = -1;
  bool contains(int32_t id) const { return id == start || id == delim || id == extract; }
};
SeamIds seam_ids(const Tokenizer& tokenizer);

// The token stream of `text`: <s> s_1 <$> s_2 ... s_n <e> for each document (see above).
std::vector<int32_t> encode_with_seams(const Tokenizer& tokenizer, std::string_view text);

// meta.json's "seams" entry: {"start": id, "delim": id, "extract": id}, and its reading back
// (nullopt when the data was prepared without --seams). Each id is checked to be in 0..V-1.
Json seams_json(const SeamIds& ids);
std::optional<SeamIds> read_seams(const Json& meta, int64_t vocab_size, const std::string& path);

// `targets` (B, T) i32 with every seam token replaced by -100 (cross_entropy's ignore_index).
Tensor mask_seam_targets(const Tensor& targets, const SeamIds& ids);

// The loss per real token: the mean cross-entropy over the targets of `batches` that are not
// one of the tokenizer's four special tokens (<|endoftext|> included). The figure that compares
// a plain run with a seams run.
double real_token_loss(const GPT& model, const std::vector<Batch>& batches, const Tokenizer& tokenizer);

// The file pre-training writes into each checkpoint trained on seam data, `seams.json` (the same
// three ids): it tells `kiso finetune` that these rows were learned, so it keeps them instead of
// drawing them anew (train/special_rows.h).
inline constexpr const char* kSeamsFile = "seams.json";

}  // namespace kiso
