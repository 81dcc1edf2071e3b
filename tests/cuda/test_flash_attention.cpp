// tests/cuda/test_flash_attention.cpp — the flash attention kernels (cuda/kernels/attention.cu)
// against their oracle, the materialised composite (tensor/ops_attention.cpp: matmul, scale,
// causal softmax, dropout, matmul), on every device there is: y and dqkv in f32 and f64, with and
// without dropout (the same PhiloxState, so the same masks), T not a multiple of the tiles, T = 1,
// several heads, B > 1, HS in each register bucket. Also: a gradcheck of the flash op in f64 on
// the simulator, bf16 precision against the CPU's bf16 attention, the kernel selection
// (set_attention_kernel, KISO_ATTENTION) and the simulated memory traffic the kernel header
// predicts (linear in T where the composite's grows with T²).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "cuda/sim/profile.h"
#include "tensor/ops.h"
#include "tensor/precision.h"
#include "tests/cuda/each_device.h"

using namespace kiso;
using kiso::testing::on_each_device;
using kiso::testing::SimulatorOn;

namespace {

// While one lives, `kernel` runs the cuda attention; the default comes back after.
struct KernelChoice {
  explicit KernelChoice(AttentionKernel kernel) { set_attention_kernel(kernel); }
  ~KernelChoice() { reset_attention_kernel(); }
};

struct Result {
  Tensor y, dqkv;  // on the host
  AttentionOutput saved;
};

// Forward and backward of one kernel on cuda, from host inputs qkv (B, T, 3C), dy (B, T, C).
Result run(AttentionKernel kernel, const Tensor& qkv, const Tensor& dy, int64_t NH, double p, PhiloxState state) {
  KernelChoice choice(kernel);
  Tensor qkv_d = qkv.to(Device::cuda), dy_d = dy.to(Device::cuda);
  AttentionOutput f = attention_forward(qkv_d, NH, p, state);
  Tensor dqkv = attention_backward(dy_d, qkv_d, f, NH, p, state);
  return {f.y.to(Device::cpu), dqkv.to(Device::cpu), f};
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}
double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

double unit_roundoff(DType dtype) { return dtype == DType::f32 ? 0x1p-24 : 0x1p-53; }

struct Case {
  int64_t B, T, NH, HS;
};

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("flash attention equals the materialised composite: y and dqkv, f32 and f64, with and without dropout") {
  // Tolerance. Both sides compute the same maths in a different order: the composite sums each
  // score over HS, each output over the T keys after normalising, and D_i over T keys; flash
  // rescales its running sums once per key tile (exp(m - m_new), at most T/16 + 1 times), sums
  // the unnormalised P̃V and divides once, and takes D_i = dY_i·Y_i (HS terms). Each is a sum of
  // at most n = T + HS + 8 rounded operations on terms whose magnitudes add up to at most the
  // result's scale: |y| <= max|V| / (1 - p) (a convex combination of V's rows, rescaled by
  // dropout), and the gradients' terms likewise to the scale of dqkv. So each side is within
  // n·u·scale of the exact value and the two within 2·n·u·scale (u = 2^-24 or 2^-53); we allow
  // 4·n·u·scale for the exponentials' own error (a few ulps each, in every P). A wrong mask, a
  // missed rescale or a skipped tile moves a value by a whole term (≫ 1e-3 of the scale).
  // Measured (simulator): see the report; f32 at most ~0.2 of the bound.
  const std::vector<Case> cases = {
      {2, 13, 3, 4},   // B > 1, several heads, T not a tile multiple
      {1, 1, 2, 8},    // T = 1: one key, P = 1
      {1, 70, 2, 4},   // two query blocks of 64, five key tiles of 16 (f64), causal skip
      {1, 5, 1, 72},   // HS in the 128 register bucket
  };
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64})
      for (const Case& c : cases)
        for (double p : {0.0, 0.3}) {
          CAPTURE(to_string(dtype));
          CAPTURE(c.B);
          CAPTURE(c.T);
          CAPTURE(c.NH);
          CAPTURE(c.HS);
          CAPTURE(p);
          Generator gen{11};
          int64_t C = c.NH * c.HS;
          Tensor qkv = randn({c.B, c.T, 3 * C}, gen, dtype), dy = randn({c.B, c.T, C}, gen, dtype);
          PhiloxState state{5, 2, 8};  // a non-zero offset and stream: the draws must follow them
          Result flash = run(AttentionKernel::flash, qkv, dy, c.NH, p, state);
          Result oracle = run(AttentionKernel::materialised, qkv, dy, c.NH, p, state);
          // flash keeps no (B·NH, T, T) tensor, the composite does.
          CHECK_FALSE(flash.saved.att.defined());
          CHECK(flash.saved.lse.shape() == Shape{c.B * c.NH, c.T});
          CHECK(oracle.saved.att.shape() == Shape{c.B * c.NH, c.T, c.T});
          double n = double(c.T + c.HS + 8), u = unit_roundoff(dtype);
          double y_tol = 4 * n * u * std::max(1.0, max_abs(oracle.y));
          double g_tol = 4 * n * u * std::max(1.0, max_abs(oracle.dqkv));
          double y_err = max_abs_diff(flash.y, oracle.y), g_err = max_abs_diff(flash.dqkv, oracle.dqkv);
          CAPTURE(y_err);
          CAPTURE(g_err);
          CHECK(y_err <= y_tol);
          CHECK(g_err <= g_tol);
        }
  });
}

