// kvBytesPerBlock(model, blockSize) -> Result<number>,
// createKvCache(model, { numBlocks, blockSize }) -> Result<{ handle, bytes }>,
// releaseKvCache(handle) -> Result<boolean>.
#include "bindings/args.h"
#include "bindings/bindings.h"
#include "bindings/guard.h"
#include "bindings/handles.h"
#include "hip_emu/device_backend.h"
#include "result.h"

namespace hs {

namespace {

uint64_t external_bytes(const KvCache& kv) { return kv.device || kv.bytes > (1ull << 40) ? 0 : kv.bytes; }

Error released(const char* where) { return make_err(Code::INVALID_ARGUMENT, "the model handle was released", where); }

Napi::Value KvBytesPerBlock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelHolder* h = unwrap_model(env, info.Length() > 0 ? info[0] : env.Undefined());
  if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "blockSize must be a number");
  double bs = info[1].As<Napi::Number>().DoubleValue();
  if (!h->model) return make_error(env, released("kvBytesPerBlock"));
  if (!(bs >= 1 && bs <= 4096) || static_cast<double>(static_cast<int64_t>(bs)) != bs) {
    return make_error(env, make_err(Code::INVALID_ARGUMENT, "blockSize must be an integer in 1..4096", "kvBytesPerBlock"));
  }
  return make_ok(env, Napi::Number::New(env, static_cast<double>(h->model->kv_bytes_per_block(static_cast<int64_t>(bs)))));
}

Napi::Value CreateKvCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelHolder* h = unwrap_model(env, info.Length() > 0 ? info[0] : env.Undefined());
  Napi::Object o = arg_object(info, 1, "options");
  double nb = opt_number(o, "numBlocks", -1), bs = opt_number(o, "blockSize", -1);
  if (!h->model) return make_error(env, released("createKvCache"));
  if (!(nb >= 0 && nb <= 1e12) || !(bs >= 0 && bs <= 1e6) || static_cast<double>(static_cast<int64_t>(nb)) != nb ||
      static_cast<double>(static_cast<int64_t>(bs)) != bs) {
    return make_error(env, make_err(Code::INVALID_ARGUMENT, "numBlocks and blockSize must be non-negative integers", "createKvCache"));
  }
  auto kv = h->model->device ? create_device_kv_cache(*h->model, static_cast<int64_t>(nb), static_cast<int64_t>(bs))
                             : create_kv_cache(*h->model, static_cast<int64_t>(nb), static_cast<int64_t>(bs));
  if (!kv.ok()) return make_error(env, kv.error());
  Napi::Object v = Napi::Object::New(env);
  v.Set("bytes", Napi::Number::New(env, static_cast<double>(kv.value()->bytes)));
  v.Set("handle", wrap_kv(env, kv.value()));
  // Tell V8's GC about the pool so finalizer-only cleanup is not starved
  // (host pools only: device memory is no pressure on V8's heap).
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(external_bytes(*kv.value())));
  return make_ok(env, v);
}

Napi::Value ReleaseKvCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KvHolder* h = unwrap_kv(env, info.Length() > 0 ? info[0] : env.Undefined());
  bool had = h->kv != nullptr;
  if (had) Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(external_bytes(*h->kv)));
  h->kv.reset();  // an in-flight forward keeps its own reference
  return make_ok(env, Napi::Boolean::New(env, had));
}

}  // namespace

void RegisterKvExports(Napi::Env env, Napi::Object exports) {
  exports.Set("kvBytesPerBlock", HS_GUARDED(env, KvBytesPerBlock, "kvBytesPerBlock", Returns::Result));
  exports.Set("createKvCache", HS_GUARDED(env, CreateKvCache, "createKvCache", Returns::Result));
  exports.Set("releaseKvCache", HS_GUARDED(env, ReleaseKvCache, "releaseKvCache", Returns::Result));
}

}  // namespace hs
