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
};

struct StepOutput {
  std::vector<int32_t> sampled;
  std::vector<float> logprob;
  int32_t top_n = 0;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
  double forward_ms = 0, sample_ms = 0;
};

// Buffers reused across steps; they only grow.
struct ForwardScratch {
  std::vector<float> x, xn, q, k, v, attn, gate, up, last, logits, sample;
  std::vector<float> rope;  // the step's cos/sin per token (cpu::rope_table)
  std::vector<int32_t> rows;
};

// Every size and index of the step checked against the model and the cache
// (INVALID_ARGUMENT naming the field): after this, no kernel can index out of bounds.
Status validate_step(const Model& m, const KvCache& kv, const StepInput& s);
// Caller holds m.busy. Validates, then runs.
Status run_forward(Model& m, const KvCache& kv, const StepInput& s, StepOutput* out);

}  // namespace hs
