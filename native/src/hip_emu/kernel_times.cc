// hipKernelTimes(args) -> Promise<Result<{ device, library, deviceBytes, kernels }>>:
// the kernel timing entry point of libhipserve_hip.so (native/hip/
// kernel_timing.h), found exactly as the `hip` device finds its library
// (probe_hip_library: $HIPSERVE_HIP_LIB first). With HIPSERVE_HIP_LIB naming
// libhipserve_hip_emu.so it runs on the emulator, whose times mean nothing.
//
// args: { hidden, heads, kvHeads, headDim, intermediate, vocab, context,
//         blockSize, dtype: 'f32' | 'f16' | 'bf16' | 'q8_0', iterations,
//         flushBytes? }
// A field of the wrong type throws a TypeError; a number that is not an
// integer, an unknown dtype, or shapes the library rejects come back as an
// INVALID_ARGUMENT Result; no library or no GPU as UNAVAILABLE.
#include <dlfcn.h>

#include <cmath>
#include <cstring>
#include <string>

#include "../../hip/kernel_timing.h"
#include "bindings/guard.h"
#include "hip_emu/hip_library.h"
#include "hip_emu/register.h"
#include "result.h"

namespace hs {
namespace {

using TimeKernelsFn = decltype(&hs_hip_time_kernels);

class TimingWorker : public Napi::AsyncWorker {
 public:
  TimingWorker(Napi::Env env, TimeKernelsFn fn, const hs_hip_timing_args& a)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), fn_(fn), args_(a) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    // No V8 here: args_ and out_ are plain structs this worker owns.
    char err[1024] = {0};
    const int rc = fn_(&args_, &out_, err, sizeof err);
    if (rc != 0) status_ = hip_library_error(rc, err, "hipKernelTimes");
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      deferred_.Resolve(make_error(env, status_.error()));
      return;
    }
    const HipLibraryProbe& p = probe_hip_library();
    Napi::Object v = Napi::Object::New(env);
    v.Set("device", Napi::String::New(env, p.message));
    v.Set("library", Napi::String::New(env, p.path));
    v.Set("deviceBytes", Napi::Number::New(env, static_cast<double>(out_.device_bytes)));
    Napi::Array ks = Napi::Array::New(env);
    // Invariant: the library filled out_.count <= HS_HIP_TIMING_MAX_KERNELS
    // entries, each name NUL-terminated within its array.
    for (int32_t i = 0; i < out_.count && i < HS_HIP_TIMING_MAX_KERNELS; ++i) {
      const hs_hip_kernel_time& t = out_.kernels[i];
      Napi::Object k = Napi::Object::New(env);
      k.Set("name", Napi::String::New(env, std::string(t.name, strnlen(t.name, sizeof t.name))));
      k.Set("meanMs", Napi::Number::New(env, t.mean_ms));
      k.Set("bytes", Napi::Number::New(env, static_cast<double>(t.bytes)));
      k.Set("flops", Napi::Number::New(env, static_cast<double>(t.flops)));
      k.Set("perLayer", Napi::Number::New(env, t.per_layer));
      k.Set("perStep", Napi::Number::New(env, t.per_step));
      ks.Set(static_cast<uint32_t>(i), k);
    }
    v.Set("kernels", ks);
    deferred_.Resolve(make_ok(env, v));
  }
  void OnError(const Napi::Error& e) override {
    deferred_.Resolve(make_error(Env(), make_err(Code::INTERNAL, e.Message(), "hipKernelTimes")));
  }

 private:
  Napi::Promise::Deferred deferred_;
  TimeKernelsFn fn_;
  hs_hip_timing_args args_;
  hs_hip_timing_out out_{};
  Status status_;
};

struct BadValue {
  std::string message;
};

// A number field: the wrong type is the caller's bug (TypeError); a value
// that is not an integer is a wrong value (INVALID_ARGUMENT).
int64_t int_field(Napi::Object o, const char* key, bool optional = false) {
  Napi::Value v = o.Get(key);
  if (optional && v.IsUndefined()) return 0;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("hipKernelTimes: ") + key + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9.0e15) {
    throw BadValue{std::string(key) + " must be an integer"};
  }
  return static_cast<int64_t>(d);
}

Napi::Value HipKernelTimes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto resolved = [&](const Error& e) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(make_error(env, e));
    return d.Promise();
  };
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(env, "hipKernelTimes: args must be an object");
  }
  Napi::Object o = info[0].As<Napi::Object>();
  hs_hip_timing_args a{};
  try {
    a.hidden = int_field(o, "hidden"), a.num_heads = int_field(o, "heads"), a.num_kv_heads = int_field(o, "kvHeads");
    a.head_dim = int_field(o, "headDim"), a.intermediate = int_field(o, "intermediate"), a.vocab = int_field(o, "vocab");
    a.context = int_field(o, "context"), a.block_size = int_field(o, "blockSize");
    const int64_t it = int_field(o, "iterations"), flush = int_field(o, "flushBytes", true);
    if (it < 0 || it > (1 << 30) || flush < 0) throw BadValue{"iterations and flushBytes must be >= 0"};
    a.iterations = static_cast<int32_t>(it);
    a.flush_bytes = static_cast<uint64_t>(flush);
    Napi::Value dt = o.Get("dtype");
    if (!dt.IsString()) throw Napi::TypeError::New(env, "hipKernelTimes: dtype must be a string");
    const std::string name = dt.As<Napi::String>().Utf8Value();
    const char* names[] = {"f32", "f16", "bf16", "q8_0"};  // hipk::WDType order
    a.weight_dtype = -1;
    for (int32_t i = 0; i < 4; ++i) a.weight_dtype = name == names[i] ? i : a.weight_dtype;
    if (a.weight_dtype < 0) throw BadValue{"dtype must be f32, f16, bf16 or q8_0, got '" + name + "'"};
  } catch (const BadValue& e) {
    return resolved(make_err(Code::INVALID_ARGUMENT, e.message, "hipKernelTimes"));
  }
  const HipLibraryProbe& p = probe_hip_library();
  if (!p.loaded) return resolved(make_err(Code::UNAVAILABLE, p.message + " [tried: " + p.path + "]", "hipKernelTimes"));
  if (p.devices < 1) return resolved(make_err(Code::UNAVAILABLE, "no HIP device: " + p.message, "hipKernelTimes"));
  auto fn = reinterpret_cast<TimeKernelsFn>(dlsym(p.handle, "hs_hip_time_kernels"));
  if (fn == nullptr) {
    return resolved(make_err(Code::UNSUPPORTED,
                             p.path + " predates the kernel timing entry point: rebuild it with scripts/build-hip-amd.sh",
                             "hipKernelTimes"));
  }
  auto* w = new TimingWorker(env, fn, a);
  Napi::Promise promise = w->Promise();
  w->Queue();  // libuv owns and deletes the worker after OnOK/OnError
  return promise;
}

}  // namespace

void RegisterHipKernelTimes(Napi::Env env, Napi::Object exports) {
  exports.Set("hipKernelTimes", HS_GUARDED(env, HipKernelTimes, "hipKernelTimes", Returns::Promise));
}

}  // namespace hs
