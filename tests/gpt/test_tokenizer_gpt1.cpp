// tests/gpt/test_tokenizer_gpt1.cpp — GPT-1's tokenizer kind against Hugging Face transformers.
//
// The oracle is transformers 5.24's OpenAIGPTTokenizer, run once by
// tests/reference/make_gpt1_tokenizer_reference.py on a small openai-gpt-format tokenizer it trained
// (tests/gpt/data/gpt1_tokenizer/); its outputs are committed:
//   gpt1_tokenizer_reference.json  ids, tokens and decode() of varied texts;
//   gpt1_codepoints.txt            what its normaliser and word splitter make of every code point.
// Checked here: the code-point sweep (gpt/gpt1_text.h), ids and decode on every text, encode ==
// encode_plain, the kind rule of Tokenizer::load, save/load round trips, bad files, `kiso tokenizer
// encode / decode` on the fixture directory.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/core.h>
#include <unicode/uchar.h>

#include "base/check.h"
#include "gpt/atomic_file.h"
#include "gpt/gpt1_text.h"
#include "gpt/json.h"
#include "gpt/tokenizer.h"
#include "tests/temp_dir.h"
#include "tests/train/run_command.h"
#include "train/commands/commands.h"

using namespace kiso;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(KISO_SOURCE_DIR) + "/tests/gpt/data/";

std::string utf8(char32_t c) {
  std::string out;
  if (c < 0x80) out += char(c);
  else if (c < 0x800) out += char(0xC0 | (c >> 6)), out += char(0x80 | (c & 0x3F));
  else if (c < 0x10000)
    out += char(0xE0 | (c >> 12)), out += char(0x80 | ((c >> 6) & 0x3F)), out += char(0x80 | (c & 0x3F));
  else
    out += char(0xF0 | (c >> 18)), out += char(0x80 | ((c >> 12) & 0x3F)), out += char(0x80 | ((c >> 6) & 0x3F)),
        out += char(0x80 | (c & 0x3F));
  return out;
}

// Unicode §3.12: the jamo of a precomposed Hangul syllable (the table's "hangul"), written here from the
// standard, independently of ICU.
std::string hangul_jamo(char32_t c) {
  char32_t s = c - 0xAC00, t = 0x11A7 + s % 28;
  return utf8(0x1100 + s / 588) + utf8(0x1161 + (s % 588) / 28) + (t != 0x11A7 ? utf8(t) : "");
}

// One line of gpt1_codepoints.txt (format: make_gpt1_tokenizer_reference.py's table_lines()).
struct CodePointRun {
  char32_t first, last;
  std::string norm;  // drop, space, cjk, same, hangul, +D, -D, =XXXX.YYYY
  char split;        // s (white space), p (punctuation), w (word)
};

std::vector<CodePointRun> read_code_point_table() {
  std::ifstream in(kData + "gpt1_codepoints.txt");
  REQUIRE(in);
  std::vector<CodePointRun> runs;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string range, norm, split;
    fields >> range >> norm >> split;
    size_t dots = range.find("..");
    CodePointRun r;
    r.first = char32_t(std::stoul(range.substr(0, dots), nullptr, 16));
    r.last = dots == std::string::npos ? r.first : char32_t(std::stoul(range.substr(dots + 2), nullptr, 16));
    r.norm = norm;
    REQUIRE(split.size() == 1);
    r.split = split[0];
    runs.push_back(r);
  }
  return runs;
}

// What transformers' normaliser makes of `c` alone, from the table's NORM.
std::string expected_normal_form(const CodePointRun& r, char32_t c) {
  if (r.norm == "drop") return "";
  if (r.norm == "space") return " ";
  if (r.norm == "cjk") return std::string(" ").append(utf8(c)).append(" ");  // append: gcc 12's -Wrestrict misfires on +
  if (r.norm == "same") return utf8(c);
  if (r.norm == "hangul") return hangul_jamo(c);
  if (r.norm[0] == '+') return utf8(c + char32_t(std::stoul(r.norm.substr(1), nullptr, 16)));
  if (r.norm[0] == '-') return utf8(c - char32_t(std::stoul(r.norm.substr(1), nullptr, 16)));
  REQUIRE(r.norm[0] == '=');
  std::string out;
  for (size_t at = 1; at < r.norm.size();) {
    size_t dot = std::min(r.norm.find('.', at), r.norm.size());
    out += utf8(char32_t(std::stoul(r.norm.substr(at, dot - at), nullptr, 16)));
    at = dot + 1;
  }
  return out;
}

