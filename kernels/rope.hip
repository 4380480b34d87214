// Rotary position embedding, in place, one thread per rotated pair:
//
//   Neox (HF):          pairs (i, i + rd/2)      x = [a0 a1 .. | b0 b1 ..]
//   Interleaved (GGUF): pairs (2i, 2i + 1)       x = [a0 b0 a1 b1 ..]
//
// Frequencies and angles in double, as the CPU backend computes them: a
// float angle at position 8000 is already off by ~1e-3 rad.
#include "launchers.h"

namespace hs {
namespace hipk {

HS_DEVICE double rope_freq(const RopeArgs& a, int32_t rd, int32_t i) {
  double f = 1.0 / pow(static_cast<double>(a.theta), static_cast<double>(2 * i) / rd);
  if (a.llama3_factor > 0.0f) {  // Llama 3 rope_scaling, as HF computes it
    const double old_len = a.llama3_original_max_pos;
    const double low_wavelen = old_len / a.llama3_low;
    const double high_wavelen = old_len / a.llama3_high;
    const double wavelen = 6.283185307179586 / f;
    if (wavelen > low_wavelen) {
      f = f / a.llama3_factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (old_len / wavelen - a.llama3_low) / (a.llama3_high - a.llama3_low);
      f = (1.0 - smooth) * f / a.llama3_factor + smooth * f;
    }
  }
  return f;
}

__global__ void rope_kernel(dptr<float> x, dptr<const int32_t> positions, int64_t T,
                            int32_t n_heads, int32_t head_dim, RopeArgs a) {
  const int32_t rd = (a.rotary_dim > 0 && a.rotary_dim <= head_dim) ? a.rotary_dim : head_dim;
  const int32_t half = rd / 2;
  const int64_t n = T * n_heads * half;
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < n;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t i = static_cast<int32_t>(g % half);
    const int64_t th = g / half;  // token * n_heads + head
    const int64_t t = th / n_heads;
    const double ang = static_cast<double>(positions[t]) * rope_freq(a, rd, i);
    const float c = static_cast<float>(cos(ang)), sn = static_cast<float>(sin(ang));
    dptr<float> v = x + th * head_dim;
    const int32_t ia = a.style == 0 ? i : 2 * i;
    const int32_t ib = a.style == 0 ? i + half : 2 * i + 1;
    const float va = v[ia], vb = v[ib];
    v[ia] = va * c - vb * sn;
    v[ib] = vb * c + va * sn;
  }
}

hipError_t launch_rope(hipStream_t s, float* x, const int32_t* positions, int64_t T,
                       int32_t n_heads, int32_t head_dim, const RopeArgs& a) {
  const int64_t pairs = T * n_heads * (head_dim / 2);
  if (pairs == 0) return hipSuccess;
  int64_t blocks = (pairs + 255) / 256;
  if (blocks > 1024) blocks = 1024;
  hipLaunchKernelGGL(rope_kernel, dim3(static_cast<uint32_t>(blocks)), dim3(256), 0, s, x,
                     positions, T, n_heads, head_dim, a);
  return hipGetLastError();
}

}  // namespace hipk
}  // namespace hs
