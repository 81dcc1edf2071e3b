// tests/cuda/test_matmul_ladder.cpp — every SIMT rung of the matmul ladder (naive .. warptile,
// cuda/kernels/matmul_<n>_<rung>.cu) against the CPU's matmul, on every device there is (the
// simulator always, the GPU when one is usable): f32 and f64, the four transpose combinations,
// batches, sizes that are multiples of no tile and sizes that fill whole tiles, and operands that
// allow 128-bit loads and ones that do not (rungs 6-7's scalar fallback); and a batch larger than
// one launch's grid.y (65535) on one rung, as they share the launch code. The tensor-core rungs
// have their own tests. Oracle: the CPU matmul on the same numbers, within the rounding bound
// derived at check_product.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cuda/kernels.h"
#include "tests/cuda/each_device.h"
#include "tensor/ops.h"

using namespace kiso;
using kiso::testing::on_each_device;

namespace {

struct Sizes {
  int64_t batch, M, N, K;
};

const std::vector<cuda::MatmulRung> kSimtRungs = {
    cuda::MatmulRung::naive,        cuda::MatmulRung::coalesced,    cuda::MatmulRung::tiled,
    cuda::MatmulRung::blocktile_1d, cuda::MatmulRung::blocktile_2d, cuda::MatmulRung::vectorized,
    cuda::MatmulRung::warptile};
// The rungs that move 128-bit words when the operands allow it.
const std::vector<cuda::MatmulRung> kVectorRungs = {cuda::MatmulRung::vectorized, cuda::MatmulRung::warptile};

// c (batch, M, N) = rung(a, b), with a and b placed in cuda buffers `offset` numbers past their
// start (cuda memory is 256-byte aligned, so offset 1 makes every operand unaligned for 128-bit
// words). c's buffer starts and ends with `offset` + 8 NaNs that must survive, and its own
// numbers start as NaN, so a result not written, or written outside c, shows.
template <class T>
Tensor run_rung(cuda::MatmulRung rung, const Tensor& a, const Tensor& b, bool ta, bool tb, const Sizes& s,
                int64_t offset) {
  auto placed = [&](const Tensor& x) {
    std::vector<T> v(size_t(offset), T(0));
    std::vector<T> xv = x.to_vector<T>();
    v.insert(v.end(), xv.begin(), xv.end());
    return from_vector(v, {int64_t(v.size())}).to(Device::cuda);
  };
  Tensor a_dev = placed(a), b_dev = placed(b);
  int64_t n = s.batch * s.M * s.N, guard = offset + 8;
  Tensor c_dev = full({guard + n + guard}, std::numeric_limits<double>::quiet_NaN(), a.dtype(), Device::cuda);
  cuda::with_target("matmul", [&]<cuda::Target D> {
    cuda::matmul_rung<D>(rung, a_dev.cuda_data<T>() + offset, b_dev.cuda_data<T>() + offset,
                         c_dev.cuda_data<T>() + guard, s.batch, s.M, s.N, s.K, ta, tb);
  });
  std::vector<T> c = c_dev.to_vector<T>();
  for (int64_t i = 0; i < guard; ++i) {
    CAPTURE(i);
    REQUIRE(std::isnan(c[size_t(i)]));          // nothing written before c
    REQUIRE(std::isnan(c[size_t(guard + n + i)]));  // nor after it
  }
  return from_vector(std::vector<T>(c.begin() + guard, c.begin() + guard + n), {s.batch, s.M, s.N});
}

// The rung's product against the CPU's. Each computes c_ij as a sum of the K products a_ik·b_kj
// in its own order (fused multiply-adds or not); each result is within γ_K·Σ_k |a_ik·b_kj| of the
// exact sum (γ_K = K·u / (1 - K·u), u the unit roundoff: Higham, Accuracy and Stability of
// Numerical Algorithms, §3.1), so the two are within 2·γ_K·(|a|·|b|)_ij of each other; |a|·|b| is
// computed in f64. A wrong index or a missed k is off by about one whole product, far above it.
template <class T>
void check_product(cuda::MatmulRung rung, const Sizes& s, bool ta, bool tb, int64_t offset, uint64_t seed) {
  DType dtype = sizeof(T) == 4 ? DType::f32 : DType::f64;
  Generator gen{seed};
  Tensor a = randn(ta ? Shape{s.batch, s.K, s.M} : Shape{s.batch, s.M, s.K}, gen, dtype);
  Tensor b = randn(tb ? Shape{s.batch, s.N, s.K} : Shape{s.batch, s.K, s.N}, gen, dtype);
  Tensor want = matmul(a, b, ta, tb);
  Tensor got = run_rung<T>(rung, a, b, ta, tb, s, offset);
  auto absolute = [](const Tensor& x) {  // |x| in f64
    std::vector<double> v = to_dtype(x, DType::f64).to_vector<double>();
    for (double& y : v) y = std::abs(y);
    return from_vector(v, x.shape());
  };
  Tensor bound = matmul(absolute(a), absolute(b), ta, tb);
  double u = sizeof(T) == 4 ? 0x1p-24 : 0x1p-53, gamma = double(s.K) * u / (1 - double(s.K) * u);
  std::vector<double> g = to_dtype(got, DType::f64).to_vector<double>();
  std::vector<double> w = to_dtype(want, DType::f64).to_vector<double>();
  std::vector<double> e = bound.to_vector<double>();
  for (size_t i = 0; i < w.size(); ++i) {
    CAPTURE(i);
    REQUIRE(std::abs(g[i] - w[i]) <= 2 * gamma * e[i]);
  }
}

// `rungs`, both types, all four layouts, on `sizes`, with operands `offset` numbers past an
// aligned start.
void check_rungs(const std::vector<cuda::MatmulRung>& rungs, const std::vector<Sizes>& sizes, int64_t offset) {
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    uint64_t seed = 1500;
    for (cuda::MatmulRung rung : rungs)
      for (const Sizes& s : sizes)
        for (bool ta : {false, true})
          for (bool tb : {false, true}) {
            std::string name = cuda::matmul_rung_name(rung);
            CAPTURE(name);
            CAPTURE(s.batch);
            CAPTURE(s.M);
            CAPTURE(s.N);
            CAPTURE(s.K);
            CAPTURE(ta);
            CAPTURE(tb);
            check_product<float>(rung, s, ta, tb, offset, ++seed);
            check_product<double>(rung, s, ta, tb, offset, ++seed);
          }
  });
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("matmul ladder: every SIMT rung matches the cpu on sizes that are multiples of no tile") {
  check_rungs(kSimtRungs,
              {{1, 1, 1, 1},     // one number: every tile almost empty
               {3, 33, 29, 47},  // odd sizes, 3 products: partial tiles on every edge, scalar paths
               {2, 7, 100, 9}},  // a wide c: several column tiles in the 8- and 16-wide rungs
              0);
}

