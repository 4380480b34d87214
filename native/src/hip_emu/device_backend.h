// The model on a device backend (hip-emu inside the addon, hip through
// libhipserve_hip.so): one interface over the two builds of the same device
// forward (native/hip/device_model.h), so that the bindings dispatch on
// `model->device` with one test each and never learn which build runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "../../hip/device_abi.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "result.h"

namespace hs {

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  // An opaque device KV pool (freed when the last owner drops it).
  virtual Result<std::shared_ptr<void>> create_kv(int64_t num_blocks, int64_t block_size) = 0;
  virtual Status forward(void* kv, const hs_dev_step& s, hs_dev_step_out* out) = 0;
  virtual Result<hs_dev_memory> memory() = 0;
};

// True for the backends whose models run through a DeviceBackend.
bool is_device_backend(const std::string& backend);

// Uploads the model's weights to the device of m.backend; activation scratch
// is reserved for `reserve_tokens` tokens per step.
Result<std::shared_ptr<DeviceBackend>> create_device_backend(const Model& m, int64_t reserve_tokens);

// createKvCache for a model with a device: the same checks and sizes as the
// CPU's create_kv_cache, the pool in device memory.
Result<std::shared_ptr<KvCache>> create_device_kv_cache(const Model& m, int64_t num_blocks, int64_t block_size);

// validate_step (the CPU path's own checks), then the device forward.
Status run_device_forward(Model& m, const KvCache& kv, const StepInput& s, StepOutput* out);

// The descriptor of m's host weights (pointers into m; `layers` keeps the per-layer array alive).
struct DeviceModelDesc {
  hs_dev_model_desc desc{};
  std::vector<hs_dev_layer> layers;
};
void describe_model(const Model& m, int64_t reserve_tokens, DeviceModelDesc* out);

// libhipserve_hip.so's model entry points (hip_library.cc).
Result<std::shared_ptr<DeviceBackend>> create_hip_library_backend(const hs_dev_model_desc& d);

}  // namespace hs
