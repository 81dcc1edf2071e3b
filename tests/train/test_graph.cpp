// tests/train/test_graph.cpp — the autograd graph as kiso graph draws it (train/graph_dot.h,
// train/commands/graph.cpp). Oracles: a graph small enough to list its nodes and edges by hand;
// the model's own parameter list; the architecture (W_e is read twice, every block has the same
// ops); Graphviz itself for the quoting, when it is installed (the tests that need `dot` skip
// without it: it is not a dependency of make test).
#include <doctest/doctest.h>

#include "tests/temp_dir.h"
#include "tests/train/run_command.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "autograd/functions.h"
#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/tokenizer.h"
#include "gpt/json.h"
#include "gpt/model.h"
#include "tests/train/toy_config.h"
#include "train/commands/commands.h"
#include "train/graph_dot.h"

using namespace kiso;

namespace {

// `kiso graph ARGS`, parsed as main does, with what it printed on std::cout.
std::string run_graph_command(const std::vector<std::string>& args) {
  CLI::App app{"kiso"};
  app.require_subcommand(1);
  add_graph(app);
  std::vector<std::string> full = {"graph"};
  full.insert(full.end(), args.begin(), args.end());
  return kiso::testing::parse_capturing(app, full);
}

// The edges of DOT text as (from, to) node numbers: every "  nA -> nB" line.
std::multiset<std::pair<int, int>> dot_edges(const std::string& dot) {
  std::multiset<std::pair<int, int>> out;
  std::regex edge(R"(^  n(\d+) -> n(\d+))");
  std::istringstream lines(dot);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, edge)) out.insert({std::stoi(m[1]), std::stoi(m[2])});
  }
  return out;
}

// The node lines of DOT text: node number -> its label as written (quoted).
std::map<int, std::string> dot_nodes(const std::string& dot) {
  std::map<int, std::string> out;
  std::regex node(R"(^ +n(\d+) \[label=("(?:[^"\\]|\\.)*"))");
  std::istringstream lines(dot);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, node)) out[std::stoi(m[1])] = m[2];
  }
  return out;
}

// One forward to the loss of a toy GPT with `layers` blocks, in training mode, and its graph.
struct ToyGraph {
  Generator init{7, 0};
  GPT model;
  Graph graph;
  explicit ToyGraph(int64_t layers) : model(config(layers), init) {
    Generator dropout{7, 2};
    Tensor ids = from_vector(std::vector<int32_t>{1, 2, 3, 4, 5, 6}, {2, 3});      // (B, T) = (2, 3)
    Tensor targets = from_vector(std::vector<int32_t>{2, 3, 4, 5, 6, 7}, {2, 3});  // (B, T)
    graph = graph_of(model.loss(ids, targets, Mode::train(dropout)), model.parameters());
  }
  static GPTConfig config(int64_t layers) {
    GPTConfig c = testing::toy_config();
    c.n_layer = layers;
    return c;
  }
  // The op names recorded in scope `scope`, sorted.
  std::multiset<std::string> ops_in(const std::string& scope) const {
    std::multiset<std::string> out;
    for (const GraphNode& n : graph.nodes)
      if (n.kind == GraphNodeKind::op && n.scope == scope) out.insert(n.name);
    return out;
  }
  int64_t ops() const {
    return std::count_if(graph.nodes.begin(), graph.nodes.end(),
                         [](const GraphNode& n) { return n.kind == GraphNodeKind::op; });
  }
};

// PATH set to `value` for one scope, then put back as it was (ScopedEnv would unset it).
struct ScopedPath {
  std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "";
  explicit ScopedPath(const std::string& value) { ::setenv("PATH", value.c_str(), 1); }
  ~ScopedPath() { ::setenv("PATH", saved.c_str(), 1); }
};

}  // namespace

