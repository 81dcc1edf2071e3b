// train/commands/info.cpp — `kiso info`: what this build can do. The CPU threads OpenMP will use,
// whether CUDA was built in and a GPU is usable (or why not), and whether the simulator stands in
// for one. What it is not: a benchmark (kiso bench).
#include <iostream>

#include <fmt/core.h>

#include "cuda/runtime.h"
#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace kiso {

namespace {

struct Options {
  bool as_json = false;
};

}  // namespace

static int run_info(const Options& o) {
  const cuda::DeviceStatus& s = cuda::device_status();
#ifdef _OPENMP
  int threads = omp_get_max_threads();
#else
  int threads = 1;
#endif
  if (o.as_json) {
    std::cout << Json{{"cuda_built", s.built},
                      {"cuda_usable", s.usable},
                      {"cuda", s.message},
                      {"cuda_simulator", cuda::simulator_on()},
                      {"cpu_threads", threads}}
              << "\n";
    return 0;
  }
  std::cout << fmt::format("kiso: CPU threads {} (OMP_NUM_THREADS sets it)\n", threads);
  std::cout << fmt::format("CUDA: {}\n", s.usable ? "usable: " + s.message : s.message);
  std::cout << fmt::format("CUDA simulator: {}\n", cuda::simulator_on() ? "on (KISO_CUDA_SIM=1): Device::cuda is host "
                                                                          "memory, kernels run under cuda/sim"
                                                                        : "off (KISO_CUDA_SIM=1 turns it on)");
  return 0;
}

void add_info(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("info", "what this build can do: CPU threads, CUDA, GPU");
  add_json_flag(*command, options->as_json);
  command->callback([options] { exit_with(run_info(*options)); });
}

}  // namespace kiso
