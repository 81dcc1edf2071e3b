// tensor/ops_linear.cpp — linear layers as one op: y = x·w + b, and the MLP's y = gelu(x·w + b),
// with the backward of their bias and GELU (tensor/ops.h states each). On the cpu each is the plain
// composition of existing ops (matmul, add, round_bf16, gelu_forward; gelu_backward and a column
// sum), which stays the oracle of the cuda path. On cuda the bias, the bf16 rounding and the GELU
// ride in the matmul's epilogue, one launch where the composition takes three, and the backward's
// dh and dbias come from one launch (cuda/kernels/matmul_epilogue.cu, which predicts the traffic).
// What it is not: differentiable (autograd/functions.cpp's linear and linear_gelu are), nor a
// fusion of the weight gradient dW = xᵀ·dh, which stays an ordinary matmul.

#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/precision.h"
#include "tensor/profile.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace kiso {

// x (..., K), w (K, N), b (N,) -> y (..., N) [and pre (..., N) when gelu].
static LinearGeluOutput linear_forward(const char* op, const Tensor& x, const Tensor& w, const Tensor& b, bool gelu,
                                       GeluKind kind) {
  OpScope scope(op, x, w, b);
  check_float_pair(op, x, w);
  check_float_pair(op, x, b);
  check(w.dim() == 2, op, "the weight must be (in, out), got {}", shape_str(w.shape()));
  check(b.dim() == 1 && b.size(0) == w.size(1), op, "the bias must be ({},) to match the weight {}, got {}",
        w.size(1), shape_str(w.shape()), shape_str(b.shape()));
  check(x.dim() >= 1 && x.size(-1) == w.size(0), op, "input has shape {}; expected last axis {} (the weight is {})",
        shape_str(x.shape()), w.size(0), shape_str(w.shape()));
  int64_t K = w.size(0), N = w.size(1);
  Shape lead(x.shape().begin(), x.shape().end() - 1), out_shape = lead;
  out_shape.push_back(N);
  int64_t M = numel_of(lead);  // rows: every leading axis of x
  scope.set_flops(2.0 * double(M) * double(N) * double(K));
  scope.set_detail([&] { return fmt::format("{}x{}·{}x{} + b{}", M, K, K, N, gelu ? ", gelu" : ""); });
  Tensor x2 = x.reshape({M, K});  // (M, K)
  bool bf16 = matmul_precision() == Precision::bf16;
  bool round = gelu && bf16;  // the MLP's hidden layer is a bf16 activation (tensor/precision.h)

  // On cuda: one launch. (bf16 with f64 inputs, and empty products, take the composition below,
  // which says what is wrong or returns the trivial result.)
  if (x.is_cuda() && M * N > 0 && K > 0 && !(bf16 && x.dtype() == DType::f64)) {
    Tensor y({M, N}, x.dtype(), Device::cuda), pre;  // (M, N) each
    if (gelu) pre = Tensor({M, N}, x.dtype(), Device::cuda);
    // The rung, as matmul picks it (ops_matmul.cpp): in bf16 the tensor-core BF16 rung, which
    // rounds its inputs as it loads them; a rung chosen by hand gets rounded copies instead.
    Tensor xin = x2, win = w;
    cuda::MatmulRung rung = cuda::MatmulRung::mma_bf16;
    if (!bf16 || cuda::matmul_rung_chosen()) {
      if (bf16) xin = round_bf16(x2), win = round_bf16(w);
      rung = cuda::matmul_rung_in_use(x.dtype() == DType::f64);
    }
    launch_cuda(op, x, [&]<cuda::Target D, class T> {
      cuda::Epilogue<T> ep{b.cuda_data<T>(), gelu, kind == GeluKind::erf, gelu ? pre.cuda_data<T>() : nullptr, round};
      cuda::matmul_epilogue<D>(rung, xin.cuda_data<T>(), win.cuda_data<T>(), y.cuda_data<T>(), 1, M, N, K, false,
                               false, ep);
    });
    if (!gelu) return {y.reshape(out_shape), Tensor()};
    return {y.reshape(out_shape), pre.reshape(out_shape)};
  }

  // The composition, step by step: the oracle.
  Tensor h = add(matmul(x2, w), b);  // (M, N): the product (bf16 inputs in bf16), then the bias
  if (round) h = round_bf16(h);      // what bf16_activation stores
  if (!gelu) return {h.reshape(out_shape), Tensor()};
  return {gelu_forward(h, kind).reshape(out_shape), h.reshape(out_shape)};
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  return linear_forward("linear", x, w, b, false, GeluKind::tanh).y;
}

