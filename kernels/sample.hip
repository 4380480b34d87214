// Sampling on the device, one thread block per sequence, in the order of
// native/README.md and the CPU backend (native/src/cpu/sample.cc):
//
//   raw copy (logprobs) -> banned -> logit bias -> repetition (prompt +
//   output) -> presence / frequency (output) -> temperature (0 or top_k 1:
//   argmax) -> top-k -> top-p -> min-p -> draw u = philox(seed,
//   sample_index) over the survivors in increasing token id order
//
// Ranking without a sort: every token gets a unique 64-bit key, larger is
// better, ties in value going to the lower id as on the CPU:
//
//   key = | order-preserving bits of the scaled logit (32) | ~token id (32) |
//
// and a radix select over the key (8 passes of 8 bits, a 256-bin histogram
// in shared memory per pass) finds the cut: with weight 1 per token the k-th
// best key (top-k), with weight exp(s - max) the first key at which the mass
// from the top reaches top_p of the candidates' mass (top-p). Survivors are
// the tokens whose key is >= both cuts.
//
// scratch per row: | raw logits [V] | repetition flags [V] | output counts [V] |
#include "hs_reduce.h"
#include "launchers.h"

namespace hs {
namespace hipk {

constexpr int kSampleThreads = 256;

HS_DEVICE float sample_philox(uint32_t k0, uint32_t k1, uint32_t counter) {
  uint32_t c0 = counter, c1 = 0, c2 = 0, c3 = 0;
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

HS_DEVICE uint64_t rank_key(float s, int32_t id) {
  const uint32_t u = hs_float_to_bits(s);
  const uint32_t ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<uint64_t>(ordered) << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(id));
}

HS_DEVICE uint64_t block_max_u64(uint64_t v) {
  __shared__ uint64_t part[32];
  const int tid = threadIdx.x;
  for (int o = warpSize / 2; o > 0; o >>= 1) {
    const uint64_t other = __shfl_xor(v, o);
    v = other > v ? other : v;
  }
  __syncthreads();
  if (tid % warpSize == 0) part[tid / warpSize] = v;
  __syncthreads();
  uint64_t best = part[0];
  for (int i = 1; i < (static_cast<int>(blockDim.x) + warpSize - 1) / warpSize; ++i)
    best = part[i] > best ? part[i] : best;
  return best;
}

HS_DEVICE double block_sum_f64(double v) {
  __shared__ double part[32];
  const int tid = threadIdx.x;
  for (int o = warpSize / 2; o > 0; o >>= 1) v += __shfl_xor(v, o);
  __syncthreads();
  if (tid % warpSize == 0) part[tid / warpSize] = v;
  __syncthreads();
  double t = 0.0;
  for (int i = 0; i < (static_cast<int>(blockDim.x) + warpSize - 1) / warpSize; ++i) t += part[i];
  return t;
}

// The smallest key K among candidates such that the weight of candidates
// with key >= K reaches `target` (weights: 1, or exp(s - smax) when `mass`).
HS_DEVICE uint64_t radix_cut(dptr<const float> s, int32_t V, float smax, bool mass, double target,
                             uint64_t floor_key) {
  __shared__ double hist[256];
  __shared__ uint64_t chosen;
  __shared__ double above_s;
  uint64_t prefix = 0, mask = 0;
  if (threadIdx.x == 0) above_s = 0.0;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0.0;
    __syncthreads();
    for (int32_t v = threadIdx.x; v < V; v += blockDim.x) {
      const float sv = s[v];
      if (!(sv > -INFINITY)) continue;
      const uint64_t key = rank_key(sv, v);
      if (key < floor_key || (key & mask) != prefix) continue;
      atomicAdd(&hist[(key >> shift) & 255u], mass ? static_cast<double>(expf(sv - smax)) : 1.0);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int digit = 0;
      for (int b = 255; b >= 0; --b) {
        if (above_s + hist[b] >= target || b == 0) {
          digit = b;
          break;
        }
        above_s += hist[b];
      }
      chosen = static_cast<uint64_t>(digit);
    }
    __syncthreads();
    prefix |= chosen << shift;
    mask |= uint64_t{255} << shift;
  }
  return prefix;
}

// Logprob of `token` and the top min(nlp, top_n) of one row of raw logits,
// into row `row` of the outputs (columns past the row's own N: -1 / -inf).
// Every thread of the block calls it (block reductions inside).
HS_DEVICE void raw_logprobs(dptr<const float> raw, int32_t V, int32_t token, int32_t nlp, int32_t top_n, int32_t row,
                            dptr<float> logprob_out, dptr<int32_t> top_ids, dptr<float> top_lp) {
  const int tid = threadIdx.x, nt = blockDim.x;
  for (int32_t i = tid; i < top_n; i += nt) {
    top_ids[static_cast<int64_t>(row) * top_n + i] = -1;
    top_lp[static_cast<int64_t>(row) * top_n + i] = -INFINITY;
  }
  if (nlp < 0) {
    if (tid == 0) logprob_out[row] = NAN;
    return;
  }
  float rmax = -INFINITY;
  for (int32_t v = tid; v < V; v += nt) rmax = fmaxf(rmax, raw[v]);
  rmax = block_max(rmax);
  double z = 0.0;
  for (int32_t v = tid; v < V; v += nt) z += exp(static_cast<double>(raw[v]) - rmax);
  z = block_sum_f64(z);
  const double lse = rmax + log(z);
  if (tid == 0) logprob_out[row] = static_cast<float>(raw[token] - lse);
  const int32_t n = nlp < top_n ? (nlp < V ? nlp : V) : (top_n < V ? top_n : V);
  uint64_t below = ~uint64_t{0};
  for (int32_t i = 0; i < n; ++i) {
    uint64_t k = 0;
    for (int32_t v = tid; v < V; v += nt) {
      const uint64_t kv = rank_key(raw[v], v);
      if (kv < below && kv > k) k = kv;
    }
    below = block_max_u64(k);
    const int32_t id = static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(below));
    if (tid == 0) {
      top_ids[static_cast<int64_t>(row) * top_n + i] = id;
      top_lp[static_cast<int64_t>(row) * top_n + i] = static_cast<float>(raw[id] - lse);
    }
  }
}

