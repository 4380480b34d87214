// exports.hipEmu: the HIP emulator's controls and one entry per kernel of
// kernels/*.hip run on the emulator, for the tests in test/hip/. Registered
// from addon.cc with one line: hs::RegisterHipEmu(env, exports).
#pragma once
#include <napi.h>

namespace hs {
// Also registers the `hip` and `hip-emu` backends and their attention
// kernels (native/src/hip_emu/backends.cc).
void RegisterHipEmu(Napi::Env env, Napi::Object exports);
void register_hip_backends();
// exports.hipKernelTimes: the kernel timing of libhipserve_hip.so (kernel_times.cc).
void RegisterHipKernelTimes(Napi::Env env, Napi::Object exports);
}
