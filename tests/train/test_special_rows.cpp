// tests/train/test_special_rows.cpp — the special-token rows: drawn anew (and the embedding
// grown when the vocabulary lacks them), and --freeze-backbone's mask: after AdamW steps with
// weight decay only the three rows have moved, every other row is bit for bit what it was, on
// the cpu, the simulator and a GPU when there is one. Oracle: the weights before the steps.
#include <doctest/doctest.h>

#include <algorithm>

#include "tests/cuda/each_device.h"
#include "nn/optim.h"
#include "train/special_rows.h"

using namespace kiso;

namespace {

GPT toy_model(int64_t vocab) {
  GPTConfig c;
  c.vocab_size = vocab, c.n_ctx = 8, c.n_layer = 1, c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 16;
  Generator gen{4};
  return GPT(c, gen);
}

// Which rows of (V, C) values differ between a and b.
std::vector<int64_t> changed_rows(const std::vector<float>& a, const std::vector<float>& b, int64_t C) {
  std::vector<int64_t> rows;
  for (int64_t v = 0; v < int64_t(a.size()) / C; ++v)
    if (!std::equal(a.begin() + v * C, a.begin() + (v + 1) * C, b.begin() + v * C)) rows.push_back(v);
  return rows;
}

// Two AdamW steps (weight decay on) of a frozen-backbone model on one batch, as the training
// loop runs them: backward, mask, update, put the frozen rows back.
void train_frozen(GPT& model, const SpecialIds& special, Device device) {
  move_parameters(model.parameters(), device);
  FrozenBackbone frozen = freeze_backbone(model, special);
  AdamW opt(frozen.trainable, AdamWConfig{.weight_decay = 0.5});
  Tensor ids = from_vector(std::vector<int32_t>{special.start, 3, special.delim, 5, special.extract, 1}, {1, 6});
  Tensor targets = from_vector(std::vector<int32_t>{3, 4, 5, 6, 7, 2}, {1, 6});
  for (int step = 0; step < 2; ++step) {
    model.loss(ids.to(device), targets.to(device), Mode::eval()).backward();
    frozen.rows.mask_gradient();
    opt.step(1e-2);
    opt.zero_grad();
    frozen.rows.restore_frozen_rows();
  }
}

}  // namespace

TEST_SUITE("train") {

TEST_CASE("draw_special_token_rows: new rows for the three ids, the others kept; the vocabulary grows to hold them") {
  GPT model = toy_model(20);
  std::vector<float> before = model.tokens_embed.weight.value().to_vector<float>();
  Generator gen{9};
  draw_special_token_rows(model, {4, 7, 21, 0}, gen);  // 21 is past the vocabulary of 20
  CHECK(model.config.vocab_size == 22);
  std::vector<float> after = model.tokens_embed.weight.value().to_vector<float>();
  before.resize(after.size());  // rows 20 and 21 are new either way
  CHECK(changed_rows(before, after, 8) == std::vector<int64_t>{4, 7, 20, 21});
}

TEST_CASE("freeze_backbone: only the special rows train; the frozen rows stay bit for bit, on every device") {
  SpecialIds special{2, 5, 9, 0};
  auto check_on = [&](Device device) {
    GPT model = toy_model(12);
    std::vector<float> before = model.tokens_embed.weight.value().to_vector<float>();
    std::vector<float> block_before = model.h[0].parameters()[0].variable->value().to_vector<float>();
    train_frozen(model, special, device);
    CHECK(model.tokens_embed.weight.value().device() == device);
    std::vector<float> after = model.tokens_embed.weight.value().to_vector<float>();
    CHECK(changed_rows(before, after, 8) == std::vector<int64_t>{2, 5, 9});
    CHECK(model.h[0].parameters()[0].variable->value().to_vector<float>() == block_before);
    CHECK_FALSE(model.positions_embed.weight.requires_grad());
  };
  check_on(Device::cpu);
  testing::on_each_device([&](const std::string& backend) {
    CAPTURE(backend);
    check_on(Device::cuda);
  });
}

}  // TEST_SUITE
