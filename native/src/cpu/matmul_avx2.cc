// AVX2 + FMA + F16C matmul kernels.
//
// Float weights (f32/f16/bf16): K is walked in chunks of kMatmulKc. For each
// chunk and each (row m of x, row n of W) an 8-lane accumulator is summed,
// reduced, and added to y[m][n]. Weights are converted in registers (F16C /
// bf16 shifts run on other ports than the FMAs; converting once into a
// scratch panel measured slower). The decode kernel (M == 1) takes 4 rows of
// W at a time; the batched kernel 4 rows of W by 2 rows of x. Both walk the
// same sums in the same order, so a row's result does not depend on M.
//
// Q8_0: activations are quantized to int8 blocks (see matmul.cc); each block
// pair is an integer dot (sign trick + maddubs + madd), scaled by dw * dx.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>

#include "cpu/avx2_util.h"
#include "cpu/internal.h"

namespace hs {
namespace cpu {
namespace {

struct LoadF32 {
  static constexpr size_t kSize = 4;
  static __m256 load(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
  static float one(const uint8_t* p) { return reinterpret_cast<const float*>(p)[0]; }
};
struct LoadF16 {
  static constexpr size_t kSize = 2;
  static __m256 load(const uint8_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float one(const uint8_t* p) { return _cvtsh_ss(*reinterpret_cast<const uint16_t*>(p)); }
};
struct LoadBF16 {
  static constexpr size_t kSize = 2;
  static __m256 load(const uint8_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  static float one(const uint8_t* p) { return bf16_to_f32(*reinterpret_cast<const uint16_t*>(p)); }
};

// Adds one chunk's sum for (m, n) to y, the same way in both kernels.
inline void accumulate(float* y, bool first, float s) { *y = first ? s : *y + s; }

// Decode (M == 1): MR rows of x, NR rows of W, weights converted in registers.
template <class L, int MR, int NR>
void direct(const MatmulJob& j, int64_t m0, int64_t n) {
  const int64_t K = j.K;
  const uint8_t* w[NR];
  for (int r = 0; r < NR; ++r) w[r] = j.w + (n + r) * j.row_bytes;
  const uint8_t* next = next_group(j, n, NR);
  for (int64_t k0 = 0; k0 < K; k0 += kMatmulKc) {
    const int64_t kc = std::min<int64_t>(kMatmulKc, K - k0);
    const int64_t kv = kc & ~int64_t{7};
    __m256 acc[MR][NR];
    for (int m = 0; m < MR; ++m)
      for (int r = 0; r < NR; ++r) acc[m][r] = _mm256_setzero_ps();
    for (int64_t k = k0; k < k0 + kv; k += 8) {
      // Invariant: next + [0, NR * row_bytes) lies in the matrix (next_group).
      if (MR == 1 && next != nullptr) prefetch_span(next + k * NR * static_cast<int64_t>(L::kSize), 8 * NR * L::kSize);
      __m256 wv[NR];
      for (int r = 0; r < NR; ++r) wv[r] = L::load(w[r] + k * L::kSize);
      for (int m = 0; m < MR; ++m) {
        const __m256 xv = _mm256_loadu_ps(j.x + (m0 + m) * K + k);
        for (int r = 0; r < NR; ++r) acc[m][r] = _mm256_fmadd_ps(xv, wv[r], acc[m][r]);
      }
    }
    for (int m = 0; m < MR; ++m) {
      const float* xr = j.x + (m0 + m) * K;
      for (int r = 0; r < NR; ++r) {
        float s = hsum(acc[m][r]);
        for (int64_t k = k0 + kv; k < k0 + kc; ++k) s += xr[k] * L::one(w[r] + k * L::kSize);
        accumulate(j.y + (m0 + m) * j.N + n + r, k0 == 0, s);
      }
    }
  }
}

// Batched: 4 rows of W over one K chunk, applied to rows [m0, m1) of x two
// at a time (the 4 rows' chunk stays in L1 across the row pairs).
template <class L>
void panel4(const MatmulJob& j, int64_t n, int64_t m0, int64_t m1, int64_t k0, float* panel) {
  const int64_t K = j.K;
  const uint8_t* w[4];
  for (int r = 0; r < 4; ++r) w[r] = j.w + (n + r) * j.row_bytes;
  const int64_t kc = std::min<int64_t>(kMatmulKc, K - k0);
  const int64_t kv = kc & ~int64_t{7};
  (void)panel;
  const uint8_t* next = m0 == 0 ? next_group(j, n, 4) : nullptr;  // first x tile streams W from memory
  int64_t m = m0;
  for (; m + 2 <= m1; m += 2) {
    const float* x0 = j.x + m * K + k0;
    const float* x1 = x0 + K;
    __m256 a0[4], a1[4];
    for (int r = 0; r < 4; ++r) a0[r] = a1[r] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kv; k += 8) {
      // Invariant: next + [0, 4 * row_bytes) lies in the matrix (next_group).
      if (m == m0 && next != nullptr) prefetch_span(next + (k0 + k) * 4 * static_cast<int64_t>(L::kSize), 32 * L::kSize);
      const __m256 xv0 = _mm256_loadu_ps(x0 + k);
      const __m256 xv1 = _mm256_loadu_ps(x1 + k);
      for (int r = 0; r < 4; ++r) {
        const __m256 wv = L::load(w[r] + (k0 + k) * L::kSize);
        a0[r] = _mm256_fmadd_ps(xv0, wv, a0[r]);
        a1[r] = _mm256_fmadd_ps(xv1, wv, a1[r]);
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
    __m256 a0[4];
    for (int r = 0; r < 4; ++r) a0[r] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kv; k += 8) {
      const __m256 xv0 = _mm256_loadu_ps(x0 + k);
      for (int r = 0; r < 4; ++r) a0[r] = _mm256_fmadd_ps(xv0, L::load(w[r] + (k0 + k) * L::kSize), a0[r]);
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
    const int64_t mt = std::max<int64_t>(2, std::min<int64_t>(32, (int64_t{256} << 10) / (j.K * 4)) & ~int64_t{1});
    const int64_t n4 = n0 + ((n1 - n0) & ~int64_t{3});
    for (int64_t m0 = 0; m0 < j.M; m0 += mt) {
      const int64_t m1 = std::min(j.M, m0 + mt);
      for (int64_t n = n0; n < n4; n += 4) {
        for (int64_t k0 = 0; k0 < j.K; k0 += kMatmulKc) panel4<L>(j, n, m0, m1, k0, scratch);
      }
    }
    for (int64_t n = n4; n < n1; ++n)
      for (int64_t m = 0; m < j.M; ++m) direct<L, 1, 1>(j, m, n);
    return;
  }
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) direct<L, 1, 4>(j, 0, n);
  for (; n < n1; ++n) direct<L, 1, 1>(j, 0, n);
}

void mm_f32(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { matmul_float<LoadF32>(j, n0, n1, s); }
void mm_f16(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { matmul_float<LoadF16>(j, n0, n1, s); }
void mm_bf16(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { matmul_float<LoadBF16>(j, n0, n1, s); }

// ---- Q8_0 ----

// MR rows of x (1 or 2) by NR rows of W; |w| and the weight scale are shared
// by the MR rows. Per (m, n) the arithmetic is the same for any MR.
template <int MR, int NR>
void q8_tile(const MatmulJob& j, int64_t m, int64_t n) {
  const int64_t nb = j.K / kQ8Block;
  const BlockQ8_0* w[NR];
  for (int r = 0; r < NR; ++r) w[r] = reinterpret_cast<const BlockQ8_0*>(j.w + (n + r) * j.row_bytes);
  const int8_t* xq[MR];
  const float* xd[MR];
  for (int i = 0; i < MR; ++i) {
    xq[i] = j.xq.qs + (m + i) * j.K;
    xd[i] = j.xq.d + (m + i) * nb;
  }
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int r = 0; r < NR; ++r) acc[i][r] = _mm256_setzero_ps();
  const uint8_t* next = next_group(j, n, NR);
  for (int64_t b = 0; b < nb; ++b) {
    constexpr int64_t kGroupBlock = NR * static_cast<int64_t>(sizeof(BlockQ8_0));
    // Invariant: next + [0, NR * row_bytes) lies in the matrix (next_group).
    if (next != nullptr) prefetch_span(next + b * kGroupBlock, kGroupBlock);
    // maddubs wants one unsigned operand: |x| (activations are in [-127, 127]
    // by construction), with x's sign moved onto w: once per x block instead
    // of once per weight row. (A weight of -128, which no quantizer writes,
    // would keep its sign: a wrong product for a malformed file, no fault.)
    __m256i x[MR], ax[MR];
    for (int i = 0; i < MR; ++i) {
      x[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq[i] + b * kQ8Block));
      ax[i] = _mm256_sign_epi8(x[i], x[i]);
    }
    for (int r = 0; r < NR; ++r) {
      const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[r][b].qs));
      for (int i = 0; i < MR; ++i) {
        const __m256i p16 = _mm256_maddubs_epi16(ax[i], _mm256_sign_epi8(wq, x[i]));
        const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
        const __m256 scale = _mm256_set1_ps(_cvtsh_ss(w[r][b].d) * xd[i][b]);  // same product at any MR
        acc[i][r] = _mm256_fmadd_ps(p, scale, acc[i][r]);
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int r = 0; r < NR; ++r) j.y[(m + i) * j.N + n + r] = hsum(acc[i][r]);
}

// Batched Q8_0 (M >= 2): 2 rows of x by 4 rows of W. The 8 scale products
// of a block are made with two vector multiplies from the panel's weight
// scales (converted once per panel, `dw` = [nb][4]) and read back as
// broadcasts, instead of a convert, a multiply and a broadcast per product;
// each product is the same single-rounded dw * dx as in q8_tile.
void q8_tile_2x4(const MatmulJob& j, int64_t m, int64_t n, const float* dw) {
  const int64_t nb = j.K / kQ8Block;
  const BlockQ8_0* w0 = reinterpret_cast<const BlockQ8_0*>(j.w + n * j.row_bytes);
  const int8_t* xq0 = j.xq.qs + m * j.K;
  const int8_t* xq1 = xq0 + j.K;
  const float* xd0 = j.xq.d + m * nb;
  const float* xd1 = xd0 + nb;
  const size_t stride = j.row_bytes;
  const __m256i ones = _mm256_set1_epi16(1);
  // Eight named accumulators (not an array: GCC kept an array in memory).
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
  alignas(32) float sc[8];
  for (int64_t b = 0; b < nb; ++b) {
    const __m128 dwv = _mm_loadu_ps(dw + b * 4);
    _mm_store_ps(sc, _mm_mul_ps(dwv, _mm_set1_ps(xd0[b])));
    _mm_store_ps(sc + 4, _mm_mul_ps(dwv, _mm_set1_ps(xd1[b])));
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq0 + b * kQ8Block));
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq1 + b * kQ8Block));
    const uint8_t* wb = reinterpret_cast<const uint8_t*>(w0 + b) + offsetof(BlockQ8_0, qs);
    // The unsigned operand is |w| and w's sign moves onto x (same integers as q8_tile).
#define HS_Q8_PAIR(r, A0, A1)                                                                                   \
  {                                                                                                             \
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + (r) * stride));               \
    const __m256i aw = _mm256_sign_epi8(wq, wq);                                                                \
    const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(x0, wq)), ones);            \
    const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(x1, wq)), ones);            \
    A0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_broadcast_ss(sc + (r)), A0);                            \
    A1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_broadcast_ss(sc + 4 + (r)), A1);                        \
  }
    HS_Q8_PAIR(0, a00, a10)
    HS_Q8_PAIR(1, a01, a11)
    HS_Q8_PAIR(2, a02, a12)
    HS_Q8_PAIR(3, a03, a13)
