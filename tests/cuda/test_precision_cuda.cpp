// tests/cuda/test_precision_cuda.cpp — BF16 mixed precision on cuda (tensor/precision.h): the
// round_bf16 kernel (cuda/kernels/convert.cu) against the CPU op bit for bit, a bf16 matmul
// against the CPU's, and a whole GPT's bf16 training step (loss, every gradient, an AdamW step)
// against the same step on the CPU. Runs on the simulator always, on the GPU when one is usable.
// Oracle: the CPU (tests/tensor/test_precision.cpp checks the CPU against an independent rounding).
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <string>
#include <vector>

#include "cuda/kernels.h"
#include "cuda/sim/profile.h"
#include "tests/cuda/each_device.h"
#include "gpt/model.h"
#include "nn/optim.h"
#include "tensor/ops.h"
#include "tensor/precision.h"

using namespace kiso;
using kiso::testing::on_each_device;

namespace {

// max_i |a_i - b_i| / max_i |b_i|: one number per tensor, relative to its scale.
double relative_difference(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < y.size(); ++i)
    diff = std::max(diff, std::abs(x[i] - y[i])), scale = std::max(scale, std::abs(y[i]));
  return diff / scale;
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("round_bf16 on cuda: the CPU's bits for ties, signed zero, inf, NaN, overflow, subnormals, and 1000 randoms") {
  std::vector<uint32_t> patterns = {0x3f800000u, 0x3f808000u, 0x3f818000u, 0x3f807fffu, 0x3f808001u, 0xbf818000u,
                                    0x3fffffffu, 0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7f7f0000u,
                                    0x7f7f7fffu, 0x7f7f8000u, 0x7f7fffffu, 0xff7fffffu, 0x00000001u, 0x00008000u,
                                    0x00018000u, 0x007fffffu, 0x80008001u, 0x7fc00000u, 0x7f800001u, 0xffffffffu};
  Generator gen{5};
  std::vector<float> u = rand({1000}, gen).to_vector<float>();
  for (float x : u) patterns.push_back(uint32_t(double(x) * 4294967296.0));  // over every exponent
  std::vector<float> in;
  for (uint32_t b : patterns) in.push_back(std::bit_cast<float>(b));
  Tensor x = from_vector(in, {int64_t(in.size())});  // 1024 + 24: not a whole number of blocks
  std::vector<float> cpu = round_bf16(x).to_vector<float>();
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    Tensor y = round_bf16(x.to(Device::cuda));
    REQUIRE(y.is_cuda());
    std::vector<float> dev = y.to_vector<float>();
    int64_t differ = 0;
    for (size_t i = 0; i < cpu.size(); ++i) differ += std::bit_cast<uint32_t>(dev[i]) != std::bit_cast<uint32_t>(cpu[i]);
    CHECK(differ == 0);
  });
}

TEST_CASE("matmul in bf16 on cuda: the CPU's product of the rounded inputs") {
  // Both devices multiply the same bf16 values exactly and differ only in the order of the f32
  // sums (K = 45 terms): within K·2^-24 ≈ 3e-6 of the output's scale; 1e-5 leaves room. The f32
  // product on cuda must differ from it by far more (the inputs' rounding, ~1e-3 of the scale).
  Generator gen{8};
  Tensor a = randn({3, 21, 45}, gen), b = randn({3, 33, 45}, gen);  // a·bᵀ: (3, 21, 33)
  Tensor cpu;
  {
    PrecisionGuard bf16(Precision::bf16);
    cpu = matmul(a, b, false, true);
  }
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    Tensor ad = a.to(Device::cuda), bd = b.to(Device::cuda), dev;
    {
      PrecisionGuard bf16(Precision::bf16);
      dev = matmul(ad, bd, false, true);
    }
    REQUIRE(dev.is_cuda());
    CHECK(relative_difference(dev, cpu) <= 1e-5);
    CHECK(relative_difference(matmul(ad, bd, false, true), cpu) > 1e-4);
  });
}

TEST_CASE("matmul in bf16 on cuda runs the tensor-core rung, or rounded copies through a rung chosen by hand" *
          doctest::skip(!sim::profile_available())) {
  // Which kernels a bf16 product launches, read from the simulator's record of launches: by
  // default the mma_bf16 rung alone (it rounds as it loads); with KISO_MATMUL's choice, two
  // round_bf16 launches and that rung. Both give the CPU's product of the rounded inputs.
  kiso::testing::SimulatorOn simulator;
  Generator gen{9};
  Tensor a = randn({2, 17, 40}, gen), b = randn({2, 40, 24}, gen);
  Tensor cpu;
  {
    PrecisionGuard bf16(Precision::bf16);
    cpu = matmul(a, b, false, false);
  }
  Tensor ad = a.to(Device::cuda), bd = b.to(Device::cuda);
  auto launched = [&](std::vector<std::string>& names) {
    sim::ProfileRecording recording;
    PrecisionGuard bf16(Precision::bf16);
    Tensor out = matmul(ad, bd, false, false);
    for (const sim::KernelProfile& p : recording.launches()) names.push_back(p.kernel);
    return out;
  };
  std::vector<std::string> names;
  Tensor dev = launched(names);
  REQUIRE(names.size() == 1);
  CHECK(names[0].find("mma") != std::string::npos);
  CHECK(relative_difference(dev.to(Device::cpu), cpu) < 1e-5);  // sums' order only, as above

  struct ChosenRung {  // undone however the test ends
    ChosenRung() { cuda::set_matmul_rung(cuda::MatmulRung::warptile); }
    ~ChosenRung() { cuda::reset_matmul_rung(); }
  } chosen;
  names.clear();
  dev = launched(names);
  REQUIRE(names.size() == 3);
  CHECK(names[0].find("round_bf16") != std::string::npos);
  CHECK(names[2].find("warptile") != std::string::npos);
  CHECK(relative_difference(dev.to(Device::cpu), cpu) < 1e-5);
}

