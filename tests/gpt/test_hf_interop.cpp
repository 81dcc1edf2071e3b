// tests/gpt/test_hf_interop.cpp — a model directory written by Hugging Face transformers loads in
// kiso and computes what transformers computes.
//
// tests/gpt/data/hf_tiny* were written by tests/reference/make_hf_fixture.py with transformers
// 5.24 (its own OpenAIGPTLMHeadModel.save_pretrained: the config.json keys transformers writes,
// the "transformer." tensor names, no lm_head.weight), together with what transformers computed
// on them: logits at four positions of two windows of tokens, the same for the copies saved in
// float16 and bfloat16, and the mean loss over a text. This test replays it in kiso, without
// Python. The commands on the same directory (eval, sample, finetune) are tested in
// tests/train/test_hf_commands.cpp.
//
// Tolerance: both sides compute in f32, in different orders (PyTorch's blocked GEMMs against
// kiso's), through 2 blocks 16 channels wide, LayerNorm and softmax; the logits are sums of 16
// products of O(1) numbers, about ±5. A few hundred roundings of u = 6e-8 make ~1e-5 at most;
// 1e-4 absolute leaves a margin yet is far below the 1e-2 .. 1 a wrong weight, a transposed
// matrix or the wrong GELU moves a logit here (the weights are N(0, 0.3), not 0.02).
#include <doctest/doctest.h>

#include <cmath>

#include "tests/temp_dir.h"

#include <filesystem>

#include "base/bf16.h"
#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"

using namespace kiso;
namespace fs = std::filesystem;

#ifndef KISO_SOURCE_DIR
#define KISO_SOURCE_DIR "."
#endif

namespace {

const std::string kData = std::string(KISO_SOURCE_DIR) + "/tests/gpt/data/";

std::map<std::string, Tensor> expected_tensors() {
  safetensors::File f = safetensors::load(kData + "hf_tiny_expected.safetensors");
  return {f.tensors.begin(), f.tensors.end()};
}

// max |kiso's logit - transformers' logit| over the kept positions of both windows.
double max_logit_diff(const GPT& model, const std::map<std::string, Tensor>& e, const std::string& key) {
  const Tensor& ids = e.at("ids");  // i32 (2, T)
  std::vector<int32_t> positions = e.at("positions").to_vector<int32_t>();
  const Tensor& want = e.at(key);  // f32 (2, P, V)
  Tensor logits = model.logits(ids, Mode::eval()).value();  // (2, T, V)
  const int64_t T = ids.shape()[1], V = logits.shape()[2];
  REQUIRE(want.shape() == Shape{2, int64_t(positions.size()), V});
  std::vector<float> got = logits.to_vector<float>(), ref = want.to_vector<float>();
  double diff = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (size_t p = 0; p < positions.size(); ++p)
      for (int64_t v = 0; v < V; ++v)
        diff = std::max(diff, std::abs(double(got[size_t((b * T + positions[p]) * V + v)]) -
                                       double(ref[size_t((b * int64_t(positions.size()) + int64_t(p)) * V + v)])));
  return diff;
}

}  // namespace

TEST_SUITE("gpt") {

TEST_CASE("transformers' save_pretrained directory: kiso loads it as it is and gives transformers' logits") {
  GPT model = load_model(kData + "hf_tiny");
  CHECK(model.config.vocab_size == 1000);
  CHECK(model.config.block.activation == GeluKind::tanh);  // afn "gelu" in openai-gpt
  auto e = expected_tensors();
  double diff = max_logit_diff(model, e, "logits");
  MESSAGE("max |kiso - transformers| over the kept logits: " << diff);
  CHECK(diff < 1e-4);
  // The logits are not near zero (or every check above would pass for any small model).
  double largest = 0;
  for (float x : e.at("logits").to_vector<float>()) largest = std::max(largest, double(std::abs(x)));
  CHECK(largest > 1.0);
}

TEST_CASE("transformers' float16 and bfloat16 saves: widened on load, the logits transformers computes from them") {
  GPT f32 = load_model(kData + "hf_tiny");
  GPT f16 = load_model(kData + "hf_tiny_f16");
  GPT bf16 = load_model(kData + "hf_tiny_bf16");
  auto e = expected_tensors();
  CHECK(max_logit_diff(f16, e, "logits_f16") < 1e-4);
  CHECK(max_logit_diff(bf16, e, "logits_bf16") < 1e-4);
  // The weights themselves: torch rounded each f32 weight to the nearest bfloat16 (ties to even),
  // which base/bf16.h's round_bf16 computes independently: equal, to the bit. For float16,
  // round to nearest keeps 11 significant bits: |w16 - w32| <= 2^-11 |w32| (every weight here is
  // far above float16's subnormal range, 6e-5, except a few near 0, hence the 2^-25 floor).
  std::vector<NamedParameter> p32 = f32.parameters(), p16 = f16.parameters(), pb = bf16.parameters();
  REQUIRE(p32.size() == pb.size());
  int64_t bf16_off = 0, f16_off = 0, changed = 0;
  for (size_t i = 0; i < p32.size(); ++i) {
    std::vector<float> w = p32[i].variable->value().to_vector<float>();
    std::vector<float> b = pb[i].variable->value().to_vector<float>();
    std::vector<float> h = p16[i].variable->value().to_vector<float>();
    for (size_t k = 0; k < w.size(); ++k) {
      bf16_off += b[k] != round_bf16(w[k]);
      f16_off += std::abs(double(h[k]) - w[k]) > std::ldexp(std::abs(double(w[k])), -11) + std::ldexp(1.0, -25);
      changed += h[k] != w[k];
    }
  }
  CHECK(bf16_off == 0);
  CHECK(f16_off == 0);
  CHECK(changed > 0);  // the float16 copy did round (the test would pass on an f32 copy otherwise)
}

TEST_CASE("a directory whose weights are pickled or sharded says so, and how to write model.safetensors") {
  TempDir dir("hf_other_weights");
  for (const char* other : {"pytorch_model.bin", "model.safetensors.index.json"}) {
    std::string d = dir.str(other);
    fs::create_directories(d);
    fs::copy_file(kData + "hf_tiny/config.json", d + "/config.json");
    write_file_atomic(d + "/" + other, "not read");
    CAPTURE(other);
    CHECK_THROWS_WITH_AS(load_model(d), doctest::Contains(fmt::format("model.safetensors: not found, but {} is", other).c_str()),
                         Error);
  }
}

}  // TEST_SUITE
