// tests/scoped_env.h — sets an environment variable for one scope and unsets it after, for
// tests of behaviour an environment variable controls (KISO_MEMORY_LIMIT, ...). Tests run one
// at a time, so a process-wide variable is safe to change here.
#pragma once

#include <cstdlib>
#include <string>

namespace kiso::testing {

struct ScopedEnv {
  std::string name;
  ScopedEnv(const char* n, const char* value) : name(n) { ::setenv(n, value, 1); }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
};

}  // namespace kiso::testing
