#include "model/kv_cache.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "registry.h"

namespace hs {

KvCache::~KvCache() = default;

Result<std::shared_ptr<KvCache>> describe_kv_cache(const Model& m, int64_t num_blocks, int64_t block_size) {
  if (num_blocks < 2) {
    return make_err(Code::INVALID_ARGUMENT, "numBlocks must be >= 2 (block 0 is the null block)", "createKvCache");
  }
  if (block_size < 1 || block_size > 4096) {
    return make_err(Code::INVALID_ARGUMENT, "blockSize must be in 1..4096", "createKvCache");
  }
  Status st = check_attention_support(m.backend, m.cfg.head_dim, block_size);
  if (!st.ok()) return st.error();
  uint64_t per_block = m.kv_bytes_per_block(block_size), bytes = 0;
  if (__builtin_mul_overflow(per_block, static_cast<uint64_t>(num_blocks), &bytes) || bytes > (1ull << 46)) {
    return make_err(Code::OUT_OF_MEMORY, "KV cache of " + std::to_string(num_blocks) + " blocks overflows", "createKvCache");
  }
  auto kv = std::make_shared<KvCache>();
  kv->model_id = m.id;
  kv->num_layers = m.cfg.num_layers;
  kv->num_kv_heads = m.cfg.num_kv_heads;
  kv->head_dim = m.cfg.head_dim;
  kv->num_blocks = num_blocks;
  kv->block_size = block_size;
  kv->bytes = bytes;
  kv->dtype = m.kv_dtype;
  return kv;
}

Result<std::shared_ptr<KvCache>> create_kv_cache(const Model& m, int64_t num_blocks, int64_t block_size) {
  auto d = describe_kv_cache(m, num_blocks, block_size);
  if (!d.ok()) return d.error();
  std::shared_ptr<KvCache> kv = std::move(d.value());
  // Huge pages where the kernel gives them: fewer faults to commit it, fewer
  // TLB misses in attention.
  kv->mem = HugeRegion(static_cast<size_t>(kv->bytes));
  kv->data = kv->mem.data();
  if (kv->data != nullptr) {
    // Commit the pool now, as vLLM and llama.cpp do: each page written once
    // (zeros, as the fresh pages already hold). Without it every new
    // block's first token faulted its pages in the middle of a decode step
    // (~9 faults per token for the bench model: 0.1 ms of a 2.4 ms Q8_0
    // step on the Zen 5 VM), and a pool the machine cannot back fails here,
    // at start-up, instead of mid-request.
    // Both cores fault pages in: on a VM, first touches of fresh memory cost
    // the host's time too, and two threads halve the wait.
    constexpr int64_t kChunk = int64_t{2} << 20;
    auto* bytes = static_cast<uint8_t*>(kv->data);
    const auto total = static_cast<int64_t>(kv->bytes);
    cpu::parallel_for(cpu::default_pool(), (total + kChunk - 1) / kChunk, [&](int64_t b, int64_t e, int) {
      // Invariant: chunks [b, e) lie inside [data, data + bytes).
      const int64_t lo = b * kChunk, hi = std::min(total, e * kChunk);
      std::memset(bytes + lo, 0, static_cast<size_t>(hi - lo));
    });
  }
  if (kv->data == nullptr) {
    return make_err(Code::OUT_OF_MEMORY, "cannot allocate " + std::to_string(kv->bytes) + " bytes for " + std::to_string(num_blocks) + " KV blocks",
                    "createKvCache");
  }
  return kv;
}

}  // namespace hs
