// exports.hipEmu.pagedAttention: kv_write then decode or prefill attention on
// the emulator, with ops.pagedAttention's arguments plus
//   mode: 'decode' | 'prefill'   (decode needs one query token per sequence)
//   blocksPerSplit?: number      (decode: KV blocks per split, default 2)
// -> Result<{ out, kCache, vCache }> (the caches after this step's writes).
#include <cmath>
#include <string>

#include "../../../kernels/launchers.h"
#include "hip_emu/bindings_util.h"

namespace hs {
namespace hipemu {
namespace {

using namespace hipk;

Napi::Value PagedAttention(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.pagedAttention", [&](Napi::Env env, Napi::Value* result) -> Status {
    Napi::Object a = object(info[0], "args");
    auto q = typed<float>(a.Get("q"), "q");
    auto k = typed<float>(a.Get("k"), "k");
    auto v = typed<float>(a.Get("v"), "v");
    auto kc = typed<float>(a.Get("kCache"), "kCache");
    auto vc = typed<float>(a.Get("vCache"), "vCache");
    auto slots = typed<int32_t>(a.Get("slotMapping"), "slotMapping");
    auto qs = typed<int32_t>(a.Get("queryStart"), "queryStart");
    auto lens = typed<int32_t>(a.Get("seqLens"), "seqLens");
    auto tables = typed<int32_t>(a.Get("blockTables"), "blockTables");
    auto pos = typed<int32_t>(a.Get("positions"), "positions");
    const std::string mode = ops::str(a.Get("mode"), "mode");
    need(mode == "decode" || mode == "prefill", "mode must be 'decode' or 'prefill'");
    AttnArgs g;
    g.n_heads = static_cast<int32_t>(count(a.Get("nHeads"), "nHeads"));
    g.n_kv_heads = static_cast<int32_t>(count(a.Get("nKvHeads"), "nKvHeads"));
    g.head_dim = static_cast<int32_t>(count(a.Get("headDim"), "headDim"));
    g.block_size = static_cast<int32_t>(count(a.Get("blockSize"), "blockSize"));
    need(g.n_heads >= 1 && g.n_kv_heads >= 1 && g.n_heads % g.n_kv_heads == 0,
         "nHeads must be a positive multiple of nKvHeads");
    need(g.head_dim >= 1 && g.head_dim <= 256 && g.block_size >= 1,
         "headDim must be within [1, 256] and blockSize >= 1");
    g.scale = a.Get("scale").IsUndefined() ? static_cast<float>(1.0 / std::sqrt(g.head_dim))
                                           : static_cast<float>(number(a.Get("scale"), "scale"));
    const int32_t bps = a.Get("blocksPerSplit").IsUndefined()
                            ? 2
                            : static_cast<int32_t>(count(a.Get("blocksPerSplit"), "blocksPerSplit"));
    need(bps >= 1, "blocksPerSplit must be >= 1");
    need(qs.size >= 1, "queryStart must hold S+1 values");
    const int64_t S = static_cast<int64_t>(qs.size) - 1, T = static_cast<int64_t>(pos.size);
    const int64_t row = static_cast<int64_t>(g.n_kv_heads) * g.head_dim;
    need(lens.size == static_cast<size_t>(S), "seqLens must hold S values");
    need(S >= 1 && tables.size % static_cast<size_t>(S) == 0, "blockTables must hold S*B values");
    need(q.size == static_cast<size_t>(T * g.n_heads * g.head_dim), "q must hold T*nHeads*headDim");
    need(k.size == static_cast<size_t>(T * row) && v.size == k.size, "k, v must hold T*nKvHeads*headDim");
    need(slots.size == static_cast<size_t>(T), "slotMapping must hold T values");
    need(kc.size == vc.size && kc.size % static_cast<size_t>(row * g.block_size) == 0,
         "kCache and vCache must hold whole blocks");
    need(qs.data[0] == 0 && qs.data[S] == T, "queryStart must run from 0 to T");
    int32_t max_q = 0, max_len = 0;
    for (int64_t i = 0; i < S; ++i) {
      const int32_t n = qs.data[i + 1] - qs.data[i];
      need(n >= 0, "queryStart must not decrease");
      need(mode != "decode" || n == 1, "decode needs exactly one query token per sequence");
      max_q = n > max_q ? n : max_q;
      max_len = lens.data[i] > max_len ? lens.data[i] : max_len;
    }
    g.num_seqs = static_cast<int32_t>(S);
    g.max_blocks = static_cast<int32_t>(tables.size / static_cast<size_t>(S));
    // Bad block ids, positions or slots are not validated here on purpose:
    // the kernels' accesses are bounds-checked by the emulator.
    DeviceArena dev;
    HS_TRY(dq, dev.upload(q.data, q.size));
    HS_TRY(dk, dev.upload(k.data, k.size));
    HS_TRY(dv, dev.upload(v.data, v.size));
    HS_TRY(dkc, dev.upload(kc.data, kc.size));
    HS_TRY(dvc, dev.upload(vc.data, vc.size));
    HS_TRY(dslots, dev.upload(slots.data, slots.size));
    HS_TRY(dqs, dev.upload(qs.data, qs.size));
    HS_TRY(dlens, dev.upload(lens.data, lens.size));
    HS_TRY(dtab, dev.upload(tables.data, tables.size));
    HS_TRY(dpos, dev.upload(pos.data, pos.size));
    HS_TRY(dout, dev.alloc<float>(q.size));
    g.query_start = dqs;
    g.seq_lens = dlens;
    g.block_tables = dtab;
    g.positions = dpos;
    HS_HIP_CHECK(launch_kv_write(nullptr, dk, dv, dslots, T, g.n_kv_heads, g.head_dim,
                                 g.block_size, dkc, dvc));
    if (mode == "decode") {
      const int64_t nparts = decode_partials_floats(g, max_len, bps);
      HS_TRY(dparts, dev.alloc<float>(static_cast<size_t>(nparts)));
      HS_HIP_CHECK(launch_attn_decode(nullptr, dq, dkc, dvc, g, max_len, bps, dparts, dout));
    } else {
      HS_HIP_CHECK(launch_attn_prefill(nullptr, dq, dkc, dvc, g, max_q, dout));
    }
    HS_HIP_CHECK(hipDeviceSynchronize());
    auto out = new_typed<float>(env, q.size);
    auto kc_out = new_typed<float>(env, kc.size);
    auto vc_out = new_typed<float>(env, vc.size);
    HS_TRY_STATUS(download(out.Data(), dout, q.size * sizeof(float)));
    HS_TRY_STATUS(download(kc_out.Data(), dkc, kc.size * sizeof(float)));
    HS_TRY_STATUS(download(vc_out.Data(), dvc, vc.size * sizeof(float)));
    Napi::Object o = Napi::Object::New(env);
    o.Set("out", out);
    o.Set("kCache", kc_out);
    o.Set("vCache", vc_out);
    *result = o;
    return Status();
  });
}

}  // namespace

void RegisterAttentionBindings(Napi::Env env, Napi::Object o) {
  o.Set("pagedAttention", Napi::Function::New(env, PagedAttention, "pagedAttention"));
}

}  // namespace hipemu
}  // namespace hs
