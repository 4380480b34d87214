// The one vendor header of kernels/*.hip: the same kernel sources compile
//   - with hipcc for AMD GPUs (HIP_PLATFORM=amd): HIP's own names, and
//   - as host C++ inside the addon for the HIP emulator (native/src/hip_emu).
// Only the few names that differ are mapped here; kernels use HIP's spelling
// everywhere else (threadIdx, __syncthreads, __shfl_xor, warpSize, ...).
//
//   dptr<T>                 a device pointer parameter: T* on a GPU, a
//                           bounds-checked pointer on the emulator
//   HS_DYNAMIC_SHARED(T, n) the launch's dynamic shared memory as n[]
//   hs_bits_to_float / hs_float_to_bits
//   hs_f16_to_f32 / hs_bf16_to_f32   weight formats (bit exact, no intrinsics)
//
// warpSize is never a compile-time constant in kernels (it is a run-time
// value on the emulator, 64 on CDNA, 32 on RDNA): shared arrays indexed by
// wave are sized for the smallest wave (32 lanes).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__HIPCC__) || defined(__HIP__)

#include <hip/hip_runtime.h>
#define HS_HIP_EMU 0

namespace hs {
namespace hipk {
template <class T>
using dptr = T*;
}  // namespace hipk
}  // namespace hs

#define HS_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#define HS_DEVICE __device__ __forceinline__

HS_DEVICE float hs_bits_to_float(uint32_t u) { return __uint_as_float(u); }
HS_DEVICE uint32_t hs_float_to_bits(float f) { return __float_as_uint(f); }

#else  // the emulator

#include "hip_emu/device.h"
#include "hip_emu/rocblas.h"
#define HS_HIP_EMU 1

namespace hs {
namespace hipk {
using namespace ::hs_emu;  // hipMalloc, dim3, __shfl_xor, ... as HIP spells them
}  // namespace hipk
}  // namespace hs

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// warpSize is an object converting to the running wave's width (device.h),
// not a macro, so that hipDeviceProp_t::warpSize still names the field.
// One copy per OS thread = per running block (device.h explains why).
#define __shared__ static thread_local
#define threadIdx (::hs_emu::detail::self().thread_idx)
#define blockIdx (::hs_emu::detail::self().block_idx)
#define blockDim (::hs_emu::detail::self().block_dim)
#define gridDim (::hs_emu::detail::self().grid_dim)
#define hipLaunchKernelGGL(kernel, grid, block, shared, stream, ...) \
  ::hs_emu::launch_kernel(#kernel, kernel, grid, block, shared, stream, __VA_ARGS__)
#define HS_DYNAMIC_SHARED(type, name) \
  ::hs_emu::dptr<type> name = ::hs_emu::dynamic_shared_as<type>()
#define HS_DEVICE inline

HS_DEVICE float hs_bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
HS_DEVICE uint32_t hs_float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
HS_DEVICE float rsqrtf(float x) { return 1.0f / std::sqrt(x); }

#endif

HS_DEVICE float hs_bf16_to_f32(uint16_t h) { return hs_bits_to_float(static_cast<uint32_t>(h) << 16); }

HS_DEVICE float hs_f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in f32
    const float f = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -f : f;
  }
  if (exp == 31) return hs_bits_to_float(sign | 0x7F800000u | (mant << 13));
  return hs_bits_to_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

namespace hs {
namespace hipk {
// Reinterprets a device pointer's element type (weights arrive as bytes).
template <class U, class T>
HS_DEVICE dptr<U> dptr_cast(dptr<T> p) {
#if HS_HIP_EMU
  return dptr<U>(reinterpret_cast<U*>(p.raw()), p.lo(), p.hi());
#else
  return reinterpret_cast<U*>(p);
#endif
}
}  // namespace hipk
}  // namespace hs

// f32 -> bf16 / f16 bits, round to nearest even (NaN stays NaN).
HS_DEVICE uint16_t hs_f32_to_bf16(float f) {
  const uint32_t u = hs_float_to_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

HS_DEVICE uint16_t hs_f32_to_f16(float f) {
  const uint32_t u = hs_float_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u);  // NaN
  if (a >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to inf
  if (a < 0x38800000u) {  // below the smallest normal f16 (2^-14): subnormal or 0
    // value / 2^-24, rounded half to even, is the subnormal's mantissa
    const float v = hs_bits_to_float(a) * 16777216.0f;
    const float r = rintf(v);
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(r));
  }
  const uint32_t rounded = a + 0xFFFu + ((a >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}
