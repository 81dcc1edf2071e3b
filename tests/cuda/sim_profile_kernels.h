// tests/cuda/sim_profile_kernels.h — small kernels whose memory behaviour is known on paper, for
// the simulator's profile test (test_sim_profile.cpp). Their definitions
// (sim_profile_kernels.cpp) are compiled with the profile's access hooks, as cuda/kernels/ are;
// each launcher runs one kernel in the simulator. Pointers are host memory (the simulator's
// "global memory"). What is expected of each is in test_sim_profile.cpp.
#pragma once

#include <cstdint>

namespace kiso::testing::profile_kernels {

// out[i] = in[i · stride], one float a thread, n threads in blocks of 256.
void copy_strided(const float* in, float* out, int n, int stride);
// out[i] = in[i] as float4 (16 bytes a lane), n4 vectors.
void copy_float4(const float* in, float* out, int n4);
// out[i] = in[i] + in[i]: each input read twice by the same thread.
void read_twice(const float* in, float* out, int n);
// One 32x32 block transposes a 32x32 tile through shared memory; padded: the tile has 33 columns.
void transpose_tile(const float* in, float* out, bool padded);
// 32 lanes read 32 consecutive doubles from shared memory (8-byte accesses: two half-warps).
void shared_doubles(double* out);
// Every lane reads the same shared word (a broadcast).
void shared_broadcast(float* out);
// One warp: the even lanes store to shared memory, then every lane loads in[lane] and stores it.
void divergent_store(const float* in, float* out);
// Arithmetic on a local array only: nothing reaches global or shared memory but the final store.
void locals_only(float* out);
// `blocks` blocks of `threads`, three __syncthreads each, `dynamic_bytes` of dynamic shared memory.
void barriers(int blocks, int threads, int dynamic_bytes);

}  // namespace kiso::testing::profile_kernels
