// tests/main.cpp — the doctest entry point of build/kiso_tests. The suites live beside it in
// folders that mirror the source tree (tests/tensor, tests/autograd, tests/cuda).
// Run one suite with e.g. `build/kiso_tests -ts=autograd`; list them with `-lts`.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
