// Prefill attention over the paged cache: causal, tiled, online softmax.
//
//   grid (query tile, head, seq); one thread per query row of the tile
//   for each KV tile of kPrefillTk tokens (up to the tile's last position):
//       the block loads K and V rows into shared memory   [Tk][D] x 2
//       each thread scores its query against them (j <= its position),
//       then rescales its running (m, l, acc) -- the online softmax
//
//   shared:  | K tile: Tk x D floats | V tile: Tk x D floats |  (dynamic)
//
// A chunk attends to cached blocks and to itself alike (kv_write for this
// step has already stored its K and V), so one kernel serves every chunk.
#include "launchers.h"

namespace hs {
namespace hipk {

constexpr int kPrefillTq = 64;  // queries per block = threads per block
constexpr int kPrefillTk = 16;  // keys per shared-memory tile
constexpr int kPrefillMaxD = 256;

__global__ void attn_prefill_kernel(dptr<const float> q, dptr<const float> kc, dptr<const float> vc,
                                    dptr<const int32_t> query_start, dptr<const int32_t> positions,
                                    dptr<const int32_t> block_tables, int32_t max_blocks,
                                    int32_t H, int32_t KVH, int32_t D, int32_t bs, float scale,
                                    dptr<float> out) {
  HS_DYNAMIC_SHARED(float, tile);  // 2 * kPrefillTk * D floats
  const int32_t h = blockIdx.y, seq = blockIdx.z;
  const int tid = threadIdx.x;
  const int64_t q0 = query_start[seq], q1 = query_start[seq + 1];
  const int64_t first = q0 + static_cast<int64_t>(blockIdx.x) * kPrefillTq;
  if (first >= q1) return;  // the whole block leaves before any barrier
  const int64_t last = first + kPrefillTq <= q1 ? first + kPrefillTq - 1 : q1 - 1;
  const int64_t t = first + tid;
  const bool active = t <= last;
  const int32_t kvh = h / (H / KVH);
  // Positions grow along a chunk, so the tile's last query sees the most.
  const int64_t n_ctx_tile = static_cast<int64_t>(positions[last]) + 1;
  const int64_t my_ctx = active ? static_cast<int64_t>(positions[t]) + 1 : 0;

  float qv[kPrefillMaxD];
  float acc[kPrefillMaxD];
  for (int d = 0; d < D; ++d) {
    qv[d] = active ? q[(t * H + h) * D + d] * scale : 0.0f;
    acc[d] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  dptr<float> ks = tile;
  dptr<float> vs = tile + kPrefillTk * D;
  for (int64_t j0 = 0; j0 < n_ctx_tile; j0 += kPrefillTk) {
    const int64_t n = n_ctx_tile - j0 < kPrefillTk ? n_ctx_tile - j0 : kPrefillTk;
    __syncthreads();  // the previous tile is no longer read
    for (int64_t i = tid; i < n * D; i += blockDim.x) {
      const int64_t j = j0 + i / D, d = i % D;
      const int64_t blk = block_tables[static_cast<int64_t>(seq) * max_blocks + j / bs];
      const int64_t src = ((blk * KVH + kvh) * bs + j % bs) * D + d;
      ks[i] = kc[src];
      vs[i] = vc[src];
    }
    __syncthreads();
    if (!active) continue;
    const int64_t valid = my_ctx - j0 < n ? my_ctx - j0 : n;
    if (valid <= 0) continue;
    float sc[kPrefillTk];
    float tmax = -INFINITY;
    for (int64_t j = 0; j < valid; ++j) {
      float s = 0.0f;
      for (int d = 0; d < D; ++d) s += qv[d] * ks[j * D + d];
      sc[j] = s;
      tmax = fmaxf(tmax, s);
    }
    if (tmax > m) {
      const float r = expf(m - tmax);  // 0 on the first tile (m = -inf)
      l *= r;
      for (int d = 0; d < D; ++d) acc[d] *= r;
      m = tmax;
    }
    for (int64_t j = 0; j < valid; ++j) {
      const float p = expf(sc[j] - m);
      l += p;
      for (int d = 0; d < D; ++d) acc[d] += p * vs[j * D + d];
    }
  }
  if (!active) return;
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int d = 0; d < D; ++d) out[(t * H + h) * D + d] = acc[d] * inv;
}

hipError_t launch_attn_prefill(hipStream_t s, const float* q, const float* k_cache,
                               const float* v_cache, const AttnArgs& a, int32_t max_query_len,
                               float* out) {
  if (a.num_seqs == 0 || max_query_len == 0) return hipSuccess;
  if (a.head_dim > kPrefillMaxD || a.n_kv_heads < 1 || a.n_heads % a.n_kv_heads != 0)
    return hipErrorInvalidValue;
  const dim3 grid(static_cast<uint32_t>((max_query_len + kPrefillTq - 1) / kPrefillTq),
                  static_cast<uint32_t>(a.n_heads), static_cast<uint32_t>(a.num_seqs));
  const size_t shared = 2 * static_cast<size_t>(kPrefillTk) * a.head_dim * sizeof(float);
  hipLaunchKernelGGL(attn_prefill_kernel, grid, dim3(kPrefillTq), shared, s, q, k_cache, v_cache,
                     a.query_start, a.positions, a.block_tables, a.max_blocks, a.n_heads,
                     a.n_kv_heads, a.head_dim, a.block_size, a.scale, out);
  return hipGetLastError();
}

}  // namespace hipk
}  // namespace hs
