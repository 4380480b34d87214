// Several decode steps per call (vLLM's multi-step scheduling). A decode
// step of a small model costs ~0.1-0.2 ms of JS/N-API hand-off on top of its
// forward (bench/README.md); here the token a step samples is fed straight
// into the next step, so that hand-off is paid once per call. The scheduler
// reserved KV slots for every token a sequence may sample (maxSteps), and
// the stops that need no text (stop token ids, EOS, max_tokens) and the
// min_tokens ban (banSteps) are applied here between the steps; the engine
// applies stop strings to the burst afterwards.
#include <limits>
#include <string>

#include "model/forward.h"

namespace hs {

namespace {

constexpr int32_t kMaxSteps = 256;

Error bad(const std::string& field, const std::string& msg) {
  return make_err(Code::INVALID_ARGUMENT, field + ": " + msg, "forward");
}

// Everything a later step derives from `first`, checked before the first
// step runs, so no inner step can fail validation half-way through a burst.
Status validate_multi(const Model& m, const KvCache& kv, const StepInput& s, const MultiStep& ms) {
  if (ms.num_steps < 1 || ms.num_steps > kMaxSteps) return bad("numSteps", "must be in 1.." + std::to_string(kMaxSteps));
  if (s.query_start.empty()) return Status();  // validate_step names this one
  const size_t S = s.query_start.size() - 1;
  const int64_t vocab = m.cfg.vocab_size;
  if (!ms.max_steps.empty() && ms.max_steps.size() != S) return bad("maxSteps", "length " + std::to_string(ms.max_steps.size()) + ", expected S");
  if (!ms.ban_steps.empty() && ms.ban_steps.size() != S) return bad("banSteps", "length " + std::to_string(ms.ban_steps.size()) + ", expected S");
  if (ms.stop_start.empty()) {
    if (!ms.stop_tokens.empty()) return bad("stopStart", "is required with stopTokens");
  } else {
    if (ms.stop_start.size() != S + 1) return bad("stopStart", "length " + std::to_string(ms.stop_start.size()) + ", expected S+1");
    if (ms.stop_start[0] != 0 || static_cast<size_t>(ms.stop_start[S]) != ms.stop_tokens.size()) {
      return bad("stopStart", "must start at 0 and end at the list's length");
    }
    for (size_t i = 0; i < S; ++i) {
      if (ms.stop_start[i + 1] < ms.stop_start[i]) return bad("stopStart", "offsets decrease at " + std::to_string(i));
    }
    for (const int32_t t : ms.stop_tokens) {
      if (t < 0 || t >= vocab) return bad("stopTokens", "token id " + std::to_string(t) + " is outside the vocabulary");
    }
  }
  if (ms.num_steps == 1) return Status();
  // The sizes validate_step checks for step 0, needed here before it runs.
  if (s.seq_lens.size() != S || s.do_sample.size() != S || s.sample_index.size() != S ||
      s.block_tables.size() != S * static_cast<size_t>(s.max_blocks) || s.token_ids.size() != S) {
    return bad("numSteps", "several steps need a step of single-token decodes (one token per sequence, every one sampling)");
  }
  const int64_t cap = static_cast<int64_t>(s.max_blocks) * kv.block_size;
  for (size_t i = 0; i < S; ++i) {
    const std::string seq = "sequence " + std::to_string(i);
    if (s.query_start[i + 1] - s.query_start[i] != 1 || s.do_sample[i] != 1) {
      return bad("numSteps", "several steps need single-token decodes that sample; " + seq + " is not one");
    }
    const int32_t n = ms.max_steps.empty() ? ms.num_steps : ms.max_steps[i];
    if (n < 1 || n > ms.num_steps) return bad("maxSteps", seq + " must be in 1..numSteps");
    if (!ms.ban_steps.empty() && ms.ban_steps[i] < 0) return bad("banSteps", seq + " must be >= 0");
    // Its last inner step writes position seqLens[i] + n - 2 and reads seqLens[i] + n - 1 tokens.
    if (static_cast<int64_t>(s.seq_lens[i]) + n - 1 > cap) {
      return bad("maxSteps", seq + ": " + std::to_string(n) + " steps from length " + std::to_string(s.seq_lens[i]) +
                                 " need more blocks than its block table holds");
    }
  }
  return Status();
}

bool is_stop(const MultiStep& ms, size_t i, int32_t tok) {
  if (ms.stop_start.empty()) return false;
  for (int32_t j = ms.stop_start[i]; j < ms.stop_start[i + 1]; ++j) {
    if (ms.stop_tokens[static_cast<size_t>(j)] == tok) return true;
  }
  return false;
}

template <class V>
void push_range(V* dst, const V& src, size_t a, size_t b) {
  dst->insert(dst->end(), src.begin() + static_cast<std::ptrdiff_t>(a), src.begin() + static_cast<std::ptrdiff_t>(b));
}

// The next inner step: the still-active seqs of `first`, each one token
// further (its last sampled token at the next position of its block table).
// Invariant: validate_multi checked every active seq's block table holds the
// position, and validate_step checked first's flat lists and offsets.
void build_next(const StepInput& first, const MultiStep& ms, int32_t k, int64_t block_size, const std::vector<size_t>& active,
                const std::vector<int32_t>& last, const std::vector<int32_t>& produced,
                const std::vector<std::vector<int32_t>>& new_outputs, StepInput* s) {
  const auto B = static_cast<size_t>(first.max_blocks);
  // Emptied, not replaced: the vectors keep their capacity from step to step.
  for (auto* v : {&s->token_ids, &s->positions, &s->query_start, &s->seq_lens, &s->block_tables, &s->slot_mapping, &s->top_k,
                  &s->sample_index, &s->num_logprobs, &s->output_tokens, &s->output_start, &s->prompt_tokens,
                  &s->prompt_start, &s->banned_tokens, &s->banned_start, &s->bias_tokens, &s->bias_start}) {
    v->clear();
  }
  for (auto* v : {&s->temperature, &s->top_p, &s->min_p, &s->presence_penalty, &s->frequency_penalty, &s->repetition_penalty,
                  &s->bias_values}) {
    v->clear();
  }
  s->do_sample.clear();
  s->seeds.clear();
  s->max_blocks = first.max_blocks;
  s->query_start.push_back(0);
  s->output_start.push_back(0);
  s->prompt_start.push_back(0);
  s->banned_start.push_back(0);
  s->bias_start.push_back(0);
  for (const size_t i : active) {
    const int32_t len = first.seq_lens[i] + produced[i];
    const int32_t pos = len - 1;
    s->token_ids.push_back(last[i]);
    s->positions.push_back(pos);
    s->query_start.push_back(static_cast<int32_t>(s->token_ids.size()));
    s->seq_lens.push_back(len);
    push_range(&s->block_tables, first.block_tables, i * B, (i + 1) * B);
    const int32_t blk = first.block_tables[i * B + static_cast<size_t>(pos / block_size)];
    s->slot_mapping.push_back(static_cast<int32_t>(blk * block_size + pos % block_size));
    s->do_sample.push_back(1);
    s->temperature.push_back(first.temperature[i]);
    s->top_p.push_back(first.top_p[i]);
    s->top_k.push_back(first.top_k[i]);
    s->min_p.push_back(first.min_p[i]);
    s->presence_penalty.push_back(first.presence_penalty[i]);
    s->frequency_penalty.push_back(first.frequency_penalty[i]);
    s->repetition_penalty.push_back(first.repetition_penalty[i]);
    s->seeds.push_back(first.seeds[i]);
    s->sample_index.push_back(first.sample_index[i] + produced[i]);
    s->num_logprobs.push_back(first.num_logprobs[i]);
    push_range(&s->output_tokens, first.output_tokens, static_cast<size_t>(first.output_start[i]), static_cast<size_t>(first.output_start[i + 1]));
    s->output_tokens.insert(s->output_tokens.end(), new_outputs[i].begin(), new_outputs[i].end());
    s->output_start.push_back(static_cast<int32_t>(s->output_tokens.size()));
    push_range(&s->prompt_tokens, first.prompt_tokens, static_cast<size_t>(first.prompt_start[i]), static_cast<size_t>(first.prompt_start[i + 1]));
    s->prompt_start.push_back(static_cast<int32_t>(s->prompt_tokens.size()));
    if (ms.ban_steps.empty() || k < ms.ban_steps[i]) {
      push_range(&s->banned_tokens, first.banned_tokens, static_cast<size_t>(first.banned_start[i]), static_cast<size_t>(first.banned_start[i + 1]));
    }
    s->banned_start.push_back(static_cast<int32_t>(s->banned_tokens.size()));
    const auto b0 = static_cast<size_t>(first.bias_start[i]), b1 = static_cast<size_t>(first.bias_start[i + 1]);
    push_range(&s->bias_tokens, first.bias_tokens, b0, b1);
    push_range(&s->bias_values, first.bias_values, b0, b1);
    s->bias_start.push_back(static_cast<int32_t>(s->bias_tokens.size()));
  }
}

}  // namespace

Status run_steps(Model& m, const KvCache& kv, const StepInput& first, const MultiStep& ms, StepFn step, StepOutput* out) {
  Status st = validate_multi(m, kv, first, ms);
  if (!st.ok()) return st;
  if (ms.num_steps == 1) return step(m, kv, first, out);

  const size_t S = first.seq_lens.size();
  const auto K = static_cast<size_t>(ms.num_steps);
  StepOutput o;
  st = step(m, kv, first, &o);  // validates first: every index below is then in range
  if (!st.ok()) return st;
  const auto N = static_cast<size_t>(o.top_n);  // later steps hold a subset of the seqs: never more
  out->top_n = o.top_n;
  out->sampled.assign(K * S, -1);
  out->logprob.assign(K * S, std::numeric_limits<float>::quiet_NaN());
  out->top_ids.assign(K * S * N, -1);
  out->top_logprobs.assign(K * S * N, -std::numeric_limits<float>::infinity());
  // Only the first step can carry prompt targets or hidden rows (later ones are built here without).
  out->prompt_top_n = o.prompt_top_n;
  out->prompt_logprob = std::move(o.prompt_logprob);
  out->prompt_rank = std::move(o.prompt_rank);
  out->prompt_top_ids = std::move(o.prompt_top_ids);
  out->prompt_top_logprobs = std::move(o.prompt_top_logprobs);
  out->hidden = std::move(o.hidden);
  out->forward_ms = 0;
  out->sample_ms = 0;

  std::vector<size_t> active(S);
  for (size_t i = 0; i < S; ++i) active[i] = i;
  std::vector<int32_t> last(S, -1), produced(S, 0);
  std::vector<std::vector<int32_t>> new_outputs(S);
  StepInput next;
  for (size_t k = 0;; ++k) {
    out->forward_ms += o.forward_ms;
    out->sample_ms += o.sample_ms;
    out->steps = static_cast<int32_t>(k + 1);
    std::vector<size_t> still;
    // Invariant: the step just run had one row per active seq, in order, and
    // its result holds that many entries (top_n columns of top ids); `out`
    // holds K*S rows of N >= top_n columns, and i < S.
    const auto n = static_cast<size_t>(o.top_n);
    for (size_t r = 0; r < active.size(); ++r) {
      const size_t i = active[r];
      const int32_t tok = o.sampled[r];
      out->sampled[k * S + i] = tok;
      out->logprob[k * S + i] = o.logprob[r];
      for (size_t j = 0; j < n && j < N; ++j) {
        out->top_ids[(k * S + i) * N + j] = o.top_ids[r * n + j];
        out->top_logprobs[(k * S + i) * N + j] = o.top_logprobs[r * n + j];
      }
      last[i] = tok;
      ++produced[i];
      new_outputs[i].push_back(tok);
      const int32_t cap = ms.max_steps.empty() ? ms.num_steps : ms.max_steps[i];
      if (tok >= 0 && produced[i] < cap && !is_stop(ms, i, tok)) still.push_back(i);
    }
    if (still.empty() || k + 1 == K) break;
    active.swap(still);
    build_next(first, ms, static_cast<int32_t>(k + 1), kv.block_size, active, last, produced, new_outputs, &next);
    o = StepOutput();
    st = step(m, kv, next, &o);
    if (!st.ok()) return st;
  }
  return Status();
}

}  // namespace hs
