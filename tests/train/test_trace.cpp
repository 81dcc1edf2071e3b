// tests/train/test_trace.cpp — `kiso trace` and `kiso attention` (train/trace.h,
// train/attention_map.h). Oracles: the model's own entry points without an observer
// (GPT::logits, GPT::loss, GPT::hidden_states: the trace must show that very pass); the
// parameters read directly and combined by plain loops in double (h_0, the attention weights
// from c_attn, LayerNorm, GELU); a hand-computed colour; a small XML well-formedness check.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <regex>

#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/json.h"
#include "tests/cuda/each_device.h"
#include "tests/temp_dir.h"
#include "tests/train/run_command.h"
#include "train/attention_map.h"
#include "train/commands/commands.h"
#include "train/svg.h"
#include "train/trace.h"

using namespace kiso;

namespace {

const char* kCorpus =
    "The cat sat on the mat. The dog sat on the log. A cat and a dog met on the mat.\n"
    "The mat was red; the log was old. Cats sit, dogs lie, and the mat stays where it was.\n";

// A BPE of 300 tokens trained on kCorpus, and a 2-block GPT of 16 channels in 2 heads (HS 8),
// context 16, with dropout 0.1 everywhere (GPT-1's), random weights. c_attn's weights are
// scaled up ×40 so that q·k spans a few units and the attention weights are far from uniform
// (N(0, 0.02) weights give near-uniform rows, which would test the mask but not the softmax).
struct Fixture {
  Tokenizer tok = Tokenizer::train(std::string(kCorpus) + kCorpus, 300);
  GPTConfig config = [this] {
    GPTConfig c;
    c.vocab_size = tok.vocab_size(), c.n_ctx = 16, c.n_layer = 2;
    c.block.n_head = 2, c.block.n_embd = 16, c.block.n_inner = 32;
    return c;
  }();
  Generator gen{7};
  GPT model{config, gen};
  std::string prompt = "The cat sat on the mat.";

  Fixture() {
    for (Block& b : model.h) b.attn.c_attn.weight = Variable(mul(b.attn.c_attn.weight.value(), 40.0), true);
  }
  Tensor ids() const {
    std::vector<int32_t> v = tok.encode(prompt);
    return from_vector(v, {1, int64_t(v.size())});
  }
};

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// Plain LayerNorm of each row of x (rows × C) in double, with the module's gain and bias.
std::vector<double> layernorm_rows(const std::vector<double>& x, int64_t C, const LayerNorm& ln) {
  std::vector<double> g = values(ln.weight.value()), b = values(ln.bias.value()), out(x.size());
  for (size_t r = 0; r < x.size() / size_t(C); ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < C; ++c) mean += x[r * C + c] / double(C);
    for (int64_t c = 0; c < C; ++c) var += (x[r * C + c] - mean) * (x[r * C + c] - mean) / double(C);
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = (x[r * C + c] - mean) / std::sqrt(var + ln.eps) * g[c] + b[c];
  }
  return out;
}

// The attention weights (NH, T, T) of one block for its input x (T, C), from c_attn's
// parameters by plain loops: qkv = x W + b; per head softmax over keys 0..t of q_t·k_j / √HS.
std::vector<double> attention_by_hand(const std::vector<double>& x, int64_t T, const CausalSelfAttention& attn) {
  int64_t C = attn.c_proj.weight.shape()[0], NH = attn.n_head, HS = C / NH;
  std::vector<double> W = values(attn.c_attn.weight.value()), b = values(attn.c_attn.bias.value());
  std::vector<double> qkv(size_t(T * 3 * C));  // (T, 3C)
  for (int64_t t = 0; t < T; ++t)
    for (int64_t o = 0; o < 3 * C; ++o) {
      double s = b[o];
      for (int64_t c = 0; c < C; ++c) s += x[t * C + c] * W[c * 3 * C + o];
      qkv[t * 3 * C + o] = s;
    }
  std::vector<double> w(size_t(NH * T * T), 0.0);  // (NH, T, T), zeros above the diagonal
  for (int64_t h = 0; h < NH; ++h)
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> score(size_t(t + 1));
      double top = -INFINITY, total = 0;
      for (int64_t j = 0; j <= t; ++j) {
        double dot = 0;
        for (int64_t i = 0; i < HS; ++i) dot += qkv[t * 3 * C + h * HS + i] * qkv[j * 3 * C + C + h * HS + i];
        score[j] = dot / std::sqrt(double(HS));
        top = std::max(top, score[j]);
      }
      for (int64_t j = 0; j <= t; ++j) total += std::exp(score[j] - top);
      for (int64_t j = 0; j <= t; ++j) w[(h * T + t) * T + j] = std::exp(score[j] - top) / total;
    }
  return w;
}

