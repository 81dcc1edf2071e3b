// tests/test_layout.cpp — the arrows between kiso's folders (docs/architecture.md), checked on
// every `#include "..."` of the source tree.
//
// Oracle: the table below, which is docs/architecture.md's picture written as data. A file in
// folder F may include a kiso header only from the folders allowed[F]; a header that says it is
// internal may be included only from its own folders. An include that breaks either rule fails
// with the file, the line and the arrow it would add.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// Who may include whom: each folder, then the folders its files may include (itself included).
// base/ is the leaf both tensor/ and cuda/ use; cuda/ knows no tensor, tensor/ calls cuda's kernels.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"base", {"base"}},
    {"cuda", {"cuda", "base"}},
    {"tensor", {"tensor", "base", "cuda"}},
    {"autograd", {"autograd", "tensor", "base"}},
    {"nn", {"nn", "autograd", "tensor", "base"}},
    {"gpt", {"gpt", "nn", "autograd", "tensor", "base"}},
    {"train", {"train", "gpt", "nn", "autograd", "tensor", "base", "cuda"}},
};

// Headers internal to the folders named: the seam between tensor/ and cuda/, and cuda's own
// parts. Of cuda/, runtime.h (is there a GPU, memory, copies) and sim/profile.h (what the
// simulator measured) are for everyone above it; kernels.h also for train/, whose matmul
// benchmark (train/bench_matmul.cpp) times the ladder's kernels themselves; nccl.h for train/
// alone, whose data parallelism (train/distributed.cpp) hands it device gradients to sum.
const std::map<std::string, std::set<std::string>> kInternal = {
    {"tensor/dispatch.h", {"tensor"}},
    {"tensor/eigen.h", {"tensor"}},
    {"cuda/kernels.h", {"tensor", "cuda", "train"}},
    {"cuda/nccl.h", {"cuda", "train"}},
    {"cuda/launch.h", {"cuda"}},
    {"cuda/kernels/block.h", {"cuda"}},
    {"cuda/kernels/matmul_ladder.h", {"cuda"}},
    {"cuda/kernels/mma.h", {"cuda"}},
    {"cuda/kernels/epilogue.h", {"cuda"}},
    {"cuda/gpu.h", {"cuda"}},
    {"cuda/allocator.h", {"cuda"}},
    {"cuda/selftest.h", {"cuda"}},
    {"cuda/sim/sim.h", {"cuda"}},
};

struct Include {
  std::string file;  // relative to the source tree, e.g. "tensor/ops_nn.cpp"
  int line;
  std::string header;  // e.g. "cuda/kernels.h"
};

std::string folder_of(const std::string& path) { return path.substr(0, path.find('/')); }

// Every `#include "x/..."` of the C++ and CUDA sources under the folders of kAllowed.
std::vector<Include> project_includes() {
  const fs::path root = KISO_SOURCE_DIR;
  const std::regex include_line(R"(^\s*#\s*include\s+"([^"]+)\")");
  std::vector<Include> out;
  for (const auto& [folder, allowed] : kAllowed) {
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(root / folder)) {
      std::string ext = e.path().extension().string();
      if (!e.is_regular_file() || (ext != ".h" && ext != ".cpp" && ext != ".cu")) continue;
      std::ifstream in(e.path());
      std::string text;
      for (int line = 1; std::getline(in, text); ++line) {
        std::smatch m;
        if (std::regex_search(text, m, include_line) && m[1].str().find('/') != std::string::npos)
          out.push_back({fs::relative(e.path(), root).generic_string(), line, m[1].str()});
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("folders include only the folders below them, and no one includes another folder's internals") {
  std::vector<Include> includes = project_includes();
  REQUIRE(includes.size() > 100);  // the walk found the tree (it has a few hundred such lines)
  int seen_cross_folder = 0;
  for (const Include& inc : includes) {
    std::string from = folder_of(inc.file), to = folder_of(inc.header);
    if (!kAllowed.count(to)) continue;  // a system header spelled with quotes, e.g. "doctest/..."
    if (from != to) ++seen_cross_folder;
    INFO(inc.file << ":" << inc.line << " includes " << inc.header);
    CHECK_MESSAGE(kAllowed.at(from).count(to), "adds the arrow " << from << " -> " << to);
    if (kInternal.count(inc.header))
      CHECK_MESSAGE(kInternal.at(inc.header).count(from), inc.header << " is internal to its folder");
  }
  CHECK(seen_cross_folder > 20);  // the rules were tried on real arrows, not only same-folder lines
}
