// listBackends() / listAttentionBackends() -> Result<array>.
#include "bindings/bindings.h"
#include "bindings/guard.h"
#include "registry.h"
#include "result.h"

namespace hs {

namespace {

Napi::Array dtypes(Napi::Env env, const std::vector<DType>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), dtype_name(v[i]));
  return a;
}

Napi::Array ints(Napi::Env env, const std::vector<int32_t>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, v[i]));
  return a;
}

Napi::Value ListBackends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<BackendInfo> all = list_backends();
  Napi::Array out = Napi::Array::New(env, all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const BackendInfo& b = all[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", b.name);
    o.Set("description", b.description);
    o.Set("available", Napi::Boolean::New(env, b.available));
    o.Set("reason", b.reason);
    o.Set("score", Napi::Number::New(env, b.score));
    Napi::Object caps = Napi::Object::New(env);
    caps.Set("dtypes", dtypes(env, b.caps.dtypes));
    caps.Set("pagedKv", Napi::Boolean::New(env, b.caps.paged_kv));
    caps.Set("deviceMemory", Napi::Boolean::New(env, b.caps.device_memory));
    caps.Set("async", Napi::Boolean::New(env, b.caps.async));
    o.Set("capabilities", caps);
    if (b.name == "cpu") o.Set("simd", cpu::simd_level());
    out.Set(static_cast<uint32_t>(i), o);
  }
  return make_ok(env, out);
}

Napi::Value ListAttentionBackends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<AttentionBackendInfo> all = list_attention_backends();
  Napi::Array out = Napi::Array::New(env, all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const AttentionBackendInfo& a = all[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", a.name);
    o.Set("backend", a.backend);
    o.Set("kvDtypes", dtypes(env, a.kv_dtypes));
    o.Set("headSizes", ints(env, a.head_sizes));
    o.Set("maxHeadSize", Napi::Number::New(env, a.max_head_size));
    o.Set("blockSizes", ints(env, a.block_sizes));
    o.Set("maxBlockSize", Napi::Number::New(env, a.max_block_size));
    o.Set("pagedKv", Napi::Boolean::New(env, a.paged_kv));
    o.Set("gqa", Napi::Boolean::New(env, a.gqa));
    o.Set("mixedPrefillDecode", Napi::Boolean::New(env, a.mixed_prefill_decode));
    o.Set("score", Napi::Number::New(env, a.score));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return make_ok(env, out);
}

}  // namespace

void RegisterRegistryExports(Napi::Env env, Napi::Object exports) {
  exports.Set("listBackends", HS_GUARDED(env, ListBackends, "listBackends", Returns::Result));
  exports.Set("listAttentionBackends", HS_GUARDED(env, ListAttentionBackends, "listAttentionBackends", Returns::Result));
}

}  // namespace hs
