// Sampling of one row of logits (pipeline of native/README.md):
//
//   raw logits --copy--> logprobs of the chosen token and the top N
//       |
//   banned (-inf) -> logit_bias (+value) -> repetition (HF, prompt+output)
//   -> presence/frequency (OpenAI, output) -> temperature (0: argmax, done)
//   -> top-k -> top-p -> min-p -> draw u = philox(seed, sample_index) over
//   the survivors in increasing token id order (an order that needs no full
//   sort).
//
// Ties in top-k/top-p ranking go to the lower token id.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/internal.h"

namespace hs {
namespace cpu {

float philox_uniform(uint64_t seed, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n1 = static_cast<uint32_t>(p1);
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    const uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
  }
  return static_cast<float>(c0 >> 8) * (1.0f / 16777216.0f);
}

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void apply_penalties(float* logits, int32_t V, const SampleParams& p) {
  static thread_local std::vector<int32_t> ids;
  if (p.repetition_penalty != 1.0f && p.repetition_penalty > 0.0f) {
    ids.assign(p.prompt_tokens, p.prompt_tokens + std::max(0, p.n_prompt_tokens));
    ids.insert(ids.end(), p.output_tokens, p.output_tokens + std::max(0, p.n_output_tokens));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (const int32_t t : ids) {
      if (t < 0 || t >= V) continue;
      float& l = logits[t];
      l = l > 0.0f ? l / p.repetition_penalty : l * p.repetition_penalty;
    }
  }
  if ((p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) && p.n_output_tokens > 0) {
    ids.assign(p.output_tokens, p.output_tokens + p.n_output_tokens);
    std::sort(ids.begin(), ids.end());
    for (size_t i = 0; i < ids.size();) {
      size_t j = i;
      while (j < ids.size() && ids[j] == ids[i]) ++j;
      const int32_t t = ids[i];
      if (t >= 0 && t < V) {
        logits[t] -= static_cast<float>(j - i) * p.frequency_penalty + p.presence_penalty;
      }
      i = j;
    }
  }
}

// The first index of the largest value (a NaN never wins; 0 when nothing
// beats -inf). Greedy decoding runs this over the whole vocabulary every
// token: the one-index loop (`x[i] > x[best]`) cannot vectorize and took
// ~25 us for 32k logits; here both passes work on 16 lanes at a time (a
// lane-wise select and an any-equal test, which the compiler vectorizes),
// and only the block holding the maximum is scanned one by one.
int32_t argmax(const float* x, int32_t V) {
  constexpr int32_t kLanes = 16;
  float lane[kLanes];
  for (float& m : lane) m = kNegInf;
  int32_t i = 0;
  for (; i + kLanes <= V; i += kLanes) {
    for (int32_t j = 0; j < kLanes; ++j) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
  }
  float best = kNegInf;
  for (const float m : lane) best = m > best ? m : best;
  for (; i < V; ++i) best = x[i] > best ? x[i] : best;
  if (!(best > kNegInf)) return 0;
  for (i = 0; i + kLanes <= V; i += kLanes) {
    int hit = 0;
    for (int32_t j = 0; j < kLanes; ++j) hit |= x[i + j] == best ? 1 : 0;
    if (hit != 0) break;
  }
  for (; i < V; ++i) {
    if (x[i] == best) return i;
  }
  return 0;  // unreachable: best is one of x
}

// Survivors of top-k / top-p / min-p (ids in `keep`, ascending) for scaled
// logits s with maximum smax; empty `keep` means "every finite token".
void truncate(const float* s, int32_t V, float smax, const SampleParams& p, std::vector<int32_t>& keep) {
  keep.clear();
  const bool use_k = p.top_k > 0 && p.top_k < V;
  const bool use_p = p.top_p < 1.0f;
  const float min_s = p.min_p > 0.0f ? smax + std::log(p.min_p) : kNegInf;
  if (!use_k && !use_p) {
    if (p.min_p > 0.0f) {
      for (int32_t i = 0; i < V; ++i) {
        if (s[i] >= min_s) keep.push_back(i);
      }
    }
    return;
  }
  static thread_local std::vector<int32_t> cand;
  cand.clear();
  for (int32_t i = 0; i < V; ++i) {
    if (s[i] > kNegInf) cand.push_back(i);
  }
  const int64_t n = static_cast<int64_t>(cand.size());
  auto better = [s](int32_t a, int32_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); };
  double z_all = 0.0;
  if (!use_k) {
    for (const int32_t i : cand) z_all += std::exp(static_cast<double>(s[i]) - smax);
  }
  // Rank just enough candidates: top_k of them, or (top-p alone) a prefix
  // grown until it holds top_p of the mass.
  int64_t c = use_k ? std::min<int64_t>(p.top_k, n) : std::min<int64_t>(64, n);
  for (;;) {
    std::nth_element(cand.begin(), cand.begin() + (c - 1 < 0 ? 0 : c - 1), cand.end(), better);
    std::sort(cand.begin(), cand.begin() + c, better);
    if (use_k || c >= n) break;
    double mass = 0.0;
    for (int64_t i = 0; i < c; ++i) mass += std::exp(static_cast<double>(s[cand[i]]) - smax);
    if (mass >= static_cast<double>(p.top_p) * z_all) break;
    c = std::min<int64_t>(n, c * 4);
  }
  int64_t kept = c;
  if (use_p) {
    // With top-k, top-p applies to the renormalized top-k distribution; alone,
    // to the whole vocabulary (the ranked prefix only holds enough of it).
    double z = z_all;
    if (use_k) {
      z = 0.0;
      for (int64_t i = 0; i < c; ++i) z += std::exp(static_cast<double>(s[cand[i]]) - smax);
    }
    const double target = static_cast<double>(p.top_p) * z;
    double cum = 0.0;
    for (int64_t i = 0; i < c; ++i) {
      cum += std::exp(static_cast<double>(s[cand[i]]) - smax);
      if (cum >= target) {
        kept = i + 1;
        break;
      }
    }
  }
  for (int64_t i = 0; i < kept; ++i) {
    if (s[cand[i]] >= min_s) keep.push_back(cand[i]);
  }
  std::sort(keep.begin(), keep.end());
}