// How kiso's splitter treats the raw code point `c` between two letters: s, p or w, as in the table.
char kiso_split_class(char32_t c) {
  std::string text = std::string("a").append(utf8(c)).append("b");
  std::vector<std::string_view> words = gpt1_split(text);
  if (words.size() == 2 && words[0] == "a" && words[1] == "b") return 's';
  if (words.size() == 3 && words[1] == utf8(c)) return 'p';
  if (words.size() == 1 && words[0] == text) return 'w';
  return '?';
}

}  // namespace

TEST_SUITE("gpt") {

// Every code point but the surrogates (1,112,064 of them): kiso's normal form of it alone and its
// class to the splitter must be transformers'. The only code points allowed to differ are those
// assigned after ICU 72's Unicode 15.0 (u_charAge 0.0 to ICU), whose lowercase transformers' newer Rust
// tables know (55 of them), and U+11938 (below); a failure lists the others.
TEST_CASE("every code point normalises and splits as in transformers (but those assigned after Unicode 15)") {
  std::vector<CodePointRun> runs = read_code_point_table();
  int64_t checked = 0, differ = 0, differ_newer = 0, known_differences = 0;
  std::string report;
  char32_t expected_next = 0;
  for (const CodePointRun& r : runs) {
    CHECK(r.first == expected_next);  // the table covers every code point once
    expected_next = r.last + 1 == 0xD800 ? 0xE000 : r.last + 1;
    for (char32_t c = r.first; c <= r.last; ++c) {
      ++checked;
      std::string expected = expected_normal_form(r, c), got = gpt1_normalize(utf8(c));
      char split = kiso_split_class(c);
      if (got == expected && split == r.split) continue;
      ++differ;
      UVersionInfo age;
      u_charAge(UChar32(c), age);
      bool newer = age[0] == 0;  // unassigned to ICU: assigned after Unicode 15.0 (or never)
      differ_newer += newer;
      // U+11938 DIVES AKURU VOWEL SIGN O (Unicode 13.0) decomposes to U+11935 U+11930 in NFD; transformers'
      // normaliser leaves it whole (its decomposition tables predate 13.0). The one known difference.
      known_differences += c == 0x11938;
      if (!newer || differ_newer <= 20)
        report += fmt::format("U+{:04X}: normal form {} (transformers {}), split {} (transformers {}){}\n",
                              uint32_t(c), printable_bytes(got), printable_bytes(expected), split, r.split,
                              newer ? " [after Unicode 15]" : "");
    }
  }
  CHECK(expected_next == 0x110000);
  CHECK(checked == 0x110000 - 0x800);
  MESSAGE(fmt::format("{} code points checked; {} differ: {} assigned after Unicode 15.0, {} known", checked,
                      differ, differ_newer, known_differences));
  INFO(report);
  CHECK(differ == differ_newer + known_differences);
  CHECK(known_differences == 1);
}

}  // TEST_SUITE

namespace {

struct ReferenceCase {
  std::string name, text, decoded;
  std::vector<int32_t> ids;
  std::vector<std::string> tokens;
};

std::vector<ReferenceCase> read_reference() {
  const std::string path = kData + "gpt1_tokenizer_reference.json";
  Json j = parse_json_strict(read_file(path), path);
  std::vector<ReferenceCase> cases;
  for (const Json& c : j["cases"]) {
    cases.push_back({c["name"].get<std::string>(), c["text"].get<std::string>(), c["decoded"].get<std::string>(),
                     c["ids"].get<std::vector<int32_t>>(), c["tokens"].get<std::vector<std::string>>()});
  }
  REQUIRE(cases.size() >= 30);
  return cases;
}

const ReferenceCase& find_case(const std::vector<ReferenceCase>& cases, const std::string& name) {
  for (const ReferenceCase& c : cases)
    if (c.name == name) return c;
  FAIL("no case " << name);
  return cases[0];
}

const std::string kTokDir = kData + "gpt1_tokenizer";

// A copy of the fixture's two files in `dir`, with `edit` applied to vocab.json's text.
void copy_fixture(const TempDir& dir, const std::string& sub = "") {
  fs::create_directories(dir.str(sub));
  fs::copy_file(kTokDir + "/vocab.json", dir.str(sub) + "/vocab.json");
  fs::copy_file(kTokDir + "/merges.txt", dir.str(sub) + "/merges.txt");
}

}  // namespace

