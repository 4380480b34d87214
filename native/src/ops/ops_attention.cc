// exports.ops.pagedAttention: kv_write then paged_attention over the flat
// arrays of native/README.md (the caches are written in place);
// exports.ops.decodeAttention: the forward's fused decode path over the same. The caches
// are Float32Arrays (an f32 cache) or Uint16Arrays of f16 bits (an f16 cache).
#include <vector>

#include "ops/args.h"

namespace hs {
namespace ops {
namespace {

int64_t count_field(Napi::Object o, const char* key) { return count(o.Get(key), key); }

// The arguments both ops take (pagedAttention's object), checked.
struct AttnArgs {
  Span<float> q, k, v;
  DType kv_dtype = DType::F32;
  void* kc = nullptr;
  void* vc = nullptr;
  Span<int32_t> slots;
  cpu::AttnBatch b;
  cpu::AttnShape s;
  int64_t T = 0;
};

AttnArgs attn_args(Napi::Object a) {
  AttnArgs r;
  r.q = typed<float>(a.Get("q"), "q");
  r.k = typed<float>(a.Get("k"), "k");
  r.v = typed<float>(a.Get("v"), "v");
  Napi::Value kcv = a.Get("kCache"), vcv = a.Get("vCache");
  const bool f16 = kcv.IsTypedArray() && kcv.As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
  r.kv_dtype = f16 ? DType::F16 : DType::F32;
  size_t kc_size = 0, vc_size = 0;
  if (f16) {
    auto kc = typed<uint16_t>(kcv, "kCache");
    auto vc = typed<uint16_t>(vcv, "vCache");
    r.kc = kc.data, r.vc = vc.data, kc_size = kc.size, vc_size = vc.size;
  } else {
    auto kc = typed<float>(kcv, "kCache");
    auto vc = typed<float>(vcv, "vCache");
    r.kc = kc.data, r.vc = vc.data, kc_size = kc.size, vc_size = vc.size;
  }
  r.slots = typed<int32_t>(a.Get("slotMapping"), "slotMapping");
  auto qs = typed<int32_t>(a.Get("queryStart"), "queryStart");
  auto lens = typed<int32_t>(a.Get("seqLens"), "seqLens");
  auto tables = typed<int32_t>(a.Get("blockTables"), "blockTables");
  auto pos = typed<int32_t>(a.Get("positions"), "positions");
  cpu::AttnShape& s = r.s;
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
  r.T = static_cast<int64_t>(pos.size);
  const int64_t row = static_cast<int64_t>(s.n_kv_heads) * s.head_dim;
  need(lens.size == static_cast<size_t>(S), "seqLens must hold S values");
  need(S == 0 || tables.size % static_cast<size_t>(S) == 0, "blockTables must hold S*B values");
  need(r.q.size == static_cast<size_t>(r.T * s.n_heads * s.head_dim), "q must hold T*nHeads*headDim values");
  need(r.k.size == static_cast<size_t>(r.T * row) && r.v.size == r.k.size, "k and v must hold T*nKvHeads*headDim values");
  need(r.slots.size == static_cast<size_t>(r.T), "slotMapping must hold T values");
  const int64_t block_floats = row * s.block_size;
  need(kc_size == vc_size && kc_size % static_cast<size_t>(block_floats) == 0,
       "kCache and vCache must hold whole blocks of nKvHeads*blockSize*headDim");
  cpu::AttnBatch& b = r.b;
  b.num_seqs = static_cast<int32_t>(S);
  b.num_tokens = static_cast<int32_t>(r.T);
  b.query_start = qs.data;
  b.seq_lens = lens.data;
  b.block_tables = tables.data;
  b.max_blocks = S == 0 ? 0 : static_cast<int32_t>(tables.size / static_cast<size_t>(S));
  b.positions = pos.data;
  const char* bad = cpu::check_attn_batch(b, s, static_cast<int64_t>(kc_size) / block_floats, r.slots.data);
  if (bad != nullptr) throw ValueErr{bad};
  return r;
}

// pagedAttention({ q, k, v, kCache, vCache, slotMapping, queryStart, seqLens,
//   blockTables, positions, nHeads, nKvHeads, headDim, blockSize, scale? })
//   -> Float32Array [T][nHeads][headDim]
Napi::Value PagedAttention(const Napi::CallbackInfo& info) {
  return run(info, "ops.pagedAttention", [&](Napi::Env env) -> Napi::Value {
    const AttnArgs a = attn_args(object(info[0], "args"));
    // Invariant: both caches hold whole blocks of kv_dtype and the batch fits them (attn_args).
    cpu::kv_write(a.k.data, a.v.data, a.slots.data, a.T, a.s, a.kv_dtype, a.kc, a.vc);
    auto out = new_typed<float>(env, a.q.size);
    cpu::paged_attention(cpu::default_pool(), a.q.data, a.kv_dtype, a.kc, a.vc, a.b, a.s, out.Data());
    return out;
  });
}

// decodeAttention({ ...pagedAttention's args, rope: ops.rope's params })
//   -> { out, q, k }: a decode step's RoPE, KV write and attention in one
// pool task (cpu::decode_attention), every sequence with exactly one query
// token; q and k come back rotated. The caches are written in place.
Napi::Value DecodeAttention(const Napi::CallbackInfo& info) {
  return run(info, "ops.decodeAttention", [&](Napi::Env env) -> Napi::Value {
    Napi::Object o = object(info[0], "args");
    const AttnArgs a = attn_args(o);
    const cpu::RopeParams rp = rope_params(o.Get("rope"), a.s.head_dim);
    need(cpu::one_token_per_sequence(a.b), "every sequence must bring exactly one query token");
    std::vector<float> table;
    cpu::rope_table(a.b.positions, a.T, a.s.head_dim, rp, &table);
    auto q = copy_of(env, a.q);
    auto k = copy_of(env, a.k);
    auto out = new_typed<float>(env, a.q.size);
    // Invariant: both caches hold whole blocks of kv_dtype and the batch fits them (attn_args).
    cpu::decode_attention(cpu::default_pool(), q.Data(), k.Data(), a.v.data, a.slots.data, rp, table.data(),
                          a.kv_dtype, a.kc, a.vc, a.b, a.s, out.Data());
    Napi::Object r = Napi::Object::New(env);
    r.Set("out", out);
    r.Set("q", q);
    r.Set("k", k);
    return r;
  });
}

}  // namespace

void RegisterAttentionOps(Napi::Env env, Napi::Object o) {
  o.Set("pagedAttention", Napi::Function::New(env, PagedAttention, "pagedAttention"));
  o.Set("decodeAttention", Napi::Function::New(env, DecodeAttention, "decodeAttention"));
}

}  // namespace ops
}  // namespace hs
