// tests/train/test_layout_figure.cpp — `kiso layout` and train/layout_figure.h: the sequences
// shown are the ones fine-tuning builds. Oracles: the paper's layouts written out by hand from
// tokenizer.encode and the special ids (START text DELIM text EXTRACT, GPT-1 Figure 1), and
// fine-tuning's own encode_records + transform called directly; the SVG's boxes counted against
// the tokens, its text checked for raw XML characters.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <iostream>
#include <sstream>

#include "gpt/atomic_file.h"
#include "gpt/finetuned.h"
#include "tests/gpt/toy_finetuned.h"
#include "tests/train/run_command.h"
#include "train/commands/commands.h"
#include "train/finetune.h"
#include "train/layout_figure.h"

using namespace kiso;

namespace {

// A small byte-level BPE, trained once (a few ms) on text with the figure's words in it.
const Tokenizer& tokenizer() {
  static const Tokenizer tok = Tokenizer::train(
      "I keep a dog. A man is playing a guitar. A person plays music. A dog runs in the park. "
      "A dog is running outside. Kim baked a cake for her friend. Her friend loved it. The cake sang a song. "
      "Kim hates cake. The cat sat on the mat. <b> & \"quoted\" </b>",
      300);
  return tok;
}

std::vector<int32_t> concat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// The paper's layout by hand: START text (DELIM text) EXTRACT, no cutting.
std::vector<int32_t> framed(const std::vector<std::string>& texts) {
  const Tokenizer& t = tokenizer();
  std::vector<int32_t> seq{t.special("<|start|>")};
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i > 0) seq.push_back(t.special("<|delim|>"));
    seq = concat({seq, t.encode(texts[i])});
  }
  seq.push_back(t.special("<|extract|>"));
  return seq;
}

// Fine-tuning's path, called directly: encode_records, then transform.
std::vector<std::vector<int32_t>> finetune_path(TaskKind kind, const std::vector<std::string>& texts, int64_t max_len,
                                                const Tokenizer& tok = tokenizer()) {
  TaskInfo info;
  info.kind = kind, info.max_len = max_len, info.special = special_ids(tok);
  if (kind == TaskKind::multiple_choice) info.candidates = int64_t(texts.size()) - 1;
  TaskRecord record;
  record.texts = texts;
  TaskExample e = encode_records({record}, info, tok, "test").front();
  return transform(kind, e, info.special, max_len);
}

std::vector<std::vector<int32_t>> ids_of(const LayoutExample& ex) {
  std::vector<std::vector<int32_t>> out;
  for (const LayoutSequence& s : ex.sequences) out.push_back(s.ids);
  return out;
}

int64_t count(const std::string& s, const std::string& what) {
  int64_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// `kiso layout ARGS`, parsed as main parses it, returning what it printed.
std::string run_layout(const std::vector<std::string>& args) {
  CLI::App app("kiso");
  app.require_subcommand(1);
  add_layout(app);
  std::vector<std::string> full = {"layout"};
  full.insert(full.end(), args.begin(), args.end());
  return kiso::testing::parse_capturing(app, full);
}

// The ids lines of the text output, read back: every line of numbers separated by '|'.
std::vector<std::vector<int32_t>> printed_ids(const std::string& out) {
  std::vector<std::vector<int32_t>> seqs;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("[", 0) == 0) seqs.emplace_back();  // "[k] caption": a new sequence
    if (line.find_first_not_of(" |0123456789") != std::string::npos || line.find_first_of("0123456789") == std::string::npos)
      continue;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, '|');) seqs.back().push_back(std::stoi(cell));
  }
  return seqs;
}

}  // namespace

