// train/commands/command.cpp — the options and the exit status every command shares (see command.h).
#include "train/commands/command.h"

#include <fmt/core.h>

#include "cuda/runtime.h"
#include "train/distributed.h"

namespace kiso {

void add_json_flag(CLI::App& command, bool& as_json, const std::string& description) {
  command.add_flag("--json", as_json, description);
}

void add_device_option(CLI::App& command, std::string& device) {
  command.add_option("--device", device, "cpu, or cuda (kiso's kernels; KISO_CUDA_SIM=1: the simulator)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
}

void add_precision_option(CLI::App& command, Precision& precision, const std::string& note) {
  command
      .add_option_function<std::string>(
          "--precision", [&precision](const std::string& name) { precision = parse_precision(name, "--precision"); },
          "f32, or bf16: mixed precision (bf16 matmul inputs and activations, f32 sums, weights and AdamW state)" +
              (note.empty() ? "" : " " + note))
      ->check(CLI::IsMember({"f32", "bf16"}))
      ->default_str("f32");
}

void add_header_flags(CLI::App& command, HeaderRow& header) {
  CLI::Option* yes = command.add_flag_callback("--header", [&header] { header = HeaderRow::yes; },
                                               "a .tsv's first line is a header row (default: detected)");
  command.add_flag_callback("--no-header", [&header] { header = HeaderRow::no; }, "a .tsv's first line is an example")
      ->excludes(yes);
}

Device start_device(const std::string& name, const char* command) {
  if (name == "cpu") return Device::cpu;
  // Under mpirun each process of a machine takes its own GPU (local rank modulo the GPUs), chosen
  // before any other CUDA call makes a context on GPU 0 (cuda/runtime.h select_device).
  if (dist::launched() && dist::size() > 1 && !cuda::simulator_on() && cuda::device_count() > 0)
    cuda::select_device(dist::local_rank() % cuda::device_count());
  cuda::require_device(command);
  fmt::print(stderr, "{}: device cuda, {}\n", command, cuda::device_name());
  return Device::cuda;
}

void add_reduce_option(CLI::App& command, std::string& reduce) {
  command.add_option("--reduce", reduce,
                     "under mpirun, how gradients are summed: auto (nccl on GPUs, else mpi), mpi, nccl, none")
      ->check(CLI::IsMember({"auto", "none", "mpi", "nccl"}))
      ->capture_default_str();
}

std::ostream& rank0_stream(std::ostream& stream) {
  static std::ostream nowhere(nullptr);  // no buffer: every write is dropped
  return dist::is_root() ? stream : nowhere;
}

void exit_with(int status) {
  if (status != 0) throw CLI::RuntimeError(status);
}

}  // namespace kiso
