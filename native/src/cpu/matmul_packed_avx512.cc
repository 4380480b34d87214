// AVX-512 kernels over the packed weight layouts (kernels.h, pack_weights):
// 16 rows of W per group, lane r = row 16g + r. Split from matmul_avx512.cc
// (the row-layout kernels); the same ISA flags and the same rule: no
// static data with dynamic initialization, nothing run before the CPU check.
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own
// _mm512_undefined_* idiom (a false positive; CI builds with -Werror).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstddef>

#include "cpu/internal.h"

namespace hs {
namespace cpu {
namespace {

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

// Requests the lines of [p, p + bytes) with the non-temporal hint: a weight
// is read once per step, so its lines should not push out of L2 the data
// that is used again (activations, the KV blocks of the next attention, the
// step's JS and N-API state). Against the T0 hint at the same distances,
// batch-1 decode measured +3-8% (f16) and +7-8% (Q8_0), batch 8 +0-6%
// (ABBA pairs, Zen 5 VM, bench/README.md). A prefetch never faults.
inline void prefetch_stream(const uint8_t* p, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + o), _MM_HINT_NTA);
}

// ---- Q8_0 over the 16-row interleaved layout ----
//
// Lane r of a vector is W row 16g + r. Per block: 8 vpdpbusd, each 4 columns
// of the 16 rows (stored + 128, the unsigned operand) against 4 bytes of x
// broadcast (signed); minus x's shared correction 128 * sum(x block) that is
// the exact integer sum of w.x; then one convert and one FMA by dw * dx.
// The integer sums are the same as every other path's; each (x row, W row)
// accumulates its blocks in order in one lane whatever MR and G are, so a
// row's result does not depend on the batch or on the tile it falls in.
template <int MR, int G>
void q8x16_tile(const MatmulJob& j, int64_t m, int64_t g) {
  const int64_t nb = j.K / kQ8Block;
  const int64_t group_bytes = nb * kQ8x16BlockBytes;
  const int64_t total = (j.N / kPackRows) * group_bytes;
  const uint8_t* p[G];
  for (int i = 0; i < G; ++i) p[i] = j.w + (g + i) * group_bytes;
  const int8_t* xq[MR];
  const float* xd[MR];
  const int32_t* xs[MR];
  for (int i = 0; i < MR; ++i) {
    xq[i] = j.xq.qs + (m + i) * j.K;
    xd[i] = j.xq.d + (m + i) * nb;
    xs[i] = j.xq.s + (m + i) * nb;
  }
  __m512 acc[MR][G];
  for (int i = 0; i < MR; ++i)
    for (int r = 0; r < G; ++r) acc[i][r] = _mm512_setzero_ps();
  // Blocks prefetched ahead in each group's stream: 10 (5.4 KB) measured
  // best at batch 1 on the Zen 5 VM (6: -18%, 16: -5%, paired). At batch 1
  // on Zen 4 none at all is faster (decode_prefetch(), kernels.h); with
  // more rows the prefetch stays (batch 8 there: the same or better with it).
  constexpr int64_t kAhead = 10;
  const bool prefetch = MR > 1 || j.decode_prefetch;
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; prefetch && r < G; ++r) {
      // Invariant: only bytes inside the packed matrix are prefetched.
      const int64_t off = (g + r) * group_bytes + (b + kAhead) * kQ8x16BlockBytes;
      if (off + kQ8x16BlockBytes <= total) prefetch_stream(j.w + off, kQ8x16BlockBytes);
    }
    __m512i lo[MR][G], hi[MR][G];
    for (int i = 0; i < MR; ++i)
      for (int r = 0; r < G; ++r) lo[i][r] = hi[i][r] = _mm512_setzero_si512();
    for (int c = 0; c < 8; c += 2) {
      __m512i w0[G], w1[G];
      for (int r = 0; r < G; ++r) {
        // Invariant: block b of group g + r lies inside the packed matrix.
        const uint8_t* q = p[r] + b * kQ8x16BlockBytes + 32 + c * 64;
        w0[r] = _mm512_loadu_si512(q);
        w1[r] = _mm512_loadu_si512(q + 64);
      }
      for (int i = 0; i < MR; ++i) {
        // 4 + 4 bytes of x's block b (columns 32b + 4c ..): inside the row.
        // Broadcast straight from memory (vpbroadcastd zmm, m32). A memcpy
        // into an int32 pair compiled to one 64-bit load, a shift and two
        // broadcasts from general registers; batch-1 Q8_0 decode measured
        // 7-40% slower that way on the Zen 4 VM (bench/README.md; why so
        // much for a loop that waits on memory was not found: no counters).
        const int8_t* x4 = xq[i] + b * kQ8Block + 4 * c;
        const __m512i x0 = _mm512_broadcastd_epi32(_mm_loadu_si32(x4));
        const __m512i x1 = _mm512_broadcastd_epi32(_mm_loadu_si32(x4 + 4));
        for (int r = 0; r < G; ++r) {
          lo[i][r] = _mm512_dpbusd_epi32(lo[i][r], w0[r], x0);
          hi[i][r] = _mm512_dpbusd_epi32(hi[i][r], w1[r], x1);
        }
      }
    }
    __m512 dw[G];
    for (int r = 0; r < G; ++r) {
      dw[r] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p[r] + b * kQ8x16BlockBytes)));
    }
    for (int i = 0; i < MR; ++i) {
      const __m512 dx = _mm512_set1_ps(xd[i][b]);
      const __m512i corr = _mm512_set1_epi32(xs[i][b]);
      for (int r = 0; r < G; ++r) {
        const __m512i isum = _mm512_sub_epi32(_mm512_add_epi32(lo[i][r], hi[i][r]), corr);
        acc[i][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw[r], dx), acc[i][r]);
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int r = 0; r < G; ++r) _mm512_storeu_ps(j.y + (m + i) * j.N + (g + r) * kPackRows, acc[i][r]);
}

