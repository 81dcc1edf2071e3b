// tests/temp_dir.h — a fresh temporary directory for one test, shared by the suites that
// write files. The name carries the process id, so two test runs at once (a developer's and
// CI's, or parallel builds) never share a directory; the destructor never throws.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

struct TempDir {
  std::filesystem::path path;

  explicit TempDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("kiso_test_" + name + "_" + std::to_string(::getpid()))) {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The directory itself, or `file` inside it.
  std::string str(const std::string& file = "") const { return file.empty() ? path.string() : (path / file).string(); }
};
