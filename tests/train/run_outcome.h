// tests/train/run_outcome.h — what two pre-training runs are compared on, for the tests that
// hold a run to an oracle run of the same binary (test_crash.cpp: interrupted and resumed;
// test_distributed.cpp: on N processes): the final weights and AdamW state, byte for byte, and
// log.jsonl's records.
#pragma once

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "gpt/atomic_file.h"
#include "gpt/json.h"

namespace kiso::testing {

// Every record of a log.jsonl, in order.
inline std::vector<Json> log_records(const std::string& path) {
  std::vector<Json> out;
  std::string log = read_file(path);
  for (size_t at = 0, end; (end = log.find('\n', at)) != std::string::npos; at = end + 1)
    out.push_back(parse_json_strict(log.substr(at, end - at), path));
  return out;
}

// The run directory `run`'s final state: RUN/model's weights and optimizer state, and each logged
// step's loss (and validation loss) as written, "step loss val_loss" (17 significant digits: the
// double's bits), in order.
struct Outcome {
  std::string weights, state;
  std::vector<std::string> losses;
  std::vector<Json> records;  // log.jsonl, whole
};

inline Outcome outcome(const std::string& run) {
  Outcome o;
  o.weights = read_file(run + "/model/model.safetensors");
  o.state = read_file(run + "/model/state.safetensors");
  o.records = log_records(run + "/log.jsonl");
  for (const Json& r : o.records)
    o.losses.push_back(fmt::format("{} {} {}", r["step"].dump(), r["loss"].dump(), r.value("val_loss", Json()).dump()));
  return o;
}

inline void check_same(const Outcome& got, const Outcome& want) {
  CHECK(got.weights == want.weights);  // bit for bit
  CHECK(got.state == want.state);
  CHECK(got.losses == want.losses);    // every step once, in order, with the same loss
}

}  // namespace kiso::testing
