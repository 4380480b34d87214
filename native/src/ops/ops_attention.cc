// exports.ops.pagedAttention: kv_write then paged_attention over the flat
// arrays of native/README.md (the caches are written in place). The caches
// are Float32Arrays (an f32 cache) or Uint16Arrays of f16 bits (an f16 cache).
#include "ops/args.h"

namespace hs {
namespace ops {
namespace {

int64_t count_field(Napi::Object o, const char* key) { return count(o.Get(key), key); }

// pagedAttention({ q, k, v, kCache, vCache, slotMapping, queryStart, seqLens,
//   blockTables, positions, nHeads, nKvHeads, headDim, blockSize, scale? })
//   -> Float32Array [T][nHeads][headDim]
Napi::Value PagedAttention(const Napi::CallbackInfo& info) {
  return run(info, "ops.pagedAttention", [&](Napi::Env env) -> Napi::Value {
    Napi::Object a = object(info[0], "args");
    auto q = typed<float>(a.Get("q"), "q");
    auto k = typed<float>(a.Get("k"), "k");
    auto v = typed<float>(a.Get("v"), "v");
    Napi::Value kcv = a.Get("kCache"), vcv = a.Get("vCache");
    const bool f16 = kcv.IsTypedArray() && kcv.As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
    const DType kv_dtype = f16 ? DType::F16 : DType::F32;
    void* kc_data = nullptr;
    void* vc_data = nullptr;
    size_t kc_size = 0, vc_size = 0;
    if (f16) {
      auto kc = typed<uint16_t>(kcv, "kCache");
      auto vc = typed<uint16_t>(vcv, "vCache");
      kc_data = kc.data, vc_data = vc.data, kc_size = kc.size, vc_size = vc.size;
    } else {
      auto kc = typed<float>(kcv, "kCache");
      auto vc = typed<float>(vcv, "vCache");
      kc_data = kc.data, vc_data = vc.data, kc_size = kc.size, vc_size = vc.size;
    }
    auto slots = typed<int32_t>(a.Get("slotMapping"), "slotMapping");
    auto qs = typed<int32_t>(a.Get("queryStart"), "queryStart");
    auto lens = typed<int32_t>(a.Get("seqLens"), "seqLens");
    auto tables = typed<int32_t>(a.Get("blockTables"), "blockTables");
    auto pos = typed<int32_t>(a.Get("positions"), "positions");
    cpu::AttnShape s;
    s.n_heads = static_cast<int32_t>(count_field(a, "nHeads"));
    s.n_kv_heads = static_cast<int32_t>(count_field(a, "nKvHeads"));
    s.head_dim = static_cast<int32_t>(count_field(a, "headDim"));
    s.block_size = static_cast<int32_t>(count_field(a, "blockSize"));
    need(s.n_heads >= 1 && s.n_kv_heads >= 1 && s.head_dim >= 1 && s.block_size >= 1,
         "nHeads, nKvHeads, headDim and blockSize must be >= 1");
    const double scale = a.Get("scale").IsUndefined() ? 1.0 / std::sqrt(static_cast<double>(s.head_dim))
                                                      : number(a.Get("scale"), "scale");
    s.scale = static_cast<float>(scale);
    need(qs.size >= 1, "queryStart must hold S+1 values");
    const int64_t S = static_cast<int64_t>(qs.size) - 1;
    const int64_t T = static_cast<int64_t>(pos.size);
    const int64_t row = static_cast<int64_t>(s.n_kv_heads) * s.head_dim;
    need(lens.size == static_cast<size_t>(S), "seqLens must hold S values");
    need(S == 0 || tables.size % static_cast<size_t>(S) == 0, "blockTables must hold S*B values");
    need(q.size == static_cast<size_t>(T * s.n_heads * s.head_dim), "q must hold T*nHeads*headDim values");
    need(k.size == static_cast<size_t>(T * row) && v.size == k.size, "k and v must hold T*nKvHeads*headDim values");
    need(slots.size == static_cast<size_t>(T), "slotMapping must hold T values");
    const int64_t block_floats = row * s.block_size;
    need(kc_size == vc_size && kc_size % static_cast<size_t>(block_floats) == 0,
         "kCache and vCache must hold whole blocks of nKvHeads*blockSize*headDim");
    cpu::AttnBatch b;
    b.num_seqs = static_cast<int32_t>(S);
    b.num_tokens = static_cast<int32_t>(T);
    b.query_start = qs.data;
    b.seq_lens = lens.data;
    b.block_tables = tables.data;
    b.max_blocks = S == 0 ? 0 : static_cast<int32_t>(tables.size / static_cast<size_t>(S));
    b.positions = pos.data;
    const char* bad = cpu::check_attn_batch(b, s, static_cast<int64_t>(kc_size) / block_floats, slots.data);
    if (bad != nullptr) throw ValueErr{bad};
    // Invariant: both caches hold kc_size elements of kv_dtype, whole blocks (checked above).
    cpu::kv_write(k.data, v.data, slots.data, T, s, kv_dtype, kc_data, vc_data);
    auto out = new_typed<float>(env, q.size);
    cpu::paged_attention(cpu::default_pool(), q.data, kv_dtype, kc_data, vc_data, b, s, out.Data());
    return out;
  });
}

}  // namespace

void RegisterAttentionOps(Napi::Env env, Napi::Object o) {
  o.Set("pagedAttention", Napi::Function::New(env, PagedAttention, "pagedAttention"));
}

}  // namespace ops
}  // namespace hs
