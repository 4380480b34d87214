// Test-binding helper: device buffers that are freed together when the arena
// goes out of scope, and uploads/downloads through the checking macro.
#pragma once

#include <vector>

#include "../../../kernels/hs_hip_compat.h"
#include "../../hip/hip_check.h"

namespace hs {
namespace hipk {

class DeviceArena {
 public:
  DeviceArena() = default;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  ~DeviceArena() {
    // A failing free has no one to report to here; the emulator's registry
    // (bytes_in_use) is what the tests check for leaks.
    for (void* p : ptrs_) (void)hipFree(p);
  }

  template <class T>
  Result<T*> alloc(size_t n) {
    void* p = nullptr;
    HS_HIP_CHECK(hipMalloc(&p, n * sizeof(T)));
    ptrs_.push_back(p);
    return static_cast<T*>(p);
  }

  template <class T>
  Result<T*> upload(const T* host, size_t n) {
    Result<T*> r = alloc<T>(n);
    if (!r.ok() || n == 0) return r;
    HS_HIP_CHECK(hipMemcpy(r.value(), host, n * sizeof(T), hipMemcpyHostToDevice));
    return r;
  }

 private:
  std::vector<void*> ptrs_;
};

inline Status download(void* host, const void* dev, size_t bytes) {
  if (bytes == 0) return Status();
  HS_HIP_CHECK(hipMemcpy(host, dev, bytes, hipMemcpyDeviceToHost));
  return Status();
}


}  // namespace hipk
}  // namespace hs

// Unwraps a Result<T> into `var` or returns its error from the function.
#define HS_TRY(var, expr)                       \
  auto var##_result = (expr);                   \
  if (!var##_result.ok()) return var##_result.error(); \
  auto var = var##_result.value()
#define HS_TRY_STATUS(expr)                     \
  do {                                          \
    ::hs::Status hs_st_ = (expr);               \
    if (!hs_st_.ok()) return hs_st_.error();    \
  } while (0)