// A parse of the command line with just the two commands, capturing what they print.
std::string run(const std::vector<std::string>& args) {
  CLI::App app("kiso");
  app.require_subcommand(1);
  add_trace(app);
  add_attention(app);
  return kiso::testing::parse_capturing(app, args);
}

// XML well-formedness, enough for kiso's SVG: every tag closes in order, quotes pair up inside
// a tag, no '<' inside a tag, and every '&' starts one of XML's predefined entities.
bool well_formed(const std::string& s, std::string& why) {
  std::vector<std::string> open;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '&') {
      static const std::regex entity("^&(amp|lt|gt|quot|apos);");
      if (!std::regex_search(s.substr(i, 8), entity)) return why = "a bare & at " + std::to_string(i), false;
    }
    if (s[i] != '<') continue;
    size_t end = s.find('>', i);
    if (end == std::string::npos) return why = "an unclosed tag", false;
    std::string tag = s.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return why = "a < inside the tag " + tag, false;
    if (std::count(tag.begin(), tag.end(), '"') % 2) return why = "unpaired quotes in " + tag, false;
    std::string name = tag.substr(tag[0] == '/', tag.find_first_of(" />", 1) - (tag[0] == '/'));
    if (tag[0] == '/') {
      if (open.empty() || open.back() != name) return why = "</" + name + "> closes nothing open", false;
      open.pop_back();
    } else if (tag.back() != '/') open.push_back(name);
    i = end;
  }
  if (!open.empty()) return why = "<" + open.back() + "> never closed", false;
  return true;
}

// The fill of each heatmap cell, in document order, and whether it is masked.
std::vector<std::pair<std::string, bool>> cells(const std::string& svg) {
  std::vector<std::pair<std::string, bool>> out;
  static const std::regex cell("<rect class=\"cell( masked)?\"[^>]*fill=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cell); it != std::sregex_iterator(); ++it)
    out.emplace_back((*it)[2].str(), (*it)[1].matched);
  return out;
}

int brightness(const std::string& hex) {  // "#rrggbb" -> r + g + b
  return std::stoi(hex.substr(1, 2), nullptr, 16) + std::stoi(hex.substr(3, 2), nullptr, 16) +
         std::stoi(hex.substr(5, 2), nullptr, 16);
}

}  // namespace

