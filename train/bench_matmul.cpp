// train/bench_matmul.cpp — `kiso bench --op matmul`: the matmul ladder's simulated memory
// traffic and, on a GPU, its GFLOP/s next to cuBLAS. What is measured and why: train/bench_matmul.h.
#include "train/bench_matmul.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <ostream>

#include <fmt/core.h>

#include "base/check.h"
#include "cuda/kernels.h"
#include "cuda/runtime.h"
#include "tensor/ops.h"

#ifdef KISO_CUDA
#include <cublas_v2.h>
#include <dlfcn.h>
#endif

namespace kiso {

std::vector<MatmulProduct> ladder_products() {
  // name, batch, M, N, K, trans_a, trans_b. y = x·W (x (BT, in), W (in, out), as kiso stores
  // Linear weights); dX = dY·Wᵀ reads W transposed; dW = Xᵀ·dY reads x transposed.
  return {
      {"gpt1 fc forward", 1, 4096, 3072, 768, false, false},
      {"gpt1 fc dX", 1, 4096, 768, 3072, false, true},
      {"gpt1 fc dW", 1, 768, 3072, 4096, true, false},
      {"gpt1 attn q·kT", 96, 512, 512, 64, false, true},  // B = 8, 12 heads, T = 512, head size 64
      {"small fc forward", 1, 2048, 1536, 384, false, false},
      {"small fc dX", 1, 2048, 384, 1536, false, true},
      {"small fc dW", 1, 384, 1536, 2048, true, false},
  };
}

namespace {

std::vector<cuda::MatmulRung> chosen_rungs(const std::vector<std::string>& names) {
  if (names.empty()) return {std::begin(cuda::kMatmulRungs), std::end(cuda::kMatmulRungs)};
  std::vector<cuda::MatmulRung> rungs;
  for (const std::string& name : names) rungs.push_back(cuda::matmul_rung_named(name.c_str(), "bench --rungs"));
  return rungs;
}

// Inputs in [-1, 1), the same every run.
float input_value(uint64_t i, uint64_t salt) {
  uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ salt * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31, x *= 0x94D049BB133111EBull, x ^= x >> 29;
  return float(double(x >> 40) / double(1ull << 23) - 1.0);
}

// Host memory aligned as cudaMalloc's is (256 bytes), so that simulated sector counts are the
// GPU's: the simulator's global memory is host memory.
struct AlignedFloats {
  std::unique_ptr<float, decltype(&std::free)> data{nullptr, &std::free};
  explicit AlignedFloats(size_t n) : data(static_cast<float*>(std::aligned_alloc(256, (n * 4 + 255) / 256 * 256)), &std::free) {}
};

// max |got - want| / max |want|: the error measure of every comparison here.
double relative_error(const float* got, const float* want, size_t n) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(double(got[i]) - double(want[i])));
    scale = std::max(scale, std::abs(double(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

struct Kind {
  const char* name;
  bool trans_a, trans_b;
};
constexpr Kind kKinds[] = {{"a·b", false, false}, {"a·bᵀ", false, true}, {"aᵀ·b", true, false}};

MatmulSimRow simulate(cuda::MatmulRung rung, const Kind& kind, int64_t n) {
  MatmulSimRow row{cuda::matmul_rung_name(rung), kind.name, {}, 0, ""};
  size_t count = size_t(n * n);
  AlignedFloats a(count), b(count), c(count);
  for (size_t i = 0; i < count; ++i) a.data.get()[i] = input_value(i, 1), b.data.get()[i] = input_value(i, 2);
  {
    sim::ProfileRecording recording;
    try {
      cuda::matmul_rung<cuda::Target::sim>(rung, a.data.get(), b.data.get(), c.data.get(), 1, n, n, n, kind.trans_a,
                                           kind.trans_b);
    } catch (const Error& e) {
      row.note = e.what();
      return row;
    }
    row.profile = recording.total();
    row.profile.kernel = "";
  }
  // The CPU's product in double, rounded to f32: the oracle.
  auto f64 = [&](const float* x) { return to_dtype(from_vector(std::vector<float>(x, x + count), {n, n}), DType::f64); };
  std::vector<float> want =
      to_dtype(matmul(f64(a.data.get()), f64(b.data.get()), kind.trans_a, kind.trans_b), DType::f32).to_vector<float>();
  row.max_error = relative_error(c.data.get(), want.data(), count);
  return row;
}

template <class F>
double median_ms(int reps, F call) {
  call();  // untimed: first-launch costs, cuBLAS's heuristics
  cuda::synchronize();
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    call();
    cuda::synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

#ifdef KISO_CUDA
// cuBLAS, loaded at run time for this benchmark only. Types and constants come from its header;
// the functions from dlsym, so nothing links against it.
struct Cublas {
  void* library = nullptr;
  cublasHandle_t handle = nullptr;
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSgemmStridedBatched) sgemm = nullptr;
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, long long, const void*, cudaDataType, int, long long,
                            const void*, void*, cudaDataType, int, long long, int, cublasComputeType_t,
                            cublasGemmAlgo_t) = nullptr;
  std::string description;

  Cublas() {
    for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so", "/usr/local/cuda/lib64/libcublas.so"})
      if ((library = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) {
        description = name;
        break;
      }
    if (library == nullptr) {
      description = "none: libcublas.so not found (LD_LIBRARY_PATH)";
      return;
    }
    create = reinterpret_cast<decltype(create)>(dlsym(library, "cublasCreate_v2"));
    destroy = reinterpret_cast<decltype(destroy)>(dlsym(library, "cublasDestroy_v2"));
    set_math_mode = reinterpret_cast<decltype(set_math_mode)>(dlsym(library, "cublasSetMathMode"));
    sgemm = reinterpret_cast<decltype(sgemm)>(dlsym(library, "cublasSgemmStridedBatched"));
    gemm_ex = reinterpret_cast<decltype(gemm_ex)>(dlsym(library, "cublasGemmStridedBatchedEx"));
    if (!create || !destroy || !set_math_mode || !sgemm || !gemm_ex || create(&handle) != CUBLAS_STATUS_SUCCESS) {
      description += ": a function is missing or cublasCreate failed";
      handle = nullptr;
    }
  }
  ~Cublas() {
    if (handle) destroy(handle);
    if (library) dlclose(library);
  }
  bool usable() const { return handle != nullptr; }

  // Row-major c = op(a)·op(b) is column-major cᵀ = op(b)ᵀ·op(a)ᵀ: cuBLAS gets b first.
  // precision: "f32" (TF32 off), "tf32", "bf16" (a and b then hold packed bf16).
  bool product(const std::string& precision, const MatmulProduct& q, const void* a, const void* b, float* c) const {
    cublasOperation_t op_a = q.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = q.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    int M = int(q.M), N = int(q.N), K = int(q.K), lda = q.trans_a ? M : K, ldb = q.trans_b ? K : N;
    float one = 1, zero = 0;
    if (precision == "bf16") {
      set_math_mode(handle, CUBLAS_DEFAULT_MATH);
      return gemm_ex(handle, op_b, op_a, N, M, K, &one, b, CUDA_R_16BF, ldb, q.K * q.N, a, CUDA_R_16BF, lda,
                     q.M * q.K, &zero, c, CUDA_R_32F, N, q.M * q.N, int(q.batch), CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS;
    }
    set_math_mode(handle, precision == "tf32" ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    return sgemm(handle, op_b, op_a, N, M, K, &one, static_cast<const float*>(b), ldb, q.K * q.N,
                 static_cast<const float*>(a), lda, q.M * q.K, &zero, c, N, q.M * q.N,
                 int(q.batch)) == CUBLAS_STATUS_SUCCESS;
  }
};

// The precision a rung computes at, which is the cuBLAS figure it is held against.
std::string precision_of(cuda::MatmulRung rung) {
  return rung == cuda::MatmulRung::mma_tf32 ? "tf32" : rung == cuda::MatmulRung::mma_bf16 ? "bf16" : "f32";
}

// How far a correct rung may be from cuBLAS f32, as max |d| / max |c|: f32 sums of up to 4096
// products differ by order only, ~√K·2^-24 typically and K·2^-24 = 2.4e-4 at worst; TF32 rounds
// each input to 2^-11 relative, BF16 to 2^-8, and with inputs uniform in [-1, 1) the errors of a
// sum grow like √K while the largest |c| grows like √K too: a few times 2^-11 and 2^-8. A wrong
// kernel is off by O(1).
double tolerance_of(const std::string& precision) {
  return precision == "f32" ? 1e-3 : precision == "tf32" ? 1e-2 : 5e-2;
}

void run_gpu(const std::vector<cuda::MatmulRung>& rungs, int reps, MatmulBenchResult& result, std::ostream& log) {
  Cublas cublas;
  result.cublas = cublas.description;
  for (const MatmulProduct& q : ladder_products()) {
    log << fmt::format("bench matmul: {} ({}x {}x{}·{}x{})\n", q.name, q.batch, q.M, q.K, q.K, q.N);
    size_t na = size_t(q.batch * q.M * q.K), nb = size_t(q.batch * q.K * q.N), nc = size_t(q.batch * q.M * q.N);
    std::vector<float> ha(na), hb(nb);
    for (size_t i = 0; i < na; ++i) ha[i] = input_value(i, 1);
    for (size_t i = 0; i < nb; ++i) hb[i] = input_value(i, 2);
    Tensor a = from_vector(ha, {int64_t(na)}).to(Device::cuda), b = from_vector(hb, {int64_t(nb)}).to(Device::cuda);
    Tensor c = zeros({int64_t(nc)}, DType::f32, Device::cuda), want = zeros({int64_t(nc)}, DType::f32, Device::cuda);
    const float *pa = a.cuda_data<float>(), *pb = b.cuda_data<float>();
    float *pc = c.cuda_data<float>(), *pwant = want.cuda_data<float>();

    // The reference every rung is checked against, and cuBLAS's three figures.
    std::string reference = "cublas f32";
    double cublas_gflops[3] = {0, 0, 0};
    const char* precisions[3] = {"f32", "tf32", "bf16"};
    if (cublas.usable() && cublas.product("f32", q, pa, pb, pwant)) {
      Tensor a16 = zeros({int64_t((na + 1) / 2)}, DType::f32, Device::cuda);  // na bf16 = na/2 floats
      Tensor b16 = zeros({int64_t((nb + 1) / 2)}, DType::f32, Device::cuda);
      auto* pa16 = reinterpret_cast<uint16_t*>(a16.cuda_data<float>());
      auto* pb16 = reinterpret_cast<uint16_t*>(b16.cuda_data<float>());
      cuda::bf16_buffer<cuda::Target::gpu>(pa, pa16, int64_t(na));
      cuda::bf16_buffer<cuda::Target::gpu>(pb, pb16, int64_t(nb));
      for (int p = 0; p < 3; ++p) {
        bool bf16 = p == 2;
        const void* x = bf16 ? static_cast<const void*>(pa16) : pa;
        const void* y = bf16 ? static_cast<const void*>(pb16) : pb;
        MatmulGpuRow row{fmt::format("cublas {}", precisions[p]), q.name, 0, 0, 0, 0, ""};
        if (!cublas.product(precisions[p], q, x, y, pc)) {
          row.note = "cuBLAS refused the call";
        } else {
          row.max_error = relative_error(c.to(Device::cpu).data<float>(), want.to(Device::cpu).data<float>(), nc);
          row.ms = median_ms(reps, [&] { cublas.product(precisions[p], q, x, y, pc); });
          row.gflops = cublas_gflops[p] = q.flops() / row.ms / 1e6;
        }
        result.gpu.push_back(row);
      }
    } else {
      reference = "the tiled rung";
      cuda::matmul_rung<cuda::Target::gpu>(cuda::MatmulRung::tiled, pa, pb, pwant, q.batch, q.M, q.N, q.K, q.trans_a,
                                           q.trans_b);
    }
    std::vector<float> host_want = want.to(Device::cpu).to_vector<float>();

    for (cuda::MatmulRung rung : rungs) {
      std::string precision = precision_of(rung);
      int p = precision == "f32" ? 0 : precision == "tf32" ? 1 : 2;
      MatmulGpuRow row{cuda::matmul_rung_name(rung), q.name, 0, 0, cublas_gflops[p], 0, ""};
      auto call = [&] {
        cuda::matmul_rung<cuda::Target::gpu>(rung, pa, pb, pc, q.batch, q.M, q.N, q.K, q.trans_a, q.trans_b);
      };
      try {
        call();
        row.max_error = relative_error(c.to(Device::cpu).data<float>(), host_want.data(), nc);
        if (row.max_error > tolerance_of(precision)) {
          row.note = fmt::format("wrong: max error {:.2e} against {} (tolerance {:.0e}); not timed", row.max_error,
                                 reference, tolerance_of(precision));
        } else {
          row.ms = median_ms(reps, call);
          row.gflops = q.flops() / row.ms / 1e6;
        }
      } catch (const Error& e) {
        row.note = e.what();
      }
      result.gpu.push_back(row);
    }
  }
}
#endif

}  // namespace

MatmulBenchResult run_matmul_bench(const MatmulBenchOptions& options, std::ostream& log) {
  check(options.reps >= 1 && options.reps <= 1000, "bench", "--reps {}; expected 1 to 1000", options.reps);
  check(options.sim_size >= 0 && options.sim_size <= 512, "bench", "--sim-size {}; expected 0 (no simulator) to 512",
        options.sim_size);
  std::vector<cuda::MatmulRung> rungs = chosen_rungs(options.rungs);
  MatmulBenchResult result;
  result.sim_size = options.sim_size;
  result.device = cuda::device_status().message;
  result.cublas = "not used (no GPU)";
  if (options.sim_size > 0) {
    check(sim::profile_available(), "bench", "this build's simulated kernels carry no access hooks (a SANITIZE "
          "build): run --sim-size 0, or a plain build");
    for (cuda::MatmulRung rung : rungs)
      for (const Kind& kind : kKinds) {
        log << fmt::format("bench matmul: simulating {} {} at {}^3\n", cuda::matmul_rung_name(rung), kind.name,
                           options.sim_size);
        result.sim.push_back(simulate(rung, kind, options.sim_size));
      }
  }
#ifdef KISO_CUDA
  if (!cuda::simulator_on() && cuda::device_status().usable) run_gpu(rungs, options.reps, result, log);
#endif
  return result;
}

void print_matmul_bench(const MatmulBenchResult& r, std::ostream& out) {
  if (!r.sim.empty()) {
    out << fmt::format("simulated (cuda/sim, M = N = K = {}; traffic and conflicts as an sm_90 GPU would see them)\n",
                       r.sim_size);
    out << fmt::format("{:<13} {:<6} {:>8} {:>8} {:>7} {:>8} {:>10} {:>6} {:>5} {:>9}\n", "rung", "kind", "ld sec/rq",
                       "st sec/rq", "effic", "traffic", "shared rq", "ways", "occ", "error");
    for (const MatmulSimRow& s : r.sim) {
      if (!s.note.empty()) {
        out << fmt::format("{:<13} {:<6} {}\n", s.rung, s.kind, s.note);
        continue;
      }
      const sim::KernelProfile& p = s.profile;
      out << fmt::format("{:<13} {:<6} {:>8.2f} {:>8.2f} {:>6.0f}% {:>7.2f}x {:>10} {:>6.2f} {:>4.0f}% {:>9.1e}\n",
                         s.rung, s.kind, p.load_sectors_per_request(), p.store_sectors_per_request(),
                         100 * p.global_efficiency(), p.traffic_vs_compulsory(),
                         p.shared_load.requests + p.shared_store.requests, p.shared_conflict_ways(),
                         100 * p.occupancy, s.max_error);
    }
    out << "  sec/rq: 32-byte sectors per warp request (4: a coalesced float a lane); effic: bytes asked / sector bytes;\n"
           "  traffic: sector bytes / compulsory; ways: shared wavefronts / conflict-free (1: none); error: max|d| / max|c|\n"
           "  against the CPU's product in double (tf32 and bf16 round their inputs: ~1e-3 and ~1e-2 expected).\n";
  }
  out << fmt::format("gpu: {}\n", r.device);
  if (r.gpu.empty()) {
    out << "  no GPU figures (none usable, or the simulator is the device)\n";
    return;
  }
  out << fmt::format("cuBLAS: {}\n", r.cublas);
  out << fmt::format("{:<18} {:<13} {:>9} {:>10} {:>9} {:>9}\n", "product", "rung", "ms", "GFLOP/s", "% cuBLAS",
                     "error");
  for (const MatmulGpuRow& g : r.gpu) {
    if (!g.note.empty()) {
      out << fmt::format("{:<18} {:<13} {}\n", g.product, g.rung, g.note);
      continue;
    }
    std::string share = g.cublas_gflops > 0 && g.rung.rfind("cublas", 0) != 0
                            ? fmt::format("{:.0f}%", 100 * g.gflops / g.cublas_gflops)
                            : "";
    out << fmt::format("{:<18} {:<13} {:>9.3f} {:>10.0f} {:>9} {:>9.1e}\n", g.product, g.rung, g.ms, g.gflops, share,
                       g.max_error);
  }
}

Json matmul_bench_json(const MatmulBenchResult& r) {
  Json j;
  j["device"] = r.device;
  j["cublas"] = r.cublas;
  j["sim_size"] = r.sim_size;
  j["sim"] = Json::array();
  for (const MatmulSimRow& s : r.sim) {
    const sim::KernelProfile& p = s.profile;
    j["sim"].push_back({{"rung", s.rung},
                        {"kind", s.kind},
                        {"note", s.note},
                        {"load_sectors_per_request", p.load_sectors_per_request()},
                        {"store_sectors_per_request", p.store_sectors_per_request()},
                        {"global_efficiency", p.global_efficiency()},
                        {"traffic_vs_compulsory", p.traffic_vs_compulsory()},
                        {"shared_requests", p.shared_load.requests + p.shared_store.requests},
                        {"shared_conflict_ways", p.shared_conflict_ways()},
                        {"occupancy", p.occupancy},
                        {"barriers", p.barriers},
                        {"max_error", s.max_error}});
  }
  j["gpu"] = Json::array();
  for (const MatmulGpuRow& g : r.gpu)
    j["gpu"].push_back({{"rung", g.rung},
                        {"product", g.product},
                        {"ms", g.ms},
                        {"gflops", g.gflops},
                        {"cublas_gflops", g.cublas_gflops},
                        {"max_error", g.max_error},
                        {"note", g.note}});
  return j;
}

}  // namespace kiso
