// gpt/atomic_file.h — whole-file reads and crash-safe writes and swaps, for checkpoints.
//
// What it is: the file operations checkpoint I/O needs, each safe against a kill or a power cut
// at any instant:
//   - write_file_atomic never leaves a half-written file at `path`: the bytes go to a temporary
//     file beside it, are flushed to the disk (fsync), and only then renamed over `path`.
//     rename() within one directory is atomic on POSIX file systems, so a reader (or a run
//     resumed after a crash or a full disk) sees either the old file or the new one, never a
//     mixture. Finally the directory itself is fsync'ed so that the rename survives a power cut.
//   - write_dir_atomic replaces a whole directory the same way (see its comment for the one
//     file-system case that needs a repair, and the repair).
//   - rename_durably, replace_symlink and sync_directory: the steps train/checkpoints.cpp
//     builds its versioned checkpoints from.
// What it is not: a general file library or a lock. Two processes saving the same path at the
// same time each write their own temporary file; the last rename wins.
//
// Test-only fault injection: when the environment variable KISO_FAULT_KILL_AT=N is set (N >= 1),
// the process sends itself SIGKILL just before its N-th file-system commit step: every rename,
// symlink or removal done by the functions here (and by train/checkpoints.cpp through
// fault_point). tests/train/test_crash.cpp uses it to kill a run at each step of a checkpoint
// swap without strace; unset (always, outside tests) it costs one getenv per process.
//
// Reference: POSIX rename(2), symlink(2) and fsync(2), Linux renameat2(2) RENAME_EXCHANGE; the
// write-temp-fsync-rename-fsync(dir) sequence is the one described in the Linux ext4 and LWN
// "ensuring data reaches disk" notes.
// Read next: train/checkpoints.h (a run's versioned checkpoints), gpt/safetensors.h.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace kiso {

// Replaces the file at `path` with `bytes`, all or nothing. The temporary file is
// `path + ".tmp.<pid>.<n>"` in the same directory (rename cannot cross file systems). On any
// failure the temporary file is removed, `path` is left as it was, and kiso::Error names the
// path and the system's reason (strerror: "File too large", "No space left on device", ...).
void write_file_atomic(const std::string& path, std::string_view bytes);

// Replaces the directory `dir` as a whole: `fill` writes the new contents into `dir + ".tmp"`
// (fsync'ed file by file), then the new directory takes the old one's place and the old one is
// removed. If `fill` throws, `dir` is untouched (and dir.tmp is removed).
// The swap is one atomic renameat2(RENAME_EXCHANGE) where the file system has it (ext4, xfs,
// btrfs, tmpfs, overlayfs): `dir` names the old contents or the new ones at every instant.
// Elsewhere (EINVAL: NFS, some FUSE) it falls back to two renames, dir -> dir.old and
// dir.tmp -> dir; a kill between them leaves no `dir` but a complete dir.tmp and dir.old, and
// recover_dir_swap (called first by every write_dir_atomic) puts dir.tmp in place.
void write_dir_atomic(const std::string& dir, const std::function<void(const std::string& tmp)>& fill);

// Repairs what a write_dir_atomic killed between its two fallback renames left (and what
// kiso before renameat2 left the same way): `dir` missing, `dir.old` present -> `dir.tmp` is
// complete (it was filled before the first rename) and becomes `dir`. Returns true when it
// repaired something. A `dir.tmp` without `dir.old` is an unfinished fill and is left alone.
bool recover_dir_swap(const std::string& dir);

// rename(from, to), then fsync of the directory holding `to` (and of the one holding `from`
// when it differs), with an Error naming both paths and the reason. A fault point.
void rename_durably(const std::string& from, const std::string& to);

// Points the symbolic link `link` at `target` (a path relative to the link's directory) in one
// atomic step: a new link `link + ".new"` is made and renamed over `link` (rename replaces a
// link, never the directory it points to), then the directory is fsync'ed. Readers that open
// `link` see the old target or the new one. `link` must not be a real directory.
void replace_symlink(const std::string& link, const std::string& target);

// fsync of the directory `dir`, so that the names created or renamed in it survive a power
// cut. A file system that cannot fsync a directory (EINVAL) is not an error.
void sync_directory(const std::string& dir);

// The test-only fault injection described in the header: counts one file-system commit step
// and, at the N-th of KISO_FAULT_KILL_AT=N, raises SIGKILL. Call it just before the step.
void fault_point();

// The whole file at `path`, byte for byte (binary; no newline translation). Throws kiso::Error
// naming the path and the reason when it cannot be opened or read.
std::string read_file(const std::string& path);

}  // namespace kiso
