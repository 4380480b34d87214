// AVX2 attention over a paged context (see attention.cc for the layout), over
// an f32 or an f16 cache: one query row (attend_impl: per block, scores by
// FMA dots, one vectorized exp over the block, the output accumulated in
// registers when D <= 128, else in memory), or a tile of up to 4 rows that
// read the same rows (attend_tile_impl: each key and value row widened once
// for all of them, with each row's arithmetic exactly attend_impl's).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/avx2_util.h"
#include "cpu/internal.h"

namespace hs {
namespace cpu {
namespace {

// Cache rows as f32 or as f16 bits, widened exactly to f32 on load.
struct RowF32 {
  using E = float;
  static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
  static float one(const float* p) { return *p; }
};
struct RowF16 {
  using E = uint16_t;
  static __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static float one(const uint16_t* p) { return _cvtsh_ss(*p); }
};

template <class R>
inline float dot8(const float* a, const typename R::E* b, int64_t D) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t d = 0;
  for (; d + 16 <= D; d += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), R::load8(b + d), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d + 8), R::load8(b + d + 8), acc1);
  }
  for (; d + 8 <= D; d += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), R::load8(b + d), acc0);
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; d < D; ++d) s += a[d] * R::one(b + d);
  return s;
}

// The block after block blk (keys from j0) lies elsewhere in the pool, where
// no hardware prefetcher looks: request its keys and values while this one
// is computed. Invariant: kblk/vblk hold ceil(n_ctx / bs) blocks, so block
// blk + 1 exists when j0 + bs < n_ctx, and only its first rows in the
// context are requested.
template <class E>
inline void prefetch_next_block(const E* const* kblk, const E* const* vblk, int64_t blk, int64_t j0, int64_t bs,
                                int64_t n_ctx, int64_t D) {
  if (j0 + bs >= n_ctx) return;
  const int64_t n_next = std::min(bs, n_ctx - j0 - bs);
  const auto* kn = reinterpret_cast<const char*>(kblk[blk + 1]);
  const auto* vn = reinterpret_cast<const char*>(vblk[blk + 1]);
  for (int64_t o = 0; o < n_next * D * static_cast<int64_t>(sizeof(E)); o += 64) {
    _mm_prefetch(kn + o, _MM_HINT_T0);
    _mm_prefetch(vn + o, _MM_HINT_T0);
  }
}

// Block loop with the output in NV registers of 8 (D == 8 * NV), or in
// memory (NV == 0, any D).
template <int NV, class R>
void attend_impl(const float* q, const typename R::E* const* kblk, const typename R::E* const* vblk, int64_t n_ctx,
                 int64_t bs, int64_t D, float scale, float* out, float* scores) {
  using E = typename R::E;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  __m256 o[NV > 0 ? NV : 1];
  for (int i = 0; i < (NV > 0 ? NV : 1); ++i) o[i] = _mm256_setzero_ps();
  if (NV == 0) {
    for (int64_t d = 0; d < D; ++d) out[d] = 0.0f;
  }
  float m = kNegInf, l = 0.0f;
  for (int64_t j0 = 0, blk = 0; j0 < n_ctx; j0 += bs, ++blk) {
    const int64_t n = j0 + bs < n_ctx ? bs : n_ctx - j0;
    const E* kb = kblk[blk];
    const E* vb = vblk[blk];
    prefetch_next_block(kblk, vblk, blk, j0, bs, n_ctx, D);
    float bmax = kNegInf;
    for (int64_t i = 0; i < n; ++i) {
      const float s = dot8<R>(q, kb + i * D, D) * scale;
      scores[i] = s;
      bmax = s > bmax ? s : bmax;
    }
    if (bmax > m) {
      const float r = std::exp(m - bmax);  // 0 on the first block
      l *= r;
      const __m256 rv = _mm256_set1_ps(r);
      if (NV > 0) {
        for (int i = 0; i < NV; ++i) o[i] = _mm256_mul_ps(o[i], rv);
      } else {
        for (int64_t d = 0; d < D; ++d) out[d] *= r;
      }
      m = bmax;
    }
    const __m256 mv = _mm256_set1_ps(m);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(scores + i, exp256(_mm256_sub_ps(_mm256_loadu_ps(scores + i), mv)));
    for (; i < n; ++i) scores[i] = std::exp(scores[i] - m);
    for (i = 0; i < n; ++i) {
      const float p = scores[i];
      l += p;
      const __m256 pv = _mm256_set1_ps(p);
      const E* v = vb + i * D;
      if (NV > 0) {
        for (int u = 0; u < NV; ++u) o[u] = _mm256_fmadd_ps(pv, R::load8(v + 8 * u), o[u]);
      } else {
        int64_t d = 0;
        for (; d + 8 <= D; d += 8) {
          _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pv, R::load8(v + d), _mm256_loadu_ps(out + d)));
        }
        for (; d < D; ++d) out[d] += p * R::one(v + d);
      }
    }
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  if (NV > 0) {
    const __m256 iv = _mm256_set1_ps(inv);
    for (int u = 0; u < NV; ++u) _mm256_storeu_ps(out + 8 * u, _mm256_mul_ps(o[u], iv));
  } else {
    for (int64_t d = 0; d < D; ++d) out[d] *= inv;
  }
}

