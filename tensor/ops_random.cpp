// tensor/ops_random.cpp — samplers over the Philox stream (base/philox.h): uniform, normal,
// and dropout. Element i always reads the same draw numbers, whichever thread computes it,
// so results are identical for any thread count and on any device that follows the layout.
#include <cmath>
#include <numbers>

#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/profile.h"

namespace kiso {

// Draw number `d` (relative to the state's offset) of the stream, as 32 random bits.
static uint32_t draw(const PhiloxState& s, uint64_t d) {
  uint64_t index = s.offset + d;
  return philox_block(s.seed, s.stream, index / 4)[index % 4];
}

// Fills n elements with f(state, i) for i = 0..n-1, in parallel, as dtype `dtype`.
template <class F> static Tensor fill_from_stream(const Shape& shape, DType dtype, F f) {
  Tensor out(shape, dtype);
  int64_t n = out.numel();
  with_float(out, [&]<class T>(T) {
    T* p = out.data<T>();
#pragma omp parallel for if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) p[i] = T(f(uint64_t(i)));
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
  return fill_from_stream(shape, dtype, [&](uint64_t i) { return uniform_from_bits(draw(s, i)); });
}

// Box-Muller: two uniforms u1 in (0, 1] and u2 in [0, 1) give z = sqrt(-2 ln u1) cos(2π u2),
// a standard normal. Computed in double so that float results round the same on any device.
Tensor randn(const Shape& shape, Generator& gen, DType dtype) {
  OpScope scope("randn");
  check_sampler_dtype("randn", dtype);
  PhiloxState s = gen.take(2 * uint64_t(numel_of(shape)));
  return fill_from_stream(shape, dtype, [&](uint64_t i) {
    double u1 = (double(draw(s, 2 * i)) + 1.0) * 0x1p-32;  // (0, 1]: log never sees 0
    double u2 = double(draw(s, 2 * i + 1)) * 0x1p-32;     // [0, 1)
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  });
}

// forward:  y = x * keep / (1 - p),  keep_i = (uniform(draw i) >= p)
// backward: dx = dy * keep / (1 - p)  — the same function of dy with the same state
// On cuda one thread per element draws the same numbers (cuda/kernels/dropout.cu).
Tensor dropout(const Tensor& x, double p, PhiloxState state) {
  OpScope scope("dropout", x);
  check_float("dropout", x);
  check(p >= 0 && p < 1, "dropout", "p must be in [0, 1), got {}", p);
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
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (int64_t i = 0; i < x.numel(); ++i) py[i] = uniform_from_bits(draw(state, uint64_t(i))) >= pf ? px[i] * scale : T(0);
    return y;
  });
}

}  // namespace kiso
