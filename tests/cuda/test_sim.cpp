// tests/cuda/test_sim.cpp — the host-side SIMT simulator (cuda/sim) on its own: barrier
// semantics, shared memory per block, the thread and block indices, warp shuffles and votes,
// atomics, dynamic shared memory, and the errors (deadlock, a kernel that throws, a bad launch
// configuration). The kernels here are written as for nvcc and launched with KISO_LAUNCH, the
// same helper the backend's kernels use. Every expected value is computed on the host.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "cuda/launch.h"
#include "base/check.h"

namespace {

// out[b·n + i] = in[b·n + n-1-i]: each block reverses its slice through shared memory. Without
// the barrier, a thread would read a slot its partner had not yet written.
__global__ void reverse_in_block(const int* in, int* out, int n) {
  __shared__ int s[1024];
  int base = int(blockIdx.x) * n, i = int(threadIdx.x);
  s[i] = in[base + i];
  __syncthreads();
  out[base + i] = s[n - 1 - i];
}

// Two rounds of writes to the same shared array, separated by barriers: every thread must see
// its block's round-2 values, never another block's or round 1's.
__global__ void two_rounds(int* out) {
  __shared__ int s[256];
  int i = int(threadIdx.x), n = int(blockDim.x), b = int(blockIdx.x);
  s[i] = 1000 * b + i;
  __syncthreads();
  int left = s[(i + n - 1) % n];
  __syncthreads();
  s[i] = left + 1;  // round 2 overwrites round 1 only after everyone has read it
  __syncthreads();
  out[b * n + i] = s[(i + 1) % n];
}

// out[global linear id] = the id, computed from all four built-ins in 3-D.
__global__ void write_ids(int* out, int* hits) {
  int tx = int(threadIdx.x), ty = int(threadIdx.y), tz = int(threadIdx.z);
  int t = tx + int(blockDim.x) * (ty + int(blockDim.y) * tz);
  int b = int(blockIdx.x) + int(gridDim.x) * (int(blockIdx.y) + int(gridDim.y) * int(blockIdx.z));
  int id = b * int(blockDim.x * blockDim.y * blockDim.z) + t;
  out[id] = id;
  atomicAdd(&hits[id], 1);
}

// Per thread: the warp sum by xor butterfly, the inclusive prefix sum by __shfl_up, lane 3's
// value by __shfl_sync, and the ballot of odd values.
__global__ void warp_ops(const int* in, int* sum, int* scan, int* bcast, unsigned* ballot, int* any_all) {
  int g = int(blockIdx.x * blockDim.x + threadIdx.x), lane = int(threadIdx.x) % warpSize;
  int v = in[g];
  int s = v;
  for (int m = 16; m >= 1; m /= 2) s += __shfl_xor_sync(0xffffffffu, s, m);
  sum[g] = s;
  int x = v;
  for (int d = 1; d < 32; d *= 2) {
    int y = __shfl_up_sync(0xffffffffu, x, d);
    if (lane >= d) x += y;
  }
  scan[g] = x;
  bcast[g] = __shfl_sync(0xffffffffu, v, 3);
  ballot[g] = __ballot_sync(0xffffffffu, v % 2 != 0);
  any_all[g] = 2 * __any_sync(0xffffffffu, v == 7) + __all_sync(0xffffffffu, v >= 0);
}

// A block sum by __shfl_down within each warp, then one atomicAdd per warp.
__global__ void block_sum(const float* in, float* total) {
  float v = in[blockIdx.x * blockDim.x + threadIdx.x];
  for (int d = 16; d >= 1; d /= 2) v += __shfl_down_sync(0xffffffffu, v, d);
  if (threadIdx.x % warpSize == 0) atomicAdd(total, v);
}

// Dynamic shared memory: its contents at block start are garbage (NaN bytes here), then a tiled
// copy through it.
__global__ void dynamic_copy(const float* in, float* out, int* saw_nan) {
  KISO_DYNAMIC_SHARED(float, buf);
  int i = int(threadIdx.x);
  if (i == 0) saw_nan[blockIdx.x] = std::isnan(buf[blockDim.x - 1]);
  __syncthreads();
  buf[i] = 2.0f * in[blockIdx.x * blockDim.x + i];
  __syncthreads();
  out[blockIdx.x * blockDim.x + i] = buf[blockDim.x - 1 - i];
}

// The classic bug: a thread returns before a barrier the others wait at.
__global__ void early_return(int* out) {
  if (threadIdx.x == 5) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

// One warp at a warp barrier, the other at the block barrier: neither can ever be released.
__global__ void mixed_barriers(int* out) {
  if (threadIdx.x < 32) __syncwarp();
  else __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void throws_in_thread_7(int* out) {
  kiso::check(threadIdx.x != 7, "throws_in_thread_7", "thread {} refuses", threadIdx.x);
  out[threadIdx.x] = 1;
}

}  // namespace

TEST_SUITE("cuda sim") {

TEST_CASE("__syncthreads orders shared-memory writes before reads, per block") {
  int n = 100, blocks = 3;  // 100: not a multiple of the warp size
  std::vector<int> in(size_t(n * blocks)), out(in.size(), -1);
  std::iota(in.begin(), in.end(), 0);
  KISO_LAUNCH(reverse_in_block, dim3(unsigned(blocks)), dim3(unsigned(n)), 0, in.data(), out.data(), n);
  for (int b = 0; b < blocks; ++b)
    for (int i = 0; i < n; ++i) CHECK(out[size_t(b * n + i)] == in[size_t(b * n + n - 1 - i)]);
}

TEST_CASE("shared memory: each block sees only its own writes, round after round") {
  int n = 96, blocks = 4;
  std::vector<int> out(size_t(n * blocks), -1);
  KISO_LAUNCH(two_rounds, dim3(unsigned(blocks)), dim3(unsigned(n)), 0, out.data());
  for (int b = 0; b < blocks; ++b)
    for (int i = 0; i < n; ++i) {
      // out[i] = s2[i+1] = s1[i] + 1 = 1000·b + i + 1
      CHECK(out[size_t(b * n + i)] == 1000 * b + i + 1);
    }
}

TEST_CASE("threadIdx, blockIdx, blockDim and gridDim in 3-D: every thread runs once") {
  dim3 grid(3, 2, 2), block(5, 3, 2);
  int total = 3 * 2 * 2 * 5 * 3 * 2;
  std::vector<int> out(size_t(total), -1), hits(size_t(total), 0);
  KISO_LAUNCH(write_ids, grid, block, 0, out.data(), hits.data());
  for (int i = 0; i < total; ++i) {
    CHECK(out[size_t(i)] == i);
    CHECK(hits[size_t(i)] == 1);
  }
}

TEST_CASE("warp shuffles and votes: butterfly sum, prefix scan, broadcast, ballot, any, all") {
  int threads = 64, blocks = 2, n = threads * blocks;
  std::vector<int> in(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) in[size_t(i)] = (i * 37 + 11) % 23;
  std::vector<int> sum(static_cast<size_t>(n)), scan(sum), bcast(sum), any_all(sum);
  std::vector<unsigned> ballot(static_cast<size_t>(n));
  KISO_LAUNCH(warp_ops, dim3(unsigned(blocks)), dim3(unsigned(threads)), 0, in.data(), sum.data(), scan.data(),
              bcast.data(), ballot.data(), any_all.data());
  for (int w0 = 0; w0 < n; w0 += 32) {
    int warp_sum = 0;
    unsigned odd = 0;
    bool has7 = false;
    for (int l = 0; l < 32; ++l) {
      warp_sum += in[size_t(w0 + l)];
      odd |= unsigned(in[size_t(w0 + l)] % 2) << l;
      has7 = has7 || in[size_t(w0 + l)] == 7;
    }
    int running = 0;
    for (int l = 0; l < 32; ++l) {
      size_t g = size_t(w0 + l);
      running += in[g];
      CHECK(sum[g] == warp_sum);
      CHECK(scan[g] == running);
      CHECK(bcast[g] == in[size_t(w0 + 3)]);
      CHECK(ballot[g] == odd);
      CHECK(any_all[g] == 2 * int(has7) + 1);
    }
  }
}

TEST_CASE("__shfl_down_sync reduction plus atomicAdd gives the exact sum") {
  int threads = 128, blocks = 5, n = threads * blocks;
  std::vector<float> in(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) in[size_t(i)] = float(i % 17);  // small integers: every sum is exact in f32
  float total = 0;
  KISO_LAUNCH(block_sum, dim3(unsigned(blocks)), dim3(unsigned(threads)), 0, in.data(), &total);
  CHECK(total == std::accumulate(in.begin(), in.end(), 0.0f));
}

TEST_CASE("dynamic shared memory: per block, garbage until written") {
  int threads = 48, blocks = 3;
  std::vector<float> in(size_t(threads * blocks)), out(in.size());
  std::iota(in.begin(), in.end(), 1.0f);
  std::vector<int> saw_nan(size_t(blocks), 0);
  KISO_LAUNCH(dynamic_copy, dim3(unsigned(blocks)), dim3(unsigned(threads)), size_t(threads) * sizeof(float),
              in.data(), out.data(), saw_nan.data());
  for (int b = 0; b < blocks; ++b) {
    CHECK(saw_nan[size_t(b)] == 1);  // the second and third block too: the buffer is refilled
    for (int i = 0; i < threads; ++i)
      CHECK(out[size_t(b * threads + i)] == 2.0f * in[size_t(b * threads + threads - 1 - i)]);
  }
}

TEST_CASE("a barrier some threads never reach is a deadlock naming the block and a thread") {
  std::vector<int> out(64, 0);
  CHECK_THROWS_WITH_AS(KISO_LAUNCH(early_return, dim3(2), dim3(64), 0, out.data()),
                       doctest::Contains("early_return: deadlock in block (0, 0, 0) of 64 threads"), kiso::Error);
  CHECK_THROWS_WITH_AS(KISO_LAUNCH(early_return, dim3(2), dim3(64), 0, out.data()),
                       doctest::Contains("63 wait at __syncthreads (first: thread (0, 0, 0)); 1 returned "
                                         "(first: thread (5, 0, 0))"),
                       kiso::Error);
  CHECK_THROWS_WITH_AS(KISO_LAUNCH(mixed_barriers, dim3(1), dim3(64), 0, out.data()),
                       doctest::Contains("32 wait at __syncthreads (first: thread (32, 0, 0)); 32 returned"),
                       kiso::Error);
}

TEST_CASE("an exception in one thread stops the launch and reaches the caller; the next launch runs") {
  std::vector<int> out(64, 0);
  CHECK_THROWS_WITH_AS(KISO_LAUNCH(throws_in_thread_7, dim3(1), dim3(64), 0, out.data()),
                       "throws_in_thread_7: thread 7 refuses", kiso::Error);
  std::vector<int> in(64), rev(64, -1);
  std::iota(in.begin(), in.end(), 0);
  KISO_LAUNCH(reverse_in_block, dim3(1), dim3(64), 0, in.data(), rev.data(), 64);
  CHECK(rev.front() == 63);
  CHECK(rev.back() == 0);
}

TEST_CASE("bad launch configurations and built-ins outside a launch are clear errors") {
  std::vector<int> out(64, 0);
  CHECK_THROWS_WITH_AS(KISO_LAUNCH(write_ids, dim3(1), dim3(2048), 0, out.data(), out.data()),
                       doctest::Contains("write_ids: a block of (2048, 1, 1) threads; expected 1 to 1024"),
                       kiso::Error);
  CHECK_THROWS_WITH_AS(KISO_LAUNCH(write_ids, dim3(0), dim3(32), 0, out.data(), out.data()),
                       doctest::Contains("a grid of (0, 1, 1) blocks"), kiso::Error);
  CHECK_THROWS_WITH_AS(KISO_LAUNCH(dynamic_copy, dim3(1), dim3(32), 65536, (const float*)nullptr,
                                   (float*)nullptr, (int*)nullptr),
                       doctest::Contains("65536 bytes of dynamic shared memory; at most 49152"), kiso::Error);
  CHECK_THROWS_WITH_AS((void)threadIdx.x, doctest::Contains("outside a simulated kernel launch"), kiso::Error);
}

#if defined(__SANITIZE_ADDRESS__)
// Only in `make debug`: a kernel writing past its buffer dies with AddressSanitizer's report,
// fibers and all. The launch runs in a child process, whose report goes to a file.
// Thread 40 of 40 writes one element past the end.
static __global__ void off_by_one(int* out) { out[threadIdx.x + 1] = 1; }

TEST_CASE("under AddressSanitizer, an out-of-bounds write in a simulated kernel is caught") {
  std::string report = "/tmp/kiso_sim_oob_" + std::to_string(getpid()) + ".txt";
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    if (!std::freopen(report.c_str(), "w", stderr)) _exit(99);
    std::vector<int> out(40);
    KISO_LAUNCH(off_by_one, dim3(1), dim3(40), 0, out.data());
    _exit(0);  // not reached when the write is caught
  }
  int status = 0;
  waitpid(child, &status, 0);
  std::stringstream text;
  text << std::ifstream(report).rdbuf();
  std::remove(report.c_str());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);
  CHECK(text.str().find("heap-buffer-overflow") != std::string::npos);
  CHECK(text.str().find("off_by_one") != std::string::npos);
}
#endif

}  // TEST_SUITE
