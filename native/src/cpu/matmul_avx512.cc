// AVX-512 (F/BW/VL/DQ/VNNI) kernels: the structure of matmul_avx2.cc with
// 16-lane float vectors, and Q8_0 block dots through VNNI (vpdpbusd on
// 256-bit vectors: the same exact integers as the AVX2 path).
//
// No static data with dynamic initialization here: this file is compiled
// with AVX-512 flags and must run nothing before the CPU check.
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own
// _mm512_undefined_* idiom (a false positive; CI builds with -Werror).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstring>

#include "cpu/internal.h"

namespace hs {
namespace cpu {
namespace {

constexpr int64_t kW = 16;  // float lanes

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

inline float hsum(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                                 _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

struct LoadF32 {
  static constexpr size_t kSize = 4;
  static __m512 load(const uint8_t* p) { return _mm512_loadu_ps(reinterpret_cast<const float*>(p)); }
  static float one(const uint8_t* p) { return reinterpret_cast<const float*>(p)[0]; }
};
struct LoadF16 {
  static constexpr size_t kSize = 2;
  static __m512 load(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static float one(const uint8_t* p) { return _cvtsh_ss(*reinterpret_cast<const uint16_t*>(p)); }
};
struct LoadBF16 {
  static constexpr size_t kSize = 2;
  static __m512 load(const uint8_t* p) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
  static float one(const uint8_t* p) { return bf16_to_f32(*reinterpret_cast<const uint16_t*>(p)); }
};

inline void accumulate(float* y, bool first, float s) { *y = first ? s : *y + s; }

// Decode (M == 1): NR rows of W converted in registers.
template <class L, int NR>
void direct(const MatmulJob& j, int64_t m, int64_t n) {
  const int64_t K = j.K;
  const uint8_t* w[NR];
  for (int r = 0; r < NR; ++r) w[r] = j.w + (n + r) * j.row_bytes;
  const float* xr = j.x + m * K;
  const uint8_t* next = next_group(j, n, NR);
  for (int64_t k0 = 0; k0 < K; k0 += kMatmulKc) {
    const int64_t kc = imin(kMatmulKc, K - k0);
    const int64_t kv = kc & ~(kW - 1);
    __m512 acc[NR];
    for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t k = k0; k < k0 + kv; k += kW) {
      // Invariant: next + [0, NR * row_bytes) lies in the matrix (next_group).
      if (next != nullptr) prefetch_span(next + k * NR * static_cast<int64_t>(L::kSize), kW * NR * L::kSize);
      const __m512 xv = _mm512_loadu_ps(xr + k);
      for (int r = 0; r < NR; ++r) acc[r] = _mm512_fmadd_ps(xv, L::load(w[r] + k * L::kSize), acc[r]);
    }
    for (int r = 0; r < NR; ++r) {
      float s = hsum(acc[r]);
      for (int64_t k = k0 + kv; k < k0 + kc; ++k) s += xr[k] * L::one(w[r] + k * L::kSize);
      accumulate(j.y + m * j.N + n + r, k0 == 0, s);
    }
  }
}

// Batched: 4 rows of W over one K chunk, converted in registers, applied to
// rows [m0, m1) of x two at a time.
template <class L>
void panel4(const MatmulJob& j, int64_t n, int64_t m0, int64_t m1, int64_t k0, float* panel) {
  const int64_t K = j.K;
  const uint8_t* w[4];
  for (int r = 0; r < 4; ++r) w[r] = j.w + (n + r) * j.row_bytes;
  const int64_t kc = imin(kMatmulKc, K - k0);
  const int64_t kv = kc & ~(kW - 1);
  (void)panel;
  int64_t m = m0;
  for (; m + 2 <= m1; m += 2) {
    const float* x0 = j.x + m * K + k0;
    const float* x1 = x0 + K;
    __m512 a0[4], a1[4];
    for (int r = 0; r < 4; ++r) a0[r] = a1[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kv; k += kW) {
      const __m512 xv0 = _mm512_loadu_ps(x0 + k);
      const __m512 xv1 = _mm512_loadu_ps(x1 + k);
      for (int r = 0; r < 4; ++r) {
        const __m512 wv = L::load(w[r] + (k0 + k) * L::kSize);
        a0[r] = _mm512_fmadd_ps(xv0, wv, a0[r]);
        a1[r] = _mm512_fmadd_ps(xv1, wv, a1[r]);
      }
    }
    for (int r = 0; r < 4; ++r) {
      float s0 = hsum(a0[r]), s1 = hsum(a1[r]);
      for (int64_t k = kv; k < kc; ++k) {
        const float wk = L::one(w[r] + (k0 + k) * L::kSize);
        s0 += x0[k] * wk;
        s1 += x1[k] * wk;
      }
      accumulate(j.y + m * j.N + n + r, k0 == 0, s0);
      accumulate(j.y + (m + 1) * j.N + n + r, k0 == 0, s1);
    }
  }
  for (; m < m1; ++m) {
    const float* x0 = j.x + m * K + k0;
    __m512 a0[4];
    for (int r = 0; r < 4; ++r) a0[r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kv; k += kW) {
      const __m512 xv0 = _mm512_loadu_ps(x0 + k);
      for (int r = 0; r < 4; ++r) a0[r] = _mm512_fmadd_ps(xv0, L::load(w[r] + (k0 + k) * L::kSize), a0[r]);
    }
    for (int r = 0; r < 4; ++r) {
      float s0 = hsum(a0[r]);
      for (int64_t k = kv; k < kc; ++k) s0 += x0[k] * L::one(w[r] + (k0 + k) * L::kSize);
      accumulate(j.y + m * j.N + n + r, k0 == 0, s0);
    }
  }
}

template <class L>
void matmul_float(const MatmulJob& j, int64_t n0, int64_t n1, float* scratch) {
  if (j.M >= 2) {
    // x tiles of at most ~256 KiB stay in L2 while the range's rows stream by
    // once per tile, each group of 4 rows read sequentially (its 512-wide
    // chunk stays in L1 across the tile's row pairs).
    const int64_t mt = imax(2, imin(32, (int64_t{256} << 10) / (j.K * 4)) & ~int64_t{1});
    const int64_t n4 = n0 + ((n1 - n0) & ~int64_t{3});
    for (int64_t m0 = 0; m0 < j.M; m0 += mt) {
      const int64_t m1 = imin(j.M, m0 + mt);
      for (int64_t n = n0; n < n4; n += 4) {
        for (int64_t k0 = 0; k0 < j.K; k0 += kMatmulKc) panel4<L>(j, n, m0, m1, k0, scratch);
      }
    }
    for (int64_t n = n4; n < n1; ++n)
      for (int64_t m = 0; m < j.M; ++m) direct<L, 1>(j, m, n);
    return;
  }
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) direct<L, 4>(j, 0, n);
  for (; n < n1; ++n) direct<L, 1>(j, 0, n);
}

void mm_f32(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { matmul_float<LoadF32>(j, n0, n1, s); }
void mm_f16(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { matmul_float<LoadF16>(j, n0, n1, s); }
void mm_bf16(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { matmul_float<LoadBF16>(j, n0, n1, s); }

// ---- Q8_0: two blocks per 512-bit vector, summed in int32 by vpdpbusd ----
//
// Lanes 0-7 of a vector hold block b, lanes 8-15 block b+1. vpdpbusd wants
// one unsigned operand: with several x rows, x + 128 (x ^ 0x80, once per x
// block) and (x + 128).w - 128.w = x.w, the correction shared by the rows;
// with one, |x| and x's sign moved onto w. Either way the same integers as
// the AVX2 and scalar paths, lane by lane. The 8 weight scales of 8 blocks come in one
// convert per row, their products with x's scales in one multiply
// (each the same single-rounded dw * dx as elsewhere), and a pair's scale
// vector is one permute: per pair of blocks and (x row, W row) the work is a
// vpdpbusd, a convert, a permute and an FMA.
// MR rows of x (1, 2 or 4) by NR rows of W; per (m, n) the arithmetic is the
// same for any MR, so a row's result does not depend on the batch.
template <int MR, int NR>
void q8_tile(const MatmulJob& j, int64_t m, int64_t n) {
  const int64_t nb = j.K / kQ8Block;
  constexpr int64_t kB = static_cast<int64_t>(sizeof(BlockQ8_0));
  const uint8_t* w0 = j.w + n * j.row_bytes;
  const int8_t* xq[MR];
  const float* xd[MR];
  for (int i = 0; i < MR; ++i) {
    xq[i] = j.xq.qs + (m + i) * j.K;
    xd[i] = j.xq.d + (m + i) * nb;
  }
  __m512 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int r = 0; r < NR; ++r) acc[i][r] = _mm512_setzero_ps();
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i zero = _mm512_setzero_si512();
  // Lanes 0-7 -> the pair's first block, 8-15 -> its second.
  const __m512i pair_base = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const uint8_t* next = next_group(j, n, NR);
  for (int64_t b8 = 0; b8 < nb; b8 += 8) {
    const int cnt = static_cast<int>(imin(8, nb - b8));
    const __mmask8 lm = static_cast<__mmask8>((1u << cnt) - 1);
    // Invariant: next + [0, NR * row_bytes) lies in the matrix (next_group).
    if (next != nullptr) prefetch_span(next + b8 * NR * kB, cnt * NR * kB);
    __m256 sc[MR][NR];
    for (int r = 0; r < NR; ++r) {
      // Invariant: c < cnt reads the scale of block b8 + c < nb of row n + r,
      // inside the matrix (scalar loads: a gather measured slower).
      const uint8_t* base = w0 + r * j.row_bytes + b8 * kB;
      uint16_t h[8];
      for (int c = 0; c < 8; ++c) {
        h[c] = 0;
        if (c < cnt) std::memcpy(&h[c], base + c * kB, sizeof(uint16_t));
      }
      const __m256 dw = _mm256_cvtph_ps(_mm_setr_epi16(static_cast<short>(h[0]), static_cast<short>(h[1]), static_cast<short>(h[2]), static_cast<short>(h[3]), static_cast<short>(h[4]), static_cast<short>(h[5]), static_cast<short>(h[6]), static_cast<short>(h[7])));
      for (int i = 0; i < MR; ++i) sc[i][r] = _mm256_mul_ps(dw, _mm256_maskz_loadu_ps(lm, xd[i] + b8));
    }
    for (int p = 0; 2 * p < cnt; ++p) {
      const int64_t b = b8 + 2 * p;
      const bool two = 2 * p + 1 < cnt;
      const __m512i idx = _mm512_add_epi32(pair_base, _mm512_set1_epi32(2 * p));
      // A lone last block: its upper half is zero in w (so every product is 0).
      const __mmask64 xm = two ? ~__mmask64{0} : __mmask64{0xffffffffu};
      __m512i xu[MR];
      __mmask64 xneg = 0;
      for (int i = 0; i < MR; ++i) {
        const __m512i xv = _mm512_maskz_loadu_epi8(xm, xq[i] + b * kQ8Block);
        if (MR == 1) {
          xu[i] = _mm512_abs_epi8(xv);
          xneg = _mm512_movepi8_mask(xv);
        } else {
          xu[i] = _mm512_xor_si512(xv, k80);
        }
      }
      for (int r = 0; r < NR; ++r) {
        const uint8_t* qs = w0 + r * j.row_bytes + b * kB + offsetof(BlockQ8_0, qs);
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
        const __m512i wq = two ? _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                                                    _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + kB)), 1)
                               : _mm512_zextsi256_si512(lo);
        if (MR == 1) {
          // One x row: |x| and x's sign moved onto w (one masked negate)
          // costs less than the offset's correction term.
          const __m512i d = _mm512_dpbusd_epi32(zero, xu[0], _mm512_mask_sub_epi8(wq, xneg, zero, wq));
          const __m512 s = _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(sc[0][r]));
          acc[0][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), s, acc[0][r]);
          continue;
        }
        const __m512i neg128w = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, k80, wq));
        for (int i = 0; i < MR; ++i) {
          const __m512i d = _mm512_dpbusd_epi32(neg128w, xu[i], wq);
          const __m512 s = _mm512_permutexvar_ps(idx, _mm512_castps256_ps512(sc[i][r]));
          acc[i][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), s, acc[i][r]);
        }
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int r = 0; r < NR; ++r) j.y[(m + i) * j.N + n + r] = hsum(acc[i][r]);
}