TEST_SUITE("train") {

TEST_CASE("graph_of: a hand-built graph has exactly the nodes and edges drawn by hand") {
  // e = sum(a·b + a) with a, b parameters and k a constant: f = e·k reads a leaf that needs no
  // gradient. a is read twice (by mul and by add), as W_e is in the GPT.
  Variable a(from_vector({1.0, 2.0}, {2}), true), b(from_vector({3.0, 4.0}, {2}), true);
  Variable k(from_vector({0.5}, {}));
  Variable e = sum(a * b + a);
  Variable f = e * k;
  Parameters names{{"a", &a}, {"b", &b}};
  Graph g = graph_of(f, names);
  // By hand, inputs first in the order the depth-first walk meets them: a, b, mul, add, sum,
  // then k (found when its reader is reached) and mul.
  std::vector<std::pair<GraphNodeKind, std::string>> expected{
      {GraphNodeKind::parameter, "a"}, {GraphNodeKind::parameter, "b"}, {GraphNodeKind::op, "mul"},
      {GraphNodeKind::op, "add"},      {GraphNodeKind::op, "sum"},      {GraphNodeKind::leaf, "leaf"},
      {GraphNodeKind::op, "mul"}};
  REQUIRE(g.nodes.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(g.nodes[i].kind == expected[i].first);
    CHECK(g.nodes[i].name == expected[i].second);
  }
  CHECK(g.nodes[4].shape == Shape{});
  CHECK(g.nodes[2].shape == Shape{2});
  std::multiset<std::pair<int, int>> edges{{0, 2}, {1, 2}, {2, 3}, {0, 3}, {3, 4}, {4, 6}, {5, 6}};
  std::string dot = to_dot(g, "test");
  CHECK(dot_edges(dot) == edges);
  std::map<int, std::string> nodes = dot_nodes(dot);
  CHECK(nodes == std::map<int, std::string>{{0, R"x("a\n(2,)")x"},
                                            {1, R"x("b\n(2,)")x"},
                                            {2, R"x("mul\n(2,)")x"},
                                            {3, R"x("add\n(2,)")x"},
                                            {4, R"x("sum\n()")x"},
                                            {5, R"x("leaf\n()")x"},
                                            {6, R"x("mul\n()")x"}});
  CHECK(g.backward_order == std::vector<int>{6, 4, 3, 2});  // the ops, loss first
  CHECK(dot.find("cluster") == std::string::npos);          // no scope, no box
}

TEST_CASE("graph_of: ops recorded under a GraphScope are drawn in its box, with the parameters named under it") {
  Variable w(from_vector({1.0, 2.0}, {2}), true), v(from_vector({3.0, 4.0}, {2}), true);
  Variable u(from_vector({5.0, 6.0}, {2}), true);
  Variable y;
  {
    GraphScope block("h.0");
    y = w * v;  // in h.0
  }
  Variable loss = sum(y * u);  // outside
  // "h.01.u" starts with "h.0" but is not under it: a block's name is followed by a '.'.
  Graph g = graph_of(loss, {{"h.0.w", &w}, {"v", &v}, {"h.01.u", &u}});
  REQUIRE(g.nodes.size() == 6);  // w, v, mul, u, mul, sum
  CHECK(g.nodes[0].scope == "h.0");  // named h.0.w: in the box
  CHECK(g.nodes[1].scope == "");     // v: no scope is a prefix of its name
  CHECK(g.nodes[2].scope == "h.0");
  CHECK(g.nodes[3].name == "h.01.u");
  CHECK(g.nodes[3].scope == "");
  CHECK(g.nodes[4].scope == "");
  CHECK(g.nodes[5].scope == "");
  std::string dot = to_dot(g, "test");
  std::string box = dot.substr(dot.find("subgraph \"cluster_h.0\""));
  box = box.substr(0, box.find("  }\n"));
  for (int i = 0; i < 6; ++i) CHECK((box.find(fmt::format(" n{} [", i)) != std::string::npos) == (i == 0 || i == 2));
}

TEST_CASE("graph_of on a 1-layer GPT: each parameter once, W_e read by the gather and the LM head") {
  ToyGraph toy(1);
  Parameters params = toy.model.parameters();
  std::multiset<std::string> named, drawn;
  for (const NamedParameter& p : params) named.insert(p.name);
  for (const GraphNode& n : toy.graph.nodes)
    if (n.kind == GraphNodeKind::parameter) drawn.insert(n.name);
  CHECK(drawn == named);  // every parameter, each exactly once
  CHECK(std::none_of(toy.graph.nodes.begin(), toy.graph.nodes.end(),
                     [](const GraphNode& n) { return n.kind == GraphNodeKind::leaf; }));

  int w_e = find_node(toy.graph, GraphNodeKind::parameter, "tokens_embed.weight");
  REQUIRE(w_e >= 0);
  CHECK(toy.graph.nodes[w_e].shape == Shape{10, 4});  // (V, C) of the toy config
  std::multiset<std::string> readers;
  for (int op : consumers_of(toy.graph, w_e)) readers.insert(toy.graph.nodes[op].name);
  CHECK(readers == std::multiset<std::string>{"embedding", "matmul"});  // two gradient contributions
  // The LM head's matmul is the op right under the loss: logits (B·T, V) = (6, 10).
  int loss = toy.graph.backward_order.front();
  CHECK(toy.graph.nodes[loss].name == "cross_entropy");
  std::vector<int> into_loss;
  for (const GraphEdge& e : toy.graph.edges)
    if (e.to == loss) into_loss.push_back(e.from);
  REQUIRE(into_loss.size() == 1);
  CHECK(toy.graph.nodes[into_loss[0]].name == "matmul");
  CHECK(toy.graph.nodes[into_loss[0]].shape == Shape{6, 10});
  CHECK(consumers_of(toy.graph, into_loss[0]) == std::vector<int>{loss});

  // backward_order is a reverse topological order: every op runs before the ops that made its
  // inputs.
  std::map<int, size_t> position;
  for (size_t i = 0; i < toy.graph.backward_order.size(); ++i) position[toy.graph.backward_order[i]] = i;
  for (const GraphEdge& e : toy.graph.edges)
    if (toy.graph.nodes[e.from].kind == GraphNodeKind::op) CHECK(position.at(e.to) < position.at(e.from));
}

TEST_CASE("graph_of: every block records the same ops, and a second block adds one block's worth") {
  ToyGraph one(1), two(2);
  std::multiset<std::string> block = one.ops_in("h.0");
  CHECK(block.size() >= 5);  // at least c_attn, attention, c_proj, two residual LayerNorms and the MLP
  CHECK(two.ops_in("h.0") == block);
  CHECK(two.ops_in("h.1") == block);
  CHECK(two.ops() - one.ops() == int64_t(block.size()));
  CHECK(two.ops_in("") == one.ops_in(""));  // embeddings, LM head and loss do not depend on depth
}

TEST_CASE("dot_quote: quotes, backslashes and newlines in a name stay inside one DOT string") {
  CHECK(dot_quote("plain") == R"("plain")");
  CHECK(dot_quote("we\"ird\\name\nrow <x>") == R"("we\"ird\\name\nrow <x>")");
  if (find_program("dot").empty()) {
    MESSAGE("Graphviz' dot is not on PATH: the check that dot reads the quoted names is skipped");
    return;
  }
  // dot itself parses a graph whose parameter name has every awkward character; the SVG (which
  // dot escapes for XML) shows the name as it was.
  TempDir dir("graph_quote");
  Variable w(from_vector({1.0, 2.0}, {2}), true);
  // (The newline makes two lines of the label, and must not end the edge's // comment early.)
  Graph g = graph_of(sum(w), {{"we\"ird\\name <x> & {y}; z\nn9 -> n9", &w}});
  render_svg(to_dot(g, "title \"quoted\""), dir.str("g.svg"));
  std::string svg = read_file(dir.str("g.svg"));
  CHECK(svg.find("we&quot;ird\\name &lt;x&gt; &amp; {y}; z") != std::string::npos);
  CHECK(svg.find(">n9 &#45;&gt; n9<") != std::string::npos);
  CHECK(svg.find("<title>n9</title>") == std::string::npos);  // no node n9 made from the name
  CHECK(svg.find("title &quot;quoted&quot;") != std::string::npos);
  CHECK(!std::filesystem::exists(dir.str("g.svg.tmp")));
  CHECK(!std::filesystem::exists(dir.str("g.svg.dot.tmp")));
}

TEST_CASE("kiso graph: --json counts, --out writes the DOT, --svg without dot on PATH says so") {
  TempDir dir("graph_command");
  Json counts = parse_json_strict(
      run_graph_command({"--preset", "tiny", "--layers", "1", "--seq-len", "4", "--out", dir.str("g.dot"), "--json"}),
      "graph --json");
  std::string dot = read_file(dir.str("g.dot"));
  CHECK(dot.rfind("digraph autograd {", 0) == 0);
  CHECK(counts["edges"].get<size_t>() == dot_edges(dot).size());
  CHECK(counts["nodes"].get<size_t>() == dot_nodes(dot).size());
  // The tiny preset with one block: as many parameter nodes as the model's own list has.
  GPTConfig c = preset("tiny");
  c.n_layer = 1;
  Generator gen{1, 0};
  CHECK(counts["parameters"].get<size_t>() == GPT(c, gen).parameters().size());
  CHECK(counts["data_inputs"] == 3);  // ids, positions, targets
  CHECK(counts["backward_order"][0]["op"] == "cross_entropy");
  CHECK(dot.find("label=\"ids\\n(1, 4)\"") != std::string::npos);
  CHECK(dot.find("label=\"tokens_embed.weight\\n(4096, 128)\"") != std::string::npos);

  // Without dot on PATH: an error naming dot and the package, before anything is written.
  ScopedPath no_dot(dir.str());
  try {
    run_graph_command({"--preset", "tiny", "--layers", "1", "--seq-len", "4", "--svg", dir.str("g.svg")});
    FAIL("expected an error without dot on PATH");
  } catch (const Error& e) {
    std::string message = e.what();
    CHECK(message.find("`dot`") != std::string::npos);
    CHECK(message.find("graphviz") != std::string::npos);
  }
  CHECK(!std::filesystem::exists(dir.str("g.svg")));

  // Bad options name the option and the range.
  CHECK_THROWS_WITH_AS(run_graph_command({"--preset", "tiny", "--seq-len", "129"}),
                       doctest::Contains("--seq-len 129: expected 1..128"), Error);
  CHECK_THROWS_WITH_AS(run_graph_command({"--preset", "tiny", "--model", dir.str()}),
                       doctest::Contains("exactly one of --preset and --model"), Error);
}

TEST_CASE("kiso graph --prompt: the ids are the prompt's tokens but the last, from the model directory's tokenizer") {
  TempDir dir("graph_prompt");
  Tokenizer tok = Tokenizer::train("hello world, hello there, the world is here", 280);
  tok.save(dir.str());
  GPTConfig c = testing::toy_config();
  c.vocab_size = tok.vocab_size(), c.n_ctx = 32, c.n_layer = 1;
  Generator gen{3, 0};
  GPT model(c, gen);
  save_model(dir.str(), model);

  std::string prompt = "hello world is there";
  size_t n = tok.encode(prompt).size();  // the oracle: the tokenizer itself
  REQUIRE(n >= 2);
  std::string dot = run_graph_command({"--model", dir.str(), "--prompt", prompt, "--batch-size", "2"});
  CHECK(dot.find(fmt::format("label=\"ids\\n(2, {})\"", n - 1)) != std::string::npos);
  CHECK(dot.find(fmt::format("label=\"targets\\n({},)\"", 2 * (n - 1))) != std::string::npos);

  CHECK_THROWS_WITH_AS(run_graph_command({"--model", dir.str(), "--prompt", ""}),
                       doctest::Contains("is 0 token(s); expected at least 2"), Error);
  CHECK_THROWS_WITH_AS(run_graph_command({"--preset", "tiny", "--prompt", "hello"}),
                       doctest::Contains("--prompt needs --model DIR"), Error);
  CHECK_THROWS_WITH_AS(run_graph_command({"--model", dir.str(), "--prompt", "hello", "--seq-len", "3"}),
                       doctest::Contains("give --seq-len or --prompt, not both"), Error);
}

}  // TEST_SUITE