TEST_CASE("flash attention's dropout is the composite's: a different state gives a different y") {
  // The parity above could pass with dropout ignored on both sides only if the composite ignored
  // it too; here the state must matter: another offset draws other masks, which move y by whole
  // terms (p = 0.5 drops about half of them).
  SimulatorOn simulator;
  Generator gen{3};
  Tensor qkv = randn({1, 9, 12}, gen, DType::f64), dy = randn({1, 9, 4}, gen, DType::f64);
  Result a = run(AttentionKernel::flash, qkv, dy, 1, 0.5, PhiloxState{5, 0, 0});
  Result b = run(AttentionKernel::flash, qkv, dy, 1, 0.5, PhiloxState{5, 0, 324});
  CHECK(max_abs_diff(a.y, b.y) > 1e-2);
}

TEST_CASE("gradcheck: the flash attention op on the simulator, f64, with and without dropout") {
  // gradcheck (autograd/gradcheck.h) perturbs host inputs; the function under test moves qkv to
  // the cuda device through `to_cuda` below — a differentiable copy whose backward copies the
  // gradient back — runs autograd's attention there (flash: the default), and brings y back.
  // That copy is the one extension gradcheck needs to reach Device::cuda; it lives here, as the
  // only caller. Tolerance: gradcheck's own (1e-6 relative, derived in gradcheck.h).
  SimulatorOn simulator;
  KernelChoice flash(AttentionKernel::flash);
  auto to_device = [](const Variable& x, Device to) {
    Device from = x.value().device();
    return Variable::record(x.value().to(to), "to_device", {x}, [from](std::vector<Variable>& in, const Tensor& dy) {
      in[0].accumulate_grad(dy.to(from));
    });
  };
  Generator gen{2024};
  for (double p : {0.0, 0.3}) {
    CAPTURE(p);
    Tensor qkv = randn({2, 5, 12}, gen, DType::f64);  // B 2, T 5, 2 heads of 2
    GradcheckResult r = gradcheck(
        [&](const std::vector<Variable>& x) {
          Generator drop{9};  // a fresh generator per call: every evaluation draws the same masks
          Variable y = attention(to_device(x[0], Device::cuda), 2, p, p > 0 ? &drop : nullptr);
          return to_device(y, Device::cpu);
        },
        {qkv}, {true});
    CAPTURE(r.worst);
    CHECK(r.passed);
  }
}

TEST_CASE("flash attention in bf16 precision matches the cpu's bf16 attention") {
  // Both round the same product inputs to bf16 (Q, K, V, dY, P̃, dS) and sum in f32, but flash
  // rounds the unnormalised P̃ = exp(S - m)·keep/(1-p) (m the running max) where the CPU rounds the
  // normalised one, and both round dS after a differently ordered f32 computation. So one input of
  // a product may round to a neighbouring bf16 on the two sides: a relative change of at most
  // 2^-8 per term. y = Σ_j P̃_ij V_j then moves by at most 2^-8 · Σ_j P̃_ij |V_j| <= 2^-8 · max|V|
  // / (1 - p); the gradients by 2^-8 of their scale per rounded factor, two factors a term
  // (dS and K in dQ, P̃ and dY in dV): 2·2^-8 of the scale. Tolerances: 2^-8 and 2^-7 of the
  // scale. To show the rounding happens at all: flash in bf16 differs from flash in f32 by more
  // than 2^-12 of the scale (bf16's step is 2^-8 relative; hundreds of rounded terms do not all
  // cancel).
  SimulatorOn simulator;
  Generator gen{17};
  int64_t B = 2, T = 11, NH = 2, HS = 8, C = NH * HS;
  Tensor qkv = randn({B, T, 3 * C}, gen), dy = randn({B, T, C}, gen);
  for (double p : {0.0, 0.2}) {
    CAPTURE(p);
    PhiloxState state{1, 0, 0};
    Result f32 = run(AttentionKernel::flash, qkv, dy, NH, p, state);
    PrecisionGuard bf16(Precision::bf16);
    Result flash = run(AttentionKernel::flash, qkv, dy, NH, p, state);
    AttentionOutput cpu_f = attention_forward(qkv, NH, p, state);
    Tensor cpu_dqkv = attention_backward(dy, qkv, cpu_f, NH, p, state);
    double y_scale = max_abs(cpu_f.y), g_scale = max_abs(cpu_dqkv);
    CHECK(max_abs_diff(flash.y, cpu_f.y) <= 0x1p-8 * max_abs(qkv) / (1 - p));
    CHECK(max_abs_diff(flash.dqkv, cpu_dqkv) <= 0x1p-7 * g_scale);
    CHECK(max_abs_diff(flash.y, f32.y) > 0x1p-12 * y_scale);
    CHECK(max_abs_diff(flash.dqkv, f32.dqkv) > 0x1p-12 * g_scale);
  }
}

