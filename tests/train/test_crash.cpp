// tests/train/test_crash.cpp — a pre-training run loses no work to a kill, a full disk or a
// signal (issue 13: "no run loses work"). The real `kiso` binary (beside this test binary) runs
// as a child process; the test kills it
//   - at each file-system step of its checkpoint swaps (KISO_FAULT_KILL_AT=N, gpt/atomic_file.h:
//     SIGKILL just before the N-th rename, symlink or removal), N = 1, 2, ... until a run
//     finishes untouched, so every step of every swap is hit once;
//   - at random moments (seeded), again and again, resuming after each kill;
// and after every kill checks that RUN/model, if there is one yet, loads as a whole model
// without any repair, then finishes the run with --resume (or starts it again when it never
// committed a checkpoint) and compares the final model.safetensors and state.safetensors byte
// for byte, and log.jsonl's losses, with an uninterrupted run's. Then a save into a file-size
// limit (RLIMIT_FSIZE, the unprivileged stand-in for a full tmpfs), SIGINT and SIGTERM (exit
// 130 / 143, "saved to", a bit-exact resume), and step lines on a redirected stdout surviving
// a kill -9.
// Oracle: the uninterrupted run of the same binary with the same options.
// Why a child process that execs kiso, and never a fork that trains: OpenMP's thread pool does
// not survive fork() (the child can hang), and a kill must hit a whole process.
// Cost: ~150 short runs of a 6k-parameter model (tests/train/toy_data.h): about 7 s on an idle
// 2-core machine, most of it in the fsyncs of the checkpoints.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "tests/train/child_process.h"
#include "tests/train/run_outcome.h"
#include "tests/train/toy_data.h"
#include "gpt/atomic_file.h"
#include "gpt/checkpoint.h"
#include "gpt/json.h"
#include "gpt/safetensors.h"
#include "train/checkpoints.h"

using namespace kiso;
using namespace kiso::testing;
namespace fs = std::filesystem;