TEST_SUITE("gpt") {

TEST_CASE("GPT-1's files load as the GPT-1 kind, kiso's special tokens after the vocabulary") {
  Tokenizer tok = Tokenizer::load(kTokDir);
  CHECK(tok.kind() == TokenizerKind::gpt1);
  CHECK(tok.vocab_size() == 1000 + 4);
  CHECK(tok.unknown_id() == 0);
  CHECK(tok.special("<|endoftext|>") == 1000);
  CHECK(tok.special("<|extract|>") == 1003);
  CHECK(tok.token(0) == "<unk>");
  CHECK(tok.merges().size() == 810);
  CHECK(hf_tokenizer_class(tok.kind()) == "OpenAIGPTTokenizer");
}

// The heart of it: the ids of transformers' OpenAIGPTTokenizer on every fixture text, the tokens it
// names them by, and its decode(). encode_plain (the textbook loop) must agree with encode.
TEST_CASE("ids, tokens and decode equal transformers' OpenAIGPTTokenizer on every fixture text") {
  Tokenizer tok = Tokenizer::load(kTokDir);
  std::vector<ReferenceCase> cases = read_reference();
  for (const ReferenceCase& c : cases) {
    if (c.name == "unk_literal") continue;  // the one difference on purpose: next test
    CAPTURE(c.name);
    std::vector<int32_t> ids = tok.encode(c.text);
    CHECK(ids == c.ids);
    CHECK(tok.encode_plain(c.text) == ids);
    std::vector<std::string> tokens;
    for (int32_t id : ids) tokens.push_back(tok.token(id));
    CHECK(tokens == c.tokens);
    CHECK(tok.decode(c.ids) == c.decoded);
  }
  // explain() ends in the same ids, word by word.
  const ReferenceCase& hello = find_case(cases, "hello");
  std::vector<int32_t> explained;
  for (const Tokenizer::PretokenTrace& t : tok.explain(hello.text))
    explained.insert(explained.end(), t.rounds.back().symbols.begin(), t.rounds.back().symbols.end());
  CHECK(explained == hello.ids);
  CHECK(tok.explain(hello.text)[0].text == "hello");  // the normalised word
  // decode_after: what a continuation adds to a prompt, with the space that ends the prompt's last word.
  for (size_t cut : {size_t(0), size_t(1), size_t(5), hello.ids.size()}) {
    std::span<const int32_t> all(hello.ids);
    CHECK(tok.decode(all.first(cut)) + tok.decode_after(all.first(cut), all.subspan(cut)) == hello.decoded);
  }
  CHECK(tok.decode_after(tok.encode("the"), tok.encode("cat")) == " cat");
  CHECK(tok.explain(hello.text)[0].rounds[0].symbols.size() == 5);  // h e l l o</w>
}

// transformers matches "<unk>" written in a text as its unknown token; kiso never parses a special
// token out of text (gpt/tokenizer.h), so "<unk>" is the three words "<", "unk", ">", which
// transformers gives for the text with spaces around them.
TEST_CASE("\"<unk>\" in a text is ordinary text to kiso") {
  Tokenizer tok = Tokenizer::load(kTokDir);
  std::vector<ReferenceCase> cases = read_reference();
  const ReferenceCase& literal = find_case(cases, "unk_literal");
  CHECK(std::count(literal.ids.begin(), literal.ids.end(), 0) == 1);  // transformers: <unk>'s id
  CHECK(tok.encode(literal.text) == find_case(cases, "unk_spaced").ids);
  // A NUL is dropped by the normaliser (it cannot be in the JSON fixture; the sweep checked U+0000).
  CHECK(tok.encode(std::string("the\0 cat", 8)) == tok.encode("the cat"));
  CHECK(tok.encode(std::string("th\0e", 4)) == tok.encode("the"));
}

TEST_CASE("a character outside a vocabulary without <unk> is an error naming it, its code point and offset") {
  TempDir dir("gpt1_no_unk");
  copy_fixture(dir);
  // Renumber: drop "<unk>" (id 0) and shift every other id down by one.
  Json vocab = parse_json_strict(read_file(kTokDir + "/vocab.json"), "vocab.json");
  Json shifted = Json::object();
  for (auto& [token, id] : vocab.items())
    if (token != "<unk>") shifted[token] = id.get<int32_t>() - 1;
  write_file_atomic(dir.str("vocab.json"), shifted.dump());
  Tokenizer tok = Tokenizer::load(dir.str());
  CHECK(tok.kind() == TokenizerKind::gpt1);
  CHECK(tok.unknown_id() == -1);
  CHECK(tok.decode(tok.encode("The license.")) == "the license .");
  // "ж" is not in the vocabulary; "Ж" lowercases to it: the message names the text's own character.
  CHECK_THROWS_WITH_AS(tok.encode("the Жx"),
                       doctest::Contains("the character U+0416 \"Ж\" at byte 4 of the text, normalised to \"ж\", is "
                                         "not in the vocabulary (\"ж\" is not a token), and the vocabulary has no "
                                         "\"<unk>\""),
                       Error);
  CHECK_THROWS_WITH_AS(tok.encode_plain("a $"), doctest::Contains("U+0024 \"$\" at byte 2 of the text is not in the "
                                                                  "vocabulary (\"$</w>\" is not a token)"),
                       Error);
}

TEST_CASE("a GPT-1 tokenizer saved by kiso loads back as the same kind, with the same ids") {
  TempDir dir("gpt1_save");
  Tokenizer tok = Tokenizer::load(kTokDir);
  tok.save(dir.str("saved"));
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir.str("saved"))) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"merges.txt", "special_tokens.json", "tokenizer_config.json", "vocab.json"});
  Json config = parse_json_strict(read_file(dir.str("saved/tokenizer_config.json")), "tokenizer_config.json");
  CHECK(config["tokenizer_class"] == "OpenAIGPTTokenizer");
  // merges.txt is the fixture's, line for line (transformers wrote it).
  CHECK(read_file(dir.str("saved/merges.txt")) == read_file(kTokDir + "/merges.txt"));
  Tokenizer again = Tokenizer::load(dir.str("saved"));
  CHECK(again.kind() == TokenizerKind::gpt1);
  CHECK(again.vocab_size() == tok.vocab_size());
  CHECK(again.special("<|delim|>") == tok.special("<|delim|>"));
  for (int32_t id = 0; id < tok.vocab_size(); ++id) CHECK(again.token(id) == tok.token(id));
  for (const ReferenceCase& c : read_reference()) CHECK(again.encode(c.text) == tok.encode(c.text));
  // from_text of to_text() is the same again (what the fuzz target checks).
  const std::array<std::string, 3> text = tok.to_text();
  CHECK(Tokenizer::from_text(text[0], text[1], text[2]).encode("Hello, world!") == tok.encode("Hello, world!"));
}