TEST_SUITE("train") {

TEST_CASE("trace: the logits and the loss are the model's own, bit for bit; the stages in order and shape") {
  Fixture f;
  Trace t = trace_forward(f.model, f.tok, f.prompt);
  Tensor ids = f.ids();
  int64_t T = ids.size(1), C = 16, NH = 2, HS = 8, V = f.config.vocab_size;
  REQUIRE(T >= 4);
  CHECK(t.ids == ids.to_vector<int32_t>());
  CHECK(f.tok.decode(t.ids) == f.prompt);

  // the logits stage is GPT::logits, the loss GPT::loss (targets: the ids shifted by one)
  CHECK(t.stage("logits").value.to_vector<float>() == f.model.logits(ids, Mode::eval()).value().to_vector<float>());
  std::vector<int32_t> shifted(t.ids.begin() + 1, t.ids.end());
  shifted.push_back(-100);
  double loss = f.model.loss(ids, from_vector(shifted, {1, T}), Mode::eval()).value().item();
  REQUIRE(t.loss.has_value());
  CHECK(*t.loss == loss);
  // the last block's output is GPT::hidden_states
  CHECK(t.stage("h.1.ln_2").value.to_vector<float>() ==
        f.model.hidden_states(ids, Mode::eval()).value().to_vector<float>());

  // every stage, in the order the pass computes them, with the shape the config implies
  std::vector<std::pair<std::string, Shape>> expected = {
      {"ids", {1, T}}, {"U W_e", {1, T, C}}, {"W_p", {T, C}}, {"h_0", {1, T, C}}};
  for (int l = 0; l < 2; ++l) {
    std::string h = "h." + std::to_string(l) + ".";
    for (auto [name, shape] : std::vector<std::pair<std::string, Shape>>{
             {"attn.c_attn", {1, T, 3 * C}}, {"attn.q", {1, NH, T, HS}}, {"attn.k", {1, NH, T, HS}},
             {"attn.v", {1, NH, T, HS}}, {"attn.weights", {1, NH, T, T}}, {"attn.attention", {1, T, C}},
             {"attn.c_proj", {1, T, C}}, {"x + attn", {1, T, C}}, {"ln_1", {1, T, C}}, {"mlp.c_fc", {1, T, 32}},
             {"mlp.gelu", {1, T, 32}}, {"mlp.c_proj", {1, T, C}}, {"h + mlp", {1, T, C}}, {"ln_2", {1, T, C}}})
      expected.push_back({h + name, shape});
  }
  expected.push_back({"logits", {1, T, V}});
  expected.push_back({"probabilities", {1, T, V}});
  REQUIRE(t.stages.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(expected[i].first);
    CHECK(t.stages[i].name == expected[i].first);
    CHECK(t.stages[i].value.shape() == expected[i].second);
    CHECK_FALSE(t.stages[i].description.empty());
  }
  // --values: the first 4 of the last row, and where they come from
  const TraceStage& h0 = t.stage("h_0");
  CHECK(h0.index == "[0, " + std::to_string(T - 1) + ", :4]");
  std::vector<double> all = values(h0.value);
  CHECK(h0.values == std::vector<double>(all.begin() + (T - 1) * C, all.begin() + (T - 1) * C + 4));
  CHECK(t.stage("h.0.attn.weights").index == "[0, 0, " + std::to_string(T - 1) + ", :4]");
}

TEST_CASE("trace: h_0 is W_e[ids] + W_p[0..T), and each block stage follows from the one before") {
  Fixture f;
  Trace t = trace_forward(f.model, f.tok, f.prompt);
  int64_t T = int64_t(t.ids.size()), C = 16;
  std::vector<float> We = f.model.tokens_embed.weight.value().to_vector<float>();
  std::vector<float> Wp = f.model.positions_embed.weight.value().to_vector<float>();
  std::vector<float> e = t.stage("U W_e").value.to_vector<float>(), p = t.stage("W_p").value.to_vector<float>();
  std::vector<float> h0 = t.stage("h_0").value.to_vector<float>();
  for (int64_t i = 0; i < T; ++i)
    for (int64_t c = 0; c < C; ++c) {
      float row = We[size_t(t.ids[i] * C + c)], position = Wp[size_t(i * C + c)];
      CHECK(e[i * C + c] == row);  // a gather: the very numbers
      CHECK(p[i * C + c] == position);
      CHECK(h0[i * C + c] == row + position);  // one f32 addition, exact
    }

  // block 0, post-LN: x + attn is the sum of its parts; ln_1 is LN of it; GELU of c_fc; ...
  // Tolerances: f32 values of size ~1 against double: LayerNorm's division by the deviation
  // and GELU's tanh each add a few ulps (1e-6 relative); 1e-5 leaves a margin of ten.
  std::vector<double> x = values(t.stage("h_0").value), a = values(t.stage("h.0.attn.c_proj").value);
  std::vector<double> sum = values(t.stage("h.0.x + attn").value);
  for (size_t i = 0; i < x.size(); ++i) CHECK(std::abs(sum[i] - (x[i] + a[i])) < 1e-6);  // one f32 addition: an ulp
  std::vector<double> ln1 = layernorm_rows(sum, C, f.model.h[0].ln_1), got = values(t.stage("h.0.ln_1").value);
  for (size_t i = 0; i < ln1.size(); ++i) CHECK(std::abs(got[i] - ln1[i]) < 1e-5);
  std::vector<double> pre = values(t.stage("h.0.mlp.c_fc").value), gelu = values(t.stage("h.0.mlp.gelu").value);
  for (size_t i = 0; i < pre.size(); ++i) {
    double u = pre[i], y = 0.5 * u * (1 + std::tanh(std::sqrt(2 / M_PI) * (u + 0.044715 * u * u * u)));
    CHECK(std::abs(gelu[i] - y) < 1e-5);
  }
  std::vector<double> h = values(t.stage("h.0.ln_1").value), m = values(t.stage("h.0.mlp.c_proj").value);
  std::vector<double> sum2 = values(t.stage("h.0.h + mlp").value);
  std::vector<double> ln2 = layernorm_rows(sum2, C, f.model.h[0].ln_2), out = values(t.stage("h.0.ln_2").value);
  for (size_t i = 0; i < h.size(); ++i) {
    CHECK(std::abs(sum2[i] - (h[i] + m[i])) < 1e-6);  // one f32 addition of values ~1: within an ulp
    CHECK(std::abs(out[i] - ln2[i]) < 1e-5);
  }
}

TEST_CASE("trace: the attention weights are softmax(q kᵀ/√HS) from c_attn, rows summing to 1, 0 in the future") {
  Fixture f;
  Trace t = trace_forward(f.model, f.tok, f.prompt);
  int64_t T = int64_t(t.ids.size()), NH = 2;
  for (int l = 0; l < 2; ++l) {
    CAPTURE(l);
    std::string input = l == 0 ? "h_0" : "h.0.ln_2";  // the block's input
    std::vector<double> expected = attention_by_hand(values(t.stage(input).value), T, f.model.h[size_t(l)].attn);
    std::vector<double> w = values(t.stage("h." + std::to_string(l) + ".attn.weights").value);  // (1, NH, T, T)
    double lowest = 1, highest = 0;
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t q = 0; q < T; ++q) {
        double row = 0;
        for (int64_t k = 0; k < T; ++k) {
          double v = w[size_t((h * T + q) * T + k)];
          if (k > q) CHECK(v == 0.0);  // exactly: the mask removes the future, it does not shrink it
          else {
            lowest = std::min(lowest, v), highest = std::max(highest, v);
            // f32 scores of size ~5 carry ~1e-6 absolute error into exp: 1e-5 is ten times that
            CHECK(std::abs(v - expected[size_t((h * T + q) * T + k)]) < 1e-5);
          }
          row += v;
        }
        CHECK(std::abs(row - 1) < 1e-5);  // T ≤ 16 f32 terms: a few ulps of 1
      }
    CHECK(highest - lowest > 0.5);  // the ×40 weights make the rows far from uniform: the test can fail
  }
  // the corner shown for the attention stage: head 0's first 4 queries × 4 keys, a triangle
  const TraceStage& s = t.stage("h.0.attn.weights");
  REQUIRE(s.corner.size() == 4);
  CHECK(s.corner[0] == std::vector<double>{1, 0, 0, 0});
  CHECK(s.corner[2][3] == 0);
  CHECK(s.corner[3][3] > 0);
}

