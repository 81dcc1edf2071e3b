// cuda/kernels/epilogue.h — the device side of the matmul epilogue (cuda/kernels.h, "Epilogue"):
// GELU and its derivative as per-element functions, and the steps a rung takes on each element
// of c as it stores it. Shared by gelu.cu (the standalone GELU kernels), the rungs that store
// through an epilogue (matmul_3_tiled.cu, matmul_7_warptile.cu, matmul_8_mma.cu) and
// matmul_epilogue.cu (the fallback pass and the backward). Included by kernel files only; like
// block.h, everything sits in an unnamed namespace. No kernel here.
//
// The maths (tensor/ops_nn.cpp states it too and is the oracle):
//   erf:  gelu(x) = 0.5 x (1 + erf(x/√2)),           gelu'(x) = Φ(x) + x φ(x),  φ(x) = exp(-x²/2)/√(2π)
//   tanh: gelu(x) = 0.5 x (1 + tanh u),  u = √(2/π)(x + 0.044715 x³)
//         gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh² u) √(2/π)(1 + 3·0.044715 x²)
#pragma once

#include <cmath>
#include <type_traits>

#include "base/bf16.h"
#include "cuda/kernels.h"
#include "cuda/launch.h"

namespace kiso::cuda {
namespace {

[[maybe_unused]] constexpr double kGeluSqrt2OverPi = 0.7978845608028654;  // √(2/π)
[[maybe_unused]] constexpr double kGeluInvSqrt2 = 0.7071067811865476;     // 1/√2
[[maybe_unused]] constexpr double kGeluInvSqrt2Pi = 0.3989422804014327;   // 1/√(2π)
[[maybe_unused]] constexpr double kGeluCubic = 0.044715;

// gelu(v), computed in T.
template <class T> __device__ __forceinline__ T gelu_value(T v, bool exact) {
  if (exact) return v * (T(0.5) * (T(1) + std::erf(v * T(kGeluInvSqrt2))));
  const T k = T(kGeluSqrt2OverPi), a = T(kGeluCubic);
  return T(0.5) * v * (T(1) + std::tanh(k * (v + a * v * v * v)));
}

// gelu'(v), computed in T.
template <class T> __device__ __forceinline__ T gelu_derivative(T v, bool exact) {
  if (exact) {
    T cdf = T(0.5) * (T(1) + std::erf(v * T(kGeluInvSqrt2)));
    return cdf + v * std::exp(T(-0.5) * v * v) * T(kGeluInvSqrt2Pi);
  }
  const T k = T(kGeluSqrt2OverPi), a = T(kGeluCubic);
  T t = std::tanh(k * (v + a * v * v * v));
  return T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * k * (T(1) + T(3) * a * v * v);
}

// The bias of column col (0 outside c or without a bias). A rung loads it once per column a
// thread owns, before its store loop, not once per element.
template <class T> __device__ __forceinline__ T epilogue_bias(const Epilogue<T>& ep, int64_t col, int64_t N) {
  return ep.bias != nullptr && col < N ? ep.bias[col] : T(0);
}

// Step 1 on the sum `acc` of one element: h = acc + bias, rounded to bf16 when asked. Without a
// bias or rounding, acc itself, so that Epilogue{} stores the plain product bit for bit.
template <class T> __device__ __forceinline__ T epilogue_pre(const Epilogue<T>& ep, T acc, T bias) {
  T h = ep.bias != nullptr ? acc + bias : acc;
  if constexpr (std::is_same_v<T, float>) {
    if (ep.round_pre_bf16) h = ::kiso::round_bf16(h);
  }
  return h;
}

// Step 2: what c holds, gelu(h) or h. (The caller stores h into ep.pre first when ep.gelu.)
template <class T> __device__ __forceinline__ T epilogue_out(const Epilogue<T>& ep, T h) {
  return ep.gelu ? gelu_value(h, ep.exact) : h;
}

// Both steps for a rung that stores one element at a time: element `at` of c (and of pre).
template <class T>
__device__ __forceinline__ void epilogue_store(const Epilogue<T>& ep, T* c, int64_t at, T acc, T bias) {
  T h = epilogue_pre(ep, acc, bias);
  if (ep.gelu) ep.pre[at] = h;
  c[at] = epilogue_out(ep, h);
}

// The epilogue moved to product z (pre is (batch, M, N) like c) or to a chunk of products
// starting `offset` elements into c.
template <class T> __device__ __host__ __forceinline__ Epilogue<T> epilogue_at(Epilogue<T> ep, int64_t offset) {
  if (ep.pre != nullptr) ep.pre += offset;
  return ep;
}

}  // namespace
}  // namespace kiso::cuda
