// tensor/ops_matmul.cpp — matrix multiply and batched matrix multiply on the CPU: f32 products
// of 8 rows or more through kiso's packed GEMM (tensor/gemm.h), the rest (f64, matrix-vector
// sizes, CPUs without AVX2 + FMA) through Eigen's GEMM over `Map`s of our row-major buffers. No
// copies either way: transposes are read in place.
//
// Threading: for one large product the M rows of C are split into one contiguous band per
// OpenMP thread and each band is an independent single-threaded GEMM (or C's columns, see
// gemm() below). The figures that follow are from before kiso's kernel, with Eigen: measured on a
// 2-core Xeon (AVX-512) at 4096x768·768x3072 this reached 234 GFLOP/s against 204 for Eigen's
// own 2-thread GEMM (OpenBLAS: 284); `make bench` prints the current figures. A batch of many
// small products is instead split over the batch. On Device::cuda: the rung of the matmul ladder
// that cuda/matmul_rungs.cpp picks (cuda/kernels/matmul*.cu). In bf16 precision
// (tensor/precision.h) both inputs are rounded to bf16 first (matmul_bf16 below); on cuda the
// tensor-core rung mma_bf16 does that rounding itself as it loads.

#include <type_traits>

#include "tensor/dispatch.h"
#include "tensor/gemm.h"
#include "tensor/eigen.h"
#include "tensor/ops.h"
#include "tensor/precision.h"
#include "tensor/profile.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace kiso {

template <class T> using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// C (M, N) = op(A) · op(B) for one batch element; op is identity or transpose. Splits C's rows
// into `bands` contiguous bands (a band's rows of op(A) give the same rows of C), or its columns
// (see below).
template <class T>
static void gemm(const T* a, const T* b, T* c, int64_t M, int64_t K, int64_t N, bool trans_a, bool trans_b,
                 int bands) {
  Eigen::Map<const RowMatrix<T>> A(a, trans_a ? K : M, trans_a ? M : K);  // stored shape
  Eigen::Map<const RowMatrix<T>> B(b, trans_b ? N : K, trans_b ? K : N);
  Eigen::Map<RowMatrix<T>> C(c, M, N);
  auto band = [&](int64_t r0, int64_t rows) {
    if constexpr (std::is_same_v<T, float>) {
      if (use_sgemm(rows)) {  // kiso's packed kernel (tensor/gemm.h); Eigen below is its oracle
        const float* a_band = trans_a ? a + r0 : a + r0 * K;  // op(A)'s rows r0.. of the stored A
        sgemm(trans_a, trans_b, rows, N, K, a_band, trans_a ? M : K, b, trans_b ? K : N, c + r0 * N, N);
        return;
      }
    }
    auto Cb = C.middleRows(r0, rows);
    if (!trans_a && !trans_b) Cb.noalias() = A.middleRows(r0, rows) * B;
    else if (!trans_a && trans_b) Cb.noalias() = A.middleRows(r0, rows) * B.transpose();
    else if (trans_a && !trans_b) Cb.noalias() = A.middleCols(r0, rows).transpose() * B;
    else Cb.noalias() = A.middleCols(r0, rows).transpose() * B.transpose();
  };
  if (bands <= 1) {
    band(0, M);
    return;
  }
  // With kiso's kernel, a band of rows packs all of op(B) for itself. When op(B) is the larger
  // operand (N > M: the LM head's (V, C) table, a weight at gpt1's 128-row batch) the threads
  // split C's columns instead, and each packs only its share of B (and all of the smaller A).
  // Band edges are multiples of 32 columns, whole micro-panels.
  if constexpr (std::is_same_v<T, float>) {
    if (use_sgemm(M) && N > M) {
#pragma omp parallel for num_threads(bands)
      for (int t = 0; t < bands; ++t) {
        int64_t c0 = (N * t / bands) / 32 * 32, c1 = t + 1 == bands ? N : (N * (t + 1) / bands) / 32 * 32;
        if (c1 <= c0) continue;
        const float* b_band = trans_b ? b + c0 * K : b + c0;  // op(B)'s columns c0.. of the stored B
        sgemm(trans_a, trans_b, M, c1 - c0, K, a, trans_a ? M : K, b_band, trans_b ? K : N, c + c0, N);
      }
      return;
    }
  }
#pragma omp parallel for num_threads(bands)
  for (int t = 0; t < bands; ++t) {
    int64_t r0 = M * t / bands, r1 = M * (t + 1) / bands;
    if (r1 > r0) band(r0, r1 - r0);
  }
}

