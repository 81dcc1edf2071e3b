// train/layout_figure.cpp — see layout_figure.h. The ids come from fine-tuning's own functions;
// everything below them is naming and drawing.
#include "train/layout_figure.h"

#include <algorithm>
#include <cctype>

#include <fmt/core.h>

#include "gpt/finetuned.h"
#include "train/finetune.h"
#include "train/svg.h"

namespace kiso {

// ---- the sequences ----

// The names of an example's texts, as task_data.h's JSONL fields call them.
static std::vector<std::string> field_names(TaskKind kind, size_t texts) {
  switch (kind) {
    case TaskKind::classification: return {"text"};
    case TaskKind::entailment: return {"premise", "hypothesis"};
    case TaskKind::similarity: return {"text_a", "text_b"};
    case TaskKind::multiple_choice: break;
  }
  std::vector<std::string> names = {"context"};
  for (size_t k = 1; k < texts; ++k) names.push_back(fmt::format("choice {}", k));
  return names;
}

// Which texts sequence s holds, in order (gpt/tasks.h: similarity's second sequence is B then A,
// multiple choice's k-th is the context then choice k). Only for the captions and colours:
// name_tokens checks it against the ids, so a change in transform() cannot be drawn wrong.
static std::vector<int> sequence_fields(TaskKind kind, size_t s) {
  switch (kind) {
    case TaskKind::classification: return {0};
    case TaskKind::entailment: return {0, 1};
    case TaskKind::similarity: return s == 0 ? std::vector<int>{0, 1} : std::vector<int>{1, 0};
    case TaskKind::multiple_choice: return {0, int(s) + 1};
  }
  return {};
}

static std::string state_name(TaskKind kind, size_t s) {
  switch (kind) {
    case TaskKind::similarity: return s == 0 ? "h_AB" : "h_BA";
    case TaskKind::multiple_choice: return fmt::format("h_{}", s + 1);
    default: return "h";
  }
}

static std::string read_note(TaskKind kind) {
  switch (kind) {
    case TaskKind::similarity:
      return "both orders' EXTRACT states summed, h_AB + h_BA → W_y (h_AB + h_BA) → softmax over the classes";
    case TaskKind::multiple_choice:
      return "each candidate's EXTRACT state h_k → one score w·h_k → softmax over the candidates";
    default: return "the EXTRACT state h → the linear head W_y h → softmax over the classes";
  }
}

// Names each token of `seq` and says which text it came from; checks that the tokens between
// START, each DELIM and EXTRACT are (a prefix of, when cut) the texts sequence_fields says.
static void name_tokens(LayoutSequence& seq, const std::vector<int>& fields, const TaskExample& example,
                        const SpecialIds& special, const Tokenizer& tokenizer) {
  const std::vector<int32_t>& ids = seq.ids;
  check(ids.size() >= 2 && ids.front() == special.start && ids.back() == special.extract, "layout",
        "a sequence from transform() does not run from START to EXTRACT");
  size_t segment = 0, at = 0;  // which of `fields` we are in, and the token's index in its text
  int64_t kept = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t id = ids[i];
    bool edge = i == 0 || i + 1 == ids.size();
    if (edge || id == special.delim) {
      if (!edge) ++segment, at = 0;
      seq.tokens.push_back(id == special.start ? "START" : id == special.delim ? "DELIM" : "EXTRACT");
      seq.field.push_back(-1);
      continue;
    }
    check(segment < fields.size(), "layout", "a sequence from transform() has more DELIMs than its {} texts",
          fields.size());
    const std::vector<int32_t>& piece = example.pieces[size_t(fields[segment])];
    check(at < piece.size() && piece[at] == id, "layout",
          "token {} of a sequence from transform() is not the text expected there", i);
    ++at, ++kept;
    seq.tokens.push_back(tokenizer.label(id));
    seq.field.push_back(fields[segment]);
  }
  check(segment + 1 == fields.size(), "layout", "a sequence from transform() has {} texts, expected {}", segment + 1,
        fields.size());
  int64_t whole = 0;
  for (int f : fields) whole += int64_t(example.pieces[size_t(f)].size());
  seq.dropped = whole - kept;
}

