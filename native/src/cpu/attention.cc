// KV-cache writes and paged attention over the layout of native/README.md:
//
//   k_cache (one layer) = [block][kv_head][slot in block][head_dim]  f32 or f16
//
//   seq i, position j  ->  block = block_tables[i * max_blocks + j / block_size]
//                          row   = ((block * n_kv_heads + kv_head) * block_size
//                                   + j % block_size) * head_dim
//
// One work item per tile of up to kTileQ queries (tokens of one sequence x
// query heads of one kv head), run over the pool. Each query walks
// its sequence's blocks in order with an online softmax (running max m,
// running denominator l, output accumulator o rescaled when m grows), so no
// score buffer longer than one block is needed. An item depends only on its
// own sequence: results do not change with what else is in the batch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/internal.h"

namespace hs {
namespace cpu {

void attend_scalar(const float* q, const float* const* kblk, const float* const* vblk, int64_t n_ctx,
                   int64_t bs, int64_t D, float scale, float* out, float* scores) {
  const IsaKernels& k = kScalarKernels;
  std::fill(out, out + D, 0.0f);
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
  for (int64_t j0 = 0, blk = 0; j0 < n_ctx; j0 += bs, ++blk) {
    const int64_t n = std::min(bs, n_ctx - j0);
    float bmax = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) {
      scores[i] = k.dot(q, kblk[blk] + i * D, D) * scale;
      bmax = std::max(bmax, scores[i]);
    }
    if (bmax > m) {
      // rescale what was accumulated under the old max (exp(-inf) = 0 at first)
      const float r = std::exp(m - bmax);
      l *= r;
      for (int64_t d = 0; d < D; ++d) out[d] *= r;
      m = bmax;
    }
    for (int64_t i = 0; i < n; ++i) {
      const float p = std::exp(scores[i] - m);
      l += p;
      k.scale_axpy(out, 1.0f, p, vblk[blk] + i * D, D);
    }
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int64_t d = 0; d < D; ++d) out[d] *= inv;
}

// Scalar f16 attention: each key and value row is widened into scratch and
// then goes through the f32 path's dot and axpy, so the arithmetic is
// attend_scalar's on the widened rows.
void attend_f16_scalar(const float* q, const uint16_t* const* kblk, const uint16_t* const* vblk, int64_t n_ctx,
                       int64_t bs, int64_t D, float scale, float* out, float* scratch) {
  const IsaKernels& k = kScalarKernels;
  float* scores = scratch;
  float* row = scratch + bs + 8;  // [D]
  std::fill(out, out + D, 0.0f);
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
  auto widen = [&](const uint16_t* h) {
    for (int64_t d = 0; d < D; ++d) row[d] = f16_to_f32(h[d]);
    return row;
  };
  for (int64_t j0 = 0, blk = 0; j0 < n_ctx; j0 += bs, ++blk) {
    const int64_t n = std::min(bs, n_ctx - j0);
    float bmax = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) {
      scores[i] = k.dot(q, widen(kblk[blk] + i * D), D) * scale;
      bmax = std::max(bmax, scores[i]);
    }
    if (bmax > m) {
      const float r = std::exp(m - bmax);
      l *= r;
      for (int64_t d = 0; d < D; ++d) out[d] *= r;
      m = bmax;
    }
    for (int64_t i = 0; i < n; ++i) {
      const float p = std::exp(scores[i] - m);
      l += p;
      k.scale_axpy(out, 1.0f, p, widen(vblk[blk] + i * D), D);
    }
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int64_t d = 0; d < D; ++d) out[d] *= inv;
}

void to_f16_scalar(const float* x, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_f16(x[i]);
}

namespace {

// K and V rows of kv head h of one token into slot `slot` of the cache.
void write_kv_row(const float* k, const float* v, int64_t slot, int64_t h, const AttnShape& s, DType kv_dtype,
                  void* k_cache, void* v_cache) {
  const int64_t D = s.head_dim, H = s.n_kv_heads, bs = s.block_size;
  const int64_t block = slot / bs, off = slot % bs;
  // Invariant: slot < num_blocks * block_size (check_attn_batch), so the row lies inside the layer's cache.
  const size_t dst = static_cast<size_t>(((block * H + h) * bs + off) * D);
  if (kv_dtype == DType::F16) {
    const IsaKernels& isa_k = isa();
    isa_k.to_f16(k, static_cast<uint16_t*>(k_cache) + dst, D);
    isa_k.to_f16(v, static_cast<uint16_t*>(v_cache) + dst, D);
    return;
  }
  std::memcpy(static_cast<float*>(k_cache) + dst, k, static_cast<size_t>(D) * sizeof(float));
  std::memcpy(static_cast<float*>(v_cache) + dst, v, static_cast<size_t>(D) * sizeof(float));
}

}  // namespace

void kv_write(const float* k, const float* v, const int32_t* slot_mapping, int64_t T,
              const AttnShape& s, DType kv_dtype, void* k_cache, void* v_cache) {
  const int64_t D = s.head_dim, H = s.n_kv_heads;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t slot = slot_mapping[t];
    if (slot < 0) continue;  // padding token: nothing to store
    for (int64_t h = 0; h < H; ++h) {
      write_kv_row(k + (t * H + h) * D, v + (t * H + h) * D, slot, h, s, kv_dtype, k_cache, v_cache);
    }
  }
}