__global__ void sample_kernel(dptr<float> logits, SampleArgs a, dptr<const float> temperature,
                              dptr<const float> top_p, dptr<const int32_t> top_k,
                              dptr<const float> min_p, dptr<const float> presence,
                              dptr<const float> frequency, dptr<const float> repetition,
                              dptr<const uint32_t> seeds, dptr<const int32_t> sample_index,
                              dptr<const int32_t> num_logprobs, dptr<const int32_t> out_tok,
                              dptr<const int32_t> out_start, dptr<const int32_t> prompt_tok,
                              dptr<const int32_t> prompt_start, dptr<const int32_t> banned,
                              dptr<const int32_t> banned_start, dptr<const int32_t> bias,
                              dptr<const float> bias_values, dptr<const int32_t> bias_start,
                              dptr<float> scratch,
                              dptr<int32_t> token_out, dptr<float> logprob_out,
                              dptr<int32_t> top_ids, dptr<float> top_lp) {
  const int32_t row = blockIdx.x, V = a.vocab;
  const int tid = threadIdx.x, nt = blockDim.x;
  dptr<float> s = logits + static_cast<int64_t>(row) * V;
  dptr<float> raw = scratch + static_cast<int64_t>(row) * 3 * V;
  dptr<float> rep_flag = raw + V;
  dptr<float> out_count = raw + 2 * V;
  for (int32_t v = tid; v < V; v += nt) {
    raw[v] = s[v];
    rep_flag[v] = 0.0f;
    out_count[v] = 0.0f;
  }
  __syncthreads();
  for (int32_t i = banned_start[row] + tid; i < banned_start[row + 1]; i += nt) {
    const int32_t b = banned[i];
    if (b >= 0 && b < V) s[b] = -INFINITY;
  }
  __syncthreads();  // a biased token may be banned too: -inf first
  // Ids are strictly increasing per row (validate_step): one thread per token.
  for (int32_t i = bias_start[row] + tid; i < bias_start[row + 1]; i += nt) {
    const int32_t b = bias[i];
    if (b >= 0 && b < V) s[b] += bias_values[i];
  }
  const float rp = repetition[row];
  const bool use_rep = rp != 1.0f && rp > 0.0f;
  if (use_rep) {
    for (int32_t i = prompt_start[row] + tid; i < prompt_start[row + 1]; i += nt) {
      const int32_t p = prompt_tok[i];
      if (p >= 0 && p < V) rep_flag[p] = 1.0f;
    }
  }
  for (int32_t i = out_start[row] + tid; i < out_start[row + 1]; i += nt) {
    const int32_t o = out_tok[i];
    if (o < 0 || o >= V) continue;
    if (use_rep) rep_flag[o] = 1.0f;
    atomicAdd(&out_count[o], 1.0f);
  }
  __syncthreads();
  const float pres = presence[row], freq = frequency[row];
  const float temp = temperature[row];
  const bool scaled = temp > 0.0f && top_k[row] != 1;
  const float inv_t = scaled ? 1.0f / temp : 1.0f;
  float local_max = -INFINITY;
  for (int32_t v = tid; v < V; v += nt) {
    float l = s[v];
    if (rep_flag[v] != 0.0f) l = l > 0.0f ? l / rp : l * rp;
    if (out_count[v] > 0.0f && (pres != 0.0f || freq != 0.0f)) l -= out_count[v] * freq + pres;
    if (scaled) l *= inv_t;
    s[v] = l;
    local_max = fmaxf(local_max, l);
  }
  const float smax = block_max(local_max);
  int32_t token = -1;
  uint64_t best = 0;
  if (!scaled || !(smax > -INFINITY)) {
    // greedy: the best key is the max logit, lowest id among equals
    uint64_t k = 0;
    for (int32_t v = tid; v < V; v += nt) {
      const uint64_t kv = rank_key(s[v], v);
      k = kv > k ? kv : k;
    }
    best = block_max_u64(k);
    token = static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(best));
  } else {
    const int32_t k = top_k[row];
    const bool use_k = k > 0 && k < V, use_p = top_p[row] < 1.0f;
    const float min_s = min_p[row] > 0.0f ? smax + logf(min_p[row]) : -INFINITY;
    uint64_t cut = 0;
    if (use_k) cut = radix_cut(s, V, smax, false, static_cast<double>(k), 0);
    if (use_p) {
      double z = 0.0;
      for (int32_t v = tid; v < V; v += nt)
        if (s[v] > -INFINITY && rank_key(s[v], v) >= cut) z += static_cast<double>(expf(s[v] - smax));
      z = block_sum_f64(z);
      cut = radix_cut(s, V, smax, true, static_cast<double>(top_p[row]) * z, cut);
    }
    // Survivors: finite, key >= cut, scaled logit >= min_s.
    double zs = 0.0;
    for (int32_t v = tid; v < V; v += nt) {
      const float sv = s[v];
      if (sv > -INFINITY && sv >= min_s && rank_key(sv, v) >= cut) zs += static_cast<double>(expf(sv - smax));
    }
    zs = block_sum_f64(zs);
    const float u = sample_philox(seeds[2 * row], seeds[2 * row + 1],
                                  static_cast<uint32_t>(sample_index[row]));
    const double target = static_cast<double>(u) * zs;
    // Walk the ids in chunks of nt: an inclusive scan of the weights in
    // each chunk, carried over chunks, finds the first cum > target.
    __shared__ double scan[1024];
    __shared__ int32_t found;
    __shared__ int32_t last_survivor;
    if (tid == 0) {
      found = 0x7FFFFFFF;  // none yet
      last_survivor = -1;
    }
    double carried = 0.0;
    __syncthreads();
    for (int32_t base = 0; base < V; base += nt) {
      const int32_t v = base + tid;
      double w = 0.0;
      if (v < V) {
        const float sv = s[v];
        if (sv > -INFINITY && sv >= min_s && rank_key(sv, v) >= cut) w = static_cast<double>(expf(sv - smax));
      }
      if (w > 0.0) atomicMax(&last_survivor, v);
      scan[tid] = w;
      __syncthreads();
      for (int off = 1; off < nt; off <<= 1) {
        const double add = tid >= off ? scan[tid - off] : 0.0;
        __syncthreads();
        scan[tid] += add;
        __syncthreads();
      }
      const double cum = carried + scan[tid];
      if (w > 0.0 && cum > target) atomicMin(&found, v);
      carried += scan[nt - 1];
      __syncthreads();
      if (found != 0x7FFFFFFF) break;  // the same in every thread: after the barrier
    }
    token = found != 0x7FFFFFFF ? found : last_survivor;
    if (token < 0) {  // nothing finite survived: argmax as the CPU does
      uint64_t kk = 0;
      for (int32_t v = tid; v < V; v += nt) {
        const uint64_t kv = rank_key(s[v], v);
        kk = kv > kk ? kv : kk;
      }
      token = static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(block_max_u64(kk)));
    }
  }
  if (tid == 0) token_out[row] = token;
  raw_logprobs(raw, V, token, num_logprobs[row], a.top_n, row, logprob_out, top_ids, top_lp);
}

