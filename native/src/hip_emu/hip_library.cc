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
    r.handle = h;
    using AbiFn = int (*)();
    if (auto abi = reinterpret_cast<AbiFn>(dlsym(h, "hs_hip_abi_version"))) r.abi = abi();
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

Error hip_library_error(int rc, const char* buf, const std::string& where) {
  const int c = rc - 1;
  const Code code = c >= 0 && c <= static_cast<int>(Code::BUSY) ? static_cast<Code>(c) : Code::INTERNAL;
  return make_err(code, buf, where);
}

}  // namespace hs

namespace hs {
namespace {

// The model entry points of libhipserve_hip.so (backend_api.cc).
struct HipModelApi {
  int (*model_create)(const hs_dev_model_desc*, void**, char*, size_t) = nullptr;
  void (*model_release)(void*) = nullptr;
  int (*model_memory)(void*, hs_dev_memory*, char*, size_t) = nullptr;
  int (*kv_create)(void*, int64_t, int64_t, void**, char*, size_t) = nullptr;
  void (*kv_release)(void*) = nullptr;
  int (*forward)(void*, void*, const hs_dev_step*, hs_dev_step_out*, char*, size_t) = nullptr;
};

template <class F>
bool bind(void* h, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(dlsym(h, name));
  return *fn != nullptr;
}

Error lib_error(int rc, const char* buf) { return hip_library_error(rc, buf, "libhipserve_hip"); }

class HipLibraryBackend : public DeviceBackend {
 public:
  HipLibraryBackend(const HipModelApi& api, void* model) : api_(api), model_(model) {}
  ~HipLibraryBackend() override { api_.model_release(model_); }
  Result<std::shared_ptr<void>> create_kv(int64_t num_blocks, int64_t block_size) override {
    char err[1024] = {0};
    void* kv = nullptr;
    const int rc = api_.kv_create(model_, num_blocks, block_size, &kv, err, sizeof err);
    if (rc != 0) return lib_error(rc, err);
    auto release = api_.kv_release;  // the library stays loaded for the process
    return std::shared_ptr<void>(kv, [release](void* p) { release(p); });
  }
  Status forward(void* kv, const hs_dev_step& s, hs_dev_step_out* out) override {
    char err[1024] = {0};
    const int rc = api_.forward(model_, kv, &s, out, err, sizeof err);
    if (rc != 0) return lib_error(rc, err);
    return Status();
  }
  Result<hs_dev_memory> memory() override {
    char err[1024] = {0};
    hs_dev_memory m{};
    const int rc = api_.model_memory(model_, &m, err, sizeof err);
    if (rc != 0) return lib_error(rc, err);
    return m;
  }

 private:
  HipModelApi api_;
  void* model_;  // owned: released in the destructor
};

}  // namespace

Result<std::shared_ptr<DeviceBackend>> create_hip_library_backend(const hs_dev_model_desc& d) {
  const HipLibraryProbe& p = probe_hip_library();
  if (!p.loaded || p.devices < 1) return make_err(Code::UNAVAILABLE, "no HIP device: " + p.message, "loadModel");
  HipModelApi api;
  if (p.abi < HS_DEV_ABI_VERSION || !bind(p.handle, "hs_hip_model_create", &api.model_create) ||
      !bind(p.handle, "hs_hip_model_release", &api.model_release) ||
      !bind(p.handle, "hs_hip_model_memory", &api.model_memory) || !bind(p.handle, "hs_hip_kv_create", &api.kv_create) ||
      !bind(p.handle, "hs_hip_kv_release", &api.kv_release) || !bind(p.handle, "hs_hip_forward", &api.forward)) {
    return make_err(Code::UNSUPPORTED,
                    p.path + " is too old for this addon (ABI " + std::to_string(p.abi) + ", need " +
                        std::to_string(HS_DEV_ABI_VERSION) + "): rebuild it with scripts/build-hip-amd.sh",
                    "loadModel");
  }
  char err[1024] = {0};
  void* model = nullptr;
  const int rc = api.model_create(&d, &model, err, sizeof err);
  if (rc != 0) return lib_error(rc, err);
  return std::shared_ptr<DeviceBackend>(std::make_shared<HipLibraryBackend>(api, model));
}

}  // namespace hs
