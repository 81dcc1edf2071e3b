// gpt/tokenizer.h — BPE tokenizers of two kinds: GPT-2's byte-level BPE (train, encode, decode, save,
// load) and GPT-1's own BPE (encode, decode, save, load: the files of OpenAI's released GPT-1).
//
// Two kinds (TokenizerKind; both merge by rank, they differ in what the merges start from):
//   byte_level  what kiso trains and what GPT-2 uses: no normalisation, symbols are bytes (below);
//   gpt1        GPT-1's (openai-gpt on the Hugging Face hub, 40,478 tokens): the text is normalised
//               and cut into words by gpt/gpt1_text.h (lowercase, accents stripped, split at white
//               space and punctuation, CJK ideographs alone), each word's symbols are its characters,
//               the last one with "</w>" appended ("cat" -> c a t</w>), and a character the
//               vocabulary lacks becomes "<unk>". Ids equal transformers' OpenAIGPTTokenizer (see the
//               GPT-1 section at the end of this comment). kiso does not train this kind.
//
// Byte-level. Text is UTF-8; it is first split
// into pre-tokens by GPT-2's regular expression (PCRE2, UTF + UCP mode; \s spelled out as
// Unicode's White_Space set, see gpt/tokenizer.cpp)
//
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// so a merge never crosses a word, number or punctuation boundary; then each pre-token's bytes
// are merged pairwise by a ranked list of merges. Every one of the 256 bytes is a token, so any
// text has an encoding and there is no "unknown" token.
// What it is not: a general tokenizer library. There are two fixed kinds (one pattern, one
// normaliser), no "added tokens" parsed out of text and no dropout; encode() takes valid UTF-8 only.
// Caveat: which characters are letters (\p{L}) or numerals (\p{N}) comes from PCRE2's Unicode
// tables (Unicode 14.0 in Debian 12's PCRE2 10.42); a character assigned in a later Unicode
// version may split differently from a tiktoken built on newer tables. Everything assigned by
// Unicode 14 encodes exactly as OpenAI's GPT-2 tokenizer.
//
// References: Sennrich, Haddow & Birch 2016, "Neural Machine Translation of Rare Words with
// Subword Units" (BPE for words: count words, merge the most frequent pair, repeat);
// Radford et al. 2019, "Language Models are Unsupervised Multitask Learners" §2.2 (GPT-2's
// byte-level BPE and its pre-tokenisation), and OpenAI's gpt-2 `src/encoder.py`, whose
// behaviour encode() follows exactly; tests compare against PyPI's `tiktoken` built from
// OpenAI's files. GPT-1: Radford et al. 2018, "Improving Language Understanding by Generative
// Pre-Training" §4.1 (a BPE of 40,000 merges; ftfy and spaCy's tokenizer before it), OpenAI's
// finetune-transformer-lm `text_utils.py`, and transformers' models/openai/tokenization_openai.py,
// whose ids tests/gpt/test_tokenizer_gpt1.cpp compares against.
// Read next: gpt/tokenizer.cpp (encoding: the plain merge loop first, then the fast one; files),
// gpt/gpt1_text.h (GPT-1's normaliser and word splitter), gpt/bpe_train.cpp (training).
//
// Ids.
//   Trained tokenizer: 0..255 are the byte tokens, id = byte value (not GPT-2's order);
//     256.. are the merge results in rank order (merge r makes token 256 + r); the four
//     special tokens follow, in the order of kSpecialTokens.
//   Loaded files: ids are those of vocab.json. In OpenAI's GPT-2 files "<|endoftext|>" is
//     50256; special tokens that vocab.json lacks get the next free ids in the order of
//     kSpecialTokens, so GPT-2's files give <|start|> 50257, <|delim|> 50258, <|extract|> 50259.
//
// Special tokens are never produced by encode(): the string "<|endoftext|>" inside a text is
// ordinary text (the pre-tokens "<|", "endoftext", "|>", merged as usual). A caller inserts
// them by id (special("<|endoftext|>")); decode() turns them back into their names.
//
// Files (a tokenizer directory; save() writes the first three and tokenizer_config.json, each one
// atomically; load() also takes OpenAI's names for the first two, encoder.json and vocab.bpe):
//   vocab.json           {"token": id, ...} for every id, special tokens included under their
//                        names. Ordinary tokens are written with GPT-2's bytes-to-unicode map
//                        (each byte becomes one printable character: 'Ġ' is the space byte).
//   merges.txt           "#version: 0.2", then one merge "left right" per line, rank 0 first,
//                        both parts in the same printable form.
//   special_tokens.json  {"<|endoftext|>": id, "<|start|>": id, "<|delim|>": id,
//                        "<|extract|>": id}. Optional on load: without it the names are
//                        looked up in vocab.json and the missing ones appended as above.
//   tokenizer_config.json {"tokenizer_class": "GPT2Tokenizer"} (or "OpenAIGPTTokenizer", below):
//                        the kind, for the rule below and for transformers' AutoTokenizer, which
//                        would otherwise take a kiso model directory (model_type "openai-gpt")
//                        for GPT-1's tokenizer. Optional on load.
//   tokenizer.json       (load only, when vocab.json + merges.txt are absent) the one file Hugging
//                        Face's save_pretrained writes in transformers 5: its model.vocab and
//                        model.merges are read, and its normalizer / pre_tokenizer / model settings
//                        must be those of one of the two kinds.
//
// Which kind load(dir) reads, in this order:
//   1. tokenizer_config.json's "tokenizer_class", when the file and the key are there (transformers
//      writes them): "OpenAIGPTTokenizer" or "OpenAIGPTTokenizerFast" -> gpt1, "GPT2Tokenizer" or
//      "GPT2TokenizerFast" -> byte_level; another class is an error naming it.
//   2. tokenizer.json's settings, when that is the file read (above).
//   3. otherwise the vocabulary: gpt1 when a token ends in "</w>", byte_level when none does.
//      A byte-level token never ends in "</w>": GPT-2's pattern cuts letters ("w") from punctuation
//      ("</", ">"), and no merge crosses a cut.
//   When 1 or 2 names a kind and the vocabulary is of the other, load() refuses the directory,
//   naming both files.
//
// GPT-1 kind, the files: vocab.json {"token": id} with the tokens as written ("the</w>", "<unk>"),
// merges.txt "#version: 0.2" then "left right" lines (e.g. "th e</w>"); special_tokens.json as above
// (kiso's four special tokens follow the vocabulary: OpenAI's 40,478 tokens give <|endoftext|> 40478
// ... <|extract|> 40481; the released model's embedding has no rows for them). save() writes the
// three files as they are and tokenizer_config.json {"tokenizer_class": "OpenAIGPTTokenizer"}, so
// that transformers' OpenAIGPTTokenizer and AutoTokenizer load the directory.
// GPT-1 kind, where kiso and transformers differ, on purpose or by Unicode version:
//   - "<unk>" written in a text is text to kiso ("<", "unk", ">"), as every special token is;
//     transformers matches it as its unknown token.
//   - a character the vocabulary lacks becomes "<unk>"'s id; when vocab.json has no "<unk>",
//     encode() throws, naming the character, its code point and its byte offset in the text
//     (transformers appends <unk> as a new token and then refuses to encode such a text).
//   - only the unknown token "<unk>" is read: a tokenizer_config.json naming another unk_token is
//     refused.
//   - the normaliser's Unicode caveats (characters assigned after Unicode 15.0, U+11938) are in
//     gpt/gpt1_text.h; the merges are applied as OpenAI's GPT-1 code (text_utils.py, bpe()) and
//     GPT-2's encoder.py apply them, which equals `tokenizers`' order for any merges.txt in which a
//     merge's result is only merged further by later lines (every trained merges.txt).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kiso {

