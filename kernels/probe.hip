// Small kernels the tests use to check the execution model itself (on the
// emulator, and compiled for AMD like every other kernel):
//   iota          out[i] = i for i < n: a test plants n > size(out)
//   wave_probe    per thread: warpSize, lane, __shfl_xor, __shfl_down,
//                 __ballot (low and high 32 bits), block_sum, shared exchange
//   shared_oob    writes one element past the dynamic shared memory
//   bad_barrier   odd threads wait at __syncthreads, even ones at a shuffle
#include "hs_reduce.h"
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

constexpr int kProbeFields = 8;

__global__ void wave_probe_kernel(dptr<int32_t> out) {
  HS_DYNAMIC_SHARED(int32_t, exch);  // blockDim.x ints
  const int tid = threadIdx.x;
  const int lane = tid % warpSize;
  const unsigned long long ballot = __ballot(tid % 3 == 0);
  dptr<int32_t> o = out + (static_cast<int64_t>(blockIdx.x) * blockDim.x + tid) * kProbeFields;
  o[0] = warpSize;
  o[1] = lane;
  o[2] = __shfl_xor(tid, 1);
  o[3] = __shfl_down(tid, 3);
  o[4] = static_cast<int32_t>(static_cast<uint32_t>(ballot));
  o[5] = static_cast<int32_t>(static_cast<uint32_t>(ballot >> 32));
  o[6] = static_cast<int32_t>(block_sum(static_cast<float>(tid)));
  exch[tid] = tid * 10;
  __syncthreads();
  o[7] = exch[(tid + 1) % static_cast<int>(blockDim.x)];  // a neighbour's write
}

__global__ void shared_oob_kernel(dptr<int32_t> out) {
  HS_DYNAMIC_SHARED(int32_t, buf);  // blockDim.x ints
  buf[threadIdx.x + 1] = 1;         // the last thread writes one past the end
  __syncthreads();
  out[threadIdx.x] = buf[threadIdx.x];
}

__global__ void bad_barrier_kernel(dptr<int32_t> out) {
  int v = threadIdx.x;
  if (threadIdx.x % 2) {
    __syncthreads();
  } else {
    v = __shfl_xor(v, 2);
  }
  out[threadIdx.x] = v;
}

// kind: 0 wave_probe (out: blocks * threads * kProbeFields), 1 shared_oob,
// 2 bad_barrier (out: threads)
hipError_t launch_probe(hipStream_t s, int32_t kind, int32_t blocks, int32_t threads, int32_t* out) {
  const size_t shared = static_cast<size_t>(threads) * sizeof(int32_t);
  if (kind == 0) {
    hipLaunchKernelGGL(wave_probe_kernel, dim3(blocks), dim3(threads), shared, s, out);
  } else if (kind == 1) {
    hipLaunchKernelGGL(shared_oob_kernel, dim3(1), dim3(threads), shared, s, out);
  } else {
    hipLaunchKernelGGL(bad_barrier_kernel, dim3(1), dim3(threads), 0, s, out);
  }
  return hipGetLastError();
}

}  // namespace hipk
}  // namespace hs
