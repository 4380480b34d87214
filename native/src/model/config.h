// The architecture hyper-parameters the forward pass needs, read from a
// Hugging Face config.json or from GGUF metadata into one struct.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cpu/kernels.h"
#include "model/gguf.h"
#include "model/json.h"
#include "result.h"

namespace hs {

struct ModelConfig {
  std::string architecture;  // "llama" | "qwen2" | "qwen3"
  std::string format;        // "safetensors" | "gguf"
  std::string source;        // the file the fields were read from (config.json or the .gguf), for errors
  std::string gguf_prefix;   // GGUF: the metadata key prefix, e.g. "llama." (errors name GGUF keys)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  float rope_theta = 10000.0f;
  float rms_norm_eps = 1e-6f;
  bool tie_word_embeddings = false;
  bool tie_explicit = false;  // config.json said so (else inferred from a missing lm_head)
  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;
  bool qkv_bias = false;  // qwen2
  bool qk_norm = false;   // qwen3
  cpu::RopeParams rope;
};

Result<ModelConfig> config_from_hf(const Json& cfg, const std::string& where);
Result<ModelConfig> config_from_gguf(const GgufFile& g, const std::string& where);
// Common sanity checks (positive sizes, heads divide, token ids in the
// vocabulary, ...). Errors name c.source and the field as the file spells it
// (config.json's name, or the GGUF key).
Status validate_config(const ModelConfig& c);
// The name of a config.json field as c's file spells it ("num_hidden_layers"
// -> "llama.block_count" for GGUF), quoted, with "field"/"header field".
std::string config_field(const ModelConfig& c, const std::string& hf_name);

}  // namespace hs
