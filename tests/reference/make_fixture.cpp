// tests/reference/make_fixture.cpp — writes the input half of a golden test: a tiny kiso
// model directory and the batches and optimizer settings the reference replays.
//
//   build/make_fixture DIR     -> DIR/config.json, DIR/model.safetensors, DIR/batches.safetensors
//
// `make golden` runs this, then tests/reference/gpt1_reference.py (PyTorch) on DIR, which
// writes DIR/reference.safetensors; tests/gpt/test_golden.cpp replays the same steps in kiso
// and compares. Everything is seeded: rerunning it rewrites identical files.
#include <cstdio>

#include "gpt/checkpoint.h"

using namespace kiso;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  try {
    GPTConfig c;
    c.vocab_size = 37, c.n_ctx = 8, c.n_layer = 2, c.block.n_head = 2, c.block.n_embd = 16, c.block.n_inner = 64;
    c.embd_pdrop = c.block.attn_pdrop = c.block.resid_pdrop = 0.0;  // the reference cannot replay kiso's masks
    c.initializer_range = 0.2;  // larger than GPT's 0.02: non-trivial attention and activations
    Generator gen{20240520};
    GPT model(c, gen);
    save_model(dir, model);

    // Three batches (2, 8): ids, and targets = the next id, one position ignored (-100).
    safetensors::NamedTensors batches;
    Generator data{7};
    for (int k = 0; k < 3; ++k) {
      std::vector<float> u = rand({2, 9}, data).to_vector<float>();
      std::vector<int32_t> ids, targets;
      for (int b = 0; b < 2; ++b)
        for (int t = 0; t < 8; ++t) {
          ids.push_back(int32_t(u[size_t(b * 9 + t)] * 37));
          targets.push_back(int32_t(u[size_t(b * 9 + t + 1)] * 37));
        }
      targets[size_t(3 + k)] = -100;
      batches.emplace_back("ids." + std::to_string(k), from_vector(ids, {2, 8}));
      batches.emplace_back("targets." + std::to_string(k), from_vector(targets, {2, 8}));
    }
    safetensors::save(dir + "/batches.safetensors", batches,
                      {{"lr", "0.01"}, {"beta1", "0.9"}, {"beta2", "0.999"}, {"eps", "1e-08"},
                       {"weight_decay", "0.01"}, {"steps", "3"}});
    std::printf("wrote %s/{config.json, model.safetensors, batches.safetensors}\n", dir.c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "make_fixture: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
