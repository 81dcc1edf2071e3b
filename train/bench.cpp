// train/bench.cpp — `kiso bench`: training and inference throughput of a whole GPT, and MFU.
// What is timed is explained in train/bench.h, the FLOP formula in train/mfu.h.
#include "train/bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <ostream>

#include <fmt/core.h>

#include <sys/resource.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cuda/runtime.h"
#include "gpt/model.h"
#include "nn/optim.h"
#include "train/distributed.h"
#include "train/loop.h"
#include "train/profile_table.h"

namespace kiso {

// ---- machine facts for the record ----

// The 1-, 5- and 15-minute load averages: near or above the thread count, other work competes.
static std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  f >> one >> five >> fifteen;
  return one.empty() ? "unknown" : one + " " + five + " " + fifteen;
}

static int current_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

namespace {

// Sets OpenMP's thread count for one run and puts the old one back.
struct BenchThreads {
  int saved = current_threads();
  explicit BenchThreads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
  }
  ~BenchThreads() {
#ifdef _OPENMP
    omp_set_num_threads(saved);
#endif
  }
};

}  // namespace

// ---- timing ----

// Runs `iteration` warmup times untimed, then `steps` times under steady_clock; `prepare` runs
// untimed before each (the decode loop fills its KV cache there). With a profile, each timed
// iteration is recorded into it.
template <class Prepare, class F>
static std::vector<double> time_loop(int warmup, int steps, const char* what, std::ostream& log, Profile* profile,
                                     Prepare prepare, F iteration) {
  for (int i = 0; i < warmup; ++i) {
    prepare();
    auto t0 = std::chrono::steady_clock::now();
    iteration();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    log << fmt::format("  {} warm-up {}/{}: {:.1f} ms\n", what, i + 1, warmup, ms) << std::flush;
  }
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    prepare();
    std::optional<Profiling> recording;
    if (profile) recording.emplace(*profile);
    auto t0 = std::chrono::steady_clock::now();
    iteration();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    recording.reset();
    log << fmt::format("  {} step {}/{}: {:.1f} ms\n", what, i + 1, steps, times.back()) << std::flush;
  }
  return times;
}

static LoopTiming summarise(std::vector<double> ms, double tokens, double flops_per_token, double peak_gflops) {
  std::sort(ms.begin(), ms.end());
  LoopTiming t;
  t.ms = ms;
  t.best_ms = ms.front();
  // the median; with an even count, the mean of the middle two
  size_t n = ms.size();
  t.median_ms = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  t.tokens_per_second = tokens / (t.median_ms / 1000.0);
  t.best_tokens_per_second = tokens / (t.best_ms / 1000.0);
  t.gflops = flops_per_token * t.tokens_per_second * 1e-9;
  t.mfu = peak_gflops > 0 ? t.gflops / peak_gflops : 0.0;
  return t;
}

// B·T token ids drawn uniformly from [0, V).
static Tensor random_ids(int64_t B, int64_t T, int64_t V, Generator& gen) {
  std::vector<float> u = rand({B, T}, gen).to_vector<float>();
  std::vector<int32_t> ids(u.size());
  for (size_t i = 0; i < u.size(); ++i) ids[i] = int32_t(std::min<int64_t>(int64_t(double(u[i]) * double(V)), V - 1));
  return from_vector(ids, {B, T});  // (B, T) i32
}

// The loops named in --loops ("training,inference,decode"), each at most once.
struct Loops {
  bool training = false, inference = false, decode = false;
};
static Loops parse_loops(const std::string& text) {
  Loops l;
  std::stringstream in(text);
  std::string name;
  while (std::getline(in, name, ',')) {
    bool* flag = name == "training" ? &l.training : name == "inference" ? &l.inference : name == "decode" ? &l.decode
                                                                                                          : nullptr;
    check(flag != nullptr, "bench", "--loops: unknown loop '{}' in '{}'; expected training, inference or decode, "
          "comma-separated", name, text);
    check(!*flag, "bench", "--loops: '{}' is named twice in '{}'", name, text);
    *flag = true;
  }
  check(l.training || l.inference || l.decode, "bench", "--loops is empty; expected training, inference or decode");
  return l;
}