TEST_CASE("layout: each kind's sequences are the paper's layout, and fine-tuning's own") {
  const Tokenizer& t = tokenizer();
  int32_t start = t.special("<|start|>"), delim = t.special("<|delim|>"), extract = t.special("<|extract|>");
  std::string text = "I keep a dog.", p = "A man is playing a guitar.", h = "A person plays music.";
  std::string a = "A dog runs in the park.", b = "A dog is running outside.";
  std::vector<std::string> mc = {"Kim baked a cake for her friend.", "Her friend loved it.", "The cake sang a song.",
                                 "Kim hates cake."};
  struct Case {
    TaskKind kind;
    std::vector<std::string> texts;
    std::vector<std::vector<int32_t>> want;  // by hand
  };
  std::vector<Case> cases = {
      {TaskKind::classification, {text}, {framed({text})}},
      {TaskKind::entailment, {p, h}, {framed({p, h})}},
      {TaskKind::similarity, {a, b}, {framed({a, b}), framed({b, a})}},  // both orders
      {TaskKind::multiple_choice, mc, {framed({mc[0], mc[1]}), framed({mc[0], mc[2]}), framed({mc[0], mc[3]})}},
  };
  for (const Case& c : cases) {
    CAPTURE(to_string(c.kind));
    LayoutExample ex = layout_example(c.kind, c.texts, t, 512);
    CHECK(ids_of(ex) == c.want);
    CHECK(ids_of(ex) == finetune_path(c.kind, c.texts, 512));
    for (const LayoutSequence& s : ex.sequences) {
      CHECK(s.ids.front() == start);
      CHECK(s.ids.back() == extract);
      CHECK(s.tokens.front() == "START");
      CHECK(s.tokens.back() == "EXTRACT");
      CHECK(s.tokens.size() == s.ids.size());
      CHECK(s.dropped == 0);
      // each token's name is its label, as every tool shows tokens ('␣' for the space)
      for (size_t i = 1; i + 1 < s.ids.size(); ++i)
        if (s.ids[i] != delim) CHECK(s.tokens[i] == t.label(s.ids[i]));
    }
  }
  // one DELIM between premise and hypothesis; one sequence per candidate
  LayoutExample ent = layout_example(TaskKind::entailment, {p, h}, t, 512);
  CHECK(std::count(ent.sequences[0].ids.begin(), ent.sequences[0].ids.end(), delim) == 1);
  CHECK(ent.sequences[0].caption == "premise DELIM hypothesis");
  CHECK(layout_example(TaskKind::multiple_choice, mc, t, 512).sequences.size() == 3);
  CHECK(layout_example(TaskKind::similarity, {a, b}, t, 512).sequences[1].caption == "text_b DELIM text_a");
}

TEST_CASE("layout: --max-len cuts the texts as fine-tuning does, never the special tokens") {
  std::string p = "A man is playing a guitar.", h = "A person plays music.";
  LayoutExample ex = layout_example(TaskKind::entailment, {p, h}, tokenizer(), 8);
  CHECK(ids_of(ex) == finetune_path(TaskKind::entailment, {p, h}, 8));
  const LayoutSequence& s = ex.sequences[0];
  CHECK(s.ids.size() == 8);
  CHECK(s.tokens.back() == "EXTRACT");
  // the dropped count is the hand count: both texts' tokens less the 5 that fit
  int64_t whole = int64_t(tokenizer().encode(p).size() + tokenizer().encode(h).size());
  CHECK(s.dropped == whole - 5);
}

TEST_CASE("layout: the command prints and --json gives the sequences fine-tuning builds") {
  TempDir dir("layout_command");
  tokenizer().save(dir.str("tok"));
  std::string p = "A man is playing a guitar.", h = "A person plays music.";
  std::vector<std::vector<int32_t>> want = {framed({p, h})};

  std::string out = run_layout({"--tokenizer", dir.str("tok"), "--kind", "entailment", "--text", p, "--text", h});
  CHECK(printed_ids(out) == want);
  CHECK(out.find("START | ") != std::string::npos);
  CHECK(out.find(" | EXTRACT") != std::string::npos);

  Json j = parse_json_strict(run_layout({"--tokenizer", dir.str("tok"), "--kind", "similarity", "--text", p, "--text",
                                         h, "--json"}),
                             "layout --json");
  REQUIRE(j["sequences"].size() == 2);
  CHECK(j["sequences"][0]["ids"].get<std::vector<int32_t>>() == framed({p, h}));
  CHECK(j["sequences"][1]["ids"].get<std::vector<int32_t>>() == framed({h, p}));
  CHECK(j["kind"] == "similarity");
  CHECK(j["max_len"] == 512);  // GPT-1's context, without a model

  // a narrow wrap still prints every id, in order
  std::vector<std::string> mc = {"Kim baked a cake for her friend.", "Her friend loved it.", "Kim hates cake."};
  out = run_layout({"--tokenizer", dir.str("tok"), "--kind", "multiple-choice", "--text", mc[0], "--choice", mc[1],
                    "--choice", mc[2]});
  CHECK(printed_ids(out) == std::vector<std::vector<int32_t>>{framed({mc[0], mc[1]}), framed({mc[0], mc[2]})});
}

TEST_CASE("layout: --model takes a fine-tuned model's tokenizer, task and max_len") {
  TempDir dir("layout_model");
  FinetunedModel m = testing::toy_classifier();  // classification, max_len 16 = n_ctx
  save_finetuned(dir.str("ft"), m, Json::object());
  std::string text = "tea good cake bad soup good tea good cake bad soup good tea good cake bad";
  Json j = parse_json_strict(run_layout({"--model", dir.str("ft"), "--text", text, "--json"}), "layout --model");
  CHECK(j["kind"] == "classification");
  CHECK(j["max_len"] == 16);
  std::vector<int32_t> ids = j["sequences"][0]["ids"].get<std::vector<int32_t>>();
  CHECK(std::vector<std::vector<int32_t>>{ids} == finetune_path(TaskKind::classification, {text}, 16, m.tokenizer));
  CHECK(ids.size() == 16);  // cut: the text is longer than 14 tokens
  CHECK(j["sequences"][0]["dropped"] == int64_t(m.tokenizer.encode(text).size()) - 14);
  CHECK_THROWS_WITH_AS(run_layout({"--model", dir.str("ft"), "--text", text, "--max-len", "17"}),
                       doctest::Contains("layout: --max-len 17 is longer than the model's context n_ctx = 16"), Error);
}

