// tests/fuzz/fuzz_safetensors.cpp — libFuzzer target: the safetensors reader (gpt/safetensors.h).
//
// Feeds: the input bytes as a whole safetensors file to safetensors::parse (in memory; load()
// is read_file + parse).
// Asserts: no crash, no sanitizer report, no hang, only kiso::Error escapes (tests/fuzz/fuzz.h);
// and on a file the reader accepts, the writer and reader agree: serialize(parse(x)) parses
// again and serializes to the same bytes (a fixed point after one round), so every tensor,
// name and metadata entry the reader returns is one the writer can write.
// Seeds: tests/fuzz/corpus/safetensors (written by kiso's own writer, then broken by hand).
#include "gpt/safetensors.h"
#include "tests/fuzz/fuzz.h"

using namespace kiso;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::set_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_only_kiso_errors("fuzz_safetensors", [&] {
    safetensors::File file = safetensors::parse(fuzz::as_view(data, size), "fuzz.safetensors");
    std::string once = safetensors::serialize(file.tensors, file.metadata);
    safetensors::File again = safetensors::parse(once, "fuzz.safetensors (rewritten)");
    fuzz::require(safetensors::serialize(again.tensors, again.metadata) == once, "fuzz_safetensors",
                  "serialize(parse(serialize(parse(x)))) == serialize(parse(x))");
  });
  return 0;
}
