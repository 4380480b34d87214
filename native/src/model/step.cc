// Validation of a step against the model and the KV cache. The forward pass
// and the kernels trust these invariants, so every index a kernel will use
// is range-checked here first.
#include <cmath>
#include <string>

#include "model/forward.h"

namespace hs {

namespace {

constexpr int32_t kMaxLogprobs = 1024;

Error bad(const std::string& field, const std::string& msg) {
  return make_err(Code::INVALID_ARGUMENT, field + ": " + msg, "forward");
}

template <class V>
Status need_len(const V& v, size_t n, const char* field) {
  if (v.size() != n) {
    return bad(field, "length " + std::to_string(v.size()) + ", expected " + std::to_string(n));
  }
  return Status();
}

// A flat list with S+1 offsets: offsets start at 0, never decrease, end at
// the list's length, and every id is a token of the vocabulary.
Status check_flat(const std::vector<int32_t>& list, const std::vector<int32_t>& start, size_t S, int64_t vocab,
                  const char* list_name, const char* start_name) {
  Status st = need_len(start, S + 1, start_name);
  if (!st.ok()) return st;
  if (start[0] != 0 || static_cast<size_t>(start[S]) != list.size()) {
    return bad(start_name, "must start at 0 and end at the list's length " + std::to_string(list.size()));
  }
  for (size_t i = 0; i < S; ++i) {
    if (start[i + 1] < start[i]) return bad(start_name, "offsets decrease at " + std::to_string(i));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i] < 0 || list[i] >= vocab) {
      return bad(list_name, "token id " + std::to_string(list[i]) + " at " + std::to_string(i) + " is outside the vocabulary");
    }
  }
  return Status();
}

}  // namespace