TEST_CASE("transformers' save_pretrained directory (tokenizer.json only) loads with the same ids") {
  Tokenizer hf = Tokenizer::load(kData + "gpt1_tokenizer_hf");
  Tokenizer files = Tokenizer::load(kTokDir);
  CHECK(hf.kind() == TokenizerKind::gpt1);
  CHECK(hf.vocab_size() == files.vocab_size());
  for (int32_t id = 0; id < files.vocab_size(); ++id) CHECK(hf.token(id) == files.token(id));
  for (const ReferenceCase& c : read_reference())
    if (c.name != "unk_literal") CHECK(hf.encode(c.text) == c.ids);
}

// The kind rule (gpt/tokenizer.h): tokenizer_config.json's class first, then tokenizer.json's
// pipeline, then the vocabulary; a file that contradicts the vocabulary is refused, naming both.
TEST_CASE("the kind comes from tokenizer_config.json or the vocabulary, and contradictions are refused") {
  TempDir dir("gpt1_kind");
  // A byte-level vocabulary: the 256 byte tokens in GPT-2's printable form, no merges.
  std::string bytes_vocab = "{";
  for (int b = 0; b < 256; ++b)
    bytes_vocab += fmt::format("{}{}: {}", b ? ", " : "", Json(bytes_to_unicode(std::string(1, char(b)))).dump(), b);
  bytes_vocab += "}";
  fs::create_directories(dir.str("bytes"));
  write_file_atomic(dir.str("bytes/vocab.json"), bytes_vocab);
  write_file_atomic(dir.str("bytes/merges.txt"), "#version: 0.2\n");
  CHECK(Tokenizer::load(dir.str("bytes")).kind() == TokenizerKind::byte_level);
  copy_fixture(dir, "gpt1");
  CHECK(Tokenizer::load(dir.str("gpt1")).kind() == TokenizerKind::gpt1);

  auto config = [&](const std::string& sub, const std::string& json) {
    write_file_atomic(dir.str(sub + "/tokenizer_config.json"), json);
  };
  // Agreeing configs load; a config without tokenizer_class leaves the vocabulary to decide.
  config("gpt1", R"({"tokenizer_class": "OpenAIGPTTokenizerFast", "unk_token": {"content": "<unk>"}})");
  CHECK(Tokenizer::load(dir.str("gpt1")).kind() == TokenizerKind::gpt1);
  config("bytes", R"({"tokenizer_class": "GPT2Tokenizer"})");
  CHECK(Tokenizer::load(dir.str("bytes")).kind() == TokenizerKind::byte_level);
  config("bytes", R"({"model_max_length": 512})");
  CHECK(Tokenizer::load(dir.str("bytes")).kind() == TokenizerKind::byte_level);
  // Contradictions.
  config("gpt1", R"({"tokenizer_class": "GPT2Tokenizer"})");
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str("gpt1")),
                       doctest::Contains("tokenizer_config.json: \"tokenizer_class\": \"GPT2Tokenizer\" names "
                                         "byte-level BPE, but this vocabulary is GPT-1 BPE: tokens end words with "
                                         "\"</w>\""),
                       Error);
  config("bytes", R"({"tokenizer_class": "OpenAIGPTTokenizer"})");
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str("bytes")),
                       doctest::Contains("names GPT-1 BPE, but this vocabulary is byte-level BPE: no token ends in "
                                         "\"</w>\""),
                       Error);
  // A class kiso does not read, a GPT-1 unknown token other than <unk>, a config that is not JSON.
  config("gpt1", R"({"tokenizer_class": "BertTokenizer"})");
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str("gpt1")),
                       doctest::Contains("tokenizer_config.json: \"tokenizer_class\": \"BertTokenizer\" is not a "
                                         "tokenizer kiso reads"),
                       Error);
  config("gpt1", R"({"tokenizer_class": "OpenAIGPTTokenizer", "unk_token": "[UNK]"})");
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str("gpt1")),
                       doctest::Contains("\"unk_token\": \"[UNK]\"; kiso's GPT-1 tokenizer knows only \"<unk>\""),
                       Error);
  config("gpt1", R"({"tokenizer_class": 7})");
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str("gpt1")), doctest::Contains("tokenizer_config.json"), Error);
  // tokenizer.json's pipeline against tokenizer_config.json.
  fs::create_directories(dir.str("hf"));
  fs::copy_file(kData + "gpt1_tokenizer_hf/tokenizer.json", dir.str("hf/tokenizer.json"));
  config("hf", R"({"tokenizer_class": "GPT2TokenizerFast"})");
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str("hf")),
                       doctest::Contains("tokenizer.json: this file is GPT-1 BPE but"), Error);
  // A byte-level tokenizer.json (as transformers' GPT2Tokenizer writes one: no normalizer, ByteLevel),
  // here made from the byte vocabulary above with one merge.
  fs::create_directories(dir.str("hf_bytes"));
  Json bytes_json = parse_json_strict(bytes_vocab, "vocab");
  bytes_json["th"] = 256;
  write_file_atomic(dir.str("hf_bytes/tokenizer.json"),
                    Json{{"model", {{"type", "BPE"}, {"vocab", bytes_json}, {"merges", Json::array({Json::array({"t", "h"})})},
                                    {"end_of_word_suffix", ""}, {"ignore_merges", false}}},
                         {"normalizer", nullptr},
                         {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}}}
                        .dump());
  Tokenizer hf_bytes = Tokenizer::load(dir.str("hf_bytes"));
  CHECK(hf_bytes.kind() == TokenizerKind::byte_level);
  CHECK(hf_bytes.encode("the") == std::vector<int32_t>{256, 'e'});
  CHECK(hf_bytes.special("<|endoftext|>") == 257);
}

