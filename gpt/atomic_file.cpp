// gpt/atomic_file.cpp — write_file_atomic and read_file with POSIX calls, so that every
// failure has an errno to report (iostreams lose it).
#include "gpt/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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

}  // namespace

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
  if (::rename(tmp.c_str(), path.c_str()) != 0) abandon("rename over the target of");

  // The new name lives in the directory's own data: flush it too, or a power cut right after
  // the rename could bring back the old file. Some file systems cannot fsync a directory
  // (EINVAL); the rename has already happened there, so that is not an error.
  std::string dir = parent_directory(path);
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    fail(op, "wrote '{}' but cannot open its directory '{}' to fsync it: {}", path, dir,
         std::strerror(errno));
  }
  if (::fsync(dir_fd) != 0 && errno != EINVAL) {
    int err = errno;
    ::close(dir_fd);
    fail(op, "wrote '{}' but fsync of its directory '{}' failed: {}", path, dir, std::strerror(err));
  }
  ::close(dir_fd);
}

void write_dir_atomic(const std::string& dir, const std::function<void(const std::string& tmp)>& fill) {
  namespace fs = std::filesystem;
  std::string tmp = dir + ".tmp", old = dir + ".old";
  fs::remove_all(tmp);
  fill(tmp);
  fs::remove_all(old);
  if (fs::exists(dir)) fs::rename(dir, old);
  fs::rename(tmp, dir);
  fs::remove_all(old);
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
