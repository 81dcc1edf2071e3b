// train/commands/info.cpp — `kiso info`: what this build can do. The CPU threads OpenMP will use,
// whether CUDA was built in and a GPU is usable (or why not), whether the simulator stands in
// for one, and the backends of distributed training: MPI (built in or not; under mpirun, which
// process this is) and NCCL (found or not). What it is not: a benchmark (kiso bench).
#include <iostream>

#include <fmt/core.h>

#include "cuda/nccl.h"
#include "cuda/runtime.h"
#include "gpt/json.h"
#include "train/commands/command.h"
#include "train/commands/commands.h"
#include "train/distributed.h"

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
  const cuda::nccl::Status& nccl = cuda::nccl::status();
  // Under mpirun this joins the world (MPI_Init) to say which process this is; by hand it does not.
  int rank = dist::launched() ? dist::rank() : 0, processes = dist::launched() ? dist::size() : 1;
  // after the world: under mpirun it shares the cores out among the processes (train/mpi.cpp)
#ifdef _OPENMP
  int threads = omp_get_max_threads();
#else
  int threads = 1;
#endif
  if (o.as_json) {
    std::cout << Json{{"mpi_built", dist::mpi_built()},
                      {"mpi", dist::mpi_library()},
                      {"rank", rank},
                      {"processes", processes},
                      {"nccl_built", nccl.built},
                      {"nccl_loaded", nccl.loaded},
                      {"nccl", nccl.message},
                      {"cuda_built", s.built},
                      {"cuda_usable", s.usable},
                      {"cuda", s.message},
                      {"cuda_simulator", cuda::simulator_on()},
                      {"cpu_threads", threads}}
              << "\n";
    return 0;
  }
  std::cout << fmt::format("kiso: CPU threads {} (OMP_NUM_THREADS sets it)\n", threads);
  std::cout << fmt::format("CUDA: {}\n", s.usable ? "usable: " + s.message : s.message);
  std::cout << fmt::format("MPI: {}{}\n", dist::mpi_library(),
                           !dist::mpi_built()     ? ""
                           : dist::launched()     ? fmt::format("; this is rank {} of {} processes", rank, processes)
                                                  : "; one process (mpirun -np N kiso ... trains on N: docs/distributed.md)");
  std::cout << fmt::format("NCCL: {}\n", nccl.loaded ? "loaded: " + nccl.message : nccl.message);
  std::cout << fmt::format("CUDA simulator: {}\n", cuda::simulator_on() ? "on (KISO_CUDA_SIM=1): Device::cuda is host "
                                                                          "memory, kernels run under cuda/sim"
                                                                        : "off (KISO_CUDA_SIM=1 turns it on)");
  return 0;
}

void add_info(CLI::App& app) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("info", "what this build can do: CPU threads, CUDA, GPU, MPI, NCCL");
  add_json_flag(*command, options->as_json);
  command->callback([options] { exit_with(run_info(*options)); });
}

}  // namespace kiso