void fill_logprobs(const float* raw, int32_t V, int32_t chosen, const SampleParams& p, SampleResult& r) {
  for (int32_t i = 0; i < r.top_n; ++i) {
    r.top_ids[i] = -1;
    r.top_logprobs[i] = kNegInf;
  }
  if (p.num_logprobs < 0) {
    r.logprob = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  float mx = kNegInf;
  for (int32_t i = 0; i < V; ++i) mx = std::max(mx, raw[i]);
  double z = 0.0;
  for (int32_t i = 0; i < V; ++i) z += std::exp(static_cast<double>(raw[i]) - mx);
  const double lse = mx + std::log(z);
  r.logprob = static_cast<float>(raw[chosen] - lse);
  const int32_t n = std::min({p.num_logprobs, r.top_n, V});
  if (n <= 0) return;
  // insertion into a best-first list of n (n is small: OpenAI allows <= 20)
  int32_t filled = 0;
  for (int32_t i = 0; i < V; ++i) {
    if (filled == n && !(raw[i] > raw[r.top_ids[n - 1]])) continue;
    int32_t pos = filled < n ? filled++ : n - 1;
    while (pos > 0 && raw[i] > raw[r.top_ids[pos - 1]]) {
      r.top_ids[pos] = r.top_ids[pos - 1];
      --pos;
    }
    r.top_ids[pos] = i;
  }
  for (int32_t i = 0; i < n; ++i) r.top_logprobs[i] = static_cast<float>(raw[r.top_ids[i]] - lse);
}

}  // namespace