TEST_CASE("trace: a pre-LN model shows each norm before its branch, and the final ln_f") {
  Fixture f;
  GPTConfig c = f.config;
  c.block.norm = Norm::pre;
  Generator gen{7};
  GPT pre(c, gen);
  Trace t = trace_forward(pre, f.tok, f.prompt);
  CHECK(t.norm == Norm::pre);
  std::vector<std::string> names;
  for (const TraceStage& s : t.stages)
    if (s.layer == 0) names.push_back(s.name);
  CHECK(names == std::vector<std::string>{"h.0.ln_1", "h.0.attn.c_attn", "h.0.attn.q", "h.0.attn.k", "h.0.attn.v",
                                          "h.0.attn.weights", "h.0.attn.attention", "h.0.attn.c_proj",
                                          "h.0.x + attn", "h.0.ln_2", "h.0.mlp.c_fc", "h.0.mlp.gelu",
                                          "h.0.mlp.c_proj", "h.0.h + mlp"});
  Tensor ids = f.ids();
  CHECK(t.stages[t.stages.size() - 3].name == "ln_f");  // then logits, probabilities
  CHECK(t.stage("ln_f").value.to_vector<float>() == pre.hidden_states(ids, Mode::eval()).value().to_vector<float>());
  CHECK(t.stage("logits").value.to_vector<float>() == pre.logits(ids, Mode::eval()).value().to_vector<float>());
  // the residual stream is the sum itself here: x + attn(ln_1(x))
  std::vector<double> x = values(t.stage("h_0").value), a = values(t.stage("h.0.attn.c_proj").value);
  std::vector<double> sum = values(t.stage("h.0.x + attn").value);
  for (size_t i = 0; i < x.size(); ++i) CHECK(std::abs(sum[i] - (x[i] + a[i])) < 1e-6);  // one f32 addition
}

