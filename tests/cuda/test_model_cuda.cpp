// tests/cuda/test_model_cuda.cpp — a whole GPT on cuda against the same GPT on the cpu: the
// forward loss, every parameter's gradient and three AdamW steps (with gradient clipping), with
// dropout on, so the masks must line up too. Runs on every device there is: the simulator
// always (CI), the GPU when one is usable. The model is tiny so that the simulator's fibers
// finish in seconds; the kernels' own parity tests (test_kernels*.cpp) cover odd sizes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tests/cuda/each_device.h"
#include "gpt/model.h"
#include "nn/optim.h"
#include "tensor/ops.h"

using namespace kiso;
using kiso::testing::on_each_device;

namespace {

GPTConfig test_config() {
  GPTConfig c;
  c.vocab_size = 61, c.n_ctx = 16, c.n_layer = 2, c.block.n_head = 2, c.block.n_embd = 24, c.block.n_inner = 40;
  c.embd_pdrop = c.block.attn_pdrop = c.block.resid_pdrop = 0.2;  // dropout on: masks must match
  return c;
}

// max_i |a_i - b_i| / max(max_i |b_i|, tiny): one number per tensor, relative to its scale.
double relative_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();  // from either device
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < y.size(); ++i)
    diff = std::max(diff, std::abs(x[i] - y[i])), scale = std::max(scale, std::abs(y[i]));
  return diff / scale;
}

// Trains `model` for `steps` AdamW steps on one batch, recording the losses; dropout masks
// come from generator (seed 7, stream = step), as the trainer's do.
std::vector<double> train(GPT& model, const Tensor& ids, const Tensor& targets, int steps, AdamW& opt) {
  std::vector<double> losses;
  for (int step = 0; step < steps; ++step) {
    Generator rng{7, uint64_t(step)};
    Variable loss = model.loss(ids, targets, Mode::train(rng));
    losses.push_back(loss.value().item());
    loss.backward();
    clip_grad_norm(model.parameters(), 0.5);  // small enough to clip: the norm and the scaling run
    opt.step(1e-2);
    opt.zero_grad();
  }
  return losses;
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("a whole GPT on cuda: loss, gradients and 3 AdamW steps match the cpu, dropout included") {
  // Tolerances. In f64 the two devices differ only in the order of additions (matmul tiles,
  // block reductions) and in exp/tanh's last place: each op's result is within ~K·u (K ≤ 61
  // terms, u = 2^-53) of the other's, and two layers plus three optimizer steps amplify that by
  // well under 10^4, so 1e-9 relative leaves a wide margin while a wrong kernel (a dropped
  // term, a shifted dropout mask: changes of 1e-3 and more) fails it. In f32 the same
  // reasoning with u = 2^-24 gives ~1e-4; AdamW's division by √v + eps magnifies differences
  // on parameters whose gradient is near 0, so f32 gets 5e-4. Measured on the simulator: f64
  // differences ≤ 1e-14, f32 ≤ 3e-5. Each comparison is relative to the tensor's largest value.
  GPTConfig config = test_config();
  Tensor ids =
      from_vector(std::vector<int32_t>{5, 60, 0, 13, 13, 2, 44, 7, 9, 30, 1, 59, 22, 8, 3, 17, 40, 40}, {2, 9});
  Tensor targets = from_vector(std::vector<int32_t>{60, 0, 13, 13, 2, 44, 7, 9, -100, 1, 59, 22, 8, 3, 17, 40, 40, 6},
                               {2, 9});
  on_each_device([&](const std::string& device) {
    for (DType dtype : {DType::f64, DType::f32}) {
      CAPTURE(device);
      CAPTURE(to_string(dtype));
      double tol = dtype == DType::f64 ? 1e-9 : 5e-4;
      Generator init_cpu{3}, init_cuda{3};
      GPT cpu(config, init_cpu, dtype), dev(config, init_cuda, dtype);
      move_parameters(dev.parameters(), Device::cuda);
      for (const NamedParameter& p : dev.parameters()) REQUIRE(p.variable->value().is_cuda());

      // forward and backward, one batch
      Generator rng_cpu{7, 0}, rng_cuda{7, 0};
      Variable loss_cpu = cpu.loss(ids, targets, Mode::train(rng_cpu));
      Variable loss_dev = dev.loss(ids.to(Device::cuda), targets.to(Device::cuda), Mode::train(rng_cuda));
      REQUIRE(loss_dev.value().is_cuda());
      CHECK(std::abs(loss_dev.value().item() - loss_cpu.value().item()) <= tol * loss_cpu.value().item());
      loss_cpu.backward();
      loss_dev.backward();
      Parameters pc = cpu.parameters(), pd = dev.parameters();
      for (size_t i = 0; i < pc.size(); ++i) {
        CAPTURE(pc[i].name);
        REQUIRE(pd[i].variable->grad().is_cuda());
        CHECK(relative_difference(pd[i].variable->grad(), pc[i].variable->grad()) <= tol);
      }
      for (const NamedParameter& p : pc) p.variable->zero_grad();
      for (const NamedParameter& p : pd) p.variable->zero_grad();

      // three AdamW steps from the same start
      AdamWConfig hyper{0.9, 0.999, 1e-8, 0.01};
      AdamW opt_cpu(pc, hyper), opt_dev(pd, hyper);
      std::vector<double> lc = train(cpu, ids, targets, 3, opt_cpu);
      std::vector<double> ld = train(dev, ids.to(Device::cuda), targets.to(Device::cuda), 3, opt_dev);
      for (size_t s = 0; s < lc.size(); ++s) CHECK(std::abs(ld[s] - lc[s]) <= tol * lc[s]);
      CHECK(lc.back() < lc.front());  // it did train
      for (size_t i = 0; i < pc.size(); ++i) {
        CAPTURE(pc[i].name);
        REQUIRE(pd[i].variable->value().is_cuda());
        CHECK(relative_difference(pd[i].variable->value(), pc[i].variable->value()) <= tol);
      }
    }
  });
}

}  // TEST_SUITE
