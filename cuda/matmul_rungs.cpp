// cuda/matmul_rungs.cpp — the names of the matmul ladder's rungs, and which rung the model's
// matmuls run. Host code, in every build (the simulator runs the rungs too). The rungs
// themselves are cuda/kernels/matmul_<n>_<rung>.cu; the ladder's story is docs/kernels.md.
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

#include "base/check.h"
#include "cuda/kernels.h"

namespace kiso::cuda {
namespace {

struct RungInfo {
  MatmulRung rung;
  const char* name;
  bool exact;          // every product and sum in T, as on the CPU
  bool serves_double;  // has a double version
};
constexpr RungInfo kRungs[] = {
    {MatmulRung::naive, "naive", true, true},
    {MatmulRung::coalesced, "coalesced", true, true},
    {MatmulRung::tiled, "tiled", true, true},
    {MatmulRung::blocktile_1d, "blocktile_1d", true, true},
    {MatmulRung::blocktile_2d, "blocktile_2d", true, true},
    {MatmulRung::vectorized, "vectorized", true, true},
    {MatmulRung::warptile, "warptile", true, true},
    {MatmulRung::mma_tf32, "mma_tf32", false, false},
    {MatmulRung::mma_bf16, "mma_bf16", false, false},
};

const RungInfo& info(MatmulRung rung) {
  for (const RungInfo& r : kRungs)
    if (r.rung == rung) return r;
  fail("matmul", "no rung numbered {}", int(rung));
}

std::string all_names() {
  std::string names;
  for (const RungInfo& r : kRungs) names += (names.empty() ? "" : ", ") + std::string(r.name);
  return names;
}

// The fastest rung that computes exactly in f32 (and in f64 for double); what the model runs
// unless KISO_MATMUL or set_matmul_rung says otherwise. warptile: predicted, not yet timed on a GPU
// (rung 6's 128-bit traffic, without its bank conflicts and half-sector stores; 2 blocks an SM).
constexpr MatmulRung kDefaultRung = MatmulRung::warptile;

std::mutex g_mutex;
std::optional<MatmulRung> g_chosen;  // set_matmul_rung's choice

}  // namespace

const char* matmul_rung_name(MatmulRung rung) { return info(rung).name; }

MatmulRung matmul_rung_named(const char* name, const char* what) {
  for (const RungInfo& r : kRungs)
    if (std::strcmp(r.name, name) == 0) return r.rung;
  fail(what, "no matmul rung named '{}'; expected one of {}", name, all_names());
}

bool matmul_rung_exact(MatmulRung rung) { return info(rung).exact; }
bool matmul_rung_serves_double(MatmulRung rung) { return info(rung).serves_double; }

MatmulRung matmul_rung_in_use(bool is_double) {
  MatmulRung rung = kDefaultRung;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_chosen) {
      rung = *g_chosen;
    } else if (const char* env = std::getenv("KISO_MATMUL"); env != nullptr && *env != '\0') {
      rung = matmul_rung_named(env, "KISO_MATMUL");
    }
  }
  return is_double && !matmul_rung_serves_double(rung) ? MatmulRung::tiled : rung;
}

bool matmul_rung_chosen() {
  std::lock_guard<std::mutex> lock(g_mutex);
  const char* env = std::getenv("KISO_MATMUL");
  return g_chosen.has_value() || (env != nullptr && *env != '\0');
}

void set_matmul_rung(MatmulRung rung) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_chosen = rung;
}

void reset_matmul_rung() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_chosen.reset();
}

void matmul_rung_refused(MatmulRung rung, const char* type) {
  fail("matmul", "the {} rung has no {} version", matmul_rung_name(rung), type);
}

void matmul_grid_refused(int64_t tiles, int64_t M, int64_t N) {
  fail("matmul", "a {} x {} product is {} tiles of c; one launch takes at most 2^31 - 1", M, N, tiles);
}

}  // namespace kiso::cuda
