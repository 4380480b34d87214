// exports.ops.sample: the sampler over S rows of logits with per-row
// parameters laid out as in native/README.md.
#include <cstring>
#include <vector>

#include "ops/args.h"

namespace hs {
namespace ops {
namespace {

template <class T>
Span<T> row_array(Napi::Object a, const char* key, int64_t S) {
  auto s = typed<T>(a.Get(key), key);
  need(s.size == static_cast<size_t>(S), std::string(key) + " must hold one value per row");
  return s;
}

// A flat token list with its [S+1] offsets; both absent = empty lists.
struct Ragged {
  Span<int32_t> values;
  Span<int32_t> start;
  bool present = false;
};

Ragged ragged(Napi::Object a, const char* vkey, const char* skey, int64_t S) {
  Ragged r;
  if (a.Get(vkey).IsUndefined() && a.Get(skey).IsUndefined()) return r;
  r.values = typed<int32_t>(a.Get(vkey), vkey);
  r.start = typed<int32_t>(a.Get(skey), skey);
  need(r.start.size == static_cast<size_t>(S + 1), std::string(skey) + " must hold S+1 offsets");
  need(r.start.data[0] == 0 && r.start.data[S] == static_cast<int32_t>(r.values.size),
       std::string(skey) + " must run from 0 to the length of " + vkey);
  for (int64_t i = 0; i < S; ++i) {
    need(r.start.data[i] <= r.start.data[i + 1], std::string(skey) + " must not decrease");
  }
  r.present = true;
  return r;
}

// sample({ logits, vocab, temperature, topP, topK, minP, presencePenalty,
//   frequencyPenalty, repetitionPenalty, seeds, sampleIndex, numLogprobs,
//   outputTokens?, outputStart?, promptTokens?, promptStart?, bannedTokens?,
//   bannedStart?, biasTokens?, biasValues?, biasStart?, returnLogits? })
// -> { sampled, logprob, topN, topIds, topLogprobs, logits? }; `logits` are the
// rows after banned, logit bias, penalties and temperature (what
// top-k/p/min-p rank).
Napi::Value Sample(const Napi::CallbackInfo& info) {
  return run(info, "ops.sample", [&](Napi::Env env) -> Napi::Value {
    Napi::Object a = object(info[0], "args");
    auto logits = typed<float>(a.Get("logits"), "logits");
    const int64_t V = count(a.Get("vocab"), "vocab");
    need(V >= 1 && V <= (int64_t{1} << 30) && logits.size % static_cast<size_t>(V) == 0,
         "logits must hold whole rows of vocab values");
    const int64_t S = static_cast<int64_t>(logits.size) / V;
    auto temp = row_array<float>(a, "temperature", S);
    auto top_p = row_array<float>(a, "topP", S);
    auto top_k = row_array<int32_t>(a, "topK", S);
    auto min_p = row_array<float>(a, "minP", S);
    auto pres = row_array<float>(a, "presencePenalty", S);
    auto freq = row_array<float>(a, "frequencyPenalty", S);
    auto rep = row_array<float>(a, "repetitionPenalty", S);
    auto seeds = row_array<uint64_t>(a, "seeds", S);
    auto idx = row_array<int32_t>(a, "sampleIndex", S);
    auto nlp = row_array<int32_t>(a, "numLogprobs", S);
    Ragged out_t = ragged(a, "outputTokens", "outputStart", S);
    Ragged prompt = ragged(a, "promptTokens", "promptStart", S);
    Ragged banned = ragged(a, "bannedTokens", "bannedStart", S);
    Ragged bias = ragged(a, "biasTokens", "biasStart", S);
    Span<float> bias_values{};
    if (bias.present) {
      bias_values = typed<float>(a.Get("biasValues"), "biasValues");
      need(bias_values.size == bias.values.size, "biasValues must hold one value per entry of biasTokens");
    }
    const bool return_logits = a.Get("returnLogits").IsBoolean() && a.Get("returnLogits").As<Napi::Boolean>();
    int32_t top_n = 0;
    for (int64_t i = 0; i < S; ++i) {
      need(top_p.data[i] > 0.0f && top_p.data[i] <= 1.0f, "topP must be within (0, 1]");
      need(min_p.data[i] >= 0.0f && min_p.data[i] <= 1.0f, "minP must be within [0, 1]");
      need(top_k.data[i] >= 0, "topK must be >= 0");
      need(temp.data[i] >= 0.0f, "temperature must be >= 0");
      need(rep.data[i] > 0.0f, "repetitionPenalty must be > 0");
      need(nlp.data[i] >= -1 && nlp.data[i] <= 1024, "numLogprobs must be within [-1, 1024]");
      need(idx.data[i] >= 0, "sampleIndex must be >= 0");
      top_n = std::max(top_n, nlp.data[i]);
    }
    auto sampled = new_typed<int32_t>(env, static_cast<size_t>(S));
    auto logprob = new_typed<float>(env, static_cast<size_t>(S));
    auto top_ids = new_typed<int32_t>(env, static_cast<size_t>(S * top_n));
    auto top_lp = new_typed<float>(env, static_cast<size_t>(S * top_n));
    auto work = new_typed<float>(env, logits.size);
    std::memcpy(work.Data(), logits.data, logits.size * sizeof(float));
    std::vector<float> scratch(static_cast<size_t>(2 * V));
    cpu::SampleBatch sb;
    sb.temperature = temp.data, sb.top_p = top_p.data, sb.top_k = top_k.data, sb.min_p = min_p.data;
    sb.presence_penalty = pres.data, sb.frequency_penalty = freq.data, sb.repetition_penalty = rep.data;
    sb.seeds = seeds.data, sb.sample_index = idx.data, sb.num_logprobs = nlp.data;
    // Invariant: ragged() checked each present list's offsets (monotone, ending at its length).
    if (out_t.present) sb.output_tokens = out_t.values.data, sb.output_start = out_t.start.data;
    if (prompt.present) sb.prompt_tokens = prompt.values.data, sb.prompt_start = prompt.start.data;
    if (banned.present) sb.banned_tokens = banned.values.data, sb.banned_start = banned.start.data;
    if (bias.present) sb.bias_tokens = bias.values.data, sb.bias_values = bias_values.data, sb.bias_start = bias.start.data;
    for (int64_t i = 0; i < S; ++i) {
      const cpu::SampleParams p = cpu::sample_params(sb, static_cast<size_t>(i));
      cpu::SampleResult r;
      r.top_n = top_n;
      r.top_ids = top_ids.Data() + i * top_n;
      r.top_logprobs = top_lp.Data() + i * top_n;
      cpu::sample(work.Data() + i * V, static_cast<int32_t>(V), p, scratch.data(), r);
      sampled.Data()[i] = r.token;
      logprob.Data()[i] = r.logprob;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("sampled", sampled);
    o.Set("logprob", logprob);
    o.Set("topN", Napi::Number::New(env, top_n));
    o.Set("topIds", top_ids);
    o.Set("topLogprobs", top_lp);
    if (return_logits) o.Set("logits", work);
    return o;
  });
}

}  // namespace

void RegisterSampleOps(Napi::Env env, Napi::Object o) {
  o.Set("sample", Napi::Function::New(env, Sample, "sample"));
}

}  // namespace ops
}  // namespace hs
