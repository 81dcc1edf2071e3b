// tests/gpt/test_config_limits.cpp — GPTConfig and BlockConfig validation: every field is
// checked, the parameter count is computed with overflow checks, and a model larger than the
// memory budget is refused, naming the fields, before anything is allocated (issue 13, defects 1
// and 2).
//
// Oracles: GPT::num_parameters, which counts the tensors a built model really holds, for
// parameter_count; the int64 boundary itself for the overflow cases (each config below makes a
// product past 2^63 - 1, or a dimension past what an i32 id can address); KISO_MEMORY_LIMIT set
// by the test, so the memory budget is known whatever machine runs it. "Before anything is
// allocated" is shown by the error coming from GPTConfig / BlockConfig (not from Tensor or
// Storage) and by a memory limit of 1 MiB refusing the 2 MiB tiny preset: a build that allocated
// first would succeed and fail the test.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>

#include "gpt/checkpoint.h"
#include "tests/scoped_env.h"

using namespace kiso;
using kiso::testing::ScopedEnv;

namespace {

GPTConfig small_config() {
  GPTConfig c;
  c.vocab_size = 30, c.n_ctx = 12, c.n_layer = 2, c.block.n_head = 2, c.block.n_embd = 8, c.block.n_inner = 20;
  return c;
}

// The message validate() throws for `c`, or "(no error)".
std::string validate_error(const GPTConfig& c) {
  try {
    c.validate();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// config.json of small_config() with one key changed, read back through config_from_json.
std::string json_error(const char* key, Json value) {
  Json j = config_to_json(small_config());
  j[key] = value;
  try {
    config_from_json(j, "c.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

constexpr int64_t pow2(int e) { return int64_t(1) << e; }
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST_SUITE("gpt") {

TEST_CASE("parameter_count equals the parameters a built model holds, post-LN and pre-LN, and GPT-1's figure") {
  for (Norm norm : {Norm::post, Norm::pre}) {
    GPTConfig c = small_config();
    c.block.norm = norm;
    GPT model(c);
    CHECK(parameter_count(c) == model.num_parameters());
    CHECK(parameter_count(c.block) * c.n_layer <= model.num_parameters());
  }
  CHECK(parameter_count(preset("gpt1")) == 116'534'784);  // the paper's model (test_model.cpp counts it too)
}

TEST_CASE("GPTConfig::validate checks every field, naming it and the value found") {
  struct Case {
    const char* expected;
    std::function<void(GPTConfig&)> edit;
  };
  const Case cases[] = {
      {"vocab_size must be positive, got 0", [](GPTConfig& c) { c.vocab_size = 0; }},
      {"vocab_size 2147483649 is more than 2147483648", [](GPTConfig& c) { c.vocab_size = pow2(31) + 1; }},
      {"n_positions (n_ctx) must be positive, got -3", [](GPTConfig& c) { c.n_ctx = -3; }},
      {"n_positions (n_ctx) 2147483649 is more than 2147483648", [](GPTConfig& c) { c.n_ctx = pow2(31) + 1; }},
      {"n_layer must be positive, got 0", [](GPTConfig& c) { c.n_layer = 0; }},
      {"embd_pdrop must be in [0, 1), got 1", [](GPTConfig& c) { c.embd_pdrop = 1; }},
      {"embd_pdrop must be in [0, 1), got nan", [](GPTConfig& c) { c.embd_pdrop = kNaN; }},
      {"initializer_range must be a finite number >= 0, got -0.02", [](GPTConfig& c) { c.initializer_range = -0.02; }},
      {"initializer_range must be a finite number >= 0, got inf", [](GPTConfig& c) { c.initializer_range = kInf; }},
      {"initializer_range must be a finite number >= 0, got nan", [](GPTConfig& c) { c.initializer_range = kNaN; }},
      {"n_head must be positive, got 0", [](GPTConfig& c) { c.block.n_head = 0; }},
      {"n_embd must be positive, got -8", [](GPTConfig& c) { c.block.n_embd = -8; }},
      {"n_embd (8) must be a multiple of n_head (3)", [](GPTConfig& c) { c.block.n_head = 3; }},
      {"n_inner must be positive, got 0", [](GPTConfig& c) { c.block.n_inner = 0; }},
      {"attn_pdrop must be in [0, 1), got -0.1", [](GPTConfig& c) { c.block.attn_pdrop = -0.1; }},
      {"attn_pdrop must be in [0, 1), got nan", [](GPTConfig& c) { c.block.attn_pdrop = kNaN; }},
      {"resid_pdrop must be in [0, 1), got 1.5", [](GPTConfig& c) { c.block.resid_pdrop = 1.5; }},
      {"layer_norm_epsilon must be a finite number > 0, got 0", [](GPTConfig& c) { c.block.layer_norm_epsilon = 0; }},
      {"layer_norm_epsilon must be a finite number > 0, got inf", [](GPTConfig& c) { c.block.layer_norm_epsilon = kInf; }},
      {"layer_norm_epsilon must be a finite number > 0, got nan", [](GPTConfig& c) { c.block.layer_norm_epsilon = kNaN; }},
      {"activation 7 is not a GeluKind", [](GPTConfig& c) { c.block.activation = GeluKind(7); }},
      {"norm 5 is not a Norm", [](GPTConfig& c) { c.block.norm = Norm(5); }},
  };
  CHECK(validate_error(small_config()) == "(no error)");
  for (const Case& k : cases) {
    GPTConfig c = small_config();
    k.edit(c);
    CAPTURE(k.expected);
    CHECK(validate_error(c).find(std::string("GPTConfig: ") + k.expected) != std::string::npos);
    CHECK_THROWS_WITH_AS(GPT{c}, doctest::Contains(k.expected), Error);  // the constructor validates first
  }
}

TEST_CASE("issue 13 defect 1: configs whose sizes overflow int64 are refused by GPTConfig, naming the field") {
  // Each of these once reached Tensor (or wrapped to a small buffer and read past it: exit 139,
  // a silent "loss is nan"); now the config is refused before any tensor is made.
  CHECK(json_error("vocab_size", pow2(57)).find("c.json: GPTConfig: vocab_size 144115188075855872 is more than") !=
        std::string::npos);
  CHECK(json_error("n_positions", pow2(57)).find("c.json: GPTConfig: n_positions (n_ctx) 144115188075855872") !=
        std::string::npos);
  CHECK(json_error("n_inner", pow2(61)).find(
            "c.json: GPTConfig: the parameter count of a block (n_embd 8, n_inner 2305843009213693952) overflows") !=
        std::string::npos);
  Json huge_embd = config_to_json(small_config());
  huge_embd["n_embd"] = pow2(62);
  huge_embd["n_head"] = 1;
  std::string message;
  try {
    config_from_json(huge_embd, "c.json");
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message.find("c.json: GPTConfig: the parameter count of a block (n_embd 4611686018427387904, n_inner 20) "
                     "overflows") != std::string::npos);
  // n_inner left out means 4 · n_embd (Hugging Face's default); with n_embd 2^62 that product
  // itself overflows and must be an error, not undefined behaviour.
  huge_embd.erase("n_inner");
  CHECK_THROWS_WITH_AS(config_from_json(huge_embd, "c.json"),
                       doctest::Contains("c.json: the default n_inner (4 × n_embd) overflows: 4 × 4611686018427387904"),
                       Error);
}

TEST_CASE("issue 13 defect 2: n_layer 1e9 is refused with the parameter count, the bytes and the field") {
  GPTConfig c = small_config();
  c.n_layer = 1'000'000'000;
  // Per block: 4C² + 2C·n_inner + 9C + n_inner = 256 + 320 + 72 + 20 = 668 parameters (C = 8);
  // 1e9 of them plus the embeddings (30·8 + 12·8 = 336) is 668,000,000,336 parameters, 2.4 TiB.
  std::string message = validate_error(c);
  CAPTURE(message);
  CHECK(message.find("GPTConfig: n_layer 1000000000 × 668 parameters a block (n_embd 8, n_inner 20) + vocab_size 30 "
                     "× n_embd 8 + n_positions 12 × n_embd 8 = 668000000336 parameters; the model as f32 needs 2.4 "
                     "TiB, more than the") != std::string::npos);
  CHECK_THROWS_WITH_AS(config_from_json(config_to_json(c), "run/model/config.json"),
                       doctest::Contains("run/model/config.json: GPTConfig: n_layer 1000000000 × 668"), Error);
  // A count that fits in int64 whose bytes do not (2^61 + 476 parameters, 4 bytes each): still
  // the breakdown by field, not a bare overflow.
  c.n_layer = (int64_t(1) << 61) / 668 + 1;  // 3451860792236069 blocks: 2^61 + 140 parameters in them
  message = validate_error(c);
  CHECK(message.find("GPTConfig: n_layer 3451860792236069 × 668 parameters a block (n_embd 8, n_inner 20) + "
                     "vocab_size 30 × n_embd 8 + n_positions 12 × n_embd 8 = 2305843009213694428 parameters; the "
                     "model as f32 needs more than 2^63 - 1 bytes (8 EiB)") != std::string::npos);
  // Past int64 already in the count: the product that overflows names n_layer.
  c.n_layer = int64_t(1) << 60;
  CHECK(validate_error(c).find("GPTConfig: n_layer × a block's parameters overflows: 1152921504606846976 × 668") !=
        std::string::npos);
}

TEST_CASE("the memory budget (KISO_MEMORY_LIMIT) is checked before the model is allocated, for each dtype") {
  GPTConfig c = preset("tiny");  // 4096·128 + 128·128 + 2·(4·128² + 2·128·512 + 9·128 + 512) = 937,216 parameters
  CHECK(parameter_count(c) == 937'216);
  {
    ScopedEnv limit("KISO_MEMORY_LIMIT", "1M");  // 3.6 MiB of f32 weights do not fit
    CHECK_THROWS_WITH_AS(GPT{c}, doctest::Contains("= 937216 parameters; the model as f32 needs 3.6 MiB, more than the "
                                                   "1.0 MiB of memory KISO_MEMORY_LIMIT allows"),
                         Error);
  }
  {
    ScopedEnv limit("KISO_MEMORY_LIMIT", "4M");  // f32 fits (3.6 MiB); f64's 7.2 MiB do not
    CHECK_NOTHROW(GPT{c});
    CHECK_THROWS_WITH_AS(GPT(c, DType::f64), doctest::Contains("parameters; the model as f64 needs 7.2 MiB"), Error);
  }
  // The largest part of the model is named first: here the token embedding.
  ScopedEnv limit("KISO_MEMORY_LIMIT", "1M");
  CHECK(validate_error(c).find("GPTConfig: vocab_size 4096 × n_embd 128 + n_layer 2 × ") != std::string::npos);
}

TEST_CASE("every preset validates, and config_from_json refuses what validate refuses") {
  for (const std::string& name : preset_names()) CHECK_NOTHROW(preset(name).validate());
  CHECK(json_error("layer_norm_epsilon", 0).find("c.json: GPTConfig: layer_norm_epsilon must be a finite number > 0") !=
        std::string::npos);
  CHECK(json_error("initializer_range", -1).find("c.json: GPTConfig: initializer_range must be a finite number >= 0") !=
        std::string::npos);
  CHECK(json_error("attn_pdrop", 1).find("c.json: GPTConfig: attn_pdrop must be in [0, 1), got 1") !=
        std::string::npos);
  CHECK(json_error("n_layer", 0).find("c.json: GPTConfig: n_layer must be positive, got 0") != std::string::npos);
}

}  // TEST_SUITE
