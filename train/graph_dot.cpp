// train/graph_dot.cpp — see graph_dot.h.
#include "train/graph_dot.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <unordered_map>

#include <fmt/core.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/check.h"
#include "gpt/atomic_file.h"

namespace kiso {

Graph graph_of(const Variable& root, const Parameters& names) {
  std::unordered_map<const void*, const std::string*> parameter_name;  // Variable::id -> HF name
  for (const NamedParameter& p : names) parameter_name[p.variable->id()] = &p.name;

  Graph graph;
  std::unordered_map<const void*, int> index;  // Variable::id -> its node
  auto add_leaf = [&](const Variable& v) {
    auto found = parameter_name.find(v.id());
    if (found != parameter_name.end()) graph.nodes.push_back({GraphNodeKind::parameter, *found->second, v.shape(), ""});
    else graph.nodes.push_back({GraphNodeKind::leaf, "leaf", v.shape(), ""});
    index[v.id()] = int(graph.nodes.size()) - 1;
  };
  // graph_order lists each Variable after those it depends on; an input that requires no
  // gradient is not in it (backward does not go there), so it is added when its op is reached.
  for (const Variable& v : root.graph_order()) {
    const Node* node = v.node();
    if (!node) {
      add_leaf(v);
      continue;
    }
    for (const Variable& in : node->inputs)
      if (!index.count(in.id())) add_leaf(in);
    graph.nodes.push_back({GraphNodeKind::op, node->op, v.shape(), node->scope});
    int to = int(graph.nodes.size()) - 1;
    index[v.id()] = to;
    for (const Variable& in : node->inputs) graph.edges.push_back({index.at(in.id()), to});
  }
  // backward() walks graph_order from the end and runs each node's closure (leaves have none).
  for (int i = int(graph.nodes.size()) - 1; i >= 0; --i)
    if (graph.nodes[i].kind == GraphNodeKind::op) graph.backward_order.push_back(i);

  // A parameter is drawn in the box of the longest scope its name starts with ("h.0.ln_1.weight"
  // in "h.0"); the tied W_e, read by the embedding and by the LM head, stays outside every box.
  for (GraphNode& p : graph.nodes) {
    if (p.kind != GraphNodeKind::parameter) continue;
    for (const GraphNode& op : graph.nodes)
      if (op.kind == GraphNodeKind::op && !op.scope.empty() && op.scope.size() > p.scope.size() &&
          p.name.compare(0, op.scope.size() + 1, op.scope + ".") == 0)
        p.scope = op.scope;
  }
  return graph;
}

int add_data_input(Graph& graph, const std::string& name, const Shape& shape, const std::vector<int>& consumers) {
  graph.nodes.push_back({GraphNodeKind::data, name, shape, ""});
  int from = int(graph.nodes.size()) - 1;
  for (int to : consumers) {
    check(to >= 0 && to < from, "add_data_input", "consumer {} of '{}' is not a node (the graph has {})", to, name,
          from);
    graph.edges.push_back({from, to});
  }
  return from;
}

int find_node(const Graph& graph, GraphNodeKind kind, const std::string& name) {
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (graph.nodes[i].kind == kind && graph.nodes[i].name == name) return int(i);
  return -1;
}

std::vector<int> consumers_of(const Graph& graph, int index) {
  std::vector<int> out;
  for (const GraphEdge& e : graph.edges)
    if (e.from == index) out.push_back(e.to);
  return out;
}

std::string node_label(const GraphNode& node) { return node.name + "\n" + shape_str(node.shape); }

std::string dot_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;  // \ starts DOT's own escapes (\n, \l, \N)
    else if (c == '\n') out += "\\n";                     // a line break inside the label
    else out += c;
  }
  return out + "\"";
}

