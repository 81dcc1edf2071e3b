// train/attention_map.cpp — a layer's attention weights and their heatmap (see attention_map.h).
#include "train/attention_map.h"

#include <algorithm>
#include <cmath>

#include <fmt/core.h>

#include "train/svg.h"
#include "train/trace.h"

namespace kiso {

AttentionMap attention_map(const GPT& model, const Tokenizer& tokenizer, const std::string& prompt, int64_t layer,
                           int64_t head, const char* op) {
  int64_t L = model.config.n_layer, NH = model.config.block.n_head;
  check(layer >= 0 && layer < L, op, "--layer {} is out of range: the model has {} blocks, 0..{}", layer, L, L - 1);
  check(head >= -1 && head < NH, op, "--head {} is out of range: each block has {} heads, 0..{} (or all)", head, NH,
        NH - 1);
  // The trace up to this block: the weights are its "h.<layer>.attn.weights" stage.
  Trace trace = trace_forward(model, tokenizer, prompt, TraceOptions{1, layer + 1}, op);
  const Tensor& w = trace.stage(fmt::format("h.{}.attn.weights", layer)).value;  // (1, NH, T, T)
  int64_t T = w.size(2);
  std::vector<double> all = w.to_vector<double>();
  AttentionMap map{prompt, trace.ids, trace.tokens, layer, head, {}, {}};
  for (int64_t h = 0; h < NH; ++h) {
    if (head >= 0 && h != head) continue;
    std::vector<std::vector<double>> m(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      auto row = all.begin() + (h * T + t) * T;  // weights[0, h, t, :]
      m[size_t(t)].assign(row, row + T);
    }
    map.weights.push_back(std::move(m));
    map.heads.push_back(h);
  }
  return map;
}

std::string weight_color(double w) {
  w = std::clamp(w, 0.0, 1.0);
  auto channel = [w](int from, int to) { return int(std::lround(from + (to - from) * w)); };
  return fmt::format("#{:02x}{:02x}{:02x}", channel(0xf7, 0x08), channel(0xfb, 0x30), channel(0xff, 0x6b));
}

// ---- the picture ----

// Characters (code points) of UTF-8 text: for the labels' widths.
static int64_t code_points(const std::string& s) {
  return std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; });
}

// At most `n` code points of `s`, the rest replaced by "…".
static std::string shorten(const std::string& s, int64_t n) {
  if (code_points(s) <= n) return s;
  std::string out;
  int64_t seen = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80 && ++seen > n - 1) break;
    out += c;
  }
  return out + "…";
}

// The layout of one head's heatmap: its T × T cells of side `cell` px, whose top-left corner is
// (x, y); token labels of `font` px left of the rows and above the columns.
struct Panel {
  double x, y;
  int cell, font;
};

static void draw_panel(std::string& out, const Panel& p, const std::vector<std::vector<double>>& w,
                       const std::vector<std::string>& labels) {
  int64_t T = int64_t(w.size());
  double baseline = p.font * 0.35;  // lifts a label's baseline to centre it on its row or column
  for (int64_t t = 0; t < T; ++t) {  // query labels, right-aligned against the rows
    out += fmt::format(R"~(<text x="{:.1f}" y="{:.1f}" font-size="{}" text-anchor="end">{}</text>)~" "\n", p.x - 4,
                       p.y + (t + 0.5) * p.cell + baseline, p.font, escape_xml(labels[size_t(t)]));
  }
  for (int64_t j = 0; j < T; ++j) {  // key labels, written upwards above the columns
    out += fmt::format(R"~(<text transform="translate({:.1f},{:.1f}) rotate(-90)" font-size="{}">{}</text>)~" "\n",
                       p.x + (j + 0.5) * p.cell + baseline, p.y - 4, p.font, escape_xml(labels[size_t(j)]));
  }
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < T; ++j) {
      double x = p.x + double(j * p.cell), y = p.y + double(t * p.cell), v = w[size_t(t)][size_t(j)];
      std::string about = fmt::format("query {} {} → key {} {}", t, labels[size_t(t)], j, labels[size_t(j)]);
      if (j > t)  // the causal mask: key j is in query t's future
        out += fmt::format(R"~(<rect class="cell masked" x="{:.1f}" y="{:.1f}" width="{}" height="{}" )~"
                           R"~(fill="url(#masked)"><title>{}: the future, masked ({})</title></rect>)~" "\n",
                           x, y, p.cell, p.cell, escape_xml(about), v);
      else
        out += fmt::format(R"~(<rect class="cell" x="{:.1f}" y="{:.1f}" width="{}" height="{}" fill="{}">)~"
                           R"~(<title>{}: {:.4f}</title></rect>)~" "\n",
                           x, y, p.cell, p.cell, weight_color(v), escape_xml(about), v);
    }
  }
  out += fmt::format(R"~(<rect class="frame" x="{:.1f}" y="{:.1f}" width="{}" height="{}" fill="none" stroke="#888"/>)~"
                     "\n", p.x, p.y, T * p.cell, T * p.cell);
}

