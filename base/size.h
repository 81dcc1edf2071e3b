// base/size.h — element counts and byte sizes that cannot overflow silently, and the memory
// budget a size is checked against before anything is allocated.
//
// A shape read from a file (a config's vocab_size, a safetensors header, a shard's length) is
// untrusted: 2^57 × 128 wraps an int64 element count to 0, and a 0-byte buffer then reads
// out of bounds. Every element count and byte size that comes from outside is therefore
// computed here, with the compiler's overflow-checked builtins, and an overflow is an Error
// that names what was being sized:
//   "safetensors: the element count of tensor 'h.0.attn.c_attn.weight' overflows: 2^62 × 768 ..."
// The second half is the budget: check_memory refuses a size larger than the machine's memory
// (or the KISO_MEMORY_LIMIT a user sets) with the figure and what asked for it, so that a
// config with n_layer 1e9 is refused before the first allocation instead of after the last.
// What it is not: an allocator or a memory tracker; it checks one figure against one limit.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "base/check.h"

namespace kiso {

// a · b, or an Error "op: <what> overflows: a × b is more than 2^63 - 1". Both must be >= 0.
inline int64_t mul_size(int64_t a, int64_t b, const char* op, std::string_view what) {
  check(a >= 0 && b >= 0, op, "{} cannot be negative: {} × {}", what, a, b);
  int64_t out;
  if (__builtin_mul_overflow(a, b, &out)) fail(op, "{} overflows: {} × {} is more than 2^63 - 1", what, a, b);
  return out;
}

// a + b, or an Error naming `what`. Both must be >= 0.
inline int64_t add_size(int64_t a, int64_t b, const char* op, std::string_view what) {
  check(a >= 0 && b >= 0, op, "{} cannot be negative: {} + {}", what, a, b);
  int64_t out;
  if (__builtin_add_overflow(a, b, &out)) fail(op, "{} overflows: {} + {} is more than 2^63 - 1", what, a, b);
  return out;
}

// The product of `dims` (each >= 0), e.g. a shape's element count; an Error names `what` when
// a dimension is negative or the product does not fit in int64.
inline int64_t product_size(std::span<const int64_t> dims, const char* op, std::string_view what) {
  int64_t n = 1;
  for (int64_t d : dims) {
    check(d >= 0, op, "{} has a negative dimension {}", what, d);
    n = mul_size(n, d, op, what);
  }
  return n;
}
inline int64_t product_size(std::initializer_list<int64_t> dims, const char* op, std::string_view what) {
  return product_size(std::span<const int64_t>(dims.begin(), dims.size()), op, what);
}

// "45.2 TiB", "1.5 GiB", "512 MiB", "300 bytes": a byte count for an error message. int64's
// 2^63 bytes are 8 EiB, so EiB is the largest unit a checked size can need.
inline std::string format_bytes(double bytes) {
  if (bytes >= double(int64_t(1) << 60)) return fmt::format("{:.1f} EiB", bytes / double(int64_t(1) << 60));
  if (bytes >= double(int64_t(1) << 50)) return fmt::format("{:.1f} PiB", bytes / double(int64_t(1) << 50));
  if (bytes >= double(int64_t(1) << 40)) return fmt::format("{:.1f} TiB", bytes / double(int64_t(1) << 40));
  if (bytes >= double(int64_t(1) << 30)) return fmt::format("{:.1f} GiB", bytes / double(int64_t(1) << 30));
  if (bytes >= double(1 << 20)) return fmt::format("{:.1f} MiB", bytes / double(1 << 20));
  return fmt::format("{:.0f} bytes", bytes);
}

// The most memory one request may ask for: the KISO_MEMORY_LIMIT environment variable when set
// (bytes, or with a K/M/G suffix: "512M", "8G"), otherwise the machine's physical memory.
inline int64_t memory_limit_bytes() {
  if (const char* env = std::getenv("KISO_MEMORY_LIMIT"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    double value = std::strtod(env, &end);
    double scale = 1;
    if (*end == 'K' || *end == 'k') scale = double(1 << 10), ++end;
    else if (*end == 'M' || *end == 'm') scale = double(1 << 20), ++end;
    else if (*end == 'G' || *end == 'g') scale = double(int64_t(1) << 30), ++end;
    check(end != env && *end == '\0' && value > 0 && value * scale < 9.2e18, "KISO_MEMORY_LIMIT",
          "expected a positive byte count such as 4G, 512M or 1000000, found '{}'", env);
    return int64_t(value * scale);
  }
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return INT64_MAX;  // unknown: no limit beyond int64
  return int64_t(pages) * int64_t(page);
}

// Refuses `bytes` (already overflow-checked) when it exceeds memory_limit_bytes(), naming what
// needs it: "pretrain: --batch-size 1000000 needs 1200.0 GiB of activations, more than the 15.6
// GiB of memory this machine has (set KISO_MEMORY_LIMIT to change the limit)".
inline void check_memory(int64_t bytes, const char* op, std::string_view what) {
  int64_t limit = memory_limit_bytes();
  const char* source = std::getenv("KISO_MEMORY_LIMIT") != nullptr && *std::getenv("KISO_MEMORY_LIMIT") != '\0'
                           ? "KISO_MEMORY_LIMIT allows"
                           : "this machine has";
  check(bytes <= limit, op, "{} needs {}, more than the {} of memory {} (KISO_MEMORY_LIMIT sets the limit)", what,
        format_bytes(double(bytes)), format_bytes(double(limit)), source);
}

}  // namespace kiso
