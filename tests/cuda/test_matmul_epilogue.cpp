// tests/cuda/test_matmul_epilogue.cpp — the matmul epilogue (cuda/kernels.h, "Epilogue";
// cuda/kernels/matmul_epilogue.cu): bias, bf16 rounding and GELU applied as a rung stores c, the
// fused backward (dh and the bias gradient in one launch), and the linear ops that run them.
//
// Oracles:
//   - on the simulator, kernel by kernel: the plain composition the epilogue replaces, run with
//     the same kernels — the same rung's product, then the broadcast add (elementwise.cu),
//     round_bf16 (convert.cu) and gelu_forward (gelu.cu). Each step is the same arithmetic in the
//     same type, so y and h must equal it bit for bit, for every rung (the four with an epilogue
//     of their own and the fallback pass of the others);
//   - the ops linear / linear_gelu / bias_gelu_backward on cuda against their CPU composition
//     (tensor/ops_linear.cpp), within the bounds derived at each check;
//   - the simulated profile: the traffic and launches cuda/kernels/matmul_epilogue.cu predicts.
// Sizes are small and not tile multiples (37 x 45, K 19), plus one past a 128 x 128 tile, so
// the ragged edges and the vector paths both run; everything here takes a few seconds.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "base/bf16.h"
#include "cuda/kernels.h"
#include "cuda/sim/profile.h"
#include "tensor/ops.h"
#include "tensor/precision.h"
#include "tests/cuda/each_device.h"

using namespace kiso;
using cuda::MatmulRung;
using cuda::Target;