TEST_CASE("trace: with or without an observer, the model computes the same numbers") {
  Fixture f;
  Tensor ids = f.ids();
  int64_t T = ids.size(1);
  Tensor targets = from_vector(std::vector<int32_t>(size_t(T), 3), {1, T});
  int64_t seen = 0;
  Observer observer;
  observer.see = [&](int64_t, const std::string&, const Tensor&) { ++seen; };
  Mode watched = Mode::eval();
  watched.observer = &observer;
  CHECK(f.model.loss(ids, targets, watched).value().item() == f.model.loss(ids, targets, Mode::eval()).value().item());
  CHECK(seen == 3 + 2 * 10);  // U W_e, W_p, h_0; per block the 10 stages the modules report
  // training: dropout draws the same masks whether watched or not (the observer draws nothing)
  Generator g1{5, 9}, g2{5, 9};
  Mode train_watched = Mode::train(g2);
  train_watched.observer = &observer;
  double plain = f.model.loss(ids, targets, Mode::train(g1)).value().item();
  CHECK(f.model.loss(ids, targets, train_watched).value().item() == plain);
  CHECK(plain != f.model.loss(ids, targets, Mode::eval()).value().item());  // dropout was on
}

TEST_CASE("trace: on cuda the stages are the CPU's, attention weights included (flash never forms them)") {
  Fixture f;
  Trace cpu = trace_forward(f.model, f.tok, f.prompt);
  testing::on_each_device([&](const std::string& device) {
    CAPTURE(device);
    Fixture g;  // the same weights (same seed), moved to the device
    move_parameters(g.model.parameters(), Device::cuda);
    Trace dev = trace_forward(g.model, g.tok, g.prompt);
    REQUIRE(dev.stages.size() == cpu.stages.size());
    for (size_t i = 0; i < cpu.stages.size(); ++i) {
      CAPTURE(cpu.stages[i].name);
      CHECK(dev.stages[i].name == cpu.stages[i].name);
      CHECK_FALSE(dev.stages[i].value.is_cuda());  // brought back to be shown
      std::vector<double> a = values(dev.stages[i].value), b = values(cpu.stages[i].value);
      double worst = 0;
      for (size_t k = 0; k < a.size(); ++k) worst = std::max(worst, std::abs(a[k] - b[k]));
      // f32 kernels sum in another order than the CPU: ~1e-6 relative on values of size ≤ 10
      // (the ×40 scores), compounded over 2 blocks; 1e-4 leaves a wide margin
      CHECK(worst < 1e-4);
    }
    CHECK(std::abs(*dev.loss - *cpu.loss) < 1e-5);
  });
}