LayoutExample layout_example(TaskKind kind, const std::vector<std::string>& texts, const Tokenizer& tokenizer,
                             int64_t max_len, const char* command) {
  const std::string k = to_string(kind);
  if (kind == TaskKind::multiple_choice) {
    check(!texts.empty(), command, "--kind {} needs the context as --text; none was given", k);
    check(texts.size() >= 3, command, "--kind {} needs at least 2 --choice (the candidate answers); got {}", k,
          texts.size() - 1);
  } else {
    size_t want = kind == TaskKind::classification ? 1 : 2;
    const char* what = kind == TaskKind::classification ? "(the text)"
                       : kind == TaskKind::entailment   ? "(the premise, then the hypothesis)"
                                                        : "(text A, then text B)";
    check(texts.size() == want, command, "--kind {} needs {} --text {}; got {}", k, want, what, texts.size());
  }
  LayoutExample out;
  out.kind = kind, out.texts = texts, out.field_names = field_names(kind, texts.size());
  for (size_t i = 0; i < texts.size(); ++i)
    check(!texts[i].empty(), command, "the {} is empty; expected some text", out.field_names[i]);
  check(max_len >= 4, command, "--max-len must be >= 4 (START, a text, DELIM, a text, EXTRACT need room), got {}",
        max_len);
  out.max_len = max_len;
  out.read = read_note(kind);

  // Fine-tuning's path: the record tokenised by encode_records, framed by transform.
  TaskInfo info;
  info.kind = kind, info.max_len = max_len, info.special = special_ids(tokenizer);
  if (kind == TaskKind::multiple_choice) info.candidates = int64_t(texts.size()) - 1;
  TaskRecord record;
  record.texts = texts;
  TaskExample example = encode_records({record}, info, tokenizer, command).front();
  std::vector<std::vector<int32_t>> sequences = transform(kind, example, info.special, max_len);

  for (size_t s = 0; s < sequences.size(); ++s) {
    LayoutSequence seq;
    seq.ids = sequences[s], seq.state = state_name(kind, s);
    std::vector<int> fields = sequence_fields(kind, s);
    name_tokens(seq, fields, example, info.special, tokenizer);
    for (size_t f = 0; f < fields.size(); ++f)
      seq.caption += (f ? " DELIM " : "") + out.field_names[size_t(fields[f])];
    out.sequences.push_back(std::move(seq));
  }
  return out;
}

std::vector<LayoutExample> figure_examples(const Tokenizer& tokenizer, int64_t max_len) {
  struct Built {
    TaskKind kind;
    std::vector<std::string> texts;
    const char* classes;
  };
  // Classification is the deck's topic example (私は犬を飼う: pets / work / hobbies); the
  // others are in the style of the GLUE and ROCStories data GPT-1 was fine-tuned on.
  const std::vector<Built> built = {
      {TaskKind::classification, {"I keep a dog."}, "pets / work / hobbies"},
      {TaskKind::entailment, {"A man is playing a guitar.", "A person plays music."},
       "entailment / neutral / contradiction"},
      {TaskKind::similarity, {"A dog runs in the park.", "A dog is running outside."},
       "paraphrase / not a paraphrase"},
      {TaskKind::multiple_choice,
       {"Kim baked a cake.", "Her friend loved it.", "The cake sang.", "Kim hates cake."}, ""},
  };
  std::vector<LayoutExample> out;
  for (const Built& b : built) {
    out.push_back(layout_example(b.kind, b.texts, tokenizer, max_len));
    out.back().classes = b.classes;
  }
  return out;
}

// ---- text and JSON ----

