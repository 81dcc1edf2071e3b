// tensor/precision.h — the arithmetic precision of matrix products: f32 (the default), or BF16
// mixed precision (`--precision bf16` of kiso pretrain, finetune and bench).
//
// BF16 mixed precision, as kiso runs it (DESIGN.md, "Precision"):
//   - every matmul (tensor/ops_matmul.cpp) and every product inside the fused attention
//     (tensor/ops_attention.cpp), forward and backward, reads its two inputs rounded to bf16
//     (base/bf16.h: round to nearest, ties to even) and accumulates in f32, as a bf16 tensor-core
//     GEMM does; its output is f32;
//   - the activations a bf16 implementation would store in bf16 are rounded where the model
//     makes them (autograd's bf16_activation, called in nn/modules.cpp): the MLP's hidden layer
//     before GELU and each residual branch's output before it joins the residual stream;
//   - everything else stays f32: the weights (master copies: each product reads a rounded copy),
//     the gradients (a backward product's output, accumulated with +=), AdamW's moments, the
//     residual stream, layernorm and softmax statistics, the logits and the loss.
// The rounded numbers are kept in f32 tensors: the same values a bf16 store keeps, so the CPU,
// the simulator and the GPU compute the same arithmetic, but no memory or bandwidth is saved yet.
// A 2-byte bf16 dtype that halves the traffic is a later step.
//
// The mode is set for a scope, per thread, like autograd's NoGradGuard (torch.autocast is the
// model): a PrecisionGuard lives around the training loop (train/loop.cpp) or the benchmark
// (train/bench.cpp). Autograd's matmul and attention record the mode of their forward and run
// their backward in it, wherever backward() is called.
// What it is not: a dtype (tensors stay f32 or f64), or a loss scaler (bf16 has f32's exponent
// range, so gradients do not underflow as fp16's would).
#pragma once

#include <string>
#include <string_view>

namespace kiso {

enum class Precision { f32, bf16 };

std::string to_string(Precision precision);  // "f32", "bf16"

// "f32" or "bf16" to the Precision; anything else throws, naming `what` (a flag, a file's key):
//   "state.json: \"precision\" must be f32 or bf16, got \"fp16\""
Precision parse_precision(std::string_view name, const std::string& what);

// The precision matmuls run in on this thread now (f32 unless a PrecisionGuard says otherwise).
Precision matmul_precision();

// Sets the precision of this thread's matmuls while it lives; the previous one comes back after.
class PrecisionGuard {
 public:
  explicit PrecisionGuard(Precision precision);
  ~PrecisionGuard();
  PrecisionGuard(const PrecisionGuard&) = delete;
  PrecisionGuard& operator=(const PrecisionGuard&) = delete;

 private:
  Precision previous_;
};

}  // namespace kiso
