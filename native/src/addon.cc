// Entry of the addon: registers exports only; each operation lives in its own file.
#include <napi.h>

#include "bindings/bindings.h"
#include "hip_emu/register.h"
#include "ops/ops.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  hs::RegisterOps(env, exports);
  hs::RegisterRegistryExports(env, exports);
  hs::RegisterModelExports(env, exports);
  hs::RegisterKvExports(env, exports);
  hs::RegisterForwardExports(env, exports);
  hs::RegisterHipEmu(env, exports);
  hs::RegisterHipKernelTimes(env, exports);
  return exports;
}

NODE_API_MODULE(hipserve, Init)
