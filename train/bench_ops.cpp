// train/bench_ops.cpp — `make bench`: how fast kiso's CPU kernels run, with OpenBLAS as the yardstick.
//
// What it is: one program that prints two tables, each at 1 and 2 threads.
//   1. f32 matmul GFLOP/s of kiso::matmul (Eigen GEMM in row bands, tensor/ops_matmul.cpp)
//      against OpenBLAS cblas_sgemm on GPT-sized shapes, plus the two transposed products that
//      backward runs, with the ratio kiso/OpenBLAS and whether it reaches the target, 0.70.
//   2. microseconds per call and GB/s of layernorm, softmax and GELU (tanh), forward and
//      backward, on one (4096, 768) f32 tensor.
// What it is not: a test. Nothing is asserted. The one check is that kiso's product matches
// OpenBLAS's before either is timed, so a wrong kernel is never timed. Nor is it part of the
// engine: OpenBLAS is linked into this benchmark only; libkiso never links it.
// Method: one warm-up call, then N timed calls with std::chrono::steady_clock; N is picked from
// the warm-up so that each figure takes about 0.75 s; the table shows the best (min) and median.
// Run: make bench    (installs libopenblas-dev if missing, builds build/bench_ops, runs it)
// Results with their machine and date: docs/benchmarks.md.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "tensor/ops.h"

using namespace kiso;

constexpr double kSecondsPerFigure = 0.75;  // time spent on the N timed calls of one figure
constexpr int kMinReps = 3;
constexpr int kThreadCounts[] = {1, 2};
constexpr double kTarget = 0.70;  // the ratio kiso/OpenBLAS a shape should reach ("ok" in the table)
constexpr double kMatchTolerance = 1e-4;  // on max|kiso - OpenBLAS| / max|OpenBLAS|; f32 gives ~1e-6

// ---- timing ----

struct Timing {
  double best = 0, median = 0;  // seconds per call
  int reps = 0;
};

static double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Times `call`: one warm-up (first touch of memory, thread start-up), then N calls.
static Timing time_calls(const std::function<void()>& call) {
  auto t0 = std::chrono::steady_clock::now();
  call();
  double warm = seconds_since(t0);
  int reps = std::max(kMinReps, int(kSecondsPerFigure / std::max(warm, 1e-6)));
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    t0 = std::chrono::steady_clock::now();
    call();
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  return {times.front(), times[times.size() / 2], reps};
}

// OpenBLAS's idle workers spin for a while after a call, and so do OpenMP's; on two cores they
// would steal time from the other library's threads. A short sleep lets them go to sleep first.
static void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(250)); }

static void set_threads(int n) {
  omp_set_num_threads(n);       // kiso
  openblas_set_num_threads(n);  // the yardstick
}

// The 1-minute load average before the benchmark starts: on a shared machine, a load near or
// above the core count means the 2-thread figures are squeezed by other work.
static std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one_minute;
  f >> one_minute;
  return one_minute.empty() ? "unknown" : one_minute;
}

static std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

// ---- matmul ----

// C (M, N) = op(A) · op(B); A is stored (M, K), or (K, M) when trans_a; B (K, N), or (N, K).
struct MatmulCase {
  const char* label;  // M x K · K x N as stored, ^T where an operand is read transposed
  int64_t M, K, N;
  bool trans_a, trans_b;
};

// The same product through OpenBLAS, row-major, into `out` (M, N). It is allocated once, as a
// BLAS user would; kiso::matmul allocates its result on every call, as the engine does, so that
// cost (page faults for a large output) counts against kiso only.
static void blas_matmul(const Tensor& a, const Tensor& b, const MatmulCase& c, Tensor& out) {
  cblas_sgemm(CblasRowMajor, c.trans_a ? CblasTrans : CblasNoTrans, c.trans_b ? CblasTrans : CblasNoTrans,
              int(c.M), int(c.N), int(c.K), 1.0f, a.data<float>(), int(a.size(1)), b.data<float>(), int(b.size(1)),
              0.0f, out.data<float>(), int(c.N));
}

// max |x - ref| / max |ref|
static double relative_difference(const Tensor& x, const Tensor& ref) {
  const float* px = x.data<float>();
  const float* pr = ref.data<float>();
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    diff = std::max(diff, std::fabs(double(px[i]) - pr[i]));
    scale = std::max(scale, std::fabs(double(pr[i])));
  }
  return diff / std::max(scale, 1e-30);
}

static void print_matmul_header() {
  fmt::print("{:<26} {:>3} {:>5} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9}  {}\n", "matmul (M x K . K x N)", "thr",
             "N", "kiso", "kiso med", "OpenBLAS", "BLAS med", "ratio", "rel err", "target 0.70");
  fmt::print("{:<26} {:>3} {:>5} {:>9} {:>9} {:>9} {:>9} {:>6} {:>9}\n", "", "", "", "GFLOP/s", "GFLOP/s",
             "GFLOP/s", "GFLOP/s", "", "");
}

static void bench_matmul(const MatmulCase& c, int threads, const Tensor& a, const Tensor& b) {
  set_threads(threads);
  Tensor out({c.M, c.N}, DType::f32);  // (M, N), OpenBLAS's result
  // check before timing: the two results must agree
  blas_matmul(a, b, c, out);
  double err = relative_difference(matmul(a, b, c.trans_a, c.trans_b), out);
  if (!(err <= kMatchTolerance)) {
    fmt::print("{:<26} {:>3}  MISMATCH: kiso differs from OpenBLAS by {:.2e} (relative); not timed\n", c.label,
               threads, err);
    return;
  }
  settle();
  Timing k = time_calls([&] { matmul(a, b, c.trans_a, c.trans_b); });
  settle();
  Timing o = time_calls([&] { blas_matmul(a, b, c, out); });
  double gflop = 2.0 * double(c.M) * double(c.N) * double(c.K) * 1e-9;
  double ratio = o.best / k.best;  // = kiso GFLOP/s / OpenBLAS GFLOP/s
  fmt::print("{:<26} {:>3} {:>5} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f} {:>6.2f} {:>9.1e}  {}\n", c.label, threads,
             fmt::format("{}/{}", k.reps, o.reps), gflop / k.best, gflop / k.median, gflop / o.best,
             gflop / o.median, ratio, err, ratio >= kTarget ? "ok" : "below");
}

