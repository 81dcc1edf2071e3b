// tests/cuda/test_fused_rows.cpp — the fused row kernels on cuda: residual_layernorm
// (cuda/kernels/residual_layernorm.cu) and cross-entropy's one-pass forward and in-place
// backward (cuda/kernels/cross_entropy.cu). Oracles: the unfused cuda ops (dropout, add,
// layernorm), which do the same IEEE operations in the same order, so the simulator must give
// their bits; the CPU ops; and the simulator's profile (cuda/sim/profile.h) for the memory
// traffic each kernel's header predicts, and its allocator for the peak memory of a training step.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "cuda/runtime.h"
#include "cuda/sim/profile.h"
#include "gpt/model.h"
#include "tests/cuda/each_device.h"
#include "tensor/ops.h"

using namespace kiso;
using kiso::testing::on_each_device;
using kiso::testing::SimulatorOn;

namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// The fused and the unfused kernels do the same IEEE operations on the same numbers, but each is
// compiled on its own, and both g++ (-march=native; C++'s default -ffp-contract=fast) and nvcc
// may fuse a multiply into the add after it (an FMA: one rounding instead of two) in one kernel
// and not the other. So y and dx agree to a few roundings of their terms, which are O(1) here
// (randn inputs, ŝ·γ + β, rstd·(g - ...)): 8·u·(1 + |value|). A wrong mask, row or mean moves a
// value by O(1) and fails it. s has no product to fuse (x + the dropped z) and must be exact.
void require_close(const Tensor& got, const Tensor& want, const std::string& what, bool exact = false) {
  CAPTURE(what);
  REQUIRE(got.is_cuda());
  REQUIRE(got.shape() == want.shape());
  double u = got.dtype() == DType::f32 ? 0x1p-24 : 0x1p-53;
  std::vector<double> g = values(got), w = values(want);
  for (size_t i = 0; i < w.size(); ++i) {
    CAPTURE(i);
    if (exact) REQUIRE(g[i] == w[i]);
    else REQUIRE(std::abs(g[i] - w[i]) <= 8 * u * (1 + std::max(std::abs(g[i]), std::abs(w[i]))));
  }
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("residual_layernorm on cuda: the unfused cuda ops' numbers, forward and backward") {
  // N = 40 rows: a full block of 32 and a short one. C = 37 (fewer columns than threads) and 300
  // (threads take one or two columns).
  on_each_device([&](const std::string& device) {
    for (DType dtype : {DType::f32, DType::f64}) {
      for (int64_t C : {37, 300}) {
        for (double p : {0.0, 0.4}) {
          CAPTURE(device);
          CAPTURE(to_string(dtype));
          CAPTURE(C);
          CAPTURE(p);
          Generator gen{21};
          int64_t N = 40;
          auto dev = [&](Shape s) { return randn(s, gen, dtype).to(Device::cuda); };
          Tensor x = dev({N, C}), z = dev({N, C}), dy = dev({N, C}), gamma = dev({C}), beta = dev({C});
          PhiloxState state{3, 1, 12};
          ResidualLayerNormOutput f = residual_layernorm_forward(x, z, gamma, beta, 1e-5, p, state);
          Tensor s = add(x, dropout(z, p, state));
          LayerNormOutput want = layernorm_forward(s, gamma, beta, 1e-5);
          REQUIRE(f.y.is_cuda());
          require_close(f.s, s, "s", true);
          require_close(f.y, want.y, "y");
          require_close(f.mean, want.mean, "mean");
          require_close(f.rstd, want.rstd, "rstd");

          ResidualLayerNormGrads g = residual_layernorm_backward(dy, f.s, f.mean, f.rstd, gamma, p, state);
          LayerNormGrads wg = layernorm_backward(dy, s, want.mean, want.rstd, gamma);
          require_close(g.dx, wg.dx, "dx");
          require_close(g.dz, dropout(wg.dx, p, state), "dz");
          // dγ, dβ: both add the same double terms dy·ŝ (and dy), layernorm.cu row after row,
          // this kernel by blocks of 32 rows then the blocks: the two double sums differ by at
          // most N·2^-53·Σ|terms|, then each is rounded to T (u relative). Σ|terms| is taken on
          // the CPU.
          std::vector<double> hs = values(s), hdy = values(dy), hm = values(want.mean), hr = values(want.rstd);
          std::vector<double> bound_g(size_t(C), 0.0), bound_b(size_t(C), 0.0);
          for (size_t n = 0; n < size_t(N); ++n)
            for (size_t c = 0; c < size_t(C); ++c) {
              double d = hdy[n * size_t(C) + c];
              bound_g[c] += std::abs(d * (hs[n * size_t(C) + c] - hm[n]) * hr[n]);
              bound_b[c] += std::abs(d);
            }
          std::vector<double> dg = values(g.dgamma), wdg = values(wg.dgamma), db = values(g.dbeta), wdb = values(wg.dbeta);
          double u = dtype == DType::f32 ? 0x1p-24 : 0x1p-53;
          for (size_t c = 0; c < size_t(C); ++c) {
            CAPTURE(c);
            REQUIRE(std::abs(dg[c] - wdg[c]) <= 2 * u * std::abs(wdg[c]) + double(N) * 0x1p-52 * bound_g[c]);
            REQUIRE(std::abs(db[c] - wdb[c]) <= 2 * u * std::abs(wdb[c]) + double(N) * 0x1p-52 * bound_b[c]);
          }
        }
      }
    }
  });
}

TEST_CASE("residual_layernorm's simulated traffic: each number read or written once" *
          doctest::skip(!sim::profile_available())) {
  // N = 64 rows of C = 256 f32 (1 KiB, 8 full warp requests of 4 sectors), 2 blocks of 32 rows.
  // Forward, predicted from the kernel's mapping: x, z read and s, y written once each (16·C
  // bytes a row), γ and β read once a block (8·C), mean and rstd stored once a block (32 values).
  // Unfused: dropout reads z and writes its output (8·C), add reads x and it and writes s (12·C),
  // layernorm reads s for each of its three passes and γ, β a row (20·C) and writes y (4·C):
  // 44·C a row against 16·C, so the fused forward must move less than 0.4 of the bytes.
  // Backward: dy, s read and dx, dz written (16·C a row); mean, rstd and γ read and 2 partial
  // rows of doubles written once a block; then the partial rows read and dγ, dβ written by the
  // column kernel. Unfused: layernorm's dx kernel reads dy and x twice and γ twice a row, its
  // column kernel dy and x again, dropout reads dx and writes dz: 36·C a row against 16·C.
  SimulatorOn simulator;
  const int64_t N = 64, C = 256, blocks = 2;
  Generator gen{4};
  auto dev = [&](Shape s) { return randn(s, gen, DType::f32).to(Device::cuda); };
  Tensor x = dev({N, C}), z = dev({N, C}), dy = dev({N, C}), gamma = dev({C}), beta = dev({C});
  PhiloxState state{1, 2, 0};
  uint64_t fused_fwd, fused_bwd, unfused_fwd, unfused_bwd;
  ResidualLayerNormOutput f;
  {
    sim::ProfileRecording rec;
    f = residual_layernorm_forward(x, z, gamma, beta, 1e-5, 0.1, state);
    fused_fwd = rec.total().sector_bytes();
  }
  {
    sim::ProfileRecording rec;
    residual_layernorm_backward(dy, f.s, f.mean, f.rstd, gamma, 0.1, state);
    fused_bwd = rec.total().sector_bytes();
  }
  {
    sim::ProfileRecording rec;
    Tensor s = add(x, dropout(z, 0.1, state));
    LayerNormOutput l = layernorm_forward(s, gamma, beta, 1e-5);
    unfused_fwd = rec.total().sector_bytes();
    sim::ProfileRecording rec2;
    dropout(layernorm_backward(dy, s, l.mean, l.rstd, gamma).dx, 0.1, state);
    unfused_bwd = rec2.total().sector_bytes();
  }
  MESSAGE("simulated bytes, forward fused ", fused_fwd, " unfused ", unfused_fwd, "; backward fused ", fused_bwd,
          " unfused ", unfused_bwd);
  const int64_t stats = 2 * 32 * 4;  // a block's 32 means and 32 rstds, 4 sectors each
  CHECK(fused_fwd == uint64_t(N * 16 * C + blocks * (8 * C + stats)));
  CHECK(fused_bwd == uint64_t(N * 16 * C + blocks * (stats + 4 * C + 2 * 8 * C) + 2 * blocks * 8 * C + 2 * 4 * C));
  CHECK(double(fused_fwd) < 0.4 * double(unfused_fwd));
  CHECK(double(fused_bwd) < 0.45 * double(unfused_bwd));
}

TEST_CASE("cross-entropy on cuda: the logits read once by the forward, dlogits written over them") {
  SimulatorOn simulator;
  Generator gen{8};
  const int64_t N = 6, V = 1024;
  Tensor logits = mul(randn({N, V}, gen, DType::f32), 3.0);
  Tensor targets = from_vector(std::vector<int32_t>{3, -100, 1023, 0, 500, 3}, {N});
  Tensor want = cross_entropy_backward(logits.to(Device::cuda), targets, 0.5);
  Tensor mine = logits.to(Device::cuda);
  Tensor got = cross_entropy_backward(mine, targets, 0.5, -100, true);
  CHECK(got.shares_storage_with(mine));
  std::vector<double> g = values(got), w = values(want);
  for (size_t i = 0; i < w.size(); ++i) REQUIRE(g[i] == w[i]);  // the same kernel, the same reads

  if (sim::profile_available()) {
    // One pass: a kept row's V = 1024 floats (4 KiB, 256-byte aligned) are read once, 4 rounds of
    // 8 warps of 4 sectors: 128 sectors; every warp reads the row's target (8 requests of one
    // sector) and one lane the target's logit (1). The ignored row reads its target only (8).
    // Two passes (max, then sum) read the 5 kept rows twice: 640 sectors more, 20 480 bytes.
    sim::ProfileRecording rec;
    cross_entropy_forward(logits.to(Device::cuda), targets);
    sim::KernelProfile rows = rec.total("cross_entropy_rows_kernel");
    CHECK(rows.global_load.sectors == uint64_t(5 * (128 + 8 + 1) + 8));
  }
}

TEST_CASE("a training step on the simulator holds one (B·T, V) buffer fewer at the loss") {
  // The logits are the step's largest tensor when V is large against C: B·T = 16, V = 4096, so a
  // (16, 4096) f32 buffer is 256 KiB and every other activation is (16, 16) or (16, 64). The
  // oracle is the same step with the logits kept by the caller (cross_entropy then allocates
  // dlogits as before): its peak must exceed the handed-over step's by one logits buffer.
  SimulatorOn simulator;
  GPTConfig c;
  c.vocab_size = 4096;
  c.n_ctx = 8;
  c.n_layer = 1;
  c.block.n_embd = 16;
  c.block.n_head = 2;
  c.block.n_inner = 64;
  Generator init{1};
  GPT model(c, init);
  move_parameters(model.parameters(), Device::cuda);
  Tensor ids = from_vector(std::vector<int32_t>(16, 7), {2, 8}), targets = from_vector(std::vector<int32_t>(16, 9), {2, 8});
  auto step_peak = [&](bool keep_logits) {
    Generator dropout_rng{2};
    cuda::reset_peak_memory();
    size_t before = cuda::memory_stats().in_use;
    Variable kept;
    Variable loss;
    if (keep_logits) {
      kept = reshape(model.logits(ids, Mode::train(dropout_rng)), {-1, c.vocab_size});
      loss = cross_entropy(kept, targets.reshape({-1}));
    } else {
      loss = model.loss(ids, targets, Mode::train(dropout_rng));
    }
    loss.backward();
    double l = loss.value().item();
    for (const NamedParameter& p : model.parameters()) p.variable->zero_grad();
    return std::pair<size_t, double>{cuda::memory_stats().peak_in_use - before, l};
  };
  auto [handed, loss_handed] = step_peak(false);
  auto [kept, loss_kept] = step_peak(true);
  size_t logits_bytes = 16 * 4096 * 4;
  MESSAGE("peak over the step: logits handed over ", handed, " bytes, kept ", kept, " bytes");
  CHECK(loss_handed == loss_kept);  // the same step, the same draws
  CHECK(kept - handed == logits_bytes);
}

}  // TEST_SUITE
