// tests/fuzz/fuzz_safetensors.cpp — libFuzzer target: the safetensors reader (gpt/safetensors.h).
//
// Feeds: the input bytes as a whole safetensors file to safetensors::parse (in memory; load()
// is read_file + parse).
// Asserts: no crash, no sanitizer report, no hang, only kiso::Error escapes (tests/fuzz/fuzz.h);
// and on a file the reader accepts, the writer and reader agree: serialize(parse(x)) parses
// again (an Error there is a finding too) and serializes to the same bytes (a fixed point after one round), so every tensor,
// name and metadata entry the reader returns is one the writer can write.
// Seeds: tests/fuzz/corpus/safetensors (written by kiso's own writer, then broken by hand).
#include <optional>

#include "gpt/safetensors.h"
#include "tests/fuzz/fuzz.h"

using namespace kiso;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::set_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* target = "fuzz_safetensors";
  std::optional<safetensors::File> file;
  fuzz::expect_only_kiso_errors(target, [&] { file = safetensors::parse(fuzz::as_view(data, size), "fuzz.safetensors"); });
  if (!file) return 0;
  fuzz::expect_no_error(target, "re-reading what serialize wrote from an accepted file", [&] {
    std::string once = safetensors::serialize(file->tensors, file->metadata);
    safetensors::File again = safetensors::parse(once, "fuzz.safetensors (rewritten)");
    fuzz::require(safetensors::serialize(again.tensors, again.metadata) == once, target,
                  "serialize(parse(serialize(parse(x)))) == serialize(parse(x))");
  });
  return 0;
}