namespace {

// A 256-byte-aligned host buffer (as cudaMalloc gives), which the simulator's kernels read as
// device memory.
template <class T> struct Buffer {
  std::unique_ptr<T, decltype(&std::free)> p;
  int64_t n;
  explicit Buffer(int64_t count)
      : p(static_cast<T*>(std::aligned_alloc(256, size_t(count) * sizeof(T) + 256)), &std::free), n(count) {
    for (int64_t i = 0; i < n; ++i) p.get()[i] = T(0);
  }
  T* get() const { return p.get(); }
  T& operator[](int64_t i) const { return p.get()[i]; }
};

// Values of order 1 from a fixed sequence (a Weyl sequence: no generator needed).
template <class T> Buffer<T> filled(int64_t n, double seed) {
  Buffer<T> b(n);
  for (int64_t i = 0; i < n; ++i) b[i] = T(2.0 * std::fmod(seed + 0.6180339887 * double(i), 1.0) - 1.0);
  return b;
}

struct Shape3 {
  int64_t batch, M, N, K;
  bool trans_a, trans_b;
};

std::string describe(MatmulRung rung, const Shape3& s, bool gelu, bool round) {
  return std::string(cuda::matmul_rung_name(rung)) + " " + std::to_string(s.batch) + "x" + std::to_string(s.M) + "x" +
         std::to_string(s.N) + "x" + std::to_string(s.K) + (s.trans_a ? " Aᵀ" : "") + (s.trans_b ? " Bᵀ" : "") +
         (gelu ? " gelu" : " bias") + (round ? " bf16" : "");
}

// The epilogue run by `rung` against the composition of the old kernels, bit for bit.
template <class T> void check_rung_epilogue(MatmulRung rung, const Shape3& s, bool gelu, bool exact, bool round) {
  CAPTURE(describe(rung, s, gelu, round));
  int64_t mn = s.batch * s.M * s.N;
  auto a = filled<T>(s.batch * s.M * s.K, 0.1), b = filled<T>(s.batch * s.K * s.N, 0.3);
  auto bias = filled<T>(s.N, 0.7);
  // The fused launch.
  Buffer<T> y(mn), pre(mn);
  cuda::Epilogue<T> ep{bias.get(), gelu, exact, gelu ? pre.get() : nullptr, round};
  cuda::matmul_epilogue<Target::sim>(rung, a.get(), b.get(), y.get(), s.batch, s.M, s.N, s.K, s.trans_a, s.trans_b, ep);
  // The composition: c = product; h = c + bias (broadcast over rows); h rounded; y = gelu(h).
  Buffer<T> c(mn), h(mn), y_ref(mn);
  cuda::matmul_rung<Target::sim>(rung, a.get(), b.get(), c.get(), s.batch, s.M, s.N, s.K, s.trans_a, s.trans_b);
  cuda::Broadcast g;
  g.rank = 2, g.size[0] = s.batch * s.M, g.size[1] = s.N;
  g.stride_a[0] = s.N, g.stride_a[1] = 1, g.stride_b[0] = 0, g.stride_b[1] = 1;
  cuda::binary<Target::sim>(cuda::BinaryOp::add, c.get(), bias.get(), h.get(), mn, g);
  if constexpr (sizeof(T) == sizeof(float)) {
    if (round) cuda::round_bf16<Target::sim>(h.get(), h.get(), mn);
  }
  if (gelu) cuda::gelu_forward<Target::sim>(h.get(), y_ref.get(), mn, exact);
  int64_t wrong_y = 0, wrong_pre = 0;
  for (int64_t i = 0; i < mn; ++i) {
    wrong_y += y[i] != (gelu ? y_ref[i] : h[i]);
    if (gelu) wrong_pre += pre[i] != h[i];
  }
  CHECK(wrong_y == 0);
  CHECK(wrong_pre == 0);
  // And the bias was added at all (a product with no epilogue would differ from h).
  int64_t moved = 0;
  for (int64_t i = 0; i < mn; ++i) moved += c[i] != h[i];
  CHECK(moved > mn / 2);
}

// |a - b| <= tol for every element, cpu tensors of one shape; returns the largest difference.
double max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  Tensor a64 = to_dtype(a.to(Device::cpu), DType::f64), b64 = to_dtype(b.to(Device::cpu), DType::f64);
  double worst = 0;
  const double* pa = a64.data<double>();
  const double* pb = b64.data<double>();
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::abs(pa[i] - pb[i]));
  return worst;
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("matmul epilogue: every rung adds the bias and applies GELU as the composition does, bit for bit") {
  // The model's shapes: x (rows, C) · W (C, 4C), untransposed; ragged sizes; and one shape past a
  // 128 x 128 tile with 4-aligned rows (warptile's 128-bit path, two tiles each way).
  std::vector<Shape3> shapes = {{1, 37, 45, 19, false, false}, {1, 133, 132, 24, false, false}};
  for (MatmulRung rung : cuda::kMatmulRungs) {
    for (const Shape3& s : shapes) {
      check_rung_epilogue<float>(rung, s, true, false, false);  // the MLP: bias + tanh GELU
      check_rung_epilogue<float>(rung, s, false, false, false);  // every other layer: bias only
    }
  }
  // bf16 mode: the pre-activation rounded to bf16 before GELU.
  for (MatmulRung rung : {MatmulRung::warptile, MatmulRung::mma_bf16, MatmulRung::naive})
    check_rung_epilogue<float>(rung, shapes[0], true, false, true);
  // f64 (gradient checks on cuda): the rungs that serve double, erf GELU too.
  for (MatmulRung rung : {MatmulRung::tiled, MatmulRung::warptile, MatmulRung::blocktile_2d}) {
    check_rung_epilogue<double>(rung, shapes[0], true, false, false);
    check_rung_epilogue<double>(rung, shapes[0], true, true, false);
  }
  // Transposed operands and a batch of products (pre and c offset per product), on the rungs with
  // an epilogue of their own.
  for (MatmulRung rung : {MatmulRung::tiled, MatmulRung::warptile, MatmulRung::mma_tf32, MatmulRung::mma_bf16}) {
    check_rung_epilogue<float>(rung, {2, 21, 34, 17, true, false}, true, true, false);
    check_rung_epilogue<float>(rung, {2, 21, 34, 17, false, true}, true, false, false);
  }
}

