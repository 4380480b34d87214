// DeviceModel::forward: one step of native/README.md on the device, the
// same sequence of operations as the CPU's run_forward (model/forward.cc):
//
//   embed -> per layer: rmsnorm, q/k/v, bias, q/k norm, rope, kv_write,
//   attention, o, residual, rmsnorm, gate/up, silu*up, down, residual
//   -> per chunk of sampling rows: gather last token, final norm, lm_head,
//   sample -> one copy back, one synchronization.
//
// The step's integer arrays and the compacted sampling parameters travel in
// one host staging buffer and one copy:
//
//   | tokens[T] | positions[T] | slots[T] | queryStart[S+1] | seqLens[S] |
//   | blockTables[S*B] | lastRow[Ns] | per sampling row: params..., flat lists |
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "device_model.h"

namespace hs {
namespace hipk {

namespace {

// lm_head + sampling run over at most this many rows at a time, bounding
// the logits and the sampler's scratch (3 x vocab floats per row).
constexpr int64_t kSampleChunk = 32;

// 4-byte words appended to the staging buffer; offsets are in words.
struct Staging {
  template <class T>
  size_t put(const T* p, size_t n) {
    static_assert(sizeof(T) == 4, "32-bit words only");
    const size_t at = words.size();
    words.resize(at + n);
    // Invariant: p holds n elements (the validated step's arrays).
    if (n > 0) std::memcpy(words.data() + at, p, n * 4);
    return at;
  }
  size_t put_one(int32_t v) { return put(&v, 1); }
  std::vector<uint32_t>& words;
};

}  // namespace

Status DeviceModel::forward(DeviceKv& kv, const hs_dev_step& s, hs_dev_step_out* out) {
  const int64_t T = s.num_tokens, S = s.num_seqs;
  for (int64_t i = 0; i < S; ++i) {
    out->sampled[i] = -1;
    out->logprob[i] = std::numeric_limits<float>::quiet_NaN();
  }
  for (int64_t i = 0; i < S * out->top_n; ++i) {
    out->top_ids[i] = -1;
    out->top_logprobs[i] = -std::numeric_limits<float>::infinity();
  }
  if (T == 0) return Status();

  sample_seqs_.clear();
  max_query_ = 0;
  max_seq_len_ = 0;
  decode_only_ = true;
  for (int64_t i = 0; i < S; ++i) {
    const int32_t n = s.query_start[i + 1] - s.query_start[i];
    max_query_ = n > max_query_ ? n : max_query_;
    max_seq_len_ = s.seq_lens[i] > max_seq_len_ ? s.seq_lens[i] : max_seq_len_;
    if (n != 1) decode_only_ = false;
    if (s.do_sample[i] != 0) sample_seqs_.push_back(static_cast<int32_t>(i));
  }
  const int64_t Ns = static_cast<int64_t>(sample_seqs_.size());
  // Prompt-logprob rows (echo): tokens whose next prompt token is asked for.
  prompt_rows_.clear();
  std::vector<int32_t> prompt_nlp;
  if (s.prompt_targets != nullptr && out->prompt_logprob != nullptr) {
    for (int64_t i = 0; i < S; ++i) {
      for (int32_t t = s.query_start[i]; t < s.query_start[i + 1]; ++t) {
        if (s.prompt_targets[t] < 0) continue;
        prompt_rows_.push_back(t);
        prompt_nlp.push_back(s.num_prompt_logprobs[i]);
      }
    }
  }
  const int64_t Np = static_cast<int64_t>(prompt_rows_.size());
  // Hidden-state rows (embeddings): token indices < T (validate_step, hidden_rows).
  const int64_t Nh = out->hidden != nullptr && s.hidden_rows != nullptr ? s.num_hidden_rows : 0;
  const int64_t chunk_rows = std::max({Ns < kSampleChunk ? Ns : kSampleChunk, Np < kSampleChunk ? Np : kSampleChunk,
                                       Nh < kSampleChunk ? Nh : kSampleChunk});
  HS_DEV_TRY(reserve_scratch(T, chunk_rows));

  // A member, not a local: an asynchronous copy may still read it if a
  // later call fails and this function returns early.
  staging_.clear();
  Staging st{staging_};
  const size_t o_tok = st.put(s.token_ids, T), o_pos = st.put(s.positions, T);
  const size_t o_slot = st.put(s.slot_mapping, T), o_qs = st.put(s.query_start, S + 1);
  const size_t o_len = st.put(s.seq_lens, S);
  const size_t o_tab = st.put(s.block_tables, static_cast<size_t>(S * s.max_blocks));
  const size_t o_last = st.words.size();
  for (int32_t i : sample_seqs_) st.put_one(s.query_start[i + 1] - 1);
  // Sampling parameters of the sampling rows only, in row order.
  size_t o_p[10];
  {
    const float* f[] = {s.temperature, s.top_p, s.min_p, s.presence, s.frequency, s.repetition};
    for (int j = 0; j < 6; ++j) {
      o_p[j] = st.words.size();
      for (int32_t i : sample_seqs_) st.put(f[j] + i, 1);
    }
    const int32_t* n[] = {s.top_k, s.sample_index, s.num_logprobs};
    for (int j = 0; j < 3; ++j) {
      o_p[6 + j] = st.words.size();
      for (int32_t i : sample_seqs_) st.put(n[j] + i, 1);
    }
    o_p[9] = st.words.size();  // seeds as (low, high) words
    for (int32_t i : sample_seqs_) {
      const uint32_t w[2] = {static_cast<uint32_t>(s.seeds[i]), static_cast<uint32_t>(s.seeds[i] >> 32)};
      st.put(w, 2);
    }
  }
  // The four flat lists, re-based to the sampling rows: values then S'+1
  // offsets; the bias values follow as floats, one per bias id.
  size_t o_flat[8];
  size_t o_bias_values = 0;
  {
    const int32_t* lists[] = {s.output_tokens, s.prompt_tokens, s.banned, s.bias};
    const int32_t* starts[] = {s.output_start, s.prompt_start, s.banned_start, s.bias_start};
    for (int j = 0; j < 4; ++j) {
      o_flat[2 * j] = st.words.size();
      st.put_one(0);  // never empty, so the device pointer is always inside the buffer
      std::vector<int32_t> offs{0};
      for (int32_t i : sample_seqs_) {
        st.put(lists[j] + starts[j][i], static_cast<size_t>(starts[j][i + 1] - starts[j][i]));
        offs.push_back(offs.back() + starts[j][i + 1] - starts[j][i]);
      }
      o_flat[2 * j + 1] = st.put(offs.data(), offs.size());
    }
    o_bias_values = st.words.size();
    st.put_one(0);  // aligned with the bias ids' placeholder word
    for (int32_t i : sample_seqs_) {
      st.put(s.bias_values + s.bias_start[i], static_cast<size_t>(s.bias_start[i + 1] - s.bias_start[i]));
    }
  }
  // Prompt-logprob rows: token indices, their targets and their top-N.
  const size_t o_prows = st.words.size();
  st.put(prompt_rows_.data(), prompt_rows_.size());
  const size_t o_ptargets = st.words.size();
  for (const int32_t t : prompt_rows_) st.put_one(s.prompt_targets[t]);
  const size_t o_pnlp = st.put(prompt_nlp.data(), prompt_nlp.size());
  const size_t o_hrows = st.put(s.hidden_rows, static_cast<size_t>(Nh));
  HS_DEV_TRY(ints_.reserve(st.words.size() * 4));
  HS_HIP_CHECK(hipMemcpyAsync(ints_.as<void>(), st.words.data(), st.words.size() * 4, hipMemcpyHostToDevice, stream_));
  // Invariant: every o_* offset below is < st.words.size(), the words just
  // copied to ints_ (reserved for exactly that many), so each device view is
  // inside that allocation; the float and seed views reinterpret 4-byte words
  // that were written from floats and u32 pairs.
  const int32_t* base = ints_.as<const int32_t>();
  d_tokens_ = base + o_tok, d_positions_ = base + o_pos, d_slots_ = base + o_slot;
  d_query_start_ = base + o_qs, d_seq_lens_ = base + o_len, d_tables_ = base + o_tab;
  d_last_rows_ = base + o_last;
  num_seqs_ = static_cast<int32_t>(S);
  max_blocks_ = s.max_blocks;
  block_size_ = static_cast<int32_t>(kv.block_size);

  // Every buffer is sized before the first launch: growing one frees it,
  // which must not happen under queued work.
  if (decode_only_) {
    AttnArgs a;
    a.num_seqs = num_seqs_;
    a.n_heads = static_cast<int32_t>(nh_);
    a.head_dim = static_cast<int32_t>(hd_);
    a.block_size = block_size_;
    decode_split_ = decode_blocks_per_split(block_size_);
    HS_DEV_TRY(partials_.reserve(static_cast<size_t>(decode_partials_floats(a, max_seq_len_, decode_split_)) * 4 + 4));
  }
  // Results: the sampling rows' | token[Ns] | logprob[Ns] | top_ids[Ns*top_n] |
  // top_logprobs[Ns*top_n] |, then the prompt rows' | logprob[Np] | rank[Np] |
  // top_ids[Np*ptn] | top_logprobs[Np*ptn] |, copied back in one piece.
  const size_t ptn = Np > 0 ? static_cast<size_t>(out->prompt_top_n) : 0;
  const size_t sample_words = (2 + 2 * static_cast<size_t>(out->top_n)) * static_cast<size_t>(Ns);
  const size_t prompt_words = (2 + 2 * ptn) * static_cast<size_t>(Np);
  HS_DEV_TRY(outs_.reserve((sample_words + prompt_words) * 4 + 4));
  HS_HIP_CHECK(launch_embed(stream_, embed_.dtype, embed_.data, H_, d_tokens_, T, x_.as<float>()));
  for (int64_t l = 0; l < L_; ++l) HS_DEV_TRY(layer(l, kv, T));

  if (Nh > 0) {
    // The asked rows through the final norm, copied back a chunk at a time
    // into host_hidden_ (a member: a queued copy may outlive an early return).
    host_hidden_.resize(static_cast<size_t>(Nh * H_));
    for (int64_t r0 = 0; r0 < Nh; r0 += kSampleChunk) {
      const int64_t R = Nh - r0 < kSampleChunk ? Nh - r0 : kSampleChunk;
      float* last = last_.as<float>();
      HS_HIP_CHECK(launch_embed(stream_, kF32, x_.as<float>(), H_, base + o_hrows + r0, R, last));
      HS_HIP_CHECK(launch_rmsnorm(stream_, last, final_norm_, last, R, H_, eps_));
      HS_HIP_CHECK(hipMemcpyAsync(host_hidden_.data() + r0 * H_, last, static_cast<size_t>(R * H_) * 4, hipMemcpyDeviceToHost,
                                  stream_));
    }
  }
  if (Np > 0) {
    // Invariant: outs_ holds sample_words + prompt_words words (reserved above);
    // the prompt rows are token indices < T, uploaded at o_prows.
    float* d_plp = reinterpret_cast<float*>(outs_.as<int32_t>() + sample_words);
    int32_t* d_prank = reinterpret_cast<int32_t*>(d_plp + Np);
    int32_t* d_pids = d_prank + Np;
    float* d_ptop = reinterpret_cast<float*>(d_pids + Np * static_cast<int64_t>(ptn));
    const int64_t pn = static_cast<int64_t>(ptn);
    for (int64_t r0 = 0; r0 < Np; r0 += kSampleChunk) {
      const int64_t R = Np - r0 < kSampleChunk ? Np - r0 : kSampleChunk;
      float* last = last_.as<float>();
      HS_HIP_CHECK(launch_embed(stream_, kF32, x_.as<float>(), H_, base + o_prows + r0, R, last));
      HS_HIP_CHECK(launch_rmsnorm(stream_, last, final_norm_, last, R, H_, eps_));
      HS_DEV_TRY(matmul(last, R, lm_head_, logits_.as<float>()));
      HS_HIP_CHECK(launch_prompt_logprobs(stream_, logits_.as<float>(), static_cast<int32_t>(R), static_cast<int32_t>(V_),
                                          base + o_ptargets + r0, base + o_pnlp + r0, static_cast<int32_t>(ptn), d_plp + r0,
                                          d_prank + r0, d_pids + r0 * pn, d_ptop + r0 * pn));
    }
  }
  if (Ns > 0) {
    SampleArgs a;
    a.vocab = static_cast<int32_t>(V_);
    a.top_n = out->top_n;
    // Invariant: outs_ starts with the (2 + 2 * top_n) * Ns sampling words (reserved above).
    int32_t* d_tok = outs_.as<int32_t>();
    float* d_lp = reinterpret_cast<float*>(d_tok + Ns);
    int32_t* d_top_ids = d_tok + 2 * Ns;
    float* d_top_lp = reinterpret_cast<float*>(d_top_ids + Ns * out->top_n);
    for (int64_t r0 = 0; r0 < Ns; r0 += kSampleChunk) {
      const int64_t R = Ns - r0 < kSampleChunk ? Ns - r0 : kSampleChunk;
      float* last = last_.as<float>();
      // The embedding gather with x as an f32 table copies each sampling
      // sequence's last token row: ids are token indices < T.
      HS_HIP_CHECK(launch_embed(stream_, kF32, x_.as<float>(), H_, d_last_rows_ + r0, R, last));
      HS_HIP_CHECK(launch_rmsnorm(stream_, last, final_norm_, last, R, H_, eps_));
      HS_DEV_TRY(matmul(last, R, lm_head_, logits_.as<float>()));
      a.num_seqs = static_cast<int32_t>(R);
      const float* pf = reinterpret_cast<const float*>(base);
      a.temperature = pf + o_p[0] + r0, a.top_p = pf + o_p[1] + r0, a.min_p = pf + o_p[2] + r0;
      a.presence = pf + o_p[3] + r0, a.frequency = pf + o_p[4] + r0, a.repetition = pf + o_p[5] + r0;
      a.top_k = base + o_p[6] + r0, a.sample_index = base + o_p[7] + r0, a.num_logprobs = base + o_p[8] + r0;
      a.seeds = reinterpret_cast<const uint32_t*>(base + o_p[9]) + 2 * r0;
      // Offsets stay absolute into each flat list (values start one word in).
      a.output_tokens = base + o_flat[0] + 1, a.output_start = base + o_flat[1] + r0;
      a.prompt_tokens = base + o_flat[2] + 1, a.prompt_start = base + o_flat[3] + r0;
      a.banned = base + o_flat[4] + 1, a.banned_start = base + o_flat[5] + r0;
      a.bias = base + o_flat[6] + 1, a.bias_start = base + o_flat[7] + r0;
      a.bias_values = pf + o_bias_values + 1;
      HS_HIP_CHECK(launch_sample(stream_, logits_.as<float>(), a, sample_scratch_.as<float>(), d_tok + r0,
                                 d_lp + r0, d_top_ids + r0 * out->top_n, d_top_lp + r0 * out->top_n));
    }
  }
  if (sample_words + prompt_words > 0) {
    host_out_.resize(sample_words + prompt_words);
    HS_HIP_CHECK(hipMemcpyAsync(host_out_.data(), outs_.as<int32_t>(), host_out_.size() * 4, hipMemcpyDeviceToHost, stream_));
  }
  HS_HIP_CHECK(hipStreamSynchronize(stream_));
  // Invariant: out->hidden holds num_hidden_rows * hidden floats (the caller's contract).
  if (Nh > 0) std::memcpy(out->hidden, host_hidden_.data(), static_cast<size_t>(Nh * H_) * 4);
  // Invariant: the prompt part of host_out_ follows its sampling part as laid
  // out above; out's prompt arrays hold T and T * prompt_top_n entries.
  for (size_t r = 0; r < prompt_rows_.size(); ++r) {
    const size_t t = static_cast<size_t>(prompt_rows_[r]), n = prompt_rows_.size();
    std::memcpy(&out->prompt_logprob[t], &host_out_[sample_words + r], 4);
    std::memcpy(&out->prompt_rank[t], &host_out_[sample_words + n + r], 4);
    if (ptn > 0) {
      std::memcpy(out->prompt_top_ids + t * ptn, &host_out_[sample_words + 2 * n + r * ptn], ptn * 4);
      std::memcpy(out->prompt_top_logprobs + t * ptn, &host_out_[sample_words + 2 * n + n * ptn + r * ptn], ptn * 4);
    }
  }
  // Invariant: host_out_ mirrors outs_'s layout; out's arrays hold S and
  // S * top_n entries (the caller's contract) and sample_seqs_ are < S.
  const size_t tn = static_cast<size_t>(out->top_n);
  for (size_t r = 0; r < sample_seqs_.size(); ++r) {
    const size_t i = static_cast<size_t>(sample_seqs_[r]), n = sample_seqs_.size();
    std::memcpy(&out->sampled[i], &host_out_[r], 4);
    if (s.num_logprobs[i] >= 0) std::memcpy(&out->logprob[i], &host_out_[n + r], 4);
    if (tn > 0) {
      std::memcpy(out->top_ids + i * tn, &host_out_[2 * n + r * tn], tn * 4);
      std::memcpy(out->top_logprobs + i * tn, &host_out_[2 * n + n * tn + r * tn], tn * 4);
    }
  }
  return Status();
}

Status DeviceModel::layer(int64_t l, DeviceKv& kv, int64_t T) {
  const DeviceLayer& w = layers_[static_cast<size_t>(l)];
  float *x = x_.as<float>(), *xn = xn_.as<float>(), *q = q_.as<float>(), *k = k_.as<float>();
  float *v = v_.as<float>(), *attn = attn_.as<float>(), *gate = gate_.as<float>(), *up = up_.as<float>();
  const int64_t qd = nh_ * hd_, kd = nkv_ * hd_;
  HS_HIP_CHECK(launch_rmsnorm(stream_, x, w.attn_norm, xn, T, H_, eps_));
  HS_DEV_TRY(matmul(xn, T, w.q, q));
  HS_DEV_TRY(matmul(xn, T, w.k, k));
  HS_DEV_TRY(matmul(xn, T, w.v, v));
  if (w.q_bias != nullptr) {
    HS_HIP_CHECK(launch_add_bias(stream_, q, w.q_bias, T, qd));
    HS_HIP_CHECK(launch_add_bias(stream_, k, w.k_bias, T, kd));
    HS_HIP_CHECK(launch_add_bias(stream_, v, w.v_bias, T, kd));
  }
  if (w.q_norm != nullptr) {  // qwen3: RMSNorm over each head before RoPE
    HS_HIP_CHECK(launch_rmsnorm(stream_, q, w.q_norm, q, T * nh_, hd_, eps_));
    HS_HIP_CHECK(launch_rmsnorm(stream_, k, w.k_norm, k, T * nkv_, hd_, eps_));
  }
  HS_HIP_CHECK(launch_rope(stream_, q, d_positions_, T, static_cast<int32_t>(nh_), static_cast<int32_t>(hd_), rope_));
  HS_HIP_CHECK(launch_rope(stream_, k, d_positions_, T, static_cast<int32_t>(nkv_), static_cast<int32_t>(hd_), rope_));
  // Invariant: slots < num_blocks * block_size and block ids < num_blocks
  // (validate_step on the host, against this pool's sizes).
  HS_HIP_CHECK(launch_kv_write(stream_, k, v, d_slots_, T, static_cast<int32_t>(nkv_), static_cast<int32_t>(hd_),
                               block_size_, kv.k_layer(l), kv.v_layer(l)));
  AttnArgs a;
  a.num_seqs = num_seqs_;
  a.query_start = d_query_start_;
  a.seq_lens = d_seq_lens_;
  a.block_tables = d_tables_;
  a.positions = d_positions_;
  a.max_blocks = max_blocks_;
  a.n_heads = static_cast<int32_t>(nh_);
  a.n_kv_heads = static_cast<int32_t>(nkv_);
  a.head_dim = static_cast<int32_t>(hd_);
  a.block_size = block_size_;
  a.scale = 1.0f / std::sqrt(static_cast<float>(hd_));
  if (decode_only_) {
    // Every sequence has one query token: the split-KV decode kernel.
    // partials_ was sized in forward() for this step.
    HS_HIP_CHECK(launch_attn_decode(stream_, q, kv.k_layer(l), kv.v_layer(l), a, max_seq_len_, decode_split_,
                                    partials_.as<float>(), attn));
  } else {
    // Any prefill chunk in the step: the tiled causal kernel serves every
    // sequence, decodes included (a chunk of one query).
    HS_HIP_CHECK(launch_attn_prefill(stream_, q, kv.k_layer(l), kv.v_layer(l), a, max_query_, attn));
  }
  HS_DEV_TRY(matmul(attn, T, w.o, xn));
  HS_HIP_CHECK(launch_add(stream_, x, xn, T * H_));
  HS_HIP_CHECK(launch_rmsnorm(stream_, x, w.ffn_norm, xn, T, H_, eps_));
  HS_DEV_TRY(matmul(xn, T, w.gate, gate));
  HS_DEV_TRY(matmul(xn, T, w.up, up));
  HS_HIP_CHECK(launch_silu_mul(stream_, gate, up, gate, T * I_));
  HS_DEV_TRY(matmul(gate, T, w.down, xn));
  HS_HIP_CHECK(launch_add(stream_, x, xn, T * H_));
  return Status();
}

}  // namespace hipk
}  // namespace hs
