// tests/fuzz/fuzz_json.cpp — libFuzzer target: strict JSON parsing and typed field access
// (gpt/json.h).
//
// Feeds: the input bytes as JSON text to parse_json_strict; when that gives an object, every
// key of it to get_int, get_number, get_string and get_bool, and every value to describe_json.
// Asserts: no crash, no sanitizer report, no hang, only kiso::Error escapes (tests/fuzz/fuzz.h:
// e.g. a nlohmann type_error or out_of_range leaking through would be a finding); and what the
// strict parser accepts, nlohmann can dump and the strict parser accepts again as the same
// value (so no NUL, duplicate key or invalid UTF-8 hides in an accepted document).
// Seeds: tests/fuzz/corpus/json (configs, a safetensors header, duplicate keys, NUL, bad UTF-8).
#include "gpt/json.h"
#include "tests/fuzz/fuzz.h"

using namespace kiso;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::set_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Json value;
  bool parsed = false;
  fuzz::expect_only_kiso_errors("fuzz_json", [&] {
    value = parse_json_strict(fuzz::as_view(data, size), "fuzz.json");
    parsed = true;
  });
  if (!parsed) return 0;
  fuzz::expect_only_kiso_errors("fuzz_json", [&] {
    Json again = parse_json_strict(value.dump(), "fuzz.json (dumped)");
    fuzz::require(again == value, "fuzz_json", "parse_json_strict(dump(v)) == v");
  });
  (void)describe_json(value);
  if (!value.is_object()) return 0;
  for (const auto& item : value.items()) {
    const std::string& key = item.key();
    (void)describe_json(item.value());
    fuzz::expect_only_kiso_errors("fuzz_json", [&] { (void)has_key(value, key.c_str()); });
    fuzz::expect_only_kiso_errors("fuzz_json", [&] { (void)get_int(value, key.c_str(), "fuzz.json"); });
    fuzz::expect_only_kiso_errors("fuzz_json", [&] { (void)get_number(value, key.c_str(), "fuzz.json"); });
    fuzz::expect_only_kiso_errors("fuzz_json", [&] { (void)get_string(value, key.c_str(), "fuzz.json"); });
    fuzz::expect_only_kiso_errors("fuzz_json", [&] { (void)get_bool(value, key.c_str(), "fuzz.json"); });
  }
  return 0;
}
