#include "model/kv_cache.h"

#include <cstdlib>

#include "registry.h"

namespace hs {

KvCache::~KvCache() { std::free(data); }

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
  kv->data = std::calloc(static_cast<size_t>(kv->bytes), 1);
  if (kv->data == nullptr) {
    return make_err(Code::OUT_OF_MEMORY, "cannot allocate " + std::to_string(kv->bytes) + " bytes for " + std::to_string(num_blocks) + " KV blocks",
                    "createKvCache");
  }
  return kv;
}

}  // namespace hs