TEST_CASE("bad GPT-1 files are refused, naming the file and what is wrong") {
  TempDir dir("gpt1_bad");
  copy_fixture(dir);
  const std::string merges = read_file(kTokDir + "/merges.txt");
  // A merge whose part is not a token; a merge whose result is not one.
  write_file_atomic(dir.str("merges.txt"), merges + "zz q</w>\n");
  const std::string message = fmt::format("merges.txt: line 812: \"zz\" is not a token of {}", dir.str("vocab.json"));
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str()), doctest::Contains(message.c_str()), Error);
  write_file_atomic(dir.str("merges.txt"), merges + "q u</w>\n");
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str()), doctest::Contains("line 812: the merge result \"qu</w>\" is not a token"),
                       Error);
  // tokenizer.json with a pipeline kiso does not implement.
  fs::create_directories(dir.str("hf"));
  Json hf = parse_json_strict(read_file(kData + "gpt1_tokenizer_hf/tokenizer.json"), "tokenizer.json");
  hf["normalizer"]["lowercase"] = false;
  write_file_atomic(dir.str("hf/tokenizer.json"), hf.dump());
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str("hf")),
                       doctest::Contains("a BPE pipeline kiso does not implement (normalizer \"BertNormalizer\""), Error);
  hf["normalizer"]["lowercase"] = true;
  hf["model"]["fuse_unk"] = true;
  write_file_atomic(dir.str("hf/tokenizer.json"), hf.dump());
  CHECK_THROWS_WITH_AS(Tokenizer::load(dir.str("hf")),
                       doctest::Contains("model.fuse_unk is true; kiso's BPE has no such option"), Error);
}

}  // TEST_SUITE