// Drives a packed kernel's tiles (T::tile<MR>(job, m, group)) over the
// groups of [n0, n1). Decode takes one group at a time: one sequential
// stream per thread (two or four groups per Q8_0 tile, more independent
// vpdpbusd chains but 2-4 streams, measured 12% and 9% slower at batch 1,
// paired, Zen 5 VM). Batched: x tiles of 64 rows; each group (16 rows of W)
// stays in L1/L2 while the tile's rows go by 4 at a time.
template <class T>
void drive_packed(const MatmulJob& j, int64_t n0, int64_t n1) {
  const int64_t g0 = n0 / kPackRows, g1 = n1 / kPackRows;
  if (j.M == 1) {
    for (int64_t g = g0; g < g1; ++g) T::template tile<1>(j, 0, g);
    return;
  }
  constexpr int64_t kMTile = 64;
  for (int64_t m0 = 0; m0 < j.M; m0 += kMTile) {
    const int64_t m1 = imin(j.M, m0 + kMTile);
    for (int64_t g = g0; g < g1; ++g) {
      int64_t m = m0;
      for (; m + 4 <= m1; m += 4) T::template tile<4>(j, m, g);
      for (; m + 2 <= m1; m += 2) T::template tile<2>(j, m, g);
      for (; m < m1; ++m) T::template tile<1>(j, m, g);
    }
  }
}

struct Q8Tiles {
  template <int MR>
  static void tile(const MatmulJob& j, int64_t m, int64_t g) { q8x16_tile<MR, 1>(j, m, g); }
};

void mm_q8x16(const MatmulJob& j, int64_t n0, int64_t n1, float*) { drive_packed<Q8Tiles>(j, n0, n1); }

