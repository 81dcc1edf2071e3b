// gpt/atomic_file.h — whole-file reads and crash-safe whole-file writes, for checkpoints.
//
// What it is: the two file operations checkpoint I/O needs. write_file_atomic never leaves a
// half-written file at `path`: the bytes go to a temporary file beside it, are flushed to the
// disk (fsync), and only then renamed over `path`. rename() within one directory is atomic on
// POSIX file systems, so a reader (or a run resumed after a crash or a full disk) sees either
// the old file or the new one, never a mixture. Finally the directory itself is fsync'ed so
// that the rename survives a power cut.
// What it is not: a general file library or a lock. Two processes saving the same path at the
// same time each write their own temporary file; the last rename wins.
//
// Reference: POSIX rename(2) and fsync(2); the write-temp-fsync-rename-fsync(dir) sequence is
// the one described in the Linux ext4 and LWN "ensuring data reaches disk" notes.
// Read next: gpt/safetensors.h, which saves with write_file_atomic.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace kiso {

// Replaces the file at `path` with `bytes`, all or nothing. The temporary file is
// `path + ".tmp.<pid>.<n>"` in the same directory (rename cannot cross file systems). On any
// failure the temporary file is removed, `path` is left as it was, and kiso::Error names the
// path and the system's reason (strerror).
void write_file_atomic(const std::string& path, std::string_view bytes);

// Replaces the directory `dir` as a whole: `fill` writes the new contents into `dir + ".tmp"`,
// then the old directory moves aside to `dir + ".old"`, the new one takes its name, and the old
// one is removed. A reader sees the old directory or the new one, never a mix (between the two
// renames `dir` is briefly absent, and `dir.old` holds the previous contents). If `fill`
// throws, `dir` is untouched.
void write_dir_atomic(const std::string& dir, const std::function<void(const std::string& tmp)>& fill);

// The whole file at `path`, byte for byte (binary; no newline translation). Throws kiso::Error
// naming the path and the reason when it cannot be opened or read.
std::string read_file(const std::string& path);

}  // namespace kiso