namespace {

struct AttnCtx {
  const float* q;
  DType kv_dtype;
  const void* k_cache;
  const void* v_cache;
  const AttnBatch* b;
  const AttnShape* s;
  float* out;
};

// Pointers to block j's rows of this kv head, keys in [0, nb), values in [nb, 2nb).
template <class E>
void block_rows(const AttnCtx& c, const int32_t* table, int64_t nb, int64_t kvh, std::vector<const E*>& ptrs) {
  const AttnShape& s = *c.s;
  const int64_t D = s.head_dim, KVH = s.n_kv_heads, bs = s.block_size;
  ptrs.resize(2 * nb);
  for (int64_t j = 0; j < nb; ++j) {
    // Invariant: table[j] < num_blocks (check_attn_batch), so the rows lie in the layer's pool.
    const size_t base = static_cast<size_t>((table[j] * KVH + kvh) * bs) * D;
    ptrs[j] = static_cast<const E*>(c.k_cache) + base;
    ptrs[nb + j] = static_cast<const E*>(c.v_cache) + base;
  }
}

// A tile: up to kTileQ queries of one sequence that read one kv head's rows,
// numbered token-major then by query head within the kv head's group.
struct Tile {
  int32_t seq;
  int32_t kvh;
  int32_t first;  // index into the (token, head-in-group) numbering of seq
  int32_t count;
};

void attend_tile(const AttnCtx& c, const Tile& tl, float* scratch, std::vector<const float*>& fptrs,
                 std::vector<const uint16_t*>& hptrs) {
  const AttnShape& s = *c.s;
  const int64_t D = s.head_dim, H = s.n_heads, G = s.n_heads / s.n_kv_heads, bs = s.block_size;
  const int32_t* table = c.b->block_tables + static_cast<int64_t>(tl.seq) * c.b->max_blocks;
  const int64_t q0 = c.b->query_start[tl.seq];
  const float* q[kTileQ];
  float* out[kTileQ];
  int64_t n_ctx[kTileQ];
  int64_t n_max = 0;
  for (int j = 0; j < tl.count; ++j) {
    const int64_t k = tl.first + j;
    const int64_t t = q0 + k / G, h = tl.kvh * G + k % G;
    q[j] = c.q + (t * H + h) * D;
    out[j] = c.out + (t * H + h) * D;
    n_ctx[j] = static_cast<int64_t>(c.b->positions[t]) + 1;  // causal: 0..pos
    n_max = std::max(n_max, n_ctx[j]);
  }
  const int64_t nb = (n_max + bs - 1) / bs;
  const IsaKernels& k = isa();
  // A tile of one goes to the single-row kernel inside the tile entries.
  if (c.kv_dtype == DType::F16) {
    block_rows(c, table, nb, tl.kvh, hptrs);
    k.attend_f16_tile(tl.count, q, n_ctx, hptrs.data(), hptrs.data() + nb, bs, D, s.scale, out, scratch);
  } else {
    block_rows(c, table, nb, tl.kvh, fptrs);
    k.attend_tile(tl.count, q, n_ctx, fptrs.data(), fptrs.data() + nb, bs, D, s.scale, out, scratch);
  }
}

}  // namespace

void attend_tile_scalar(int nq, const float* const* q, const int64_t* n_ctx, const float* const* kblk,
                        const float* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                        float* scratch) {
  for (int t = 0; t < nq; ++t) attend_scalar(q[t], kblk, vblk, n_ctx[t], bs, D, scale, out[t], scratch);
}

void attend_f16_tile_scalar(int nq, const float* const* q, const int64_t* n_ctx, const uint16_t* const* kblk,
                            const uint16_t* const* vblk, int64_t bs, int64_t D, float scale, float* const* out,
                            float* scratch) {
  for (int t = 0; t < nq; ++t) attend_f16_scalar(q[t], kblk, vblk, n_ctx[t], bs, D, scale, out[t], scratch);
}

void paged_attention(ThreadPool* pool, const float* q, DType kv_dtype, const void* k_cache,
                     const void* v_cache, const AttnBatch& b, const AttnShape& s, float* out) {
  // Tiles in sequence order; a tile's queries share every key and value row
  // they read, so the ISA kernel widens each row once for all of them.
  static thread_local std::vector<Tile> tiles;
  tiles.clear();
  const int32_t G = s.n_heads / s.n_kv_heads;
  for (int32_t i = 0; i < b.num_seqs; ++i) {
    const int32_t n = (b.query_start[i + 1] - b.query_start[i]) * G;
    for (int32_t g = 0; g < s.n_kv_heads; ++g) {
      for (int32_t f = 0; f < n; f += kTileQ) tiles.push_back(Tile{i, g, f, std::min(kTileQ, n - f)});
    }
  }
  AttnCtx c{q, kv_dtype, k_cache, v_cache, &b, &s, out};
  // A thread_local is not captured: the workers must see the caller's list.
  const Tile* tile = tiles.data();
  parallel_for(pool, static_cast<int64_t>(tiles.size()), [&](int64_t i0, int64_t i1, int) {
    static thread_local std::vector<float> scratch;
    static thread_local std::vector<const float*> fptrs;
    static thread_local std::vector<const uint16_t*> hptrs;
    const auto need = static_cast<size_t>(attn_tile_scratch(s.block_size, s.head_dim));
    if (scratch.size() < need) scratch.resize(need);
    for (int64_t i = i0; i < i1; ++i) attend_tile(c, tile[i], scratch.data(), fptrs, hptrs);
  });
}