TEST_CASE("trace: the top next tokens are the largest probabilities of the last position") {
  Fixture f;
  Trace t = trace_forward(f.model, f.tok, f.prompt, TraceOptions{3, 1});
  int64_t T = int64_t(t.ids.size()), V = f.config.vocab_size;
  std::vector<double> logits = values(t.stage("logits").value);
  std::vector<double> p(logits.begin() + (T - 1) * V, logits.end());  // softmax by hand, in double
  double top = *std::max_element(p.begin(), p.end()), total = 0;
  for (double& x : p) total += (x = std::exp(x - top));
  for (double& x : p) x /= total;
  REQUIRE(t.top.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    CHECK(std::abs(t.top[i].probability - p[size_t(t.top[i].id)]) < 1e-6);  // f32 softmax against double
    CHECK(t.top[i].text == f.tok.label(t.top[i].id));
    if (i) CHECK(t.top[i].probability <= t.top[i - 1].probability);
  }
  int64_t above = std::count_if(p.begin(), p.end(), [&](double x) { return x > t.top[4].probability + 1e-6; });
  CHECK(above <= 4);  // nothing left out is more probable than the fifth
  // --values 3 --layers 1: three values a row, block 0's stages only
  CHECK(t.stage("h_0").values.size() == 3);
  CHECK_NOTHROW(t.stage("h.0.ln_2"));
  CHECK_THROWS_WITH_AS(t.stage("h.1.ln_2"), doctest::Contains("no stage named 'h.1.ln_2'"), Error);
}

TEST_CASE("trace: token labels show spaces, newlines and partial characters") {
  Fixture f;
  CHECK(f.tok.label(' ') == "␣");  // a trained tokenizer's byte tokens: id = byte
  CHECK(f.tok.label('\n') == "↵");
  CHECK(f.tok.label('a') == "a");
  CHECK(f.tok.label(0xe2) == "\\xe2");  // the first byte of a 3-byte character, alone
  CHECK(f.tok.label(0x01) == "\\x01");
  CHECK(f.tok.label(f.tok.special("<|endoftext|>")) == "<|endoftext|>");
  std::vector<int32_t> ids = f.tok.encode(" cat");
  REQUIRE(ids.size() == 1);  // merged in training: the corpus has " cat" often
  CHECK(f.tok.label(ids[0]) == "␣cat");
}