// The special tokens, in the order their ids are assigned. <|endoftext|> separates documents
// in pre-training; the other three are GPT-1's fine-tuning input transformations (§3.3).
inline constexpr std::array<std::string_view, 4> kSpecialTokens = {"<|endoftext|>", "<|start|>", "<|delim|>",
                                                                   "<|extract|>"};

// The two kinds of BPE (see the top of this file).
enum class TokenizerKind {
  byte_level,  // GPT-2's byte-level BPE: what kiso trains, OpenAI's GPT-2 files
  gpt1,        // GPT-1's BPE: lowercased words, "</w>" word ends, "<unk>" for unknown characters
};
// "byte-level BPE" or "GPT-1 BPE", for messages.
std::string_view kind_name(TokenizerKind kind);
// The class transformers loads each kind with, as tokenizer_config.json names it: "GPT2Tokenizer",
// "OpenAIGPTTokenizer".
std::string_view hf_tokenizer_class(TokenizerKind kind);

// One merge: the adjacent tokens (left, right) become the token `result`.
struct BpeMerge {
  int32_t left, right, result;
};

// What training measured (all optional to read). Speed = bytes / (pretokenize + merge time).
struct TrainStats {
  int64_t bytes = 0;               // corpus size
  int64_t pretokens = 0;           // pieces the pattern cut the corpus into
  int64_t distinct_pretokens = 0;  // the "words" of Sennrich et al.
  int64_t merges = 0;              // merges learned (fewer than asked when the corpus runs out)
  double pretokenize_seconds = 0;  // pass 1: UTF-8 check, split and count
  double merge_seconds = 0;        // passes 2 and 3: pair counts and the merge loop
  double mb_per_second() const { return double(bytes) / 1e6 / (pretokenize_seconds + merge_seconds); }
};

