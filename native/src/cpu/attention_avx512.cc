// AVX-512 attention over a paged context (see attention.cc for the layout),
// over an f32 or an f16 cache. A query walks its context a chunk of whole
// blocks (about 256 keys) at a time, in three passes: every key's score
// (16 keys of a block at a time, a "group", whose 16 dots come out of one
// transposing reduction instead of 16 horizontal sums), then the chunk's
// max and exponentials, then the values (two FMA chains per output lane,
// even and odd keys). Between chunks the softmax is online (running max,
// denominator and output rescaled when the max grows). The passes keep the
// long dependency chain of a softmax update (reduce, max, exp, sum) off the
// per-key path: an online update per group of 16 keys ran at ~19 cycles a
// key, latency-bound.
//
// A tile of up to kTileQ queries that read the same rows runs the
// single-row kernel per query (see attend_tile_dispatch), so a token's
// output does not depend on the tile it was computed in (batch invariance).
//
// No static data with dynamic initialization here: this file is compiled
// with AVX-512 flags and must run nothing before the CPU check.
// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own
// _mm512_undefined_* idiom (a false positive; CI builds with -Werror).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/expf_poly.h"
#include "cpu/internal.h"

namespace hs {
namespace cpu {
namespace {

constexpr int64_t kG = 16;  // keys per group; also float lanes per vector
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Cache rows as f32 or f16 bits, widened exactly to f32 on load; the masked
// forms read only the lanes in m (the rest are 0).
struct RowF32 {
  using E = float;
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct RowF16 {
  using E = uint16_t;
  static __m512 load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 load(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};

// A head of D floats as 16-lane chunks: NV chunks known at compile time (D
// == 16 * NV, the register paths) or, for NV == 0, ceil(D / 16) chunks with
// the last one masked.
template <int NV>
struct Lanes {
  int64_t n;
  __mmask16 tail;
  explicit Lanes(int64_t D)
      : n(NV > 0 ? NV : (D + kG - 1) / kG),
        tail(NV > 0 || D % kG == 0 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (D % kG)) - 1)) {}
  int64_t chunks() const { return NV > 0 ? NV : n; }
  __mmask16 mask(int64_t c) const { return NV > 0 || c + 1 < n ? static_cast<__mmask16>(0xFFFF) : tail; }
};

// e^x for x in [-87.3, 88] (clamped outside): Cephes' expf (expf_poly.h),
// ~1 ulp; avx2_util.h's exp256 with 16 lanes.
inline __m512 exp512(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(expf_poly::kLo)), _mm512_set1_ps(expf_poly::kHi));
  const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(expf_poly::kLog2e)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(expf_poly::kLn2Hi), x);
  r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(expf_poly::kLn2Lo), r);
  __m512 y = _mm512_set1_ps(expf_poly::kC0);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(expf_poly::kC1));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(expf_poly::kC2));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(expf_poly::kC3));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(expf_poly::kC4));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(expf_poly::kC5));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), r);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

