// The paged KV pool of one model (layout in native/README.md):
//   [layer][k|v][block][kv_head][slot in block][head_dim], elements of
//   `dtype` (the model's kv_dtype: f16 or f32 on the CPU, f32 on a device).
#pragma once

#include <cstdint>
#include <memory>

#include "huge_region.h"
#include "model/model.h"
#include "result.h"

namespace hs {

struct KvCache {
  ~KvCache();
  uint64_t model_id = 0;
  int64_t num_layers = 0, num_kv_heads = 0, head_dim = 0;
  int64_t num_blocks = 0, block_size = 0;
  uint64_t bytes = 0;
  DType dtype = DType::F32;
  // `bytes` long in `mem` (huge pages where the kernel gives them),
  // committed (written once) at creation.
  void* data = nullptr;
  HugeRegion mem;
  // Device backends: the pool lives in device memory (same layout), `data`
  // stays null; owned by the model's DeviceBackend implementation.
  std::shared_ptr<void> device;

  int64_t layer_elems() const { return num_blocks * num_kv_heads * block_size * head_dim; }
  // Invariant: data holds 2 * num_layers * layer_elems() elements of dtype (create_kv_cache).
  void* k_layer(int64_t l) const { return static_cast<uint8_t*>(data) + 2 * l * layer_bytes(); }
  void* v_layer(int64_t l) const { return static_cast<uint8_t*>(data) + (2 * l + 1) * layer_bytes(); }

 private:
  int64_t layer_bytes() const { return layer_elems() * static_cast<int64_t>(cpu::kv_elem_bytes(dtype)); }
};

// Checks a createKvCache request against the model and describes the cache
// (shape, bytes) without storage: create_kv_cache allocates `data` on the
// host, a device backend attaches its pool instead.
Result<std::shared_ptr<KvCache>> describe_kv_cache(const Model& m, int64_t num_blocks, int64_t block_size);
Result<std::shared_ptr<KvCache>> create_kv_cache(const Model& m, int64_t num_blocks, int64_t block_size);

}  // namespace hs
