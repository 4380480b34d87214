// GEMV for decode: y[M][N] = x[M][K] . W^T with W [N][K] in its file layout
// (f32, f16, bf16, Q8_0), M small (the decode batch).
//
//   grid (N, ceil(M / kRowsPerBlock)), one thread block per output feature n
//   threads stride over K (Q8_0: over 32-value blocks, one scale read each)
//   and keep kRowsPerBlock partial sums, reduced across the block at the end
//
// Each weight row is read from memory once per kRowsPerBlock rows of x: the
// kernel is bound by weight bandwidth (bench/ROOFLINE.md).
#include "hs_reduce.h"
#include "launchers.h"
#include "weights.h"

namespace hs {
namespace hipk {

constexpr int kGemvRows = 4;
constexpr int kGemvThreads = 256;

__global__ void gemv_kernel(int32_t dtype, dptr<const uint8_t> w, int64_t K, dptr<const float> x,
                            int64_t M, dptr<float> y, int64_t N) {
  const int64_t n = blockIdx.x;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kGemvRows;
  const int rows = static_cast<int>(M - m0 < kGemvRows ? M - m0 : kGemvRows);
  dptr<const uint8_t> wr = w + n * weight_row_bytes(dtype, K);
  float acc[kGemvRows] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (dtype == kQ8_0) {
    for (int64_t b = threadIdx.x; b < K / 32; b += blockDim.x) {
      dptr<const uint8_t> blk = wr + b * 34;
      const float d = q8_scale(blk);
      for (int r = 0; r < rows; ++r) {
        dptr<const float> xr = x + (m0 + r) * K + b * 32;
        float s = 0.0f;
        for (int i = 0; i < 32; ++i) s += static_cast<float>(static_cast<int8_t>(blk[2 + i])) * xr[i];
        acc[r] += d * s;
      }
    }
  } else {
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const float wv = load_weight(dtype, wr, k);
      for (int r = 0; r < rows; ++r) acc[r] += wv * x[(m0 + r) * K + k];
    }
  }
  for (int r = 0; r < kGemvRows; ++r) {
    const float total = block_sum(acc[r]);  // every thread takes part, even past `rows`
    if (threadIdx.x == 0 && r < rows) y[(m0 + r) * N + n] = total;
  }
}

hipError_t launch_gemv(hipStream_t s, int32_t dtype, const void* w, int64_t N, int64_t K,
                       const float* x, int64_t M, float* y) {
  if (M == 0 || N == 0) return hipSuccess;
  const dim3 grid(static_cast<uint32_t>(N), static_cast<uint32_t>((M + kGemvRows - 1) / kGemvRows));
  hipLaunchKernelGGL(gemv_kernel, grid, dim3(kGemvThreads), 0, s, dtype,
                     static_cast<const uint8_t*>(w), K, x, M, y, N);
  return hipGetLastError();
}

}  // namespace hipk
}  // namespace hs
