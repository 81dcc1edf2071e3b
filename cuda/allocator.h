// cuda/allocator.h — the caching allocator behind device tensors. cudaMalloc and cudaFree
// synchronise the device and cost microseconds to milliseconds; a training step frees and
// allocates the same few hundred sizes every time. So a freed block goes to a cache keyed by
// its size class, and the next request of that class takes it back without asking CUDA.
//
//   size class: the request rounded up — to a power of two from 512 B to 1 MiB, then to a
//               multiple of 2 MiB — so that blocks of nearby sizes are interchangeable (waste:
//               under half a block for small requests, under 2 MiB for large ones)
//   out of memory: the cache is returned to the raw allocator and the request tried once more
//               before it is an error
//
// The raw allocator is a pair of functions: cudaMalloc / cudaFree for the GPU (cuda/runtime.cpp),
// host memory for the simulator and the tests. What it is not: a block-splitting allocator
// (PyTorch's carves large blocks into pieces; this one only reuses whole blocks), or
// stream-aware (kiso uses one stream).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace kiso::cuda {

size_t size_class(size_t bytes);

class CachingAllocator {
 public:
  // raw_alloc returns nullptr when the memory is not there (any other failure may throw).
  CachingAllocator(std::function<void*(size_t)> raw_alloc, std::function<void(void*)> raw_free);
  ~CachingAllocator();  // returns the cache and any block still in use to the raw allocator
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t bytes);  // at least `bytes` bytes (its size class); never nullptr
  void release(void* ptr);       // to the cache; a pointer this allocator did not give is an error
  void empty_cache();            // every cached block back to the raw allocator

  struct Stats {
    size_t in_use_bytes = 0;   // size classes of the blocks handed out and not released
    size_t cached_bytes = 0;   // size classes of the blocks waiting in the cache
    size_t peak_bytes = 0;     // the most in_use_bytes + cached_bytes has been
    size_t raw_allocs = 0;     // calls of raw_alloc that succeeded
    size_t cache_hits = 0;     // requests served from the cache
  };
  Stats stats() const;
  // Starts the peak again from what is held now (in use + cached), to measure one stretch of
  // work (a training step) after empty_cache().
  void reset_peak();

 private:
  std::function<void*(size_t)> raw_alloc_;
  std::function<void(void*)> raw_free_;
  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> cache_;   // size class -> free blocks
  std::unordered_map<void*, size_t> in_use_;     // block -> its size class
  Stats stats_;

  void empty_cache_locked();
};

}  // namespace kiso::cuda
