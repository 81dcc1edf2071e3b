// tests/cuda/test_allocator.cpp — the caching allocator over counted host memory: size classes,
// reuse from the cache, the statistics, emptying the cache, the out-of-memory retry, and
// releases of pointers it did not give.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "cuda/allocator.h"
#include "base/check.h"

using namespace kiso;
using kiso::cuda::CachingAllocator;

namespace {

// Host memory with a budget: what a GPU's memory looks like to the allocator.
struct CountedMemory {
  size_t budget = size_t(1) << 30, used = 0;
  int allocs = 0, frees = 0;
  std::set<void*> live;
  CachingAllocator make() {
    return CachingAllocator(
        [this](size_t n) -> void* {
          if (used + n > budget) return nullptr;
          void* p = std::malloc(n);
          used += n, allocs++;
          live.insert(p);
          sizes[p] = n;
          return p;
        },
        [this](void* p) {
          REQUIRE(live.erase(p) == 1);
          used -= sizes[p], frees++;
          std::free(p);
        });
  }
  std::map<void*, size_t> sizes;
};

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("size classes: 512 B minimum, powers of two to 1 MiB, then multiples of 2 MiB") {
  using cuda::size_class;
  CHECK(size_class(0) == 512);
  CHECK(size_class(1) == 512);
  CHECK(size_class(512) == 512);
  CHECK(size_class(513) == 1024);
  CHECK(size_class(3000) == 4096);
  CHECK(size_class(1 << 20) == 1 << 20);
  CHECK(size_class((1 << 20) + 1) == 2 << 20);
  CHECK(size_class(5 << 20) == 6 << 20);
  for (size_t n : {size_t(1), size_t(777), size_t(65537), size_t(3) << 20})
    CHECK(size_class(n) >= n);  // a block always holds its request
}

TEST_CASE("a released block is reused for the next request of its class, without a raw allocation") {
  CountedMemory mem;
  {
    CachingAllocator a = mem.make();
    void* p = a.allocate(3000);
    a.release(p);
    void* q = a.allocate(2500);  // the same 4096-byte class
    CHECK(q == p);
    CHECK(mem.allocs == 1);
    void* r = a.allocate(5000);  // another class: a new block
    CHECK(r != p);
    CHECK(mem.allocs == 2);
    CachingAllocator::Stats s = a.stats();
    CHECK(s.in_use_bytes == 4096 + 8192);
    CHECK(s.cached_bytes == 0);
    CHECK(s.cache_hits == 1);
    CHECK(s.raw_allocs == 2);
    a.release(q), a.release(r);
    s = a.stats();
    CHECK(s.in_use_bytes == 0);
    CHECK(s.cached_bytes == 4096 + 8192);
    CHECK(s.peak_bytes == 4096 + 8192);
    CHECK(mem.frees == 0);  // cached, not returned
    a.empty_cache();
    CHECK(mem.frees == 2);
    CHECK(a.stats().cached_bytes == 0);
    void* kept = a.allocate(100);
    (void)kept;  // still in use when the allocator goes: the destructor returns it
  }
  CHECK(mem.live.empty());
  CHECK(mem.allocs == mem.frees);
}

TEST_CASE("out of memory: the cache is returned and the request tried again, then a clear error") {
  CountedMemory mem;
  mem.budget = 3 << 20;
  CachingAllocator a = mem.make();
  void* big = a.allocate(2 << 20);
  a.release(big);                       // 2 MiB cached
  void* other = a.allocate(1 << 20);    // 1 MiB class: fits beside the cached block
  void* again = a.allocate(1 << 20);    // would need 4 MiB with the cache: it is emptied, then fits
  CHECK(mem.frees == 1);
  CHECK(a.stats().cached_bytes == 0);
  CHECK_THROWS_WITH_AS(a.allocate(2 << 20),
                       doctest::Contains("out of device memory: 2097152 bytes requested (size class 2097152); "
                                         "2097152 bytes in use"),
                       Error);
  a.release(other), a.release(again);
}

TEST_CASE("releasing a block twice, or one from elsewhere, is an error; nullptr is ignored") {
  CountedMemory mem;
  CachingAllocator a = mem.make();
  void* p = a.allocate(64);
  a.release(p);
  CHECK_THROWS_WITH_AS(a.release(p), doctest::Contains("not a block in use (freed twice"), Error);
  int local = 0;
  CHECK_THROWS_AS(a.release(&local), Error);
  a.release(nullptr);
}

TEST_CASE("peak of bytes in use: the cache does not count, and reset_peak starts a new peak") {
  // Oracle: the size classes by hand (4 KiB and 8 KiB requests are their own classes).
  CountedMemory mem;
  CachingAllocator a = mem.make();
  void* p = a.allocate(4096);
  void* q = a.allocate(8192);
  CHECK(a.stats().peak_in_use_bytes == 12288);
  a.release(q);  // 8 KiB to the cache: still held, no longer in use
  CHECK(a.stats().in_use_bytes == 4096);
  CHECK(a.stats().peak_in_use_bytes == 12288);
  a.reset_peak();
  CHECK(a.stats().peak_in_use_bytes == 4096);
  void* r = a.allocate(8192);  // from the cache: in use again
  CHECK(a.stats().peak_in_use_bytes == 12288);
  CHECK(a.stats().peak_bytes == 12288);  // in use + cached never went above it either
  a.release(p);
  a.release(r);
}

}  // TEST_SUITE
