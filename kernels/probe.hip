// A deliberately simple kernel the tests use to plant an out-of-bounds write
// (n larger than the buffer) and check the emulator reports it.
#include "launchers.h"

namespace hs {
namespace hipk {

__global__ void iota_kernel(dptr<int32_t> out, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = static_cast<int32_t>(i);
}

hipError_t launch_iota(hipStream_t s, int32_t* out, int64_t n) {
  if (n == 0) return hipSuccess;
  hipLaunchKernelGGL(iota_kernel, dim3(static_cast<uint32_t>((n + 63) / 64)), dim3(64), 0, s, out, n);
  return hipGetLastError();
}

}  // namespace hipk
}  // namespace hs