static int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return int64_t(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

// ---- the benchmark ----

BenchResult run_bench(const BenchOptions& o, std::ostream& log) { return run_bench(preset(o.preset), o, log); }

BenchResult run_bench(const GPTConfig& config, const BenchOptions& o, std::ostream& log) {
  config.validate();
  bool gpt1 = o.preset == "gpt1";
  BenchResult r;
  r.preset = o.preset;
  r.config = config;
  r.batch_size = o.batch_size > 0 ? o.batch_size : o.preset == "tiny" ? 16 : o.preset == "small" ? 8 : 1;
  r.seq_len = o.seq_len > 0 ? o.seq_len : std::min<int64_t>(128, config.n_ctx);
  r.warmup = o.warmup;
  r.steps = o.steps > 0 ? o.steps : gpt1 ? 2 : 3;
  check(o.batch_size >= 0 && o.seq_len >= 0, "bench", "batch size ({}) and sequence length ({}) must be positive",
        o.batch_size, o.seq_len);
  check(r.seq_len <= config.n_ctx, "bench", "sequence length {} is longer than the model's context (n_ctx {})",
        r.seq_len, config.n_ctx);
  check(o.warmup >= 0 && o.steps >= 0, "bench", "warm-up ({}) and steps ({}) must not be negative", o.warmup, o.steps);
  check(o.peak_gflops >= 0, "bench", "the peak must not be negative, got {} GFLOP/s", o.peak_gflops);
  check(o.threads >= 0, "bench", "--threads must be >= 0 (0: OMP_NUM_THREADS or all cores), got {}", o.threads);
  Loops loops = parse_loops(o.loops);
  check(!loops.decode || r.seq_len >= 2, "bench", "the decode loop needs --seq-len >= 2 (a prompt and a new token), "
        "got {}", r.seq_len);
  // The same estimate the trainers refuse with (train/loop.h), before the model is built.
  check_training_memory(config, r.batch_size, r.seq_len, "bench",
                        fmt::format("--batch-size {} and --seq-len {}", r.batch_size, r.seq_len));

  BenchThreads thread_count(o.threads);
  r.threads = current_threads();
  r.cpu = cpu_model_name();
  r.load_average = load_average();
  r.device = o.device;
  r.precision = o.precision;
  PrecisionGuard precision(o.precision);  // every loop below: forward, backward and decode
  if (o.device == Device::cuda) {
    cuda::require_device("bench");
    r.device_name = cuda::device_name();
  }
  if (o.peak_gflops > 0) {
    r.peak_gflops = o.peak_gflops;
    r.peak_source = "given (--peak-gflops)";
  } else if (o.device == Device::cuda) {
    r.peak_source = "unknown for a GPU: give its FP32 peak with --peak-gflops for an MFU";
  } else {
    PeakEstimate p = estimate_cpu_peak(r.threads);
    r.peak_gflops = p.gflops;
    r.peak_source = p.source;
  }
  r.matmul_parameters = matmul_parameters(config);
  r.forward_flops_per_token = forward_flops_per_token(config, r.seq_len);
  r.training_flops_per_token = training_flops_per_token(config, r.seq_len);

  // Every process of a distributed run starts from the same weights (init) and draws its own
  // batches and dropout masks (its rank in the stream).
  r.processes = dist::size();
  const uint64_t rank = uint64_t(dist::rank());
  Generator init{o.seed, 0}, data{o.seed, 1 + 16 * rank}, dropout{o.seed, 2 + 16 * rank};
  GPT model(config, init);
  move_parameters(model.parameters(), o.device);
  r.parameters = model.num_parameters();
  // A fresh batch for every iteration, drawn before the clock starts: random ids cannot be
  // learned, so the loss stays near ln V (the same batch again would be memorised).
  std::vector<Tensor> inputs, targets;  // (B, T) each
  for (int i = 0; i < r.warmup + r.steps; ++i) {
    inputs.push_back(random_ids(r.batch_size, r.seq_len, config.vocab_size, data));   // on the host, as the
    targets.push_back(random_ids(r.batch_size, r.seq_len, config.vocab_size, data));  // trainers keep them
  }
  double tokens = double(r.batch_size * r.seq_len);
  log << fmt::format("bench {}: {} parameters, B={} T={}, {} thread{}, load average {}\n", r.preset, r.parameters,
                     r.batch_size, r.seq_len, r.threads, r.threads == 1 ? "" : "s", r.load_average);

  Profile* profile = nullptr;
  // Device memory: the peak is reset before each iteration and read after it (cuda only).
  const bool on_cuda = o.device == Device::cuda;
  auto reset_peak = [&] {
    if (on_cuda) cuda::reset_peak_memory();
  };
  auto read_peak = [&](int64_t& most) {
    if (on_cuda) most = std::max(most, int64_t(cuda::memory_stats().peak_in_use));
  };
  // Training: what one step of train/pretrain.cpp does, without the data loader, the schedule
  // and clipping; the learning rate is GPT-1's peak, 2.5e-4 (its value does not change the time).
  if (loops.training) {
    constexpr double lr = 2.5e-4;
    AdamW optimizer(model.parameters());
    std::unique_ptr<Reducer> reducer = make_reducer(o.reduce, o.device);  // null: one process
    if (reducer) r.reducer = reducer->name();
    StepGradients gradients(model.parameters(), reducer.get());
    std::vector<double> reduce_ms;  // per iteration, warm-up included
    size_t i = 0;
    profile = o.profile ? &r.training_profile : nullptr;
    std::vector<double> ms = time_loop(r.warmup, r.steps, "training", log, profile, reset_peak, [&] {
      Variable loss = model.loss(inputs[i], targets[i], Mode::train(dropout));
      ++i;
      r.final_loss = loss.value().item();
      double before = gradients.reduce_seconds();
      gradients.backward(loss, true);
      gradients.finish();
      reduce_ms.push_back(1000.0 * (gradients.reduce_seconds() - before));
      ProfilePhaseScope phase(ProfilePhase::optimizer);
      optimizer.step(lr);
      optimizer.zero_grad();
      if (o.device == Device::cuda) cuda::synchronize();  // the step's kernels belong to this iteration
      read_peak(r.training_peak_device_bytes);
    });
    r.training = summarise(ms, tokens * r.processes, r.training_flops_per_token, r.peak_gflops * r.processes);
    r.ran_training = true;
    if (r.processes > 1) {
      std::vector<double> timed(reduce_ms.begin() + r.warmup, reduce_ms.end());
      std::sort(timed.begin(), timed.end());
      r.training_reduce_ms = timed.empty() ? 0 : timed[timed.size() / 2];
    }
    if (o.profile && o.device == Device::cuda && cuda::simulator_on() && sim::profile_available()) {
      // One more step, untimed, its kernels' memory traffic recorded by the simulator.
      sim::ProfileRecording recording;
      Variable loss = model.loss(inputs[0], targets[0], Mode::train(dropout));
      loss.backward();
      optimizer.step(lr);
      optimizer.zero_grad();
      r.training_kernels = recording.per_kernel();
      std::stable_sort(r.training_kernels.begin(), r.training_kernels.end(),
                       [](const auto& a, const auto& b) { return a.sector_bytes() > b.sector_bytes(); });
    }
  }

  // Inference: the forward pass to the logits (B, T, V), no graph kept.
  if (loops.inference) {
    size_t i = 0;
    profile = o.profile ? &r.inference_profile : nullptr;
    std::vector<double> ms = time_loop(r.warmup, r.steps, "inference", log, profile, reset_peak, [&] {
      NoGradGuard no_grad;
      Variable logits = model.logits(inputs[i++], Mode::eval());  // (B, T, V)
      if (o.device == Device::cuda) cuda::synchronize();  // the launches are asynchronous: time their work
      read_peak(r.inference_peak_device_bytes);
    });
    r.inference = summarise(ms, tokens, r.forward_flops_per_token, r.peak_gflops);
    r.ran_inference = true;
  }

  // Decode: B = 1; the first T/2 ids of each batch's first row are the prompt (fed untimed), then
  // T - T/2 tokens are generated greedily through the KV cache, as train/sample.cpp does.
  if (loops.decode) {
    r.decode_prompt = r.seq_len / 2;
    r.decode_new_tokens = r.seq_len - r.decode_prompt;
    size_t i = 0;
    KVCache cache;
    Tensor next;  // (1, 1) i32: the token fed next
    auto prefill = [&] {
      NoGradGuard no_grad;
      cache = KVCache{};
      Tensor prompt = slice(inputs[i++].to(Device::cpu), 0, 0, 1);  // (1, T)
      prompt = slice(prompt, 1, 0, r.decode_prompt);                 // (1, T/2)
      Variable logits = model.logits(prompt.to(o.device), Mode::eval(), &cache);  // (1, T/2, V)
      next = argmax_last(slice(logits.value(), 1, r.decode_prompt - 1, r.decode_prompt).to(Device::cpu));
      if (o.device == Device::cuda) cuda::synchronize();
    };
    profile = o.profile ? &r.decode_profile : nullptr;
    std::vector<double> ms = time_loop(r.warmup, r.steps, "decode", log, profile, prefill, [&] {
      NoGradGuard no_grad;
      for (int64_t t = 0; t < r.decode_new_tokens; ++t) {
        Variable logits = model.logits(next.reshape({1, 1}).to(o.device), Mode::eval(), &cache);  // (1, 1, V)
        next = argmax_last(logits.value().to(Device::cpu));  // (1, 1, 1): the greedy choice
      }
    });
    r.decode = summarise(ms, double(r.decode_new_tokens), r.forward_flops_per_token, r.peak_gflops);
    r.ran_decode = true;
  }
  r.peak_rss_bytes = peak_rss_bytes();
  return r;
}

// ---- output ----

void print_bench(const BenchResult& r, std::ostream& out) {
  const GPTConfig& c = r.config;
  if (r.device == Device::cuda)
    out << fmt::format("kiso bench --preset {} --device cuda: {} on {}, kiso's kernels\n", r.preset,
                       to_string(r.precision), r.device_name);
  else out << fmt::format("kiso bench --preset {}: {} on the CPU\n", r.preset, to_string(r.precision));
  out << fmt::format("CPU: {}; {} thread{}; load average (1, 5, 15 min) before the run: {}\n", r.cpu, r.threads,
                     r.threads == 1 ? "" : "s", r.load_average);
  out << fmt::format("model: L={} C={} NH={} n_inner={} V={} n_ctx={}, {} parameters ({} in matmuls: N)\n", c.n_layer,
                     c.block.n_embd, c.block.n_head, c.block.n_inner, c.vocab_size, c.n_ctx, r.parameters,
                     r.matmul_parameters);
  out << fmt::format("batch: B={} x T={} = {} tokens of random ids; {} warm-up, {} timed iterations (median, best)\n",
                     r.batch_size, r.seq_len, r.batch_size * r.seq_len, r.warmup, r.steps);
  out << "FLOPs/token: forward = 2*N + 2*L*T*C (Kaplan et al. 2020), training = 3 x forward\n";
  out << fmt::format("             forward {:.4g} MFLOP, training {:.4g} MFLOP\n", r.forward_flops_per_token * 1e-6,
                     r.training_flops_per_token * 1e-6);
  out << fmt::format("peak: {:.1f} GFLOP/s, {}\n", r.peak_gflops, r.peak_source);
  out << "training = forward + loss + backward + AdamW step, dropout on; inference = forward to logits, eval, no graph\n";
  if (r.ran_decode)
    out << fmt::format("decode = B=1, a {}-token prompt in the KV cache, then {} new tokens one at a time (greedy); "
                       "tokens/s counts new tokens\n", r.decode_prompt, r.decode_new_tokens);
  out << "\n";
  out << fmt::format("{:<10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>6}\n", "", "ms/iter", "ms/iter", "tokens/s",
                     "tokens/s", "GFLOP/s", "MFU");
  out << fmt::format("{:<10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>6}\n", "", "median", "best", "median", "best",
                     "median", "");
  for (auto [name, t, ran] : {std::tuple{"training", &r.training, r.ran_training},
                              std::tuple{"inference", &r.inference, r.ran_inference},
                              std::tuple{"decode", &r.decode, r.ran_decode}})
    if (ran)
      out << fmt::format("{:<10} {:>10.1f} {:>10.1f} {:>10.0f} {:>10.0f} {:>9.1f} {:>5.1f}%\n", name, t->median_ms,
                         t->best_ms, t->tokens_per_second, t->best_tokens_per_second, t->gflops, 100.0 * t->mfu);
  if (r.ran_training && r.processes > 1)
    out << fmt::format("training on {} processes (mpirun), each B={} x T={}: tokens/s counts all of them, MFU is "
                       "against all their peaks; summing the gradients ({}) took {:.1f} ms of the median step's {:.1f} "
                       "ms ({:.0f}%), waiting for the slowest process included\n",
                       r.processes, r.batch_size, r.seq_len, r.reducer, r.training_reduce_ms, r.training.median_ms,
                       100.0 * r.training_reduce_ms / r.training.median_ms);
  if (r.ran_training)
    out << fmt::format("last training loss {:.4f} (random ids, a fresh batch each step: near ln V = {:.4f})\n",
                       r.final_loss, std::log(double(c.vocab_size)));
  out << fmt::format("peak resident memory of the process: {:.1f} MiB\n", double(r.peak_rss_bytes) / (1 << 20));
  if (r.device == Device::cuda && (r.ran_training || r.ran_inference))
    out << fmt::format("peak device memory in use (tensors, not the allocator's cache): training step {:.1f} MiB, "
                       "inference step {:.1f} MiB\n",
                       double(r.training_peak_device_bytes) / (1 << 20), double(r.inference_peak_device_bytes) / (1 << 20));
  if (r.ran_training && !r.training_profile.ops.empty())
    print_profile(r.training_profile, r.steps, "training step", out);
  if (!r.training_kernels.empty()) {
    double total = 0;
    for (const sim::KernelProfile& p : r.training_kernels) total += double(p.sector_bytes());
    out << fmt::format("\nsimulated memory traffic of one training step, per kernel ({:.1f} MiB of 32-byte sectors "
                       "in all; cuda/sim/profile.h):\n", total / (1 << 20));
    out << sim::profile_table(r.training_kernels);
  }
  if (r.ran_inference && !r.inference_profile.ops.empty())
    print_profile(r.inference_profile, r.steps, "inference step", out);
  if (r.ran_decode && !r.decode_profile.ops.empty())
    print_profile(r.decode_profile, r.steps, fmt::format("decode of {} tokens", r.decode_new_tokens), out);
}

static Json timing_json(const LoopTiming& t) {
  return Json{{"ms", t.ms},
              {"best_ms", t.best_ms},
              {"median_ms", t.median_ms},
              {"tokens_per_second", t.tokens_per_second},
              {"best_tokens_per_second", t.best_tokens_per_second},
              {"gflops", t.gflops},
              {"mfu", t.mfu}};
}

Json bench_json(const BenchResult& r) {
  const GPTConfig& c = r.config;
  Json j{{"preset", r.preset},
              {"device", to_string(r.device)},
              {"precision", to_string(r.precision)},
              {"device_name", r.device_name},
              {"cpu", r.cpu},
              {"threads", r.threads},
              {"load_average", r.load_average},
              {"model",
               {{"n_layer", c.n_layer},
                {"n_embd", c.block.n_embd},
                {"n_head", c.block.n_head},
                {"n_inner", c.block.n_inner},
                {"vocab_size", c.vocab_size},
                {"n_ctx", c.n_ctx}}},
              {"parameters", r.parameters},
              {"matmul_parameters", r.matmul_parameters},
              {"batch_size", r.batch_size},
              {"seq_len", r.seq_len},
              {"warmup", r.warmup},
              {"steps", r.steps},
              {"flops_formula", "forward = 2*N + 2*L*T*C; training = 3 * forward"},
              {"forward_flops_per_token", r.forward_flops_per_token},
              {"training_flops_per_token", r.training_flops_per_token},
              {"peak_gflops", r.peak_gflops},
              {"peak_source", r.peak_source},
              {"peak_rss_bytes", r.peak_rss_bytes}};
  j["processes"] = r.processes;
  if (r.ran_training) {
    j["final_loss"] = r.final_loss;
    j["training"] = timing_json(r.training);
    if (r.processes > 1) {
      j["training"]["reducer"] = r.reducer;
      j["training"]["reduce_ms"] = r.training_reduce_ms;
      j["training"]["reduce_share"] = r.training_reduce_ms / r.training.median_ms;
    }
    j["training"]["peak_device_bytes"] = r.training_peak_device_bytes;
    if (!r.training_profile.ops.empty()) j["training"]["profile"] = profile_json(r.training_profile, r.steps);
    for (const sim::KernelProfile& p : r.training_kernels)
      j["training"]["simulated_kernels"].push_back(
          {{"kernel", p.kernel},
           {"launches", p.launches},
           {"sector_bytes", p.sector_bytes()},
           {"compulsory_bytes", p.compulsory_load_bytes + p.compulsory_store_bytes},
           {"load_sectors_per_request", p.load_sectors_per_request()},
           {"store_sectors_per_request", p.store_sectors_per_request()},
           {"shared_conflict_ways", p.shared_conflict_ways()}});
  }
  if (r.ran_inference) {
    j["inference"] = timing_json(r.inference);
    j["inference"]["peak_device_bytes"] = r.inference_peak_device_bytes;
    if (!r.inference_profile.ops.empty()) j["inference"]["profile"] = profile_json(r.inference_profile, r.steps);
  }
  if (r.ran_decode) {
    j["decode"] = timing_json(r.decode);
    j["decode"]["prompt_tokens"] = r.decode_prompt;
    j["decode"]["new_tokens"] = r.decode_new_tokens;
    if (!r.decode_profile.ops.empty()) j["decode"]["profile"] = profile_json(r.decode_profile, r.steps);
  }
  return j;
}

}  // namespace kiso
