// Wave and block reductions shared by the kernels. Wave width is warpSize
// (64 on CDNA, 32 on RDNA, either on the emulator); blocks must be a whole
// number of waves (every launcher uses a multiple of 64 threads).
#pragma once

#include "hs_hip_compat.h"

namespace hs {
namespace hipk {

HS_DEVICE float wave_sum(float v) {
  for (int o = warpSize / 2; o > 0; o >>= 1) v += __shfl_xor(v, o);
  return v;
}

HS_DEVICE float wave_max(float v) {
  for (int o = warpSize / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor(v, o));
  return v;
}

// Sum over the whole block, returned to every thread. The leading barrier
// lets a caller reduce twice in a row without racing on `part`.
HS_DEVICE float block_sum(float v) {
  __shared__ float part[32];  // 1024 threads / 32 lanes: the most waves a block has
  const int tid = static_cast<int>(threadIdx.x);
  const int waves = (static_cast<int>(blockDim.x) + warpSize - 1) / warpSize;
  v = wave_sum(v);
  __syncthreads();
  if (tid % warpSize == 0) part[tid / warpSize] = v;
  __syncthreads();
  float t = 0.0f;
  for (int i = 0; i < waves; ++i) t += part[i];  // same order in every thread
  return t;
}

HS_DEVICE float block_max(float v) {
  __shared__ float part[32];
  const int tid = static_cast<int>(threadIdx.x);
  const int waves = (static_cast<int>(blockDim.x) + warpSize - 1) / warpSize;
  v = wave_max(v);
  __syncthreads();
  if (tid % warpSize == 0) part[tid / warpSize] = v;
  __syncthreads();
  float t = part[0];
  for (int i = 1; i < waves; ++i) t = fmaxf(t, part[i]);
  return t;
}

}  // namespace hipk
}  // namespace hs
