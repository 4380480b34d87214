#include "bindings/handles.h"


namespace hs {

namespace {

// Random tags: an External from another addon (or of the other kind) is refused.
const napi_type_tag kModelTag = {0x6869707365727665ull, 0x4d6f64656c000001ull};
const napi_type_tag kKvTag = {0x6869707365727665ull, 0x4b76436163686501ull};

template <class H>
H* unwrap(Napi::Env env, Napi::Value v, const napi_type_tag& tag, const char* what) {
  // Built with NAPI_CPP_EXCEPTIONS: the thrown TypeError reaches JavaScript
  // through node-addon-api's callback wrapper.
  if (!v.IsExternal() || !v.As<Napi::External<H>>().CheckTypeTag(&tag)) {
    throw Napi::TypeError::New(env, std::string("expected a ") + what + " handle");
  }
  return v.As<Napi::External<H>>().Data();
}

}  // namespace

Napi::External<ModelHolder> wrap_model(Napi::Env env, std::shared_ptr<Model> m) {
  auto ext = Napi::External<ModelHolder>::New(env, new ModelHolder{std::move(m)},
                                              [](Napi::Env, ModelHolder* h) { delete h; });
  ext.TypeTag(&kModelTag);
  return ext;
}

Napi::External<KvHolder> wrap_kv(Napi::Env env, std::shared_ptr<KvCache> kv) {
  auto ext = Napi::External<KvHolder>::New(env, new KvHolder{std::move(kv)}, [](Napi::Env, KvHolder* h) { delete h; });
  ext.TypeTag(&kKvTag);
  return ext;
}

ModelHolder* unwrap_model(Napi::Env env, Napi::Value v) { return unwrap<ModelHolder>(env, v, kModelTag, "model"); }
KvHolder* unwrap_kv(Napi::Env env, Napi::Value v) { return unwrap<KvHolder>(env, v, kKvTag, "KV cache"); }

}  // namespace hs