bool one_token_per_sequence(const AttnBatch& b) {
  if (b.num_tokens != b.num_seqs) return false;
  for (int32_t i = 0; i < b.num_seqs; ++i) {
    if (b.query_start[i + 1] - b.query_start[i] != 1) return false;
  }
  return true;
}

void decode_attention(ThreadPool* pool, float* q, float* k, const float* v, const int32_t* slot_mapping,
                      const RopeParams& rope, const float* rope_rows, DType kv_dtype, void* k_cache, void* v_cache,
                      const AttnBatch& b, const AttnShape& s, float* out) {
  // One item per (token, kv head): its G query heads share the kv head's rows.
  const int32_t G = s.n_heads / s.n_kv_heads;
  const int64_t D = s.head_dim, Hq = s.n_heads, Hk = s.n_kv_heads;
  const int64_t row = rope_row_floats(rope, D);
  const AttnCtx c{q, kv_dtype, k_cache, v_cache, &b, &s, out};
  parallel_for(pool, static_cast<int64_t>(b.num_seqs) * Hk, [&](int64_t i0, int64_t i1, int) {
    static thread_local std::vector<float> scratch;
    static thread_local std::vector<const float*> fptrs;
    static thread_local std::vector<const uint16_t*> hptrs;
    const auto need = static_cast<size_t>(attn_tile_scratch(s.block_size, s.head_dim));
    if (scratch.size() < need) scratch.resize(need);
    for (int64_t i = i0; i < i1; ++i) {
      // Invariant: sequence t has one query token, token t (one_token_per_sequence, the caller's check).
      const int64_t t = i / Hk, g = i % Hk;
      const float* cs = rope_rows + t * row;
      rope_token(q + (t * Hq + g * G) * D, G, D, rope, cs);
      float* kr = k + (t * Hk + g) * D;
      rope_token(kr, 1, D, rope, cs);
      const int64_t slot = slot_mapping[t];
      if (slot >= 0) write_kv_row(kr, v + (t * Hk + g) * D, slot, g, s, kv_dtype, k_cache, v_cache);
      // The tiles paged_attention makes of this (sequence, kv head): kTileQ queries at most.
      for (int32_t f = 0; f < G; f += kTileQ) {
        const Tile tl{static_cast<int32_t>(t), static_cast<int32_t>(g), f, std::min(kTileQ, G - f)};
        attend_tile(c, tl, scratch.data(), fptrs, hptrs);
      }
    }
  });
}

}  // namespace cpu
}  // namespace hs

namespace hs {
namespace cpu {

const char* check_attn_batch(const AttnBatch& b, const AttnShape& s, int64_t num_blocks,
                             const int32_t* slot_mapping) {
  if (s.n_heads < 1 || s.n_kv_heads < 1 || s.n_heads % s.n_kv_heads != 0) {
    return "n_heads must be a positive multiple of n_kv_heads";
  }
  if (s.head_dim < 1 || s.block_size < 1) return "head_dim and block_size must be >= 1";
  if (b.num_seqs < 0 || b.num_tokens < 0 || b.max_blocks < 0) return "negative batch sizes";
  if (b.query_start[0] != 0 || b.query_start[b.num_seqs] != b.num_tokens) {
    return "query_start must start at 0 and end at num_tokens";
  }
  for (int32_t i = 0; i < b.num_seqs; ++i) {
    const int32_t q0 = b.query_start[i], q1 = b.query_start[i + 1];
    if (q1 < q0) return "query_start must not decrease";
    const int64_t len = b.seq_lens[i];
    if (q1 > q0 && len < 1) return "a sequence with tokens has seq_len < 1";
    if (len > static_cast<int64_t>(b.max_blocks) * s.block_size) return "seq_len exceeds its block table";
    for (int32_t t = q0; t < q1; ++t) {
      if (b.positions[t] < 0 || b.positions[t] >= len) return "a position is outside [0, seq_len)";
    }
    const int64_t used = (len + s.block_size - 1) / s.block_size;
    for (int64_t j = 0; j < used; ++j) {
      const int32_t blk = b.block_tables[static_cast<int64_t>(i) * b.max_blocks + j];
      if (blk < 0 || blk >= num_blocks) return "a block id is outside the cache";
    }
  }
  if (slot_mapping != nullptr) {
    for (int32_t t = 0; t < b.num_tokens; ++t) {
      if (slot_mapping[t] >= num_blocks * s.block_size) return "a slot is outside the cache";
    }
  }
  return nullptr;
}

}  // namespace cpu
}  // namespace hs