TEST_CASE("the cuda attention kernel: flash by default, set_attention_kernel and KISO_ATTENTION choose") {
  const char* before = std::getenv("KISO_ATTENTION");
  std::string saved = before ? before : "";
  unsetenv("KISO_ATTENTION");
  CHECK(attention_kernel_in_use() == AttentionKernel::flash);
  setenv("KISO_ATTENTION", "materialised", 1);
  CHECK(attention_kernel_in_use() == AttentionKernel::materialised);
  set_attention_kernel(AttentionKernel::flash);  // the setter wins over the environment
  CHECK(attention_kernel_in_use() == AttentionKernel::flash);
  reset_attention_kernel();
  CHECK(attention_kernel_in_use() == AttentionKernel::materialised);
  setenv("KISO_ATTENTION", "fast", 1);
  std::string message;
  try {
    attention_kernel_in_use();
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message.find("KISO_ATTENTION") != std::string::npos);
  CHECK(message.find("'fast'") != std::string::npos);
  CHECK(message.find("flash, materialised") != std::string::npos);
  if (before) setenv("KISO_ATTENTION", saved.c_str(), 1);
  else unsetenv("KISO_ATTENTION");
  CHECK(attention_kernel_named("materialised", "test") == AttentionKernel::materialised);
  CHECK(std::string(attention_kernel_name(AttentionKernel::flash)) == "flash");
}

TEST_CASE("flash attention's simulated traffic: what the kernel header predicts, far below the composite's") {
  // The prediction of cuda/kernels/attention.cu's header, for one head (B = NH = 1), HS = 8 (a
  // 32-byte row: one sector per row): the forward reads Q once, writes y and lse once, and reads
  // K and V once per query block of 64 that sees them, block qb the keys 0 .. 64·qb + 63:
  //   bytes = T·32 (Q) + T·32 (y) + T·4 (lse) + Σ_qb 2·32·min(64·(qb + 1), T)   (K, V)
  // = 4·T·32 + 4·T for T <= 64 (everything moved once, linear in T) and 20992 at T = 128. The
  // composite moves its (T, T) scores through matmul, scale, softmax and the second matmul, and
  // copies Q, K, V and y through permutes: its bytes grow by more than 3x when T doubles from 64
  // to 128, and at T = 128 are over 20 times flash's.
  if (!sim::profile_available()) return;  // make debug: no access hooks
  SimulatorOn simulator;
  auto forward_bytes = [](AttentionKernel kernel, int64_t T) {
    KernelChoice choice(kernel);
    Generator gen{1};
    Tensor qkv = randn({1, T, 24}, gen).to(Device::cuda);
    sim::ProfileRecording recording;
    attention_forward(qkv, 1, 0.0, PhiloxState{});
    return double(recording.total().sector_bytes());
  };
  auto predicted = [](int64_t T) {
    int64_t kv = 0;
    for (int64_t q0 = 0; q0 < T; q0 += 64) kv += 2 * 32 * std::min(q0 + 64, T);
    return double(2 * T * 32 + 4 * T + kv);
  };
  for (int64_t T : {16, 32, 64, 128}) {
    CAPTURE(T);
    CHECK(forward_bytes(AttentionKernel::flash, T) == predicted(T));
  }
  CHECK(predicted(64) == double(4 * 64 * 32 + 4 * 64));
  double m64 = forward_bytes(AttentionKernel::materialised, 64), m128 = forward_bytes(AttentionKernel::materialised, 128);
  CAPTURE(m64);
  CAPTURE(m128);
  CHECK(m128 > 3 * m64);
  CHECK(m128 > 20 * predicted(128));
}

}  // TEST_SUITE
