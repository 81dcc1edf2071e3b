// tensor/precision.cpp — the precision mode of this thread's matmuls (tensor/precision.h) and the
// op that rounds a tensor to bf16 (round_bf16, tensor/ops.h): a CPU loop over base/bf16.h's
// scalar rounding, or on Device::cuda one launch of cuda/kernels/convert.cu, which calls the
// same function, so the two devices round every number to the same bits.
#include "tensor/precision.h"

#include "base/bf16.h"
#include "base/check.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/profile.h"

namespace kiso {

static thread_local Precision current_precision = Precision::f32;

std::string to_string(Precision precision) { return precision == Precision::bf16 ? "bf16" : "f32"; }

Precision parse_precision(std::string_view name, const std::string& what) {
  if (name == "f32") return Precision::f32;
  if (name == "bf16") return Precision::bf16;
  fail(what.c_str(), "precision must be f32 or bf16, got \"{}\"", name);
}

Precision matmul_precision() { return current_precision; }

PrecisionGuard::PrecisionGuard(Precision precision) : previous_(current_precision) { current_precision = precision; }
PrecisionGuard::~PrecisionGuard() { current_precision = previous_; }

// y = x with each element rounded to the nearest bf16 (ties to even) and widened back to f32.
Tensor round_bf16(const Tensor& x) {
  OpScope scope("round_bf16", x);
  check(x.defined(), "round_bf16", "input is an undefined tensor");
  check(x.dtype() == DType::f32, "round_bf16", "input must be f32 (bf16 rounds an f32's mantissa), got {} with shape {}",
        to_string(x.dtype()), shape_str(x.shape()));
  int64_t n = x.numel();
  if (x.is_cuda()) {
    Tensor y(x.shape(), x.dtype(), Device::cuda);
    cuda::with_target("round_bf16", [&]<cuda::Target D> { cuda::round_bf16<D>(x.cuda_data<float>(), y.cuda_data<float>(), n); });
    return y;
  }
  Tensor y(x.shape(), x.dtype());
  const float* px = x.data<float>();
  float* py = y.data<float>();
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = round_bf16(px[i]);
  return y;
}

}  // namespace kiso