TEST_CASE("layout: the SVG has one box per token and escapes <&\"> in what it shows") {
  std::string nasty = "<b> & \"quoted\" </b>";
  LayoutExample ex = layout_example(TaskKind::similarity, {nasty, "The cat sat on the mat."}, tokenizer(), 512);
  std::string svg = layout_svg({ex}, "title <&\">");
  int64_t tokens = 0;
  for (const LayoutSequence& s : ex.sequences) tokens += int64_t(s.ids.size());
  CHECK(count(svg, "class=\"token\"") == tokens);
  // every element's text is escaped: no raw < > " and every & starts an entity
  for (size_t at = svg.find("<text"); at != std::string::npos; at = svg.find("<text", at + 1)) {
    size_t open = svg.find('>', at), close = svg.find("</text>", open);
    std::string content = svg.substr(open + 1, close - open - 1);
    CAPTURE(content);
    CHECK(content.find_first_of("<>\"") == std::string::npos);
    for (size_t amp = content.find('&'); amp != std::string::npos; amp = content.find('&', amp + 1)) {
      std::string rest = content.substr(amp);
      CHECK((rest.rfind("&amp;", 0) == 0 || rest.rfind("&lt;", 0) == 0 || rest.rfind("&gt;", 0) == 0 ||
             rest.rfind("&quot;", 0) == 0));
    }
  }
  CHECK(svg.find("title &lt;&amp;&quot;&gt;") != std::string::npos);
  CHECK(count(svg, "&lt;") >= 2);  // "<b>" and "</b>" in both sequences, whatever the BPE split
}

TEST_CASE("layout: --figure draws the four kinds, one box per token") {
  TempDir dir("layout_figure");
  tokenizer().save(dir.str("tok"));
  std::string file = dir.str("figure.svg");
  Json j = parse_json_strict(run_layout({"--tokenizer", dir.str("tok"), "--figure", file, "--json"}), "--figure");
  REQUIRE(j["examples"].size() == 4);
  std::vector<std::string> kinds;
  int64_t tokens = 0;
  for (const Json& ex : j["examples"]) {
    kinds.push_back(ex["kind"]);
    for (const Json& s : ex["sequences"]) tokens += int64_t(s["ids"].size());
  }
  CHECK(kinds == std::vector<std::string>{"classification", "entailment", "similarity", "multiple-choice"});
  CHECK(count(read_file(file), "class=\"token\"") == tokens);
}

TEST_CASE("layout: bad input is a clear error before any work") {
  TempDir dir("layout_errors");
  tokenizer().save(dir.str("tok"));
  std::string tok = dir.str("tok");
  auto refused = [&](const std::vector<std::string>& args, const std::string& message) {
    std::string joined;
    for (const std::string& a : args) joined += a + " ";
    CAPTURE(joined);
    CHECK_THROWS_WITH_AS(run_layout(args), doctest::Contains(message.c_str()), Error);
  };
  refused({"--tokenizer", tok, "--kind", "entailment", "--text", "A man."},
          "layout: --kind entailment needs 2 --text (the premise, then the hypothesis); got 1");
  refused({"--tokenizer", tok, "--kind", "multiple-choice", "--text", "Q?", "--choice", "yes"},
          "layout: --kind multiple-choice needs at least 2 --choice (the candidate answers); got 1");
  refused({"--tokenizer", tok, "--kind", "summarisation", "--text", "x"},
          "layout: --kind summarisation: unknown; expected classification, entailment, similarity or multiple-choice");
  refused({"--tokenizer", tok, "--text", "x"}, "layout: --kind is missing");
  refused({"--tokenizer", tok, "--kind", "classification", "--text", ""}, "layout: the text is empty");
  refused({"--tokenizer", tok, "--kind", "classification", "--text", "x", "--choice", "y"},
          "layout: --choice is for --kind multiple-choice");
  refused({"--kind", "classification", "--text", "x"}, "layout: give one of --tokenizer DIR");
  refused({"--tokenizer", dir.str("none"), "--kind", "classification", "--text", "x"},
          "layout: --tokenizer " + dir.str("none") + ": no such directory");
  refused({"--tokenizer", tok, "--kind", "classification", "--text", "x", "--max-len", "3"},
          "layout: --max-len must be >= 4");
  refused({"--tokenizer", tok, "--kind", "classification", "--text", "x", "--svg", dir.str("no/dir/a.svg")},
          "layout: --svg " + dir.str("no/dir/a.svg") + ": the directory");
  refused({"--tokenizer", tok, "--figure", dir.str("f.svg"), "--kind", "entailment"},
          "layout: --figure draws its own built-in examples");
  CHECK_FALSE(std::filesystem::exists(dir.str("f.svg")));
}