class Tokenizer {
 public:
  // Learns merges on `corpus` (valid UTF-8) until the vocabulary holds `vocab_size` tokens:
  // 256 bytes + merges + 4 special tokens. Stops early, with a smaller vocabulary, when every
  // pre-token of the corpus has become a single token. Deterministic: ties between pairs of
  // equal count go to the smallest (left id, right id). Throws when vocab_size < 260.
  static Tokenizer train(std::string_view corpus, int64_t vocab_size, TrainStats* stats = nullptr);

  // Reads DIR/vocab.json + DIR/merges.txt, or, when that pair is absent, OpenAI's names for the
  // same two files, DIR/encoder.json + DIR/vocab.bpe, or else DIR/tokenizer.json; and
  // DIR/special_tokens.json when present. The kind follows the rule at the top of this file.
  // A directory with none of these is an error naming them.
  static Tokenizer load(const std::string& dir);
  // Reads two files by path, e.g. OpenAI's encoder.json and vocab.bpe; no special_tokens.json.
  static Tokenizer load(const std::string& vocab_json, const std::string& merges_txt);
  // A kind named by another file (tokenizer_config.json, tokenizer.json): `source` says where, for
  // the error when the vocabulary is of the other kind.
  struct KindClaim {
    TokenizerKind kind;
    std::string source;  // e.g. "dir/tokenizer_config.json: \"tokenizer_class\": \"OpenAIGPTTokenizer\""
  };
  // The same from the files' contents, already in memory (tests, fuzzing): `names` stand for
  // vocab.json, merges.txt and special_tokens.json in errors; nullopt: no special_tokens.json.
  // The kind is the vocabulary's (rule 3 at the top), which must agree with `claim` when given.
  static Tokenizer from_text(std::string_view vocab_json, std::string_view merges_txt,
                             std::optional<std::string_view> special_tokens_json,
                             const std::array<std::string, 3>& names = {"vocab.json", "merges.txt",
                                                                        "special_tokens.json"},
                             const std::optional<KindClaim>& claim = std::nullopt);
  // Creates `dir` if needed and writes the three files (see the top of this file); a GPT-1 tokenizer
  // also writes tokenizer_config.json.
  void save(const std::string& dir) const;
  // The texts save() writes: vocab.json, merges.txt, special_tokens.json, in that order, so
  // that from_text(t[0], t[1], t[2]) is load() of a saved directory without the files (fuzzing).
  std::array<std::string, 3> to_text() const;

