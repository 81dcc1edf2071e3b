// tensor/ops_elementwise.cpp — elementwise ops: binary with broadcasting, scalar, unary, and
// sum_to (the reduction that undoes broadcasting). CPU loops, OpenMP over elements or rows; on
// Device::cuda one kernel launch each (cuda/kernels/elementwise.cu, unary.cu, reduce.cu).
#include <algorithm>
#include <cmath>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/profile.h"

namespace kiso {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {  // i counts axes from the right
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    check(da == db || da == 1 || db == 1, op,
          "shapes {} and {} cannot be broadcast: axis {} from the right has sizes {} and {} (must be equal, or one "
          "of them 1)",
          shape_str(a), shape_str(b), i, da, db);
    out[rank - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

// The element strides that read a tensor of shape `in` as if it had the (broadcast) shape
// `out`: an axis that is missing or of size 1 in `in` gets stride 0, so it repeats.
static std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = 0; i < in.size(); ++i) {
    size_t axis_in = in.size() - 1 - i, axis_out = out.size() - 1 - i;
    strides[axis_out] = in[axis_in] == 1 ? 0 : stride;
    stride *= in[axis_in];
  }
  return strides;
}

// Offset into a broadcast input of the first element of output row `row` (all axes but the
// last), found by peeling the row index into per-axis coordinates.
static int64_t row_offset(int64_t row, const Shape& out, const std::vector<int64_t>& strides) {
  int64_t offset = 0;
  for (int64_t axis = int64_t(out.size()) - 2; axis >= 0; --axis) {
    offset += (row % out[axis]) * strides[axis];
    row /= out[axis];
  }
  return offset;
}

// out = f(a, b) elementwise with broadcasting. Same shapes take a flat loop; otherwise the
// output is walked row by row (last axis innermost), each input read through its strides.
template <class T, class F> static Tensor binary_loop(const Tensor& a, const Tensor& b, const Shape& out_shape, F f) {
  Tensor out(out_shape, a.dtype());
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  int64_t n = out.numel();
  if (n == 0) return out;
  if (a.shape() == b.shape()) {
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    return out;
  }
  std::vector<int64_t> sa = broadcast_strides(a.shape(), out_shape), sb = broadcast_strides(b.shape(), out_shape);
  int64_t cols = out_shape.back(), rows = n / cols;
  int64_t sa_col = sa.back(), sb_col = sb.back();
  // Both inputs contiguous along the last axis (a bias (C,) added to (N, C) rows, a position
  // table (T, C) to (B, T, C)): a plain loop the compiler vectorises. With a runtime column
  // stride it could not, and the bias add ran at 0.7 GB/s (kiso bench --profile, tiny).
  bool contiguous_rows = sa_col == 1 && sb_col == 1;
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const T* ra = pa + row_offset(r, out_shape, sa);
    const T* rb = pb + row_offset(r, out_shape, sb);
    T* ro = po + r * cols;
    if (contiguous_rows)
      for (int64_t c = 0; c < cols; ++c) ro[c] = f(ra[c], rb[c]);
    else
      for (int64_t c = 0; c < cols; ++c) ro[c] = f(ra[c * sa_col], rb[c * sb_col]);
  }
  return out;
}

// The same on Device::cuda: one kernel launch (cuda/kernels/elementwise.cu) reading each input
// through its broadcast strides.
static Tensor binary_cuda(const char* op, cuda::BinaryOp code, const Tensor& a, const Tensor& b,
                          const Shape& out_shape) {
  check(out_shape.size() <= size_t(cuda::kMaxRank), op, "the cuda kernel takes at most {} axes, got shape {}",
        cuda::kMaxRank, shape_str(out_shape));
  Tensor out(out_shape, a.dtype(), Device::cuda);
  cuda::Broadcast g;
  g.rank = int(out_shape.size());
  std::vector<int64_t> sa = broadcast_strides(a.shape(), out_shape), sb = broadcast_strides(b.shape(), out_shape);
  for (size_t axis = 0; axis < out_shape.size(); ++axis)
    g.size[axis] = out_shape[axis], g.stride_a[axis] = sa[axis], g.stride_b[axis] = sb[axis];
  launch_cuda(op, a, [&]<cuda::Target D, class T> {
    cuda::binary<D>(code, a.cuda_data<T>(), b.cuda_data<T>(), out.cuda_data<T>(), out.numel(), g);
  });
  return out;
}

