// The C ABI of libhipserve_hip.so, the real HIP backend. It is a separate
// library, dlopen'ed by the addon only when asked for, because linking
// libamdhip64 into the addon would make the addon itself fail to load on
// machines without ROCm. Strings cross the boundary, never C++ objects.
#include <cstdio>
#include <cstring>
#include <string>

#include "../../kernels/launchers.h"
#include "device.h"
#include "gemm.h"

#ifndef HIPSERVE_HIP_ARCHS
#define HIPSERVE_HIP_ARCHS ""
#endif

namespace {
void copy_out(const std::string& s, char* buf, size_t cap) {
  if (buf == nullptr || cap == 0) return;
  std::snprintf(buf, cap, "%s", s.c_str());
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int hs_hip_abi_version() { return 1; }

// >= 1: usable devices (buf gets "name (arch)"); 0: none, buf gets the HIP
// runtime's own reason plus the visibility variables.
__attribute__((visibility("default"))) int hs_hip_probe(char* buf, size_t cap) {
  hs::Result<hs::hipk::DeviceReport> r = hs::hipk::discover_device(HIPSERVE_HIP_ARCHS);
  if (!r.ok()) {
    copy_out(r.error().message + " [" + hs::hipk::visibility_env() + "]", buf, cap);
    return 0;
  }
  copy_out(r.value().name + " (" + r.value().arch + ")", buf, cap);
  return r.value().count;
}

// Compiled-in code objects, e.g. "gfx90a;gfx1030".
__attribute__((visibility("default"))) const char* hs_hip_archs() { return HIPSERVE_HIP_ARCHS; }

}  // extern "C"
