// The device side of the emulator: what a kernel sees when kernels/*.hip is
// compiled as host C++ (through kernels/hs_hip_compat.h).
//
//   grid ──> blocks run one after another on the calling OS thread
//   block ─> blockDim threads, each a fiber (fiber.cc) on that OS thread;
//            a fiber runs until it reaches a barrier, then the next one runs
//   wave ──> lanes [w*ws, (w+1)*ws) of the block's linear thread index,
//            ws = set_wave_size() (64 or 32); warp ops are wave barriers
//
// Because only one fiber of a block runs at a time and blocks do not overlap,
// `__shared__` is `static thread_local` (one copy per OS thread = per running
// block) and atomics need no hardware support; they still use __atomic
// builtins so that running blocks on several threads stays possible.
#pragma once

#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#include "hip_emu/api.h"

namespace hs_emu {

struct dim3 {
  uint32_t x, y, z;
  constexpr dim3(uint32_t x_ = 1, uint32_t y_ = 1, uint32_t z_ = 1) : x(x_), y(y_), z(z_) {}
};

namespace detail {

// What the running fiber knows about itself (set by the scheduler).
struct ThreadState {
  dim3 thread_idx;
  dim3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  int lane = 0;
  int wave_size = 64;
};
ThreadState& self();

// Wave-wide exchange of one 64-bit value per lane: every live lane of the
// calling lane's wave deposits `mine`, waits for the others, and gets back the
// value deposited by lane `src` of the same wave (its own if src is outside
// the wave or names no thread).
uint64_t wave_exchange(uint64_t mine, int src);
// Wave-wide OR of one bit per lane (lane i -> bit i).
uint64_t wave_ballot(bool pred);
void block_barrier();
// Dynamic shared memory of the running block (launch's shared-memory bytes).
char* dynamic_shared(size_t* bytes);
// Out-of-bounds access of `bytes` at `addr` in [lo, hi): records a fault and
// returns scratch memory the access may harmlessly use.
void* oob(const void* addr, size_t bytes, const char* lo, const char* hi);

// Type-erased launch: body(ctx) runs once per thread of the grid.
struct LaunchConfig {
  const char* kernel = "";
  dim3 grid, block;
  size_t shared_bytes = 0;
  hipStream_t stream = nullptr;
};
void launch(const LaunchConfig& cfg, void (*body)(void*), void* ctx);

template <class T>
T bits_to(uint64_t v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle type");
  T out;
  std::memcpy(&out, &v, sizeof(T));
  return out;
}
template <class T>
uint64_t to_bits(T v) {
  uint64_t out = 0;
  std::memcpy(&out, &v, sizeof(T));
  return out;
}
}  // namespace detail

// A checked device pointer. The kernels declare their pointer parameters as
// dptr<T>; in a real HIP build that is plain `T*`. Converting a raw pointer
// (at launch) looks up the allocation it belongs to; every access checks the
// element lies inside that allocation, so a bad index cannot touch the host
// heap: it is recorded as a fault of the launch instead.
template <class T>
class dptr {
 public:
  dptr() = default;
  dptr(std::nullptr_t) {}                                  // NOLINT: mirrors T*
  dptr(T* p) : p_(p) { detail::find_allocation(p, &lo_, &hi_); }  // NOLINT: mirrors T*
  template <class U, class = std::enable_if_t<std::is_convertible<U*, T*>::value>>
  dptr(const dptr<U>& o) : p_(o.raw()), lo_(o.lo()), hi_(o.hi()) {}  // NOLINT: T* -> const T*
  dptr(T* p, const char* lo, const char* hi) : p_(p), lo_(lo), hi_(hi) {}

  T& operator[](int64_t i) const { return at(i); }
  T& operator*() const { return at(0); }
  dptr operator+(int64_t n) const { return dptr(p_ + n, lo_, hi_); }
  dptr operator-(int64_t n) const { return dptr(p_ - n, lo_, hi_); }
  explicit operator bool() const { return p_ != nullptr; }

  T* raw() const { return p_; }
  const char* lo() const { return lo_; }
  const char* hi() const { return hi_; }

