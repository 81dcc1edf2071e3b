// tests/base/test_size.cpp — overflow-checked sizes and the memory budget (base/size.h), and
// that Tensor refuses a shape whose element or byte count does not fit in int64.
//
// Oracles: products small enough to compute exactly by hand, and the int64 boundary itself
// (2^62 · 2 overflows, 2^62 · 1 does not); KISO_MEMORY_LIMIT set by the test, so the limit is
// known whatever machine runs it.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "base/size.h"
#include "tensor/tensor.h"
#include "tests/scoped_env.h"

using namespace kiso;
using kiso::testing::ScopedEnv;

TEST_SUITE("base") {

TEST_CASE("mul_size, add_size and product_size: exact below int64's limit, an Error naming what above it") {
  CHECK(mul_size(int64_t(1) << 62, 1, "t", "x") == int64_t(1) << 62);
  CHECK(product_size({2, 3, 7}, "t", "x") == 42);
  CHECK(product_size({}, "t", "x") == 1);
  CHECK(product_size({5, 0, int64_t(1) << 62}, "t", "x") == 0);
  CHECK_THROWS_WITH_AS(mul_size(int64_t(1) << 62, 2, "op", "the thing"),
                       doctest::Contains("op: the thing overflows: 4611686018427387904 × 2"), Error);
  CHECK_THROWS_WITH_AS(add_size(INT64_MAX, 1, "op", "the sum"), doctest::Contains("the sum overflows"), Error);
  // 2^57 · 128 = 2^64 wraps to 0 in plain int64 arithmetic: the defect this file exists for.
  CHECK_THROWS_AS(product_size({int64_t(1) << 57, 128}, "t", "x"), Error);
  CHECK_THROWS_WITH_AS(product_size({3, -1}, "op", "shape s"), doctest::Contains("negative dimension -1"), Error);
}

TEST_CASE("check_memory: refuses more than KISO_MEMORY_LIMIT with the figure and the limit, accepts up to it") {
  ScopedEnv limit("KISO_MEMORY_LIMIT", "2M");
  CHECK(memory_limit_bytes() == 2 * 1024 * 1024);
  CHECK_NOTHROW(check_memory(2 * 1024 * 1024, "op", "the model"));
  CHECK_THROWS_WITH_AS(check_memory(3 * 1024 * 1024, "op", "the model"),
                       doctest::Contains("op: the model needs 3.0 MiB, more than the 2.0 MiB"), Error);
  ScopedEnv bad("KISO_MEMORY_LIMIT", "lots");
  CHECK_THROWS_WITH_AS(memory_limit_bytes(), doctest::Contains("found 'lots'"), Error);
}

TEST_CASE("format_bytes: the unit grows with the figure up to EiB, so a refused model reads as 46.2 TiB") {
  CHECK(format_bytes(300) == "300 bytes");
  CHECK(format_bytes(3 * 1024 * 1024) == "3.0 MiB");
  CHECK(format_bytes(double(int64_t(3) << 30)) == "3.0 GiB");
  CHECK(format_bytes(46.2 * double(int64_t(1) << 40)) == "46.2 TiB");  // was "47308.8 GiB"
  CHECK(format_bytes(double(int64_t(5) << 50)) == "5.0 PiB");
  CHECK(format_bytes(double(INT64_MAX)) == "8.0 EiB");  // the largest size base/size.h lets through
}

TEST_CASE("without KISO_MEMORY_LIMIT the limit is the machine's physical memory") {
  ::unsetenv("KISO_MEMORY_LIMIT");
  int64_t limit = memory_limit_bytes();
  CHECK(limit > (int64_t(1) << 26));  // every machine kiso runs on has more than 64 MiB
  CHECK(limit == int64_t(::sysconf(_SC_PHYS_PAGES)) * int64_t(::sysconf(_SC_PAGE_SIZE)));
}

TEST_CASE("Tensor: a shape past int64 elements or bytes is an Error, not a wrapped small buffer") {
  CHECK_THROWS_WITH_AS(Tensor({int64_t(1) << 57, 128}, DType::f32), doctest::Contains("more than 2^63 - 1 elements"),
                       Error);
  // 2^61 elements fit in int64, but 2^61 · 4 bytes do not.
  CHECK_THROWS_WITH_AS(Tensor({int64_t(1) << 61}, DType::f32), doctest::Contains("more than 2^63 - 1 bytes"), Error);
  CHECK_THROWS_WITH_AS(Tensor({2, -3}, DType::f32), doctest::Contains("negative size"), Error);
  CHECK(numel_of({}) == 1);
}

}  // TEST_SUITE
