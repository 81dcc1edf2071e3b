// train/commands/prepare.cpp — `kiso prepare`: text files -> a data directory for pre-training
// (a tokenizer, trained here or given, and the train/val token shards; train/prepare.h). The
// progress lines go to stderr; --json prints the token counts and timings on stdout.
// --seams: the slides' pre-training variant (train/seams.h): a paragraph (the text between blank
// lines) is a document and a sentence ends at . ! or ? before whitespace, so
//   kiso prepare --input book.txt --out data --vocab-size 512 --seams
// writes <|start|> sentence <|delim|> sentence ... <|extract|> for each paragraph, and meta.json
// records the three ids, which kiso pretrain masks and kiso finetune keeps.
// What it is not: the training itself (kiso pretrain reads the directory).
#include <iostream>

#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/prepare.h"

namespace kiso {

namespace {

struct Options {
  PrepareOptions prepare;
  bool as_json = false;
};

}  // namespace

static int run_prepare(const Options& o) {
  PrepareResult r = prepare(o.prepare, std::cerr);
  if (o.as_json)
    std::cout << Json{{"vocab_size", r.vocab_size}, {"train_tokens", r.train_tokens}, {"val_tokens", r.val_tokens},
                      {"tokenizer_seconds", r.tokenizer_seconds}, {"encode_seconds", r.encode_seconds}}
              << "\n";
  return 0;
}

void add_prepare(CLI::App& app) {
  auto options = std::make_shared<Options>();
  PrepareOptions& p = options->prepare;
  CLI::App* command = app.add_subcommand("prepare", "text files -> tokenizer + train/val token shards");
  command->add_option("--input", p.inputs, "text files, one document each")->required();
  command->add_option("--out", p.out_dir, "the data directory to write")->required();
  command->add_option("--tokenizer", p.tokenizer_dir, "use this tokenizer instead of training one");
  command->add_option("--vocab-size", p.vocab_size, "vocabulary of the trained tokenizer")->capture_default_str();
  command->add_option("--val-fraction", p.val_fraction, "held-out end of the token stream")->capture_default_str();
  command->add_flag("--seams", p.seams,
                    "frame each paragraph as <|start|> sentence <|delim|> sentence ... <|extract|> (no "
                    "<|endoftext|>); kiso pretrain then leaves those tokens' predictions out of the loss");
  add_json_flag(*command, options->as_json);
  command->callback([options] { exit_with(run_prepare(*options)); });
}

}  // namespace kiso
