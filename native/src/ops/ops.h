// `exports.ops`: synchronous single-kernel entry points over typed arrays, so
// every kernel can be checked from TypeScript against a scalar reference.
#pragma once
#include <napi.h>

namespace hs {
void RegisterOps(Napi::Env env, Napi::Object exports);
}
