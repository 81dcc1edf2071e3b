// tensor/dispatch.h — what every op starts with: the checks of its inputs, and the helpers that
// run its work for a dtype on a device (internal to tensor/ops_*.cpp; not part of the public API).
//
// An op body reads:
//   check_float("exp", x);                       is the input valid? (on either device)
//   if (x.is_cuda()) {                            where does it run? a plain if
//     Tensor out(x.shape(), x.dtype(), Device::cuda);
//     launch_cuda("exp", x, [&]<cuda::Target D, class T> { cuda::unary<D>(..., x.cuda_data<T>(), ...); });
//     return out;
//   }
//   return with_float(x, [&]<class T>(T) { ... CPU loop over x.data<T>() ... });
// The checks say what is valid and never where it runs. data<T>() refuses cuda tensors and
// cuda_data<T>() cpu ones, so no CPU loop reads device memory and no kernel host memory.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cuda/kernels.h"
#include "tensor/tensor.h"

namespace kiso {

// Below this many elements an OpenMP parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 16;

// ---- checks: is the input valid ----

// x must be defined and on the cpu (for what only the host reads); `what` names the argument.
inline void check_cpu(const char* op, const Tensor& x, const char* what = "input") {
  check(x.defined(), op, "{} is an undefined tensor", what);
  check(!x.is_cuda(), op, "{} is on cuda, but this op runs on the cpu only (copy it with .to(Device::cpu))", what);
}

// x must be defined and of a floating dtype, f32 or f64; either device.
inline void check_float(const char* op, const Tensor& x, const char* what = "input") {
  check(x.defined(), op, "{} is an undefined tensor", what);
  check(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, "{} must be f32 or f64, got {} with shape {}", what,
        to_string(x.dtype()), shape_str(x.shape()));
}

// a and b must be float tensors of one dtype on one device.
inline void check_float_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_float(op, a, "first input");
  check_float(op, b, "second input");
  check(a.device() == b.device(), op, "inputs on different devices: {} and {}; expected both on one device",
        to_string(a.device()), to_string(b.device()));
  check(a.dtype() == b.dtype(), op, "dtypes differ: {} {} and {} {}", to_string(a.dtype()), shape_str(a.shape()),
        to_string(b.dtype()), shape_str(b.shape()));
}

// A cuda kernel with one block per row takes at most 2^31 - 1 rows (the grid's x limit).
inline void check_cuda_rows(const char* op, int64_t rows) {
  check(rows <= int64_t(2147483647), op, "{} rows; the cuda kernel takes at most 2^31 - 1", rows);
}

inline void check_same_shape(const char* op, const Tensor& a, const Tensor& b, const char* what_a, const char* what_b) {
  check(a.shape() == b.shape(), op, "{} has shape {} but {} has shape {}; expected equal shapes", what_a,
        shape_str(a.shape()), what_b, shape_str(b.shape()));
}

inline void check_ids(const char* op, const Tensor& ids, const char* what) {
  check_cpu(op, ids, what);
  check(ids.dtype() == DType::i32, op, "{} must be i32, got {}", what, to_string(ids.dtype()));
}

// Index tensors (token ids, targets) of an op that runs on cuda may come from either device (a
// batch is built on the host): the host copy is checked (range, grouping), a device copy is
// read by the kernel. to() returns the tensor itself where it already is.
inline Tensor ids_on_host(const char* op, const Tensor& ids, const char* what) {
  check(ids.defined(), op, "{} is an undefined tensor", what);
  return ids.to(Device::cpu);
}

// Σ term(p[i]) for i < n, accumulated in double and bit-identical for any thread count:
// pass 1 sums fixed chunks of 4096 elements (a thread always takes whole chunks), pass 2 adds
// the chunk sums in order. Which thread took a chunk never changes what is added to what.
constexpr int64_t kDeterministicChunk = 4096;
template <class T, class F> double deterministic_sum(const T* p, int64_t n, F term) {
  constexpr int64_t chunk = kDeterministicChunk;
  int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(size_t(chunks), 0.0);
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t k = 0; k < chunks; ++k) {
    double s = 0;
    for (int64_t i = k * chunk; i < std::min(n, (k + 1) * chunk); ++i) s += term(p[i]);
    partial[size_t(k)] = s;
  }
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

// ---- dispatch: run the work for a dtype, on a device ----

// Calls f(T{}) with T = float or double to match x's dtype (checked by check_float first).
template <class F> decltype(auto) with_float(const Tensor& x, F&& f) {
  if (x.dtype() == DType::f64) return f.template operator()<double>(double{});
  return f.template operator()<float>(float{});
}

// Runs a kernel of cuda/kernels.h for x's dtype: launch.template operator()<D, T>() with D the
// target that runs Device::cuda work now (cuda::with_target; `op` names the caller when there
// is none) and T = float or double to match x (checked by check_float first).
template <class Launch> void launch_cuda(const char* op, const Tensor& x, Launch&& launch) {
  cuda::with_target(op, [&]<cuda::Target D> { with_float(x, [&]<class T>(T) { launch.template operator()<D, T>(); }); });
}

// The same for the copy kernels, which move elements as words without reading them:
// launch.template operator()<D, W>() with W the unsigned word of x's element size, uint32_t
// (f32, i32) or uint64_t (f64). Pointers come from cuda_words<W>.
template <class Launch> void launch_cuda_words(const char* op, const Tensor& x, Launch&& launch) {
  cuda::with_target(op, [&]<cuda::Target D> {
    if (dtype_size(x.dtype()) == sizeof(uint64_t)) launch.template operator()<D, uint64_t>();
    else launch.template operator()<D, uint32_t>();
  });
}

// x's device memory as words W, for the copy kernels: W must be as wide as x's elements.
template <class W> W* cuda_words(const Tensor& x) {
  check(x.is_cuda() && sizeof(W) == dtype_size(x.dtype()), "cuda_words", "asked for {}-byte words of a {} tensor on {}",
        sizeof(W), to_string(x.dtype()), to_string(x.device()));
  return static_cast<W*>(x.raw_data());
}

}  // namespace kiso