// Prompt logprobs (echo): row r of `logits` is the raw output at a prompt
// token whose next prompt token is targets[r]; its logprob and top nlp[r],
// as the sampler reports a sampled token's, and its vocab rank (1 + the
// tokens with a larger logit).
__global__ void prompt_logprob_kernel(dptr<const float> logits, int32_t V, dptr<const int32_t> targets,
                                      dptr<const int32_t> nlp, int32_t top_n, dptr<float> logprob_out,
                                      dptr<int32_t> rank_out, dptr<int32_t> top_ids, dptr<float> top_lp) {
  const int32_t row = blockIdx.x;
  const int tid = threadIdx.x, nt = blockDim.x;
  dptr<const float> raw = logits + static_cast<int64_t>(row) * V;
  const int32_t target = targets[row];
  raw_logprobs(raw, V, target, nlp[row], top_n, row, logprob_out, top_ids, top_lp);
  const float t = raw[target];
  double above = 0.0;  // a count: exact in a double below 2^53
  for (int32_t v = tid; v < V; v += nt) above += raw[v] > t ? 1.0 : 0.0;
  above = block_sum_f64(above);
  if (tid == 0) rank_out[row] = static_cast<int32_t>(above) + 1;
}

int64_t sample_scratch_floats(const SampleArgs& a) {
  return static_cast<int64_t>(a.num_seqs) * 3 * a.vocab;
}

