// AVX2 attention of one query row over its paged context (see attention.cc
// for the layout), over an f32 or an f16 cache. Per block: scores by FMA dots, one vectorized exp over the
// block, the output accumulated in registers when D <= 128 (else in memory).
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
    if (j0 + bs < n_ctx) {
      // The next block lies elsewhere in the pool, where no hardware
      // prefetcher looks: request its keys and values while this one is
      // computed. Invariant: kblk/vblk hold ceil(n_ctx / bs) blocks, so
      // block blk + 1 exists, and only its first n_next rows are requested.
      const int64_t n_next = std::min(bs, n_ctx - j0 - bs);
      const auto* kn = reinterpret_cast<const char*>(kblk[blk + 1]);
      const auto* vn = reinterpret_cast<const char*>(vblk[blk + 1]);
      for (int64_t o = 0; o < n_next * D * static_cast<int64_t>(sizeof(E)); o += 64) {
        _mm_prefetch(kn + o, _MM_HINT_T0);
        _mm_prefetch(vn + o, _MM_HINT_T0);
      }
    }
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
