// Anonymous memory for large, long-lived buffers (weights read into memory,
// packed weights, the KV pool, the bandwidth probe): a private mapping whose
// usable bytes start on a 2 MiB boundary, advised for transparent huge pages
// (a stream over it pays fewer TLB misses, and committing it fewer faults).
// Unmapped when the owner goes.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace hs {

class HugeRegion {
 public:
  static constexpr size_t kHugePage = size_t{2} << 20;

  HugeRegion() = default;
  // data() is null when the mapping cannot be had.
  explicit HugeRegion(size_t bytes) : reserve_(bytes + kHugePage) {
    void* r = mmap(nullptr, reserve_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) {
      reserve_ = 0;
      return;
    }
    region_ = r;
    // Invariant: [data_, data_ + bytes) lies inside [r, r + reserve_): the
    // reservation has kHugePage bytes of slack for the alignment.
    data_ = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(r) + kHugePage - 1) & ~(kHugePage - 1));
    madvise(data_, bytes, MADV_HUGEPAGE);  // advice only: its failure changes nothing
  }
  ~HugeRegion() {
    if (region_ != nullptr) munmap(region_, reserve_);
  }
  HugeRegion(HugeRegion&& o) noexcept { swap(o); }
  HugeRegion& operator=(HugeRegion&& o) noexcept {
    HugeRegion gone(std::move(o));
    swap(gone);
    return *this;
  }
  HugeRegion(const HugeRegion&) = delete;
  HugeRegion& operator=(const HugeRegion&) = delete;

  uint8_t* data() const { return data_; }

  // Hands the mapping over (the caller munmaps *region, *bytes); this is left empty.
  void release(void** region, size_t* bytes) {
    *region = region_;
    *bytes = reserve_;
    region_ = nullptr;
    data_ = nullptr;
    reserve_ = 0;
  }

 private:
  void swap(HugeRegion& o) noexcept {
    std::swap(region_, o.region_);
    std::swap(data_, o.data_);
    std::swap(reserve_, o.reserve_);
  }
  void* region_ = nullptr;
  uint8_t* data_ = nullptr;
  size_t reserve_ = 0;
};

}  // namespace hs
