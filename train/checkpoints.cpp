// train/checkpoints.cpp — versioned checkpoints, their commit pointer, pruning and recovery
// (the argument for each step is in checkpoints.h).
#include "train/checkpoints.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include <fmt/core.h>

#include "base/check.h"
#include "gpt/atomic_file.h"
#include "gpt/json.h"

namespace kiso {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOp = "checkpoint";

std::string step_name(int64_t step) { return fmt::format("step-{:08d}", step); }

// The step of a committed checkpoint's directory name "step-<digits>", or nothing for any
// other name (step-N.tmp, step-N.deleting, a user's file).
std::optional<int64_t> parse_step(const std::string& name) {
  if (name.size() <= 5 || name.compare(0, 5, "step-") != 0 || name.size() > 5 + 18) return std::nullopt;
  int64_t step = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

bool exists_no_follow(const std::string& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

void remove_path(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) fail(kOp, "cannot remove '{}': {}", path, ec.message());
}

// Removes a committed checkpoint so that a kill never leaves a partial directory under a
// committed name: first renamed to .deleting (atomic), then removed.
void remove_checkpoint(const std::string& dir) {
  std::string doomed = dir + ".deleting";
  remove_path(doomed);
  rename_durably(dir, doomed);
  fault_point();
  remove_path(doomed);
}

// The committed checkpoints in RUN/checkpoints, oldest first.
std::vector<int64_t> committed_steps(const std::string& run_dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(run_dir + "/checkpoints", ec))
    if (std::optional<int64_t> s = parse_step(e.path().filename().string()); s && e.is_directory()) steps.push_back(*s);
  std::sort(steps.begin(), steps.end());
  return steps;
}

// The step RUN/model points at, or nothing when it is not a link into checkpoints/.
std::optional<int64_t> pointed_step(const std::string& run_dir) {
  std::error_code ec;
  fs::path target = fs::read_symlink(run_dir + "/model", ec);
  if (ec || target.parent_path() != "checkpoints") return std::nullopt;
  return parse_step(target.filename().string());
}

// The step a checkpoint directory of kiso before versioned checkpoints was saved at.
int64_t legacy_step(const std::string& dir) {
  std::string path = dir + "/state.json";
  check(fs::exists(path), kOp, "{} is a model directory without training state ({} is missing): there is "
        "nothing to resume from", dir, path);
  return get_int(parse_json_strict(read_file(path), path), "step", path);
}

}  // namespace

std::string checkpoint_path(const std::string& run_dir, int64_t step) {
  return run_dir + "/checkpoints/" + step_name(step);
}

void commit_checkpoint(const std::string& run_dir, int64_t step, int64_t keep,
                       const std::function<void(const std::string& dir)>& fill) {
  check(keep >= 1, kOp, "--keep-checkpoints must be at least 1, got {}", keep);
  std::string dir = checkpoint_path(run_dir, step), tmp = dir + ".tmp";
  std::error_code ec;
  fs::create_directories(run_dir + "/checkpoints", ec);
  if (ec) fail(kOp, "cannot create '{}/checkpoints': {}", run_dir, ec.message());
  // RUN/model names this step already (a run resumed from it and stopped again before its
  // next step): the state is the same, and rewriting the committed checkpoint in place would
  // break the rule that RUN/model always names a whole one.
  if (pointed_step(run_dir) == step) return;
  remove_path(tmp);
  // A step-N that is there but not committed: recover_run removes those, so only a caller
  // that skipped it gets here; replace it.
  if (exists_no_follow(dir)) remove_checkpoint(dir);

  // 1. fill step-N.tmp
  fs::create_directories(tmp, ec);
  if (ec) fail(kOp, "cannot create '{}': {}", tmp, ec.message());
  try {
    fill(tmp);
    sync_directory(tmp);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);  // RUN/model still names the previous checkpoint
    throw;
  }
  // 2. the complete directory takes its name; 3. the pointer moves (the commit)
  rename_durably(tmp, dir);
  replace_symlink(run_dir + "/model", "checkpoints/" + step_name(step));
  // 4. keep the newest `keep`
  std::vector<int64_t> steps = committed_steps(run_dir);
  for (size_t i = 0; i + size_t(keep) < steps.size(); ++i)
    if (steps[i] < step) remove_checkpoint(checkpoint_path(run_dir, steps[i]));
}

std::vector<std::string> run_entries(const std::string& run_dir) {
  std::vector<std::string> found;
  for (const char* name : {"model", "checkpoints", "log.jsonl", "model.tmp", "model.old", "model.new"})
    if (exists_no_follow(run_dir + "/" + name)) found.push_back(name);
  return found;
}

void clear_run(const std::string& run_dir) {
  for (const std::string& name : run_entries(run_dir)) remove_path(run_dir + "/" + name);
}

std::string recover_run(const std::string& run_dir) {
  std::string model = run_dir + "/model";
  std::error_code ec;

  // Run directories of kiso before versioned checkpoints: RUN/model a real directory.
  recover_dir_swap(model);                                     // killed between its two renames
  if (!exists_no_follow(model)) remove_path(model + ".tmp");  // an unfinished first save
  remove_path(model + ".old");
  if (fs::is_directory(fs::symlink_status(model, ec))) {
    int64_t step = legacy_step(model);
    fs::create_directories(run_dir + "/checkpoints", ec);
    rename_durably(model, checkpoint_path(run_dir, step));  // killed after: repaired below
    replace_symlink(model, "checkpoints/" + step_name(step));
  }

  // Leftovers of a kill: an unfinished checkpoint, a half-pruned one, a link not yet renamed,
  // the temporary file of a log rewrite.
  remove_path(model + ".new");
  for (const fs::directory_entry& e : fs::directory_iterator(run_dir + "/checkpoints", ec)) {
    std::string name = e.path().filename().string();
    if (name.ends_with(".tmp") || name.ends_with(".deleting")) remove_path(e.path().string());
  }
  for (const fs::directory_entry& e : fs::directory_iterator(run_dir, ec))
    if (e.path().filename().string().starts_with("log.jsonl.tmp.")) remove_path(e.path().string());

  std::vector<int64_t> steps = committed_steps(run_dir);
  if (!exists_no_follow(model)) {
    // Killed between the rename of the first checkpoint and its pointer (or mid-migration):
    // that checkpoint is complete, so it becomes the committed one.
    if (steps.empty()) return "";
    replace_symlink(model, "checkpoints/" + step_name(steps.back()));
  }
  std::optional<int64_t> current = pointed_step(run_dir);
  check(current.has_value(), kOp, "{} is not a link to a checkpoint in {}/checkpoints (found '{}')", model, run_dir,
        fs::read_symlink(model, ec).string());
  check(fs::is_directory(checkpoint_path(run_dir, *current)), kOp,
        "{} points at {}, which is missing; point it at one of the checkpoints that are there, or start again with "
        "--overwrite", model, checkpoint_path(run_dir, *current));
  // Complete but never committed (killed between steps 2 and 3): the run continues from the
  // committed one and will write these again.
  for (int64_t s : steps)
    if (s > *current) remove_checkpoint(checkpoint_path(run_dir, s));
  return model;
}

}  // namespace kiso