// Lane i of the result = the sum of s[i]'s 16 lanes, for 16 vectors at once.
// Every s[i] is summed in the same pattern (lane k + lane k+8; then the two
// 4-lane halves of that; then lanes 0+2 and 1+3; then those two), so a key's
// score does not depend on its neighbours.
inline __m512 reduce16(const __m512* s) {
  __m512 a[8], b[4], c[2];
  for (int j = 0; j < 8; ++j) {  // quarters: [s(2j): q0+q2, q1+q3 | s(2j+1): q0+q2, q1+q3]
    a[j] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * j], s[2 * j + 1], 0x44),
                         _mm512_shuffle_f32x4(s[2 * j], s[2 * j + 1], 0xEE));
  }
  for (int j = 0; j < 4; ++j) {  // quarter r: key 4j + r, four partial lanes
    b[j] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0x88),
                         _mm512_shuffle_f32x4(a[2 * j], a[2 * j + 1], 0xDD));
  }
  for (int j = 0; j < 2; ++j) {  // quarter r: [b(2j): lanes 0+2, 1+3 | b(2j+1): lanes 0+2, 1+3]
    c[j] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * j], b[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(b[2 * j], b[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  // lane 4r + j: the total of key 4j + r; the permutation puts key i in lane i
  const __m512 f = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i idx = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  return _mm512_permutexvar_ps(idx, f);
}

// q . k as one vector to be reduced: chunk c goes to accumulator c % 2.
// qv holds q's chunks when NV > 0; otherwise q is read from memory.
template <int NV, class R>
inline __m512 key_dot(const __m512* qv, const float* q, const typename R::E* k, const Lanes<NV>& L) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  for (int64_t c = 0; c < L.chunks(); ++c) {
    __m512 qc, kc;
    if (NV > 0) {
      qc = qv[c];
      kc = R::load(k + kG * c);
    } else {
      qc = _mm512_maskz_loadu_ps(L.mask(c), q + kG * c);
      kc = R::load(k + kG * c, L.mask(c));
    }
    if (c % 2 == 0) {
      acc0 = _mm512_fmadd_ps(qc, kc, acc0);
    } else {
      acc1 = _mm512_fmadd_ps(qc, kc, acc1);
    }
  }
  return _mm512_add_ps(acc0, acc1);
}

// One query's running state: max m, denominator l, and the unnormalized
// output in registers (o, NV > 0) or in memory (out, NV == 0).
template <int NV>
struct QState {
  float m = kNegInf;
  float l = 0.0f;
  __m512 o[NV > 0 ? NV : 1];
  float* out;
};

// The scores of n (1..16) keys (rows kb[i * D]) as one vector, lanes past n
// at -inf.
template <int NV, class R>
inline __m512 group_scores(const float* q, const __m512* qv, const typename R::E* kb, int64_t n, int64_t D,
                           float scale, const Lanes<NV>& L) {
  __m512 s[kG];
  for (int64_t i = 0; i < kG; ++i) s[i] = i < n ? key_dot<NV, R>(qv, q, kb + i * D, L) : _mm512_setzero_ps();
  const auto valid = static_cast<__mmask16>((1u << n) - 1);
  return _mm512_mask_mov_ps(_mm512_set1_ps(kNegInf), valid, _mm512_mul_ps(reduce16(s), _mm512_set1_ps(scale)));
}

// The chunk's softmax over its slots (16 scores each, -inf where no key):
// raise the running max (rescaling l and the output), then replace each
// score by its weight exp(s - m) (0 where no key) and add the weights to l
// (summed lane-wise over the slots in order, then across lanes).
template <int NV>
inline void chunk_softmax(float* sc, int64_t slots, const Lanes<NV>& L, QState<NV>& st) {
  __m512 mx = _mm512_set1_ps(kNegInf);
  for (int64_t j = 0; j < slots; ++j) mx = _mm512_max_ps(mx, _mm512_loadu_ps(sc + kG * j));
  const float cmax = _mm512_reduce_max_ps(mx);
  if (cmax > st.m) {
    const float r = std::exp(st.m - cmax);  // 0 on the first chunk
    st.l *= r;
    const __m512 rv = _mm512_set1_ps(r);
    for (int64_t c = 0; c < L.chunks(); ++c) {
      if (NV > 0) {
        st.o[c] = _mm512_mul_ps(st.o[c], rv);
      } else {
        float* oc = st.out + kG * c;
        _mm512_mask_storeu_ps(oc, L.mask(c), _mm512_mul_ps(_mm512_maskz_loadu_ps(L.mask(c), oc), rv));
      }
    }
    st.m = cmax;
  }
  const __m512 mv = _mm512_set1_ps(st.m), ninf = _mm512_set1_ps(kNegInf);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < slots; ++j) {
    const __m512 s = _mm512_loadu_ps(sc + kG * j);
    const __mmask16 valid = _mm512_cmp_ps_mask(s, ninf, _CMP_NEQ_UQ);
    const __m512 p = _mm512_maskz_mov_ps(valid, exp512(_mm512_sub_ps(s, mv)));
    sum = _mm512_add_ps(sum, p);
    _mm512_storeu_ps(sc + kG * j, p);
  }
  st.l += _mm512_reduce_add_ps(sum);
}

