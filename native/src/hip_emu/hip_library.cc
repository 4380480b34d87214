// See hip_library.h.
#include "hip_emu/hip_library.h"

#include "hip_emu/device_backend.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace hs {
namespace {

std::string addon_dir() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&addon_dir), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string p = info.dli_fname;
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("HIPSERVE_HIP_LIB"); env != nullptr && *env != '\0') out.push_back(env);
#ifdef HIPSERVE_HIP_LIB_DEFAULT
  out.push_back(HIPSERVE_HIP_LIB_DEFAULT);
#endif
  const std::string dir = addon_dir();  // <root>/build/Release
  if (!dir.empty()) {
    out.push_back(dir + "/../hip/libhipserve_hip.so");
    out.push_back(dir + "/../../build-hip-amd/libhipserve_hip.so");
  }
  return out;
}

HipLibraryProbe run_probe() {
  HipLibraryProbe r;
  std::string tried;
  for (const std::string& path : candidates()) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* why = dlerror();
      tried += (tried.empty() ? "" : "; ") + path + ": " + (why ? why : "cannot open");
      continue;
    }
    using ProbeFn = int (*)(char*, size_t);
    auto probe = reinterpret_cast<ProbeFn>(dlsym(h, "hs_hip_probe"));
    if (probe == nullptr) {
      tried += (tried.empty() ? "" : "; ") + path + ": no hs_hip_probe symbol";
      dlclose(h);
      continue;
    }
    // The library stays loaded for the life of the process (a backend that
    // answered may be used later).
    char msg[1024] = {0};
    r.loaded = true;
    r.devices = probe(msg, sizeof msg);
    r.message = msg;
    r.path = path;
    return r;
  }
  r.message = "libhipserve_hip.so was not found (it is built only where ROCm's hipcc is: "
              "scripts/build-hip-amd.sh or HIPSERVE_HIP=ON; HIPSERVE_HIP_LIB names it)";
  r.path = tried;
  return r;
}

}  // namespace

const HipLibraryProbe& probe_hip_library() {
  static const HipLibraryProbe r = run_probe();
  return r;
}

}  // namespace hs

namespace hs {
Result<std::shared_ptr<DeviceBackend>> create_hip_library_backend(const hs_dev_model_desc&) {
  return make_err(Code::UNAVAILABLE, "libhipserve_hip.so has no model entry points yet", "loadModel");
}
}  // namespace hs
