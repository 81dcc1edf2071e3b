// tests/fuzz/fuzz.h — what every libFuzzer target of kiso shares: the rule that only
// kiso::Error may leave a reader, and a memory budget below libFuzzer's. Every target calls a
// reader's in-memory entry point (parse, parse_shard, parse_task_data, from_text), so no
// target writes a file.
//
// The property every target asserts: on any input bytes a reader returns or throws
// kiso::Error, and does nothing else. A crash, a sanitizer report (ASan, UBSan), a hang
// (libFuzzer's -timeout) or an allocation beyond libFuzzer's -malloc_limit_mb is a finding; so
// is any other exception type (std::out_of_range from nlohmann, std::bad_alloc from a size
// taken from the file, std::length_error from a vector): expect_only_kiso_errors prints its
// type and message and aborts, which libFuzzer reports as a crash and saves the input.
// What it is not: a test of error messages (the doctest suites check those); a target only
// knows that an Error was thrown, not that its text is right.
//
// Read next: tests/fuzz/README.md (running a target, adding a regression input).
#pragma once

#include <cxxabi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <typeinfo>

#include "base/check.h"

namespace kiso::fuzz {

// The memory budget kiso checks sizes against (base/size.h check_memory): 1 GiB, below
// libFuzzer's default -malloc_limit_mb of 2048, so that a size read from the input that
// kiso's own check lets through is caught by libFuzzer as an out-of-memory finding instead of
// being allocated. Each target calls this from LLVMFuzzerInitialize.
inline void set_memory_budget() { ::setenv("KISO_MEMORY_LIMIT", "1G", 1); }

// Runs body(); a kiso::Error is the expected way to refuse bad input and is swallowed; any
// other exception is a finding.
template <class Body>
void expect_only_kiso_errors(const char* target, Body&& body) {
  try {
    body();
  } catch (const kiso::Error&) {
    // refused, as it should be
  } catch (const std::exception& e) {
    int status = 0;
    char* type = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    std::fprintf(stderr, "%s: FINDING: an exception other than kiso::Error escaped: %s: %s\n", target,
                 status == 0 ? type : typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "%s: FINDING: a non-std exception escaped\n", target);
    std::abort();
  }
}

// Runs body(), which works on input a reader has accepted and so must not be refused (e.g.
// reading back what kiso wrote from it): any exception, kiso::Error included, is a finding.
template <class Body>
void expect_no_error(const char* target, const char* what, Body&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: FINDING: %s threw: %s\n", target, what, e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "%s: FINDING: %s threw a non-std exception\n", target, what);
    std::abort();
  }
}

// A property that must hold on accepted input (e.g. decode(encode(x)) == x); aborts otherwise.
inline void require(bool cond, const char* target, const char* what) {
  if (!cond) {
    std::fprintf(stderr, "%s: FINDING: property violated: %s\n", target, what);
    std::abort();
  }
}

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace kiso::fuzz
