// Run-time choice of the SIMD path: the best the CPU supports, lowered by
// HIPSERVE_SIMD, switchable by tests through set_simd_level().
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cpu/internal.h"

namespace hs {
namespace cpu {
namespace {

const char* const kNames[] = {"scalar", "avx2", "avx512"};

int detect() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
  return avx512 ? 2 : avx2 ? 1 : 0;
#else
  return 0;
#endif
}

int index_of(const char* name) {
  for (int i = 0; i < 3; ++i) {
    if (std::strcmp(name, kNames[i]) == 0) return i;
  }
  return -1;
}

int initial_level() {
  int level = detect();
  const char* env = std::getenv("HIPSERVE_SIMD");
  if (env != nullptr && *env != '\0') {
    const int want = index_of(env);
    if (want >= 0 && want < level) level = want;  // can only lower
  }
  return level;
}

std::atomic<int>& level_ref() {
  static std::atomic<int> level{initial_level()};
  return level;
}

const IsaKernels* table_for(int level) {
#if defined(__x86_64__) || defined(_M_X64)
  if (level == 2) return &kAvx512Kernels;
  if (level == 1) return &kAvx2Kernels;
#else
  (void)level;
#endif
  return &kScalarKernels;
}

// AMD family 0x19 (Zen 3 and Zen 4); false elsewhere.
bool amd_family_19h() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  return __builtin_cpu_is("amdfam19h") != 0;
#else
  return false;
#endif
}

bool initial_decode_prefetch() {
  const char* env = std::getenv("HIPSERVE_DECODE_PREFETCH");
  if (env != nullptr && *env != '\0') return std::strcmp(env, "0") != 0;
  return !amd_family_19h();
}

std::atomic<bool>& decode_prefetch_ref() {
  static std::atomic<bool> on{initial_decode_prefetch()};
  return on;
}

}  // namespace

bool decode_prefetch() { return decode_prefetch_ref().load(std::memory_order_relaxed); }

void set_decode_prefetch(bool on) { decode_prefetch_ref().store(on, std::memory_order_relaxed); }

int simd_max_supported() {
  static const int max = detect();
  return max;
}

int simd_level_index() { return level_ref().load(std::memory_order_relaxed); }

const char* simd_level() { return kNames[simd_level_index()]; }

const IsaKernels& isa() { return *table_for(simd_level_index()); }

bool set_simd_level(const char* name) {
  const int want = index_of(name);
  if (want < 0 || want > simd_max_supported()) return false;
  level_ref().store(want, std::memory_order_relaxed);
  return true;
}

}  // namespace cpu
}  // namespace hs
