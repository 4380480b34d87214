// exports.hipEmu: emulator controls here; kernel entries in bindings_*.cc.
#include "hip_emu/register.h"

#include "../../../kernels/launchers.h"
#include "hip_emu/bindings_util.h"

namespace hs {
namespace hipemu {
namespace {

// setWaveSize(32 | 64) -> Result<number>: the wavefront width of later launches.
Napi::Value SetWaveSize(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.setWaveSize", [&](Napi::Env env, Napi::Value* out) -> Status {
    const int64_t n = count(info[0], "lanes");
    need(::hs_emu::set_wave_size(static_cast<int>(n)), "lanes must be 32 or 64");
    *out = Napi::Number::New(env, static_cast<double>(n));
    return Status();
  });
}

// deviceInfo() -> Result<{ name, gcnArchName, warpSize, totalGlobalMem, bytesInUse }>
Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.deviceInfo", [&](Napi::Env env, Napi::Value* out) -> Status {
    using namespace hipk;
    int count = 0;
    HS_HIP_CHECK(hipGetDeviceCount(&count));
    hipDeviceProp_t prop;
    HS_HIP_CHECK(hipGetDeviceProperties(&prop, 0));
    Napi::Object o = Napi::Object::New(env);
    o.Set("deviceCount", Napi::Number::New(env, count));
    o.Set("name", Napi::String::New(env, prop.name));
    o.Set("gcnArchName", Napi::String::New(env, prop.gcnArchName));
    o.Set("warpSize", Napi::Number::New(env, prop.warpSize));
    o.Set("totalGlobalMem", Napi::Number::New(env, static_cast<double>(prop.totalGlobalMem)));
    o.Set("bytesInUse", Napi::Number::New(env, static_cast<double>(::hs_emu::bytes_in_use())));
    *out = o;
    return Status();
  });
}

// iota(n, allocElems) -> Result<Int32Array>: launches a kernel writing
// out[i] = i for i < n into a buffer of allocElems; n > allocElems plants an
// out-of-bounds write, which must come back as an error Result.
Napi::Value Iota(const Napi::CallbackInfo& info) {
  return run(info, "hipEmu.iota", [&](Napi::Env env, Napi::Value* out) -> Status {
    using namespace hipk;
    const int64_t n = count(info[0], "n");
    const int64_t alloc = count(info[1], "allocElems");
    need(alloc >= 1 && alloc <= (1 << 24) && n <= (1 << 24), "sizes must be within [1, 2^24]");
    DeviceArena dev;
    HS_TRY(d, dev.alloc<int32_t>(static_cast<size_t>(alloc)));
    HS_HIP_CHECK(launch_iota(nullptr, d, n));
    HS_HIP_CHECK(hipDeviceSynchronize());
    auto y = new_typed<int32_t>(env, static_cast<size_t>(alloc));
    HS_TRY_STATUS(download(y.Data(), d, static_cast<size_t>(alloc) * 4));
    *out = y;
    return Status();
  });
}

}  // namespace
}  // namespace hipemu

void RegisterHipEmu(Napi::Env env, Napi::Object exports) {
  register_hip_backends();
  Napi::Object o = Napi::Object::New(env);
  o.Set("setWaveSize", Napi::Function::New(env, hipemu::SetWaveSize, "setWaveSize"));
  o.Set("deviceInfo", Napi::Function::New(env, hipemu::DeviceInfo, "deviceInfo"));
  o.Set("iota", Napi::Function::New(env, hipemu::Iota, "iota"));
  hipemu::RegisterKernelBindings(env, o);
  hipemu::RegisterAttentionBindings(env, o);
  hipemu::RegisterSampleBindings(env, o);
  hipemu::RegisterEmuBindings(env, o);
  exports.Set("hipEmu", o);
}

}  // namespace hs
