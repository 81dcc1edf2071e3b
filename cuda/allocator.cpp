// cuda/allocator.cpp — the caching allocator (see allocator.h). Host code, no CUDA: built into
// every build, so that CI tests it over host memory.
#include "cuda/allocator.h"

#include <bit>
#include <utility>

#include "base/check.h"

namespace kiso::cuda {

size_t size_class(size_t bytes) {
  constexpr size_t kMinBlock = 512, kSmallLimit = size_t(1) << 20, kLargeStep = size_t(2) << 20;
  if (bytes <= kMinBlock) return kMinBlock;
  if (bytes <= kSmallLimit) return std::bit_ceil(bytes);
  return (bytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}

CachingAllocator::CachingAllocator(std::function<void*(size_t)> raw_alloc, std::function<void(void*)> raw_free)
    : raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  empty_cache_locked();
  for (const auto& [ptr, size] : in_use_) raw_free_(ptr);
}

void* CachingAllocator::allocate(size_t bytes) {
  size_t size = size_class(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* ptr = nullptr;
  if (auto it = cache_.find(size); it != cache_.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    stats_.cached_bytes -= size;
    stats_.cache_hits++;
  } else {
    ptr = raw_alloc_(size);
    if (ptr == nullptr && stats_.cached_bytes > 0) {  // the cache may hold what is missing
      empty_cache_locked();
      ptr = raw_alloc_(size);
    }
    check(ptr != nullptr, "cuda allocator",
          "out of device memory: {} bytes requested (size class {}); {} bytes in use by tensors, the cache "
          "already returned",
          bytes, size, stats_.in_use_bytes);
    stats_.raw_allocs++;
  }
  in_use_[ptr] = size;
  stats_.in_use_bytes += size;
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.in_use_bytes + stats_.cached_bytes);
  return ptr;
}

void CachingAllocator::release(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = in_use_.find(ptr);
  check(it != in_use_.end(), "cuda allocator",
        "release of {} which is not a block in use (freed twice, or not from this allocator)", ptr);
  size_t size = it->second;
  in_use_.erase(it);
  cache_[size].push_back(ptr);
  stats_.in_use_bytes -= size;
  stats_.cached_bytes += size;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  empty_cache_locked();
}

void CachingAllocator::empty_cache_locked() {
  for (auto& [size, blocks] : cache_)
    for (void* ptr : blocks) raw_free_(ptr);
  cache_.clear();
  stats_.cached_bytes = 0;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_bytes = stats_.in_use_bytes + stats_.cached_bytes;
}

CachingAllocator::Stats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace kiso::cuda
