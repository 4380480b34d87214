// Device memory of the emulator: host allocations recorded in a registry so
// that every device pointer can be traced back to its allocation's bounds.
//
//   registry:  base address -> size        (std::map, ordered by address)
//   lookup(p): the last entry with base <= p, if p < base + size
//
// New allocations are filled with 0xFF bytes (a NaN in every float format) so
// a kernel that reads memory nobody wrote shows NaNs instead of plausible
// zeros.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "hip_emu/api.h"
#include "hip_emu/launch_internal.h"

namespace hs_emu {
namespace {

// The emulated device's capacity: HIPSERVE_EMU_MEMORY ("512MiB", "2GiB",
// "1073741824"), else 2 GiB. Every byte hipMalloc hands out is real host
// memory (filled with 0xFF), so the KV pool that --gpu-memory-utilization
// sizes from this total is resident: keep it modest.
size_t initial_limit() {
  constexpr size_t kDefault = size_t{2} << 30;
  const char* env = std::getenv("HIPSERVE_EMU_MEMORY");
  if (env == nullptr || *env == '\0') return kDefault;
  char* end = nullptr;
  const double v = std::strtod(env, &end);
  const std::string unit = end == nullptr ? "" : end;
  double mul = 0;
  if (unit.empty() || unit == "B") mul = 1;
  else if (unit == "KiB" || unit == "K" || unit == "k") mul = 1024.0;
  else if (unit == "MiB" || unit == "M" || unit == "m") mul = 1024.0 * 1024;
  else if (unit == "GiB" || unit == "G" || unit == "g") mul = 1024.0 * 1024 * 1024;
  if (mul == 0 || !(v > 0) || v * mul > 1e15) {
    std::fprintf(stderr, "hipserve: HIPSERVE_EMU_MEMORY=%s is not a size (e.g. 512MiB, 2GiB); using 2 GiB\n", env);
    return kDefault;
  }
  return static_cast<size_t>(v * mul);
}

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, size_t> allocs;
  size_t in_use = 0;
  size_t limit = initial_limit();  // set_memory_limit (tests) changes it
};

Registry& reg() {
  static Registry* r = new Registry();  // never destroyed: used until exit
  return *r;
}

constexpr size_t kAlign = 256;  // hipMalloc's alignment

}  // namespace

namespace detail {

bool find_allocation(const void* p, const char** lo, const char** hi) {
  Registry& r = reg();
  std::lock_guard<std::mutex> lock(r.mu);
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = r.allocs.upper_bound(a);
  if (it == r.allocs.begin()) return false;
  --it;
  if (a >= it->first + it->second) return false;
  *lo = reinterpret_cast<const char*>(it->first);
  *hi = reinterpret_cast<const char*>(it->first + it->second);
  return true;
}

bool range_is_device(const void* p, size_t bytes) {
  const char* lo = nullptr;
  const char* hi = nullptr;
  if (!find_allocation(p, &lo, &hi)) return bytes == 0 && p == nullptr;
  return static_cast<size_t>(hi - static_cast<const char*>(p)) >= bytes;
}

}  // namespace detail

using detail::set_last;

void set_memory_limit(size_t bytes) {
  std::lock_guard<std::mutex> lock(reg().mu);
  reg().limit = bytes;
}

size_t bytes_in_use() {
  std::lock_guard<std::mutex> lock(reg().mu);
  return reg().in_use;
}

hipError_t hipMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (free_bytes == nullptr || total_bytes == nullptr) return set_last(hipErrorInvalidValue);
  std::lock_guard<std::mutex> lock(reg().mu);
  *total_bytes = reg().limit;
  *free_bytes = reg().limit > reg().in_use ? reg().limit - reg().in_use : 0;
  return hipSuccess;
}

hipError_t hipMalloc(void** ptr, size_t bytes) {
  if (ptr == nullptr) return set_last(hipErrorInvalidValue);
  *ptr = nullptr;
  if (bytes == 0) return hipSuccess;  // HIP returns nullptr for 0 bytes
  Registry& r = reg();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (bytes > r.limit || r.in_use > r.limit - bytes) return set_last(hipErrorOutOfMemory);
  }
  const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) return set_last(hipErrorOutOfMemory);
  std::memset(p, 0xFF, rounded);
  std::lock_guard<std::mutex> lock(r.mu);
  // The registry records the requested size, not the rounded one: an access
  // past what the caller asked for is out of bounds even if it would land in
  // the padding.
  r.allocs[reinterpret_cast<uintptr_t>(p)] = bytes;
  r.in_use += bytes;
  *ptr = p;
  return hipSuccess;
}

hipError_t hipFree(void* ptr) {
  if (ptr == nullptr) return hipSuccess;
  Registry& r = reg();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.allocs.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == r.allocs.end()) return set_last(hipErrorInvalidDevicePointer);
    r.in_use -= it->second;
    r.allocs.erase(it);
  }
  std::free(ptr);
  return hipSuccess;
}

hipError_t hipMemcpy(void* dst, const void* src, size_t bytes, hipMemcpyKind kind) {
  // A copy synchronizes with earlier work, so a kernel's fault surfaces here.
  if (hipError_t f = detail::take_pending_fault(); f != hipSuccess) return set_last(f);
  if (bytes == 0) return hipSuccess;
  if (dst == nullptr || src == nullptr) return set_last(hipErrorInvalidValue);
  const bool dst_dev = detail::range_is_device(dst, bytes);
  const bool src_dev = detail::range_is_device(src, bytes);
  bool ok = false;
  switch (kind) {
    case hipMemcpyHostToHost: ok = true; break;
    case hipMemcpyHostToDevice: ok = dst_dev; break;
    case hipMemcpyDeviceToHost: ok = src_dev; break;
    case hipMemcpyDeviceToDevice: ok = dst_dev && src_dev; break;
    case hipMemcpyDefault: ok = true; break;
    default: return set_last(hipErrorInvalidMemcpyDirection);
  }
  if (!ok) return set_last(hipErrorInvalidValue);
  // Invariant: both ranges were checked above against live allocations (or are
  // the caller's host memory, which HIP also trusts).
  std::memmove(dst, src, bytes);
  return hipSuccess;
}

hipError_t hipMemcpyAsync(void* dst, const void* src, size_t bytes, hipMemcpyKind kind,
                          hipStream_t stream) {
  if (!detail::stream_is_valid(stream)) return set_last(hipErrorInvalidHandle);
  return hipMemcpy(dst, src, bytes, kind);
}

hipError_t hipMemset(void* dst, int value, size_t bytes) {
  if (bytes == 0) return hipSuccess;
  if (!detail::range_is_device(dst, bytes)) return set_last(hipErrorInvalidValue);
  std::memset(dst, value, bytes);
  return hipSuccess;
}

hipError_t hipMemsetAsync(void* dst, int value, size_t bytes, hipStream_t stream) {
  if (!detail::stream_is_valid(stream)) return set_last(hipErrorInvalidHandle);
  return hipMemset(dst, value, bytes);
}

}  // namespace hs_emu
