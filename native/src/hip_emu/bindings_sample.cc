// exports.hipEmu.sample: kernels/sample.hip on the emulator, with the
// arguments of ops.sample ({ logits, vocab, temperature, ... }) and its
// result shape { sampled, logprob, topN, topIds, topLogprobs }.
#include <algorithm>
#include <vector>

#include "../../../kernels/launchers.h"
#include "hip_emu/bindings_util.h"

namespace hs {
namespace hipemu {
namespace {

using namespace hipk;

template <class T>
ops::Span<T> per_row(Napi::Object a, const char* key, int64_t S) {
  auto s = typed<T>(a.Get(key), key);
  need(s.size == static_cast<size_t>(S), std::string(key) + " must hold one value per row");
  return s;
}

// Flat token list + [S+1] offsets; both absent = empty lists (zeros).
struct Flat {
  std::vector<int32_t> values{0};  // never empty: hipMalloc(0) gives nullptr
  std::vector<int32_t> start;
};
Flat flat(Napi::Object a, const char* vkey, const char* skey, int64_t S) {
  Flat f;
  f.start.assign(static_cast<size_t>(S + 1), 0);
  if (a.Get(vkey).IsUndefined() && a.Get(skey).IsUndefined()) return f;
  auto v = typed<int32_t>(a.Get(vkey), vkey);
  auto s = typed<int32_t>(a.Get(skey), skey);
  need(s.size == static_cast<size_t>(S + 1) && s.data[0] == 0 &&
           s.data[S] == static_cast<int32_t>(v.size),
       std::string(skey) + " must hold S+1 offsets from 0 to the length of " + vkey);
  for (int64_t i = 0; i < S; ++i) need(s.data[i] <= s.data[i + 1], std::string(skey) + " must not decrease");
  if (v.size > 0) f.values.assign(v.data, v.data + v.size);
  f.start.assign(s.data, s.data + s.size);
  return f;
}

Napi::Value Sample(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.sample", [&](Napi::Env env, Napi::Value* result) -> Status {
    Napi::Object a = object(info[0], "args");
    auto logits = typed<float>(a.Get("logits"), "logits");
    const int64_t V = count(a.Get("vocab"), "vocab");
    need(V >= 1 && V < (int64_t{1} << 30) && logits.size % static_cast<size_t>(V) == 0,
         "logits must hold whole rows of vocab values");
    const int64_t S = static_cast<int64_t>(logits.size) / V;
    auto temp = per_row<float>(a, "temperature", S);
    auto top_p = per_row<float>(a, "topP", S);
    auto top_k = per_row<int32_t>(a, "topK", S);
    auto min_p = per_row<float>(a, "minP", S);
    auto pres = per_row<float>(a, "presencePenalty", S);
    auto freq = per_row<float>(a, "frequencyPenalty", S);
    auto rep = per_row<float>(a, "repetitionPenalty", S);
    auto seeds = per_row<uint64_t>(a, "seeds", S);
    auto idx = per_row<int32_t>(a, "sampleIndex", S);
    auto nlp = per_row<int32_t>(a, "numLogprobs", S);
    Flat out_t = flat(a, "outputTokens", "outputStart", S);
    Flat prompt = flat(a, "promptTokens", "promptStart", S);
    Flat banned = flat(a, "bannedTokens", "bannedStart", S);
    Flat bias = flat(a, "biasTokens", "biasStart", S);
    std::vector<float> bias_values{0.0f};  // aligned with bias.values (never empty)
    if (!a.Get("biasTokens").IsUndefined()) {
      auto bv = typed<float>(a.Get("biasValues"), "biasValues");
      need(static_cast<int64_t>(bv.size) == bias.start[static_cast<size_t>(S)],
           "biasValues must hold one value per entry of biasTokens");
      if (bv.size > 0) bias_values.assign(bv.data, bv.data + bv.size);
      // The kernel gives each biased id to one thread: ids strictly increasing per row.
      for (int64_t i = 0; i < S; ++i) {
        for (int32_t j = bias.start[static_cast<size_t>(i)] + 1; j < bias.start[static_cast<size_t>(i + 1)]; ++j) {
          need(bias.values[static_cast<size_t>(j)] > bias.values[static_cast<size_t>(j - 1)],
               "biasTokens must be strictly increasing within a row");
        }
      }
    }
    int32_t top_n = 0;
    std::vector<uint32_t> seed_words(static_cast<size_t>(2 * S));
    for (int64_t i = 0; i < S; ++i) {
      need(top_p.data[i] > 0.0f && top_p.data[i] <= 1.0f, "topP must be within (0, 1]");
      need(nlp.data[i] >= -1 && nlp.data[i] <= 1024, "numLogprobs must be within [-1, 1024]");
      top_n = std::max(top_n, nlp.data[i]);
      seed_words[2 * i] = static_cast<uint32_t>(seeds.data[i]);
      seed_words[2 * i + 1] = static_cast<uint32_t>(seeds.data[i] >> 32);
    }
    DeviceArena dev;
    SampleArgs g;
    g.num_seqs = static_cast<int32_t>(S);
    g.vocab = static_cast<int32_t>(V);
    g.top_n = top_n;
    HS_TRY(dlogits, dev.upload(logits.data, logits.size));
    HS_TRY(dtemp, dev.upload(temp.data, temp.size));
    HS_TRY(dtop_p, dev.upload(top_p.data, top_p.size));
    HS_TRY(dtop_k, dev.upload(top_k.data, top_k.size));
    HS_TRY(dmin_p, dev.upload(min_p.data, min_p.size));
    HS_TRY(dpres, dev.upload(pres.data, pres.size));
    HS_TRY(dfreq, dev.upload(freq.data, freq.size));
    HS_TRY(drep, dev.upload(rep.data, rep.size));
    HS_TRY(dseeds, dev.upload(seed_words.data(), seed_words.size()));
    HS_TRY(didx, dev.upload(idx.data, idx.size));
    HS_TRY(dnlp, dev.upload(nlp.data, nlp.size));
    HS_TRY(dout_v, dev.upload(out_t.values.data(), out_t.values.size()));
    HS_TRY(dout_s, dev.upload(out_t.start.data(), out_t.start.size()));
    HS_TRY(dpr_v, dev.upload(prompt.values.data(), prompt.values.size()));
    HS_TRY(dpr_s, dev.upload(prompt.start.data(), prompt.start.size()));
    HS_TRY(dban_v, dev.upload(banned.values.data(), banned.values.size()));
    HS_TRY(dban_s, dev.upload(banned.start.data(), banned.start.size()));
    HS_TRY(dbias_v, dev.upload(bias.values.data(), bias.values.size()));
    HS_TRY(dbias_f, dev.upload(bias_values.data(), bias_values.size()));
    HS_TRY(dbias_s, dev.upload(bias.start.data(), bias.start.size()));
    g.temperature = dtemp, g.top_p = dtop_p, g.top_k = dtop_k, g.min_p = dmin_p;
    g.presence = dpres, g.frequency = dfreq, g.repetition = drep, g.seeds = dseeds;
    g.sample_index = didx, g.num_logprobs = dnlp;
    g.output_tokens = dout_v, g.output_start = dout_s;
    g.prompt_tokens = dpr_v, g.prompt_start = dpr_s;
    g.banned = dban_v, g.banned_start = dban_s;
    g.bias = dbias_v, g.bias_values = dbias_f, g.bias_start = dbias_s;
    HS_TRY(dscratch, dev.alloc<float>(static_cast<size_t>(sample_scratch_floats(g))));
    HS_TRY(dtok, dev.alloc<int32_t>(static_cast<size_t>(S)));
    HS_TRY(dlp, dev.alloc<float>(static_cast<size_t>(S)));
    const size_t tn = static_cast<size_t>(std::max<int64_t>(1, S * top_n));
    HS_TRY(dtop_ids, dev.alloc<int32_t>(tn));
    HS_TRY(dtop_lp, dev.alloc<float>(tn));
    HS_HIP_CHECK(launch_sample(nullptr, dlogits, g, dscratch, dtok, dlp, dtop_ids, dtop_lp));
    HS_HIP_CHECK(hipDeviceSynchronize());
    auto sampled = new_typed<int32_t>(env, static_cast<size_t>(S));
    auto logprob = new_typed<float>(env, static_cast<size_t>(S));
    auto top_ids = new_typed<int32_t>(env, static_cast<size_t>(S * top_n));
    auto top_lp = new_typed<float>(env, static_cast<size_t>(S * top_n));
    HS_TRY_STATUS(download(sampled.Data(), dtok, static_cast<size_t>(S) * 4));
    HS_TRY_STATUS(download(logprob.Data(), dlp, static_cast<size_t>(S) * 4));
    HS_TRY_STATUS(download(top_ids.Data(), dtop_ids, static_cast<size_t>(S * top_n) * 4));
    HS_TRY_STATUS(download(top_lp.Data(), dtop_lp, static_cast<size_t>(S * top_n) * 4));
    Napi::Object o = Napi::Object::New(env);
    o.Set("sampled", sampled);
    o.Set("logprob", logprob);
    o.Set("topN", Napi::Number::New(env, top_n));
    o.Set("topIds", top_ids);
    o.Set("topLogprobs", top_lp);
    *result = o;
    return Status();
  });
}

}  // namespace

void RegisterSampleBindings(Napi::Env env, Napi::Object o) {
  o.Set("sample", Napi::Function::New(env, Sample, "sample"));
}

}  // namespace hipemu
}  // namespace hs
