// Entry of the addon: registers exports only; each operation lives in its own file.
#include <napi.h>

#include "ops/ops.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  hs::RegisterOps(env, exports);
  return exports;
}

NODE_API_MODULE(hipserve, Init)
