// train/graph_dot.h — the autograd graph of a forward pass, as data and as Graphviz DOT text
// (what `kiso graph` prints and draws).
//
// graph_of walks the graph from a Variable (a loss) through Node::inputs, in the order backward()
// would use (Variable::graph_order), and lists one GraphNode per op output, per parameter and per
// other leaf, with an edge from each input to the op that reads it. A parameter is recognised by
// identity (Variable::id) in the model's named list, so it gets its Hugging Face name
// ("h.0.attn.c_attn.weight"). Ops recorded under a GraphScope ("h.0", set by gpt/model.cpp around
// each block) are grouped into a box of that name; a parameter goes in the box its name starts with.
//
// What autograd's graph does not hold, it does not show by itself: token ids, positions and
// targets are plain tensors captured by the ops' closures (they get no gradient), so the caller
// adds them with add_data_input as dashed "data" nodes where it knows who reads them.
// What it is not: a renderer (Graphviz' `dot` lays the text out) or a graph optimiser; it only reads.
// Read next: autograd/variable.h (Node, graph_order, backward), train/commands/graph.cpp.
#pragma once

#include <string>
#include <vector>

#include "autograd/variable.h"
#include "nn/parameters.h"

namespace kiso {

enum class GraphNodeKind {
  op,         // the output of a recorded op: Node::op and the output's shape
  parameter,  // a leaf found in the model's parameter list: its name and shape
  leaf,       // another leaf Variable (a constant, or an input that requires no gradient)
  data,       // not a Variable: ids, positions, targets (add_data_input)
};

struct GraphNode {
  GraphNodeKind kind;
  std::string name;   // "matmul", "h.0.ln_1.weight", "leaf", "ids"
  Shape shape;
  std::string scope;  // the box it is drawn in ("h.0"); "" for none
};

struct GraphEdge {
  int from, to;  // indices into Graph::nodes: an input and the op that reads it
};

struct Graph {
  std::vector<GraphNode> nodes;  // inputs before the ops that read them; the root (loss) last
                                 // among the Variables (data inputs are appended after)
  std::vector<GraphEdge> edges;  // per op, its inputs in the op's argument order (x·x: twice)
  std::vector<int> backward_order;  // the op nodes in the order backward() runs their closures
};

// The graph that ends at `root`. `names`: the parameters to recognise (GPT::parameters()); a
// leaf not in it is a `leaf` node. Inputs that require no gradient are shown too (backward skips
// them). Throws when the graph was already freed by a backward().
Graph graph_of(const Variable& root, const Parameters& names);

// Appends a data node `name` of `shape` (drawn dashed: no gradient flows to it) with an edge to
// each of `consumers`. Returns its index.
int add_data_input(Graph& graph, const std::string& name, const Shape& shape, const std::vector<int>& consumers);

// The index of the node of kind `kind` named `name`, or -1.
int find_node(const Graph& graph, GraphNodeKind kind, const std::string& name);
// The nodes that read node `index` (one entry per edge).
std::vector<int> consumers_of(const Graph& graph, int index);

// "matmul\n(4, 128)": the label a node gets in DOT (and one line of --backward-order).
std::string node_label(const GraphNode& node);

// The DOT text: a digraph drawn bottom to top (inputs at the bottom, the loss on top, as in the
// paper's Figure 1); ops as ellipses, parameters as blue boxes, data as dashed notes; one
// `subgraph cluster_...` per scope. `title` is the graph's label.
std::string to_dot(const Graph& graph, const std::string& title);

// `s` as a DOT quoted string: in quotes, with \ and " escaped and a newline as \n.
std::string dot_quote(const std::string& s);

// Graphviz: where `name` is on PATH ("" when it is not), the same search a shell does.
std::string find_program(const std::string& name);
// The path of `dot`; when there is none on PATH, an Error from `command` naming `dot` and the
// Debian package graphviz. Commands call it before any work, so a missing dot costs nothing.
std::string require_dot(const char* command);
// Runs `dot -Tsvg` on `dot_text` and writes its SVG to `svg_path` atomically (a temporary file
// renamed over it when dot succeeded). Throws as require_dot does, or with dot's exit status.
void render_svg(const std::string& dot_text, const std::string& svg_path);

}  // namespace kiso
