// tests/cuda/test_roundtrips.cpp — a training step on the cuda device reads back from the device
// only what it logs. A device-to-host copy waits for every kernel queued before it, so one in
// the middle of a step stalls the GPU's queue; cuda/runtime.h counts them (the simulator's too),
// and this test runs whole steps of the one training loop (train/loop.h), pre-training style and
// fine-tuning with a frozen backbone, and counts. The documented reads, two a step:
//   the loss              train/loop.cpp: checked for a non-finite value, and logged
//   the gradient norm     train/loop.cpp: logged, read after the update is queued
// (The loss's gradient was a third: autograd's cross_entropy backward read it to pass it to the
// kernel as a double; the kernel now reads it from device memory, as AdamW reads the clip factor.)
// Oracle: that count, exact, so that a new read fails here and a removed one is written down.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/runtime.h"
#include "gpt/model.h"
#include "nn/optim.h"
#include "tensor/ops.h"
#include "tests/cuda/each_device.h"
#include "train/loop.h"
#include "train/special_rows.h"

using namespace kiso;

namespace {

constexpr uint64_t kDocumentedReads = 2;  // a step's reads from the device, listed above

GPT small_model() {
  GPTConfig c;
  c.vocab_size = 12, c.n_ctx = 8, c.n_layer = 1, c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 16;
  Generator gen{4};
  return GPT(c, gen);
}

// Runs `steps` steps of train_loop on `params` with the batch on the host (as the trainers keep
// it) and returns the device-to-host copies the loop made. Validation and checkpoints are
// constant hooks here: they are not part of a step.
uint64_t copies_back_in_loop(GPT& model, const Parameters& params, int64_t steps, const LoopHooks& extra) {
  AdamW opt(params);
  Tensor ids = from_vector(std::vector<int32_t>{2, 3, 5, 5, 11, 1, 0, 7}, {2, 4});      // (B, T) on the host
  Tensor targets = from_vector(std::vector<int32_t>{3, 4, 5, 6, 7, 2, 9, 9}, {2, 4});  // (B, T)
  LoopSettings s;
  s.end = steps;
  s.clip = 0.5;  // small enough to clip: the factor is applied on the device
  s.schedule = {ScheduleKind::constant, 1e-3, 0, steps};
  s.tokens_per_step = 8;
  s.log_path = (std::filesystem::temp_directory_path() / "kiso_test_roundtrips.jsonl").string();
  s.quiet = true;
  std::filesystem::remove(s.log_path);
  Generator dropout{7};
  LoopHooks hooks = extra;
  hooks.loss = [&](int64_t, int64_t) { return model.loss(ids, targets, Mode::train(dropout)); };
  hooks.validate = [] { return Validation{}; };
  hooks.checkpoint = [](int64_t) {};
  std::ostringstream log;
  uint64_t before = cuda::copy_counts().device_to_host;
  LoopResult r = train_loop(s, params, opt, hooks, log);
  uint64_t copies = cuda::copy_counts().device_to_host - before;
  std::filesystem::remove(s.log_path);
  REQUIRE(r.records.size() == size_t(steps));
  CHECK(r.records.back().grad_norm > 0.5);  // it clipped, and the norm was read for the log
  return copies;
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("a training step on cuda reads back only the documented scalars, frozen backbone included") {
  testing::SimulatorOn simulator;
  {
    GPT model = small_model();
    move_parameters(model.parameters(), Device::cuda);
    CHECK(copies_back_in_loop(model, model.parameters(), 3, {}) == kDocumentedReads * 3);
  }
  {
    GPT model = small_model();
    move_parameters(model.parameters(), Device::cuda);
    FrozenBackbone frozen = freeze_backbone(model, {2, 5, 9, 0});
    LoopHooks hooks;
    hooks.before_update = [&] { frozen.rows.mask_gradient(); };
    hooks.after_update = [&] { frozen.rows.restore_frozen_rows(); };
    CHECK(copies_back_in_loop(model, frozen.trainable, 3, hooks) == kDocumentedReads * 3);
  }
}

TEST_CASE("embedding_backward on cuda: grouped on the device, the cpu's bits, nothing read back") {
  // 700 positions (three tiles of the scatter's 256) over a vocabulary of 50 where ids 0 and 49
  // never occur (rows of zeros, written by the row kernel) and id 7 occurs in every tile (its
  // cursor carried from tile to tile). The cpu adds each id's positions in increasing order, in
  // T; so must the device: tolerance 0, on the GPU too (plain adds in the same order).
  testing::on_each_device([&](const std::string& backend) {
    CAPTURE(backend);
    for (DType dtype : {DType::f32, DType::f64}) {
      const int64_t N = 700, V = 50, C = 300;  // C > 256: a thread takes two channels
      std::vector<int32_t> id(N);
      for (int64_t n = 0; n < N; ++n) id[size_t(n)] = n % 9 == 0 ? 7 : int32_t(1 + (n * 37) % 47);
      Tensor ids = from_vector(id, {N});
      Generator gen{8};
      Tensor dout = randn({N, C}, gen, dtype);
      Tensor want = embedding_backward(dout, ids, V);
      Tensor dout_d = dout.to(Device::cuda), ids_d = ids.to(Device::cuda);
      uint64_t back = cuda::copy_counts().device_to_host;
      Tensor from_device_ids = embedding_backward(dout_d, ids_d, V), from_host_ids = embedding_backward(dout_d, ids, V);
      CHECK(cuda::copy_counts().device_to_host == back);  // neither read anything back
      CHECK(from_device_ids.to_vector<double>() == want.to_vector<double>());
      CHECK(from_host_ids.to_vector<double>() == want.to_vector<double>());
      std::vector<double> w = want.to_vector<double>();
      CHECK(std::all_of(w.begin(), w.begin() + C, [](double x) { return x == 0; }));  // id 0: zeros
      CHECK(w[size_t(7 * C)] != 0);
    }
  });
}

TEST_CASE("the copy counter counts each direction, on the simulator") {
  testing::SimulatorOn simulator;
  cuda::CopyCounts before = cuda::copy_counts();
  Tensor x = from_vector(std::vector<float>{1, 2, 3}, {3}).to(Device::cuda);  // one up
  Tensor y = x.clone();                                                       // one on the device
  CHECK(y.to_vector<float>() == std::vector<float>{1, 2, 3});                 // one back
  cuda::CopyCounts after = cuda::copy_counts();
  CHECK(after.host_to_device - before.host_to_device == 1);
  CHECK(after.device_to_device - before.device_to_device == 1);
  CHECK(after.device_to_host - before.device_to_host == 1);
  CHECK(after.device_to_host_bytes - before.device_to_host_bytes == 12);
}

}  // TEST_SUITE
