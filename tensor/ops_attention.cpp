// tensor/ops_attention.cpp — masked multi-head self-attention as one op, forward and backward,
// reading Q, K and V straight out of the c_attn output and writing each head's result straight
// into its columns of y.
//
// The unfused version (nn/modules.cpp before issue 14, kept as composite::attention in
// autograd/composite.cpp and, on cuda, as attention_*_composite below) slices qkv three times,
// permutes each slice into (B·NH, T, HS), scales the scores in a separate pass and permutes the
// result back: seven copies of a (B, T, C) tensor each way, which `kiso bench --profile` put at
// 12% of a tiny training step. Here a product with a row stride (the leading dimension of
// tensor/gemm.h's sgemm, Eigen's OuterStride for f64) reads a head's (T, HS) block of qkv in
// place: row t of head h is at qkv[b, t, h·HS], 3C numbers after row t - 1. One OpenMP thread
// takes a whole (b, h) pair at a time: its small products and its softmax rows stay in that
// core's cache.
//
// What it is not, on the CPU: flash attention. The (B·NH, T, T) probabilities are materialised
// and saved, as the composite saves them (the backward needs them), and the masked upper
// triangle of QKᵀ is computed and thrown away; at T <= 512 both are small next to the linear
// layers. On cuda the default is flash attention (cuda/kernels/attention.cu, docs/attention.md):
// nothing (T, T) in global memory, the backward recomputes the probabilities from y and the
// saved row logsumexp; the composite below stays as its oracle (KISO_ATTENTION=materialised).
//
// The arithmetic follows the composite op for op (scale after the product, the same softmax
// passes, dropout drawn by dropout() on the whole (B·NH, T, T) tensor with the same state), so
// the two agree to rounding, values and gradients, with and without dropout
// (tests/autograd/test_composite.cpp; `kiso gradcheck` checks the op against finite differences).
//
// In bf16 precision (tensor/precision.h) every product reads bf16-rounded inputs, as the
// composite's matmuls do: Q, K, V (qkv rounded once), P̃ (a rounded copy; att itself stays f32
// for the softmax backward), and in the backward dY and dS. Scores, softmax statistics and
// every product's sums stay f32.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <type_traits>

#include "base/bf16.h"
#include "tensor/dispatch.h"
#include "tensor/eigen.h"
#include "tensor/gemm.h"
#include "tensor/ops.h"
#include "tensor/precision.h"
#include "tensor/profile.h"