// out[t][lane0..+8) += sum over keys i < n of p[t][i] * v[i][lane0..+8), in
// key order, for NQ queries at once (named registers: GCC kept an array of
// accumulators in memory).
template <int NQ, class R>
inline void values_common(const typename R::E* v, int64_t D, int64_t n, float* const* p, float* const* out,
                          int64_t lane0) {
  static_assert(NQ >= 2 && NQ <= 4, "tiles of 2 to 4 queries");
  __m256 o0 = _mm256_loadu_ps(out[0] + lane0);
  __m256 o1 = _mm256_loadu_ps(out[1] + lane0);
  __m256 o2 = NQ > 2 ? _mm256_loadu_ps(out[NQ > 2 ? 2 : 0] + lane0) : o0;
  __m256 o3 = NQ > 3 ? _mm256_loadu_ps(out[NQ > 3 ? 3 : 0] + lane0) : o0;
  for (int64_t i = 0; i < n; ++i) {
    const __m256 vv = R::load8(v + i * D);
    o0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p[0] + i), vv, o0);
    o1 = _mm256_fmadd_ps(_mm256_broadcast_ss(p[1] + i), vv, o1);
    if (NQ > 2) o2 = _mm256_fmadd_ps(_mm256_broadcast_ss(p[NQ > 2 ? 2 : 0] + i), vv, o2);
    if (NQ > 3) o3 = _mm256_fmadd_ps(_mm256_broadcast_ss(p[NQ > 3 ? 3 : 0] + i), vv, o3);
  }
  _mm256_storeu_ps(out[0] + lane0, o0);
  _mm256_storeu_ps(out[1] + lane0, o1);
  if (NQ > 2) _mm256_storeu_ps(out[NQ > 2 ? 2 : 0] + lane0, o2);
  if (NQ > 3) _mm256_storeu_ps(out[NQ > 3 ? 3 : 0] + lane0, o3);
}

