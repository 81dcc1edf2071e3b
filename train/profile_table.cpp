// train/profile_table.cpp — the op profile as a table and as JSON (see profile_table.h).
#include "train/profile_table.h"

#include <algorithm>
#include <ostream>
#include <vector>

#include <fmt/core.h>

namespace kiso {

namespace {

struct Row {
  std::string op, phase, detail;
  OpProfile stats;
};

// The profile's rows, slowest first.
std::vector<Row> sorted_rows(const Profile& p) {
  std::vector<Row> rows;
  for (const auto& [key, stats] : p.ops)
    rows.push_back({std::get<0>(key), to_string(std::get<1>(key)), std::get<2>(key), stats});
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.stats.seconds > b.stats.seconds; });
  return rows;
}

// "GFLOP/s" for an op with counted FLOPs, else its bytes per second; "-" when too fast to time.
std::string rate(const OpProfile& s) {
  if (s.seconds <= 0) return "-";
  if (s.flops > 0) return fmt::format("{:.1f} GFLOP/s", s.flops / s.seconds * 1e-9);
  return fmt::format("{:.1f} GB/s", s.bytes / s.seconds * 1e-9);
}

}  // namespace

void print_profile(const Profile& p, int steps, const std::string& title, std::ostream& out) {
  double n = std::max(1, steps);
  double step_ms = p.seconds * 1e3 / n, ops_ms = p.seconds_in_ops() * 1e3 / n;
  auto share = [&](double ms) { return step_ms > 0 ? 100.0 * ms / step_ms : 0.0; };
  out << fmt::format("\nprofile: {}, per step (mean of {}): {:.2f} ms\n", title, steps, step_ms);
  out << fmt::format("{:<22} {:<9} {:<26} {:>7} {:>9} {:>6} {:>15} {:>7} {:>9}\n", "op", "phase", "detail", "calls",
                     "ms", "share", "rate", "allocs", "MiB alloc");
  // The slowest rows until 99% of the time in ops is shown (at most 40); the long tail, e.g. the
  // decode loop's attention products, one shape per cache length, is summed in one line.
  std::vector<Row> rows = sorted_rows(p);
  double shown = 0, in_ops = p.seconds_in_ops();
  size_t count = 0;
  while (count < rows.size() && count < 40 && (count < 10 || shown < 0.99 * in_ops)) shown += rows[count++].stats.seconds;
  for (size_t k = 0; k < count; ++k) {
    const Row& r = rows[k];
    double ms = r.stats.seconds * 1e3 / n;
    out << fmt::format("{:<22} {:<9} {:<26} {:>7.0f} {:>9.3f} {:>5.1f}% {:>15} {:>7.0f} {:>9.2f}\n", r.op, r.phase,
                       r.detail, double(r.stats.calls) / n, ms, share(ms), rate(r.stats),
                       double(r.stats.allocations) / n, r.stats.allocated_bytes / n / (1 << 20));
  }
  if (count < rows.size()) {
    double rest_ms = (in_ops - shown) * 1e3 / n;
    out << fmt::format("{:<59} {:>9.3f} {:>5.1f}%\n", fmt::format("... {} more rows", rows.size() - count), rest_ms,
                       share(rest_ms));
  }
  out << fmt::format("{:<59} {:>9.3f} {:>5.1f}%\n", "inside ops", ops_ms, share(ops_ms));
  out << fmt::format("{:<59} {:>9.3f} {:>5.1f}%   (autograd's graph, glue code, the loop)\n", "outside ops",
                     step_ms - ops_ms, share(step_ms - ops_ms));
  out << fmt::format("allocations per step: {:.0f}, {:.2f} MiB (inside ops and out)\n", double(p.allocations) / n,
                     p.allocated_bytes / n / (1 << 20));
}

Json profile_json(const Profile& p, int steps) {
  double n = std::max(1, steps);
  Json rows = Json::array();
  for (const Row& r : sorted_rows(p))
    rows.push_back(Json{{"op", r.op},
                        {"phase", r.phase},
                        {"detail", r.detail},
                        {"calls", double(r.stats.calls) / n},
                        {"ms", r.stats.seconds * 1e3 / n},
                        {"flops", r.stats.flops / n},
                        {"bytes", r.stats.bytes / n},
                        {"allocations", double(r.stats.allocations) / n},
                        {"allocated_bytes", r.stats.allocated_bytes / n}});
  return Json{{"step_ms", p.seconds * 1e3 / n},
              {"ops_ms", p.seconds_in_ops() * 1e3 / n},
              {"allocations", double(p.allocations) / n},
              {"allocated_bytes", p.allocated_bytes / n},
              {"ops", rows}};
}

}  // namespace kiso
