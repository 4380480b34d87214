// Element-wise kernels: embedding gather, SiLU*mul, adds, KV-cache writes.
// All memory bound; grid-stride loops, so any grid size covers any n.
#include "launchers.h"
#include "weights.h"

namespace hs {
namespace hipk {

namespace {
constexpr int kThreads = 256;

dim3 grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 1024) blocks = 1024;  // the grid-stride loop covers the rest
  return dim3(static_cast<uint32_t>(blocks < 1 ? 1 : blocks));
}
}  // namespace

// One thread block per token: the row is dequantized by the block's threads.
__global__ void embed_kernel(int32_t dtype, dptr<const uint8_t> table, int64_t cols,
                             dptr<const int32_t> ids, dptr<float> out) {
  const int64_t t = blockIdx.x;
  dptr<const uint8_t> row = table + static_cast<int64_t>(ids[t]) * weight_row_bytes(dtype, cols);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) out[t * cols + c] = load_weight(dtype, row, c);
}

__global__ void silu_mul_kernel(dptr<const float> gate, dptr<const float> up, dptr<float> out,
                                int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void add_kernel(dptr<float> y, dptr<const float> x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] += x[i];
}

__global__ void add_bias_kernel(dptr<float> x, dptr<const float> bias, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    x[i] += bias[i % cols];
}

// One thread block per token; threads over the token's n_kv * D values.
//   slot = block * block_size + offset
//   cache[block][kv_head][offset][d]
__global__ void kv_write_kernel(dptr<const float> k, dptr<const float> v, dptr<const int32_t> slots,
                                int32_t n_kv, int32_t D, int32_t block_size, dptr<float> kc,
                                dptr<float> vc) {
  const int64_t t = blockIdx.x;
  const int64_t slot = slots[t];
  if (slot < 0) return;  // padding token: nothing to store
  const int64_t blk = slot / block_size, off = slot % block_size;
  const int64_t per_tok = static_cast<int64_t>(n_kv) * D;
  for (int64_t i = threadIdx.x; i < per_tok; i += blockDim.x) {
    const int64_t h = i / D, d = i % D;
    const int64_t dst = ((blk * n_kv + h) * block_size + off) * D + d;
    kc[dst] = k[t * per_tok + i];
    vc[dst] = v[t * per_tok + i];
  }
}

hipError_t launch_embed(hipStream_t s, int32_t dtype, const void* table, int64_t cols,
                        const int32_t* ids, int64_t T, float* out) {
  if (T == 0) return hipSuccess;
  hipLaunchKernelGGL(embed_kernel, dim3(static_cast<uint32_t>(T)), dim3(kThreads), 0, s, dtype,
                     static_cast<const uint8_t*>(table), cols, ids, out);
  return hipGetLastError();
}

hipError_t launch_silu_mul(hipStream_t s, const float* gate, const float* up, float* out, int64_t n) {
  if (n == 0) return hipSuccess;
  hipLaunchKernelGGL(silu_mul_kernel, grid_for(n), dim3(kThreads), 0, s, gate, up, out, n);
  return hipGetLastError();
}

hipError_t launch_add(hipStream_t s, float* y, const float* x, int64_t n) {
  if (n == 0) return hipSuccess;
  hipLaunchKernelGGL(add_kernel, grid_for(n), dim3(kThreads), 0, s, y, x, n);
  return hipGetLastError();
}

hipError_t launch_add_bias(hipStream_t s, float* x, const float* bias, int64_t rows, int64_t cols) {
  if (rows * cols == 0) return hipSuccess;
  hipLaunchKernelGGL(add_bias_kernel, grid_for(rows * cols), dim3(kThreads), 0, s, x, bias, rows,
                     cols);
  return hipGetLastError();
}

hipError_t launch_kv_write(hipStream_t s, const float* k, const float* v, const int32_t* slots,
                           int64_t T, int32_t n_kv, int32_t head_dim, int32_t block_size,
                           float* k_cache, float* v_cache) {
  if (T == 0) return hipSuccess;
  hipLaunchKernelGGL(kv_write_kernel, dim3(static_cast<uint32_t>(T)), dim3(kThreads), 0, s, k, v,
                     slots, n_kv, head_dim, block_size, k_cache, v_cache);
  return hipGetLastError();
}

}  // namespace hipk
}  // namespace hs
