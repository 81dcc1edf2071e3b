// tests/train/run_command.h — runs kiso commands in-process, as main does, and captures what
// they print: the tests of train/commands/ use it instead of a child process.
// What it is not: a check of the exit status path of main (tests/train/test_crash.cpp runs the
// real binary for that).
#pragma once

#include <CLI/CLI.hpp>

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace kiso::testing {

// Parses `args` (after the program name) with `app`, so the chosen command runs, and returns
// what it printed on std::cout; std::cout is restored when the command throws too.
inline std::string parse_capturing(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<const char*> argv = {"kiso"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream captured;
  std::streambuf* saved = std::cout.rdbuf(captured.rdbuf());
  try {
    app.parse(int(argv.size()), argv.data());
  } catch (...) {
    std::cout.rdbuf(saved);
    throw;
  }
  std::cout.rdbuf(saved);
  return captured.str();
}

}  // namespace kiso::testing
