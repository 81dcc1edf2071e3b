// tests/cuda/each_device.h — what the CUDA tests share: running a check once per device backend
// there is (the simulator always, so CI runs every kernel; the GPU when one is usable), and a
// guard that makes the simulator the device for a test that runs on it alone.
#pragma once

#include <functional>
#include <string>

#include "cuda/runtime.h"

namespace kiso::testing {

// While one lives, the simulator is the cuda device; the previous setting comes back after.
struct SimulatorOn {
  bool was = cuda::simulator_on();
  SimulatorOn() { cuda::use_simulator(true); }
  ~SimulatorOn() { cuda::use_simulator(was); }
  SimulatorOn(const SimulatorOn&) = delete;
  SimulatorOn& operator=(const SimulatorOn&) = delete;
};

// Runs `body` on the simulator, then on the GPU if one is usable, passing the backend's name
// for the messages; the simulator setting is restored afterwards, whatever body throws.
inline void on_each_device(const std::function<void(const std::string&)>& body) {
  SimulatorOn simulator;
  body("simulator");
  cuda::use_simulator(false);
  if (cuda::device_status().usable) body("gpu");
}

}  // namespace kiso::testing
