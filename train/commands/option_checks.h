// train/commands/option_checks.h — the checks a command runs on its options before any work or
// any write: a path that must name an existing file or directory, or a place a file can be
// written. Each error names the command, the flag and the path:
//   "predict: --input data/test.tsv: no such file"
// What it is not: the range checks of numeric options (each command states its own ranges next
// to its flags), or the readers' checks of what a file holds.
#pragma once

#include <filesystem>
#include <string>

#include "base/check.h"

namespace kiso {

// `path`, given to `command` as `flag`, is an existing file (or a link to one).
inline void require_file(const std::string& path, const char* command, const char* flag) {
  namespace fs = std::filesystem;
  std::error_code error;
  check(!path.empty(), command, "{} is empty; expected a file", flag);
  check(fs::exists(path, error), command, "{} {}: no such file", flag, path);
  check(!fs::is_directory(path, error), command, "{} {}: is a directory; expected a file", flag, path);
}

// `path` is an existing directory; `holds` says what it should be ("a model directory").
inline void require_dir(const std::string& path, const char* command, const char* flag, const char* holds) {
  namespace fs = std::filesystem;
  std::error_code error;
  check(!path.empty(), command, "{} is empty; expected {}", flag, holds);
  check(fs::exists(path, error), command, "{} {}: no such directory; expected {}", flag, path, holds);
  check(fs::is_directory(path, error), command, "{} {}: not a directory; expected {}", flag, path, holds);
}

// A file can be written at `path`: it is not a directory and the directory it goes in exists.
inline void require_writable_file(const std::string& path, const char* command, const char* flag) {
  namespace fs = std::filesystem;
  std::error_code error;
  check(!path.empty(), command, "{} is empty; expected a file to write", flag);
  check(!fs::is_directory(path, error), command, "{} {}: is a directory; expected a file to write", flag, path);
  fs::path parent = fs::path(path).parent_path();
  check(parent.empty() || fs::is_directory(parent, error), command, "{} {}: the directory {} does not exist", flag,
        path, parent.string());
}

// A directory can be created (or written into) at `path`: it is not an existing file.
inline void require_writable_dir(const std::string& path, const char* command, const char* flag) {
  namespace fs = std::filesystem;
  std::error_code error;
  check(!path.empty(), command, "{} is empty; expected a directory to write", flag);
  check(!fs::exists(path, error) || fs::is_directory(path, error), command,
        "{} {}: is a file; expected a directory to write", flag, path);
}

}  // namespace kiso
