// tests/ci/test_install_deps.cpp — .ci/install-deps waits for a package manager that holds apt's
// lock instead of failing at once (issue 13, defect 11: `make demo` on a fresh machine died with
// "Could not get lock /var/lib/dpkg/lock-frontend" while unattended-upgrades ran).
//
// Oracle: a fake apt-get, dpkg-query and sudo first on PATH (the script calls them by name). The
// fake apt-get fails with apt's own lock message for its first `busy` calls, then succeeds and
// logs what it was asked; so the script must retry, say it is waiting, and end by installing.
// No real package is touched, and the test needs neither root nor apt.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/temp_dir.h"

#ifndef KISO_SOURCE_DIR
#define KISO_SOURCE_DIR "."
#endif

namespace {

void write_script(const std::string& path, const std::string& body) {
  std::ofstream(path) << "#!/usr/bin/env bash\n" << body;
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs .ci/install-deps kiso-fake-package with the fakes in `d`; returns its exit status and
// fills `output` with stdout + stderr.
int run_install_deps(const TempDir& d, int busy, int timeout_s, std::string& output) {
  write_script(d.str("dpkg-query"), "exit 1\n");  // nothing is installed
  write_script(d.str("sudo"), "exec \"$@\"\n");
  write_script(d.str("apt-get"),
               "n=$(cat " + d.str("calls") + " 2>/dev/null || echo 0); echo $((n + 1)) > " + d.str("calls") +
                   "\n"
                   "if [ \"$n\" -lt " + std::to_string(busy) + " ]; then\n"
                   "  echo 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 "
                   "(unattended-upgr)' >&2; exit 100\nfi\n"
                   "echo \"$*\" >> " + d.str("log") + "\n");
  std::string cmd = "PATH=" + d.str() + ":$PATH KISO_APT_LOCK_POLL=0.1 KISO_APT_LOCK_TIMEOUT=" +
                    std::to_string(timeout_s) + " " KISO_SOURCE_DIR "/.ci/install-deps kiso-fake-package > " +
                    d.str("out") + " 2>&1";
  int status = std::system(cmd.c_str());
  output = slurp(d.str("out"));
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_SUITE("ci") {

TEST_CASE("install-deps: waits for a held apt lock, says so, then installs (defect 11)") {
  TempDir d("install_deps_wait");
  std::string output;
  CHECK(run_install_deps(d, 3, 60, output) == 0);
  CHECK(output.find("install-deps: waiting up to 60 s for another package manager to finish (Could not get lock "
                    "/var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr))") != std::string::npos);
  std::string log = slurp(d.str("log"));
  CHECK(log.find("update -qq") != std::string::npos);
  CHECK(log.find("install -y -qq --no-install-recommends") != std::string::npos);
  CHECK(log.find("kiso-fake-package") != std::string::npos);
  CHECK(slurp(d.str("calls")) == "5\n");  // 3 refused + update + install
}

TEST_CASE("install-deps: gives up after KISO_APT_LOCK_TIMEOUT, naming the lock") {
  TempDir d("install_deps_timeout");
  std::string output;
  CHECK(run_install_deps(d, 1000000, 1, output) == 100);
  CHECK(output.find("Could not get lock /var/lib/dpkg/lock-frontend") != std::string::npos);
  CHECK(output.find("install-deps: gave up after waiting 1 s for the lock") != std::string::npos);
}

}
