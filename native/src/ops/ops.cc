#include "ops/ops.h"

namespace hs {
void RegisterOps(Napi::Env env, Napi::Object exports) {
  Napi::Object ops = Napi::Object::New(env);
  exports.Set("ops", ops);
}
}  // namespace hs
