// train/mfu.h — model FLOPs utilisation (MFU): how many FLOPs a GPT's token costs, and the
// processor's peak that the achieved FLOP/s are divided by.
//
// FLOPs per token (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Table 1;
// PaLM, Chowdhery et al. 2022, appendix B, for MFU):
//   forward  = 2·N + 2·L·T·C
//   training = 3 × forward   (the backward costs twice the forward: one product for the
//                             gradient of the input, one for the gradient of the weight)
// N counts the weights that take part in a matrix product, per layer the four of attention and
// MLP, c_attn C·3C, c_proj C·C, c_fc C·n_inner, c_proj n_inner·C, plus the tied LM head V·C
// once (the token lookup is not a product; the position embeddings are only added). Biases,
// LayerNorm gains, softmax and GELU are elementwise and left out, as in both references.
// 2·L·T·C is attention itself: per layer a token's scores q·k and its mixing Σ p·v each cost
// 2·C FLOPs per position attended to, and under the causal mask a token attends to (T+1)/2
// positions on average, so 4·C·T/2. (PaLM's 12·L·H·Q·T counts the full T×T square instead;
// kiso does compute the full square and masks it, so the hardware does a little more work
// than the model FLOPs counted here.)
//
// The CPU's peak is an estimate from /proc/cpuinfo (below); a GPU's must be given.
// What it is not: a timer (train/bench.h times the model and uses these numbers).
#pragma once

#include <cstdint>
#include <string>

#include "gpt/config.h"

namespace kiso {

// N: the weights in matrix products (see the file comment).
int64_t matmul_parameters(const GPTConfig& config);
// 2·N + 2·L·T·C and 3 × that, for sequences of T tokens.
double forward_flops_per_token(const GPTConfig& config, int64_t T);
double training_flops_per_token(const GPTConfig& config, int64_t T);

// A CPU's peak f32 GFLOP/s, estimated as cores × GHz × FLOPs per cycle per core.
struct PeakEstimate {
  double gflops = 0;   // 0 when it could not be estimated
  std::string source;  // e.g. "estimate: 2 cores x 2.600 GHz x 64 FLOP/cycle (AVX-512F, 2 FMA units) ..."
};
// From the text of /proc/cpuinfo: the clock is the first processor's "cpu MHz"; FLOPs per
// cycle per core assume two FMA units: 64 with avx512f (2 × 16 floats × 2), 32 with avx2 and
// fma (2 × 8 × 2), otherwise 8 (SSE: 4-wide add and multiply). `threads` is capped at the
// physical cores: `logical_cpus` × "cpu cores" / "siblings" (hyperthreads share FMA units).
PeakEstimate estimate_cpu_peak(const std::string& cpuinfo, int threads, int logical_cpus);
PeakEstimate estimate_cpu_peak(int threads);  // reads /proc/cpuinfo; the machine's logical CPUs

// The first processor's "model name" in /proc/cpuinfo ("unknown" when there is none).
std::string cpu_model_name();

}  // namespace kiso