TEST_CASE("a GPT's bf16 training step on cuda matches the cpu's: loss, every gradient, an AdamW step") {
  // The two devices round the same tensors at the same points (the matmul op and the attention
  // products on both; the cuda attention is the composite of matmuls), so they differ by the
  // f32 summation order (the f32 model test: <= 3e-5 measured) plus what that order does to a
  // rounding: a value within an f32 ulp or so of a bf16 rounding boundary can round to the
  // neighbouring bf16 on one device, a change of 2^-8 ≈ 4e-3 of that one element, which the
  // following sum dilutes among its other terms (C = 24, T = 9 or B·T = 18 here): ≲ 4e-4 of a
  // tensor's scale. So 1e-3 for the loss and the gradients; the f32 step's gradients, which
  // lack every rounding, are 9e-3 away from the cpu's bf16 ones (measured), and are checked to
  // be more than 3e-3 away. AdamW's first step moves each weight by about ±lr whatever the
  // gradient's size, so a gradient near 0 that changed sign would move its weight by 2·lr:
  // 5e-3 of the tensor's scale after the step (the f32 model test's reasoning). Measured on the
  // simulator: the loss identical, gradients and weights within 2e-7.
  GPTConfig c;
  c.vocab_size = 61, c.n_ctx = 16, c.n_layer = 2, c.block.n_head = 2, c.block.n_embd = 24, c.block.n_inner = 40;
  c.embd_pdrop = c.block.attn_pdrop = c.block.resid_pdrop = 0.2;  // dropout on: masks must match
  Tensor ids = from_vector(std::vector<int32_t>{5, 60, 0, 13, 13, 2, 44, 7, 9, 30, 1, 59, 22, 8, 3, 17, 40, 40}, {2, 9});
  Tensor targets =
      from_vector(std::vector<int32_t>{60, 0, 13, 13, 2, 44, 7, 9, -100, 1, 59, 22, 8, 3, 17, 40, 40, 6}, {2, 9});
  // The loss and its gradients (dropout masks from stream (7, 0)); returns the loss.
  auto step = [&](GPT& model, const Tensor& x, const Tensor& y) {
    Generator rng{7, 0};
    Variable loss = model.loss(x, y, Mode::train(rng));
    loss.backward();
    return loss.value().item();
  };
  Generator init_cpu{3};
  GPT cpu(c, init_cpu);
  AdamW opt_cpu(cpu.parameters());
  double loss_cpu;
  {
    PrecisionGuard bf16(Precision::bf16);
    loss_cpu = step(cpu, ids, targets);
  }
  // The cuda attention here is the materialised composite, which rounds at the CPU's points; the
  // flash kernel rounds the unnormalised P̃ instead (its own bf16 test: test_flash_attention.cpp).
  struct Materialised {
    Materialised() { set_attention_kernel(AttentionKernel::materialised); }
    ~Materialised() { reset_attention_kernel(); }
  } materialised;
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    Generator init{3};
    GPT dev(c, init);
    move_parameters(dev.parameters(), Device::cuda);
    AdamW opt(dev.parameters());
    Tensor x = ids.to(Device::cuda), y = targets.to(Device::cuda);
    double loss_f32 = step(dev, x, y);
    Parameters pc = cpu.parameters(), pd = dev.parameters();
    double f32_apart = 0;  // how far the f32 gradients are from the cpu's bf16 ones
    for (size_t i = 0; i < pc.size(); ++i)
      f32_apart = std::max(f32_apart, relative_difference(pd[i].variable->grad(), pc[i].variable->grad()));
    CHECK(f32_apart > 3e-3);  // f32 gradients are farther off than the tolerance below: it tells them apart
    opt.zero_grad();
    double loss_dev;
    {
      PrecisionGuard bf16(Precision::bf16);
      loss_dev = step(dev, x, y);
    }
    CHECK(std::abs(loss_dev - loss_cpu) <= 1e-3 * loss_cpu);
    CHECK(loss_dev != loss_f32);  // the mode reached the cuda path
    for (size_t i = 0; i < pc.size(); ++i) {
      CAPTURE(pc[i].name);
      CHECK(relative_difference(pd[i].variable->grad(), pc[i].variable->grad()) <= 1e-3);
    }
    opt.step(1e-2);  // AdamW is f32 in both precisions: from the gradients above
    if (device == "simulator") {  // the CPU model steps once, for the first device only
      opt_cpu.step(1e-2);
    }
    for (size_t i = 0; i < pc.size(); ++i) {
      CAPTURE(pc[i].name);
      CHECK(relative_difference(pd[i].variable->value(), pc[i].variable->value()) <= 5e-3);
    }
  });
}

}  // TEST_SUITE
