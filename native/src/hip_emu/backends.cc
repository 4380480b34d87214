// Registers the HIP backends and their attention kernels with the registries
// of native/src/registry.h. Both run the same device forward
// (native/hip/device_model.h) behind hs::DeviceBackend (device_backend.h):
//
//   hip      the real GPU backend, libhipserve_hip.so (dlopen'ed by
//            hip_library.cc, model calls through its C ABI): its probe asks
//            the HIP runtime for a device, and the runtime's own reason
//            becomes the backend's `reason` (e.g. hipErrorNoDevice on a
//            GPU-less machine), so `--device hip` fails at start-up saying
//            why. With a GPU and a library of ABI >= 2 it is available and,
//            scoring above the CPU, what `--device auto` picks.
//   hip-emu  the same host code and kernels compiled into the addon against
//            the emulator (device_model_emu.cc): always available, score -1
//            so `auto` never picks it; a testing and debugging device, slow.
//            Its memory is HIPSERVE_EMU_MEMORY (memory.cc).
#include <mutex>
#include <string>

#include "../../hip/device_abi.h"
#include "hip_emu/hip_library.h"
#include "registry.h"

namespace hs {
namespace {

BackendCaps hip_caps() {
  BackendCaps c;
  c.dtypes = {DType::F32, DType::F16, DType::BF16, DType::Q8_0};
  c.paged_kv = true;
  c.device_memory = true;
  c.async = true;
  return c;
}

BackendInfo hip_info() {
  BackendInfo b;
  b.name = "hip";
  b.description = "AMD GPU through HIP/ROCm (kernels/*.hip, rocBLAS where present)";
  b.score = 100;
  b.caps = hip_caps();
  return b;
}

void hip_probe(BackendInfo* info) {
  const HipLibraryProbe& p = probe_hip_library();
  info->available = false;
  if (!p.loaded) {
    info->reason = p.message;
  } else if (p.devices < 1) {
    info->reason = "the HIP runtime found no usable GPU: " + p.message;
  } else if (p.abi < HS_DEV_ABI_VERSION) {
    info->reason = "GPU " + p.message + " found, but " + p.path + " is older than this addon (ABI " +
                   std::to_string(p.abi) + ", need " + std::to_string(HS_DEV_ABI_VERSION) +
                   "): rebuild it with scripts/build-hip-amd.sh";
  } else {
    info->available = true;  // the model runs through the library's C ABI
    info->reason = "";
  }
}

BackendInfo emu_info() {
  BackendInfo b;
  b.name = "hip-emu";
  b.description = "HIP emulator: kernels/*.hip as CPU fibers with checked device memory (tests, debugging; slow)";
  b.score = -1;  // never preferred over the CPU
  b.caps = hip_caps();
  b.caps.async = false;
  return b;
}

void emu_probe(BackendInfo* info) {
  info->available = true;  // the emulator needs nothing from the machine
  info->reason = "";
}

AttentionBackendInfo hip_attention(const char* name, const char* backend) {
  AttentionBackendInfo a;
  a.name = name;
  a.backend = backend;
  a.kv_dtypes = {DType::F32};
  a.max_head_size = 256;  // attn_decode/attn_prefill keep a head in registers
  a.max_block_size = 1024;
  a.paged_kv = true;
  a.gqa = true;
  a.mixed_prefill_decode = true;  // split decode + tiled prefill in one step
  a.score = 10;
  return a;
}

}  // namespace
}  // namespace hs

namespace hs {

// Once per process, from the static registrar below and again (a no-op) from
// RegisterHipEmu, whatever the number of addon instances (worker threads).
void register_hip_backends() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_backend(hip_info(), hip_probe);
    register_backend(emu_info(), emu_probe);
    register_attention_backend(hip_attention("hip-paged", "hip"));
    register_attention_backend(hip_attention("hip-emu-paged", "hip-emu"));
  });
}

}  // namespace hs

// The registry's convention: each backend registers itself from its own file.
static const bool g_hip_backends_registered = (::hs::register_hip_backends(), true);
