// The CPU kernel contract: what the forward pass (native/src/model/) calls and
// what the kernels (native/src/cpu/*.cc) provide. Plain functions over raw
// buffers; callers own every buffer and guarantee the sizes stated per
// function. Kernels never allocate on the hot path except where noted, never
// throw, never abort.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>
#include <type_traits>

namespace hs {

enum class DType : int32_t { F32 = 0, F16 = 1, BF16 = 2, Q8_0 = 3 };

// Q8_0 as GGUF stores it: blocks of 32 weights, one f16 scale then 32 int8.
constexpr int64_t kQ8Block = 32;
struct BlockQ8_0 {
  uint16_t d;  // f16 bits of the scale
  int8_t qs[kQ8Block];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is 34 bytes");

const char* dtype_name(DType t);
// Parses "f32", "f16", "bf16", "q8_0"; false if unknown.
bool dtype_from_name(const char* name, DType* out);
// Bytes taken by `n` consecutive elements of a row (n % 32 == 0 for Q8_0).
size_t dtype_row_bytes(DType t, int64_t n);

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

// One row of n values between f32 and a dtype's file layout (Q8_0: n % 32
// == 0, GGUF's rounding: d = amax / 127 stored as f16, q = round(x / d)).
void quantize_row(DType t, const float* x, int64_t n, void* out);
void dequantize_row(DType t, const void* in, int64_t n, float* out);

// A weight matrix in its file layout: row-major [rows][cols], rows = output
// features (N), cols = input features (K), as HF and GGUF both store Linear
// weights. Invariant: `data` points at rows * dtype_row_bytes(dtype, cols)
// readable bytes that outlive every call using the view (the model's mmap).
struct WeightView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  // Optional (Q8_0, F16, BF16): the same matrix in the 16-row interleaved
  // layout of cpu::pack_weights. When set, every matmul reads it (each level
  // has a kernel for it) and `data` may be null: a CPU model keeps only the
  // packed copy of a matrix nothing else reads (model.cc).
  const void* packed = nullptr;
};

namespace cpu {

// Weights in groups of 16 rows ("x16"), for the AVX-512 kernels: each
// thread then reads one sequential stream, and one vector op covers the 16
// rows of a group (lane r = row 16g + r). Groups follow each other; the
// packed matrix has the row layout's size.
//
// Q8_0: group g, block b (columns 32b..32b+31) is 544 bytes:
//   [16 x f16 scale, row order][8 x (16 rows x 4 int8 + 128, as uint8)]
// i.e. chunk c (columns 32b+4c..+3) holds row r's 4 bytes at 32 + 64c + 4r.
// One vpdpbusd does 4 columns of 16 rows against 4 bytes of x broadcast,
// and x's correction (128 * sum of the block's int8) is shared by the rows.
//
// F16 / BF16: group g, column k is 32 bytes: the 16 rows' values, row order.
// One convert and one FMA per column cover the 16 rows.
constexpr int64_t kPackRows = 16;
constexpr int64_t kQ8x16BlockBytes = 544;
// Whether the current level has a SIMD kernel for dtype t's packed layout
// (the portable one serves the others: correct, slow).
bool packed_kernel(DType t);
// Whether w can be packed: Q8_0 (cols % 32 == 0), F16 or BF16, with
// rows % 16 == 0 and cols > 0.
bool packable(const WeightView& w);
// Writes groups [g0, g1) of w (row layout) packed into out, which holds the
// whole packed matrix (w.rows * row bytes of w); g1 < 0: to the last group.
void pack_weights(const WeightView& w, uint8_t* out, int64_t g0 = 0, int64_t g1 = -1);

// Which SIMD path run-time detection chose: "avx512", "avx2" or "scalar".
// HIPSERVE_SIMD=scalar|avx2|avx512 in the environment forces a lower path.
const char* simd_level();
// Switches the level at run time ("scalar", "avx2", "avx512"); false (and no
// change) for an unknown name or a level this CPU lacks. For tests and benches:
// not meant to be called while kernels run on other threads.
bool set_simd_level(const char* name);

// Whether the packed (AVX-512) kernels prefetch in software at batch 1
// (M == 1). Off on AMD family 0x19 (Zen 4 is the one with AVX-512, the only
// level with packed kernels): there the hardware prefetcher alone streams
// the weights faster (batch-1 Q8_0 decode +4-15% without it), and f16/bf16
// then read whole lines with no prefetch (x16_row: the same at ~31 GB/s,
// +5% in the VM's fast spells; bench/README.md). On by default elsewhere:
// the Zen 5 VM's distances were tuned with it (without it, measured there
// later on two CCDs: f16 -4%, Q8_0 -6% of a same-moment read), and the
// AVX2 VMs' hardware prefetcher left the row kernels at about half the
// read's rate without prefetches.
// HIPSERVE_DECODE_PREFETCH=0|1 overrides; set_decode_prefetch() is for
// tests and benches, not to be called while kernels run on other threads.
bool decode_prefetch();
void set_decode_prefetch(bool on);

// A fixed pool of worker threads (default: hardware threads). parallel_for
// splits [0, n) into contiguous chunks, runs fn(begin, end, thread_index) on
// the calling thread plus the workers, and returns when all are done.
// `chunks_per_thread` sets the split: several chunks per thread (the default,
// kBalancedChunks) balance work items of uneven cost and a worker that wakes
// late; kStreamChunks gives each thread one contiguous range, walked from the
// front, whose back half a thread that is done takes as its own range: for
// streams of equal cost where every jump restarts the memory stream (decode
// GEMVs, bench/README.md).
class ThreadPool;
ThreadPool* default_pool();
int pool_threads(ThreadPool* pool);
constexpr int kBalancedChunks = 4;
constexpr int kStreamChunks = 1;
void parallel_for(ThreadPool* pool, int64_t n,
                  void (*fn)(void* ctx, int64_t begin, int64_t end, int thread), void* ctx,
                  int chunks_per_thread = kBalancedChunks);
// Reads every byte of `spans` `passes` times over the pool: work items
// split as parallel_for splits them (kStreamChunks: one range per thread,
// as the decode GEMVs; or shared-counter chunks), plain 8-byte loads, with
// `prefetch` a software prefetch 2 KiB ahead. Without `task_spans`, the
// spans laid end to end in one task of 256 KiB items (the roofline's read:
// ops.readBandwidth, readWeights); with it, n_tasks tasks one after the
// other, task i reading the next task_spans[i] spans laid end to end in
// 16 KiB items, as a decode step's GEMV tasks run (readWeights' 'tasks';
// the task_spans add up to at most n_spans). Returns a checksum so that
// the loads are kept.
struct ReadSpan {
  const uint8_t* p = nullptr;
  int64_t bytes = 0;
};
uint64_t stream_read(ThreadPool* pool, const ReadSpan* spans, int n_spans, int64_t passes, bool prefetch,
                     int chunks_per_thread, const int32_t* task_spans = nullptr, int n_tasks = 0);
// The cache-line round trip between two of the pool's threads, in ns (the
// mean over `rounds` ping-pongs of one line), or a negative value when no
// second thread took part within 200 ms (a one-thread pool). Every pool task
// pays a few such trips; on the VMs measured here they tell where the host
// placed the two vCPUs (bench/README.md).
double pool_round_trip_ns(ThreadPool* pool, int64_t rounds);
// Runs `tasks` tasks of 1-97 tiny items over the pool (stream or balanced
// split, now and then a slow item, from `seed`) and returns how many items
// ran other than exactly once before their task returned, or ran again
// after it: 0 unless the pool's hand-off is broken.
int64_t pool_stress(ThreadPool* pool, int64_t tasks, uint64_t seed);
// Pools other than the default one (benches measure 1 vs 2 threads). The
// default pool has HIPSERVE_THREADS threads, else the hardware's count.
ThreadPool* create_pool(int threads);
void destroy_pool(ThreadPool* pool);
// Same as above with a lambda; fn(begin, end, thread).
template <class F>
void parallel_for(ThreadPool* pool, int64_t n, F&& fn, int chunks_per_thread = kBalancedChunks) {
  using Fn = std::remove_reference_t<F>;
  parallel_for(
      pool, n,
      [](void* ctx, int64_t b, int64_t e, int t) { (*static_cast<Fn*>(ctx))(b, e, t); },
      const_cast<void*>(static_cast<const void*>(&fn)), chunks_per_thread);
}

// y[M][N] = x[M][K] . W^T  (W is [N][K]); y must not alias x.
// Decode (M = 1) and prefill (M large) both go through here; the weights are
// read once per call however large M is.
void matmul(ThreadPool* pool, const float* x, int64_t M, const WeightView& w, float* y);
// ys[i][M][ws[i].rows] = x . ws[i]^T for `count` weights of the same cols,
// in one hand-off to the pool (q|k|v of a layer); each result equals matmul's.
void matmul_multi(ThreadPool* pool, const float* x, int64_t M, const WeightView* const* ws, float* const* ys,
                  int count);
// gate_out = silu(x . gate^T) * (x . up^T), up_out is scratch of the same
// size; one hand-off, each element equal to matmul + silu_mul.
void matmul_silu_mul(ThreadPool* pool, const float* x, int64_t M, const WeightView& gate, const WeightView& up,
                     float* gate_out, float* up_out);

// Gather rows of an embedding table (any dtype) into f32: out[T][cols].
// Returns false (and writes nothing) if an id is out of [0, rows).
bool embed(const WeightView& table, const int32_t* ids, int64_t T, float* out);

// y[r] = x[r] / rms(x[r]) * weight, over `rows` rows of `dim`; y may be x.
void rmsnorm(const float* x, const float* weight, float* y, int64_t rows, int64_t dim, float eps);

enum class RopeStyle : int32_t {
  Neox = 0,         // HF layout: pairs (i, i + D/2)
  Interleaved = 1,  // GGUF llama layout: pairs (2i, 2i + 1)
};
struct RopeParams {
  float theta = 10000.0f;
  RopeStyle style = RopeStyle::Neox;
  int32_t rotary_dim = 0;  // 0 = head_dim
  // Llama 3 rope_scaling ("rope_type": "llama3"); factor 0 = off.
  float llama3_factor = 0.0f;
  float llama3_low_freq_factor = 1.0f;
  float llama3_high_freq_factor = 4.0f;
  int32_t llama3_original_max_pos = 8192;
};
// x is [T][n_heads][head_dim]; rotates every head of token t by positions[t].
void rope(float* x, const int32_t* positions, int64_t T, int64_t n_heads, int64_t head_dim,
          const RopeParams& p);
// The same in two parts, so that a step computes the angles of its tokens
// once and rotates q and k of every layer with them: `table` gets, per
// token, cos then sin of each rotary pair ([T][2 * rotary_dim / 2]).
void rope_table(const int32_t* positions, int64_t T, int64_t head_dim, const RopeParams& p,
                std::vector<float>* table);
void rope_apply(float* x, int64_t T, int64_t n_heads, int64_t head_dim, const RopeParams& p,
                const std::vector<float>& table);
// The same for n_heads consecutive heads of ONE token, given that token's
// table row (rope_row_floats floats: cos then sin).
void rope_token(float* x, int64_t n_heads, int64_t head_dim, const RopeParams& p, const float* row);
// Floats in one token's row of rope_table: 2 * (rotary dim / 2).
int64_t rope_row_floats(const RopeParams& p, int64_t head_dim);

// out[i] = silu(gate[i]) * up[i]; out may alias gate.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);
// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t n);
// x[r][c] += bias[c]
void add_bias(float* x, const float* bias, int64_t rows, int64_t cols);

// Paged attention over the cache layout of native/README.md.
struct AttnBatch {
  int32_t num_seqs = 0;
  int32_t num_tokens = 0;
  const int32_t* query_start = nullptr;   // [S+1]
  const int32_t* seq_lens = nullptr;      // [S]
  const int32_t* block_tables = nullptr;  // [S * max_blocks]
  int32_t max_blocks = 0;
  const int32_t* positions = nullptr;     // [T]
};
struct AttnShape {
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;  // n_heads % n_kv_heads == 0 (GQA)
  int32_t head_dim = 0;
  int32_t block_size = 0;
  float scale = 0.0f;      // usually 1/sqrt(head_dim)
};
// Element type of a KV cache: F32, or F16 (half the memory and the bytes
// attention reads; llama.cpp's default too). Other dtypes are refused by the
// callers (kv_dtype_ok).
inline bool kv_dtype_ok(DType d) { return d == DType::F32 || d == DType::F16; }
inline size_t kv_elem_bytes(DType d) { return d == DType::F16 ? 2 : 4; }
// Writes k/v ([T][n_kv_heads][head_dim]) into the layer's caches at slots,
// rounded to nearest even when the cache is F16.
// k_cache/v_cache point at one layer's [num_blocks][n_kv_heads][block_size][head_dim].
void kv_write(const float* k, const float* v, const int32_t* slot_mapping, int64_t T,
              const AttnShape& s, DType kv_dtype, void* k_cache, void* v_cache);
// Checks a batch against a cache of num_blocks blocks before kv_write /
// paged_attention trust it: nullptr if consistent, else what is wrong
// (static text). slot_mapping may be null (then not checked).
const char* check_attn_batch(const AttnBatch& b, const AttnShape& s, int64_t num_blocks,
                             const int32_t* slot_mapping);
// q [T][n_heads][head_dim] -> out [T][n_heads][head_dim]. Token t of seq i at
// position p attends to positions 0..p of seq i (causal), all read from the
// cache (kv_write for this step must have run first).
// Scores and sums are f32 whatever the cache's dtype (f16 rows are widened
// exactly as they are read).
void paged_attention(ThreadPool* pool, const float* q, DType kv_dtype, const void* k_cache,
                     const void* v_cache, const AttnBatch& b, const AttnShape& s, float* out);
// Whether every sequence of b brings exactly one query token (a decode
// step: token t belongs to sequence t), decode_attention's precondition.
bool one_token_per_sequence(const AttnBatch& b);
// A decode step's RoPE, KV write and attention in one pool task (b must
// pass one_token_per_sequence). Per kv head of each token, in that head's
// work item: RoPE of its query heads and its key head (rope_token with the
// token's row of rope_rows, rope_table's output for the step's positions),
// its K and V rows into the cache at slot_mapping[t], then its attention;
// the same operations in the same order per head as rope_apply, kv_write
// and paged_attention, so the same bits. q and k are rotated in place.
void decode_attention(ThreadPool* pool, float* q, float* k, const float* v, const int32_t* slot_mapping,
                      const RopeParams& rope, const float* rope_rows, DType kv_dtype, void* k_cache, void* v_cache,
                      const AttnBatch& b, const AttnShape& s, float* out);

// Sampling, one row of logits per sequence that samples (see native/README.md
// for the pipeline order and parameter meanings).
struct SampleParams {
  float temperature = 0.0f;
  float top_p = 1.0f;
  int32_t top_k = 0;
  float min_p = 0.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float repetition_penalty = 1.0f;
  uint64_t seed = 0;
  int32_t sample_index = 0;
  int32_t num_logprobs = -1;
  const int32_t* output_tokens = nullptr;
  int32_t n_output_tokens = 0;
  const int32_t* prompt_tokens = nullptr;
  int32_t n_prompt_tokens = 0;
  const int32_t* banned = nullptr;
  int32_t n_banned = 0;
  const int32_t* bias_tokens = nullptr;  // logit_bias: ids in range, each once
  const float* bias_values = nullptr;
  int32_t n_bias = 0;
};
struct SampleResult {
  int32_t token = -1;
  float logprob = 0.0f;
  // top_ids/top_logprobs have room for `top_n` entries (caller-owned);
  // entries past num_logprobs are left as -1 / -inf.
  int32_t* top_ids = nullptr;
  float* top_logprobs = nullptr;
  int32_t top_n = 0;
};
// The per-sequence sampling arrays of a step (native/README.md): one value
// per sequence, and three ragged token lists given as values plus S+1
// offsets (a null list is empty for every sequence).
struct SampleBatch {
  const float* temperature = nullptr;
  const float* top_p = nullptr;
  const int32_t* top_k = nullptr;
  const float* min_p = nullptr;
  const float* presence_penalty = nullptr;
  const float* frequency_penalty = nullptr;
  const float* repetition_penalty = nullptr;
  const uint64_t* seeds = nullptr;
  const int32_t* sample_index = nullptr;
  const int32_t* num_logprobs = nullptr;
  const int32_t* output_tokens = nullptr;
  const int32_t* output_start = nullptr;
  const int32_t* prompt_tokens = nullptr;
  const int32_t* prompt_start = nullptr;
  const int32_t* banned_tokens = nullptr;
  const int32_t* banned_start = nullptr;
  const int32_t* bias_tokens = nullptr;  // with bias_values, offsets bias_start
  const float* bias_values = nullptr;
  const int32_t* bias_start = nullptr;
};
// Sequence i's parameters (a negative top_k reads as 0, off). Invariant: the
// caller validated the arrays' lengths and that each offset list is monotone
// and ends at its list's length.
SampleParams sample_params(const SampleBatch& b, size_t i);
// `logits` [vocab] is scratch: the sampler may modify it. `scratch` must hold
// at least 2 * vocab floats.
void sample(float* logits, int32_t vocab, const SampleParams& p, float* scratch, SampleResult& r);
// The logprob of `token` under the raw logits and the top `num_logprobs`
// (at most r.top_n), exactly as sample() reports a sampled token's: prompt
// logprobs use it. r.token is set to `token`.
void logprobs_of(const float* logits, int32_t vocab, int32_t token, int32_t num_logprobs, SampleResult& r);

// Counter-based RNG (Philox-4x32-10): uniform float in [0, 1) from
// (seed, counter), independent of any other state.
float philox_uniform(uint64_t seed, uint64_t counter);

}  // namespace cpu
}  // namespace hs