Status validate_step(const Model& m, const KvCache& kv, const StepInput& s) {
  if (kv.model_id != m.id) return bad("kvCache", "was created for another model");
  const size_t T = s.token_ids.size();
  if (s.query_start.empty()) return bad("queryStart", "must hold S+1 offsets");
  const size_t S = s.query_start.size() - 1;
  const int64_t vocab = m.cfg.vocab_size, bs = kv.block_size, nb = kv.num_blocks;
  if (T > (1u << 20) || S > (1u << 16)) return bad("tokenIds", "step too large");

  Status st;
#define HS_LEN(v, n)                    \
  st = need_len(s.v, n, #v);            \
  if (!st.ok()) return st;
  HS_LEN(positions, T);
  HS_LEN(slot_mapping, T);
  HS_LEN(seq_lens, S);
  HS_LEN(do_sample, S);
  HS_LEN(temperature, S);
  HS_LEN(top_p, S);
  HS_LEN(top_k, S);
  HS_LEN(min_p, S);
  HS_LEN(presence_penalty, S);
  HS_LEN(frequency_penalty, S);
  HS_LEN(repetition_penalty, S);
  HS_LEN(seeds, S);
  HS_LEN(sample_index, S);
  HS_LEN(num_logprobs, S);
#undef HS_LEN
  if (s.max_blocks < 0 || (S > 0 && s.max_blocks == 0)) return bad("maxBlocksPerSeq", "must be >= 1");
  if (s.block_tables.size() != S * static_cast<size_t>(s.max_blocks)) {
    return bad("blockTables", "length " + std::to_string(s.block_tables.size()) + ", expected S * maxBlocksPerSeq = " +
                                  std::to_string(S * static_cast<size_t>(s.max_blocks)));
  }
  for (size_t i = 0; i < T; ++i) {
    if (s.token_ids[i] < 0 || s.token_ids[i] >= vocab) {
      return bad("tokenIds", "id " + std::to_string(s.token_ids[i]) + " at " + std::to_string(i) + " is outside [0, " + std::to_string(vocab) + ")");
    }
    if (s.slot_mapping[i] < 0 || s.slot_mapping[i] >= nb * bs) {
      return bad("slotMapping", "slot " + std::to_string(s.slot_mapping[i]) + " at " + std::to_string(i) + " is outside the pool");
    }
  }
  for (size_t i = 0; i < s.block_tables.size(); ++i) {
    if (s.block_tables[i] < 0 || s.block_tables[i] >= nb) {
      return bad("blockTables", "block id " + std::to_string(s.block_tables[i]) + " is outside [0, " + std::to_string(nb) + ")");
    }
  }
  if (s.query_start[0] != 0 || static_cast<size_t>(s.query_start[S]) != T) {
    return bad("queryStart", "must start at 0 and end at the token count");
  }
  // Strictly increasing as a whole before any entry is used as an index, so
  // every chunk [queryStart[i], queryStart[i+1]) lies inside [0, T).
  for (size_t i = 0; i < S; ++i) {
    if (s.query_start[i + 1] <= s.query_start[i]) return bad("queryStart", "sequence " + std::to_string(i) + " has no tokens");
  }
  for (size_t i = 0; i < S; ++i) {
    const int32_t a = s.query_start[i], b = s.query_start[i + 1], len = s.seq_lens[i];
    const std::string seq = "sequence " + std::to_string(i);
    if (len < b - a || static_cast<int64_t>(len) > static_cast<int64_t>(s.max_blocks) * bs) {
      return bad("seqLens", seq + ": length " + std::to_string(len) + " is shorter than its chunk or longer than its block table holds");
    }
    for (int32_t t = a; t < b; ++t) {
      // Tokens of a chunk sit at consecutive positions ending at seqLens - 1,
      // which is what causal attention over the cache assumes.
      if (s.positions[t] != len - (b - t)) {
        return bad("positions", seq + ": token " + std::to_string(t) + " is at position " + std::to_string(s.positions[t]) +
                                    ", expected " + std::to_string(len - (b - t)));
      }
      // The slot must be the one the block table gives for that position.
      const int32_t blk = s.block_tables[i * static_cast<size_t>(s.max_blocks) + static_cast<size_t>(s.positions[t] / bs)];
      if (static_cast<int64_t>(s.slot_mapping[t]) != blk * bs + s.positions[t] % bs) {
        return bad("slotMapping", seq + ": token " + std::to_string(t) + " maps to slot " + std::to_string(s.slot_mapping[t]) +
                                      " but its block table says " + std::to_string(blk * bs + s.positions[t] % bs));
      }
    }
    if (s.do_sample[i] > 1) return bad("doSample", "must be 0 or 1");
    if (!(s.temperature[i] >= 0) || !std::isfinite(s.temperature[i])) return bad("temperature", seq + " must be finite and >= 0");
    if (!(s.top_p[i] > 0 && s.top_p[i] <= 1)) return bad("topP", seq + " must be in (0, 1]");
    if (!(s.min_p[i] >= 0 && s.min_p[i] <= 1)) return bad("minP", seq + " must be in [0, 1]");
    if (s.top_k[i] < -1) return bad("topK", seq + " must be >= -1");
    if (!std::isfinite(s.presence_penalty[i]) || !std::isfinite(s.frequency_penalty[i])) return bad("presencePenalty", seq + " must be finite");
    if (!(s.repetition_penalty[i] > 0) || !std::isfinite(s.repetition_penalty[i])) return bad("repetitionPenalty", seq + " must be > 0");
    if (s.num_logprobs[i] < -1 || s.num_logprobs[i] > kMaxLogprobs || s.num_logprobs[i] > vocab) {
      return bad("numLogprobs", seq + " must be in -1.." + std::to_string(kMaxLogprobs));
    }
    if (s.sample_index[i] < 0) return bad("sampleIndex", seq + " must be >= 0");
  }
  st = check_flat(s.output_tokens, s.output_start, S, vocab, "outputTokens", "outputStart");
  if (!st.ok()) return st;
  st = check_flat(s.prompt_tokens, s.prompt_start, S, vocab, "promptTokens", "promptStart");
  if (!st.ok()) return st;
  st = check_flat(s.banned_tokens, s.banned_start, S, vocab, "bannedTokens", "bannedStart");
  if (!st.ok()) return st;
  st = check_flat(s.bias_tokens, s.bias_start, S, vocab, "biasTokens", "biasStart");
  if (!st.ok()) return st;
  st = need_len(s.bias_values, s.bias_tokens.size(), "biasValues");
  if (!st.ok()) return st;
  for (size_t i = 0; i < S; ++i) {
    // Strictly increasing ids: each logit gets one bias, and the device
    // kernel's threads can add them without two writing the same token.
    for (int32_t j = s.bias_start[i]; j < s.bias_start[i + 1]; ++j) {
      const auto u = static_cast<size_t>(j);
      if (j > s.bias_start[i] && s.bias_tokens[u] <= s.bias_tokens[u - 1]) {
        return bad("biasTokens", "sequence " + std::to_string(i) + ": ids must be strictly increasing");
      }
      if (!std::isfinite(s.bias_values[u])) return bad("biasValues", "sequence " + std::to_string(i) + ": values must be finite");
    }
  }
  if (!s.embed_rows.empty()) {
    st = need_len(s.embed_rows, S, "embedRows");
    if (!st.ok()) return st;
    for (size_t i = 0; i < S; ++i) {
      if (s.embed_rows[i] > kEmbedAll) return bad("embedRows", "sequence " + std::to_string(i) + ": mode must be 0, 1 or 2");
      if (s.embed_rows[i] != kEmbedNone && s.do_sample[i] != 0) {
        return bad("embedRows", "sequence " + std::to_string(i) + " asks for hidden states and samples; it may do one");
      }
    }
  }
  if (s.prompt_targets.empty() && s.num_prompt_logprobs.empty()) return Status();
  st = need_len(s.prompt_targets, T, "promptTargets");
  if (!st.ok()) return st;
  st = need_len(s.num_prompt_logprobs, S, "numPromptLogprobs");
  if (!st.ok()) return st;
  for (size_t i = 0; i < S; ++i) {
    const int32_t n = s.num_prompt_logprobs[i];
    if (n < -1 || n > kMaxLogprobs || n > vocab) {
      return bad("numPromptLogprobs", "sequence " + std::to_string(i) + " must be in -1.." + std::to_string(kMaxLogprobs));
    }
    for (int32_t t = s.query_start[i]; t < s.query_start[i + 1]; ++t) {
      const int32_t target = s.prompt_targets[static_cast<size_t>(t)];
      if (target < -1 || target >= vocab) {
        return bad("promptTargets", "token " + std::to_string(t) + ": " + std::to_string(target) + " is neither -1 nor a token id");
      }
      if (target >= 0 && n < 0) {
        return bad("promptTargets", "token " + std::to_string(t) + " has a target but sequence " + std::to_string(i) +
                                        " asks for no prompt logprobs");
      }
    }
  }
  return Status();
}

}  // namespace hs