TEST_CASE("trace: bad input is a clear error") {
  Fixture f;
  CHECK_THROWS_WITH_AS(trace_forward(f.model, f.tok, ""), doctest::Contains("trace: --prompt is empty"), Error);
  std::string long_prompt;
  for (int i = 0; i < 20; ++i) long_prompt += " cat dog";
  CHECK_THROWS_WITH_AS(trace_forward(f.model, f.tok, long_prompt),
                       doctest::Contains("more than the model's context n_ctx = 16"), Error);
  CHECK_THROWS_WITH_AS(trace_forward(f.model, f.tok, "ok\xff"), doctest::Contains("--prompt: invalid UTF-8 at byte 2"),
                       Error);
  CHECK_THROWS_WITH_AS(attention_map(f.model, f.tok, f.prompt, 2, 0),
                       doctest::Contains("--layer 2 is out of range: the model has 2 blocks, 0..1"), Error);
  CHECK_THROWS_WITH_AS(attention_map(f.model, f.tok, f.prompt, 0, 2),
                       doctest::Contains("--head 2 is out of range: each block has 2 heads, 0..1"), Error);
  // one token: nothing to predict, no loss
  CHECK_FALSE(trace_forward(f.model, f.tok, "a").loss.has_value());

  TempDir dir("trace_errors");
  f.tok.save(dir.str("tok"));
  std::string none = dir.str("none"), p = f.prompt;
  auto refused = [&](const std::vector<std::string>& args, const std::string& message) {
    CAPTURE(message);
    CHECK_THROWS_WITH_AS(run(args), doctest::Contains(message.c_str()), Error);
  };
  refused({"trace", "--preset", "huge", "--tokenizer", dir.str("tok"), "--prompt", p},
          "trace: --preset huge: unknown; expected one of");
  refused({"trace", "--preset", "tiny", "--tokenizer", none, "--prompt", p}, "trace: --tokenizer " + none + ": no such");
  refused({"trace", "--preset", "tiny", "--prompt", p}, "trace: --preset tiny needs --tokenizer DIR");
  refused({"trace", "--prompt", p}, "give exactly one of --model (a model directory) and --preset");
  refused({"trace", "--model", none, "--preset", "tiny", "--prompt", p}, "got both");
  refused({"trace", "--model", none, "--prompt", p}, "trace: --model " + none + ": no such directory");
  refused({"trace", "--preset", "tiny", "--tokenizer", dir.str("tok"), "--prompt", ""}, "trace: --prompt is empty");
  refused({"trace", "--preset", "tiny", "--tokenizer", dir.str("tok"), "--prompt", p, "--layers", "3"},
          "--layers must be 'all' or a number of blocks in 0..2");
  refused({"trace", "--preset", "tiny", "--tokenizer", dir.str("tok"), "--prompt", p, "--values", "0"},
          "--values must be >= 1");
  refused({"attention", "--preset", "tiny", "--tokenizer", dir.str("tok"), "--prompt", p, "--head", "x"},
          "--head must be a head number (0, 1, ...) or 'all', got 'x'");
  refused({"attention", "--preset", "tiny", "--tokenizer", dir.str("tok"), "--prompt", p, "--out",
           dir.str("no/such/a.svg")},
          "the directory " + dir.str("no/such") + " does not exist");
}

TEST_CASE("attention: the heatmap has T×T cells shaded by weight, the tokens escaped, valid XML") {
  Fixture f;
  f.prompt = "a <b> & \"c\" cat";
  AttentionMap map = attention_map(f.model, f.tok, f.prompt, 1, 0);
  int64_t T = int64_t(map.tokens.size());
  REQUIRE(map.weights.size() == 1);
  std::string svg = attention_svg(map), why;
  CHECK_MESSAGE(well_formed(svg, why), why);
  std::vector<std::pair<std::string, bool>> c = cells(svg);
  REQUIRE(int64_t(c.size()) == T * T);
  // row by row: the masked cells are exactly those above the diagonal; the others shade by weight
  std::vector<std::pair<double, int>> shade;
  for (int64_t q = 0; q < T; ++q)
    for (int64_t k = 0; k < T; ++k) {
      const auto& [fill, masked] = c[size_t(q * T + k)];
      CHECK(masked == (k > q));
      if (!masked) shade.push_back({map.weights[0][size_t(q)][size_t(k)], brightness(fill)});
    }
  std::sort(shade.begin(), shade.end());
  for (size_t i = 1; i < shade.size(); ++i) CHECK(shade[i].second <= shade[i - 1].second);  // heavier: darker
  CHECK(shade.back().second < shade.front().second);
  // the scale by hand: channels linear from #f7fbff to #08306b; 0.5 gives (127.5, 149.5, 181) rounded
  CHECK(weight_color(0) == "#f7fbff");
  CHECK(weight_color(1) == "#08306b");
  CHECK(weight_color(0.5) == "#8096b5");
  // every token on both axes, escaped; the raw characters never appear in the text
  for (const std::string& token : map.tokens) {
    CAPTURE(token);
    std::string label = ">" + escape_xml(token) + "</text>";
    size_t first = svg.find(label);
    REQUIRE(first != std::string::npos);
    CHECK(svg.find(label, first + 1) != std::string::npos);  // query row and key column
  }
  CHECK(svg.find("&lt;") != std::string::npos);
  CHECK(svg.find("&amp;") != std::string::npos);
  CHECK(svg.find("&quot;") != std::string::npos);

  // every head: a grid of NH heatmaps, each T × T
  AttentionMap all = attention_map(f.model, f.tok, f.prompt, 1, -1);
  CHECK(all.heads == std::vector<int64_t>{0, 1});
  CHECK(all.weights[0] == map.weights[0]);
  std::string grid = attention_svg(all);
  CHECK(int64_t(cells(grid).size()) == 2 * T * T);
  CHECK(well_formed(grid, why));
}

