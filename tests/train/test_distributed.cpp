// tests/train/test_distributed.cpp — data-parallel training (train/distributed.h).
//
// The claim: `mpirun -np N kiso pretrain` (and finetune) gives the losses and weights of one
// process accumulating the same micro-batches, because each rank computes whole micro-batch
// gradients and the ranks only add them. For N = 2 and two micro-batches a step the sums are
// the same two terms (a + b = b + a in IEEE arithmetic), so everything must agree to the bit;
// with four micro-batches the grouping differs and the test derives a tolerance.
// The oracle is always the single process of the same binary: the same options, --grad-accum M,
// no launcher. The distributed runs are real: the kiso binary under Open MPI's mpirun, two
// processes on this machine (--oversubscribe: CI has 2 cores and the test runner is a third
// process).
// In-process parts: the autograd hook the reduction rides on (GradientReadyScope) and
// StepGradients' accumulation, against gradients computed one micro-batch at a time.
// Cost: about a dozen short runs of the tiny preset on the toy data (tests/train/toy_data.h),
// each ~1 s, most of it mpirun's start-up.
#include <doctest/doctest.h>

#include "tests/temp_dir.h"
#include "tests/train/child_process.h"
#include "tests/train/run_outcome.h"
#include "tests/train/toy_data.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "autograd/functions.h"
#include "gpt/atomic_file.h"
#include "gpt/json.h"
#include "gpt/model.h"
#include "tensor/ops.h"
#include "train/distributed.h"

using namespace kiso;
using namespace kiso::testing;
namespace fs = std::filesystem;

namespace {

// ---- in-process: the hook and the accumulation ----

// Bit equality of two f32 tensors (memcmp of their values).
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  std::vector<float> x = a.to_vector<float>(), y = b.to_vector<float>();
  return std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

TEST_CASE("GradientReadyScope: each leaf once, with its final gradient, after every op that read it") {
  Generator gen{7};
  Variable w(randn({3, 3}, gen), true), b(randn({3}, gen), true);
  Variable x(randn({2, 3}, gen));
  // w is read twice (two matmuls), b once: w's hook must come after both matmuls' backward
  Variable h = add(matmul(x, w), b);
  Variable y = sum(mul(matmul(h, w), h));
  std::vector<std::pair<const void*, Tensor>> seen;
  {
    GradientReadyScope scope([&](Variable& leaf) { seen.push_back({leaf.id(), leaf.grad().clone()}); });
    y.backward();
  }
  REQUIRE(seen.size() == 2);  // x needs no gradient: not a reported leaf
  for (auto& [id, g] : seen) {
    const Variable& v = id == w.id() ? w : b;
    CHECK((id == w.id() || id == b.id()));
    CHECK(same_bits(g, v.grad()));  // what the hook saw is what backward left
  }
  // Once its scope is gone, a hook is called no more.
  bool called = false;
  { GradientReadyScope scope([&](Variable&) { called = true; }); }
  sum(mul(w, w)).backward();
  CHECK_FALSE(called);
}

// The toy GPT with its tied embedding (read twice: the head and the input): its gradient is
// the case where accumulating in place and adding whole micro-batch gradients differ.
struct ToyModel {
  GPT model;
  ToyModel() : model(make()) {}
  static GPT make() {
    GPTConfig c = toy_gpt_config();
    c.embd_pdrop = c.block.attn_pdrop = c.block.resid_pdrop = 0;
    Generator init{1};
    return GPT(c, init);
  }
  // The loss of a batch of 2 × 8 ids drawn from `seed`.
  Variable loss(uint64_t seed) {
    Generator g{seed};
    std::vector<float> u = rand({2 * 2 * 8}, g).to_vector<float>();
    std::vector<int32_t> ids, targets;
    for (size_t i = 0; i < u.size(); ++i) (i < 16 ? ids : targets).push_back(int32_t(u[i] * 50) % 50);
    return model.loss(from_vector(ids, {2, 8}), from_vector(targets, {2, 8}), Mode::eval());
  }
};

TEST_CASE("StepGradients: the step's gradient is the sum of whole micro-batch gradients, g0 + g1, to the bit") {
  ToyModel m;
  Parameters params = m.model.parameters();
  // g0 and g1 one at a time (each backward from zero)
  std::vector<Tensor> g0, g1;
  mul(m.loss(1), 0.5).backward();
  for (auto& p : params) g0.push_back(p.variable->grad().clone()), p.variable->zero_grad();
  mul(m.loss(2), 0.5).backward();
  for (auto& p : params) g1.push_back(p.variable->grad().clone()), p.variable->zero_grad();

  StepGradients step(params, nullptr);
  step.backward(mul(m.loss(1), 0.5), false);
  step.backward(mul(m.loss(2), 0.5), true);
  step.finish();
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor want = add(g0[i], g1[i]);  // what rank 0 + rank 1 give in a 2-process run
    CHECK_MESSAGE(same_bits(params[i].variable->grad(), want), params[i].name);
  }
}