// ---- F16 / BF16 over the 16-row interleaved layout (kernels.h) ----
//
// Lane r of a vector is W row 16g + r; column k of the group is one 32-byte
// load and one convert for the 16 rows. Per (x row, W row) four partial
// sums, column k into sum k % 4 by one FMA, then (s0 + s1) + (s2 + s3):
// the same operations whatever MR is, so a row's result does not depend on
// the batch, and the same as the portable kernel's (matmul_scalar.cc).
struct X16F16 {
  static __m512 half(__m256i h) { return _mm512_cvtph_ps(h); }
  static __m512 cvt(const uint8_t* p) { return half(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
};
struct X16BF16 {
  static __m512 half(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 cvt(const uint8_t* p) { return half(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
};

// Decode (one x row) over one group where decode_prefetch() is off (Zen 4):
// the same sums in the same order as x16_tile<C, 1>, but each 64-byte line
// of W is one load whose halves (two columns) are converted from registers,
// and nothing is prefetched. Against x16_tile's two 32-byte loads per line
// and its prefetch 2.5 KB ahead, on the Zen 4 VM: a standalone two-thread
// stream of 219 MB measured the same while the VM read at ~31 GB/s and
// +6-9% in its spells of 45-60 GB/s (0.92-0.93 of a plain read there);
// batch-1 f16 decode, alternating in one process, the same (1.00 / 0.98)
// and +5% in those spells; the same line loads with the prefetch kept lost
// 2% at ~31 GB/s (bench/README.md).
template <class C>
void x16_row(const MatmulJob& j, int64_t g) {
  const int64_t K = j.K;
  constexpr int64_t kCol = kPackRows * 2;
  const uint8_t* p = j.w + g * K * kCol;
  const float* x = j.x;
  __m512 a[4];
  for (int u = 0; u < 4; ++u) a[u] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {
    // Invariant: columns k .. k + 3 < K of group g (two lines) lie inside the packed matrix.
    const __m512i l0 = _mm512_loadu_si512(p + k * kCol);
    const __m512i l1 = _mm512_loadu_si512(p + k * kCol + 64);
    a[0] = _mm512_fmadd_ps(_mm512_set1_ps(x[k]), C::half(_mm512_castsi512_si256(l0)), a[0]);
    a[1] = _mm512_fmadd_ps(_mm512_set1_ps(x[k + 1]), C::half(_mm512_extracti64x4_epi64(l0, 1)), a[1]);
    a[2] = _mm512_fmadd_ps(_mm512_set1_ps(x[k + 2]), C::half(_mm512_castsi512_si256(l1)), a[2]);
    a[3] = _mm512_fmadd_ps(_mm512_set1_ps(x[k + 3]), C::half(_mm512_extracti64x4_epi64(l1, 1)), a[3]);
  }
  for (; k < K; ++k) a[k & 3] = _mm512_fmadd_ps(_mm512_set1_ps(x[k]), C::cvt(p + k * kCol), a[k & 3]);
  const __m512 s = _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3]));
  _mm512_storeu_ps(j.y + g * kPackRows, s);
}

template <class C, int MR>
void x16_tile(const MatmulJob& j, int64_t m, int64_t g) {
  const int64_t K = j.K;
  constexpr int64_t kCol = kPackRows * 2;  // bytes of one column of a group
  const int64_t base = g * K * kCol, total = (j.N / kPackRows) * K * kCol;
  const uint8_t* p = j.w + base;
  const float* x[MR];
  for (int i = 0; i < MR; ++i) x[i] = j.x + (m + i) * K;
  __m512 a[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int u = 0; u < 4; ++u) a[i][u] = _mm512_setzero_ps();
  // 2.5 KB (80 columns) ahead in the stream: best of 1-12 KB at batch 1 on
  // the Zen 5 VM (5 KB: -3%, 8 KB: -6%, 1 KB: -5%, paired; noisy; with the
  // non-temporal hint 5 KB: -5%, 1.25 KB: -7%). 4 KB, by placement (later,
  // same VM kind): the same on two CCDs (median +0.3%), -2.4% on one.
  constexpr int64_t kAhead = 2560;
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {
    // Invariant: only bytes inside the packed matrix are prefetched.
    const int64_t off = base + k * kCol + kAhead;
    if (off + 4 * kCol <= total) {
      prefetch_stream(j.w + off, 2 * 64);
    }
    for (int u = 0; u < 4; ++u) {
      // Invariant: column k + u < K of group g lies inside the packed matrix.
      const __m512 w = C::cvt(p + (k + u) * kCol);
      for (int i = 0; i < MR; ++i) a[i][u] = _mm512_fmadd_ps(_mm512_set1_ps(x[i][k + u]), w, a[i][u]);
    }
  }
  for (; k < K; ++k) {
    const __m512 w = C::cvt(p + k * kCol);
    for (int i = 0; i < MR; ++i) a[i][k & 3] = _mm512_fmadd_ps(_mm512_set1_ps(x[i][k]), w, a[i][k & 3]);
  }
  for (int i = 0; i < MR; ++i) {
    const __m512 s = _mm512_add_ps(_mm512_add_ps(a[i][0], a[i][1]), _mm512_add_ps(a[i][2], a[i][3]));
    _mm512_storeu_ps(j.y + (m + i) * j.N + g * kPackRows, s);
  }
}

template <class C>
struct X16Tiles {
  template <int MR>
  static void tile(const MatmulJob& j, int64_t m, int64_t g) {
    if (MR == 1 && j.M == 1 && !j.decode_prefetch) {
      x16_row<C>(j, g);
    } else {
      x16_tile<C, MR>(j, m, g);
    }
  }
};

template <class C>
void mm_x16(const MatmulJob& j, int64_t n0, int64_t n1, float*) { drive_packed<X16Tiles<C>>(j, n0, n1); }

void mm_f16x16(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { mm_x16<X16F16>(j, n0, n1, s); }
void mm_bf16x16(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { mm_x16<X16BF16>(j, n0, n1, s); }

}  // namespace

void mm_q8x16_avx512(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { mm_q8x16(j, n0, n1, s); }
void mm_f16x16_avx512(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { mm_f16x16(j, n0, n1, s); }
void mm_bf16x16_avx512(const MatmulJob& j, int64_t n0, int64_t n1, float* s) { mm_bf16x16(j, n0, n1, s); }

}  // namespace cpu
}  // namespace hs
