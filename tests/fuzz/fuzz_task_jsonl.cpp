// tests/fuzz/fuzz_task_jsonl.cpp — libFuzzer target: .jsonl task files (train/task_data.h).
// What it feeds and asserts: tests/fuzz/fuzz_task_data.h (the input as a .jsonl file, read as
// each task kind, labels resolved; --header / --no-header refused). Seeds: tests/fuzz/corpus/task_jsonl.
#include "tests/fuzz/fuzz_task_data.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  kiso::fuzz::set_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiso::fuzz::fuzz_task_file("fuzz_task_jsonl", ".jsonl", data, size);
  return 0;
}
