// train/commands/command.h — what every command file shares: the --json flag, the --device
// option and its start-up check, the --precision and --reduce options, the output of rank 0, and
// how a command's exit status leaves the program.
//
// A command runs as its subcommand's CLI11 callback, after every flag has been parsed and
// checked. Its run function returns the status; exit_with hands a non-zero one to main by
// throwing CLI::RuntimeError(status), CLI11's documented way for a callback to set the exit
// code (App::exit returns it and prints nothing).
// What it is not: a command (each is its own file, listed in train/commands/commands.h).
#pragma once

#include <CLI/CLI.hpp>

#include <ostream>
#include <string>

#include "tensor/precision.h"
#include "tensor/tensor.h"
#include "train/task_data.h"

namespace kiso {

// --json: print the command's result as one JSON object on stdout.
void add_json_flag(CLI::App& command, bool& as_json,
                   const std::string& description = "print the result as one JSON object");

// --device: cpu, or cuda (kiso's kernels; KISO_CUDA_SIM=1: the simulator).
void add_device_option(CLI::App& command, std::string& device);

// --precision: f32, or bf16 mixed precision (tensor/precision.h); `note` is added to the help.
// A bad value is CLI11's error, as --device's: "--precision: fp16 not in {f32,bf16}".
void add_precision_option(CLI::App& command, Precision& precision, const std::string& note = "");

// --header / --no-header: force a plain .tsv's first line to be a header row or an example
// (train/task_data.h); neither: the reader's rule decides, and says what it decided.
void add_header_flags(CLI::App& command, HeaderRow& header);

// The device `name` ("cpu" or "cuda") for `command`: cuda only after checking that there is a
// device to run on (a usable GPU, or the simulator turned on with KISO_CUDA_SIM=1), and saying
// which on stderr. Under mpirun, each process of a machine first takes its own GPU.
Device start_device(const std::string& name, const char* command);

// --reduce: how a distributed run sums its gradients (train/distributed.h): auto, none, mpi, nccl.
void add_reduce_option(CLI::App& command, std::string& reduce);

// Where a command's progress and result go: `stream` itself in the only process or on rank 0 of
// a distributed run (train/distributed.h), a stream that drops everything on the other ranks,
// so that N processes print one log.
std::ostream& rank0_stream(std::ostream& stream);

// Ends a command's callback: a non-zero status becomes kiso's exit code.
void exit_with(int status);

}  // namespace kiso