SampleParams sample_params(const SampleBatch& b, size_t i) {
  SampleParams p;
  p.temperature = b.temperature[i];
  p.top_p = b.top_p[i];
  p.top_k = b.top_k[i] < 0 ? 0 : b.top_k[i];
  p.min_p = b.min_p[i];
  p.presence_penalty = b.presence_penalty[i];
  p.frequency_penalty = b.frequency_penalty[i];
  p.repetition_penalty = b.repetition_penalty[i];
  p.seed = b.seeds[i];
  p.sample_index = b.sample_index[i];
  p.num_logprobs = b.num_logprobs[i];
  // Invariant (caller): offsets are monotone and end at their list's length.
  if (b.output_tokens != nullptr) {
    p.output_tokens = b.output_tokens + b.output_start[i];
    p.n_output_tokens = b.output_start[i + 1] - b.output_start[i];
  }
  if (b.prompt_tokens != nullptr) {
    p.prompt_tokens = b.prompt_tokens + b.prompt_start[i];
    p.n_prompt_tokens = b.prompt_start[i + 1] - b.prompt_start[i];
  }
  if (b.banned_tokens != nullptr) {
    p.banned = b.banned_tokens + b.banned_start[i];
    p.n_banned = b.banned_start[i + 1] - b.banned_start[i];
  }
  if (b.bias_tokens != nullptr) {
    p.bias_tokens = b.bias_tokens + b.bias_start[i];
    p.bias_values = b.bias_values + b.bias_start[i];
    p.n_bias = b.bias_start[i + 1] - b.bias_start[i];
  }
  return p;
}

void sample(float* logits, int32_t V, const SampleParams& p, float* scratch, SampleResult& r) {
  float* raw = scratch;
  if (p.num_logprobs >= 0) std::memcpy(raw, logits, static_cast<size_t>(V) * sizeof(float));
  for (int32_t i = 0; i < p.n_banned; ++i) {
    if (p.banned[i] >= 0 && p.banned[i] < V) logits[p.banned[i]] = kNegInf;
  }
  for (int32_t i = 0; i < p.n_bias; ++i) {
    if (p.bias_tokens[i] >= 0 && p.bias_tokens[i] < V) logits[p.bias_tokens[i]] += p.bias_values[i];
  }
  apply_penalties(logits, V, p);
  int32_t token;
  float smax = kNegInf;
  const float inv_t = p.temperature > 0.0f ? 1.0f / p.temperature : 0.0f;
  if (std::isfinite(inv_t) && inv_t > 0.0f && p.top_k != 1) {
    for (int32_t i = 0; i < V; ++i) {
      logits[i] *= inv_t;
      smax = std::max(smax, logits[i]);
    }
  }
  if (!(smax > kNegInf)) {
    // greedy (temperature 0 or so small that 1/T overflows, top_k 1), or no
    // finite logit at all
    token = argmax(logits, V);
  } else {
    static thread_local std::vector<int32_t> keep;
    truncate(logits, V, smax, p, keep);
    const float u = philox_uniform(p.seed, static_cast<uint64_t>(static_cast<uint32_t>(p.sample_index)));
    token = -1;
    if (keep.empty()) {
      // every finite token survives
      double z = 0.0;
      for (int32_t i = 0; i < V; ++i) z += std::exp(static_cast<double>(logits[i]) - smax);
      const double target = u * z;
      double cum = 0.0;
      for (int32_t i = 0; i < V; ++i) {
        const double w = std::exp(static_cast<double>(logits[i]) - smax);
        if (w <= 0.0) continue;
        cum += w;
        token = i;
        if (cum > target) break;
      }
    } else {
      double z = 0.0;
      for (const int32_t i : keep) z += std::exp(static_cast<double>(logits[i]) - smax);
      const double target = u * z;
      double cum = 0.0;
      for (const int32_t i : keep) {
        cum += std::exp(static_cast<double>(logits[i]) - smax);
        token = i;
        if (cum > target) break;
      }
    }
    if (token < 0) token = argmax(logits, V);  // no finite logit at all
  }
  r.token = token;
  fill_logprobs(raw, V, token, p, r);
}

void logprobs_of(const float* logits, int32_t V, int32_t token, int32_t num_logprobs, SampleResult& r) {
  SampleParams p;
  p.num_logprobs = num_logprobs;
  r.token = token;
  fill_logprobs(logits, V, token, p, r);
}

}  // namespace cpu
}  // namespace hs