TEST_CASE("matmul epilogue: the backward's dh and bias gradient, one launch, against the cpu") {
  testing::SimulatorOn simulator;
  Generator gen(31);
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(to_string(dtype));
    // rows 53: not a multiple of the 8 lanes; N 70: three column blocks, the last ragged.
    Tensor dy = randn({53, 70}, gen, dtype), pre = mul(randn({53, 70}, gen, dtype), 2.0);
    Tensor dy_c = dy.to(Device::cuda), pre_c = pre.to(Device::cuda);
    // Without GELU, dbias is the same sums in the same order on both devices: equal bit for bit.
    BiasGeluGrads cpu = bias_gelu_backward(dy, Tensor(), GeluKind::tanh);
    BiasGeluGrads gpu = bias_gelu_backward(dy_c, Tensor(), GeluKind::tanh);
    CHECK(max_diff(cpu.dbias, gpu.dbias) == 0);
    // The lane order differs from a plain row-order sum only by rounding: f32 ~ 53 terms of |dy|
    // <~ 4, each addition off by 2^-24 of the running sum: below 53 · 4 · 53 · 2^-24 ≈ 7e-4.
    CHECK(max_diff(cpu.dbias, sum_to(dy, {70})) < (dtype == DType::f32 ? 7e-4 : 1e-12));
    for (GeluKind kind : {GeluKind::tanh, GeluKind::erf}) {
      CAPTURE(kind == GeluKind::erf);
      cpu = bias_gelu_backward(dy, pre, kind);
      gpu = bias_gelu_backward(dy_c, pre_c, kind);
      // dh = dy · gelu'(h): the cpu's vectorised tanh (Eigen's rational approximation) and the
      // kernel's C-library tanh are a few ulp apart, which gelu''s polynomial turns into at most
      // 64 ulp of (1 + h²)(1 + |dy|) (the bound of test_kernels.cpp's gelu test). dbias adds the
      // same 53 terms in the same order on both sides: its difference is at most the sum of the
      // terms' bounds, times (1 + 53 u) for the re-rounded partial sums (taken as 2).
      double u = dtype == DType::f32 ? 0x1p-24 : 0x1p-53;
      std::vector<double> h = to_dtype(pre, DType::f64).to_vector<double>();
      std::vector<double> g = to_dtype(dy, DType::f64).to_vector<double>();
      std::vector<double> dh_cpu = to_dtype(cpu.dh, DType::f64).to_vector<double>();
      std::vector<double> dh_gpu = to_dtype(gpu.dh.to(Device::cpu), DType::f64).to_vector<double>();
      std::vector<double> db_cpu = to_dtype(cpu.dbias, DType::f64).to_vector<double>();
      std::vector<double> db_gpu = to_dtype(gpu.dbias.to(Device::cpu), DType::f64).to_vector<double>();
      std::vector<double> column_bound(70, 0.0);
      int64_t outside = 0;
      for (size_t i = 0; i < h.size(); ++i) {
        double bound = 64 * u * (1 + h[i] * h[i]) * (1 + std::abs(g[i]));
        outside += std::abs(dh_cpu[i] - dh_gpu[i]) > bound;
        column_bound[i % 70] += bound;
      }
      CHECK(outside == 0);
      for (size_t j = 0; j < 70; ++j) outside += std::abs(db_cpu[j] - db_gpu[j]) > 2 * column_bound[j];
      CHECK(outside == 0);
      // And the cpu's dh is the composition's: gelu_backward itself.
      CHECK(max_diff(cpu.dh, gelu_backward(pre, dy, kind)) == 0);
    }
  }
}

TEST_CASE("linear and linear_gelu on cuda match their cpu composition (f32, f64, bf16)") {
  testing::SimulatorOn simulator;
  Generator gen(11);
  for (DType dtype : {DType::f32, DType::f64}) {
    CAPTURE(to_string(dtype));
    // x (2, 19, 24): leading axes flattened to 38 rows; W (24, 45); b (45,)
    Tensor x = randn({2, 19, 24}, gen, dtype), w = mul(randn({24, 45}, gen, dtype), 0.3), b = randn({45}, gen, dtype);
    Tensor xc = x.to(Device::cuda), wc = w.to(Device::cuda), bc = b.to(Device::cuda);
    // The products' sums differ in order only: 24 terms of |x·w| <~ 4 · 0.3 · 4 ≈ 5, each
    // rounding by 2^-24 of the running sum (<~ 24 · 5): ~ 24 · 120 · 6e-8 ≈ 2e-4 at the very
    // worst; gelu is 1.13-Lipschitz. f64: 2^-53 instead, 1e-12.
    double tol = dtype == DType::f32 ? 2e-4 : 1e-12;
    Tensor y_cpu = linear(x, w, b), y_gpu = linear(xc, wc, bc);
    CHECK(y_gpu.shape() == Shape{2, 19, 45});
    CHECK(max_diff(y_cpu, y_gpu) < tol);
    for (GeluKind kind : {GeluKind::tanh, GeluKind::erf}) {
      LinearGeluOutput cpu = linear_gelu(x, w, b, kind), gpu = linear_gelu(xc, wc, bc, kind);
      CHECK(max_diff(cpu.pre, gpu.pre) < tol);
      CHECK(max_diff(cpu.y, gpu.y) < 1.2 * tol);
      CHECK(max_diff(cpu.pre, y_cpu) == 0);  // the cpu's pre is linear's output
    }
  }
  // bf16: the products read bf16-rounded x and w (exact products, f32 sums, as above), and pre is
  // rounded to bf16: a sum difference that crosses a rounding boundary moves pre by one bf16 ulp,
  // 2^-8 of |pre| <~ 8: 0.03; so compare loosely, and check every pre is a bf16 number.
  PrecisionGuard bf16(Precision::bf16);
  Tensor x = randn({38, 24}, gen), w = mul(randn({24, 45}, gen), 0.3), b = randn({45}, gen);
  LinearGeluOutput cpu = linear_gelu(x, w, b, GeluKind::tanh);
  LinearGeluOutput gpu = linear_gelu(x.to(Device::cuda), w.to(Device::cuda), b.to(Device::cuda), GeluKind::tanh);
  CHECK(max_diff(cpu.pre, gpu.pre) < 0.04);
  CHECK(max_diff(cpu.y, gpu.y) < 0.05);
  std::vector<float> pre = gpu.pre.to(Device::cpu).to_vector<float>();
  int64_t not_bf16 = 0;
  for (float v : pre) not_bf16 += kiso::round_bf16(v) != v;
  CHECK(not_bf16 == 0);
}