  // Token ids of `text`. Throws, naming the byte offset, when `text` is not valid UTF-8 (and, for
  // a GPT-1 vocabulary without "<unk>", when a character is not in it). Safe to call from several
  // threads at once.
  std::vector<int32_t> encode(std::string_view text) const;
  // The same ids by the plain, textbook merge loop and no cache: slow (O(n²) per pre-token of
  // n symbols), kept as the version to read first and as encode()'s test oracle.
  std::vector<int32_t> encode_plain(std::string_view text) const;
  // What encode_plain does, step by step, for teaching (`kiso tokenizer encode --explain`): for
  // each pre-token (GPT-1: each normalised word), its symbols before the first merge and after
  // every round of the plain loop.
  struct MergeRound {
    int32_t rank = -1;            // the merge applied in this round; -1 for the starting symbols
    std::vector<int32_t> symbols;  // the pre-token's ids after the round
  };
  struct PretokenTrace {
    std::string text;               // the pre-token's bytes, as the pattern cut them (GPT-1: the word)
    std::vector<MergeRound> rounds;  // rounds.back().symbols are its ids in encode()
  };
  std::vector<PretokenTrace> explain(std::string_view text) const;
  // Byte-level: the bytes of the tokens, concatenated (special tokens as their names). May be
  // invalid UTF-8 when `ids` ends inside a character.
  // GPT-1: as transformers decodes: the tokens concatenated, each "</w>" becoming a space (nothing
  // in the last token): "the</w> cat</w> ,</w>" -> "the cat ,". The text was lowercased and split
  // on the way in, so this is not the original text.
  // Throws on an id outside the vocabulary, naming it and its position.
  std::string decode(std::span<const int32_t> ids) const;
  // The text `ids` add after `before` (a prompt's ids): decode(before + ids) less decode(before),
  // which is always a prefix of it. Byte-level: decode(ids). GPT-1: the same words, but starting with
  // the space that ends before's last word ("the cat" + "sat" -> " sat"), which decode(ids) leaves out.
  std::string decode_after(std::span<const int32_t> before, std::span<const int32_t> ids) const;

