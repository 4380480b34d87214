// One step of the transformer over the paged KV cache, with the step layout
// of native/README.md. Runs on an AsyncWorker thread; never touches V8.
#pragma once

#include <cstdint>
#include <vector>

#include "model/kv_cache.h"
#include "model/model.h"
#include "result.h"

namespace hs {

// The step as copied out of the JS typed arrays (names as in native/README.md).
struct StepInput {
  std::vector<int32_t> token_ids, positions, query_start, seq_lens, block_tables, slot_mapping;
  int32_t max_blocks = 0;
  std::vector<uint8_t> do_sample;
  std::vector<float> temperature, top_p, min_p, presence_penalty, frequency_penalty, repetition_penalty;
  std::vector<int32_t> top_k, sample_index, num_logprobs;
  std::vector<uint64_t> seeds;
  std::vector<int32_t> output_tokens, output_start, prompt_tokens, prompt_start, banned_tokens, banned_start;
  // logit_bias: per sequence, strictly increasing token ids and the values added to their logits.
  std::vector<int32_t> bias_tokens, bias_start;
  std::vector<float> bias_values;
  // Prompt logprobs (echo): per token, the prompt token that follows it
  // (-1: none) [T], and per sequence the top-N wanted (-1: none) [S]. Both
  // empty: no prompt logprobs in this step.
  std::vector<int32_t> prompt_targets, num_prompt_logprobs;
  // Hidden states (embeddings): per sequence [S], or empty for none: 0 none,
  // 1 its last token's, 2 each of its tokens'. A sequence that asks for them
  // does not sample.
  std::vector<uint8_t> embed_rows;
};

// embed_rows' modes.
enum EmbedRows : uint8_t { kEmbedNone = 0, kEmbedLast = 1, kEmbedAll = 2 };

// Several decode steps in one call (vLLM's multi-step scheduling; layout in
// native/README.md). Empty per-sequence arrays read as their defaults.
struct MultiStep {
  int32_t num_steps = 1;
  std::vector<int32_t> stop_tokens, stop_start;  // tokens that end seq i (after being sampled)
  std::vector<int32_t> max_steps;                // tokens seq i may sample in this call; default num_steps
  std::vector<int32_t> ban_steps;                // leading steps bannedTokens apply to; default num_steps
};

// One step: [S] rows. Several steps: [steps][S] rows, step-major (row k*S + i
// is seq i's token of inner step k; -1 once seq i has stopped).
struct StepOutput {
  int32_t steps = 1;
  std::vector<int32_t> sampled;
  std::vector<float> logprob;
  int32_t top_n = 0;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
  // Prompt logprobs, one row per token of the (first) step when it had
  // prompt targets, else empty: the target's logprob (NaN where none), its
  // vocab rank (1 + the tokens with a larger raw logit; 0 where none) and
  // the top prompt_top_n (ids -1 / -inf past a row's own N).
  int32_t prompt_top_n = 0;
  std::vector<float> prompt_logprob;
  std::vector<int32_t> prompt_rank;
  std::vector<int32_t> prompt_top_ids;
  std::vector<float> prompt_top_logprobs;
  // Hidden states after the final norm, [rows][hidden], for the tokens
  // hidden_rows() lists (the first step's only); empty when none was asked.
  std::vector<float> hidden;
  double forward_ms = 0, sample_ms = 0;
};

// Buffers reused across steps; they only grow.
struct ForwardScratch {
  std::vector<float> x, xn, q, k, v, attn, gate, up, last, logits, sample, prompt_logits;
  std::vector<float> rope;  // the step's cos/sin per token (cpu::rope_table)
  std::vector<int32_t> rows;
};

// The tokens of a step that have a prompt target, and the top-N their
// sequence asks for.
struct PromptRowPlan {
  std::vector<int32_t> rows, top_n;
};

// Sizes the prompt-logprob outputs of `s` (validated) in `out`: rows for
// every token when some token has a target, top-N the largest asked; the
// rows start as NaN / 0 / -1 / -inf. Returns the rows to fill.
PromptRowPlan prepare_prompt_logprobs(const StepInput& s, StepOutput* out);

// The token indices (< T, in sequence order) whose hidden states the step
// returns, by embed_rows (validated); empty when it asks for none.
std::vector<int32_t> hidden_rows(const StepInput& s);

// Every size and index of the step checked against the model and the cache
// (INVALID_ARGUMENT naming the field): after this, no kernel can index out of bounds.
Status validate_step(const Model& m, const KvCache& kv, const StepInput& s);
// Caller holds m.busy. Validates, then runs.
Status run_forward(Model& m, const KvCache& kv, const StepInput& s, StepOutput* out);

// One step of a backend (the CPU forward or the device's); validates its step.
using StepFn = Status (*)(Model& m, const KvCache& kv, const StepInput& s, StepOutput* out);

// ms.num_steps steps from `first`, each seq feeding back its sampled token,
// until it samples one of its stop tokens or has sampled max_steps tokens.
// num_steps == 1 is exactly one call of `step`. Caller holds m.busy.
Status run_steps(Model& m, const KvCache& kv, const StepInput& first, const MultiStep& ms, StepFn step, StepOutput* out);

}  // namespace hs
