// tensor/ops_random.cpp — samplers over the Philox stream (base/philox.h): uniform, normal,
// and dropout. Element i always reads the same draw numbers, whichever thread computes it,
// so results are identical for any thread count and on any device that follows the layout.
// The draws come 16 Philox blocks at a time (philox_blocks16, AVX2 where there is AVX2); the
// plain draw-by-draw loops are the oracles in tests/tensor/test_ops.cpp.
// Speed (docs/benchmarks.md): dropout drew a whole block per element in a scalar loop, 15 ns
// per element on one thread and 9% of the CPU samples of a tiny training run; now 0.8 ns.
#include <algorithm>
#include <bit>
#include <cmath>
#include <numbers>
#include <type_traits>

#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/profile.h"

namespace kiso {

// Walks elements 0..n-1 in groups that one philox_blocks16 call serves, element i taking
// k = kDraws consecutive draws: offset + k·i .. offset + k·i + k - 1 of the state's stream.
// Group g holds the 64 / k elements from i0 = g·64/k, reads blocks offset/4 + 16g ..
// offset/4 + 16g + 15 (each computed once), and is handed to f(i0, count, draws) with its
// draws in order; the last group may be short. Threads take whole groups, and what element i
// gets depends on i alone: the same bits for any thread count. The plain version, one
// philox_block per draw keeping one lane (4x the work), is the oracle in
// tests/tensor/test_ops.cpp.
template <int kDraws, class F> static void for_each_group(const PhiloxState& s, int64_t n, F f) {
  static_assert(kPhiloxBatchDraws % kDraws == 0);
  constexpr int64_t per_group = kPhiloxBatchDraws / kDraws;
  const int64_t groups = (n + per_group - 1) / per_group;
  const uint64_t first_block = s.offset / 4;
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t g = 0; g < groups; ++g) {
    alignas(32) uint32_t draws[kPhiloxBatchDraws];
    philox_blocks16(s.seed, s.stream, first_block + uint64_t(g) * kPhiloxBatchBlocks, draws);
    const int64_t i0 = g * per_group;
    f(i0, std::min(per_group, n - i0), static_cast<const uint32_t*>(draws));
  }
}

// Fills n elements with f(draws_i) as dtype `dtype`, element i taking kDraws draws.
template <int kDraws, class F>
static Tensor fill_from_stream(const Shape& shape, DType dtype, const PhiloxState& s, F f) {
  Tensor out(shape, dtype);
  with_float(out, [&]<class T>(T) {
    T* p = out.data<T>();
    for_each_group<kDraws>(s, out.numel(), [=](int64_t i0, int64_t count, const uint32_t* d) {
      for (int64_t e = 0; e < count; ++e) p[i0 + e] = T(f(d + kDraws * e));
    });
  });
  return out;
}

static void check_sampler_dtype(const char* op, DType dtype) {
  check(dtype == DType::f32 || dtype == DType::f64, op, "dtype must be f32 or f64, got {}", to_string(dtype));
}

Tensor rand(const Shape& shape, Generator& gen, DType dtype) {
  OpScope scope("rand");
  check_sampler_dtype("rand", dtype);  // before take(): a refused call leaves gen untouched
  PhiloxState s = gen.take(uint64_t(numel_of(shape)));
  return fill_from_stream<1>(shape, dtype, s, [](const uint32_t* d) { return uniform_from_bits(d[0]); });
}

// Box-Muller: two uniforms u1 in (0, 1] and u2 in [0, 1) give z = sqrt(-2 ln u1) cos(2π u2),
// a standard normal. Computed in double so that float results round the same on any device.
Tensor randn(const Shape& shape, Generator& gen, DType dtype) {
  OpScope scope("randn");
  check_sampler_dtype("randn", dtype);
  PhiloxState s = gen.take(2 * uint64_t(numel_of(shape)));
  return fill_from_stream<2>(shape, dtype, s, [](const uint32_t* d) {
    double u1 = (double(d[0]) + 1.0) * 0x1p-32;  // (0, 1]: log never sees 0
    double u2 = double(d[1]) * 0x1p-32;          // [0, 1)
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  });
}

// forward:  y = x * keep / (1 - p),  keep_i = (uniform(draw i) >= p)
// backward: dx = dy * keep / (1 - p)  — the same function of dy with the same state
// Regenerating the mask costs 0.86 ms per 2^20 elements (one thread); reading a saved 1-byte
// mask would cost 0.13 ms plus ~0.1 ms to store it in the forward and the memory in between:
// ~0.5% of a tiny training step, not worth changing the contract for.
// On cuda one thread per element draws the same numbers (cuda/kernels/dropout.cu).
Tensor dropout(const Tensor& x, double p, PhiloxState state) {
  OpScope scope("dropout", x);
  check_float("dropout", x);
  check(p >= 0 && p < 1, "dropout", "p must be in [0, 1), got {}", p);
  check(state.offset % 4 == 0, "dropout", "state.offset must be a multiple of 4 (a block boundary, as Generator::take "
        "gives), got {}", state.offset);
  if (p == 0) return x.clone();
  if (x.is_cuda()) {
    Tensor y(x.shape(), x.dtype(), Device::cuda);
    launch_cuda("dropout", x, [&]<cuda::Target D, class T> {
      cuda::dropout<D>(x.cuda_data<T>(), y.cuda_data<T>(), x.numel(), p, state.seed, state.stream, state.offset);
    });
    return y;
  }
  return with_float(x, [&]<class T>(T) {
    Tensor y(x.shape(), x.dtype());
    const T* px = x.data<T>();
    T* py = y.data<T>();
    T scale = T(1.0 / (1.0 - p));
    float pf = float(p);
    // y = x·scale where kept, +0 where dropped, written as x·scale AND a mask of all ones or
    // all zeros: the same bits as `keep ? x * scale : T(0)`, but with no branch. g++ keeps the
    // ternary scalar (under -ftrapping-math it will not compute x·scale where the source does
    // not ask for it: "control flow in loop"); this form it vectorises.
    using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    for_each_group<1>(state, x.numel(), [=](int64_t i0, int64_t count, const uint32_t* d) {
      for (int64_t e = 0; e < count; ++e) {
        Bits keep = Bits(0) - Bits(uniform_from_bits(d[e]) >= pf);  // all ones when kept
        py[i0 + e] = std::bit_cast<T>(std::bit_cast<Bits>(T(px[i0 + e] * scale)) & keep);
      }
    });
    return y;
  });
}

}  // namespace kiso