std::string attention_svg(const AttentionMap& map) {
  int64_t T = int64_t(map.tokens.size()), panels = int64_t(map.weights.size());
  bool grid = panels > 1;
  int64_t columns = grid ? int64_t(std::ceil(std::sqrt(double(panels)))) : 1, rows = (panels + columns - 1) / columns;
  // Cells shrink as the prompt grows, so that a heatmap stays about 480 px wide (240 in a grid).
  int cell = int(std::clamp<int64_t>((grid ? 240 : 480) / T, grid ? 4 : 8, grid ? 24 : 36));
  int font = std::clamp(cell - 1, 7, 11);
  std::vector<std::string> labels;
  int64_t longest = 1;
  for (const std::string& s : map.tokens) {
    labels.push_back(shorten(s, 14));
    longest = std::max(longest, code_points(labels.back()));
  }
  double label = double(longest) * font * 0.62 + 6;  // a label's length in px, about
  double title_h = 66, head_title_h = grid ? 18 : 0;
  double panel_w = label + 8 + double(T * cell) + 24, panel_h = head_title_h + label + 8 + double(T * cell) + 20;
  double legend_x = 20 + double(columns) * panel_w + 10, legend_y = title_h + head_title_h + label + 8;
  double legend_h = std::max(120.0, std::min(240.0, double(T * cell)));
  int width = int(std::max(legend_x + 200, 560.0));
  int height = int(std::max(title_h + double(rows) * panel_h, legend_y + legend_h + 60));

  std::string out = svg_open(width, height);
  out += R"~(<defs>)~" "\n"
         R"~(<pattern id="masked" width="6" height="6" patternUnits="userSpaceOnUse">)~"
         R"~(<rect width="6" height="6" fill="#ffffff"/><path d="M0,6 L6,0" stroke="#c8c8c8"/></pattern>)~" "\n"
         R"~(<linearGradient id="scale" x1="0" y1="1" x2="0" y2="0">)~";
  out += fmt::format(R"~(<stop offset="0" stop-color="{}"/><stop offset="1" stop-color="{}"/></linearGradient>)~" "\n",
                     weight_color(0), weight_color(1));
  out += "</defs>\n";
  std::string which = map.head < 0 ? fmt::format("all {} heads", panels) : fmt::format("head {}", map.head);
  out += fmt::format(R"~(<text x="20" y="22" font-size="14" font-weight="bold">)~"
                     R"~(attention weights of block {}, {}: "{}"</text>)~"
                     "\n", map.layer, which, escape_xml(shorten(map.prompt, 60)));
  out += R"~(<text x="20" y="40" fill="#444">softmax(q kᵀ / √HS) under the causal mask; each row sums to 1.</text>)~"
         "\n"
         R"~(<text x="20" y="56" fill="#444">Rows: queries (the token that looks). Columns: keys (the tokens it )~"
         R"~(looks at).</text>)~" "\n";
  for (int64_t i = 0; i < panels; ++i) {
    double px = 20 + double(i % columns) * panel_w, py = title_h + double(i / columns) * panel_h;
    if (grid)
      out += fmt::format(R"~(<text x="{:.1f}" y="{:.1f}" font-weight="bold">head {}</text>)~" "\n", px, py + 12,
                         map.heads[size_t(i)]);
    draw_panel(out, Panel{px + label + 8, py + head_title_h + label + 8, cell, font}, map.weights[size_t(i)], labels);
  }
  // The colour scale: the gradient is the same linear ramp as weight_color, 0 at the bottom.
  out += fmt::format(R"~(<rect class="legend" x="{:.1f}" y="{:.1f}" width="14" height="{:.1f}" fill="url(#scale)" )~"
                     R"~(stroke="#888"/>)~" "\n", legend_x, legend_y, legend_h);
  for (double tick : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    double y = legend_y + legend_h * (1 - tick);
    out += fmt::format(R"~(<line x1="{0:.1f}" y1="{1:.1f}" x2="{2:.1f}" y2="{1:.1f}" stroke="#888"/>)~" "\n",
                       legend_x + 14, y, legend_x + 18);
    out += fmt::format(R"~(<text x="{:.1f}" y="{:.1f}" font-size="11">{}</text>)~" "\n", legend_x + 21, y + 4, tick);
  }
  out += fmt::format(R"~(<text x="{:.1f}" y="{:.1f}" font-size="11">weight</text>)~" "\n", legend_x, legend_y - 8);
  double swatch_y = legend_y + legend_h + 16;
  out += fmt::format(R"~(<rect class="legend" x="{:.1f}" y="{:.1f}" width="14" height="14" fill="url(#masked)" )~"
                     R"~(stroke="#888"/>)~" "\n", legend_x, swatch_y);
  out += fmt::format(R"~(<text x="{:.1f}" y="{:.1f}" font-size="11">masked: a future key (0)</text>)~" "\n",
                     legend_x + 20, swatch_y + 11);
  return out + svg_close();
}

}  // namespace kiso