TEST_CASE("make_reducer: a world of one needs none; nccl needs a GPU, and says so") {
  CHECK(make_reducer("auto", Device::cpu) == nullptr);  // one process: nothing to sum
  CHECK(make_reducer("none", Device::cpu) == nullptr);
  CHECK(make_reducer("auto", Device::cuda) == nullptr);
  std::unique_ptr<Reducer> mpi = make_reducer("mpi", Device::cpu);  // forced: sums over a world of one
  REQUIRE(mpi != nullptr);
  CHECK(mpi->name() == "mpi");
  CHECK_THROWS_WITH(make_reducer("nccl", Device::cpu), doctest::Contains("needs --device cuda"));
  CHECK_THROWS_WITH(make_reducer("gloo", Device::cpu), doctest::Contains("must be one of auto, none, mpi, nccl"));
  // On this machine (no GPU; the simulator, or a CPU-only build) NCCL cannot start: an Error
  // that names NCCL ("nccl communicator: ...", "nccl unique id: ..."), not a crash in the library.
  CHECK_THROWS_WITH(make_reducer("nccl", Device::cuda), doctest::Contains("nccl"));
}

TEST_CASE("StepGradients with a reducer over a world of one leaves the gradients as without one") {
  ToyModel a, b;
  std::unique_ptr<Reducer> mpi = make_reducer("mpi", Device::cpu);
  StepGradients with(a.model.parameters(), mpi.get()), without(b.model.parameters(), nullptr);
  for (int micro = 0; micro < 2; ++micro) {
    with.backward(mul(a.loss(10 + uint64_t(micro)), 0.5), micro == 1);
    without.backward(mul(b.loss(10 + uint64_t(micro)), 0.5), micro == 1);
  }
  with.finish(), without.finish();
  Parameters pa = a.model.parameters(), pb = b.model.parameters();
  for (size_t i = 0; i < pa.size(); ++i) CHECK_MESSAGE(same_bits(pa[i].variable->grad(), pb[i].variable->grad()), pa[i].name);
}

// ---- under mpirun ----

// mpirun's full path (the child is exec'd without a PATH search), or "" when there is none.
std::string find_mpirun() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t at = 0;;) {
    size_t end = dirs.find(':', at);
    fs::path p = fs::path(dirs.substr(at, end - at)) / "mpirun";
    if (fs::exists(p)) return p.string();
    if (end == std::string::npos) return "";
    at = end + 1;
  }
}

// Runs can be distributed only in a build with MPI, which `make test` has: .ci/install-deps
// installs Open MPI (an MPI=0 build says so and skips these).
bool can_launch() {
  if (!dist::mpi_built()) {
    MESSAGE("skipped: this build has no MPI (MPI=0)");
    return false;
  }
  REQUIRE_MESSAGE(!find_mpirun().empty(), "mpirun is missing: .ci/install-deps installs openmpi-bin");
  return true;
}

// mpirun -np N with what a container and CI need: root allowed, more processes than cores, no
// binding (the two ranks and the test runner share 2 cores), no single-copy shared memory (the
// kernel's process_vm_readv is often refused in containers).
Launch under_mpirun(int processes, std::vector<std::string> args) {
  Launch l(std::move(args));
  l.under({find_mpirun(), "-np", std::to_string(processes), "--oversubscribe", "--bind-to", "none"});
  l.with_env("OMPI_ALLOW_RUN_AS_ROOT=1").with_env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1");
  l.with_env("OMPI_MCA_btl_vader_single_copy_mechanism=none");
  return l;
}