  int64_t vocab_size() const { return int64_t(tokens_.size()); }
  TokenizerKind kind() const { return kind_; }
  // GPT-1: the id of "<unk>", what a character outside the vocabulary becomes; -1 when vocab.json
  // has no "<unk>" (and always for byte-level BPE, which needs none).
  int32_t unknown_id() const { return unknown_id_; }
  // The id of a special token by name, e.g. special("<|endoftext|>"); throws for other names.
  int32_t special(std::string_view name) const;
  bool is_special(int32_t id) const;
  // The bytes of token `id` (a special token's name for a special token); GPT-1: the token as
  // vocab.json writes it ("the</w>").
  const std::string& token(int32_t id) const;
  // Token `id` as a reader sees it in kiso's tools: printable_bytes of its bytes, or a special
  // token's name; GPT-1: as vocab.json writes it, the word end shown as "</w>".
  std::string label(int32_t id) const;
  // The merges in rank order.
  const std::vector<BpeMerge>& merges() const { return merges_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Encodings of pre-tokens already seen, shared by copies of this tokenizer (they have the
  // same merges, so the same answers). A mutex makes encode() safe to call from many threads.
  struct EncodeCache;

  // Builds the lookup tables from the three things that define a tokenizer. `tokens` holds
  // each id's bytes (a special token's name at its id); every merge's result must be the
  // concatenation of its parts. Used by train() and load(), which have validated their input.
  // A GPT-1 tokenizer's `tokens` are vocab.json's strings.
  Tokenizer(std::vector<std::string> tokens, std::vector<BpeMerge> merges, std::array<int32_t, 4> special_ids,
            TokenizerKind kind = TokenizerKind::byte_level);
  static Tokenizer load_files(const std::string& vocab_json, const std::string& merges_txt,
                              const std::string& special_tokens_json, const std::optional<KindClaim>& claim);
  static Tokenizer load_tokenizer_json(const std::string& tokenizer_json, const std::string& special_tokens_json,
                                       const std::optional<KindClaim>& config_claim);
  // The BPE of one pre-token: its symbols merged by rank, exactly as GPT-2's encoder.py does.
  // merge_pretoken_plain is encoder.py's loop done literally (read it first); merge_pretoken
  // gives the same ids fast, with a heap.
  // With `rounds`, each round's rank and symbols are appended to it (explain()).
  // Both start from the pre-token's symbols (symbols() below).
  std::vector<int32_t> merge_pretoken_plain(std::vector<int32_t> word, std::vector<MergeRound>* rounds = nullptr) const;
  std::vector<int32_t> merge_pretoken(const std::vector<int32_t>& symbols) const;
  // The symbols a pre-token's merges start from: its bytes' tokens (byte-level); its characters'
  // tokens, the last with "</w>", unknown ones "<unk>" (GPT-1). `text` is the whole text, for the
  // error when a character is unknown and there is no "<unk>".
  std::vector<int32_t> symbols(std::string_view piece, std::string_view text) const;
  // Calls visit(piece) for each pre-token of `text` (valid UTF-8): GPT-2's pattern, or GPT-1's
  // normalised words.
  void for_each_piece(std::string_view text, const std::function<void(std::string_view)>& visit) const;

  std::vector<std::string> tokens_;              // (V,) id -> bytes
  std::array<int32_t, 256> byte_ids_{};          // byte value -> id of its one-byte token
  std::vector<BpeMerge> merges_;                 // rank -> merge
  std::unordered_map<uint64_t, int32_t> ranks_;  // (left, right) -> rank
  std::array<int32_t, 4> special_ids_{};         // as kSpecialTokens
  TokenizerKind kind_ = TokenizerKind::byte_level;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> symbol_ids_;  // GPT-1: token -> id
  int32_t unknown_id_ = -1;                       // GPT-1: "<unk>"
  std::shared_ptr<EncodeCache> cache_;
};

// The first ill-formed sequence of `text`: where it starts (a byte offset from 0) and what is
// wrong with it, e.g. "0xff never occurs in UTF-8"; nullopt when `text` is well-formed UTF-8
// (no overlong forms, no surrogates, nothing above U+10FFFF, no truncated character).
struct Utf8Error {
  size_t offset;
  std::string reason;
};
std::optional<Utf8Error> find_invalid_utf8(std::string_view text);
// Throws kiso::Error("<op>: invalid UTF-8 at byte N: ...") unless `text` is well-formed UTF-8;
// N counts from 0.
void check_utf8(std::string_view text, const char* op);
// The same check for the contents of a file, with the error in a reader's terms: the file, the
// line and the byte within it, both counted from 1 as an editor does:
//   "train.tsv, line 2: invalid UTF-8 at byte 3 of the line (byte 12 of the file): 0xff never ..."
void check_utf8_file(std::string_view text, const std::string& path);

// Calls visit(piece) for each pre-token of `text`, in order; the pieces tile `text` exactly.
// `text` must be valid UTF-8 (check_utf8 first: this skips PCRE2's own check for speed).
void for_each_pretoken(std::string_view text, const std::function<void(std::string_view)>& visit);
// The pre-tokens of `text` as a list; checks UTF-8 itself.
std::vector<std::string_view> pretokenize(std::string_view text);

// GPT-2's printable form of bytes: each byte becomes one character (bytes that are printable
// Latin-1 characters stay themselves, the other 68 become U+0100..U+0143), as UTF-8.
std::string bytes_to_unicode(std::string_view bytes);
// Bytes as a reader can see them (the tools that show tokens: tokenizer encode --pieces, trace,
// attention, layout): the text itself, with a space shown as '␣', a newline as '↵', a tab as
// '⇥', other control bytes and bytes that are not whole UTF-8 characters (a token that ends
// inside one) as \xNN. Not GPT-2's file form (bytes_to_unicode), which exists only for the files.
std::string printable_bytes(std::string_view bytes);
// The inverse. Throws, naming `what`, when `text` holds a character outside the table.
std::string unicode_to_bytes(std::string_view text, const std::string& what);

}  // namespace kiso