template <class F>
static Tensor binary(const char* op, cuda::BinaryOp code, const Tensor& a, const Tensor& b, F f) {
  OpScope scope(op, a, b);
  check_float_pair(op, a, b);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), op);
  if (a.is_cuda()) return binary_cuda(op, code, a, b, out_shape);
  return with_float(a, [&]<class T>(T) { return binary_loop<T>(a, b, out_shape, f); });
}

using cuda::BinaryOp;
Tensor add(const Tensor& a, const Tensor& b) {
  return binary("add", BinaryOp::add, a, b, [](auto x, auto y) { return x + y; });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary("sub", BinaryOp::sub, a, b, [](auto x, auto y) { return x - y; });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary("mul", BinaryOp::mul, a, b, [](auto x, auto y) { return x * y; });
}
Tensor div(const Tensor& a, const Tensor& b) {
  return binary("div", BinaryOp::div, a, b, [](auto x, auto y) { return x / y; });
}

// The same on Device::cuda: one kernel launch (cuda/kernels/unary.cu).
static Tensor unary_cuda(const char* op, cuda::UnaryOp code, const Tensor& x, double s) {
  Tensor out(x.shape(), x.dtype(), Device::cuda);
  launch_cuda(op, x, [&]<cuda::Target D, class T> {
    cuda::unary<D>(code, x.cuda_data<T>(), out.cuda_data<T>(), x.numel(), s);
  });
  return out;
}

// out = f(x) elementwise; f receives the value as T. On cuda, the kernel's case `code` (with
// the scalar s) computes the same expression.
template <class F> static Tensor unary(const char* op, cuda::UnaryOp code, const Tensor& x, F f, double s = 0) {
  OpScope scope(op, x);
  check_float(op, x);
  if (x.is_cuda()) return unary_cuda(op, code, x, s);
  return with_float(x, [&]<class T>(T) {
    Tensor out(x.shape(), x.dtype());
    const T* px = x.data<T>();
    T* po = out.data<T>();
    int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) po[i] = f(px[i]);
    return out;
  });
}

using cuda::UnaryOp;
Tensor add(const Tensor& a, double s) {
  return unary("add", UnaryOp::add_scalar, a, [s](auto x) { return decltype(x)(x + s); }, s);
}
Tensor mul(const Tensor& a, double s) {
  return unary("mul", UnaryOp::mul_scalar, a, [s](auto x) { return decltype(x)(x * s); }, s);
}
Tensor neg(const Tensor& x) { return unary("neg", UnaryOp::neg, x, [](auto v) { return -v; }); }
Tensor exp(const Tensor& x) { return unary("exp", UnaryOp::exp, x, [](auto v) { return std::exp(v); }); }
Tensor log(const Tensor& x) { return unary("log", UnaryOp::log, x, [](auto v) { return std::log(v); }); }
Tensor tanh(const Tensor& x) { return unary("tanh", UnaryOp::tanh, x, [](auto v) { return std::tanh(v); }); }
Tensor sqrt(const Tensor& x) { return unary("sqrt", UnaryOp::sqrt, x, [](auto v) { return std::sqrt(v); }); }
Tensor rsqrt(const Tensor& x) {
  return unary("rsqrt", UnaryOp::rsqrt, x, [](auto v) { return decltype(v)(1) / std::sqrt(v); });
}
Tensor erf(const Tensor& x) { return unary("erf", UnaryOp::erf, x, [](auto v) { return std::erf(v); }); }
Tensor pow(const Tensor& x, double p) {
  return unary("pow", UnaryOp::pow, x, [p](auto v) { return decltype(v)(std::pow(v, decltype(v)(p))); }, p);
}

