// autograd/variable.cpp — the backward pass: topological order, gradient flow, freeing.
#include "autograd/variable.h"

#include <unordered_set>

#include "tensor/ops.h"
#include "tensor/profile.h"

namespace kiso {

// ---- grad mode ----

static thread_local bool grad_mode = true;

bool grad_enabled() { return grad_mode; }
NoGradGuard::NoGradGuard() : previous_(grad_mode) { grad_mode = false; }
NoGradGuard::~NoGradGuard() { grad_mode = previous_; }

// ---- graph scope (labels for pictures of the graph) ----

static thread_local std::string graph_scope;

GraphScope::GraphScope(const std::string& name) : previous_(graph_scope) {
  graph_scope = previous_.empty() ? name : previous_ + "." + name;
}
GraphScope::~GraphScope() { graph_scope = std::move(previous_); }

// ---- gradient-ready hook ----

static thread_local std::function<void(Variable&)> gradient_ready;

GradientReadyScope::GradientReadyScope(std::function<void(Variable&)> fn) : previous_(std::move(gradient_ready)) {
  gradient_ready = std::move(fn);
}
GradientReadyScope::~GradientReadyScope() { gradient_ready = std::move(previous_); }

// ---- Variable ----

Variable::Variable(Tensor value, bool requires_grad) : state_(std::make_shared<VariableState>()) {
  check(value.defined(), "Variable", "cannot wrap an undefined tensor");
  state_->value = std::move(value);
  state_->requires_grad = requires_grad;
}

const Tensor& Variable::value() const {
  check(defined(), "Variable::value", "the Variable is undefined (default-constructed)");
  return state_->value;
}

bool Variable::requires_grad() const { return defined() && state_->requires_grad; }
bool Variable::is_leaf() const { return defined() && state_->node == nullptr; }

const Tensor& Variable::grad() const {
  check(defined(), "Variable::grad", "the Variable is undefined (default-constructed)");
  return state_->grad;
}

void Variable::zero_grad() {
  if (defined()) state_->grad = Tensor(), state_->grad_shared = false;
}

void Variable::accumulate_grad(const Tensor& g) {
  if (!requires_grad()) return;
  check(g.shape() == shape(), "accumulate_grad", "gradient of shape {} for a value of shape {}{}", shape_str(g.shape()),
        shape_str(shape()), state_->node ? fmt::format(" (output of {})", state_->node->op) : "");
  VariableState& s = *state_;
  // The same tensor may be handed to several inputs (add passes dout to both), so a later +=
  // must not change g: a leaf copies its first gradient; an intermediate shares it and, if a
  // second one comes, adds out of place (copy on write).
  if (!s.grad.defined()) {
    bool leaf = s.node == nullptr;
    s.grad = leaf ? g.clone() : g;
    s.grad_shared = !leaf;
  } else if (s.grad_shared) {
    s.grad = add(s.grad, g);
    s.grad_shared = false;
  } else {
    add_inplace(s.grad, g);
  }
}

void Variable::accumulate_grad(Tensor&& g) {
  // A sole owner is moved in, unshared: nothing else can see the later += into it. With the
  // sharing above, this removed the copies of 121 gradients (256 MiB) per tiny training step.
  if (requires_grad() && !state_->grad.defined() && g.is_sole_owner() && g.shape() == shape()) {
    state_->grad = std::move(g);
    state_->grad_shared = false;
  } else {
    accumulate_grad(static_cast<const Tensor&>(g));
  }
}

Variable Variable::record(Tensor value, const char* op, std::vector<Variable> inputs, BackwardFn fn) {
  Variable out(std::move(value));
  if (!grad_enabled()) return out;
  bool any = false;
  for (const Variable& in : inputs) any = any || in.requires_grad();
  if (!any) return out;
  out.state_->requires_grad = true;
  out.state_->node = std::make_shared<Node>(Node{op, std::move(inputs), std::move(fn), false, graph_scope});
  return out;
}

void Variable::backward() {
  check(defined(), "backward", "called on an undefined Variable");
  check(value().numel() == 1, "backward",
        "backward() without a gradient needs a one-element value (a loss), got shape {}; pass dout explicitly",
        shape_str(shape()));
  backward(ones(shape(), value().dtype(), value().device()));
}

void Variable::backward(const Tensor& dout) {
  check(defined(), "backward", "called on an undefined Variable");
  check(requires_grad(), "backward",
        "this Variable does not require grad: no input had requires_grad = true, or it was computed under a "
        "NoGradGuard");
  check(dout.shape() == shape() && dout.dtype() == value().dtype(), "backward",
        "dout is {} {} but the value is {} {}", to_string(dout.dtype()), shape_str(dout.shape()),
        to_string(value().dtype()), shape_str(shape()));

  // 1. Topological order (graph_order below): every Variable after the ones it depends on.
  std::vector<Variable> order = graph_order();

  // 2. Seed the output's gradient, then run the nodes outputs-first. (`kiso bench --profile`
  //    files the ops called from here under the backward phase.)
  ProfilePhaseScope phase(ProfilePhase::backward);
  accumulate_grad(dout);
  //    Outputs before inputs: when a node runs, every consumer of its output has already added
  // its share to the output's gradient.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    VariableState& s = *it->state_;
    if (!s.node) {  // a leaf keeps its gradient, final from here on (every consumer has run)
      if (gradient_ready && s.grad.defined()) gradient_ready(*it);
      continue;
    }
    if (s.grad.defined()) s.node->backward(s.node->inputs, s.grad);
    // Free the node: its inputs (and the tensors its closure saved) can go now.
    s.node->inputs.clear();
    s.node->backward = nullptr;
    s.node->freed = true;
    s.grad = Tensor();  // intermediate gradients are not kept
    // Every reader of this value has run (its consumers, before this node; this node reads its
    // inputs, not its output). When `order` is its only holder, nobody can read it again: let
    // it go now rather than at the end of backward. (The logits, whose buffer cross_entropy
    // turned into dlogits, go as soon as the LM head's matmul has used them.)
    if (it->state_.use_count() == 1) s.value = Tensor();
  }
}

std::vector<Variable> Variable::graph_order() const {
  check(defined(), "graph_order", "called on an undefined Variable");
  // The post-order of a depth-first search from this Variable through the recorded nodes, done
  // with an explicit stack so that deep graphs cannot overflow the call stack. Each Variable in
  // `order` holds its state, so backward can free nodes while walking it.
  std::vector<Variable> order;
  std::unordered_set<VariableState*> visited{state_.get()};
  std::vector<std::pair<Variable, size_t>> stack{{*this, 0}};  // (variable, next input)
  while (!stack.empty()) {
    auto& [variable, next] = stack.back();
    std::shared_ptr<Node> node = variable.state_->node;
    check(!node || !node->freed, "backward",
          "the graph through '{}' was already freed by an earlier backward(); run the forward again to build a new "
          "graph",
          node ? node->op : "");
    if (node && next < node->inputs.size()) {
      const Variable& in = node->inputs[next++];
      if (in.requires_grad() && visited.insert(in.state_.get()).second) stack.emplace_back(in, 0);
      continue;
    }
    order.push_back(std::move(variable));
    stack.pop_back();
  }
  return order;
}

}  // namespace kiso
