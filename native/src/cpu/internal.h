// Internal to the CPU backend: the per-ISA kernel table chosen at run time
// and the helpers shared by the kernel files. Not part of the contract that
// the forward pass sees (that is kernels.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu/kernels.h"

namespace hs {
namespace cpu {

// Activations of a Q8_0 matmul, quantized once per call: row m holds K/32
// blocks, qs[m*K + k] int8 and d[m*(K/32) + b] the scale of block b.
// The arithmetic is llama.cpp's quantize_row_q8_0: q = round_even(x * 127 /
// amax) and the scale amax/127 rounded to f16 (kept here as the f32 value of
// that f16). An f32 scale is one rounding more precise, but then the two
// engines' greedy runs on Q8_0 models part after a few steps (issue 2).
struct QuantX {
  const int8_t* qs = nullptr;
  const float* d = nullptr;
  const int32_t* s = nullptr;  // [M][K/32]: 128 * sum of each block's int8 (the q8x16 correction)
};

// One matmul call as the ISA kernels see it. Rows [n0, n1) of W produce
// columns [n0, n1) of y for every one of the M rows of x.
struct MatmulJob {
  const float* x = nullptr;  // [M][K]
  QuantX xq;                 // Q8_0 only
  int64_t M = 0, K = 0, N = 0;
  const uint8_t* w = nullptr;  // [N] rows of row_bytes
  size_t row_bytes = 0;
  float* y = nullptr;  // [M][N]
  // Software prefetch in the packed kernels at M == 1 (decode_prefetch()).
  bool decode_prefetch = true;
};

// The hardware prefetcher of the VMs measured here follows a row group's
// streams poorly: a decode GEMV over memory ran at ~9 GB/s on one thread.
// The SIMD kernels request the NEXT group of rows (rows n+nr.., contiguous
// after this group) while computing this one, at the same offset they read
// in this group plus one line; that doubled one thread's rate (bench/README.md).
// Null for the last group: nothing past row N is touched.
inline const uint8_t* next_group(const MatmulJob& j, int64_t n, int nr) {
  return n + 2 * nr <= j.N ? j.w + (n + nr) * j.row_bytes : nullptr;
}
// Requests the cache lines of [p, p + bytes + 64). A prefetch never faults;
// callers keep p inside the weight matrix anyway (next_group).
inline void prefetch_span(const uint8_t* p, int64_t bytes) {
  for (int64_t o = 0; o < bytes + 64; o += 64) __builtin_prefetch(p + o, 0, 3);
}

// Scratch given to each range call: at least kMatmulScratchFloats floats,
// 64-byte aligned, owned by the calling thread.
constexpr int64_t kMatmulKc = 512;  // K chunk converted at a time (M > small)
constexpr int64_t kMatmulScratchFloats = 8 * kMatmulKc + 64;

using MatmulRangeFn = void (*)(const MatmulJob& job, int64_t n0, int64_t n1, float* scratch);

// Query rows per attention tile (see IsaKernels::attend_tile).
constexpr int kTileQ = 4;
// The AVX-512 attention scores a chunk of whole blocks (about 256 keys) at
// a time, each block's keys in 16-float slots: the chunk's blocks and slots.
constexpr int64_t attn_chunk_blocks(int64_t bs) { return bs >= 256 ? 1 : 256 / bs; }
constexpr int64_t attn_chunk_floats(int64_t bs) { return 16 * attn_chunk_blocks(bs) * ((bs + 15) / 16); }
// Floats of scratch an attention tile needs (block size bs, head size D):
// the portable and AVX2 kernels' rows and scores, or the AVX-512 kernel's
// chunk scores.
constexpr int64_t attn_tile_scratch(int64_t bs, int64_t D) {
  return kTileQ * (bs + 8 + 2 * D) + attn_chunk_floats(bs);
}

struct IsaKernels {
  const char* name;
  MatmulRangeFn matmul[4];  // indexed by DType
  // Quantize one row of K floats (K % 32 == 0) into int8 + per-block scales.
  void (*quantize_row_q8)(const float* x, int64_t K, int8_t* qs, float* d);
  float (*dot)(const float* a, const float* b, int64_t n);
  // y = y * a + b * x  (the online-softmax update of attention)
  void (*scale_axpy)(float* y, float a, float b, const float* x, int64_t n);
  // out[i] = silu(gate[i]) * up[i]; out may alias gate
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n);
  // One query row q[D] against n_ctx keys held in blocks: kblk[j] / vblk[j]
  // point at block j's rows for this kv head ([bs][D], contiguous). Online
  // softmax; out[D] = softmax(scale * q.K) . V. scratch: >= attn_tile_scratch(bs, D) floats.
  void (*attend)(const float* q, const float* const* kblk, const float* const* vblk, int64_t n_ctx,
                 int64_t bs, int64_t D, float scale, float* out, float* scratch);
  // The same over an f16 cache (rows widened exactly to f32 as they are
  // read). scratch: as attend.
  void (*attend_f16)(const float* q, const uint16_t* const* kblk, const uint16_t* const* vblk, int64_t n_ctx,
                     int64_t bs, int64_t D, float scale, float* out, float* scratch);
  // out[i] = f16 bits of x[i], rounded to nearest even.
  void (*to_f16)(const float* x, uint16_t* out, int64_t n);
  // attend / attend_f16 for nq <= kTileQ query rows that read the same blocks
  // (query t: q[t], n_ctx[t] keys, out[t]); each out[t] is bit for bit what
  // the single-row kernel gives for it. scratch: >= attn_tile_scratch(bs, D) floats.
  void (*attend_tile)(int nq, const float* const* q, const int64_t* n_ctx, const float* const* kblk,
                      const float* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                      float* scratch);
  void (*attend_f16_tile)(int nq, const float* const* q, const int64_t* n_ctx, const uint16_t* const* kblk,
                          const uint16_t* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                          float* scratch);
  // Products over the packed layouts (kernels.h, pack_weights), by DType:
  // job.w points at the packed matrix, n0 and n1 are multiples of 16. Null
  // where the ISA has none (kPortablePacked serves: a packed model's rows
  // may be gone).
  MatmulRangeFn matmul_packed[4];
};

void attend_scalar(const float* q, const float* const* kblk, const float* const* vblk, int64_t n_ctx,
                   int64_t bs, int64_t D, float scale, float* out, float* scratch);
void attend_f16_scalar(const float* q, const uint16_t* const* kblk, const uint16_t* const* vblk, int64_t n_ctx,
                       int64_t bs, int64_t D, float scale, float* out, float* scratch);
void to_f16_scalar(const float* x, uint16_t* out, int64_t n);
void attend_tile_scalar(int nq, const float* const* q, const int64_t* n_ctx, const float* const* kblk,
                        const float* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                        float* scratch);
void attend_f16_tile_scalar(int nq, const float* const* q, const int64_t* n_ctx, const uint16_t* const* kblk,
                            const uint16_t* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                            float* scratch);

void silu_mul_scalar(const float* gate, const float* up, float* out, int64_t n);
// The packed kernels of every level without its own, by DType (null: no
// packed layout); each gives the AVX-512 kernel's bits.
extern const MatmulRangeFn kPortablePacked[4];
#if defined(__x86_64__) || defined(_M_X64)
void silu_mul_avx2(const float* gate, const float* up, float* out, int64_t n);  // also used at avx512
void attend_avx2(const float* q, const float* const* kblk, const float* const* vblk, int64_t n_ctx,
                 int64_t bs, int64_t D, float scale, float* out, float* scratch);
void attend_f16_avx2(const float* q, const uint16_t* const* kblk, const uint16_t* const* vblk, int64_t n_ctx,
                     int64_t bs, int64_t D, float scale, float* out, float* scratch);
void to_f16_avx2(const float* x, uint16_t* out, int64_t n);  // also used at avx512
void attend_tile_avx2(int nq, const float* const* q, const int64_t* n_ctx, const float* const* kblk,
                      const float* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                      float* scratch);
void attend_f16_tile_avx2(int nq, const float* const* q, const int64_t* n_ctx, const uint16_t* const* kblk,
                          const uint16_t* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                          float* scratch);
#endif

#if defined(__x86_64__) || defined(_M_X64)
// attention_avx512.cc: the AVX-512 attention (scratch: >= attn_tile_scratch(bs, D)).
void attend_avx512(const float* q, const float* const* kblk, const float* const* vblk, int64_t n_ctx,
                   int64_t bs, int64_t D, float scale, float* out, float* scratch);
void attend_f16_avx512(const float* q, const uint16_t* const* kblk, const uint16_t* const* vblk, int64_t n_ctx,
                       int64_t bs, int64_t D, float scale, float* out, float* scratch);
void attend_tile_avx512(int nq, const float* const* q, const int64_t* n_ctx, const float* const* kblk,
                        const float* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                        float* scratch);
void attend_f16_tile_avx512(int nq, const float* const* q, const int64_t* n_ctx, const uint16_t* const* kblk,
                            const uint16_t* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                            float* scratch);
// matmul_packed_avx512.cc: the AVX-512 kernels over the packed layouts.
void mm_q8x16_avx512(const MatmulJob& j, int64_t n0, int64_t n1, float* scratch);
void mm_f16x16_avx512(const MatmulJob& j, int64_t n0, int64_t n1, float* scratch);
void mm_bf16x16_avx512(const MatmulJob& j, int64_t n0, int64_t n1, float* scratch);
#endif

extern const IsaKernels kScalarKernels;
#if defined(__x86_64__) || defined(_M_X64)
extern const IsaKernels kAvx2Kernels;
extern const IsaKernels kAvx512Kernels;
#endif

// The table for the current level (see simd_level()).
const IsaKernels& isa();

// Levels: 0 scalar, 1 avx2, 2 avx512.
int simd_level_index();
int simd_max_supported();
// Sets the level by name; fails (returns false) for an unknown name or a
// level the CPU does not support.
bool set_simd_level(const char* name);

}  // namespace cpu
}  // namespace hs
