#include "registry.h"

#include <algorithm>
#include <mutex>

namespace hs {

namespace {

struct Registry {
  std::mutex mu;
  std::vector<BackendInfo> backends;
  std::vector<AttentionBackendInfo> attention;
};

// Function-local static: safe whatever order the registrars' translation
// units are initialised in.
Registry& registry() {
  static Registry r;
  return r;
}

std::string names_of(const std::vector<BackendInfo>& v) {
  std::string s;
  for (const BackendInfo& b : v) {
    s += (s.empty() ? "" : ", ") + b.name + (b.available ? "" : " (unavailable: " + b.reason + ")");
  }
  return s.empty() ? "none" : s;
}

bool fits(const AttentionBackendInfo& a, int64_t head_dim, int64_t block_size) {
  bool head = a.head_sizes.empty()
                  ? head_dim > 0 && head_dim % 2 == 0 && head_dim <= a.max_head_size
                  : std::find(a.head_sizes.begin(), a.head_sizes.end(), head_dim) != a.head_sizes.end();
  bool block = a.block_sizes.empty()
                   ? block_size > 0 && block_size <= a.max_block_size
                   : std::find(a.block_sizes.begin(), a.block_sizes.end(), block_size) != a.block_sizes.end();
  return head && block;
}

void cpu_probe(BackendInfo* info) {
  info->available = true;
  info->reason = "";
  // Runs during static initialisation: the SIMD level (another translation
  // unit's state) is read later, when backends are listed.
  info->description = "CPU: thread pool + SIMD chosen at run time";
}

BackendInfo cpu_info() {
  BackendInfo b;
  b.name = "cpu";
  b.score = 0;  // always present, always last choice
  b.caps.dtypes = {DType::F32, DType::F16, DType::BF16, DType::Q8_0};
  b.caps.paged_kv = true;
  b.caps.device_memory = false;
  b.caps.async = false;
  return b;
}

AttentionBackendInfo cpu_paged_attention() {
  AttentionBackendInfo a;
  a.name = "cpu-paged";
  a.backend = "cpu";
  a.kv_dtypes = {DType::F32};
  a.max_head_size = 512;
  a.max_block_size = 4096;
  a.score = 0;
  return a;
}

}  // namespace

bool register_backend(BackendInfo info, BackendProbe probe) {
  if (probe != nullptr) probe(&info);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.backends.push_back(std::move(info));
  return true;
}

bool register_attention_backend(AttentionBackendInfo info) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.attention.push_back(std::move(info));
  return true;
}

std::vector<BackendInfo> list_backends() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<BackendInfo> v = r.backends;
  std::stable_sort(v.begin(), v.end(), [](const BackendInfo& a, const BackendInfo& b) { return a.score > b.score; });
  return v;
}

std::vector<AttentionBackendInfo> list_attention_backends() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<AttentionBackendInfo> v = r.attention;
  std::stable_sort(v.begin(), v.end(), [](const AttentionBackendInfo& a, const AttentionBackendInfo& b) { return a.score > b.score; });
  return v;
}

Result<BackendInfo> select_backend(const std::string& name) {
  std::vector<BackendInfo> all = list_backends();
  for (const BackendInfo& b : all) {
    if (name.empty() || name == "auto") {
      if (b.available) return b;  // sorted best first
      continue;
    }
    if (b.name != name) continue;
    if (!b.available) {
      return make_err(Code::UNAVAILABLE, "backend '" + name + "' is not available here: " + b.reason + " (registered: " + names_of(all) + ")", "device");
    }
    return b;
  }
  return make_err(Code::NOT_FOUND, "no backend named '" + name + "' (registered: " + names_of(all) + ")", "device");
}

Result<AttentionBackendInfo> select_attention(const std::string& backend, int64_t head_dim, int64_t block_size) {
  std::string seen;
  for (const AttentionBackendInfo& a : list_attention_backends()) {
    if (a.backend != backend) continue;
    if (fits(a, head_dim, block_size)) return a;
    seen += (seen.empty() ? "" : ", ") + a.name + " (head size <= " + std::to_string(a.max_head_size) +
            ", block size <= " + std::to_string(a.max_block_size) + ")";
  }
  return make_err(Code::UNSUPPORTED,
                  "no attention backend on '" + backend + "' handles head size " + std::to_string(head_dim) + " with block size " +
                      std::to_string(block_size) + " (registered: " + (seen.empty() ? "none" : seen) + ")",
                  "attention");
}

Status check_attention_support(const std::string& backend, int64_t head_dim, int64_t block_size) {
  auto r = select_attention(backend, head_dim, block_size);
  if (!r.ok()) return r.error();
  return Status();
}

HS_REGISTER_BACKEND(g_cpu_registered, cpu_info(), cpu_probe);
HS_REGISTER_ATTENTION_BACKEND(g_cpu_attention_registered, cpu_paged_attention());

}  // namespace hs
