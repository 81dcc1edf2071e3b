// autograd/functions.cpp — forward, backward and the derivative of every differentiable op.
//
// Reading guide: each op is one block. Its comment states the forward, the backward (the
// chain rule applied to that forward; y is the output, dy the gradient arriving at it) and
// what the closure saves. The closure's `in` are the op's inputs in order and every gradient
// is added with accumulate_grad (+=): a value used twice receives both contributions.
// An input that does not require a gradient is skipped before any work is done for it.
#include "autograd/functions.h"

#include <numbers>
#include <numeric>

#include "tensor/precision.h"

namespace kiso {

// t broadcast up to `shape` (a copy): the backward of every reduction.
static Tensor expand(const Tensor& t, const Shape& shape) { return add(zeros(shape, t.dtype(), t.device()), t); }

// ---------------------------------------------------------------------------------------------
// add, sub, mul, div — with broadcasting
// Broadcasting repeats an input along some axes, so its gradient is the sum of dy over them:
// sum_to(g, shape) undoes the repetition.
// ---------------------------------------------------------------------------------------------

// forward:  y = a + b
// backward: da += sum_to(dy),  db += sum_to(dy)
Variable add(const Variable& a, const Variable& b) {
  return Variable::record(add(a.value(), b.value()), "add", {a, b}, [](std::vector<Variable>& in, const Tensor& dy) {
    if (in[0].requires_grad()) in[0].accumulate_grad(sum_to(dy, in[0].shape()));
    if (in[1].requires_grad()) in[1].accumulate_grad(sum_to(dy, in[1].shape()));
  });
}

// forward:  y = a - b
// backward: da += sum_to(dy),  db += sum_to(-dy)
Variable sub(const Variable& a, const Variable& b) {
  return Variable::record(sub(a.value(), b.value()), "sub", {a, b}, [](std::vector<Variable>& in, const Tensor& dy) {
    if (in[0].requires_grad()) in[0].accumulate_grad(sum_to(dy, in[0].shape()));
    if (in[1].requires_grad()) in[1].accumulate_grad(sum_to(neg(dy), in[1].shape()));
  });
}

// forward:  y = a * b
// backward: da += sum_to(dy * b),  db += sum_to(dy * a)      saves: a, b (the inputs)
Variable mul(const Variable& a, const Variable& b) {
  return Variable::record(mul(a.value(), b.value()), "mul", {a, b}, [](std::vector<Variable>& in, const Tensor& dy) {
    if (in[0].requires_grad()) in[0].accumulate_grad(sum_to(mul(dy, in[1].value()), in[0].shape()));
    if (in[1].requires_grad()) in[1].accumulate_grad(sum_to(mul(dy, in[0].value()), in[1].shape()));
  });
}

// forward:  y = a / b
// backward: da += sum_to(dy / b),  db += sum_to(-dy * a / b²) = sum_to(-dy * y / b)
// saves: a, b, y
Variable div(const Variable& a, const Variable& b) {
  Tensor y = div(a.value(), b.value());
  return Variable::record(y, "div", {a, b}, [y](std::vector<Variable>& in, const Tensor& dy) {
    const Tensor& b = in[1].value();
    if (in[0].requires_grad()) in[0].accumulate_grad(sum_to(div(dy, b), in[0].shape()));
    if (in[1].requires_grad()) in[1].accumulate_grad(sum_to(neg(div(mul(dy, y), b)), in[1].shape()));
  });
}

// forward:  y = a + s          backward: da += dy
Variable add(const Variable& a, double s) {
  return Variable::record(add(a.value(), s), "add_scalar", {a},
                          [](std::vector<Variable>& in, const Tensor& dy) { in[0].accumulate_grad(dy); });
}

// forward:  y = a * s          backward: da += dy * s
Variable mul(const Variable& a, double s) {
  return Variable::record(mul(a.value(), s), "mul_scalar", {a},
                          [s](std::vector<Variable>& in, const Tensor& dy) { in[0].accumulate_grad(mul(dy, s)); });
}

// ---------------------------------------------------------------------------------------------
// unary
// ---------------------------------------------------------------------------------------------

// forward:  y = -x             backward: dx += -dy
Variable neg(const Variable& x) {
  return Variable::record(neg(x.value()), "neg", {x},
                          [](std::vector<Variable>& in, const Tensor& dy) { in[0].accumulate_grad(neg(dy)); });
}

// forward:  y = e^x            backward: dx += dy * y           saves: y
Variable exp(const Variable& x) {
  Tensor y = exp(x.value());
  return Variable::record(y, "exp", {x},
                          [y](std::vector<Variable>& in, const Tensor& dy) { in[0].accumulate_grad(mul(dy, y)); });
}

// forward:  y = ln x           backward: dx += dy / x           saves: x
Variable log(const Variable& x) {
  return Variable::record(log(x.value()), "log", {x}, [](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(div(dy, in[0].value()));
  });
}

// forward:  y = tanh x         backward: dx += dy * (1 - y²)    saves: y
Variable tanh(const Variable& x) {
  Tensor y = tanh(x.value());
  return Variable::record(y, "tanh", {x}, [y](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(mul(dy, add(neg(mul(y, y)), 1.0)));
  });
}

// forward:  y = √x             backward: dx += dy / (2y)        saves: y
Variable sqrt(const Variable& x) {
  Tensor y = sqrt(x.value());
  return Variable::record(y, "sqrt", {x}, [y](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(div(mul(dy, 0.5), y));
  });
}

// forward:  y = x^(-1/2)       backward: dx += dy * (-1/2) x^(-3/2) = dy * (-1/2) y³    saves: y
Variable rsqrt(const Variable& x) {
  Tensor y = rsqrt(x.value());
  return Variable::record(y, "rsqrt", {x}, [y](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(mul(mul(dy, pow(y, 3.0)), -0.5));
  });
}

// forward:  y = x^p            backward: dx += dy * p x^(p-1)   saves: x
Variable pow(const Variable& x, double p) {
  return Variable::record(pow(x.value(), p), "pow", {x}, [p](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(mul(mul(dy, pow(in[0].value(), p - 1)), p));
  });
}

// forward:  y = erf x          backward: dx += dy * (2/√π) e^(-x²)    saves: x
Variable erf(const Variable& x) {
  return Variable::record(erf(x.value()), "erf", {x}, [](std::vector<Variable>& in, const Tensor& dy) {
    const Tensor& x = in[0].value();
    in[0].accumulate_grad(mul(mul(dy, exp(neg(mul(x, x)))), 2.0 * std::numbers::inv_sqrtpi));
  });
}

// ---------------------------------------------------------------------------------------------
// reductions
// ---------------------------------------------------------------------------------------------

// forward:  y = Σ_i x_i                 backward: dx_i += dy (dy broadcast to x's shape)
Variable sum(const Variable& x) {
  return Variable::record(sum(x.value()), "sum", {x}, [](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(expand(dy, in[0].shape()));
  });
}

// forward:  y = 1/n Σ_i x_i             backward: dx_i += dy / n
Variable mean(const Variable& x) {
  return Variable::record(mean(x.value()), "mean", {x}, [](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(expand(mul(dy, 1.0 / double(in[0].value().numel())), in[0].shape()));
  });
}

// forward:  y = max_i x_i               backward: dx_i += dy where i is the (first) argmax, else 0
// saves: the argmax
Variable max(const Variable& x) {
  const Tensor& xv = x.value();
  Tensor argmax = argmax_last(xv.reshape({xv.numel()}));  // (1,)
  return Variable::record(max(xv), "max", {x}, [argmax](std::vector<Variable>& in, const Tensor& dy) {
    Tensor hot = one_hot(argmax, in[0].value().numel(), dy.dtype());  // (numel,)
    in[0].accumulate_grad(mul(hot, dy).reshape(in[0].shape()));
  });
}

// forward:  y_r = Σ_j x_rj  (..., N) -> (..., 1)     backward: dx_rj += dy_r
Variable sum_last(const Variable& x) {
  return Variable::record(sum_last(x.value()), "sum_last", {x}, [](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(expand(dy, in[0].shape()));
  });
}

// forward:  y_r = 1/N Σ_j x_rj                       backward: dx_rj += dy_r / N
Variable mean_last(const Variable& x) {
  return Variable::record(mean_last(x.value()), "mean_last", {x}, [](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(expand(mul(dy, 1.0 / double(in[0].value().size(-1))), in[0].shape()));
  });
}

// forward:  y_r = max_j x_rj                         backward: dx_rj += dy_r at j = argmax_r
// saves: the argmax of each row
Variable max_last(const Variable& x) {
  Tensor argmax = argmax_last(x.value());  // i32 (..., 1)
  return Variable::record(max_last(x.value()), "max_last", {x}, [argmax](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(mul(one_hot(argmax, in[0].value().size(-1), dy.dtype()), dy));
  });
}

// ---------------------------------------------------------------------------------------------
// matmul:  C = op(A) · op(B), op = identity or transpose (per batch element)
// backward (no transposes):  dA += dC · Bᵀ,  dB += Aᵀ · dC
// With a transposed operand the gradient is wanted in its stored layout, i.e. transposed
// again; (XY)ᵀ = YᵀXᵀ turns every case into one matmul with flags:
//   C = A·B     dA = dC·Bᵀ          dB = Aᵀ·dC
//   C = Aᵀ·B    dA = B·dCᵀ          dB = A·dC
//   C = A·Bᵀ    dA = dC·B           dB = dCᵀ·A
//   C = Aᵀ·Bᵀ   dA = Bᵀ·dCᵀ         dB = dCᵀ·Aᵀ
// saves: A and B (the inputs), and the precision the forward ran in (tensor/precision.h): the
// backward products run in it too, wherever backward() is called. In bf16 they read A, B and
// dC rounded to bf16, and their f32 outputs are the gradients, accumulated in f32.
// ---------------------------------------------------------------------------------------------

Variable matmul(const Variable& a, const Variable& b, bool ta, bool tb) {
  Tensor c = matmul(a.value(), b.value(), ta, tb);
  Precision precision = matmul_precision();
  return Variable::record(c, "matmul", {a, b}, [ta, tb, precision](std::vector<Variable>& in, const Tensor& dc) {
    PrecisionGuard as_forward(precision);
    const Tensor& A = in[0].value();
    const Tensor& B = in[1].value();
    if (in[0].requires_grad()) {
      if (!ta) in[0].accumulate_grad(matmul(dc, B, false, !tb));  // dC·Bᵀ  or dC·B
      else in[0].accumulate_grad(matmul(B, dc, tb, true));        // B·dCᵀ or Bᵀ·dCᵀ
    }
    if (in[1].requires_grad()) {
      if (!tb) in[1].accumulate_grad(matmul(A, dc, !ta, false));  // Aᵀ·dC  or A·dC
      else in[1].accumulate_grad(matmul(dc, A, true, ta));        // dCᵀ·A or dCᵀ·Aᵀ
    }
  });
}

// ---------------------------------------------------------------------------------------------
// linear and linear_gelu: a layer's product, bias and activation as one op (tensor/ops_linear.cpp;
// on cuda the bias and GELU ride in the matmul's epilogue)
// forward:  h = x·W + b   (x (N, K) after flattening the leading axes, W (K, Nout), b (Nout,))
//           linear: y = h;   linear_gelu: h rounded to bf16 in bf16 precision, y = gelu(h)
// backward: dh = dy                    (linear)
//           dh = dy · gelu'(h)         (linear_gelu; rounding passes the gradient, as bf16_activation)
//           db += Σ_rows dh            (b was added to every row)
//           dx += dh · Wᵀ,  dW += xᵀ · dh      (matmul's backward with C = x·W)
// dh and db come from one op (bias_gelu_backward: one launch on cuda); its column sum adds in a
// fixed lane order on both devices. The products run in the forward's precision, as matmul's.
// saves: x, W (the inputs), h (linear_gelu only), the precision.
// The composition it replaces, reshape(matmul(x, W) + b) then bf16_activation and gelu, is
// its oracle (tests/autograd/test_linear.cpp).
// ---------------------------------------------------------------------------------------------

static void linear_backward(std::vector<Variable>& in, const Tensor& dy, const Tensor& pre, GeluKind kind,
                            Precision precision) {
  PrecisionGuard as_forward(precision);
  const Tensor& x = in[0].value();
  const Tensor& W = in[1].value();
  int64_t K = W.size(0), Nout = W.size(1), N = x.numel() / std::max<int64_t>(K, 1);
  if (K == 0) N = dy.numel() / std::max<int64_t>(Nout, 1);
  BiasGeluGrads g = bias_gelu_backward(dy, pre, kind);
  Tensor dh = g.dh.reshape({N, Nout});  // (N, Nout)
  if (in[2].requires_grad()) in[2].accumulate_grad(g.dbias);
  if (in[0].requires_grad()) in[0].accumulate_grad(matmul(dh, W, false, true).reshape(x.shape()));  // dh·Wᵀ
  if (in[1].requires_grad()) in[1].accumulate_grad(matmul(x.reshape({N, K}), dh, true, false));     // xᵀ·dh
}

Variable linear(const Variable& x, const Variable& w, const Variable& b) {
  Precision precision = matmul_precision();
  return Variable::record(linear(x.value(), w.value(), b.value()), "linear", {x, w, b},
                          [precision](std::vector<Variable>& in, const Tensor& dy) {
                            linear_backward(in, dy, Tensor(), GeluKind::tanh, precision);
                          });
}

Variable linear_gelu(const Variable& x, const Variable& w, const Variable& b, GeluKind kind) {
  LinearGeluOutput f = linear_gelu(x.value(), w.value(), b.value(), kind);
  Tensor pre = f.pre;
  Precision precision = matmul_precision();
  return Variable::record(f.y, "linear_gelu", {x, w, b},
                          [pre, kind, precision](std::vector<Variable>& in, const Tensor& dy) {
                            linear_backward(in, dy, pre, kind, precision);
                          });
}

// ---------------------------------------------------------------------------------------------
// fused ops: one kernel each way (tensor/ops_nn.cpp states the maths in full)
// ---------------------------------------------------------------------------------------------

// forward:  y = softmax(x) over the last axis (causal: future keys get probability 0)
// backward: dx += y ⊙ (dy - Σ_j dy_j y_j)       saves: y
Variable softmax(const Variable& x, bool causal) {
  Tensor y = softmax_forward(x.value(), causal);
  return Variable::record(y, "softmax", {x}, [y](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(softmax_backward(y, dy));
  });
}

// forward:  y = (x - mean) · rstd · gamma + beta,  rstd = 1/√(var + eps)
// backward: dx += rstd (g - mean(g) - x̂ mean(g x̂)), g = dy·gamma;  dgamma += Σ dy x̂;  dbeta += Σ dy
// saves: x (input), mean and rstd per row
Variable layernorm(const Variable& x, const Variable& gamma, const Variable& beta, double eps) {
  LayerNormOutput f = layernorm_forward(x.value(), gamma.value(), beta.value(), eps);
  Tensor mean = f.mean, rstd = f.rstd;
  return Variable::record(f.y, "layernorm", {x, gamma, beta},
                          [mean, rstd](std::vector<Variable>& in, const Tensor& dy) {
                            LayerNormGrads g = layernorm_backward(dy, in[0].value(), mean, rstd, in[1].value());
                            in[0].accumulate_grad(g.dx);
                            in[1].accumulate_grad(g.dgamma);
                            in[2].accumulate_grad(g.dbeta);
                          });
}

// forward:  s = x + dropout(z, p),  y = layernorm(s, gamma, beta)       (tensor/ops_nn.cpp)
// backward: ds = layernorm's dx;  dx += ds;  dz += ds · keep/(1-p);  dgamma += Σ dy ŝ;  dbeta += Σ dy
// saves: s, mean and rstd per row, and the RNG state (the mask is regenerated, never stored)
Variable residual_layernorm(const Variable& x, const Variable& z, const Variable& gamma, const Variable& beta,
                            double eps, double p, Generator* gen) {
  check(p == 0 || gen != nullptr, "residual_layernorm", "dropout p = {} needs a generator for its mask", p);
  PhiloxState state;  // the draws dropout(z, p, *gen) would take, in the same place in the stream
  if (p > 0) state = gen->take(uint64_t(z.value().numel()));
  ResidualLayerNormOutput f =
      residual_layernorm_forward(x.value(), z.value(), gamma.value(), beta.value(), eps, p, state);
  Tensor s = f.s, mean = f.mean, rstd = f.rstd;
  return Variable::record(f.y, "residual_layernorm", {x, z, gamma, beta},
                          [s, mean, rstd, p, state](std::vector<Variable>& in, const Tensor& dy) {
                            ResidualLayerNormGrads g =
                                residual_layernorm_backward(dy, s, mean, rstd, in[2].value(), p, state);
                            in[0].accumulate_grad(g.dx);
                            in[1].accumulate_grad(g.dz);
                            in[2].accumulate_grad(g.dgamma);
                            in[3].accumulate_grad(g.dbeta);
                          });
}

// forward:  y = gelu(x)          backward: dx += dy · gelu'(x)        saves: x
Variable gelu(const Variable& x, GeluKind kind) {
  return Variable::record(gelu_forward(x.value(), kind), "gelu", {x}, [kind](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(gelu_backward(in[0].value(), dy, kind));
  });
}

// forward:  y[..., :] = weight[ids[...], :]
// backward: dweight[v, :] += Σ over positions with id v of dy[pos, :]      saves: ids
// (on cuda the forward's device copy of them, so the backward neither uploads nor reads back)
Variable embedding(const Variable& weight, const Tensor& ids) {
  Tensor ids_used;
  Tensor y = embedding_forward(weight.value(), ids, &ids_used);
  return Variable::record(y, "embedding", {weight}, [ids_used](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(embedding_backward(dy, ids_used, in[0].value().size(0)));
  });
}

// forward:  loss = mean over kept rows of -log softmax(logits_n)[t_n]
// backward: dlogits += dloss/count · (softmax(logits) - onehot(t)), 0 on ignored rows
// saves: logits (the input) and targets
// With the logits handed over and held by nothing else (Variable::is_sole_owner: this node will
// be their only holder), the backward writes dlogits over them: the logits are read by this
// closure alone (the matmul that made them reads its inputs, not its output), and a training
// step then holds one (N, V) buffer at the loss instead of two. Checked again at the backward.
static Variable cross_entropy_of(const Variable& logits, const Tensor& targets, int64_t ignore_index,
                                 bool overwrite) {
  return Variable::record(cross_entropy_forward(logits.value(), targets, ignore_index), "cross_entropy", {logits},
                          [targets, ignore_index, overwrite](std::vector<Variable>& in, const Tensor& dloss) {
                            const Tensor& x = in[0].value();
                            bool in_place = overwrite && x.is_sole_owner();
                            in[0].accumulate_grad(
                                cross_entropy_backward(x, targets, dloss, ignore_index, in_place));
                          });
}

Variable cross_entropy(const Variable& logits, const Tensor& targets, int64_t ignore_index) {
  return cross_entropy_of(logits, targets, ignore_index, false);
}

Variable cross_entropy(Variable&& logits, const Tensor& targets, int64_t ignore_index) {
  bool overwrite = logits.is_sole_owner();  // before the node takes its own handle
  return cross_entropy_of(logits, targets, ignore_index, overwrite);
}

// forward:  y = x · keep / (1-p)     backward: dx += dy · keep / (1-p)
// saves: only the RNG state; the mask is regenerated from it (tensor/ops_random.cpp)
Variable dropout(const Variable& x, double p, Generator& gen) {
  PhiloxState state = gen.take(uint64_t(x.value().numel()));
  return Variable::record(dropout(x.value(), p, state), "dropout", {x},
                          [p, state](std::vector<Variable>& in, const Tensor& dy) {
                            in[0].accumulate_grad(dropout(dy, p, state));
                          });
}

// forward:  per head, att = softmax(Q Kᵀ/√HS, causal), P̃ = dropout(att), Y = P̃ V
// backward: dP̃ = dY Vᵀ, dV = P̃ᵀ dY, dP = dropout(dP̃), dS = softmax'(att, dP)/√HS,
//           dQ = dS K, dK = dSᵀ Q; into dqkv's three column blocks (tensor/ops_attention.cpp)
// saves: qkv (the input), att and P̃ (on cuda's flash path y and lse instead), and the dropout state
Variable attention(const Variable& qkv, int64_t n_head, double p, Generator* gen) {
  check(p == 0 || gen != nullptr, "attention", "dropout p = {} needs a generator for its mask", p);
  const Tensor& x = qkv.value();
  PhiloxState state;  // the draws of dropout() on the (B·NH, T, T) probabilities, as unfused
  if (p > 0 && x.dim() == 3) state = gen->take(uint64_t(x.size(0) * n_head * x.size(1) * x.size(1)));
  AttentionOutput f = attention_forward(x, n_head, p, state);
  Tensor y = f.y;
  if (!f.lse.defined()) f.y = Tensor();  // the closure keeps att and P̃, not the output; flash
                                         // keeps y (shared with the output) and lse instead
  Precision precision = matmul_precision();  // its products' precision, forward and backward
  return Variable::record(y, "attention", {qkv}, [f, n_head, p, state, precision](std::vector<Variable>& in,
                                                                                   const Tensor& dy) {
    PrecisionGuard as_forward(precision);
    in[0].accumulate_grad(attention_backward(dy, in[0].value(), f, n_head, p, state));
  });
}

// ---------------------------------------------------------------------------------------------
// mixed precision (tensor/precision.h)
// ---------------------------------------------------------------------------------------------

// forward:  y = round_bf16(x) in bf16 precision (the value a bf16 activation store keeps); y = x
//           itself in f32
// backward: dx += dy. Rounding is a cast, not a function to differentiate: its derivative is 0
//           almost everywhere, and mixed precision wants the gradient of the f32 computation it
//           stands in for (torch.autocast's casts pass the gradient through the same way).
Variable bf16_activation(const Variable& x) {
  if (matmul_precision() != Precision::bf16) return x;
  return Variable::record(round_bf16(x.value()), "bf16_activation", {x},
                          [](std::vector<Variable>& in, const Tensor& dy) { in[0].accumulate_grad(dy); });
}

// ---------------------------------------------------------------------------------------------
// shape ops: the backward moves the gradient back to where each number came from
// ---------------------------------------------------------------------------------------------

// forward:  y = [x_0, x_1, ...] along axis     backward: dx_k += the k-th piece of dy
Variable concat(const std::vector<Variable>& xs, int64_t axis) {
  std::vector<Tensor> values;
  for (const Variable& x : xs) values.push_back(x.value());
  Tensor y = concat(values, axis);
  axis = normalize_axis(axis, y.dim(), "concat");
  return Variable::record(y, "concat", xs, [axis](std::vector<Variable>& in, const Tensor& dy) {
    int64_t start = 0;
    for (Variable& x : in) {
      int64_t len = x.value().size(axis);
      if (x.requires_grad()) x.accumulate_grad(slice(dy, axis, start, start + len));
      start += len;
    }
  });
}

// forward:  y = x[start:end] along axis        backward: dx[start:end] += dy, 0 elsewhere
Variable slice(const Variable& x, int64_t axis, int64_t start, int64_t end) {
  Tensor y = slice(x.value(), axis, start, end);
  axis = normalize_axis(axis, y.dim(), "slice");
  return Variable::record(y, "slice", {x}, [axis, start](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(slice_backward(dy, in[0].shape(), axis, start));
  });
}

// forward:  y axis k = x axis dims[k]          backward: dx = dy permuted by the inverse of dims
Variable permute(const Variable& x, const std::vector<int64_t>& dims) {
  Tensor y = permute(x.value(), dims);
  std::vector<int64_t> inverse(dims.size());
  for (size_t k = 0; k < dims.size(); ++k) inverse[size_t(normalize_axis(dims[k], y.dim(), "permute"))] = int64_t(k);
  return Variable::record(y, "permute", {x}, [inverse](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(permute(dy, inverse));
  });
}

// forward:  y = x with axes axis0, axis1 swapped     backward: swap them back
Variable transpose(const Variable& x, int64_t axis0, int64_t axis1) {
  return Variable::record(transpose(x.value(), axis0, axis1), "transpose", {x},
                          [axis0, axis1](std::vector<Variable>& in, const Tensor& dy) {
                            in[0].accumulate_grad(transpose(dy, axis0, axis1));
                          });
}

// forward:  y = x viewed with a new shape (no copy)  backward: dx += dy viewed with x's shape
Variable reshape(const Variable& x, const Shape& shape) {
  return Variable::record(x.value().reshape(shape), "reshape", {x}, [](std::vector<Variable>& in, const Tensor& dy) {
    in[0].accumulate_grad(dy.reshape(in[0].shape()));
  });
}

}  // namespace kiso
