// Host-side entry points of kernels/*.hip: one launcher per kernel, called by
// the HIP backend's host code (native/hip/) and by the emulator's test
// bindings. Every pointer is device memory; every launcher returns the launch
// status (hipGetLastError) and leaves synchronization to the caller. Shapes
// and layouts are those of native/src/cpu/kernels.h and native/README.md so
// the CPU backend is the reference for each one.
#pragma once

#include "hs_hip_compat.h"

namespace hs {
namespace hipk {

// Same numbering as hs::DType (cpu/kernels.h): F32, F16, BF16, Q8_0.
enum WDType : int32_t { kF32 = 0, kF16 = 1, kBF16 = 2, kQ8_0 = 3 };

// ---- elementwise.hip ----
// out[t][:] = dequant(table row ids[t]); ids must be in [0, rows) (the host
// checks them: they come from the host).
hipError_t launch_embed(hipStream_t s, int32_t dtype, const void* table, int64_t cols,
                        const int32_t* ids, int64_t T, float* out);
// out[i] = silu(gate[i]) * up[i]
hipError_t launch_silu_mul(hipStream_t s, const float* gate, const float* up, float* out, int64_t n);
// y[i] += x[i]
hipError_t launch_add(hipStream_t s, float* y, const float* x, int64_t n);
// x[r][c] += bias[c]
hipError_t launch_add_bias(hipStream_t s, float* x, const float* bias, int64_t rows, int64_t cols);
// k/v [T][n_kv][D] -> one layer's cache [blocks][n_kv][block_size][D] at slots
hipError_t launch_kv_write(hipStream_t s, const float* k, const float* v, const int32_t* slots,
                           int64_t T, int32_t n_kv, int32_t head_dim, int32_t block_size,
                           float* k_cache, float* v_cache);

// ---- rmsnorm.hip ---- (also the q/k norm: rows = T * heads, dim = head_dim)
hipError_t launch_rmsnorm(hipStream_t s, const float* x, const float* w, float* y, int64_t rows,
                          int64_t dim, float eps);

// ---- rope.hip ----
struct RopeArgs {
  float theta = 10000.0f;
  int32_t style = 0;  // 0 Neox (i, i + rd/2), 1 Interleaved (2i, 2i + 1)
  int32_t rotary_dim = 0;
  float llama3_factor = 0.0f;
  float llama3_low = 1.0f;
  float llama3_high = 4.0f;
  int32_t llama3_original_max_pos = 8192;
};
hipError_t launch_rope(hipStream_t s, float* x, const int32_t* positions, int64_t T,
                       int32_t n_heads, int32_t head_dim, const RopeArgs& a);

// ---- gemv.hip ----  y[M][N] = x[M][K] . W^T, W [N][K] in its file layout
hipError_t launch_gemv(hipStream_t s, int32_t dtype, const void* w, int64_t N, int64_t K,
                       const float* x, int64_t M, float* y);

// ---- gemm_tiled.hip ---- y[M][N] = x[M][K] . W^T without rocBLAS
hipError_t launch_gemm_tiled(hipStream_t s, const float* x, int64_t M, int64_t K, int32_t dtype,
                             const void* w, int64_t N, float* y);
// out[i] = x[i] as f16 or bf16 bits (dtype kF16 / kBF16), round to nearest even
hipError_t launch_to_half(hipStream_t s, int32_t dtype, const float* x, int64_t n, uint16_t* out);

// ---- attention (attn_decode.hip, attn_prefill.hip) ----
struct AttnArgs {
  int32_t num_seqs = 0;
  const int32_t* query_start = nullptr;   // [S+1]
  const int32_t* seq_lens = nullptr;      // [S]
  const int32_t* block_tables = nullptr;  // [S * max_blocks]
  const int32_t* positions = nullptr;     // [T]; token t sees positions 0..positions[t]
  int32_t max_blocks = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;  // <= 256
  int32_t block_size = 0;
  float scale = 0.0f;
};
// Decode: every sequence has exactly one query token. The KV range is split
// into chunks of `blocks_per_split` cache blocks, each chunk reduced by its
// own thread block into `partials` (device scratch of
// decode_partials_floats() floats), then merged.
int64_t decode_partials_floats(const AttnArgs& a, int32_t max_seq_len, int32_t blocks_per_split);
hipError_t launch_attn_decode(hipStream_t s, const float* q, const float* k_cache,
                              const float* v_cache, const AttnArgs& a, int32_t max_seq_len,
                              int32_t blocks_per_split, float* partials, float* out);
// Prefill (any query lengths, causal): tiles of queries against tiles of
// keys in shared memory, online softmax. max_query_len = longest chunk.
hipError_t launch_attn_prefill(hipStream_t s, const float* q, const float* k_cache,
                               const float* v_cache, const AttnArgs& a, int32_t max_query_len,
                               float* out);

// ---- sample.hip ---- see that file for the pipeline
struct SampleArgs {
  int32_t num_seqs = 0;
  int32_t vocab = 0;
  const float* temperature = nullptr;  // [S]
  const float* top_p = nullptr;
  const int32_t* top_k = nullptr;
  const float* min_p = nullptr;
  const float* presence = nullptr;
  const float* frequency = nullptr;
  const float* repetition = nullptr;
  const uint32_t* seeds = nullptr;         // [S][2]: low, high words
  const int32_t* sample_index = nullptr;   // [S]
  const int32_t* num_logprobs = nullptr;   // [S]
  const int32_t* output_tokens = nullptr;  // flat + [S+1] starts
  const int32_t* output_start = nullptr;
  const int32_t* prompt_tokens = nullptr;
  const int32_t* prompt_start = nullptr;
  const int32_t* banned = nullptr;
  const int32_t* banned_start = nullptr;
  const int32_t* bias = nullptr;  // logit_bias: ids strictly increasing per row
  const float* bias_values = nullptr;
  const int32_t* bias_start = nullptr;
  int32_t top_n = 0;  // columns of top_ids / top_logprobs
};
// logits [S][vocab] (modified in place); scratch holds sample_scratch_floats().
int64_t sample_scratch_floats(const SampleArgs& a);
hipError_t launch_sample(hipStream_t s, float* logits, const SampleArgs& a, float* scratch,
                         int32_t* token, float* logprob, int32_t* top_ids, float* top_logprobs);
// Prompt logprobs: for each of `rows` rows of raw logits [rows][vocab], the
// logprob of targets[r], its vocab rank (1 + the tokens with a larger logit)
// and the top min(nlp[r], top_n) (ids -1 / -inf past a row's own N), as
// launch_sample reports a sampled token's.
hipError_t launch_prompt_logprobs(hipStream_t s, const float* logits, int32_t rows, int32_t vocab, const int32_t* targets,
                                  const int32_t* nlp, int32_t top_n, float* logprob, int32_t* rank, int32_t* top_ids,
                                  float* top_logprobs);

// ---- probe.hip ---- execution-model probes for the tests (see the file)
hipError_t launch_iota(hipStream_t s, int32_t* out, int64_t n);
hipError_t launch_probe(hipStream_t s, int32_t kind, int32_t blocks, int32_t threads, int32_t* out);

}  // namespace hipk
}  // namespace hs
