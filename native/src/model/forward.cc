// The transformer step. Layout of the activations (T tokens of the step):
//   x    [T][H]   residual stream          xn [T][H] normed input / matmul out
//   q    [T][nh][hd]   k, v [T][nkv][hd]   attn [T][nh][hd]
//   gate, up [T][I]
// Only the last token of each sequence that samples goes through the final
// norm and lm_head: rows [Ns][H] -> logits [Ns][V].
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "model/forward.h"

namespace hs {

namespace {

using Clock = std::chrono::steady_clock;

float* grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct SampleJob {
  cpu::SampleBatch batch;
  const std::vector<int32_t>* rows;  // sequence index of each logits row
  float* logits;                     // [Ns][V]
  float* scratch;                    // [threads][2V]
  int32_t vocab;
  StepOutput* out;
};

// One sequence's sampling per index; each thread uses its own scratch slice,
// and the draw depends only on (seed, sampleIndex), so the result does not
// depend on which thread runs it or on what else is in the batch.
void sample_rows(void* ctx, int64_t begin, int64_t end, int thread) {
  auto* j = static_cast<SampleJob*>(ctx);
  for (int64_t r = begin; r < end; ++r) {
    const size_t i = static_cast<size_t>((*j->rows)[static_cast<size_t>(r)]);
    // Invariant: validate_step checked each start array (monotone, ends at the list length).
    const cpu::SampleParams p = cpu::sample_params(j->batch, i);
    cpu::SampleResult res;
    const size_t top_n = static_cast<size_t>(j->out->top_n);
    res.top_n = j->out->top_n;
    res.top_ids = top_n > 0 ? j->out->top_ids.data() + i * top_n : nullptr;
    res.top_logprobs = top_n > 0 ? j->out->top_logprobs.data() + i * top_n : nullptr;
    float* logits = j->logits + static_cast<size_t>(r) * static_cast<size_t>(j->vocab);
    float* scratch = j->scratch + static_cast<size_t>(thread) * 2 * static_cast<size_t>(j->vocab);
    cpu::sample(logits, j->vocab, p, scratch, res);
    j->out->sampled[i] = res.token;
    j->out->logprob[i] = p.num_logprobs >= 0 ? res.logprob : std::numeric_limits<float>::quiet_NaN();
  }
}

struct PromptJob {
  const float* logits;   // [rows][V]
  const int32_t* rows;   // token index of each logits row
  const int32_t* top_n;  // its sequence's N
  const StepInput* s;
  int64_t V;
  StepOutput* out;
};

void prompt_rows(void* ctx, int64_t begin, int64_t end, int) {
  auto* j = static_cast<PromptJob*>(ctx);
  for (int64_t r = begin; r < end; ++r) {
    // Invariant: rows are token indices < T with a target (prepare_prompt_logprobs),
    // and the output rows were sized for T tokens of prompt_top_n columns.
    const auto t = static_cast<size_t>(j->rows[r]);
    const int32_t n = j->top_n[r];
    const auto cols = static_cast<size_t>(j->out->prompt_top_n);
    cpu::SampleResult res;
    res.top_n = j->out->prompt_top_n;
    res.top_ids = cols > 0 ? j->out->prompt_top_ids.data() + t * cols : nullptr;
    res.top_logprobs = cols > 0 ? j->out->prompt_top_logprobs.data() + t * cols : nullptr;
    const float* row = j->logits + r * j->V;
    const int32_t target = j->s->prompt_targets[t];
    cpu::logprobs_of(row, static_cast<int32_t>(j->V), target, n, res);
    j->out->prompt_logprob[t] = res.logprob;
    int32_t above = 0;
    for (int64_t v = 0; v < j->V; ++v) above += row[v] > row[target] ? 1 : 0;
    j->out->prompt_rank[t] = above + 1;
  }
}

}  // namespace

PromptRowPlan prepare_prompt_logprobs(const StepInput& s, StepOutput* out) {
  PromptRowPlan plan;
  if (!s.prompt_targets.empty()) {
    // Invariant: validate_step checked query_start (0 .. T, strictly
    // increasing) and that prompt_targets holds T entries.
    for (size_t i = 0; i + 1 < s.query_start.size(); ++i) {
      for (int32_t t = s.query_start[i]; t < s.query_start[i + 1]; ++t) {
        if (s.prompt_targets[static_cast<size_t>(t)] < 0) continue;
        plan.rows.push_back(t);
        plan.top_n.push_back(s.num_prompt_logprobs[i]);
      }
    }
  }
  out->prompt_top_n = 0;
  out->prompt_logprob.clear();
  out->prompt_rank.clear();
  out->prompt_top_ids.clear();
  out->prompt_top_logprobs.clear();
  if (plan.rows.empty()) return plan;
  for (const int32_t n : s.num_prompt_logprobs) out->prompt_top_n = std::max(out->prompt_top_n, n);
  const size_t T = s.token_ids.size(), cols = static_cast<size_t>(out->prompt_top_n);
  out->prompt_logprob.assign(T, std::numeric_limits<float>::quiet_NaN());
  out->prompt_rank.assign(T, 0);
  out->prompt_top_ids.assign(T * cols, -1);
  out->prompt_top_logprobs.assign(T * cols, -std::numeric_limits<float>::infinity());
  return plan;
}

std::vector<int32_t> hidden_rows(const StepInput& s) {
  std::vector<int32_t> rows;
  // Invariant: validate_step checked embed_rows (empty or [S], modes 0..2)
  // and query_start (0 .. T, strictly increasing).
  for (size_t i = 0; i < s.embed_rows.size(); ++i) {
    const int32_t a = s.query_start[i], b = s.query_start[i + 1];
    if (s.embed_rows[i] == kEmbedLast) rows.push_back(b - 1);
    if (s.embed_rows[i] == kEmbedAll) {
      for (int32_t t = a; t < b; ++t) rows.push_back(t);
    }
  }
  return rows;
}

Status run_forward(Model& m, const KvCache& kv, const StepInput& s, StepOutput* out) {
  Status st = validate_step(m, kv, s);
  if (!st.ok()) return st;
  const auto t0 = Clock::now();
  const ModelConfig& c = m.cfg;
  ForwardScratch& sc = *m.scratch;
  cpu::ThreadPool* pool = m.pool != nullptr ? m.pool : cpu::default_pool();
  const size_t T = s.token_ids.size(), S = s.query_start.size() - 1;
  const int64_t H = c.hidden_size, nh = c.num_heads, nkv = c.num_kv_heads, hd = c.head_dim;
  const int64_t I = c.intermediate_size, V = c.vocab_size, Ti = static_cast<int64_t>(T);
  const float eps = c.rms_norm_eps;

  out->sampled.assign(S, -1);
  out->logprob.assign(S, std::numeric_limits<float>::quiet_NaN());
  out->top_n = 0;
  for (size_t i = 0; i < S; ++i) {
    if (s.do_sample[i] != 0 && s.num_logprobs[i] > out->top_n) out->top_n = s.num_logprobs[i];
  }
  out->top_ids.assign(S * static_cast<size_t>(out->top_n), -1);
  out->top_logprobs.assign(S * static_cast<size_t>(out->top_n), -std::numeric_limits<float>::infinity());
  out->hidden.clear();
  if (T == 0) return Status();

  // Sizes below are products of validated config values and T <= 2^20.
  float* x = grow(sc.x, T * H);
  float* xn = grow(sc.xn, T * H);
  float* q = grow(sc.q, T * nh * hd);
  float* k = grow(sc.k, T * nkv * hd);
  float* v = grow(sc.v, T * nkv * hd);
  float* attn = grow(sc.attn, T * nh * hd);
  float* gate = grow(sc.gate, T * I);
  float* up = grow(sc.up, T * I);

  if (!cpu::embed(m.embed, s.token_ids.data(), Ti, x)) {
    return make_err(Code::INTERNAL, "embedding lookup refused a validated token id", "forward");
  }
  cpu::AttnShape as;
  as.n_heads = static_cast<int32_t>(nh);
  as.n_kv_heads = static_cast<int32_t>(nkv);
  as.head_dim = static_cast<int32_t>(hd);
  as.block_size = static_cast<int32_t>(kv.block_size);
  as.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  cpu::AttnBatch ab;
  ab.num_seqs = static_cast<int32_t>(S);
  ab.num_tokens = static_cast<int32_t>(T);
  ab.query_start = s.query_start.data();
  ab.seq_lens = s.seq_lens.data();
  ab.block_tables = s.block_tables.data();
  ab.max_blocks = s.max_blocks;
  ab.positions = s.positions.data();

  // One set of angles per token serves q and k of every layer.
  cpu::rope_table(s.positions.data(), Ti, hd, c.rope, &sc.rope);
  const bool decode_only = cpu::one_token_per_sequence(ab);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const LayerWeights& w = m.layers[static_cast<size_t>(l)];
    cpu::rmsnorm(x, w.attn_norm, xn, Ti, H, eps);
    // The layer's GEMV tasks (kLayerGemvTasks, model.h): q|k|v, o, gate|up, down.
    const WeightView* qkv_w[3] = {&w.q, &w.k, &w.v};
    float* qkv_y[3] = {q, k, v};
    cpu::matmul_multi(pool, xn, Ti, qkv_w, qkv_y, 3);
    if (w.q_bias != nullptr) {
      cpu::add_bias(q, w.q_bias, Ti, nh * hd);
      cpu::add_bias(k, w.k_bias, Ti, nkv * hd);
      cpu::add_bias(v, w.v_bias, Ti, nkv * hd);
    }
    if (w.q_norm != nullptr) {  // qwen3: RMSNorm over each head before RoPE
      cpu::rmsnorm(q, w.q_norm, q, Ti * nh, hd, eps);
      cpu::rmsnorm(k, w.k_norm, k, Ti * nkv, hd, eps);
    }
    // Invariant: slots < num_blocks * block_size and block ids < num_blocks (validate_step).
    if (decode_only) {
      // RoPE, KV write and attention in one task (the same bits as the
      // three calls below): no serial section between q|k|v and attention,
      // and each kv head's new K/V rows are written by the thread that then
      // attends with them (bench/README.md, 2026-12-07).
      cpu::decode_attention(pool, q, k, v, s.slot_mapping.data(), c.rope, sc.rope.data(), kv.dtype,
                            kv.k_layer(l), kv.v_layer(l), ab, as, attn);
    } else {
      cpu::rope_apply(q, Ti, nh, hd, c.rope, sc.rope);
      cpu::rope_apply(k, Ti, nkv, hd, c.rope, sc.rope);
      cpu::kv_write(k, v, s.slot_mapping.data(), Ti, as, kv.dtype, kv.k_layer(l), kv.v_layer(l));
      cpu::paged_attention(pool, q, kv.dtype, kv.k_layer(l), kv.v_layer(l), ab, as, attn);
    }
    cpu::matmul(pool, attn, Ti, w.o, xn);
    cpu::add_inplace(x, xn, Ti * H);
    cpu::rmsnorm(x, w.ffn_norm, xn, Ti, H, eps);
    cpu::matmul_silu_mul(pool, xn, Ti, w.gate, w.up, gate, up);
    cpu::matmul(pool, gate, Ti, w.down, xn);
    cpu::add_inplace(x, xn, Ti * H);
    m.note_progress();
  }