namespace {

std::string run_tokenizer_command(const std::vector<std::string>& args) {
  CLI::App app("kiso");
  add_tokenizer(app);
  return kiso::testing::parse_capturing(app, args);
}

}  // namespace

TEST_SUITE("gpt") {

TEST_CASE("kiso tokenizer encode and decode on a GPT-1 directory give transformers' ids and text") {
  const std::vector<ReferenceCase> cases = read_reference();
  const ReferenceCase& c = find_case(cases, "contractions");
  Json ids = parse_json_strict(run_tokenizer_command({"tokenizer", "encode", "--tokenizer", kTokDir, "--text", c.text,
                                                      "--json"}), "encode");
  CHECK(ids["ids"].get<std::vector<int32_t>>() == c.ids);
  Json pieces = parse_json_strict(run_tokenizer_command({"tokenizer", "encode", "--tokenizer", kTokDir, "--text", c.text,
                                                         "--pieces", "--json"}), "pieces");
  CHECK(pieces["tokens"].get<std::vector<std::string>>() == c.tokens);  // labels are the tokens as written
  std::string id_list;
  for (int32_t id : c.ids) id_list += (id_list.empty() ? "" : " ") + std::to_string(id);
  CHECK(run_tokenizer_command({"tokenizer", "decode", "--tokenizer", kTokDir, "--ids", id_list}) == c.decoded + "\n");
  std::string explained = run_tokenizer_command({"tokenizer", "encode", "--tokenizer", kTokDir, "--text", "Hello!",
                                                 "--explain"});
  CHECK(explained.find("2 words (GPT-1: lowercased") != std::string::npos);
  CHECK(explained.find("  characters    h e l l o</w>\n") != std::string::npos);
}

}  // TEST_SUITE
