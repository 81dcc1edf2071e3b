// tests/fuzz/fuzz_config.cpp — libFuzzer target: a model's config.json, parsed and validated
// (gpt/checkpoint.h config_from_json, gpt/config.h GPTConfig::validate).
//
// Feeds: the input bytes as the text of config.json: parse_json_strict, then config_from_json
// (which calls validate), then validate again on the result.
// Asserts: no crash, no sanitizer report (a signed overflow computing a size from a field is
// one: UBSan), no hang, only kiso::Error escapes (tests/fuzz/fuzz.h); and on an accepted config
// (no Error at all from here on): parameter_count does not throw and its f32 weights fit the
// 1 GiB memory budget the target sets (KISO_MEMORY_LIMIT, tests/fuzz/fuzz.h), which validate's
// check_model_memory must have enforced; and the config survives config_to_json ->
// config_from_json unchanged (the same JSON both times), so a checkpoint kiso writes is one it
// reads back.
// Seeds: tests/fuzz/corpus/config (the presets as written by config_to_json, a Hugging Face
// openai-gpt config, and broken variants: huge and negative sizes, wrong types, unknown keys).
#include <optional>

#include "gpt/checkpoint.h"
#include "tests/fuzz/fuzz.h"

using namespace kiso;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::set_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* target = "fuzz_config";
  std::optional<GPTConfig> accepted;
  fuzz::expect_only_kiso_errors(target, [&] {
    Json json = parse_json_strict(fuzz::as_view(data, size), "config.json");
    GPTConfig config = config_from_json(json, "config.json");
    config.validate();
    accepted = config;
  });
  if (!accepted) return 0;
  const GPTConfig& config = *accepted;
  fuzz::expect_no_error(target, "counting or rewriting an accepted config", [&] {
    const int64_t budget = int64_t(1) << 30;  // the "1G" of fuzz::set_memory_budget
    const int64_t n = parameter_count(config);
    fuzz::require(n > 0 && n <= budget / 4, target,
                  "an accepted config's parameter_count × 4 bytes (f32) is within the 1 GiB memory budget");
    Json written = config_to_json(config);
    GPTConfig again = config_from_json(written, "config.json (rewritten)");
    fuzz::require(config_to_json(again) == written, target,
                  "config_from_json(config_to_json(c)) == c for an accepted config");
  });
  return 0;
}
