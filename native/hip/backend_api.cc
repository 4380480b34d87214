// The C ABI of libhipserve_hip.so, the real HIP backend. It is a separate
// library, dlopen'ed by the addon only when asked for, because linking
// libamdhip64 into the addon would make the addon itself fail to load on
// machines without ROCm. Plain C structs (device_abi.h), opaque handles and
// strings cross the boundary, never C++ objects; the addon side is
// native/src/hip_emu/hip_library.cc.
//
// Model calls return 0 on success, else 1 + the hs::Code of the failure with
// the message in `err`; nothing throws across the boundary (abi_guard.h).
// The kernel timing entry point is in kernel_timing.cc.
#include <cstring>
#include <memory>
#include <string>

#include "../../kernels/launchers.h"
#include "abi_guard.h"
#include "device.h"
#include "device_model.h"
#include "gemm.h"

#ifndef HIPSERVE_HIP_ARCHS
#define HIPSERVE_HIP_ARCHS ""
#endif

namespace {
using hs::hipk::abi_copy_out;
using hs::hipk::abi_guarded;
}  // namespace

extern "C" {

// 1: probe only; 2: the model entry points below; 3: logit_bias and prompt
// logprobs in hs_dev_step / hs_dev_step_out; 4: hidden rows (embeddings)
// (HS_DEV_ABI_VERSION).
__attribute__((visibility("default"))) int hs_hip_abi_version() { return HS_DEV_ABI_VERSION; }

// >= 1: usable devices (buf gets "name (arch)"); 0: none, buf gets the HIP
// runtime's own reason plus the visibility variables.
__attribute__((visibility("default"))) int hs_hip_probe(char* buf, size_t cap) {
  hs::Result<hs::hipk::DeviceReport> r = hs::hipk::discover_device(HIPSERVE_HIP_ARCHS);
  if (!r.ok()) {
    abi_copy_out(r.error().message + " [" + hs::hipk::visibility_env() + "]", buf, cap);
    return 0;
  }
  abi_copy_out(r.value().name + " (" + r.value().arch + ")", buf, cap);
  return r.value().count;
}

// Compiled-in code objects, e.g. "gfx90a;gfx1030".
__attribute__((visibility("default"))) const char* hs_hip_archs() { return HIPSERVE_HIP_ARCHS; }

// Uploads the weights `d` points at (host memory, read during the call only)
// and returns an opaque model in *out.
__attribute__((visibility("default"))) int hs_hip_model_create(const hs_dev_model_desc* d, void** out, char* err,
                                                               size_t cap) {
  return abi_guarded(err, cap, [&]() -> hs::Status {
    if (d == nullptr || out == nullptr) return hs::make_err(hs::Code::INVALID_ARGUMENT, "null descriptor", "hip");
    auto m = hs::hipk::DeviceModel::create(*d);
    if (!m.ok()) return m.error();
    *out = m.value().release();
    return hs::Status();
  });
}

// Invariant for the calls below: `model` came from hs_hip_model_create and
// `kv` from hs_hip_kv_create, not yet released (the addon's shared_ptrs
// guarantee both; a KV pool may outlive its model).
__attribute__((visibility("default"))) void hs_hip_model_release(void* model) {
  delete static_cast<hs::hipk::DeviceModel*>(model);
}

__attribute__((visibility("default"))) int hs_hip_model_memory(void* model, hs_dev_memory* out, char* err, size_t cap) {
  return abi_guarded(err, cap, [&]() -> hs::Status {
    auto m = static_cast<hs::hipk::DeviceModel*>(model)->memory();
    if (!m.ok()) return m.error();
    *out = m.value();
    return hs::Status();
  });
}

__attribute__((visibility("default"))) int hs_hip_kv_create(void* model, int64_t num_blocks, int64_t block_size,
                                                            void** out, char* err, size_t cap) {
  return abi_guarded(err, cap, [&]() -> hs::Status {
    auto kv = static_cast<hs::hipk::DeviceModel*>(model)->create_kv(num_blocks, block_size);
    if (!kv.ok()) return kv.error();
    *out = kv.value().release();
    return hs::Status();
  });
}

__attribute__((visibility("default"))) void hs_hip_kv_release(void* kv) { delete static_cast<hs::hipk::DeviceKv*>(kv); }

// `s` was validated by the addon (validate_step) against this model and pool;
// the caller allocated out's arrays (S and S * top_n entries).
__attribute__((visibility("default"))) int hs_hip_forward(void* model, void* kv, const hs_dev_step* s,
                                                         hs_dev_step_out* out, char* err, size_t cap) {
  return abi_guarded(err, cap, [&]() -> hs::Status {
    return static_cast<hs::hipk::DeviceModel*>(model)->forward(*static_cast<hs::hipk::DeviceKv*>(kv), *s, out);
  });
}

}  // extern "C"