struct Run {
  TempDir dir;
  explicit Run(const std::string& name) : dir(name) {
    write_toy_data(dir.str("data"));
  }
  // The tiny preset (2 layers of 128 channels) on the toy data, M micro-batches of 4 a step.
  std::vector<std::string> args(const std::string& out, int64_t grad_accum, int64_t steps,
                                std::vector<std::string> more = {}) const {
    std::vector<std::string> a = {"pretrain", "--data", dir.str("data"), "--out", dir.str(out), "--preset", "tiny",
                                  "--steps", std::to_string(steps), "--batch-size", "4", "--seq-len", "16",
                                  "--grad-accum", std::to_string(grad_accum), "--lr", "1e-3", "--warmup", "2",
                                  "--eval-every", "2", "--eval-batches", "2", "--checkpoint-every", "2"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
};

TEST_CASE("kiso info under mpirun: each process knows its rank, and MPI is built in") {
  if (!can_launch()) return;
  TempDir d("dist_info");
  REQUIRE(exited(run(under_mpirun(2, {"info", "--json"}).stdout_to(d.str("out.txt"))), 0));
  std::string text = read_file(d.str("out.txt"));
  std::vector<int64_t> ranks;
  for (size_t at = 0, end; (end = text.find('\n', at)) != std::string::npos; at = end + 1) {
    Json j = parse_json_strict(text.substr(at, end - at), "kiso info --json");
    CHECK(j["mpi_built"] == true);
    CHECK(j["processes"] == 2);
    ranks.push_back(j["rank"].get<int64_t>());
  }
  std::sort(ranks.begin(), ranks.end());
  CHECK(ranks == std::vector<int64_t>{0, 1});
}

TEST_CASE("mpirun -np 2 kiso pretrain (tiny): the losses and weights of one process with --grad-accum 2") {
  if (!can_launch()) return;
  Run r("dist_pretrain");
  std::string out = r.dir.str("out.txt"), err = r.dir.str("err.txt");
  REQUIRE(exited(run(Launch(r.args("one", 2, 4))), 0));
  int status = run(under_mpirun(2, r.args("two", 2, 4)).stdout_to(out).stderr_to(err));
  INFO("stderr: " << read_file(err));
  REQUIRE(exited(status, 0));
  Outcome one = outcome(r.dir.str("one")), two = outcome(r.dir.str("two"));
  CHECK(two.losses == one.losses);
  CHECK(two.weights == one.weights);  // bit for bit
  CHECK(two.state == one.state);      // AdamW's moments too
  REQUIRE(two.records.size() == 4);
  for (const Json& rec : two.records) CHECK(rec["processes"] == 2);
  // Rank 0 alone printed: one line per step, and the set-up line once.
  std::string text = read_file(out);
  CHECK(count_lines(out, "step ") == 1 + 4);  // "step 0 | val loss" and the 4 steps
  CHECK(text.find("2 processes: each takes 1 of the 2 micro-batches of a step; gradients summed by mpi") !=
        std::string::npos);
}

TEST_CASE("mpirun -np 2 with four micro-batches a step: the same losses to rounding") {
  if (!can_launch()) return;
  Run r("dist_four");
  REQUIRE(exited(run(Launch(r.args("one", 4, 4))), 0));
  REQUIRE(exited(run(under_mpirun(2, r.args("two", 4, 4))), 0));
  Outcome one = outcome(r.dir.str("one")), two = outcome(r.dir.str("two"));
  REQUIRE(one.records.size() == two.records.size());
  // Step 1's loss is computed before any update from the same weights and batches: equal to the
  // bit (its four terms are summed as doubles, (l0 + l1) + (l2 + l3) against ((l0 + l1) + l2) +
  // l3; each l is an f32-rounded mean, so their double sums are exact and the order cannot show).
  CHECK(one.records[0]["loss"] == two.records[0]["loss"]);
  // Later steps: each gradient element differs by at most 3 roundings of the sum of the four
  // terms' magnitudes (|err| <= 3·2^-24·Σ|g_m|: ~2e-7 relative), and AdamW moves each weight by
  // at most lr = 1e-3 a step whatever the gradient, so three steps apart the weights differ by
  // far less than 1e-6 where the gradient's sign is clear; a loss of O(4) on weights of O(0.02)
  // moves by < 1e-4 relative for such differences. 1e-4 relative is that bound; measured: one
  // step of six differed, by 2e-8 relative (the tiny preset on the licence texts).
  for (size_t i = 0; i < one.records.size(); ++i) {
    double a = one.records[i]["loss"].get<double>(), b = two.records[i]["loss"].get<double>();
    CHECK(std::abs(a - b) <= 1e-4 * std::abs(a));
  }
}

TEST_CASE("mpirun -np 2 kiso finetune: the losses and model of one process with --grad-accum 2") {
  if (!can_launch()) return;
  Run r("dist_finetune");
  // A pre-trained model with its tokenizer, made by kiso itself: prepare, then one step.
  std::string corpus, train, val;
  const std::vector<std::string> words = {"tea", "cake", "soup", "bread", "jam", "rice", "fish", "milk"};
  for (int i = 0; i < 200; ++i) corpus += words[size_t(i * 7 % 8)] + (i % 3 ? " good " : " bad ") + words[size_t(i % 8)] + "\n";
  write_file_atomic(r.dir.str("corpus.txt"), corpus);
  REQUIRE(exited(run(Launch({"prepare", "--input", r.dir.str("corpus.txt"), "--out", r.dir.str("text"),
                             "--vocab-size", "280"})), 0));
  REQUIRE(exited(run(Launch({"pretrain", "--data", r.dir.str("text"), "--out", r.dir.str("base"), "--preset", "tiny",
                             "--steps", "1", "--batch-size", "2", "--seq-len", "16"})), 0));
  // classification: "yes" when "good" is in the text
  for (int i = 0; i < 48; ++i) {
    bool good = (i * 5) % 3 != 0;
    std::string line = Json{{"text", words[size_t(i % 8)] + (good ? " good " : " bad ") + words[size_t(i * 3 % 8)]},
                            {"label", good ? "yes" : "no"}}.dump() + "\n";
    (i < 32 ? train : val) += line;
  }
  write_file_atomic(r.dir.str("train.jsonl"), train);
  write_file_atomic(r.dir.str("val.jsonl"), val);
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"finetune", "--model", r.dir.str("base/model"), "--task", "classification",
                                    "--train", r.dir.str("train.jsonl"), "--val", r.dir.str("val.jsonl"), "--out",
                                    r.dir.str(out), "--batch-size", "8", "--grad-accum", "2", "--epochs", "1",
                                    "--lr", "1e-3", "--eval-every", "2", "--max-len", "16"};
  };
  std::string err = r.dir.str("err.txt");
  REQUIRE(exited(run(Launch(args("one"))), 0));
  int status = run(under_mpirun(2, args("two")).stderr_to(err));
  INFO("stderr: " << read_file(err));
  REQUIRE(exited(status, 0));
  auto losses = [&](const std::string& run) {  // "step loss val_loss val_accuracy" of each record
    std::vector<std::string> out;
    for (const Json& rec : log_records(r.dir.str(run + "/log.jsonl")))
      out.push_back(fmt::format("{} {} {} {}", rec["step"].dump(), rec["loss"].dump(),
                                rec.value("val_loss", Json()).dump(), rec.value("val_accuracy", Json()).dump()));
    return out;
  };
  std::vector<std::string> one_losses = losses("one"), two_losses = losses("two");
  CHECK(one_losses.size() == 4);  // 32 examples in steps of 8
  CHECK(two_losses == one_losses);
  // the fine-tuned model directory, file by file
  for (const auto& entry : fs::directory_iterator(r.dir.str("one/model"))) {
    std::string name = entry.path().filename().string();
    if (name == "task.json") continue;  // names its run directory
    CHECK_MESSAGE(read_file(entry.path().string()) == read_file(r.dir.str("two/model/" + name)), name);
  }
}