// The attributes that tell the kinds apart: parameters (what training changes) in blue boxes,
// activations (what the forward computes and backward differentiates) as plain ellipses.
static std::string node_style(const GraphNode& node, bool root) {
  switch (node.kind) {
    case GraphNodeKind::op: return root ? "shape=ellipse, penwidth=2" : "shape=ellipse";
    case GraphNodeKind::parameter: return "shape=box, style=\"rounded,filled\", fillcolor=\"#cfe2f3\"";
    case GraphNodeKind::leaf: return "shape=box, style=filled, fillcolor=\"#eeeeee\"";
    case GraphNodeKind::data: return "shape=note, style=dashed";
  }
  return "";
}

// `s` with line breaks as spaces: a // comment in DOT ends at the end of its line.
static std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return s;
}

std::string to_dot(const Graph& graph, const std::string& title) {
  int root = graph.backward_order.empty() ? -1 : graph.backward_order.front();
  std::string out = "digraph autograd {\n";
  out += fmt::format("  label={}; labelloc=t; rankdir=BT; fontname=\"sans-serif\";\n", dot_quote(title));
  out += "  node [fontname=\"sans-serif\", fontsize=11];\n  edge [color=\"#555555\"];\n";
  auto write_node = [&](int i, const std::string& indent) {
    out += fmt::format("{}n{} [label={}, {}];\n", indent, i, dot_quote(node_label(graph.nodes[i])),
                       node_style(graph.nodes[i], i == root));
  };
  // One box per scope, in the order the forward entered them; then the nodes in no box.
  std::vector<std::string> scopes;
  for (const GraphNode& n : graph.nodes)
    if (!n.scope.empty() && std::find(scopes.begin(), scopes.end(), n.scope) == scopes.end()) scopes.push_back(n.scope);
  for (const std::string& scope : scopes) {
    out += fmt::format("  subgraph {} {{\n", dot_quote("cluster_" + scope));
    // labelloc=b: with the graph drawn bottom to top, "bottom" puts the name at the box's top.
    out += fmt::format("    label={}; labelloc=b; style=rounded; color=\"#888888\";\n", dot_quote(scope));
    for (size_t i = 0; i < graph.nodes.size(); ++i)
      if (graph.nodes[i].scope == scope) write_node(int(i), "    ");
    out += "  }\n";
  }
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (graph.nodes[i].scope.empty()) write_node(int(i), "  ");
  // Each edge says in a comment what it joins, so the text reads without the picture
  // (grep "tokens_embed.weight ->" finds W_e's two readers).
  for (const GraphEdge& e : graph.edges)
    out += fmt::format("  n{} -> n{}{};  // {} -> {}\n", e.from, e.to,
                       graph.nodes[e.from].kind == GraphNodeKind::data ? " [style=dashed]" : "",
                       one_line(graph.nodes[e.from].name), one_line(graph.nodes[e.to].name));
  return out + "}\n";
}

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (!std::filesystem::is_directory(candidate) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string require_dot(const char* command) {
  std::string dot = find_program("dot");
  check(!dot.empty(), command,
        "--svg needs Graphviz' `dot` program and there is none on PATH; install the Debian package graphviz "
        "(apt-get install graphviz), or write the graph with --out FILE.dot and render it where dot is");
  return dot;
}

void render_svg(const std::string& dot_text, const std::string& svg_path) {
  std::string dot = require_dot("render_svg");
  // dot reads a file we write and writes one beside the SVG, which is renamed over it only when
  // dot succeeded: a failed run leaves no half-written picture. No shell: the paths go to dot as
  // arguments as they are.
  std::string input = svg_path + ".dot.tmp", output = svg_path + ".tmp";
  write_file_atomic(input, dot_text);
  pid_t child = ::fork();
  check(child >= 0, "render_svg", "could not start {}: fork failed", dot);
  if (child == 0) {
    const char* argv[] = {dot.c_str(), "-Tsvg", "-o", output.c_str(), input.c_str(), nullptr};
    ::execv(dot.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);  // only reached when exec failed
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  std::error_code ignored;
  std::filesystem::remove(input, ignored);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::filesystem::remove(output, ignored);
    fail("render_svg", "{} -Tsvg failed ({}) on the graph for {}; its message is above", dot,
         WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status)) : std::string("killed by a signal"),
         svg_path);
  }
  rename_durably(output, svg_path);
}

}  // namespace kiso
