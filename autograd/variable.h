// autograd/variable.h — reverse-mode automatic differentiation: Variable, the graph, backward.
//
// What it is: a dynamic tape. Every differentiable op (autograd/functions.h) computes its
// value with a tensor op and, when some input needs a gradient, records a Node: the inputs
// and a closure that, given the gradient of the output, adds (+=) the gradients of the inputs.
// backward() walks the nodes once in reverse topological order and then frees them.
// What it is not: a graph optimiser, a higher-order (grad-of-grad) engine, or thread-safe.
//
// Ownership, so there are no reference cycles: a Variable owns its Node; a Node owns its input
// Variables (it needs their values) and its closure; a closure captures saved tensors but never
// its own output Variable. The gradient of the output arrives as the closure's parameter.
//
// Reference: micrograd (engine.py) for the shape of the algorithm; PyTorch for the semantics
// (leaves keep .grad, intermediate gradients are dropped, a graph is freed by backward).
// Read next: autograd/functions.h.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace kiso {

class Variable;

// The closure a differentiable op records: `inputs` are the op's inputs (in order), `dout`
// the gradient of the loss with respect to the op's output. It calls
// inputs[i].accumulate_grad(...) for each input that requires a gradient.
using BackwardFn = std::function<void(std::vector<Variable>& inputs, const Tensor& dout)>;

struct Node {
  const char* op = "";  // the op's name ("matmul"): in error messages and in kiso graph's pictures
  std::vector<Variable> inputs;
  BackwardFn backward;
  bool freed = false;   // set once backward has run through this node
  std::string scope;    // the GraphScope it was recorded in ("h.0"); "" outside any. A label only
};

struct VariableState {
  Tensor value;
  Tensor grad;                 // undefined until a gradient arrives
  bool grad_shared = false;    // grad's storage may be another tensor's too: copy before writing
  bool requires_grad = false;
  std::shared_ptr<Node> node;  // the op that made this Variable; null for leaves
};

class Variable {
 public:
  Variable() = default;  // undefined
  // A leaf. With requires_grad, backward() leaves d(loss)/d(value) in grad().
  explicit Variable(Tensor value, bool requires_grad = false);

  bool defined() const { return state_ != nullptr; }
  const Tensor& value() const;
  const Shape& shape() const { return value().shape(); }
  bool requires_grad() const;
  bool is_leaf() const;
  // No other Variable handle shares this one's state and no other Tensor its value's storage:
  // an op handed this Variable may let its node be the only holder (autograd's cross_entropy).
  bool is_sole_owner() const { return state_ != nullptr && state_.use_count() == 1 && state_->value.is_sole_owner(); }

  // The accumulated gradient; undefined before any backward reached this Variable.
  const Tensor& grad() const;
  void zero_grad();  // forgets the gradient (the next backward starts from zero)

  // Adds g to the gradient. A leaf's first gradient is copied (it is the caller's to change:
  // clipping scales it in place), later ones are added in place. An intermediate Variable's
  // gradient is only read, by its node's closure, so its first gradient is shared with g, not
  // copied (most arrive as a view of the gradient above them: reshape, add); a second one is
  // then added out of place, so that g is never changed. A no-op when this Variable does not
  // require a gradient.
  void accumulate_grad(const Tensor& g);
  // The same for a temporary: when no other tensor shares its storage (a fresh result, as in
  // accumulate_grad(matmul(...))), the first gradient takes it over instead of copying it.
  void accumulate_grad(Tensor&& g);

  // Backpropagates from this Variable. The no-argument form needs a one-element value and
  // seeds d(self)/d(self) = 1. Frees the graph: a second backward through it throws.
  void backward();
  void backward(const Tensor& dout);

  // For reading the graph (train/graph_dot.h draws it). node(): the op that made this Variable,
  // null for a leaf. id(): the same for every handle of one Variable (a parameter's handle in the
  // graph and the module's own), so a walk can tell them apart and recognise them.
  const Node* node() const { return state_ ? state_->node.get() : nullptr; }
  const void* id() const { return state_.get(); }
  // The Variables backward() reaches from this one: this one and, through recorded nodes, every
  // input that requires a gradient, each listed after all the Variables it depends on (inputs
  // first, this one last). backward() runs the nodes in exactly the reverse of this order.
  // Throws when the graph was already freed by a backward().
  std::vector<Variable> graph_order() const;

  // Used by functions.h: the result of an op with these inputs. Records a Node running
  // `fn` when gradients are enabled and any input requires grad; else returns a plain value.
  static Variable record(Tensor value, const char* op, std::vector<Variable> inputs, BackwardFn fn);

 private:
  std::shared_ptr<VariableState> state_;
};

// While one of these lives on the current thread, ops record no graph (inference, the
// optimizer step, finite differences in gradcheck). Guards nest.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

bool grad_enabled();

// While one lives on the current thread, backward() calls fn(leaf) for each leaf that received a
// gradient, as soon as that gradient is final for this backward: every op that read the leaf has
// added its share (the reverse walk reaches a leaf after all its consumers). Data-parallel
// training uses it to start summing a layer's gradient over the processes while the backward of
// the layers below goes on (train/distributed.h). Scopes do not nest: the newest one is called.
class GradientReadyScope {
 public:
  explicit GradientReadyScope(std::function<void(Variable& leaf)> fn);
  ~GradientReadyScope();
  GradientReadyScope(const GradientReadyScope&) = delete;
  GradientReadyScope& operator=(const GradientReadyScope&) = delete;

 private:
  std::function<void(Variable&)> previous_;
};

// While one of these lives on the current thread, every node recorded carries its name in
// Node::scope, so a picture of the graph can group the ops (kiso graph draws a box per block:
// gpt/model.cpp opens "h.0", "h.1", ... around each block's forward). Nested scopes are joined
// with '.'. Only a label: backward never reads it.
class GraphScope {
 public:
  explicit GraphScope(const std::string& name);
  ~GraphScope();
  GraphScope(const GraphScope&) = delete;
  GraphScope& operator=(const GraphScope&) = delete;

 private:
  std::string previous_;
};

}  // namespace kiso