TEST_CASE("mpirun -np 2 --device cuda on the simulator: gradients staged through the host, one process's losses") {
  if (!can_launch()) return;
  Run r("dist_sim");
  write_toy_config(r.dir.str("toy.json"));
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"pretrain", "--data", r.dir.str("data"), "--out", r.dir.str(out), "--config",
                                    r.dir.str("toy.json"), "--steps", "3", "--batch-size", "2", "--seq-len", "8",
                                    "--grad-accum", "2", "--eval-every", "3", "--eval-batches", "1", "--device",
                                    "cuda"};
  };
  std::string err = r.dir.str("err.txt");
  REQUIRE(exited(run(Launch(args("one")).with_env("KISO_CUDA_SIM=1")), 0));
  int status = run(under_mpirun(2, args("two")).with_env("KISO_CUDA_SIM=1").stderr_to(err));
  INFO("stderr: " << read_file(err));
  REQUIRE(exited(status, 0));
  Outcome one = outcome(r.dir.str("one")), two = outcome(r.dir.str("two"));
  CHECK(two.losses == one.losses);
  CHECK(two.weights == one.weights);
}

TEST_CASE("resume across process counts: 2 then 1, and 1 then 2, end where one uninterrupted process does") {
  if (!can_launch()) return;
  Run r("dist_resume");
  REQUIRE(exited(run(Launch(r.args("whole", 2, 6))), 0));
  Outcome whole = outcome(r.dir.str("whole"));
  // two processes for 2 steps, then one
  REQUIRE(exited(run(under_mpirun(2, r.args("a", 2, 6, {"--stop-at", "2"}))), 0));
  REQUIRE(exited(run(Launch(r.args("a", 2, 6, {"--resume"}))), 0));
  Outcome a = outcome(r.dir.str("a"));
  CHECK(a.weights == whole.weights);
  CHECK(a.state == whole.state);
  CHECK(a.losses == whole.losses);
  // one process for 4 steps, then two
  REQUIRE(exited(run(Launch(r.args("b", 2, 6, {"--stop-at", "4"}))), 0));
  REQUIRE(exited(run(under_mpirun(2, r.args("b", 2, 6, {"--resume"}))), 0));
  Outcome b = outcome(r.dir.str("b"));
  CHECK(b.weights == whole.weights);
  CHECK(b.state == whole.state);
  CHECK(b.losses == whole.losses);
}

