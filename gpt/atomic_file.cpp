// gpt/atomic_file.cpp — the crash-safe writes and swaps of atomic_file.h, and read_file, with
// POSIX calls, so that every failure has an errno to report (iostreams lose it).
#include "gpt/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>  // renameat2, RENAME_EXCHANGE (glibc >= 2.28)
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "base/check.h"

namespace kiso {

namespace {

// Writes all of `bytes` to `fd`; write() may write less than asked or be interrupted by a signal.
bool write_all(int fd, std::string_view bytes) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    left -= size_t(n);
  }
  return true;
}

// The directory that holds `path` ("." for a bare file name), for the final fsync.
std::string parent_directory(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// remove_all with kiso's error: what could not be removed and why.
void remove_tree(const std::string& path, const char* op) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) fail(op, "cannot remove '{}': {}", path, ec.message());
}

}  // namespace

void fault_point() {
  // Read once: the count is per process, and the variable is set by the test that starts it.
  static const long kill_at = [] {
    const char* env = std::getenv("KISO_FAULT_KILL_AT");
    return env != nullptr ? std::strtol(env, nullptr, 10) : 0L;
  }();
  static std::atomic<long> steps{0};
  if (kill_at > 0 && ++steps == kill_at) ::raise(SIGKILL);
}

void sync_directory(const std::string& dir) {
  const char* op = "sync_directory";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(op, "cannot open the directory '{}' to fsync it: {}", dir, std::strerror(errno));
  if (::fsync(fd) != 0 && errno != EINVAL) {
    int err = errno;
    ::close(fd);
    fail(op, "fsync of the directory '{}' failed: {}", dir, std::strerror(err));
  }
  ::close(fd);
}

void rename_durably(const std::string& from, const std::string& to) {
  fault_point();
  if (::rename(from.c_str(), to.c_str()) != 0)
    fail("rename", "cannot rename '{}' to '{}': {}", from, to, std::strerror(errno));
  sync_directory(parent_directory(to));
  if (parent_directory(from) != parent_directory(to)) sync_directory(parent_directory(from));
}

void replace_symlink(const std::string& link, const std::string& target) {
  const char* op = "replace_symlink";
  std::string fresh = link + ".new";
  ::unlink(fresh.c_str());  // a leftover of a kill between the two steps below
  fault_point();
  if (::symlink(target.c_str(), fresh.c_str()) != 0)
    fail(op, "cannot create the link '{}' -> '{}': {}", fresh, target, std::strerror(errno));
  // rename(2) replaces `link` itself when it is a symlink (it never follows it); over a real
  // directory it fails with EISDIR, which the caller must have ruled out.
  rename_durably(fresh, link);
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  const char* op = "write_file_atomic";
  // A per-process counter keeps two threads saving the same path off each other's temp file.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);

  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fail(op, "cannot create the temporary file '{}' for '{}': {}", tmp, path, std::strerror(errno));
  }

  // Any failure from here on: remember errno, close, remove the temporary file, throw.
  auto abandon = [&](const char* step) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail(op, "{} '{}' (writing '{}') failed: {}", step, tmp, path, std::strerror(err));
  };

  if (!write_all(fd, bytes)) abandon("write to");
  if (::fsync(fd) != 0) abandon("fsync of");
  int closed = ::close(fd);
  fd = -1;
  if (closed != 0) abandon("close of");
  fault_point();
  if (::rename(tmp.c_str(), path.c_str()) != 0) abandon("rename over the target of");

  // The new name lives in the directory's own data: flush it too, or a power cut right after
  // the rename could bring back the old file. Some file systems cannot fsync a directory
  // (EINVAL); the rename has already happened there, so that is not an error.
  sync_directory(parent_directory(path));
}

bool recover_dir_swap(const std::string& dir) {
  namespace fs = std::filesystem;
  std::string tmp = dir + ".tmp", old = dir + ".old";
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dir, ec)) || !fs::exists(old, ec)) return false;
  // `dir` is missing and dir.old holds the previous contents: the fallback swap was killed
  // between its renames, after dir.tmp was complete. (dir.old without dir.tmp cannot come out
  // of write_dir_atomic; the previous contents are then the best there is.)
  if (fs::exists(tmp, ec)) {
    rename_durably(tmp, dir);
    fault_point();
    remove_tree(old, "write_dir_atomic");
  } else {
    rename_durably(old, dir);
  }
  return true;
}

void write_dir_atomic(const std::string& dir, const std::function<void(const std::string& tmp)>& fill) {
  namespace fs = std::filesystem;
  const char* op = "write_dir_atomic";
  recover_dir_swap(dir);
  std::string tmp = dir + ".tmp", old = dir + ".old";
  // dir.tmp may be an unfinished fill, or the old contents after a swap killed before their
  // removal; dir.old the old contents of a fallback swap killed while removing them.
  remove_tree(tmp, op);
  remove_tree(old, op);
  try {
    fill(tmp);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);  // `dir` is untouched; the half-filled copy must not linger
    throw;
  }
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dir, ec))) {
    // One step: `dir` and dir.tmp trade places, so `dir` names a whole directory at every
    // instant, then the old contents (now dir.tmp) are removed.
    fault_point();
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) == 0) {
      sync_directory(parent_directory(dir));
      fault_point();
      remove_tree(tmp, op);
      return;
    }
    if (errno != EINVAL && errno != ENOSYS)
      fail(op, "cannot exchange '{}' with '{}': {}", tmp, dir, std::strerror(errno));
    // No RENAME_EXCHANGE here: two renames, repaired by recover_dir_swap if killed between.
    rename_durably(dir, old);
  }
  rename_durably(tmp, dir);
  fault_point();
  remove_tree(old, op);
}

std::string read_file(const std::string& path) {
  const char* op = "read_file";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(op, "cannot open '{}': {}", path, std::strerror(errno));

  auto give_up = [&](const char* step) {
    int err = errno;
    ::close(fd);
    fail(op, "cannot {} '{}': {}", step, path, std::strerror(err));
  };

  struct stat st;
  if (::fstat(fd, &st) != 0) give_up("stat");
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail(op, "'{}' is a directory, expected a file", path);
  }

  // Read straight into a string of the file's size, then on until end of file: st_size is 0
  // for pipes and /proc files, and a file may grow while we read it.
  std::string out(S_ISREG(st.st_mode) ? size_t(st.st_size) : 0, '\0');
  size_t used = 0;
  char chunk[1 << 16];
  while (true) {
    bool room = used < out.size();
    char* dst = room ? out.data() + used : chunk;
    size_t capacity = room ? out.size() - used : sizeof chunk;
    ssize_t n = ::read(fd, dst, capacity);
    if (n < 0) {
      if (errno == EINTR) continue;
      give_up("read");
    }
    if (n == 0) break;
    if (!room) out.append(chunk, size_t(n));
    used += size_t(n);
  }
  out.resize(used);
  ::close(fd);
  return out;
}

}  // namespace kiso