static void matmul_table(Generator& gen) {
  const MatmulCase cases[] = {
      {"4096x768 . 768x3072", 4096, 768, 3072, false, false},    // MLP up-projection
      {"4096x768 . 768x768", 4096, 768, 768, false, false},      // attention projection
      {"4096x3072 . 3072x768", 4096, 3072, 768, false, false},   // MLP down-projection
      {"4096x768 . (3072x768)^T", 4096, 768, 3072, false, true},  // trans_b
      {"(4096x768)^T . 4096x3072", 768, 4096, 3072, true, false}, // dW = X^T · dY
  };
  print_matmul_header();
  for (const MatmulCase& c : cases) {
    Tensor a = randn(c.trans_a ? Shape{c.K, c.M} : Shape{c.M, c.K}, gen);  // stored shape of A
    Tensor b = randn(c.trans_b ? Shape{c.N, c.K} : Shape{c.K, c.N}, gen);  // stored shape of B
    for (int threads : kThreadCounts) bench_matmul(c, threads, a, b);
  }
}

// ---- layernorm, softmax, GELU ----

struct OpCase {
  const char* name;
  double bytes;  // memory traffic of one call: every input read once plus every output written once
  std::function<void()> call;
};

static void op_table(Generator& gen) {
  const int64_t N = 4096, C = 768;
  const double f = sizeof(float);
  Tensor x = randn({N, C}, gen);   // (N, C)
  Tensor dy = randn({N, C}, gen);  // (N, C)
  Tensor gamma = randn({C}, gen);  // (C,)
  Tensor beta = randn({C}, gen);   // (C,)
  LayerNormOutput ln = layernorm_forward(x, gamma, beta, 1e-5);
  Tensor y_soft = softmax_forward(x);  // (N, C)
  const std::vector<OpCase> ops = {
      // x, gamma, beta in; y, mean, rstd out
      {"layernorm_forward", f * (2 * N * C + 2 * C + 2 * N), [&] { layernorm_forward(x, gamma, beta, 1e-5); }},
      // dy, x, mean, rstd, gamma in; dx, dgamma, dbeta out
      {"layernorm_backward", f * (3 * N * C + 3 * C + 2 * N),
       [&] { layernorm_backward(dy, x, ln.mean, ln.rstd, gamma); }},
      {"softmax_forward", f * 2 * N * C, [&] { softmax_forward(x); }},                  // x in, y out
      {"softmax_backward", f * 3 * N * C, [&] { softmax_backward(y_soft, dy); }},       // y, dy in, dx out
      {"gelu_forward (tanh)", f * 2 * N * C, [&] { gelu_forward(x, GeluKind::tanh); }},  // x in, y out
      {"gelu_backward (tanh)", f * 3 * N * C, [&] { gelu_backward(x, dy, GeluKind::tanh); }},  // x, dy in, dx out
  };
  fmt::print("{:<22} {:>3} {:>5} {:>9} {:>9} {:>7} {:>9}\n", "op on (4096, 768)", "thr", "N", "best us", "med us",
             "GB/s", "MB moved");
  for (const OpCase& op : ops) {
    for (int threads : kThreadCounts) {
      set_threads(threads);
      settle();
      Timing t = time_calls(op.call);
      fmt::print("{:<22} {:>3} {:>5} {:>9.0f} {:>9.0f} {:>7.1f} {:>9.1f}\n", op.name, threads, t.reps, t.best * 1e6,
                 t.median * 1e6, op.bytes / t.best * 1e-9, op.bytes * 1e-6);
    }
  }
}

int main() {
  try {
    int saved_omp = omp_get_max_threads(), saved_blas = openblas_get_num_threads();
    Generator gen{1234};
    fmt::print("kiso op benchmarks, f32 on the CPU\n");
    fmt::print("CPU: {} ({} hardware threads); thread counts measured: 1, 2\n", cpu_model(),
               std::thread::hardware_concurrency());
    fmt::print("load average (1 min) before the run: {}\n", load_average());
    fmt::print("OpenBLAS: {}\n", openblas_get_config());
    fmt::print("method: 1 warm-up call, then N timed calls (steady_clock), N chosen so each figure takes ~{} s\n"
               "        (at least {}; matmul rows show N as kiso/OpenBLAS); a figure is the best (min) or median "
               "(med) of N\n",
               kSecondsPerFigure, kMinReps);
    fmt::print("matmul: FLOPs = 2*M*N*K; ratio = kiso / OpenBLAS (best); rel err = max|kiso - OpenBLAS| / "
               "max|OpenBLAS|,\n        checked before timing; kiso allocates its (M, N) result on every call, "
               "OpenBLAS writes into one allocated once\n");
    fmt::print("ops: GB/s = (bytes of inputs read + outputs written, once each) / best time\n\n");
    matmul_table(gen);
    fmt::print("\n");
    op_table(gen);
    omp_set_num_threads(saved_omp);
    openblas_set_num_threads(saved_blas);
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_ops: {}\n", e.what());
    return 1;
  }
}