namespace {

// Waits until `path` has at least `n` whole lines starting with `prefix`; false after 60 s.
bool wait_for_lines(const std::string& path, const std::string& prefix, int64_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (count_lines(path, prefix) < n)
    if (std::chrono::steady_clock::now() > deadline) return false;
    else std::this_thread::sleep_for(std::chrono::microseconds(500));
  return true;
}

// A toy run: data, config, options; `out` is the run directory.
struct Toy {
  TempDir dir;
  int64_t steps, checkpoint_every, eval_every;
  Toy(const std::string& name, int64_t steps_, int64_t checkpoint_every_, int64_t eval_every_)
      : dir(name), steps(steps_), checkpoint_every(checkpoint_every_), eval_every(eval_every_) {
    testing::write_toy_data(dir.str("data"));
    testing::write_toy_config(dir.str("toy.json"));
  }
  std::vector<std::string> args(const std::string& out, const std::vector<std::string>& more = {}) const {
    std::vector<std::string> a = {"pretrain", "--data", dir.str("data"), "--out", dir.str(out), "--config",
                                  dir.str("toy.json"), "--steps", std::to_string(steps), "--batch-size", "4",
                                  "--seq-len", "16", "--grad-accum", "2", "--lr", "3e-3", "--warmup", "2",
                                  "--eval-every", std::to_string(eval_every), "--eval-batches", "1",
                                  "--checkpoint-every", std::to_string(checkpoint_every)};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
};

// Right after a kill, before any repair: RUN/model is absent (no checkpoint committed yet) or a
// whole model directory that kiso eval / sample / finetune --model can read.
void check_readable(const std::string& run) {
  if (!fs::exists(fs::symlink_status(run + "/model"))) return;
  CHECK_NOTHROW(load_model(run + "/model"));
  CHECK_NOTHROW(safetensors::load(run + "/model/state.safetensors"));
  CHECK_NOTHROW(parse_json_strict(read_file(run + "/model/state.json"), "state.json"));
}

// Whether a kill left a checkpoint half-saved: a *.tmp file or directory, or a new link not yet
// renamed (for the count of kills that hit a save).
bool mid_checkpoint(const std::string& run) {
  if (fs::exists(fs::symlink_status(run + "/model.new"))) return true;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(run + "/checkpoints", ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->path().filename().string().find(".tmp") != std::string::npos) return true;
  return false;
}

// Finishes an interrupted run as a user would: --resume, or, when the run stopped before its
// first checkpoint (or before its directory existed), the same command with --overwrite.
void finish(const Toy& toy, const std::string& out) {
  std::string err = toy.dir.str("finish.err");
  int status = run(Launch(toy.args(out, {"--resume"})).stderr_to(err));
  if (exited(status, 2) && (read_file(err).find("before its first checkpoint") != std::string::npos ||
                            read_file(err).find("holds no run to resume") != std::string::npos))
    status = run(Launch(toy.args(out, {"--overwrite"})).stderr_to(err));
  INFO(read_file(err));
  REQUIRE(exited(status, 0));
}

}  // namespace

TEST_SUITE("train") {

TEST_CASE("crash: a kill at each step of every checkpoint swap loses nothing") {
  Toy toy("crash_points", 8, 2, 4);
  REQUIRE(exited(run(Launch(toy.args("straight"))), 0));
  Outcome want = outcome(toy.dir.str("straight"));
  int64_t points = 0;
  for (int64_t n = 1; n < 200; ++n) {
    CAPTURE(n);
    std::string out = "run" + std::to_string(n);
    int status = run(Launch(toy.args(out)).with_env("KISO_FAULT_KILL_AT=" + std::to_string(n)));
    if (exited(status, 0)) break;  // fewer than n steps: every one has been hit
    REQUIRE(killed(status));
    ++points;
    check_readable(toy.dir.str(out));
    finish(toy, out);
    check_same(outcome(toy.dir.str(out)), want);
    fs::remove_all(toy.dir.str(out));
  }
  // 4 checkpoints (steps 2, 4, 6, 8) of 4 files, a directory rename, a link and its rename,
  // and from the third on the pruning of the oldest (a rename and a removal)
  CHECK(points == 4 * 7 + 2 * 2);
  MESSAGE("killed at ", points, " file-system steps, each resumed bit-exactly");
}

TEST_CASE("crash: kills at random moments, resumed each time, end in the uninterrupted run's model") {
  Toy toy("crash_random", 8, 2, 4);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(exited(run(Launch(toy.args("straight"))), 0));
  double straight_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  Outcome want = outcome(toy.dir.str("straight"));
  std::mt19937 rng(20240613);
  std::uniform_real_distribution<double> moment(0.0, 1.2 * straight_ms);  // the start, the steps, the saves
  int64_t kills = 0, in_swap = 0;
  for (int trial = 0; trial < 24; ++trial) {
    CAPTURE(trial);
    std::string out = "run" + std::to_string(trial);
    // up to 4 kills in a row, each of a resumed run (or of a fresh one when none had committed)
    for (int k = 0; k < 4; ++k) {
      bool resume = !run_entries(toy.dir.str(out)).empty();
      pid_t pid = start(Launch(toy.args(out, {resume ? "--resume" : "--overwrite"})));
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(moment(rng)));
      ::kill(pid, SIGKILL);
      int status = wait_for(pid);
      if (!killed(status)) break;  // it finished (or failed: finish() then shows why)
      ++kills;
      in_swap += mid_checkpoint(toy.dir.str(out));
      check_readable(toy.dir.str(out));
    }
    finish(toy, out);
    check_same(outcome(toy.dir.str(out)), want);
  }
  MESSAGE(kills, " kills at random moments of runs of ", straight_ms, " ms (", in_swap,
          " inside a checkpoint save), each run resumed bit-exactly");
}

TEST_CASE("crash: a save into a full disk keeps the previous checkpoint and says what happened") {
  Toy toy("crash_full", 8, 2, 4);
  REQUIRE(exited(run(Launch(toy.args("straight"))), 0));
  Outcome want = outcome(toy.dir.str("straight"));
  REQUIRE(exited(run(Launch(toy.args("run", {"--stop-at", "4"}))), 0));
  std::string run_dir = toy.dir.str("run");
  std::string before = read_file(run_dir + "/model/model.safetensors");
  REQUIRE(before.size() > 8192);
  // 8 KiB per file: log.jsonl, config.json and state.json fit, model.safetensors does not
  std::string err = toy.dir.str("full.err");
  int status = run(Launch(toy.args("run", {"--resume"})).stderr_to(err).file_size_at_most(8192));
  std::string message = read_file(err);
  CAPTURE(message);
  CHECK(exited(status, 2));
  CHECK(message.find("kiso: error: write_file_atomic: write to '" + run_dir + "/checkpoints/step-00000006.tmp/model.safetensors.tmp.") !=
        std::string::npos);
  CHECK(message.find("File too large") != std::string::npos);
  // the previous checkpoint is whole and still RUN/model's; the failed one left nothing
  CHECK(fs::read_symlink(run_dir + "/model") == "checkpoints/step-00000004");
  CHECK(read_file(run_dir + "/model/model.safetensors") == before);
  CHECK_NOTHROW(load_model(run_dir + "/model"));
  CHECK_FALSE(fs::exists(run_dir + "/checkpoints/step-00000006.tmp"));
  // with room again, the run resumes from step 4 and ends where the uninterrupted one did
  finish(toy, "run");
  check_same(outcome(run_dir), want);
}

TEST_CASE("crash: SIGINT and SIGTERM finish the step, save, exit 130 / 143, and resume bit for bit") {
  // Long enough (300 steps, ~0.5 s on an idle core) that the signal, sent once 3 steps are
  // logged, arrives mid-run.
  Toy toy("crash_signal", 300, 100, 0);
  REQUIRE(exited(run(Launch(toy.args("straight"))), 0));
  Outcome want = outcome(toy.dir.str("straight"));
  for (int sig : {SIGINT, SIGTERM}) {
    CAPTURE(sig);
    std::string out = sig == SIGINT ? "int" : "term", err = toy.dir.str(out + ".err");
    pid_t pid = start(Launch(toy.args(out)).stderr_to(err));
    REQUIRE(wait_for_lines(toy.dir.str(out + "/log.jsonl"), "{", 3));
    ::kill(pid, sig);
    int status = wait_for(pid);
    std::string message = read_file(err);
    CAPTURE(message);
    REQUIRE(exited(status, 128 + sig));
    // "pretrain: interrupted by SIGINT after step 7; saved to RUN/model (checkpoints/step-00000007); ..."
    int64_t step = int64_t(count_lines(toy.dir.str(out + "/log.jsonl"), "{"));
    CHECK(step < 300);
    CHECK(message.find(fmt::format("pretrain: interrupted by {} after step {}; saved to {} (checkpoints/step-{:08d}); "
                                   "continue with --resume",
                                   sig == SIGINT ? "SIGINT" : "SIGTERM", step, toy.dir.str(out + "/model"), step)) !=
          std::string::npos);
    CHECK(fs::read_symlink(toy.dir.str(out + "/model")) == fmt::format("checkpoints/step-{:08d}", step));
    finish(toy, out);
    check_same(outcome(toy.dir.str(out)), want);
  }
}

TEST_CASE("crash: step lines on a redirected stdout survive a kill -9") {
  // issue 13, defect 10: stdout to a file is block-buffered, and a kill lost the lines in the
  // buffer; each line is now flushed as it is written, so the file has every step that
  // log.jsonl has (the line is printed just before its record is appended).
  Toy toy("crash_stdout", 300, 100, 0);
  std::string stdout_path = toy.dir.str("stdout.txt");
  pid_t pid = start(Launch(toy.args("run")).stdout_to(stdout_path));
  REQUIRE(wait_for_lines(toy.dir.str("run/log.jsonl"), "{", 5));
  ::kill(pid, SIGKILL);
  REQUIRE(killed(wait_for(pid)));
  int64_t logged = count_lines(toy.dir.str("run/log.jsonl"), "{");
  int64_t printed = count_lines(stdout_path, "step ") - 1;  // less the "step 0 | val loss" line
  CHECK(logged >= 5);
  CHECK(printed >= logged);
  CHECK(printed <= logged + 1);
}

}  // TEST_SUITE