#undef HS_Q8_PAIR
  }
  float* y0 = j.y + m * j.N + n;
  float* y1 = y0 + j.N;
  y0[0] = hsum(a00), y0[1] = hsum(a01), y0[2] = hsum(a02), y0[3] = hsum(a03);
  y1[0] = hsum(a10), y1[1] = hsum(a11), y1[2] = hsum(a12), y1[3] = hsum(a13);
}

template <int NR>
void q8_rows(const MatmulJob& j, int64_t m0, int64_t m1, int64_t n) {
  int64_t m = m0;
  for (; m + 2 <= m1; m += 2) q8_tile<2, NR>(j, m, n);
  for (; m < m1; ++m) q8_tile<1, NR>(j, m, n);
}

void mm_q8(const MatmulJob& j, int64_t n0, int64_t n1, float* scratch) {
  constexpr int64_t kMTile = 64;  // rows of quantized x kept hot while W rows stream by
  const int64_t nb = j.K / kQ8Block;
  const bool hoist = j.M >= 2 && 4 * nb <= kMatmulScratchFloats;  // dw of a panel fits the scratch
  for (int64_t m0 = 0; m0 < j.M; m0 += kMTile) {
    const int64_t m1 = std::min(j.M, m0 + kMTile);
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
      if (!hoist) {
        q8_rows<4>(j, m0, m1, n);
        continue;
      }
      // Invariant: scratch holds kMatmulScratchFloats >= 4 * nb floats (hoist).
      for (int r = 0; r < 4; ++r) {
        const BlockQ8_0* wr = reinterpret_cast<const BlockQ8_0*>(j.w + (n + r) * j.row_bytes);
        for (int64_t b = 0; b < nb; ++b) scratch[b * 4 + r] = _cvtsh_ss(wr[b].d);
      }
      int64_t m = m0;
      for (; m + 2 <= m1; m += 2) q8_tile_2x4(j, m, n, scratch);
      for (; m < m1; ++m) q8_tile<1, 4>(j, m, n);
    }
    for (; n < n1; ++n) q8_rows<1>(j, m0, m1, n);
  }
}

