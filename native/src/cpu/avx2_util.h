// Small AVX2 helpers shared by the *_avx2.cc files (and only by files built
// with AVX2 flags). `static inline`: each file keeps its own copy, so no
// AVX2 code can be merged into a file that runs before the CPU check.
#pragma once

#include <immintrin.h>

#include "cpu/expf_poly.h"

namespace hs {
namespace cpu {

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// e^x for x in [-87.3, 88] (clamped outside): Cephes' expf (expf_poly.h), ~1 ulp.
static inline __m256 exp256(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(expf_poly::kLo)), _mm256_set1_ps(expf_poly::kHi));
  const __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(expf_poly::kLog2e)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(expf_poly::kLn2Hi), x);
  r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(expf_poly::kLn2Lo), r);
  __m256 y = _mm256_set1_ps(expf_poly::kC0);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(expf_poly::kC1));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(expf_poly::kC2));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(expf_poly::kC3));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(expf_poly::kC4));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(expf_poly::kC5));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

}  // namespace cpu
}  // namespace hs