namespace kiso {

template <class T> using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// A (rows, cols) block of a larger row-major buffer: consecutive rows are `stride` numbers apart.
template <class T> using Block = Eigen::Map<RowMatrix<T>, 0, Eigen::OuterStride<>>;
template <class T> using ConstBlock = Eigen::Map<const RowMatrix<T>, 0, Eigen::OuterStride<>>;
template <class T> using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;

// C (M, N) = op(A) · op(B) for row-major blocks with row strides lda, ldb, ldc (op = transpose
// when ta / tb): kiso's packed kernel for f32 (tensor/gemm.h), Eigen maps for f64.
template <class T>
static void product(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
                    int64_t ldb, T* C, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (use_sgemm(M)) return sgemm(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
  }
  ConstBlock<T> a(A, ta ? K : M, ta ? M : K, Eigen::OuterStride<>(lda));  // as stored
  ConstBlock<T> b(B, tb ? N : K, tb ? K : N, Eigen::OuterStride<>(ldb));
  Block<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (!ta && !tb) c.noalias() = a * b;
  else if (!ta) c.noalias() = a * b.transpose();
  else if (!tb) c.noalias() = a.transpose() * b;
  else c.noalias() = a.transpose() * b.transpose();
}

namespace {

// The sizes of one call, from qkv (B, T, 3C) and the head count.
struct Dims {
  int64_t B, T, C, NH, HS;
  int64_t heads() const { return B * NH; }
  // Element offset in qkv of head h's query block of batch b (its key block is C further, its
  // value block 2C further); in y (B, T, C) of its output block.
  int64_t qkv_at(int64_t b, int64_t h) const { return b * T * 3 * C + h * HS; }
  int64_t y_at(int64_t b, int64_t h) const { return b * T * C + h * HS; }
};

Dims attention_dims(const char* op, const Tensor& qkv, int64_t n_head) {
  check_float(op, qkv, "qkv");
  check(qkv.dim() == 3 && qkv.size(2) % 3 == 0, op, "qkv must be (B, T, 3C), got shape {}", shape_str(qkv.shape()));
  int64_t C = qkv.size(2) / 3;
  check(n_head > 0 && C % n_head == 0, op, "C = {} (qkv {}) is not divisible by n_head = {}", C,
        shape_str(qkv.shape()), n_head);
  return {qkv.size(0), qkv.size(1), C, n_head, C / n_head};
}

// One row of scores s (`len` keys, of which the first `visible` are the query's own and past
// ones) becomes probabilities in place: scale by 1/√HS (rounded as mul(x, scale) rounds), then
// the softmax passes of softmax_forward: max, exp and sum, normalise; future keys get exactly 0.
template <class T> void scaled_causal_softmax_row(T* s, int64_t visible, int64_t len, double scale) {
  Row<T> x(s, visible);
  for (int64_t j = 0; j < visible; ++j) s[j] = T(double(s[j]) * scale);
  T m = x.maxCoeff();  // the max, subtracted so that exp never overflows
  x = (x - m).exp();
  T sum = x.sum();
  x *= T(1) / sum;
  std::fill(s + visible, s + len, T(0));
}

// In bf16 precision a product's input is read rounded to bf16 (round_bf16 is idempotent, so an
// input that already holds bf16 values is unchanged); in f32, x itself.
Tensor product_input(const Tensor& x) { return matmul_precision() == Precision::bf16 ? round_bf16(x) : x; }

// Split threads over the B·NH heads when there is enough work to pay for the parallel region.
bool parallel_heads(const Dims& d) { return d.heads() > 1 && d.heads() * d.T * d.T * d.HS > kParallelGrain; }

// ---- the unfused version, from the primitives of tensor/ops.h: the cuda path ----

// (B, T, C) -> (B·NH, T, HS) and back.
Tensor split_heads(const Tensor& x, int64_t NH) {
  int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  return permute(x.reshape({B, T, NH, C / NH}), {0, 2, 1, 3}).reshape({B * NH, T, C / NH});
}
Tensor merge_heads(const Tensor& y, int64_t B) {
  int64_t NH = y.size(0) / B, T = y.size(1), HS = y.size(2);
  return permute(y.reshape({B, NH, T, HS}), {0, 2, 1, 3}).reshape({B, T, NH * HS});
}

AttentionOutput attention_forward_composite(const Tensor& qkv, const Dims& d, double p, PhiloxState state) {
  Tensor q = split_heads(slice(qkv, 2, 0, d.C), d.NH);  // (B·NH, T, HS)
  Tensor k = split_heads(slice(qkv, 2, d.C, 2 * d.C), d.NH);
  Tensor v = split_heads(slice(qkv, 2, 2 * d.C, 3 * d.C), d.NH);
  double scale = 1.0 / std::sqrt(double(d.HS));
  Tensor att = softmax_forward(mul(matmul(q, k, false, true), scale), /*causal=*/true);  // (B·NH, T, T)
  Tensor dropped = p > 0 ? dropout(att, p, state) : att;
  return {merge_heads(matmul(dropped, v), d.B), att, dropped, Tensor()};
}

Tensor attention_backward_composite(const Tensor& dy, const Tensor& qkv, const AttentionOutput& saved, const Dims& d,
                                    double p, PhiloxState state) {
  Tensor q = split_heads(slice(qkv, 2, 0, d.C), d.NH);
  Tensor k = split_heads(slice(qkv, 2, d.C, 2 * d.C), d.NH);
  Tensor v = split_heads(slice(qkv, 2, 2 * d.C, 3 * d.C), d.NH);
  Tensor dyh = split_heads(dy, d.NH);                                  // (B·NH, T, HS)
  Tensor ddropped = matmul(dyh, v, false, true);                       // dP̃ = dY Vᵀ
  Tensor dv = matmul(saved.att_dropped, dyh, true, false);             // dV = P̃ᵀ dY
  Tensor datt = p > 0 ? dropout(ddropped, p, state) : ddropped;        // dP: the same mask
  double scale = 1.0 / std::sqrt(double(d.HS));
  Tensor ds = mul(softmax_backward(saved.att, datt), scale);           // dS, scaled as S was
  Tensor dq = matmul(ds, k), dk = matmul(ds, q, true, false);          // dQ = dS K, dK = dSᵀ Q
  return concat({merge_heads(dq, d.B), merge_heads(dk, d.B), merge_heads(dv, d.B)}, 2);  // (B, T, 3C)
}

// ---- the flash path on cuda (cuda/kernels/attention.cu): nothing (T, T) in global memory ----

constexpr int64_t kFlashMaxHS = 128;  // the kernels' largest register arrays

cuda::AttentionShape flash_shape(const char* op, const Dims& d) {
  check(d.HS <= kFlashMaxHS, op, "the flash kernel serves head sizes up to {}, got HS = {} (C = {}, {} heads); "
        "KISO_ATTENTION=materialised has no such limit", kFlashMaxHS, d.HS, d.C, d.NH);
  check(d.heads() <= 65535, op, "the flash kernel's grid holds up to 65535 (batch, head) pairs, got B·NH = {}",
        d.heads());
  return {d.B, d.T, d.NH, d.HS};
}
cuda::AttentionDropout flash_dropout(double p, PhiloxState state) { return {p, state.seed, state.stream, state.offset}; }
// bf16 precision rounds the products' inputs of f32 work (f64 is never rounded, as on the CPU's
// sgemm-free f64 path it is not a precision anyone trains in).
bool flash_bf16(const Tensor& qkv) { return matmul_precision() == Precision::bf16 && qkv.dtype() == DType::f32; }

AttentionOutput attention_forward_flash(const Tensor& qkv, const Dims& d, double p, PhiloxState state) {
  cuda::AttentionShape shape = flash_shape("attention_forward", d);
  AttentionOutput out;
  out.y = Tensor({d.B, d.T, d.C}, qkv.dtype(), Device::cuda);  // (B, T, C)
  out.lse = Tensor({d.heads(), d.T}, qkv.dtype(), Device::cuda);  // (B·NH, T)
  launch_cuda("attention_forward", qkv, [&]<cuda::Target D, class T> {
    cuda::attention_flash_forward<D>(qkv.cuda_data<T>(), out.y.cuda_data<T>(), out.lse.cuda_data<T>(), shape,
                                     flash_dropout(p, state), flash_bf16(qkv));
  });
  return out;
}

Tensor attention_backward_flash(const Tensor& dy, const Tensor& qkv, const AttentionOutput& saved, const Dims& d,
                                double p, PhiloxState state) {
  cuda::AttentionShape shape = flash_shape("attention_backward", d);
  Shape y_shape{d.B, d.T, d.C}, lse_shape{d.heads(), d.T};
  check(saved.y.defined() && saved.y.shape() == y_shape && saved.lse.shape() == lse_shape &&
            saved.y.is_cuda() && saved.lse.is_cuda(),
        "attention_backward", "the flash forward saves y {} and lse {} on cuda", shape_str(y_shape),
        shape_str(lse_shape));
  Tensor dqkv(qkv.shape(), qkv.dtype(), Device::cuda);        // (B, T, 3C), every element written
  Tensor rowdot({d.heads(), d.T}, qkv.dtype(), Device::cuda);  // D = rowsum(dY ∘ Y) (B·NH, T)
  launch_cuda("attention_backward", qkv, [&]<cuda::Target D, class T> {
    cuda::attention_flash_backward<D>(dy.cuda_data<T>(), qkv.cuda_data<T>(), saved.y.cuda_data<T>(),
                                      saved.lse.cuda_data<T>(), rowdot.cuda_data<T>(), dqkv.cuda_data<T>(), shape,
                                      flash_dropout(p, state), flash_bf16(qkv));
  });
  return dqkv;
}

// With a KV cache: the new keys and values are written after the `past` cached positions of
// each head (one 2-D copy: B·NH rows of Tn·HS numbers), then the cached prefix is sliced out
// whole (a copy) for the two products.
Tensor attention_cached_composite(const Tensor& qkv, const Dims& d, Tensor& cache_k, Tensor& cache_v, int64_t past) {
  int64_t cap = cache_k.size(1), L = past + d.T;
  for (auto [cache, at] : {std::pair{&cache_k, d.C}, std::pair{&cache_v, 2 * d.C}}) {
    Tensor fresh = split_heads(slice(qkv, 2, at, at + d.C), d.NH);  // (B·NH, Tn, HS)
    launch_cuda_words("attention_cached", fresh, [&]<cuda::Target D, class W> {
      cuda::copy_2d<D>(cuda_words<W>(fresh), d.T * d.HS, cuda_words<W>(*cache) + past * d.HS, cap * d.HS, d.heads(),
                       d.T * d.HS);
    });
  }
  Tensor q = split_heads(slice(qkv, 2, 0, d.C), d.NH);  // (B·NH, Tn, HS)
  Tensor k = slice(cache_k, 1, 0, L), v = slice(cache_v, 1, 0, L);  // (B·NH, L, HS)
  Tensor att = softmax_forward(mul(matmul(q, k, false, true), 1.0 / std::sqrt(double(d.HS))), /*causal=*/true);
  return merge_heads(matmul(att, v), d.B);  // (B, Tn, C)
}

std::mutex g_kernel_mutex;
std::optional<AttentionKernel> g_kernel_chosen;  // set_attention_kernel's choice

}  // namespace

// ---- which cuda attention runs (tensor/ops.h) ----

const char* attention_kernel_name(AttentionKernel kernel) {
  return kernel == AttentionKernel::flash ? "flash" : "materialised";
}

AttentionKernel attention_kernel_named(const char* name, const char* what) {
  for (AttentionKernel k : {AttentionKernel::flash, AttentionKernel::materialised})
    if (std::strcmp(attention_kernel_name(k), name) == 0) return k;
  fail(what, "no attention kernel named '{}'; expected one of flash, materialised", name);
}

void set_attention_kernel(AttentionKernel kernel) {
  std::lock_guard<std::mutex> lock(g_kernel_mutex);
  g_kernel_chosen = kernel;
}

void reset_attention_kernel() {
  std::lock_guard<std::mutex> lock(g_kernel_mutex);
  g_kernel_chosen.reset();
}

AttentionKernel attention_kernel_in_use() {
  std::lock_guard<std::mutex> lock(g_kernel_mutex);
  if (g_kernel_chosen) return *g_kernel_chosen;
  if (const char* env = std::getenv("KISO_ATTENTION"); env != nullptr && *env != '\0')
    return attention_kernel_named(env, "KISO_ATTENTION");
  return AttentionKernel::flash;
}

// ---------------------------------------------------------------------------------------------
// forward, per batch b and head h (Q, K, V: (T, HS) blocks of qkv):
//   pass 1: S = Q Kᵀ · 1/√HS, then each row i a softmax over keys 0..i   -> att   (T, T)
//   pass 2: P̃ = dropout(att)  (one call over all heads: the composite's draws)
//   pass 3: Y = P̃ V, into y's columns h·HS .. (h+1)·HS                    -> y     (T, HS)
// Without dropout passes 1 and 3 run back to back for each head.
// Why 1/√HS: q·k sums HS products, so unscaled scores grow like √HS and would push the softmax
// into its flat, tiny-gradient regions (Vaswani et al. 2017, section 3.2.1).
// ---------------------------------------------------------------------------------------------

AttentionOutput attention_forward(const Tensor& qkv, int64_t n_head, double p, PhiloxState state) {
  OpScope scope("attention_forward", qkv);
  Dims d = attention_dims("attention_forward", qkv, n_head);
  check(p >= 0 && p < 1, "attention_forward", "dropout p must be in [0, 1), got {}", p);
  scope.set_flops(4.0 * double(d.heads()) * double(d.T) * double(d.T) * double(d.HS));  // Q·Kᵀ and P̃·V
  if (qkv.is_cuda())
    return attention_kernel_in_use() == AttentionKernel::flash ? attention_forward_flash(qkv, d, p, state)
                                                               : attention_forward_composite(qkv, d, p, state);
  bool bf16 = matmul_precision() == Precision::bf16;
  Tensor qkv_in = product_input(qkv);  // (B, T, 3C): Q, K, V as the products read them
  return with_float(qkv, [&]<class T>(T) {
    Tensor att({d.heads(), d.T, d.T}, qkv.dtype());  // (B·NH, T, T)
    Tensor y({d.B, d.T, d.C}, qkv.dtype());           // (B, T, C)
    const T* pqkv = qkv_in.data<T>();
    T* patt = att.data<T>();
    T* py = y.data<T>();
    double scale = 1.0 / std::sqrt(double(d.HS));
    int64_t Tn = d.T, ld = 3 * d.C;  // ld: the row stride of a block of qkv

    auto scores = [&](int64_t bh) {  // pass 1 for one head
      int64_t b = bh / d.NH, h = bh % d.NH;
      const T* Q = pqkv + d.qkv_at(b, h);  // (T, HS) blocks of qkv, rows ld apart
      const T* K = Q + d.C;
      product(false, true, Tn, Tn, d.HS, Q, ld, K, ld, patt + bh * Tn * Tn, Tn);  // S = Q Kᵀ (T, T)
      for (int64_t i = 0; i < Tn; ++i)  // query i sees keys 0..i
        scaled_causal_softmax_row(patt + (bh * Tn + i) * Tn, i + 1, Tn, scale);
    };
    auto weighted_values = [&](const T* pdropped, int64_t bh) {  // pass 3 for one head
      int64_t b = bh / d.NH, h = bh % d.NH;
      const T* V = pqkv + d.qkv_at(b, h) + 2 * d.C;
      product(false, false, Tn, d.HS, Tn, pdropped + bh * Tn * Tn, Tn, V, ld, py + d.y_at(b, h), d.C);  // Y = P̃ V
    };

    bool parallel = parallel_heads(d);
    if (p == 0 && !bf16) {
#pragma omp parallel for if (parallel)
      for (int64_t bh = 0; bh < d.heads(); ++bh) {
        scores(bh);
        weighted_values(patt, bh);
      }
      return AttentionOutput{y, att, att, Tensor()};
    }
#pragma omp parallel for if (parallel)
    for (int64_t bh = 0; bh < d.heads(); ++bh) scores(bh);
    Tensor dropped = p > 0 ? dropout(att, p, state) : att;  // (B·NH, T, T)
    if (bf16) dropped = round_bf16(dropped);  // P̃ as P̃·V reads it; att stays f32
    const T* pdropped = dropped.data<T>();
#pragma omp parallel for if (parallel)
    for (int64_t bh = 0; bh < d.heads(); ++bh) weighted_values(pdropped, bh);
    return AttentionOutput{y, att, dropped, Tensor()};
  });
}

// ---------------------------------------------------------------------------------------------
// backward, per head, from dY (T, HS) (head h's columns of dy) and the saved att, P̃:
//   pass 1: dP̃ = dY Vᵀ (T, T);  dV = P̃ᵀ dY, into dqkv's value columns
//   pass 2: dP = dropout(dP̃) with the forward's mask (one call over all heads)
//   pass 3: each row i: dS_ij = att_ij (dP_ij - Σ_k att_ik dP_ik) · 1/√HS   (softmax, then scale)
//           dQ = dS K, dK = dSᵀ Q, into dqkv's query and key columns
// Every element of dqkv is written exactly once, so it needs no zeroing.
// ---------------------------------------------------------------------------------------------

Tensor attention_backward(const Tensor& dy, const Tensor& qkv, const AttentionOutput& saved, int64_t n_head, double p,
                          PhiloxState state) {
  OpScope scope("attention_backward", dy, qkv, saved.att, saved.att_dropped);
  Dims d = attention_dims("attention_backward", qkv, n_head);
  check_float_pair("attention_backward", dy, qkv);
  Shape y_shape{d.B, d.T, d.C}, att_shape{d.heads(), d.T, d.T};
  check(dy.shape() == y_shape, "attention_backward", "dy must be {} for qkv {}, got {}", shape_str(y_shape),
        shape_str(qkv.shape()), shape_str(dy.shape()));
  scope.set_flops(8.0 * double(d.heads()) * double(d.T) * double(d.T) * double(d.HS));  // four products
  // Whichever kernel ran the forward runs the backward: flash saved lse, the others att and P̃.
  if (qkv.is_cuda() && saved.lse.defined()) return attention_backward_flash(dy, qkv, saved, d, p, state);
  check(saved.att.defined() && saved.att.shape() == att_shape && saved.att_dropped.defined() &&
            saved.att_dropped.shape() == att_shape,
        "attention_backward", "the saved probabilities must be {}", shape_str(att_shape));
  if (qkv.is_cuda()) return attention_backward_composite(dy, qkv, saved, d, p, state);
  bool bf16 = matmul_precision() == Precision::bf16;
  // The products' inputs (rounded in bf16 precision): qkv (B, T, 3C), dy (B, T, C), P̃ (B·NH, T, T)
  Tensor qkv_in = product_input(qkv), dy_in = product_input(dy), dropped_in = product_input(saved.att_dropped);
  return with_float(qkv, [&]<class T>(T) {
    Tensor dqkv(qkv.shape(), qkv.dtype());                 // (B, T, 3C)
    Tensor ddropped(att_shape, qkv.dtype());               // dP̃, then dP, then dS: (B·NH, T, T)
    const T* pqkv = qkv_in.data<T>();
    const T* pdy = dy_in.data<T>();
    const T* patt = saved.att.data<T>();
    const T* pdropped = dropped_in.data<T>();
    T* pdqkv = dqkv.data<T>();
    double scale = 1.0 / std::sqrt(double(d.HS));
    int64_t Tn = d.T, ld = 3 * d.C;
    bool parallel = parallel_heads(d);

#pragma omp parallel for if (parallel)
    for (int64_t bh = 0; bh < d.heads(); ++bh) {  // pass 1
      int64_t b = bh / d.NH, h = bh % d.NH;
      const T* dY = pdy + d.y_at(b, h);  // (T, HS), rows C apart
      const T* V = pqkv + d.qkv_at(b, h) + 2 * d.C;
      const T* P = pdropped + bh * Tn * Tn;  // (T, T)
      product(false, true, Tn, Tn, d.HS, dY, d.C, V, ld, ddropped.data<T>() + bh * Tn * Tn, Tn);  // dP̃ = dY Vᵀ
      product(true, false, Tn, d.HS, Tn, P, Tn, dY, d.C, pdqkv + d.qkv_at(b, h) + 2 * d.C, ld);     // dV = P̃ᵀ dY
    }
    Tensor datt = p > 0 ? dropout(ddropped, p, state) : ddropped;  // (B·NH, T, T), owned by this call
    T* pdatt = datt.data<T>();
#pragma omp parallel for if (parallel)
    for (int64_t bh = 0; bh < d.heads(); ++bh) {  // pass 3
      int64_t b = bh / d.NH, h = bh % d.NH;
      for (int64_t i = 0; i < Tn; ++i) {
        Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>> y_i(patt + (bh * Tn + i) * Tn, Tn);
        Row<T> g_i(pdatt + (bh * Tn + i) * Tn, Tn);
        T dot = (y_i * g_i).sum();  // Σ_k att_ik dP_ik
        g_i = y_i * (g_i - dot);
        for (int64_t j = 0; j < Tn; ++j) g_i[j] = T(double(g_i[j]) * scale);  // as mul(dy, scale) rounds
        if constexpr (std::is_same_v<T, float>)
          if (bf16)  // dS as dS·K and dSᵀ·Q read it
            for (int64_t j = 0; j < Tn; ++j) g_i[j] = round_bf16(g_i[j]);
      }
      const T* dS = pdatt + bh * Tn * Tn;  // (T, T)
      const T* Q = pqkv + d.qkv_at(b, h);
      const T* K = Q + d.C;
      product(false, false, Tn, d.HS, Tn, dS, Tn, K, ld, pdqkv + d.qkv_at(b, h), ld);        // dQ = dS K
      product(true, false, Tn, d.HS, Tn, dS, Tn, Q, ld, pdqkv + d.qkv_at(b, h) + d.C, ld);   // dK = dSᵀ Q
    }
    return dqkv;
  });
}

// ---------------------------------------------------------------------------------------------
// with a KV cache (generation, no gradient), per batch b and head h:
//   copy the new tokens' K, V (Tn, HS) into the cache at positions past .. past+Tn-1
//   S = Q Kᵀ · 1/√HS over the L = past + Tn cached keys (Tn, L); row i a softmax over keys
//   0..past+i; Y = P V, into y's columns of the head
// The cache's first L rows of a head are one contiguous (L, HS) block, read in place: a new
// token costs O(L·C) work and no copy of the past (the unfused path concatenated, and so
// copied, the whole cache for every token).
// ---------------------------------------------------------------------------------------------

Tensor attention_cached(const Tensor& qkv, int64_t n_head, Tensor& cache_k, Tensor& cache_v, int64_t past) {
  OpScope scope("attention_cached", qkv);
  Dims d = attention_dims("attention_cached", qkv, n_head);
  check_float_pair("attention_cached", qkv, cache_k);
  check_float_pair("attention_cached", qkv, cache_v);
  check(cache_k.dim() == 3 && cache_k.size(0) == d.heads() && cache_k.size(2) == d.HS &&
            cache_v.shape() == cache_k.shape(),
        "attention_cached", "the cache must be (B·NH, capacity, HS) = ({}, capacity, {}) for keys and values alike, got "
        "{} and {}", d.heads(), d.HS, shape_str(cache_k.shape()), shape_str(cache_v.shape()));
  int64_t cap = cache_k.size(1), L = past + d.T;
  check(past >= 0 && L <= cap, "attention_cached", "{} cached + {} new positions do not fit the cache's {}", past, d.T,
        cap);
  scope.set_flops(4.0 * double(d.heads()) * double(d.T) * double(L) * double(d.HS));
  if (qkv.is_cuda()) return attention_cached_composite(qkv, d, cache_k, cache_v, past);
  bool bf16 = matmul_precision() == Precision::bf16;
  Tensor qkv_in = product_input(qkv);  // (B, Tn, 3C); the cache then holds rounded keys and values
  return with_float(qkv, [&]<class T>(T) {
    Tensor y({d.B, d.T, d.C}, qkv.dtype());  // (B, Tn, C)
    const T* pqkv = qkv_in.data<T>();
    T* pk = cache_k.data<T>();
    T* pv = cache_v.data<T>();
    T* py = y.data<T>();
    double scale = 1.0 / std::sqrt(double(d.HS));
    int64_t ld = 3 * d.C;
#pragma omp parallel for if (d.heads() > 1 && d.heads() * d.T * L * d.HS > kParallelGrain)
    for (int64_t bh = 0; bh < d.heads(); ++bh) {
      int64_t b = bh / d.NH, h = bh % d.NH;
      Eigen::Map<RowMatrix<T>> K(pk + bh * cap * d.HS, L, d.HS), V(pv + bh * cap * d.HS, L, d.HS);  // (L, HS)
      K.bottomRows(d.T) = ConstBlock<T>(pqkv + d.qkv_at(b, h) + d.C, d.T, d.HS, Eigen::OuterStride<>(ld));
      V.bottomRows(d.T) = ConstBlock<T>(pqkv + d.qkv_at(b, h) + 2 * d.C, d.T, d.HS, Eigen::OuterStride<>(ld));
      RowMatrix<T> S(d.T, L);  // (Tn, L)
      product(false, true, d.T, L, d.HS, pqkv + d.qkv_at(b, h), ld, K.data(), d.HS, S.data(), L);  // S = Q Kᵀ
      for (int64_t i = 0; i < d.T; ++i)  // query i sees keys 0..past+i
        scaled_causal_softmax_row(S.data() + i * L, past + i + 1, L, scale);
      if constexpr (std::is_same_v<T, float>)
        if (bf16)  // P as P·V reads it
          for (int64_t j = 0; j < S.size(); ++j) S.data()[j] = round_bf16(S.data()[j]);
      product(false, false, d.T, d.HS, L, S.data(), L, V.data(), d.HS, py + d.y_at(b, h), d.C);  // Y = P V (Tn, HS)
    }
    return y;
  });
}

}  // namespace kiso