  // Hidden states (embeddings): the asked rows through the final norm.
  const std::vector<int32_t> hrows = hidden_rows(s);
  if (!hrows.empty()) {
    out->hidden.resize(hrows.size() * static_cast<size_t>(H));
    for (size_t r = 0; r < hrows.size(); ++r) {
      // Invariant: hidden rows are token indices < T (hidden_rows); hidden holds rows * H floats.
      std::memcpy(out->hidden.data() + r * H, x + static_cast<size_t>(hrows[r]) * H, sizeof(float) * static_cast<size_t>(H));
    }
    cpu::rmsnorm(out->hidden.data(), m.final_norm, out->hidden.data(), static_cast<int64_t>(hrows.size()), H, eps);
  }

  // Prompt logprobs (echo): every token with a target, a few rows at a time
  // through the final norm and lm_head, as the sampling rows go below.
  const PromptRowPlan prompt = prepare_prompt_logprobs(s, out);
  constexpr size_t kPromptRows = 16;
  for (size_t r0 = 0; r0 < prompt.rows.size(); r0 += kPromptRows) {
    const size_t R = std::min(kPromptRows, prompt.rows.size() - r0);
    float* rows = grow(sc.last, R * H);
    for (size_t r = 0; r < R; ++r) {
      // Invariant: prompt rows are token indices < T (prepare_prompt_logprobs).
      const auto t = static_cast<size_t>(prompt.rows[r0 + r]);
      std::memcpy(rows + r * H, x + t * H, sizeof(float) * static_cast<size_t>(H));
    }
    cpu::rmsnorm(rows, m.final_norm, rows, static_cast<int64_t>(R), H, eps);
    float* plogits = grow(sc.prompt_logits, R * V);
    cpu::matmul(pool, rows, static_cast<int64_t>(R), m.lm_head, plogits);
    PromptJob job{plogits, prompt.rows.data() + r0, prompt.top_n.data() + r0, &s, V, out};
    cpu::parallel_for(pool, static_cast<int64_t>(R), prompt_rows, &job);
    m.note_progress();
  }