// o += sum over keys i < n of p[i] * v[i] (rows vb[i * D]): even keys into
// o, odd keys into a second chain, added to o at the end.
template <int NV, class R>
inline void group_values(const float* p, const typename R::E* vb, int64_t n, int64_t D, const Lanes<NV>& L,
                         QState<NV>& st) {
  if (NV > 0) {
    __m512 odd[NV > 0 ? NV : 1];
    for (int c = 0; c < NV; ++c) odd[c] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
      const __m512 pe = _mm512_set1_ps(p[i]), po = _mm512_set1_ps(p[i + 1]);
      const typename R::E* ve = vb + i * D;
      const typename R::E* vo = ve + D;
      for (int c = 0; c < NV; ++c) {
        st.o[c] = _mm512_fmadd_ps(pe, R::load(ve + kG * c), st.o[c]);
        odd[c] = _mm512_fmadd_ps(po, R::load(vo + kG * c), odd[c]);
      }
    }
    if (i < n) {
      const __m512 pe = _mm512_set1_ps(p[i]);
      for (int c = 0; c < NV; ++c) st.o[c] = _mm512_fmadd_ps(pe, R::load(vb + i * D + kG * c), st.o[c]);
    }
    for (int c = 0; c < NV; ++c) st.o[c] = _mm512_add_ps(st.o[c], odd[c]);
  } else {
    // The same two chains per lane, a chunk of lanes at a time.
    for (int64_t c = 0; c < L.chunks(); ++c) {
      const __mmask16 mc = L.mask(c);
      float* oc = st.out + kG * c;
      __m512 even = _mm512_maskz_loadu_ps(mc, oc), odd = _mm512_setzero_ps();
      int64_t i = 0;
      for (; i + 2 <= n; i += 2) {
        even = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), R::load(vb + i * D + kG * c, mc), even);
        odd = _mm512_fmadd_ps(_mm512_set1_ps(p[i + 1]), R::load(vb + (i + 1) * D + kG * c, mc), odd);
      }
      if (i < n) even = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), R::load(vb + i * D + kG * c, mc), even);
      _mm512_mask_storeu_ps(oc, mc, _mm512_add_ps(even, odd));
    }
  }
}

// out = o / l (zeros when no key was seen).
template <int NV>
inline void finish(const QState<NV>& st, const Lanes<NV>& L, float* out) {
  const __m512 iv = _mm512_set1_ps(st.l > 0.0f ? 1.0f / st.l : 0.0f);
  for (int64_t c = 0; c < L.chunks(); ++c) {
    if (NV > 0) {
      _mm512_storeu_ps(out + kG * c, _mm512_mul_ps(st.o[c], iv));
    } else {
      _mm512_mask_storeu_ps(out + kG * c, L.mask(c), _mm512_mul_ps(_mm512_maskz_loadu_ps(L.mask(c), out + kG * c), iv));
    }
  }
}

