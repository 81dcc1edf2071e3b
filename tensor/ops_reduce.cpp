// tensor/ops_reduce.cpp — sum, mean and max, over everything or over the last axis.
//
// Sums accumulate in double even for f32 input, and a whole-tensor sum adds fixed-size chunks
// in a fixed order, so its result does not depend on the number of threads. On Device::cuda
// the last-axis reductions are one kernel (cuda/kernels/reduce.cu) and the whole-tensor ones
// are last-axis reductions of the flattened tensor.
#include <algorithm>
#include <limits>

#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/profile.h"

namespace kiso {

// ---- over the whole tensor ----

Tensor sum(const Tensor& x) {
  OpScope scope("sum", x);
  check_float("sum", x);
  if (x.is_cuda()) {
    if (x.numel() == 0) return zeros({}, x.dtype(), Device::cuda);
    return sum_last(x.reshape({x.numel()})).reshape({});
  }
  return with_float(x, [&]<class T>(T) {
    double total = deterministic_sum(x.data<T>(), x.numel(), [](T v) { return double(v); });
    return scalar(total, x.dtype());
  });
}

Tensor mean(const Tensor& x) {
  OpScope scope("mean", x);
  check_float("mean", x);
  check(x.numel() > 0, "mean", "the input is empty (shape {})", shape_str(x.shape()));
  return mul(sum(x), 1.0 / double(x.numel()));
}

Tensor max(const Tensor& x) {
  OpScope scope("max", x);
  check_float("max", x);
  check(x.numel() > 0, "max", "the input is empty (shape {})", shape_str(x.shape()));
  return max_last(x.reshape({x.numel()})).reshape({});
}

// ---- over the last axis: (..., N) -> (..., 1) ----

// Checks x and returns (rows, N) for the last-axis loops.
static std::pair<int64_t, int64_t> rows_cols(const char* op, const Tensor& x) {
  check_float(op, x);
  check(x.dim() >= 1, op, "expected at least one axis, got a 0-d tensor");
  int64_t cols = x.size(-1);
  check(cols > 0, op, "the last axis is empty (shape {})", shape_str(x.shape()));
  return {x.numel() / cols, cols};
}

static Shape keep_last_as_one(const Shape& s) {
  Shape out = s;
  out.back() = 1;
  return out;
}

// sum_last and max_last on Device::cuda: one block per row.
static Tensor reduce_last_cuda(const char* op, cuda::ReduceOp code, const Tensor& x, int64_t rows, int64_t cols) {
  check_cuda_rows(op, rows);
  Tensor out(keep_last_as_one(x.shape()), x.dtype(), Device::cuda);
  launch_cuda(op, x, [&]<cuda::Target D, class T> {
    cuda::reduce_last<D>(code, x.cuda_data<T>(), out.cuda_data<T>(), rows, cols);
  });
  return out;
}

Tensor sum_last(const Tensor& x) {
  OpScope scope("sum_last", x);
  auto [rows, cols] = rows_cols("sum_last", x);
  if (x.is_cuda()) return reduce_last_cuda("sum_last", cuda::ReduceOp::sum, x, rows, cols);
  return with_float(x, [&]<class T>(T) {
    Tensor out(keep_last_as_one(x.shape()), x.dtype());
    const T* px = x.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += px[r * cols + c];
      po[r] = T(s);
    }
    return out;
  });
}

Tensor mean_last(const Tensor& x) {
  OpScope scope("mean_last", x);
  auto [rows, cols] = rows_cols("mean_last", x);
  return mul(sum_last(x), 1.0 / double(cols));
}

Tensor max_last(const Tensor& x) {
  OpScope scope("max_last", x);
  auto [rows, cols] = rows_cols("max_last", x);
  if (x.is_cuda()) return reduce_last_cuda("max_last", cuda::ReduceOp::max, x, rows, cols);
  return with_float(x, [&]<class T>(T) {
    Tensor out(keep_last_as_one(x.shape()), x.dtype());
    const T* px = x.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) po[r] = *std::max_element(px + r * cols, px + (r + 1) * cols);
    return out;
  });
}

Tensor argmax_last(const Tensor& x) {
  OpScope scope("argmax_last", x);
  auto [rows, cols] = rows_cols("argmax_last", x);
  if (x.is_cuda()) {  // one block per row
    check_cuda_rows("argmax_last", rows);
    Tensor out(keep_last_as_one(x.shape()), DType::i32, Device::cuda);
    launch_cuda("argmax_last", x, [&]<cuda::Target D, class T> {
      cuda::argmax_last<D>(x.cuda_data<T>(), out.cuda_data<int32_t>(), rows, cols);
    });
    return out;
  }
  return with_float(x, [&]<class T>(T) {
    Tensor out(keep_last_as_one(x.shape()), DType::i32);
    const T* px = x.data<T>();
    int32_t* po = out.data<int32_t>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t r = 0; r < rows; ++r)
      po[r] = int32_t(std::max_element(px + r * cols, px + (r + 1) * cols) - (px + r * cols));
    return out;
  });
}

// index (..., 1) of a cpu tensor: shape, n and every entry checked; returns the output shape.
static Shape check_one_hot(const Tensor& index, int64_t n, DType dtype) {
  check_ids("one_hot", index, "index");
  check(n > 0, "one_hot", "the number of classes must be positive, got {}", n);
  check(index.dim() >= 1 && index.size(-1) == 1, "one_hot", "index must be (..., 1), got shape {}",
        shape_str(index.shape()));
  Shape out_shape = index.shape();
  out_shape.back() = n;
  check(dtype == DType::f32 || dtype == DType::f64, "one_hot", "dtype must be f32 or f64, got {} with shape {}",
        to_string(dtype), shape_str(out_shape));
  const int32_t* pi = index.data<int32_t>();
  for (int64_t r = 0; r < index.numel(); ++r)
    check(pi[r] >= 0 && pi[r] < n, "one_hot", "index {} at row {} is outside [0, {})", pi[r], r, n);
  return out_shape;
}

Tensor one_hot(const Tensor& index, int64_t n, DType dtype) {
  OpScope scope("one_hot", index);
  if (index.defined() && index.is_cuda()) {  // checked on a host copy, built by a kernel
    Tensor out(check_one_hot(ids_on_host("one_hot", index, "index"), n, dtype), dtype, Device::cuda);
    launch_cuda("one_hot", out, [&]<cuda::Target D, class T> {
      cuda::one_hot<D>(index.cuda_data<int32_t>(), out.cuda_data<T>(), index.numel(), n);
    });
    return out;
  }
  Tensor out = zeros(check_one_hot(index, n, dtype), dtype);
  const int32_t* pi = index.data<int32_t>();
  with_float(out, [&]<class T>(T) {
    T* po = out.data<T>();
    for (int64_t r = 0; r < index.numel(); ++r) po[r * n + pi[r]] = T(1);
  });
  return out;
}

}  // namespace kiso
