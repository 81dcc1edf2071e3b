// tests/docs/test_walkthrough.cpp — the walkthroughs (docs/walkthrough.md and its Japanese twin
// docs/walkthrough.ja.md) say what they show: every command in them runs.
//
// A command is any line of a fenced block whose info string is `sh` (run in `make test`) or
// `sh slow` (longer training; run only when KISO_DOCS_ALL=1, which `make docs-check` sets). The
// blocks of a page run in order as one bash script, with `set -euo pipefail`, from the source
// tree, with $W a fresh temporary directory and `build/kiso` at the start of a command replaced
// by the kiso binary beside this test binary (build/<config>/kiso), so a CPU-only or a CUDA
// build tests its own binary. The two pages must hold the same blocks in the same order (the
// Japanese page is a translation, its commands are not), so running the English page's blocks
// runs both pages' commands. A failing block is named by its page and line.
// Also: every repository path and figure the pages point to exists.
// What it is not: a check of the outputs shown on the pages (timings and the last digits move).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "gpt/atomic_file.h"
#include "tests/temp_dir.h"

namespace fs = std::filesystem;

namespace {

const std::string kSource = KISO_SOURCE_DIR;

struct Block {
  std::string text;  // the lines between the fences
  bool slow = false;
  int line = 0;      // the opening fence's line (1-based)
};

// The `sh` and `sh slow` blocks of a Markdown page, in order.
std::vector<Block> shell_blocks(const std::string& page) {
  std::vector<Block> blocks;
  std::string text = kiso::read_file(kSource + "/" + page);
  Block* open = nullptr;
  bool in_other = false;  // inside a fence that is not ours (text, cpp, ...)
  int number = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1, ++number;
    bool fence = line.rfind("```", 0) == 0;
    if (open) {
      if (fence) open = nullptr;
      else open->text += line + "\n";
    } else if (in_other) {
      if (fence) in_other = false;
    } else if (fence) {
      std::string info = line.substr(3);
      if (info == "sh" || info == "sh slow") open = &blocks.emplace_back(Block{"", info == "sh slow", number});
      else in_other = true;
    }
  }
  REQUIRE_MESSAGE(open == nullptr, page << ": a ```sh block is never closed");
  REQUIRE_MESSAGE(!in_other, page << ": a ``` block is never closed");
  return blocks;
}

// build/kiso at the start of a command (a line's first word, or after `| ` or `; `) -> `kiso`.
std::string with_binary(const std::string& text, const std::string& kiso) {
  static const std::regex command(R"((^|\n|[|;&]\s*|\$\()\s*build/kiso(?=\s))");
  return std::regex_replace(text, command, "$1" + kiso);
}

std::string kiso_binary() {
  fs::path exe = fs::read_symlink("/proc/self/exe").parent_path() / "kiso";
  REQUIRE_MESSAGE(fs::exists(exe), exe.string() << " is missing: the walkthrough runs the kiso binary (make builds it)");
  return exe.string();
}

// Runs `script` with bash; returns its exit status and its output (stdout and stderr).
std::pair<int, std::string> run_bash(const std::string& script_path) {
  std::string cmd = "timeout 900 bash " + script_path + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, out};
}

}  // namespace

TEST_SUITE("docs") {

TEST_CASE("walkthrough: the English and Japanese pages hold the same commands") {
  std::vector<Block> en = shell_blocks("docs/walkthrough.md"), ja = shell_blocks("docs/walkthrough.ja.md");
  REQUIRE(en.size() >= 10);  // the tour has a command at every step
  REQUIRE_MESSAGE(en.size() == ja.size(), "docs/walkthrough.md has " << en.size() << " sh blocks, walkthrough.ja.md "
                                                                     << ja.size());
  for (size_t i = 0; i < en.size(); ++i) {
    INFO("block " << i + 1 << ": walkthrough.md line " << en[i].line << ", walkthrough.ja.md line " << ja[i].line);
    CHECK(en[i].text == ja[i].text);
    CHECK(en[i].slow == ja[i].slow);
  }
}

TEST_CASE("walkthrough: every path and figure the pages name exists") {
  // `dir/file.ext` in backquotes, or a Markdown image (relative to docs/).
  // A pattern such as `tensor/ops_*.cpp` is checked for its directory.
  static const std::regex path(R"(`((?:base|tensor|autograd|nn|gpt|cuda|train|tests|docs)/[A-Za-z0-9_./*-]+))");
  static const std::regex image(R"(\]\((figures/[A-Za-z0-9_.-]+\.svg)\))");
  for (std::string page : {"docs/walkthrough.md", "docs/walkthrough.ja.md"}) {
    std::string text = kiso::read_file(kSource + "/" + page);
    int paths = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), path); it != std::sregex_iterator(); ++it, ++paths) {
      std::string p = (*it)[1];
      if (p.find('*') != std::string::npos) p = p.substr(0, p.rfind('/', p.find('*')));
      while (!p.empty() && (p.back() == '.' || p.back() == '/')) p.pop_back();
      CHECK_MESSAGE(fs::exists(kSource + "/" + p), page << " names " << p << ", which does not exist");
    }
    CHECK(paths > 40);  // the regex found the code pointers (a broken one would find none)
    int images = 0;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), image); it != std::sregex_iterator(); ++it, ++images)
      CHECK_MESSAGE(fs::exists(kSource + "/docs/" + std::string((*it)[1])), page << " shows " << (*it)[1]
                                                                                 << ", which does not exist");
    CHECK(images >= 4);
  }
}

TEST_CASE("walkthrough: every command runs") {
  const bool all = std::getenv("KISO_DOCS_ALL") != nullptr;
  const std::string kiso = kiso_binary();
  std::vector<Block> blocks = shell_blocks("docs/walkthrough.md");
  TempDir dir("walkthrough");
  std::string script = "set -euo pipefail\ncd '" + kSource + "'\nexport W='" + dir.str("w") + "'\n";
  int ran = 0;
  for (const Block& b : blocks) {
    if (b.slow && !all) continue;
    script += "echo '>>> docs/walkthrough.md line " + std::to_string(b.line) + "'\n";
    script += with_binary(b.text, kiso);
    ++ran;
  }
  script += "echo '>>> all blocks ran'\n";
  kiso::write_file_atomic(dir.str("walkthrough.sh"), script);
  auto [status, out] = run_bash(dir.str("walkthrough.sh"));
  // The last block that started is the one that failed.
  size_t last = out.rfind(">>> ");
  std::string where = last == std::string::npos ? "before the first block" : out.substr(last, out.find('\n', last) - last);
  INFO("exit status " << status << "; failed after " << where << "\n--- output (last 4000 bytes) ---\n"
                      << (out.size() > 4000 ? out.substr(out.size() - 4000) : out));
  CHECK(status == 0);
  CHECK(out.find(">>> all blocks ran") != std::string::npos);
  MESSAGE("ran " << ran << " of " << blocks.size() << " blocks" << (all ? std::string() : std::string(" (KISO_DOCS_ALL=1 runs the slow ones)")));
}

}  // TEST_SUITE