TEST_CASE("commands: trace and attention on a model directory, text and --json") {
  Fixture f;
  TempDir dir("trace_commands");
  std::string m = dir.str("model");
  save_model(m, f.model);
  f.tok.save(m);
  Trace t = trace_forward(f.model, f.tok, f.prompt);

  // trace --json: every stage's name, shape and values; the loss is GPT::loss's
  Json j = parse_json_strict(run({"trace", "--model", m, "--prompt", f.prompt, "--json"}), "trace --json");
  REQUIRE(j.at("stages").size() == t.stages.size());
  for (size_t i = 0; i < t.stages.size(); ++i) {
    CHECK(j["stages"][i]["name"] == t.stages[i].name);
    CHECK(j["stages"][i]["shape"].get<Shape>() == t.stages[i].value.shape());
    CHECK(j["stages"][i]["values"].get<std::vector<double>>() == t.stages[i].values);
  }
  CHECK(j["loss"].get<double>() == *t.loss);
  CHECK(j["norm"] == "post");
  CHECK(j["tokens"].size() == t.ids.size());
  CHECK(j["top"].size() == 5);
  // the text: the tokens with their ids, a stage per two lines, the triangle, the loss
  std::string text = run({"trace", "--model", m, "--prompt", f.prompt});
  CHECK(text.find(fmt::format("{} \"The\"", t.ids[0])) != std::string::npos);
  CHECK(text.find("post-LN") != std::string::npos);
  CHECK(text.find("h.1.attn.weights       (1, 2, ") != std::string::npos);
  CHECK(text.find("t=0   The           1.00000   0         0         0") != std::string::npos);
  CHECK(text.find(fmt::format("loss    {:.4f}", *t.loss)) != std::string::npos);

  // attention --json: the matrix is the trace's h.1.attn.weights, head 0; --out writes the SVG
  std::string svg = dir.str("a.svg");
  Json a = parse_json_strict(run({"attention", "--model", m, "--prompt", f.prompt, "--layer", "1", "--out", svg,
                                  "--json"}),
                             "attention --json");
  std::vector<double> w = values(t.stage("h.1.attn.weights").value);
  int64_t T = int64_t(t.ids.size());
  auto matrix = a.at("weights").get<std::vector<std::vector<std::vector<double>>>>();
  REQUIRE(matrix.size() == 1);
  for (int64_t q = 0; q < T; ++q)
    for (int64_t k = 0; k < T; ++k) CHECK(matrix[0][size_t(q)][size_t(k)] == w[size_t(q * T + k)]);
  CHECK(a["svg"] == svg);
  CHECK(int64_t(cells(read_file(svg)).size()) == T * T);
  // without --out: the table, "-" for the future
  std::string table = run({"attention", "--model", m, "--prompt", f.prompt, "--head", "1"});
  CHECK(table.find("block 0, head 1: row = query, column = key") != std::string::npos);
  CHECK(table.find("  0 The          1.0000      -") != std::string::npos);

  // --preset with random initial weights: a loss near ln V, as an untrained model's should be
  // (logits h_n·W_e with W_e ~ N(0, 0.02) and |h_n| = √C have spread ~0.2: loss ≈ ln V + 0.03)
  Json r = parse_json_strict(run({"trace", "--preset", "tiny", "--tokenizer", m, "--seed", "3", "--prompt", f.prompt,
                                  "--layers", "0", "--json"}),
                             "trace --preset --json");
  CHECK(std::abs(r["loss"].get<double>() - std::log(double(f.tok.vocab_size()))) < 0.5);
  CHECK(r["stages"].size() == 6);  // ids, U W_e, W_p, h_0, logits, probabilities: --layers 0
}

}  // TEST_SUITE
