// train/profile_table.h — `kiso bench --profile`'s tables: a recorded op profile (tensor/profile.h)
// as one row per (op, phase, detail), per step, slowest first.
//
// Columns: calls, ms and share of the step, the rate the op reached (GFLOP/s for matmul, whose
// FLOPs are counted; GB/s for the rest, from the bytes of its inputs and new outputs: a lower
// bound on its memory traffic), and the allocations it made. Below the rows: the time inside
// ops, outside them (autograd, glue code, the loop) and every allocation of the step.
// What it is not: a sampling profile; `perf record` shows what happens inside a row.
#pragma once

#include <iosfwd>
#include <string>

#include "gpt/json.h"
#include "tensor/profile.h"

namespace kiso {

// `profile` holds `steps` steps; the table shows one step's share (totals / steps).
void print_profile(const Profile& profile, int steps, const std::string& title, std::ostream& out);
Json profile_json(const Profile& profile, int steps);

}  // namespace kiso