// Up to kTileQ query rows that read the same keys and values (consecutive
// tokens of one sequence and/or the query heads of one kv head): each key
// and value row is loaded and widened once for all of them. Per query the
// arithmetic is attend_impl's, operation for operation (the same dot8 sums,
// block maxima, rescales, exp and FMA chains per output lane; outputs pass
// through memory between blocks, which is exact), so a query's output does
// not depend on the tile it was computed in. Query t sees n_ctx[t] keys.
// scratch: >= kTileQ * (bs + 8) floats.
template <int NV, class R>
void attend_tile_impl(int nq, const float* const* q, const int64_t* n_ctx, const typename R::E* const* kblk,
                      const typename R::E* const* vblk, int64_t bs, float scale, float* const* out,
                      float* scratch) {
  static_assert(NV > 0, "the tile needs D == 8 * NV");
  using E = typename R::E;
  constexpr int64_t D = 8 * NV;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  float m[kTileQ], l[kTileQ];
  float* sc[kTileQ];
  int64_t n_max = 0;
  for (int t = 0; t < nq; ++t) {
    m[t] = kNegInf;
    l[t] = 0.0f;
    sc[t] = scratch + t * (bs + 8);
    for (int64_t d = 0; d < D; ++d) out[t][d] = 0.0f;
    n_max = std::max(n_max, n_ctx[t]);
  }
  for (int64_t j0 = 0, blk = 0; j0 < n_max; j0 += bs, ++blk) {
    int64_t n[kTileQ];
    int64_t n_blk = 0;
    for (int t = 0; t < nq; ++t) {
      n[t] = std::max<int64_t>(0, std::min(bs, n_ctx[t] - j0));
      n_blk = std::max(n_blk, n[t]);
    }
    const E* kb = kblk[blk];
    const E* vb = vblk[blk];
    prefetch_next_block(kblk, vblk, blk, j0, bs, n_max, D);
    // Scores: dot8's two accumulators (even and odd 8-lane chunks) and its
    // hsum; for keys all queries see, four hsums are done as one reduction
    // with hsum's pairing (lane k + lane k+4, then 0+2 and 1+3, then 0+1).
    int64_t n_min = n_blk;
    for (int t = 0; t < nq; ++t) n_min = std::min(n_min, n[t]);
    const __m256 sv = _mm256_set1_ps(scale);
    for (int64_t i = 0; i < n_blk; ++i) {
      __m256 kr[NV];
      for (int u = 0; u < NV; ++u) kr[u] = R::load8(kb + i * D + 8 * u);
      __m256 sum[kTileQ];
      for (int t = 0; t < kTileQ; ++t) {
        sum[t] = _mm256_setzero_ps();
        if (t >= nq || i >= n[t]) continue;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (int u = 0; u + 1 < NV; u += 2) {
          acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q[t] + 8 * u), kr[u], acc0);
          acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q[t] + 8 * u + 8), kr[u + 1], acc1);
        }
        if (NV % 2 == 1) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q[t] + 8 * (NV - 1)), kr[NV - 1], acc0);
        sum[t] = _mm256_add_ps(acc0, acc1);
      }
      if (i < n_min) {
        const __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(sum[0], sum[1], 0x20),
                                        _mm256_permute2f128_ps(sum[0], sum[1], 0x31));  // [s(0) | s(1)]
        const __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(sum[2], sum[3], 0x20),
                                        _mm256_permute2f128_ps(sum[2], sum[3], 0x31));  // [s(2) | s(3)]
        const __m256 h = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                       _mm256_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
        const __m256 f = _mm256_mul_ps(_mm256_add_ps(_mm256_shuffle_ps(h, h, _MM_SHUFFLE(2, 0, 2, 0)),
                                                     _mm256_shuffle_ps(h, h, _MM_SHUFFLE(3, 1, 3, 1))),
                                       sv);  // lanes: 0 -> query 0, 1 -> 2, 4 -> 1, 5 -> 3
        alignas(32) float r[8];
        _mm256_store_ps(r, f);
        const int lane[kTileQ] = {0, 4, 1, 5};
        for (int t = 0; t < nq; ++t) sc[t][i] = r[lane[t]];
      } else {
        for (int t = 0; t < nq; ++t) {
          if (i < n[t]) sc[t][i] = hsum(sum[t]) * scale;
        }
      }
    }
    for (int t = 0; t < nq; ++t) {
      if (n[t] == 0) continue;
      float bmax = kNegInf;
      for (int64_t i = 0; i < n[t]; ++i) bmax = sc[t][i] > bmax ? sc[t][i] : bmax;
      if (bmax > m[t]) {
        const float r = std::exp(m[t] - bmax);
        l[t] *= r;
        const __m256 rv = _mm256_set1_ps(r);
        for (int u = 0; u < NV; ++u) _mm256_storeu_ps(out[t] + 8 * u, _mm256_mul_ps(_mm256_loadu_ps(out[t] + 8 * u), rv));
        m[t] = bmax;
      }
      const __m256 mv = _mm256_set1_ps(m[t]);
      int64_t i = 0;
      for (; i + 8 <= n[t]; i += 8) _mm256_storeu_ps(sc[t] + i, exp256(_mm256_sub_ps(_mm256_loadu_ps(sc[t] + i), mv)));
      for (; i < n[t]; ++i) sc[t][i] = std::exp(sc[t][i] - m[t]);
      for (i = 0; i < n[t]; ++i) l[t] += sc[t][i];
    }
    // Values, 8 output lanes at a time: keys every query sees in registers,
    // then the few that only the later tokens of a prefill tile see.
    for (int u = 0; u < NV; ++u) {
      const E* vu = vb + 8 * u;
      switch (nq) {
        case 2: values_common<2, R>(vu, D, n_min, sc, out, 8 * u); break;
        case 3: values_common<3, R>(vu, D, n_min, sc, out, 8 * u); break;
        default: values_common<4, R>(vu, D, n_min, sc, out, 8 * u); break;
      }
      for (int t = 0; t < nq; ++t) {
        if (n[t] <= n_min) continue;
        __m256 o = _mm256_loadu_ps(out[t] + 8 * u);
        for (int64_t i = n_min; i < n[t]; ++i) o = _mm256_fmadd_ps(_mm256_broadcast_ss(sc[t] + i), R::load8(vu + i * D), o);
        _mm256_storeu_ps(out[t] + 8 * u, o);
      }
    }
  }
  for (int t = 0; t < nq; ++t) {
    const __m256 iv = _mm256_set1_ps(l[t] > 0.0f ? 1.0f / l[t] : 0.0f);
    for (int u = 0; u < NV; ++u) _mm256_storeu_ps(out[t] + 8 * u, _mm256_mul_ps(_mm256_loadu_ps(out[t] + 8 * u), iv));
  }
}

}  // namespace