 private:
  T& at(int64_t i) const {
    // Invariant: [lo_, hi_) is a live allocation (or empty); the address is
    // computed in integers so an out-of-range index is never dereferenced.
    const uintptr_t a = reinterpret_cast<uintptr_t>(p_) + static_cast<uintptr_t>(i) * sizeof(T);
    if (a < reinterpret_cast<uintptr_t>(lo_) || a + sizeof(T) > reinterpret_cast<uintptr_t>(hi_) ||
        lo_ == nullptr) {
      return *static_cast<T*>(detail::oob(reinterpret_cast<const void*>(a), sizeof(T), lo_, hi_));
    }
    return *reinterpret_cast<T*>(a);
  }
  T* p_ = nullptr;
  const char* lo_ = nullptr;
  const char* hi_ = nullptr;
};

template <class T>
dptr<T> dynamic_shared_as() {
  size_t bytes = 0;
  char* base = detail::dynamic_shared(&bytes);
  return dptr<T>(reinterpret_cast<T*>(base), base, base + bytes);
}

// HIP's `warpSize`: a run-time value here (set_wave_size), so it is an object
// that converts to the running wave's width wherever an int is expected.
struct WarpSize {
  operator int() const { return detail::self().wave_size; }  // NOLINT: reads like HIP's int
};
inline constexpr WarpSize warpSize{};

// ---- warp (wavefront) functions, HIP's lane arithmetic ----
template <class T>
T __shfl(T v, int src, int width = detail::self().wave_size) {
  const int lane = detail::self().lane;
  const int idx = ((src % width) + width) % width + (lane & ~(width - 1));
  return detail::bits_to<T>(detail::wave_exchange(detail::to_bits(v), idx));
}
template <class T>
T __shfl_xor(T v, int mask, int width = detail::self().wave_size) {
  const int lane = detail::self().lane;
  int idx = lane ^ mask;
  if (idx >= ((lane + width) & ~(width - 1))) idx = lane;
  return detail::bits_to<T>(detail::wave_exchange(detail::to_bits(v), idx));
}
template <class T>
T __shfl_down(T v, unsigned delta, int width = detail::self().wave_size) {
  const int lane = detail::self().lane;
  int idx = lane + static_cast<int>(delta);
  if ((lane & (width - 1)) + static_cast<int>(delta) >= width) idx = lane;
  return detail::bits_to<T>(detail::wave_exchange(detail::to_bits(v), idx));
}
template <class T>
T __shfl_up(T v, unsigned delta, int width = detail::self().wave_size) {
  const int lane = detail::self().lane;
  int idx = lane - static_cast<int>(delta);
  if (idx < (lane & ~(width - 1))) idx = lane;
  return detail::bits_to<T>(detail::wave_exchange(detail::to_bits(v), idx));
}
inline unsigned long long __ballot(int pred) { return detail::wave_ballot(pred != 0); }
inline int __any(int pred) { return detail::wave_ballot(pred != 0) != 0; }
inline int __all(int pred) {
  const uint64_t b = detail::wave_ballot(pred != 0);
  const uint64_t live = detail::wave_ballot(true);
  return b == live;
}
inline void __syncthreads() { detail::block_barrier(); }
inline unsigned __lane_id() { return static_cast<unsigned>(detail::self().lane); }

// ---- atomics (return the old value, like HIP's) ----
template <class T>
T atomicAdd(T* p, T v) {
  if constexpr (std::is_integral<T>::value) {
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
  } else {
    T old = *p;
    for (;;) {
      T next = old + v;
      if (__atomic_compare_exchange(p, &old, &next, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        return old;
      }
    }
  }
}
template <class T>
T atomicMax(T* p, T v) {
  T old = *p;
  while (old < v && !__atomic_compare_exchange(p, &old, &v, false, __ATOMIC_RELAXED,
                                               __ATOMIC_RELAXED)) {
  }
  return old;
}
template <class T>
T atomicMin(T* p, T v) {
  T old = *p;
  while (v < old && !__atomic_compare_exchange(p, &old, &v, false, __ATOMIC_RELAXED,
                                               __ATOMIC_RELAXED)) {
  }
  return old;
}
template <class T>
T atomicCAS(T* p, T expected, T desired) {
  __atomic_compare_exchange(p, &expected, &desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return expected;
}
template <class T>
T atomicExch(T* p, T v) {
  T old;
  __atomic_exchange(p, &v, &old, __ATOMIC_RELAXED);
  return old;
}

// hipLaunchKernelGGL: converts the arguments to the kernel's parameter types
// once (raw device pointers become checked dptr), then runs the kernel body
// once per thread of the grid.
template <class... P, class... A>
void launch_kernel(const char* name, void (*kernel)(P...), dim3 grid, dim3 block,
                   size_t shared_bytes, hipStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
  struct Ctx {
    void (*kernel)(P...);
    std::tuple<std::decay_t<P>...> args;
  } ctx{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
  detail::LaunchConfig cfg;
  cfg.kernel = name;
  cfg.grid = grid;
  cfg.block = block;
  cfg.shared_bytes = shared_bytes;
  cfg.stream = stream;
  detail::launch(
      cfg, [](void* c) { std::apply(static_cast<Ctx*>(c)->kernel, static_cast<Ctx*>(c)->args); },
      &ctx);
}

}  // namespace hs_emu
