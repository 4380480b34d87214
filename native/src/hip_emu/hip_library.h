// The real HIP backend lives in libhipserve_hip.so (native/hip/, built by
// scripts/build-hip-amd.sh or cmake/hip.cmake where ROCm is found), loaded
// here with dlopen so that the addon itself never links libamdhip64.
#pragma once

#include <string>

#include "result.h"

namespace hs {

struct HipLibraryProbe {
  bool loaded = false;   // the library was found and opened
  int devices = 0;       // usable devices (>= 1 means a GPU answered)
  std::string message;   // the device, or the HIP runtime's own reason
  std::string path;      // the library that answered, or every path tried
  void* handle = nullptr;  // dlopen handle of that library (never closed)
  int abi = 0;             // hs_hip_abi_version(): >= 2 has the model entry points
};

// Looks for the library ($HIPSERVE_HIP_LIB, the cmake build's copy, then
// build-hip-amd/ of the checkout) and asks it for a device. Runs once per
// process; later calls return the first answer.
const HipLibraryProbe& probe_hip_library();

// A failed call of the library's C ABI: rc = 1 + hs::Code (an unknown value
// becomes INTERNAL), message in buf (native/hip/abi_guard.h).
Error hip_library_error(int rc, const char* buf, const std::string& where);

}  // namespace hs
