// Prefill GEMM without rocBLAS: y[M][N] = x[M][K] . W^T, W [N][K] in its file
// layout (any of f32/f16/bf16/Q8_0, dequantized as tiles are loaded). Used by
// the HIP backend where rocBLAS is absent (Debian's ROCm has none); with
// rocBLAS present, native/hip/gemm.h calls rocblas_gemm_ex instead.
//
//   block (16 x 16 threads) computes a 16 x 16 tile of y:
//     for k0 in steps of 16:  xs[16][16] <- x[m0.., k0..]
//                             ws[16][16] <- W[n0.., k0..] (dequantized)
//                             acc += xs[ty][:] . ws[tx][:]
#include "launchers.h"
#include "weights.h"

namespace hs {
namespace hipk {

constexpr int kGemmTile = 16;

__global__ void gemm_tiled_kernel(dptr<const float> x, int64_t M, int64_t K, int32_t dtype,
                                  dptr<const uint8_t> w, int64_t N, dptr<float> y) {
  __shared__ float xs[kGemmTile][kGemmTile + 1];  // +1: no bank conflicts on the column reads
  __shared__ float ws[kGemmTile][kGemmTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t m = static_cast<int64_t>(blockIdx.y) * kGemmTile + ty;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kGemmTile + tx;
  const int64_t wn = static_cast<int64_t>(blockIdx.x) * kGemmTile + ty;  // W row this thread loads
  const int64_t rb = weight_row_bytes(dtype, K);
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < K; k0 += kGemmTile) {
    const int64_t k = k0 + tx;
    xs[ty][tx] = (m < M && k < K) ? x[m * K + k] : 0.0f;
    ws[ty][tx] = (wn < N && k < K) ? load_weight(dtype, w + wn * rb, k) : 0.0f;
    __syncthreads();
    for (int i = 0; i < kGemmTile; ++i) acc += xs[ty][i] * ws[tx][i];
    __syncthreads();
  }
  if (m < M && n < N) y[m * N + n] = acc;
}

hipError_t launch_gemm_tiled(hipStream_t s, const float* x, int64_t M, int64_t K, int32_t dtype,
                             const void* w, int64_t N, float* y) {
  if (M == 0 || N == 0) return hipSuccess;
  const dim3 grid(static_cast<uint32_t>((N + kGemmTile - 1) / kGemmTile),
                  static_cast<uint32_t>((M + kGemmTile - 1) / kGemmTile));
  hipLaunchKernelGGL(gemm_tiled_kernel, grid, dim3(kGemmTile, kGemmTile), 0, s, x, M, K, dtype,
                     static_cast<const uint8_t*>(w), N, y);
  return hipGetLastError();
}

// x (f32) -> 16-bit floats (f16 or bf16, round to nearest even): the
// activations rocblas_gemm_ex needs when the weights are 16-bit (A and B of
// one type).
__global__ void to_half_kernel(int32_t dtype, dptr<const float> x, int64_t n, dptr<uint16_t> out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = dtype == kBF16 ? hs_f32_to_bf16(x[i]) : hs_f32_to_f16(x[i]);
}

hipError_t launch_to_half(hipStream_t s, int32_t dtype, const float* x, int64_t n, uint16_t* out) {
  if (n == 0) return hipSuccess;
  int64_t blocks = (n + 255) / 256;
  if (blocks > 1024) blocks = 1024;
  hipLaunchKernelGGL(to_half_kernel, dim3(static_cast<uint32_t>(blocks)), dim3(256), 0, s, dtype,
                     x, n, out);
  return hipGetLastError();
}

}  // namespace hipk
}  // namespace hs