void quantize_row_q8(const float* x, int64_t K, int8_t* qs, float* d) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < K / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(xb + i * 8);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v[i]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax_s = _mm_cvtss_f32(m4);
    d[b] = _cvtsh_ss(_cvtss_sh(amax_s / 127.0f, _MM_FROUND_TO_NEAREST_INT));  // f16 scale, as llama.cpp
    const float id = amax_s != 0.0f ? 127.0f / amax_s : 0.0f;
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) {
      q[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], idv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    // pack 32 int32 -> 32 int8 in order (packs work per 128-bit lane: fix with a permute)
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + b * kQ8Block), p);
  }
}

float dot(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void scale_axpy(float* y, float a, float b, const float* x, int64_t n) {
  const __m256 av = _mm256_set1_ps(a), bv = _mm256_set1_ps(b);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(bv, _mm256_loadu_ps(x + i), _mm256_mul_ps(av, _mm256_loadu_ps(y + i))));
  }
  for (; i < n; ++i) y[i] = y[i] * a + b * x[i];
}

}  // namespace

void silu_mul_avx2(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 den = _mm256_add_ps(one, exp256(_mm256_sub_ps(zero, g)));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, den), _mm256_loadu_ps(up + i)));
  }
  silu_mul_scalar(gate + i, up + i, out + i, n - i);
}

const IsaKernels kAvx2Kernels = {
    "avx2", {mm_f32, mm_f16, mm_bf16, mm_q8}, quantize_row_q8, dot, scale_axpy, silu_mul_avx2, attend_avx2,
    attend_f16_avx2, to_f16_avx2, attend_tile_avx2, attend_f16_tile_avx2, {nullptr, nullptr, nullptr, nullptr},
};

}  // namespace cpu
}  // namespace hs