// BF16 mixed precision (tensor/precision.h): the product of the two inputs rounded to bf16,
// accumulated and written in f32. The rounded copies are f32 tensors holding bf16 values, so the
// f32 product of them below is what a bf16 GEMM with f32 accumulation computes: every product
// of two bf16 numbers (8-bit significands) is exact in f32, only the sums round, as in f32 mode.
// On cuda, this is the one place a bf16 product is launched: two round_bf16 kernels, then the
// model's matmul rung on the rounded inputs. (The tensor-core rung MatmulRung::mma_bf16 rounds
// its inputs as it loads them, so it can take this call's place and give the same numbers.)
static Tensor matmul_bf16(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check(a.dtype() == DType::f32, "matmul", "bf16 precision rounds f32 inputs, got {} {} and {}: run f64 products "
        "(gradient checks) in f32 precision", to_string(a.dtype()), shape_str(a.shape()), shape_str(b.shape()));
  Tensor a16 = round_bf16(a), b16 = round_bf16(b);
  PrecisionGuard f32(Precision::f32);  // the product itself is an ordinary f32 one
  return matmul(a16, b16, trans_a, trans_b);
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  OpScope scope("matmul", a, b);
  check_float_pair("matmul", a, b);
  check(a.dim() >= 2 && b.dim() >= 2, "matmul", "both inputs need at least 2 axes, got a {} and b {}",
        shape_str(a.shape()), shape_str(b.shape()));
  check(a.dim() == b.dim() && std::equal(a.shape().begin(), a.shape().end() - 2, b.shape().begin()), "matmul",
        "batch axes differ: a is {}, b is {}; expected equal leading axes", shape_str(a.shape()), shape_str(b.shape()));
  int64_t M = trans_a ? a.size(-1) : a.size(-2);
  int64_t K = trans_a ? a.size(-2) : a.size(-1);
  int64_t Kb = trans_b ? b.size(-1) : b.size(-2);
  int64_t N = trans_b ? b.size(-2) : b.size(-1);
  check(K == Kb, "matmul", "inner dimensions differ: a is {}{}, b is {}{}; expected {} == {}", shape_str(a.shape()),
        trans_a ? " (transposed)" : "", shape_str(b.shape()), trans_b ? " (transposed)" : "", K, Kb);

  Shape out_shape(a.shape().begin(), a.shape().end() - 2);
  out_shape.push_back(M);
  out_shape.push_back(N);
  int64_t batch = numel_of(out_shape) / std::max<int64_t>(1, M * N);
  scope.set_flops(2.0 * double(batch) * double(M) * double(N) * double(K));
  scope.set_detail([&] {  // e.g. "64× 128x32·32x128 Bᵀ": 64 products, b read transposed
    return fmt::format("{}{}x{}·{}x{}{}{}", batch > 1 ? fmt::format("{}× ", batch) : "", M, K, K, N,
                       trans_a ? " Aᵀ" : "", trans_b ? " Bᵀ" : "");
  });
  bool bf16 = matmul_precision() == Precision::bf16;
  // On cuda the tensor-core BF16 rung rounds its inputs as it loads them: the same numbers as
  // matmul_bf16's rounded copies, without the copies. A rung chosen by hand (KISO_MATMUL) instead
  // gets the rounded copies, so that every rung computes BF16 products.
  if (bf16 && a.is_cuda() && a.dtype() == DType::f32 && !cuda::matmul_rung_chosen() && M * N > 0 && K > 0) {
    Tensor out(out_shape, a.dtype(), Device::cuda);
    launch_cuda("matmul", a, [&]<cuda::Target D, class T> {
      cuda::matmul_rung<D>(cuda::MatmulRung::mma_bf16, a.cuda_data<T>(), b.cuda_data<T>(), out.cuda_data<T>(), batch,
                           M, N, K, trans_a, trans_b);
    });
    return out;
  }
  if (bf16) return matmul_bf16(a, b, trans_a, trans_b);
  if (M * N == 0 || K == 0) return zeros(out_shape, a.dtype(), a.device());
  if (a.is_cuda()) {
    Tensor out(out_shape, a.dtype(), Device::cuda);
    launch_cuda("matmul", a, [&]<cuda::Target D, class T> {
      cuda::matmul<D>(a.cuda_data<T>(), b.cuda_data<T>(), out.cuda_data<T>(), batch, M, N, K, trans_a, trans_b);
    });
    return out;
  }

  return with_float(a, [&]<class T>(T) {
    Tensor out(out_shape, a.dtype());
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = out.data<T>();
#ifdef _OPENMP
    int threads = omp_get_max_threads();
#else
    int threads = 1;
#endif
    // Many products: one thread per batch element. Few: split each product's rows instead.
    // Below ~2^22 multiply-adds in all (some 30 µs on one core) starting threads costs more
    // than it saves; on a busy machine a parallel region can even wait a whole scheduler time
    // slice for its second thread.
    bool big = batch * M * N * K >= (int64_t(1) << 22);
    bool over_batch = big && batch >= threads;
    int bands = (big && !over_batch) ? threads : 1;
#pragma omp parallel for if (over_batch && threads > 1)
    for (int64_t i = 0; i < batch; ++i) gemm(pa + i * M * K, pb + i * K * N, pc + i * M * N, M, K, N, trans_a, trans_b, bands);
    return out;
  });
}

}  // namespace kiso
