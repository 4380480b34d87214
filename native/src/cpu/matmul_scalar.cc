// Portable matmul kernels: correct everywhere, the fallback where no SIMD
// path applies. Same arithmetic as the SIMD paths (Q8_0 quantizes the
// activations to int8 blocks and sums integer products per block).
#include <cmath>
#include <cstring>

#include "cpu/internal.h"

namespace hs {
namespace cpu {
namespace {

void quantize_row_q8_scalar(const float* x, int64_t K, int8_t* qs, float* d) {
  for (int64_t b = 0; b < K / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    float amax = 0.0f;
    for (int i = 0; i < kQ8Block; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    // llama.cpp's activation blocks: the scale is stored as f16 and the
    // values are scaled by 127/amax (see internal.h, QuantX).
    d[b] = f16_to_f32(f32_to_f16(amax / 127.0f));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < kQ8Block; ++i) {
      qs[b * kQ8Block + i] = static_cast<int8_t>(std::nearbyint(xb[i] * id));
    }
  }
}

// Float weights: dequantize a K chunk of one weight row into scratch, then
// dot it with every activation row.
void matmul_float_rows(const MatmulJob& j, int64_t n0, int64_t n1, float* scratch, DType t) {
  const int64_t K = j.K;
  const size_t esize = t == DType::F32 ? 4 : 2;
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* row = j.w + n * j.row_bytes;
    for (int64_t m = 0; m < j.M; ++m) j.y[m * j.N + n] = 0.0f;
    for (int64_t k0 = 0; k0 < K; k0 += kMatmulKc) {
      const int64_t kc = std::min<int64_t>(kMatmulKc, K - k0);
      dequantize_row(t, row + k0 * esize, kc, scratch);
      for (int64_t m = 0; m < j.M; ++m) {
        const float* xr = j.x + m * K + k0;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t k = 0;
        for (; k + 8 <= kc; k += 8) {
          for (int l = 0; l < 8; ++l) acc[l] += xr[k + l] * scratch[k + l];
        }
        float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; k < kc; ++k) s += xr[k] * scratch[k];
        j.y[m * j.N + n] += s;
      }
    }
  }
}

void mm_f32(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { matmul_float_rows(j, n0, n1, s, DType::F32); }
void mm_f16(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { matmul_float_rows(j, n0, n1, s, DType::F16); }
void mm_bf16(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { matmul_float_rows(j, n0, n1, s, DType::BF16); }

void mm_q8(const MatmulJob& j, int64_t n0, int64_t n1, float*) {
  const int64_t nb = j.K / kQ8Block;
  for (int64_t n = n0; n < n1; ++n) {
    const auto* wb = reinterpret_cast<const BlockQ8_0*>(j.w + n * j.row_bytes);
    for (int64_t m = 0; m < j.M; ++m) {
      const int8_t* xq = j.xq.qs + m * j.K;
      const float* xd = j.xq.d + m * nb;
      float s = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t acc = 0;
        for (int i = 0; i < kQ8Block; ++i) acc += static_cast<int32_t>(wb[b].qs[i]) * xq[b * kQ8Block + i];
        s += static_cast<float>(acc) * (f16_to_f32(wb[b].d) * xd[b]);
      }
      j.y[m * j.N + n] = s;
    }
  }
}

float dot_scalar(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  }
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void scale_axpy_scalar(float* y, float a, float b, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] * a + b * x[i];
}

}  // namespace

// The packed Q8_0 layout (kernels.h, pack_q8x16) at any level: the integer
// block sums of every other path, then per (x row, W row) the same
// single-rounded dw * dx and the same fused multiply-add, block by block in
// order, as the AVX-512 kernel's lanes: the two give the same bits.
namespace {
void mm_q8x16_scalar(const MatmulJob& j, int64_t n0, int64_t n1, float*) {
  const int64_t nb = j.K / kQ8Block;
  for (int64_t g = n0 / kPackRows; g < n1 / kPackRows; ++g) {
    const uint8_t* grp = j.w + g * nb * kQ8x16BlockBytes;
    for (int64_t m = 0; m < j.M; ++m) {
      const int8_t* xq = j.xq.qs + m * j.K;
      const float* xd = j.xq.d + m * nb;
      for (int64_t r = 0; r < kPackRows; ++r) {
        float acc = 0.0f;
        for (int64_t b = 0; b < nb; ++b) {
          // Invariant: block b of group g lies inside the packed matrix (n1 <= N).
          const uint8_t* blk = grp + b * kQ8x16BlockBytes;
          uint16_t dw;
          std::memcpy(&dw, blk + 2 * r, sizeof(dw));
          int32_t isum = 0;
          for (int64_t c = 0; c < kQ8Block / 4; ++c) {
            for (int64_t e = 0; e < 4; ++e) {
              const auto w = static_cast<int8_t>(blk[32 + 64 * c + 4 * r + e] ^ 0x80u);
              isum += static_cast<int32_t>(w) * xq[b * kQ8Block + 4 * c + e];
            }
          }
          acc = std::fma(static_cast<float>(isum), f16_to_f32(dw) * xd[b], acc);
        }
        j.y[m * j.N + g * kPackRows + r] = acc;
      }
    }
  }
}

// F16 / BF16 over the packed layout: four partial sums per (x row, W row),
// column k into sum k % 4 by a fused multiply-add, then (s0 + s1) + (s2 +
// s3), exactly the AVX-512 kernel's lanes.
template <DType T>
void mm_x16_scalar(const MatmulJob& j, int64_t n0, int64_t n1, float*) {
  const int64_t K = j.K;
  for (int64_t g = n0 / kPackRows; g < n1 / kPackRows; ++g) {
    const uint8_t* grp = j.w + g * K * kPackRows * 2;
    for (int64_t m = 0; m < j.M; ++m) {
      const float* x = j.x + m * K;
      for (int64_t r = 0; r < kPackRows; ++r) {
        float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int64_t k = 0; k < K; ++k) {
          uint16_t h;
          // Invariant: column k < K of group g lies inside the packed matrix.
          std::memcpy(&h, grp + (k * kPackRows + r) * 2, sizeof(h));
          const float w = T == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
          a[k & 3] = std::fma(x[k], w, a[k & 3]);
        }
        j.y[m * j.N + g * kPackRows + r] = (a[0] + a[1]) + (a[2] + a[3]);
      }
    }
  }
}
}  // namespace

const MatmulRangeFn kPortablePacked[4] = {nullptr, mm_x16_scalar<DType::F16>, mm_x16_scalar<DType::BF16>, mm_q8x16_scalar};

const IsaKernels kScalarKernels = {
    "scalar", {mm_f32, mm_f16, mm_bf16, mm_q8}, quantize_row_q8_scalar, dot_scalar, scale_axpy_scalar,
    silu_mul_scalar, attend_scalar, attend_f16_scalar, to_f16_scalar, attend_tile_scalar,
    attend_f16_tile_scalar, {nullptr, nullptr, nullptr, nullptr},
};

}  // namespace cpu
}  // namespace hs