  // The last token of each sampling sequence, in sequence order.
  sc.rows.clear();
  for (size_t i = 0; i < S; ++i) {
    if (s.do_sample[i] != 0) sc.rows.push_back(static_cast<int32_t>(i));
  }
  const size_t Ns = sc.rows.size();
  if (Ns == 0) {
    out->forward_ms = ms_since(t0);
    return Status();
  }
  float* last = grow(sc.last, Ns * H);
  for (size_t r = 0; r < Ns; ++r) {
    const size_t t = static_cast<size_t>(s.query_start[static_cast<size_t>(sc.rows[r]) + 1] - 1);
    std::memcpy(last + r * H, x + t * H, sizeof(float) * static_cast<size_t>(H));
  }
  cpu::rmsnorm(last, m.final_norm, last, static_cast<int64_t>(Ns), H, eps);
  float* logits = grow(sc.logits, Ns * V);
  cpu::matmul(pool, last, static_cast<int64_t>(Ns), m.lm_head, logits);
  out->forward_ms = ms_since(t0);

  const auto t1 = Clock::now();
  // One scratch slice per thread index (the caller is index 0, workers 1..n-1).
  const int threads = std::max(1, cpu::pool_threads(pool));
  cpu::SampleBatch sb;
  sb.temperature = s.temperature.data();
  sb.top_p = s.top_p.data();
  sb.top_k = s.top_k.data();
  sb.min_p = s.min_p.data();
  sb.presence_penalty = s.presence_penalty.data();
  sb.frequency_penalty = s.frequency_penalty.data();
  sb.repetition_penalty = s.repetition_penalty.data();
  sb.seeds = s.seeds.data();
  sb.sample_index = s.sample_index.data();
  sb.num_logprobs = s.num_logprobs.data();
  sb.output_tokens = s.output_tokens.data(), sb.output_start = s.output_start.data();
  sb.prompt_tokens = s.prompt_tokens.data(), sb.prompt_start = s.prompt_start.data();
  sb.banned_tokens = s.banned_tokens.data(), sb.banned_start = s.banned_start.data();
  sb.bias_tokens = s.bias_tokens.data(), sb.bias_values = s.bias_values.data(), sb.bias_start = s.bias_start.data();
  SampleJob job{sb, &sc.rows, logits, grow(sc.sample, static_cast<size_t>(threads) * 2 * V), static_cast<int32_t>(V), out};
  cpu::parallel_for(pool, static_cast<int64_t>(Ns), sample_rows, &job);
  out->sample_ms = ms_since(t1);
  return Status();
}

}  // namespace hs
