// RMSNorm, one thread block per row: y = x / sqrt(mean(x^2) + eps) * w.
// Also the q/k norm of Qwen3 (rows = tokens * heads, dim = head_dim).
#include "hs_reduce.h"
#include "launchers.h"

namespace hs {
namespace hipk {

__global__ void rmsnorm_kernel(dptr<const float> x, dptr<const float> w, dptr<float> y, int64_t dim,
                               float eps) {
  const int64_t r = blockIdx.x;
  dptr<const float> xr = x + r * dim;
  dptr<float> yr = y + r * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(dim) + eps);
  // y may alias x: every thread has read its x values before block_sum's
  // barrier, and writes only the elements it read itself.
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * inv * w[i];
}

hipError_t launch_rmsnorm(hipStream_t s, const float* x, const float* w, float* y, int64_t rows,
                          int64_t dim, float eps) {
  if (rows == 0) return hipSuccess;
  const int threads = dim >= 1024 ? 256 : 64;  // small heads: one or two waves
  hipLaunchKernelGGL(rmsnorm_kernel, dim3(static_cast<uint32_t>(rows)), dim3(threads), 0, s, x, w,
                     y, dim, eps);
  return hipGetLastError();
}

}  // namespace hipk
}  // namespace hs
