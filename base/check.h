// base/check.h — how kiso reports bad input.
//
// Every op validates its inputs before touching memory and throws kiso::Error with a message
// that names the op and says what was expected and what was found, e.g.
//   "matmul: inner dimensions differ: a is (4, 3), b is (5, 2); expected a.size(-1) == b.size(-2)"
// Only main() turns an Error into an exit code. This file is the one place the message format
// lives, so ops never repeat formatting boilerplate.
// base/ holds the leaf headers that both tensor/ and cuda/ include (this one, size.h, philox.h); they
// include nothing of kiso's, so the arrows between those two folders run one way.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace kiso {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// check(cond, "op", "format {}", args...): throws Error("op: message") when cond is false.
template <class... Args>
inline void check(bool cond, const char* op, fmt::format_string<Args...> format, Args&&... args) {
  if (!cond) throw Error(std::string(op) + ": " + fmt::format(format, std::forward<Args>(args)...));
}

template <class... Args>
[[noreturn]] inline void fail(const char* op, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(std::string(op) + ": " + fmt::format(format, std::forward<Args>(args)...));
}

// "a, b, c": the parts of a message (a list of names, of differences) joined by `separator`.
// (fmt::join would do, but trips a false -Wstringop-overflow in GCC 12 with fmt 9.)
inline std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

}  // namespace kiso