namespace {
template <class R>
void attend_dispatch(const float* q, const typename R::E* const* kblk, const typename R::E* const* vblk,
                     int64_t n_ctx, int64_t bs, int64_t D, float scale, float* out, float* scratch) {
  switch (D) {
    case 64: return attend_impl<8, R>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
    case 128: return attend_impl<16, R>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
    case 32: return attend_impl<4, R>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
    default: return attend_impl<0, R>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
  }
}
}  // namespace

namespace {
// Head sizes with a register path go through the tile; others run the
// single-row kernel per query (the same arithmetic either way).
template <class R>
void attend_tile_dispatch(int nq, const float* const* q, const int64_t* n_ctx, const typename R::E* const* kblk,
                          const typename R::E* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                          float* scratch) {
  if (nq == 1) return attend_dispatch<R>(q[0], kblk, vblk, n_ctx[0], bs, D, scale, out[0], scratch);  // no tile of one
  switch (D) {
    case 64: return attend_tile_impl<8, R>(nq, q, n_ctx, kblk, vblk, bs, scale, out, scratch);
    case 128: return attend_tile_impl<16, R>(nq, q, n_ctx, kblk, vblk, bs, scale, out, scratch);
    case 32: return attend_tile_impl<4, R>(nq, q, n_ctx, kblk, vblk, bs, scale, out, scratch);
    default:
      for (int t = 0; t < nq; ++t) attend_dispatch<R>(q[t], kblk, vblk, n_ctx[t], bs, D, scale, out[t], scratch);
  }
}
}  // namespace

void attend_tile_avx2(int nq, const float* const* q, const int64_t* n_ctx, const float* const* kblk,
                      const float* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                      float* scratch) {
  attend_tile_dispatch<RowF32>(nq, q, n_ctx, kblk, vblk, bs, D, scale, out, scratch);
}

void attend_f16_tile_avx2(int nq, const float* const* q, const int64_t* n_ctx, const uint16_t* const* kblk,
                          const uint16_t* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                          float* scratch) {
  attend_tile_dispatch<RowF16>(nq, q, n_ctx, kblk, vblk, bs, D, scale, out, scratch);
}

void attend_avx2(const float* q, const float* const* kblk, const float* const* vblk, int64_t n_ctx,
                 int64_t bs, int64_t D, float scale, float* out, float* scratch) {
  attend_dispatch<RowF32>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
}

void attend_f16_avx2(const float* q, const uint16_t* const* kblk, const uint16_t* const* vblk, int64_t n_ctx,
                     int64_t bs, int64_t D, float scale, float* out, float* scratch) {
  attend_dispatch<RowF16>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
}

void to_f16_avx2(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  for (; i < n; ++i) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

}  // namespace cpu
}  // namespace hs
