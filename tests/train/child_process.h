// tests/train/child_process.h — runs the real `kiso` binary (beside the test binary) as a child
// process, optionally under a launcher (mpirun), with its output in files, a file-size limit
// and a deadline: what the crash tests (test_crash.cpp) and the distributed tests
// (test_distributed.cpp) share.
// Why a child process that execs kiso, and never a fork that trains: OpenMP's thread pool does
// not survive fork() (the child can hang), a kill must hit a whole process, and MPI needs its
// launcher.
#pragma once

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gpt/atomic_file.h"

extern char** environ;

namespace kiso::testing {

// build/<config>/kiso, beside build/<config>/kiso_tests.
inline std::string kiso_binary() {
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "kiso";
  REQUIRE_MESSAGE(std::filesystem::exists(exe), exe.string() << " is missing: the crash tests run the kiso binary (make builds it)");
  return exe.string();
}

struct Launch {
  std::vector<std::string> launcher;  // before kiso: e.g. mpirun and its options (launcher[0] a full path)
  std::vector<std::string> args;  // after "kiso"
  std::vector<std::string> env;   // NAME=value, added to this process's environment
  std::string out = "/dev/null", err = "/dev/null";  // where stdout and stderr go
  rlim_t file_size_limit = RLIM_INFINITY;

  Launch(std::vector<std::string> args_) : args(std::move(args_)) {}
  Launch& under(std::vector<std::string> l) { return launcher = std::move(l), *this; }
  Launch& with_env(const std::string& e) { return env.push_back(e), *this; }
  Launch& stdout_to(const std::string& path) { return out = path, *this; }
  Launch& stderr_to(const std::string& path) { return err = path, *this; }
  Launch& file_size_at_most(rlim_t bytes) { return file_size_limit = bytes, *this; }
};

// Starts kiso as a child process. Everything the child needs is built before fork(): between
// fork and exec only async-signal-safe calls (open, dup2, setrlimit, sigaction, execve).
inline pid_t start(const Launch& l) {
  std::vector<std::string> argv_s = l.launcher;
  argv_s.push_back(kiso_binary());
  argv_s.insert(argv_s.end(), l.args.begin(), l.args.end());
  std::vector<std::string> env_s = {"OMP_NUM_THREADS=1"};  // 2 CI cores: no thread pools fighting
  env_s.insert(env_s.end(), l.env.begin(), l.env.end());
  for (char** e = environ; *e != nullptr; ++e)
    if (std::string_view(*e).substr(0, 16) != "OMP_NUM_THREADS=" && std::string_view(*e).substr(0, 18) != "KISO_FAULT_KILL_AT")
      env_s.push_back(*e);
  std::vector<char*> argv, envp;
  for (std::string& a : argv_s) argv.push_back(a.data());
  for (std::string& e : env_s) envp.push_back(e.data());
  argv.push_back(nullptr), envp.push_back(nullptr);
  const char *out = l.out.c_str(), *err = l.err.c_str();
  rlimit limit{l.file_size_limit, l.file_size_limit};

  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int o = ::open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = ::open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
    // the test runner's signal mask and handlers are not the child's: a clean slate, with
    // SIGXFSZ ignored so that a write over the file-size limit fails with EFBIG
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ignore, nullptr);
    if (l.file_size_limit != RLIM_INFINITY) setrlimit(RLIMIT_FSIZE, &limit);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

// The child's wait status; a child still running after `seconds` is killed and fails the test.
inline int wait_for(pid_t pid, double seconds = 120) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("kiso did not finish within " << seconds << " s");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return status;
}

inline int run(const Launch& l) { return wait_for(start(l)); }

inline bool exited(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }
inline bool killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }

// The whole lines of `path` that start with `prefix` (a line still being written does not count).
inline int64_t count_lines(const std::string& path, const std::string& prefix) {
  if (!std::filesystem::exists(path)) return 0;
  std::string text = read_file(path);
  int64_t n = 0;
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) break;  // a line not finished yet
    n += text.compare(at, prefix.size(), prefix) == 0;
    at = end + 1;
  }
  return n;
}

}  // namespace kiso::testing
