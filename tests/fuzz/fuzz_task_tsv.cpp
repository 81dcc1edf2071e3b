// tests/fuzz/fuzz_task_tsv.cpp — libFuzzer target: .tsv task files (train/task_data.h).
// What it feeds and asserts: tests/fuzz/fuzz_task_data.h (the input as a .tsv file: plain TSV or GLUE, read as
// each task kind with the header row detected and forced, labels resolved). Seeds: tests/fuzz/corpus/task_tsv.
#include "tests/fuzz/fuzz_task_data.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  kiso::fuzz::set_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiso::fuzz::fuzz_task_file("fuzz_task_tsv", ".tsv", data, size);
  return 0;
}