LinearGeluOutput linear_gelu(const Tensor& x, const Tensor& w, const Tensor& b, GeluKind kind) {
  return linear_forward("linear_gelu", x, w, b, true, kind);
}

// dbias (N,) = Σ over the rows of g (rows, N), in the order of the cuda kernel (cuda/kernels.h,
// bias_gelu_backward): row i into lane i mod L of its column (L = kBiasGradLanes), each lane in
// row order, then lanes 0..L-1 added in order, all in T. Threads take bands of columns; a band's
// sums are the same for any thread count.
static Tensor column_sum_in_lanes(const Tensor& g, int64_t rows, int64_t N) {
  return with_float(g, [&]<class T>(T) {
    constexpr int L = cuda::kBiasGradLanes;
    Tensor dbias({N}, g.dtype());
    const T* pg = g.data<T>();
    T* out = dbias.data<T>();
    int bands = 1;
#ifdef _OPENMP
    if (rows * N > kParallelGrain) bands = int(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), N / 16)));
#endif
#pragma omp parallel for if (bands > 1) num_threads(bands)
    for (int band = 0; band < bands; ++band) {
      int64_t c0 = N * band / bands, c1 = N * (band + 1) / bands, width = c1 - c0;
      std::vector<T> lane(size_t(L * width), T(0));  // (L, width): the lanes' running sums
      for (int64_t i = 0; i < rows; ++i) {
        T* l = lane.data() + (i % L) * width;
        const T* row = pg + i * N + c0;
        for (int64_t j = 0; j < width; ++j) l[j] += row[j];
      }
      for (int64_t j = 0; j < width; ++j) {
        T total = lane[size_t(j)];
        for (int k = 1; k < L; ++k) total += lane[size_t(k * width + j)];
        out[c0 + j] = total;
      }
    }
    return dbias;
  });
}

BiasGeluGrads bias_gelu_backward(const Tensor& dy, const Tensor& pre, GeluKind kind) {
  OpScope scope("bias_gelu_backward", dy);
  check_float("bias_gelu_backward", dy, "dy");
  check(dy.dim() >= 1, "bias_gelu_backward", "dy must have a last axis, got a 0-d tensor");
  bool gelu = pre.defined();
  if (gelu) {
    check_float_pair("bias_gelu_backward", pre, dy);
    check_same_shape("bias_gelu_backward", pre, dy, "pre", "dy");
  }
  int64_t N = dy.size(-1), rows = N > 0 ? dy.numel() / N : 0;
  if (dy.is_cuda()) {
    Tensor dh = gelu ? Tensor(dy.shape(), dy.dtype(), Device::cuda) : dy;
    Tensor dbias({N}, dy.dtype(), Device::cuda);
    launch_cuda("bias_gelu_backward", dy, [&]<cuda::Target D, class T> {
      cuda::bias_gelu_backward<D>(dy.cuda_data<T>(), gelu ? pre.cuda_data<T>() : nullptr,
                                  gelu ? dh.cuda_data<T>() : nullptr, dbias.cuda_data<T>(), rows, N,
                                  kind == GeluKind::erf);
    });
    return {dh, dbias};
  }
  Tensor dh = gelu ? gelu_backward(pre, dy, kind) : dy;  // in the forward y = gelu(h): dh = dy · gelu'(h)
  return {dh, column_sum_in_lanes(dh, rows, N)};
}

}  // namespace kiso