TEST_CASE("distributed errors: said once, every process ends, none hangs") {
  if (!can_launch()) return;
  Run r("dist_errors");
  std::string err = r.dir.str("err.txt");
  auto occurrences = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  SUBCASE("--grad-accum that does not split over the processes: every rank finds it, rank 0 says it") {
    int status = wait_for(start(under_mpirun(2, r.args("x", 1, 2)).stderr_to(err)), 60);
    std::string text = read_file(err);
    INFO(text);
    CHECK_FALSE(exited(status, 0));
    CHECK(occurrences(text, "--grad-accum 1 does not split over 2 processes") == 1);
    CHECK_FALSE(fs::exists(r.dir.str("x")));  // nothing written
  }
  SUBCASE("a run directory in the way: rank 0 alone checks it, and the others stop with it") {
    REQUIRE(exited(run(Launch(r.args("taken", 2, 2))), 0));
    int status = wait_for(start(under_mpirun(2, r.args("taken", 2, 2)).stderr_to(err)), 60);
    std::string text = read_file(err);
    INFO(text);
    CHECK_FALSE(exited(status, 0));
    CHECK(occurrences(text, "already holds a run") == 1);
  }
  SUBCASE("a file only rank 1 cannot read: its message, named by rank, reaches rank 0") {
    // rank 1 is given a data directory whose train.bin is missing (mpirun's colon syntax: one
    // program and its arguments per rank)
    std::string broken = r.dir.str("broken");
    fs::create_directories(broken);
    fs::copy_file(r.dir.str("data") + "/meta.json", broken + "/meta.json");
    fs::copy_file(r.dir.str("data") + "/val.bin", broken + "/val.bin");
    std::vector<std::string> rank0 = r.args("y", 2, 2), rank1 = rank0;
    rank1[2] = broken;  // --data
    Launch l = under_mpirun(1, rank0);
    l.args.push_back(":");
    l.args.insert(l.args.end(), {"-np", "1", kiso_binary()});
    l.args.insert(l.args.end(), rank1.begin(), rank1.end());
    int status = wait_for(start(l.stderr_to(err)), 60);
    std::string text = read_file(err);
    INFO(text);
    CHECK_FALSE(exited(status, 0));
    CHECK(occurrences(text, "rank 1 of 2: ") == 1);
    CHECK(text.find(broken + "/train.bin") != std::string::npos);
  }
}

}  // namespace
