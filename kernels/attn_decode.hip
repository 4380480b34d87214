// Paged attention for decode (one query token per sequence), split over the
// KV blocks so that long contexts still fill the GPU:
//
//   context of seq i:  [blk0][blk1][blk2][blk3][blk4][blk5][blk6] ...
//   splits (bps = 2):  |-- split 0 --|-- split 1 --|-- split 2 --| ...
//
//   pass 1, grid (head, seq, split): scores of the split's tokens in shared
//     memory, then partials[seq][head][split] = { m, l, acc[D] } with
//     m = max score, l = sum exp(s - m), acc = sum exp(s - m) * v
//   pass 2, grid (head, seq): merge the splits (rescale to the global max)
//
// The KV cache layout is native/README.md's: [block][kv_head][slot][D].
#include "hs_reduce.h"
#include "launchers.h"

namespace hs {
namespace hipk {

constexpr int kDecodeThreads = 128;
constexpr int kMaxHeadDim = 256;

inline int64_t num_splits(int32_t max_seq_len, int32_t block_size, int32_t bps) {
  const int64_t blocks = (static_cast<int64_t>(max_seq_len) + block_size - 1) / block_size;
  return blocks < 1 ? 1 : (blocks + bps - 1) / bps;
}

__global__ void attn_decode_split(dptr<const float> q, dptr<const float> kc, dptr<const float> vc,
                                  dptr<const int32_t> query_start, dptr<const int32_t> positions,
                                  dptr<const int32_t> block_tables, int32_t max_blocks,
                                  int32_t H, int32_t KVH, int32_t D, int32_t bs, float scale,
                                  int32_t bps, dptr<float> partials) {
  HS_DYNAMIC_SHARED(float, scores);  // bps * bs floats
  __shared__ float qs[kMaxHeadDim];
  const int32_t h = blockIdx.x, seq = blockIdx.y, split = blockIdx.z;
  const int32_t splits = gridDim.z;
  const int tid = threadIdx.x, nt = blockDim.x;
  const int32_t t = query_start[seq];
  const int64_t n_ctx = static_cast<int64_t>(positions[t]) + 1;
  const int64_t j0 = static_cast<int64_t>(split) * bps * bs;
  const int64_t j1 = n_ctx < j0 + static_cast<int64_t>(bps) * bs ? n_ctx : j0 + static_cast<int64_t>(bps) * bs;
  const int32_t kvh = h / (H / KVH);
  dptr<float> part = partials + ((static_cast<int64_t>(seq) * H + h) * splits + split) * (D + 2);
  for (int d = tid; d < D; d += nt) qs[d] = q[(static_cast<int64_t>(t) * H + h) * D + d];
  __syncthreads();
  float local_max = -INFINITY;
  for (int64_t j = j0 + tid; j < j1; j += nt) {
    const int64_t blk = block_tables[static_cast<int64_t>(seq) * max_blocks + j / bs];
    dptr<const float> kr = kc + ((blk * KVH + kvh) * bs + j % bs) * D;
    float s = 0.0f;
    for (int d = 0; d < D; ++d) s += qs[d] * kr[d];
    s *= scale;
    scores[j - j0] = s;
    local_max = fmaxf(local_max, s);
  }
  const float m = block_max(local_max);  // its barriers also publish `scores`
  float local_l = 0.0f;
  for (int64_t j = j0 + tid; j < j1; j += nt) {
    const float p = expf(scores[j - j0] - m);
    scores[j - j0] = p;
    local_l += p;
  }
  const float l = block_sum(local_l);
  for (int d = tid; d < D; d += nt) {
    float acc = 0.0f;
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t blk = block_tables[static_cast<int64_t>(seq) * max_blocks + j / bs];
      acc += scores[j - j0] * vc[((blk * KVH + kvh) * bs + j % bs) * D + d];
    }
    part[2 + d] = acc;
  }
  if (tid == 0) {
    part[0] = j1 > j0 ? m : -INFINITY;  // an empty split contributes nothing
    part[1] = j1 > j0 ? l : 0.0f;
  }
}

__global__ void attn_decode_merge(dptr<const float> partials, dptr<const int32_t> query_start,
                                  int32_t H, int32_t D, int32_t splits, dptr<float> out) {
  const int32_t h = blockIdx.x, seq = blockIdx.y;
  dptr<const float> base = partials + (static_cast<int64_t>(seq) * H + h) * splits * (D + 2);
  float m = -INFINITY;
  for (int32_t s = 0; s < splits; ++s) m = fmaxf(m, base[s * (D + 2)]);
  float l = 0.0f;
  for (int32_t s = 0; s < splits; ++s) {
    const float ms = base[s * (D + 2)];
    if (ms > -INFINITY) l += base[s * (D + 2) + 1] * expf(ms - m);
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  const int64_t t = query_start[seq];
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float acc = 0.0f;
    for (int32_t s = 0; s < splits; ++s) {
      const float ms = base[s * (D + 2)];
      if (ms > -INFINITY) acc += base[s * (D + 2) + 2 + d] * expf(ms - m);
    }
    out[(t * H + h) * D + d] = acc * inv;
  }
}

int64_t decode_partials_floats(const AttnArgs& a, int32_t max_seq_len, int32_t blocks_per_split) {
  return static_cast<int64_t>(a.num_seqs) * a.n_heads *
         num_splits(max_seq_len, a.block_size, blocks_per_split) * (a.head_dim + 2);
}

hipError_t launch_attn_decode(hipStream_t s, const float* q, const float* k_cache,
                              const float* v_cache, const AttnArgs& a, int32_t max_seq_len,
                              int32_t blocks_per_split, float* partials, float* out) {
  if (a.num_seqs == 0) return hipSuccess;
  if (a.head_dim > kMaxHeadDim || blocks_per_split < 1 || a.n_kv_heads < 1 ||
      a.n_heads % a.n_kv_heads != 0)
    return hipErrorInvalidValue;
  const int64_t splits = num_splits(max_seq_len, a.block_size, blocks_per_split);
  const size_t shared = static_cast<size_t>(blocks_per_split) * a.block_size * sizeof(float);
  hipLaunchKernelGGL(attn_decode_split,
                     dim3(static_cast<uint32_t>(a.n_heads), static_cast<uint32_t>(a.num_seqs),
                          static_cast<uint32_t>(splits)),
                     dim3(kDecodeThreads), shared, s, q, k_cache, v_cache, a.query_start,
                     a.positions, a.block_tables, a.max_blocks, a.n_heads, a.n_kv_heads,
                     a.head_dim, a.block_size, a.scale, blocks_per_split, partials);
  const hipError_t e = hipGetLastError();
  if (e != hipSuccess) return e;
  hipLaunchKernelGGL(attn_decode_merge,
                     dim3(static_cast<uint32_t>(a.n_heads), static_cast<uint32_t>(a.num_seqs)),
                     dim3(64), 0, s, partials, a.query_start, a.n_heads, a.head_dim,
                     static_cast<int32_t>(splits), out);
  return hipGetLastError();
}

}  // namespace hipk
}  // namespace hs