hipError_t launch_prompt_logprobs(hipStream_t s, const float* logits, int32_t rows, int32_t vocab, const int32_t* targets,
                                  const int32_t* nlp, int32_t top_n, float* logprob, int32_t* rank, int32_t* top_ids,
                                  float* top_logprobs) {
  if (rows == 0) return hipSuccess;
  hipLaunchKernelGGL(prompt_logprob_kernel, dim3(static_cast<uint32_t>(rows)), dim3(kSampleThreads), 0, s, logits, vocab,
                     targets, nlp, top_n, logprob, rank, top_ids, top_logprobs);
  return hipGetLastError();
}

hipError_t launch_sample(hipStream_t s, float* logits, const SampleArgs& a, float* scratch,
                         int32_t* token, float* logprob, int32_t* top_ids, float* top_logprobs) {
  if (a.num_seqs == 0) return hipSuccess;
  hipLaunchKernelGGL(sample_kernel, dim3(static_cast<uint32_t>(a.num_seqs)), dim3(kSampleThreads),
                     0, s, logits, a, a.temperature, a.top_p, a.top_k, a.min_p, a.presence,
                     a.frequency, a.repetition, a.seeds, a.sample_index, a.num_logprobs,
                     a.output_tokens, a.output_start, a.prompt_tokens, a.prompt_start, a.banned,
                     a.banned_start, a.bias, a.bias_values, a.bias_start, scratch, token, logprob, top_ids, top_logprobs);
  return hipGetLastError();
}

}  // namespace hipk
}  // namespace hs
