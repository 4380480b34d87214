// Backend and attention-backend registries, in the style of ggml's backend
// registry: each backend registers itself (a static registrar in its own
// .cc) with a name, whether it is usable here (and why not), a score and its
// capabilities. The CPU backend is registered in registry.cc; the HIP one
// registers itself from its own file with HS_REGISTER_BACKEND.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cpu/kernels.h"
#include "result.h"

namespace hs {

struct BackendCaps {
  std::vector<DType> dtypes;  // weight dtypes the matmuls read
  bool paged_kv = false;
  bool device_memory = false;  // weights and KV live in device memory
  bool async = false;          // compute overlaps the host thread
};

struct BackendInfo {
  std::string name;
  std::string description;
  bool available = false;
  std::string reason;  // why not available ("" when available)
  int score = 0;       // higher is preferred; CPU is lowest
  BackendCaps caps;
};

struct AttentionBackendInfo {
  std::string name;
  std::string backend;               // the compute backend it runs on
  std::vector<DType> kv_dtypes;      // KV cache element types
  std::vector<int32_t> head_sizes;   // empty = any even head size up to max_head_size
  int32_t max_head_size = 0;
  std::vector<int32_t> block_sizes;  // empty = any block size up to max_block_size
  int32_t max_block_size = 0;
  bool paged_kv = true;
  bool gqa = true;
  bool mixed_prefill_decode = true;  // one call mixes prefill chunks and decodes
  int score = 0;
};

// A backend's probe runs once, at registration, and fills available/reason.
using BackendProbe = void (*)(BackendInfo* info);

bool register_backend(BackendInfo info, BackendProbe probe);
bool register_attention_backend(AttentionBackendInfo info);

std::vector<BackendInfo> list_backends();
std::vector<AttentionBackendInfo> list_attention_backends();

// name "" or "auto" = the best available; a missing or unavailable name is
// an error naming the backends present.
Result<BackendInfo> select_backend(const std::string& name);
// The best attention backend of `backend` able to serve head_dim/block_size,
// or an error listing what the registered ones support.
Result<AttentionBackendInfo> select_attention(const std::string& backend, int64_t head_dim, int64_t block_size);
Status check_attention_support(const std::string& backend, int64_t head_dim, int64_t block_size);

}  // namespace hs

#define HS_REGISTER_BACKEND(var, info, probe) \
  static const bool var = ::hs::register_backend((info), (probe))
#define HS_REGISTER_ATTENTION_BACKEND(var, info) \
  static const bool var = ::hs::register_attention_backend((info))