// Rows [0, n) of a block (of f32 or f16 elements) requested into the cache.
// Blocks lie anywhere in the pool, where no hardware prefetcher looks: a
// chunk's keys are all requested before it is scored, and each block's
// values while its keys are scored (against requesting the next block's
// keys one block ahead: no slower warm, as fast or faster with the KV out
// of the caches, in runs too noisy to say by how much).
template <class E>
inline void prefetch_block(const E* rows, int64_t n, int64_t D) {
  const auto* p = reinterpret_cast<const char*>(rows);
  for (int64_t o = 0; o < n * D * static_cast<int64_t>(sizeof(E)); o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

// Keys of block b a query with n_ctx keys sees (0 past its context).
inline int64_t keys_in_block(int64_t n_ctx, int64_t b, int64_t bs) {
  return std::max<int64_t>(0, std::min(bs, n_ctx - b * bs));
}

// Invariants (attention.cc): kblk / vblk hold ceil(n_ctx / bs) block
// pointers, each to bs rows of D elements of this kv head, and only the
// rows of the first n_ctx keys are read; sc holds attn_chunk_floats(bs)
// floats, a chunk's attn_chunk_blocks(bs) blocks of ceil(bs / 16) slots.
template <int NV, class R>
void attend_impl(const float* q, const typename R::E* const* kblk, const typename R::E* const* vblk, int64_t n_ctx,
                 int64_t bs, int64_t D, float scale, float* out, float* sc) {
  const Lanes<NV> L(D);
  __m512 qv[NV > 0 ? NV : 1];
  QState<NV> st;
  st.out = out;
  for (int c = 0; c < NV; ++c) {
    qv[c] = _mm512_loadu_ps(q + kG * c);
    st.o[c] = _mm512_setzero_ps();
  }
  if (NV == 0) std::fill(out, out + D, 0.0f);
  const int64_t nb = (n_ctx + bs - 1) / bs, cb = attn_chunk_blocks(bs);
  for (int64_t b0 = 0; b0 < nb; b0 += cb) {
    const int64_t b1 = std::min(nb, b0 + cb);
    for (int64_t b = b0; b < b1; ++b) prefetch_block(kblk[b], keys_in_block(n_ctx, b, bs), D);
    int64_t slots = 0;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n = keys_in_block(n_ctx, b, bs);
      prefetch_block(vblk[b], n, D);
      for (int64_t g = 0; g < n; g += kG, ++slots) {
        _mm512_storeu_ps(sc + kG * slots, group_scores<NV, R>(q, qv, kblk[b] + g * D, std::min(kG, n - g), D, scale, L));
      }
    }
    chunk_softmax(sc, slots, L, st);
    slots = 0;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n = keys_in_block(n_ctx, b, bs);
      for (int64_t g = 0; g < n; g += kG, ++slots) {
        group_values<NV, R>(sc + kG * slots, vblk[b] + g * D, std::min(kG, n - g), D, L, st);
      }
    }
  }
  finish(st, L, out);
}

template <class R>
void attend_dispatch(const float* q, const typename R::E* const* kblk, const typename R::E* const* vblk,
                     int64_t n_ctx, int64_t bs, int64_t D, float scale, float* out, float* scratch) {
  switch (D) {
    case 64: return attend_impl<4, R>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
    case 128: return attend_impl<8, R>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
    case 32: return attend_impl<2, R>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
    default: return attend_impl<0, R>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
  }
}

// A tile runs the single-row kernel per query: the rows the tile shares
// are in the cache by the second query, and widening an f16 group once into
// scratch for all queries measured slower (5.2 against 4.6 ns a query-key,
// warm) than converting it again per query. Each query's output is then
// trivially what it gets alone (batch invariance).
template <class R>
void attend_tile_dispatch(int nq, const float* const* q, const int64_t* n_ctx, const typename R::E* const* kblk,
                          const typename R::E* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                          float* scratch) {
  for (int t = 0; t < nq; ++t) attend_dispatch<R>(q[t], kblk, vblk, n_ctx[t], bs, D, scale, out[t], scratch);
}

}  // namespace

void attend_avx512(const float* q, const float* const* kblk, const float* const* vblk, int64_t n_ctx, int64_t bs,
                   int64_t D, float scale, float* out, float* scratch) {
  attend_dispatch<RowF32>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
}

void attend_f16_avx512(const float* q, const uint16_t* const* kblk, const uint16_t* const* vblk, int64_t n_ctx,
                       int64_t bs, int64_t D, float scale, float* out, float* scratch) {
  attend_dispatch<RowF16>(q, kblk, vblk, n_ctx, bs, D, scale, out, scratch);
}

void attend_tile_avx512(int nq, const float* const* q, const int64_t* n_ctx, const float* const* kblk,
                        const float* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                        float* scratch) {
  attend_tile_dispatch<RowF32>(nq, q, n_ctx, kblk, vblk, bs, D, scale, out, scratch);
}

void attend_f16_tile_avx512(int nq, const float* const* q, const int64_t* n_ctx, const uint16_t* const* kblk,
                            const uint16_t* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                            float* scratch) {
  attend_tile_dispatch<RowF16>(nq, q, n_ctx, kblk, vblk, bs, D, scale, out, scratch);
}

}  // namespace cpu
}  // namespace hs
