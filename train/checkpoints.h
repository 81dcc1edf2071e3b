// train/checkpoints.h — a run directory's checkpoints: each one a directory of its own, the
// latest committed by one atomic pointer, the last K kept; and what starting, resuming and
// overwriting a run may find there.
//
//   RUN/checkpoints/step-00000400/   a complete model directory (config.json, model.safetensors,
//   RUN/checkpoints/step-00000600/   the tokenizer files) plus the training state
//   RUN/model -> checkpoints/step-00000600     a relative symlink: the committed checkpoint
//   RUN/log.jsonl
// RUN/model works wherever a model directory is asked for (kiso eval, sample, finetune --model):
// opening a file through it follows the link. An older checkpoint is RUN/checkpoints/step-N.
//
// Saving checkpoint N (commit_checkpoint), and why a kill or a power cut at any instant loses
// nothing but the unfinished checkpoint:
//   1. fill checkpoints/step-N.tmp/, every file written with write_file_atomic (fsync'ed, and
//      its directory fsync'ed). Killed here: a *.tmp directory, never pointed at; removed by
//      the next resume. RUN/model still names checkpoint N-1, whole.
//   2. rename step-N.tmp -> step-N, fsync checkpoints/. Killed after: step-N is complete but
//      not committed; RUN/model still names N-1, and a resume removes step-N (it continues
//      from N-1 and writes the same step-N again, bit for bit).
//   3. RUN/model.new -> checkpoints/step-N (a new link), rename it over RUN/model, fsync RUN/.
//      rename(2) is atomic: RUN/model names N-1 or N at every instant. This rename is the
//      commit. Killed between the two: a stray model.new link, removed by the next resume.
//   4. prune: each committed checkpoint older than the newest `keep` is renamed to
//      step-M.deleting (atomic) and then removed. Killed mid-removal: a *.deleting directory,
//      which no pointer names and the next resume removes; a name step-M without a suffix is
//      therefore always a complete checkpoint.
// Durability: the files of step N are on disk before step 2 renames them, step 2's rename is
// on disk before step 3 points at it, and the pointer is on disk before step 4 removes the old
// target; so after a power cut RUN/model names a checkpoint whose files are all on disk.
//
// recover_run (on --resume) repairs what a kill left: the leftovers above; RUN/model missing
// while a complete step-N exists (killed between steps 2 and 3 of the very first checkpoint)
// -> points it at the newest; and run directories of kiso before versioned checkpoints, where
// RUN/model was a real directory swapped by two renames (model.tmp / model.old after a kill:
// gpt/atomic_file.h recover_dir_swap) -> moved to checkpoints/step-N and linked.
// What it is not: a lock (two runs writing one directory at once are not detected), or the
// contents of a checkpoint (train/pretrain.cpp fills it).
// Read next: train/pretrain.cpp (what a checkpoint holds and how a run resumes).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kiso {

// RUN/checkpoints/step-00000600 (8 digits, more when the step needs them).
std::string checkpoint_path(const std::string& run_dir, int64_t step);

// Writes checkpoint `step` (fill writes the model and the state into the directory it is
// given), commits it as RUN/model and keeps the newest `keep` (>= 1) committed checkpoints.
// If fill throws (a full disk), the half-written directory is removed and RUN/model still
// names the previous checkpoint.
void commit_checkpoint(const std::string& run_dir, int64_t step, int64_t keep,
                       const std::function<void(const std::string& dir)>& fill);

// The names of what kiso writes into a run directory that `run_dir` already holds (model,
// checkpoints, log.jsonl, and the leftovers of a kill); empty for a new or empty directory.
std::vector<std::string> run_entries(const std::string& run_dir);

// --overwrite: removes the entries run_entries lists (nothing else in the directory).
void clear_run(const std::string& run_dir);

// --resume: repairs `run_dir` as the header describes and returns RUN/model, or "" when the run
// never committed a checkpoint. Throws when RUN/model points at a checkpoint that is missing.
std::string recover_run(const std::string& run_dir);

}  // namespace kiso