// Characters on screen: UTF-8 code points (a label's ␣ is one).
static size_t columns(const std::string& s) {
  return size_t(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

static std::string padded(const std::string& s, size_t width) { return s + std::string(width - columns(s), ' '); }

static std::string trimmed(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string layout_text(const LayoutExample& ex, int width) {
  size_t n = ex.sequences.size();
  std::string out = fmt::format("{}, max-len {}: {} sequence{}\n", to_string(ex.kind), ex.max_len, n, n == 1 ? "" : "s");
  for (size_t s = 0; s < n; ++s) {
    const LayoutSequence& seq = ex.sequences[s];
    out += fmt::format("[{}] {} ({} tokens{})\n", s + 1, seq.caption, seq.ids.size(),
                       seq.dropped ? fmt::format(", {} text tokens cut to fit --max-len", seq.dropped) : "");
    std::string tokens = "   ", ids = "   ";  // one line pair, wrapped at `width`
    for (size_t i = 0; i < seq.ids.size(); ++i) {
      std::string id = std::to_string(seq.ids[i]);
      size_t w = std::max(columns(seq.tokens[i]), id.size());
      if (columns(tokens) + w + 3 > size_t(width) && columns(tokens) > 3) {
        out += trimmed(tokens) + "\n" + trimmed(ids) + "\n";
        tokens = ids = "   ";
      }
      const char* sep = i + 1 < seq.ids.size() ? " | " : "";
      tokens += padded(seq.tokens[i], w) + sep;
      ids += padded(id, w) + sep;
    }
    out += trimmed(tokens) + "\n" + trimmed(ids) + "\n";
  }
  out += fmt::format("read: {}\n", ex.read);
  return out;
}

Json layout_json(const LayoutExample& ex) {
  Json sequences = Json::array();
  for (const LayoutSequence& seq : ex.sequences)
    sequences.push_back({{"caption", seq.caption}, {"ids", seq.ids}, {"tokens", seq.tokens}, {"dropped", seq.dropped}});
  return {{"kind", to_string(ex.kind)}, {"max_len", ex.max_len}, {"texts", ex.texts},
          {"sequences", sequences}, {"read", ex.read}};
}

// ---- the picture ----

namespace {

// 12 px sans-serif is about 7 px a character; a box is its text plus a margin.
constexpr int kLeft = 20, kRowWidth = 900, kBoxHeight = 22, kGap = 4, kIdLine = 13, kRowPitch = 44;

struct Style {
  const char* fill;
  const char* stroke;
};

Style token_style(const std::string& token, int field) {
  if (field < 0) {
    if (token == "START") return {"#c8e6c9", "#2e7d32"};
    if (token == "DELIM") return {"#ffe0b2", "#ef6c00"};
    return {"#ffcdd2", "#c62828"};  // EXTRACT
  }
  static const char* fills[] = {"#e3f2fd", "#ede7f6", "#fff8e1", "#e0f2f1", "#fce4ec", "#f1f8e9"};
  return {fills[field % 6], "#90a4ae"};
}

int box_width(const std::string& token) { return std::max(22, 7 * int(columns(token)) + 10); }

// Draws one box at (x, y): its rectangle, its token and its id under it.
std::string token_box(const std::string& token, int32_t id, int field, int x, int y) {
  Style st = token_style(token, field);
  int w = box_width(token);
  return fmt::format(R"(<rect class="token" x="{}" y="{}" width="{}" height="{}" rx="3" fill="{}" stroke="{}"/>)"
                     "\n"
                     R"(<text x="{}" y="{}" text-anchor="middle"{}>{}</text>)"
                     "\n"
                     R"(<text x="{}" y="{}" text-anchor="middle" font-size="9" fill="#607d8b">{}</text>)"
                     "\n",
                     x, y, w, kBoxHeight, st.fill, st.stroke, x + w / 2, y + 15,
                     field < 0 ? R"( font-weight="bold")" : "", escape_xml(token), x + w / 2, y + kBoxHeight + kIdLine,
                     id);
}

}  // namespace

std::string layout_svg(const std::vector<LayoutExample>& examples, const std::string& title) {
  std::string body;
  int y = 10, right = 600;
  if (!title.empty()) {
    body += fmt::format(R"(<text x="{}" y="{}" font-size="15" font-weight="bold">{}</text>)" "\n", kLeft, y + 14,
                        escape_xml(title));
    y += 26;
  }
  // The legend: the three specials and the texts' fills.
  int x = kLeft;
  auto legend = [&](const std::string& name, Style st) {
    body += fmt::format(R"(<rect x="{}" y="{}" width="14" height="14" rx="2" fill="{}" stroke="{}"/>)" "\n", x, y,
                        st.fill, st.stroke);
    body += fmt::format(R"(<text x="{}" y="{}" font-size="11">{}</text>)" "\n", x + 18, y + 11, escape_xml(name));
    x += 18 + 7 * int(columns(name)) + 16;
  };
  legend("START <|start|>", token_style("START", -1));
  legend("DELIM <|delim|>", token_style("DELIM", -1));
  legend("EXTRACT <|extract|>", token_style("EXTRACT", -1));
  legend("first text", token_style("", 0));
  legend("second text (each choice its own)", token_style("", 1));
  right = std::max(right, x);
  y += 30;

  for (const LayoutExample& ex : examples) {
    std::string heading = to_string(ex.kind);
    heading[0] = char(std::toupper(static_cast<unsigned char>(heading[0])));
    body += fmt::format(R"(<text x="{}" y="{}" font-size="14" font-weight="bold">{}</text>)" "\n", kLeft, y + 14,
                        escape_xml(heading));
    y += 22;
    for (const LayoutSequence& seq : ex.sequences) {
      body += fmt::format(R"(<text x="{}" y="{}" font-size="11" fill="#455a64">{}</text>)" "\n", kLeft, y + 11,
                          escape_xml(seq.caption));
      y += 16;
      x = kLeft;
      for (size_t i = 0; i < seq.ids.size(); ++i) {
        int w = box_width(seq.tokens[i]);
        if (x + w > kLeft + kRowWidth && x > kLeft + 20) x = kLeft + 20, y += kRowPitch;  // wrap, indented
        body += token_box(seq.tokens[i], seq.ids[i], seq.field[i], x, y);
        x += w + kGap;
      }
      // EXTRACT's final hidden state leaves to the head: an arrow and its name.
      int mid = y + kBoxHeight / 2;
      body += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#c62828" stroke-width="1.5"/>)" "\n", x, mid,
                          x + 22, mid);
      body += fmt::format(R"(<polygon points="{},{} {},{} {},{}" fill="#c62828"/>)" "\n", x + 28, mid, x + 21, mid - 4,
                          x + 21, mid + 4);
      body += fmt::format(R"(<text x="{}" y="{}" font-style="italic" fill="#c62828">{}</text>)" "\n", x + 32, mid + 4,
                          escape_xml(seq.state));
      right = std::max(right, x + 32 + 7 * int(seq.state.size()) + kLeft);
      y += kRowPitch;
    }
    std::string note = "read: " + ex.read + (ex.classes.empty() ? "" : " (" + ex.classes + ")");
    body += fmt::format(R"(<text x="{}" y="{}" font-size="11" fill="#263238">{}</text>)" "\n", kLeft, y + 4,
                        escape_xml(note));
    right = std::max(right, kLeft + 6 * int(columns(note)) + kLeft);
    y += 30;
  }
  return svg_open(right, y) + body + svg_close();
}

}  // namespace kiso
