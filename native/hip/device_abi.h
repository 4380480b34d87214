// The plain-data boundary of the HIP device forward: what the addon hands to
// a device model (the host weights and the config), a step (the arrays of
// native/README.md, already validated by validate_step on the host), and
// what comes back. Plain C structs only, because the same structs cross the
// dlopen boundary to libhipserve_hip.so (backend_api.cc) and are passed
// directly to the emulator's build of the same code inside the addon.
//
// Every pointer here is HOST memory owned by the caller for the duration of
// the call; the device model copies what it keeps.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HS_DEV_ABI_VERSION 4

// A matrix in its file layout: rows x cols of `dtype` (hipk::WDType numbering:
// 0 f32, 1 f16, 2 bf16, 3 q8_0), `nbytes` readable at `data`.
typedef struct hs_dev_weight {
  const void* data;
  uint64_t nbytes;
  int32_t dtype;
  int64_t rows;
  int64_t cols;
} hs_dev_weight;

// One layer; norms and biases are f32 (converted at load by the host model).
// q_bias/k_bias/v_bias (qwen2) and q_norm/k_norm (qwen3) may be NULL.
typedef struct hs_dev_layer {
  const float* attn_norm;
  hs_dev_weight q, k, v, o;
  const float* q_bias;
  const float* k_bias;
  const float* v_bias;
  const float* q_norm;
  const float* k_norm;
  const float* ffn_norm;
  hs_dev_weight gate, up, down;
} hs_dev_layer;

typedef struct hs_dev_model_desc {
  int64_t vocab, hidden, num_layers, num_heads, num_kv_heads, head_dim, intermediate;
  float rms_eps;
  float rope_theta;
  int32_t rope_style;  // 0 neox, 1 interleaved
  int32_t rope_rotary_dim;
  float llama3_factor, llama3_low, llama3_high;
  int32_t llama3_original_max_pos;
  hs_dev_weight embed;
  hs_dev_weight lm_head;  // data == embed.data when tied: uploaded once
  const float* final_norm;
  const hs_dev_layer* layers;  // [num_layers]
  int64_t reserve_tokens;      // activation scratch is allocated for this many tokens up front
} hs_dev_model_desc;

// One step, names and layout as in native/README.md; T tokens, S sequences.
// The six flat token lists come with S+1 offsets each (never NULL).
typedef struct hs_dev_step {
  int32_t num_tokens, num_seqs, max_blocks;
  const int32_t* token_ids;     // [T]
  const int32_t* positions;     // [T]
  const int32_t* query_start;   // [S+1]
  const int32_t* seq_lens;      // [S]
  const int32_t* block_tables;  // [S * max_blocks]
  const int32_t* slot_mapping;  // [T]
  const uint8_t* do_sample;     // [S]
  const float *temperature, *top_p, *min_p, *presence, *frequency, *repetition;  // [S]
  const int32_t *top_k, *sample_index, *num_logprobs;                             // [S]
  const uint64_t* seeds;                                                          // [S]
  const int32_t *output_tokens, *output_start, *prompt_tokens, *prompt_start, *banned, *banned_start;
  const int32_t *bias, *bias_start;  // logit_bias ids (strictly increasing per seq) and S+1 offsets
  const float* bias_values;          // one per id in `bias`
  // Prompt logprobs: per token the next prompt token (-1: none) [T] and per
  // seq the top-N wanted [S]; both NULL when the step has none.
  const int32_t *prompt_targets, *num_prompt_logprobs;
  // Hidden states (embeddings): the token indices (< T) whose final-normed
  // hidden state comes back, in order; NULL and 0 when none.
  const int32_t* hidden_rows;
  int32_t num_hidden_rows;
} hs_dev_step;

// Caller-allocated results: sampled/logprob [S], top_ids/top_logprobs [S * top_n].
typedef struct hs_dev_step_out {
  int32_t top_n;
  int32_t* sampled;
  float* logprob;
  int32_t* top_ids;
  float* top_logprobs;
  // With prompt targets: logprob and rank [T], top ids and logprobs
  // [T * prompt_top_n], rows of tokens with a target filled (others
  // untouched); NULL otherwise.
  int32_t prompt_top_n;
  float* prompt_logprob;
  int32_t* prompt_rank;
  int32_t* prompt_top_ids;
  float* prompt_top_logprobs;
  // [num_hidden_rows * hidden] with hidden rows; NULL otherwise.
  float* hidden;
} hs_dev_step_out;

typedef struct hs_dev_memory {
  uint64_t total, free;       // hipMemGetInfo of the model's device
  uint64_t weights, scratch;  // bytes this model holds
} hs_dev_memory;

#ifdef __cplusplus
}
#endif
