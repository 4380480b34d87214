// Device discovery of the HIP backend (shared by the real backend and the
// emulator): which GPU to use and whether this build has code for it.
//
// HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES are applied by the HIP runtime
// itself before hipGetDeviceCount answers; the report names them so that an
// operator sees why a device is missing.
#pragma once

#include <cstdlib>
#include <string>

#include "hip_check.h"

namespace hs {
namespace hipk {

struct DeviceReport {
  int device = 0;
  int count = 0;
  std::string name;
  std::string arch;  // gcnArchName without feature flags, e.g. "gfx90a"
  int warp_size = 0;
  size_t total_memory = 0;
};

// `built` = the ';'-separated offload archs compiled in ("gfx90a;gfx1030").
inline Result<DeviceReport> discover_device(const std::string& built) {
  DeviceReport r;
  HS_HIP_CHECK(hipGetDeviceCount(&r.count));
  if (r.count < 1) {
    return make_err(Code::UNAVAILABLE, "the HIP runtime reports no device", "hipGetDeviceCount");
  }
  HS_HIP_CHECK(hipSetDevice(r.device));
  hipDeviceProp_t prop;
  HS_HIP_CHECK(hipGetDeviceProperties(&prop, r.device));
  r.name = prop.name;
  r.arch = std::string(prop.gcnArchName).substr(0, std::string(prop.gcnArchName).find(':'));
  r.warp_size = prop.warpSize;
  r.total_memory = prop.totalGlobalMem;
  if (!built.empty() && (";" + built + ";").find(";" + r.arch + ";") == std::string::npos) {
    return make_err(Code::UNSUPPORTED,
                    "GPU " + r.name + " is " + r.arch + " but this build has code objects for " +
                        built + " only: rebuild with HIPSERVE_HIP_ARCHS including " + r.arch,
                    "hipGetDeviceProperties");
  }
  return r;
}

// "HIP_VISIBLE_DEVICES=1 ROCR_VISIBLE_DEVICES=(unset)": for error messages.
inline std::string visibility_env() {
  std::string out;
  for (const char* k : {"HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"}) {
    const char* v = std::getenv(k);
    out += std::string(out.empty() ? "" : " ") + k + "=" + (v ? v : "(unset)");
  }
  return out;
}

}  // namespace hipk
}  // namespace hs