TEST_CASE("matmul epilogue profile: linear_gelu moves less and launches less than matmul + add + gelu" *
          doctest::skip(!sim::profile_available())) {
  // M = N = 128 (one warptile block tile), K = 32, f32, 256-byte-aligned buffers. The predictions
  // of cuda/kernels/matmul_epilogue.cu, against the product's own traffic P:
  //   composition  P + 4 MN (add reads c) + 4 MN (add reads b, per element) + 4 MN (writes h)
  //                  + 8 MN (gelu reads h, writes y)                  = P + 20 MN, 3 launches
  //   epilogue     P + 4 MN (also writes pre) + 8 KiB (the bias, 8 loads a thread, 4 sectors a
  //                  warp request, 64 requests a warp... 8 warps x 8 x 4 x 32 B) = P + 4 MN + 8192, 1 launch
  constexpr int64_t M = 128, N = 128, K = 32, MN = M * N;
  auto a = filled<float>(M * K, 0.1), b = filled<float>(K * N, 0.3), bias = filled<float>(N, 0.7);
  Buffer<float> c(MN), h(MN), y(MN), pre(MN);
  uint64_t product, composition, fused, composition_launches, fused_launches;
  {
    sim::ProfileRecording r;
    cuda::matmul_rung<Target::sim>(MatmulRung::warptile, a.get(), b.get(), c.get(), 1, M, N, K, false, false);
    product = r.total().sector_bytes();
  }
  {
    sim::ProfileRecording r;
    cuda::matmul_rung<Target::sim>(MatmulRung::warptile, a.get(), b.get(), c.get(), 1, M, N, K, false, false);
    cuda::Broadcast g;
    g.rank = 2, g.size[0] = M, g.size[1] = N, g.stride_a[0] = N, g.stride_a[1] = 1, g.stride_b[1] = 1;
    cuda::binary<Target::sim>(cuda::BinaryOp::add, c.get(), bias.get(), h.get(), MN, g);
    cuda::gelu_forward<Target::sim>(h.get(), y.get(), MN, false);
    composition = r.total().sector_bytes();
    composition_launches = r.total().launches;
  }
  {
    sim::ProfileRecording r;
    cuda::Epilogue<float> ep{bias.get(), true, false, pre.get(), false};
    cuda::matmul_epilogue<Target::sim>(MatmulRung::warptile, a.get(), b.get(), y.get(), 1, M, N, K, false, false, ep);
    fused = r.total().sector_bytes();
    fused_launches = r.total().launches;
  }
  CHECK(composition_launches == 3);
  CHECK(fused_launches == 1);
  CHECK(composition - product == 20 * MN);
  CHECK(fused - product == 4 * MN + 8192);
  MESSAGE("product ", product, " B; composition +", composition - product, " B; epilogue +", fused - product, " B");

  // The backward, from dy and pre (M, N): gelu_backward (reads 2, writes 1) then sum_to (reads
  // dh again, writes N): 16 MN + 4 N bytes, 2 launches; fused: 12 MN + 4 N, 1 launch.
  Buffer<float> dh(MN), dbias(N);
  uint64_t before, after;
  {
    sim::ProfileRecording r;
    cuda::gelu_backward<Target::sim>(pre.get(), y.get(), dh.get(), MN, false);
    cuda::SumTo g;
    g.rank = 2, g.x_size[0] = M, g.x_size[1] = N, g.reduced[0] = true;
    cuda::sum_to<Target::sim>(dh.get(), dbias.get(), N, g);
    before = r.total().sector_bytes();
    CHECK(r.total().launches == 2);
  }
  {
    sim::ProfileRecording r;
    cuda::bias_gelu_backward<Target::sim>(y.get(), pre.get(), dh.get(), dbias.get(), M, N, false);
    after = r.total().sector_bytes();
    CHECK(r.total().launches == 1);
  }
  CHECK(before == 16 * MN + 4 * N);
  CHECK(after == 12 * MN + 4 * N);
}

}  // TEST_SUITE