// The same on Device::cuda: one thread per output element (cuda/kernels/reduce.cu), adding its
// inputs in the order the loop below does.
static Tensor sum_to_cuda(const Tensor& x, const Shape& shape) {
  const Shape& xs = x.shape();
  check(xs.size() <= size_t(cuda::kMaxRank), "sum_to", "the cuda kernel takes at most {} axes, got shape {}",
        cuda::kMaxRank, shape_str(xs));
  Tensor out(shape, x.dtype(), Device::cuda);
  cuda::SumTo g;
  g.rank = int(xs.size());
  size_t lead = xs.size() - shape.size();  // axes `shape` lacks: summed
  for (size_t axis = 0; axis < xs.size(); ++axis) {
    g.x_size[axis] = xs[axis];
    g.reduced[axis] = axis < lead || (shape[axis - lead] == 1 && xs[axis] != 1);
  }
  launch_cuda("sum_to", x, [&]<cuda::Target D, class T> {
    cuda::sum_to<D>(x.cuda_data<T>(), out.cuda_data<T>(), out.numel(), g);
  });
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  OpScope scope("sum_to", x);
  check_float("sum_to", x);
  check(broadcast_shapes(shape, x.shape(), "sum_to") == x.shape(), "sum_to",
        "shape {} does not broadcast to the input's shape {}", shape_str(shape), shape_str(x.shape()));
  if (shape == x.shape()) return x;
  if (x.is_cuda()) return sum_to_cuda(x, shape);
  return with_float(x, [&]<class T>(T) {
    Tensor out = zeros(shape, x.dtype());
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const Shape& xs = x.shape();
    if (x.numel() == 0) return out;
    // Walk x row by row in order (deterministic); each element lands on the output element
    // it was broadcast from (stride 0 along the summed axes).
    std::vector<int64_t> so = broadcast_strides(shape, xs);
    int64_t cols = xs.back(), rows = x.numel() / cols, so_col = so.back();
    // Column bands: the last axis kept (so_col == 1, e.g. a bias gradient (N, C) -> (C,)), each
    // thread takes a band of columns and walks every row for it, in the same row order as one
    // thread would: the same sums bit for bit, for any thread count, and vectorised.
    int bands = 1;
#ifdef _OPENMP
    if (so_col == 1 && x.numel() > kParallelGrain) bands = int(std::min<int64_t>(omp_get_max_threads(), cols / 16));
#endif
#pragma omp parallel for if (bands > 1) num_threads(std::max(bands, 1))
    for (int band = 0; band < std::max(bands, 1); ++band) {
      int64_t c0 = cols * band / std::max(bands, 1), c1 = cols * (band + 1) / std::max(bands, 1);
      for (int64_t r = 0; r < rows; ++r) {
        T* ro = po + row_offset(r, xs, so);
        const T* rx = px + r * cols;
        if (so_col == 1)
          for (int64_t c = c0; c < c1; ++c) ro[c] += rx[c];
        else
          for (int64_t c = c0; c < c1; ++c) ro[c * so_col] += rx[c];
      }
    }
    return out;
  });
}

void add_inplace(Tensor& dst, const Tensor& src) {
  OpScope scope("add_inplace", dst, dst, src);  // dst is read and written
  check_float_pair("add_inplace", dst, src);
  check_same_shape("add_inplace", dst, src, "destination", "source");
  if (dst.is_cuda()) {  // the binary add kernel with out = dst: each thread reads, then writes, its own element
    cuda::Broadcast g;
    g.rank = 1;
    g.size[0] = dst.numel(), g.stride_a[0] = 1, g.stride_b[0] = 1;
    launch_cuda("add_inplace", dst, [&]<cuda::Target D, class T> {
      cuda::binary<D>(BinaryOp::add, dst.cuda_data<T>(), src.cuda_data<T>(), dst.cuda_data<T>(), dst.numel(), g);
    });
    return;
  }
  with_float(dst, [&]<class T>(T) {
    T* pd = dst.data<T>();
    const T* ps = src.data<T>();
    int64_t n = dst.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) pd[i] += ps[i];
  });
}

}  // namespace kiso
