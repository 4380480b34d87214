// Model and KV-cache handles as type-tagged Externals. A handle owns a
// shared_ptr; release drops it early, the finalizer is the safety net, and
// in-flight work holds its own copy so the mmap/pool outlive it.
#pragma once

#include <napi.h>

#include <memory>

#include "model/kv_cache.h"
#include "model/model.h"

namespace hs {

struct ModelHolder {
  std::shared_ptr<Model> model;
};
struct KvHolder {
  std::shared_ptr<KvCache> kv;
};

Napi::External<ModelHolder> wrap_model(Napi::Env env, std::shared_ptr<Model> m);
Napi::External<KvHolder> wrap_kv(Napi::Env env, std::shared_ptr<KvCache> kv);
// Throws a TypeError when `v` is not a handle of that kind.
ModelHolder* unwrap_model(Napi::Env env, Napi::Value v);
KvHolder* unwrap_kv(Napi::Env env, Napi::Value v);

}  // namespace hs
