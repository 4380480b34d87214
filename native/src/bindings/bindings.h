// Registration of the model-level exports; addon.cc calls these only.
#pragma once
#include <napi.h>

namespace hs {
void RegisterRegistryExports(Napi::Env env, Napi::Object exports);  // listBackends, listAttentionBackends
void RegisterModelExports(Napi::Env env, Napi::Object exports);     // loadModel, releaseModel, ggufMetadata
void RegisterKvExports(Napi::Env env, Napi::Object exports);        // kvBytesPerBlock, createKvCache, releaseKvCache
void RegisterForwardExports(Napi::Env env, Napi::Object exports);   // forward
}  // namespace hs