TEST_CASE("matmul ladder: every SIMT rung matches the cpu on 128-bit friendly sizes, aligned and not") {
  // {2, 100, 36, 20}: every length a multiple of 4 (floats) and 2 (doubles) but of no tile: rungs
  // 6-7 take the 128-bit path with partial tiles. {1, 128, 128, 32}: whole 128 x 128 tiles, four
  // steps of BK = 8. At offset 0 (aligned) rungs 6-7 run 128-bit loads and stores; offset 1
  // leaves every operand 4 (8) bytes past 16-byte alignment, so they must fall back to scalar
  // loads and stores (the other rungs never look at alignment).
  std::vector<Sizes> sizes = {{2, 100, 36, 20}, {1, 128, 128, 32}};
  check_rungs(kSimtRungs, sizes, 0);
  check_rungs(kVectorRungs, sizes, 1);
}

}  // TEST_SUITE

TEST_SUITE("cuda") {

TEST_CASE("matmul ladder: a batch of more than 65535 products runs in chunks of grid.y") {
  // 65537 products: the launch of the first 65535 and a second launch of 2, whose a, b and c start
  // 65535 products in. Each product is 1 x 2 · 2 x 1 of small integers, exact in f32.
  Sizes s{65537, 1, 1, 2};
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    std::vector<float> av(size_t(2 * s.batch)), bv(size_t(2 * s.batch));
    for (size_t i = 0; i < av.size(); ++i) av[i] = float(i % 7), bv[i] = float(i % 5);
    Tensor a = from_vector(av, {s.batch, 1, 2}), b = from_vector(bv, {s.batch, 2, 1});
    Tensor got = run_rung<float>(cuda::MatmulRung::coalesced, a, b, false, false, s, 0);
    std::vector<float> g = got.to_vector<float>();
    for (size_t z = 0; z < size_t(s.batch); ++z) {
      CAPTURE(z);
      REQUIRE(g[z] == av[2 * z] * bv[2 * z] + av[2 * z + 1] * bv[2 * z + 1]);
    }
  });
}

}  // TEST_SUITE