template <int NR>
void q8_rows(const MatmulJob& j, int64_t m0, int64_t m1, int64_t n) {
  int64_t m = m0;
  for (; m + 4 <= m1; m += 4) q8_tile<4, NR>(j, m, n);
  for (; m + 2 <= m1; m += 2) q8_tile<2, NR>(j, m, n);
  for (; m < m1; ++m) q8_tile<1, NR>(j, m, n);
}

void mm_q8(const MatmulJob& j, int64_t n0, int64_t n1, float*) {
  constexpr int64_t kMTile = 64;
  for (int64_t m0 = 0; m0 < j.M; m0 += kMTile) {
    const int64_t m1 = imin(j.M, m0 + kMTile);
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) q8_rows<4>(j, m0, m1, n);
    for (; n < n1; ++n) q8_rows<1>(j, m0, m1, n);
  }
}

void quantize_row_q8(const float* x, int64_t K, int8_t* qs, float* d) {
  for (int64_t b = 0; b < K / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    d[b] = _cvtsh_ss(_cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT));  // f16 scale, as llama.cpp
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m512 idv = _mm512_set1_ps(id);
    // round to nearest even, then narrow with saturation (|q| <= 127 anyway)
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(v0, idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(v1, idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + b * kQ8Block), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + b * kQ8Block + 16), _mm512_cvtsepi32_epi8(q1));
  }
}

float dot(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  float s = hsum(_mm512_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void scale_axpy(float* y, float a, float b, const float* x, int64_t n) {
  const __m512 av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(bv, _mm512_loadu_ps(x + i), _mm512_mul_ps(av, _mm512_loadu_ps(y + i))));
  }
  for (; i < n; ++i) y[i] = y[i] * a + b * x[i];
}

}  // namespace

const IsaKernels kAvx512Kernels = {
    "avx512", {mm_f32, mm_f16, mm_bf16, mm_q8}, quantize_row_q8, dot, scale_axpy, silu_mul_avx2,
    attend_avx512, attend_f16_avx512, to_f16_avx2, attend_tile_avx512, attend_f16_tile_avx512,
    {nullptr, mm_f16x16_avx512, mm_bf16x16_avx512, mm_q8x16_avx512},
};

}  // namespace cpu
}  // namespace hs
