#include "model/config.h"

#include <cmath>
#include <cstdint>

namespace hs {

namespace {

Error bad_field(const std::string& where, const std::string& field, const std::string& msg) {
  return make_err(Code::BAD_FORMAT, "field '" + field + "': " + msg, where);
}

std::string normalize_arch(const std::string& s) {
  if (s == "llama" || s == "mistral" || s == "LlamaForCausalLM" || s == "MistralForCausalLM") return "llama";
  if (s == "qwen2" || s == "Qwen2ForCausalLM") return "qwen2";
  if (s == "qwen3" || s == "Qwen3ForCausalLM") return "qwen3";
  return "";
}

void set_arch_flags(ModelConfig* c) {
  c->qkv_bias = c->architecture == "qwen2";
  c->qk_norm = c->architecture == "qwen3";
}

// A token id from config.json: an integer in 0..2^31-1 (the engine keeps
// ids as int32; a cast of anything else would be undefined).
Result<int32_t> json_token_id(const Json& v, const std::string& where, const char* field) {
  if (!v.is_number() || !(v.number >= 0 && v.number <= static_cast<double>(INT32_MAX)) || std::floor(v.number) != v.number) {
    return bad_field(where, field, (v.is_number() ? std::to_string(v.number) : std::string("a non-number")) +
                                       " is not a token id (an integer in 0..2^31-1)");
  }
  return static_cast<int32_t>(v.number);
}

}  // namespace

Result<ModelConfig> config_from_hf(const Json& j, const std::string& where) {
  if (!j.is_object()) return make_err(Code::BAD_FORMAT, "config is not a JSON object", where);
  ModelConfig c;
  c.format = "safetensors";
  c.source = where;
  std::string raw;
  if (const Json* mt = j.get("model_type"); mt != nullptr && mt->is_string()) raw = mt->str;
  c.architecture = normalize_arch(raw);
  if (c.architecture.empty()) {
    const Json* a = j.get("architectures");
    if (a != nullptr && a->is_array() && !a->items.empty() && a->items[0].is_string()) {
      raw = raw.empty() ? a->items[0].str : raw;
      c.architecture = normalize_arch(a->items[0].str);
    }
  }
  if (c.architecture.empty()) {
    return make_err(Code::UNSUPPORTED, "field 'model_type': architecture '" + raw + "' is not supported (llama, mistral, qwen2, qwen3 are)", where);
  }
  set_arch_flags(&c);

#define HS_INT(dst, key, fb)                          \
  {                                                   \
    auto v = json_int(j, key, fb, where);             \
    if (!v.ok()) return v.error();                    \
    dst = v.value();                                  \
  }
#define HS_NUM(dst, key, fb)                          \
  {                                                   \
    auto v = json_number(j, key, fb, where);          \
    if (!v.ok()) return v.error();                    \
    dst = static_cast<float>(v.value());              \
  }
  HS_INT(c.hidden_size, "hidden_size", 0);
  HS_INT(c.num_layers, "num_hidden_layers", 0);
  HS_INT(c.num_heads, "num_attention_heads", 0);
  HS_INT(c.num_kv_heads, "num_key_value_heads", c.num_heads);
  HS_INT(c.head_dim, "head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  HS_INT(c.intermediate_size, "intermediate_size", 0);
  HS_INT(c.max_position_embeddings, "max_position_embeddings", 2048);
  HS_INT(c.vocab_size, "vocab_size", 0);
  HS_NUM(c.rope_theta, "rope_theta", 10000.0);
  HS_NUM(c.rms_norm_eps, "rms_norm_eps", 1e-6);
  int64_t bos = -1;
  HS_INT(bos, "bos_token_id", -1);
  if (bos < -1 || bos > INT32_MAX) return bad_field(where, "bos_token_id", std::to_string(bos) + " is not a token id");
  c.bos_token_id = static_cast<int32_t>(bos);
#undef HS_INT
#undef HS_NUM

  if (const Json* e = j.get("eos_token_id"); e != nullptr && !e->is_null()) {
    if (e->is_number()) {
      auto id = json_token_id(*e, where, "eos_token_id");
      if (!id.ok()) return id.error();
      c.eos_token_ids.push_back(id.value());
    } else if (e->is_array()) {
      for (const Json& x : e->items) {
        auto id = json_token_id(x, where, "eos_token_id");
        if (!id.ok()) return id.error();
        c.eos_token_ids.push_back(id.value());
      }
    } else {
      return bad_field(where, "eos_token_id", "not a number or list of numbers");
    }
  }
  if (const Json* t = j.get("tie_word_embeddings"); t != nullptr && t->is_bool()) {
    c.tie_word_embeddings = t->boolean;
    c.tie_explicit = true;
  }
  if (const Json* act = j.get("hidden_act"); act != nullptr && act->is_string() && act->str != "silu") {
    return make_err(Code::UNSUPPORTED, "field 'hidden_act': '" + act->str + "' (only silu)", where);
  }
  for (const char* k : {"attention_bias", "mlp_bias"}) {
    const Json* b = j.get(k);
    if (b != nullptr && b->is_bool() && b->boolean) {
      return make_err(Code::UNSUPPORTED, std::string("field '") + k + "': biases beyond Qwen2's q/k/v are not supported", where);
    }
  }
  if (const Json* u = j.get("use_sliding_window"); u != nullptr && u->is_bool() && u->boolean) {
    return make_err(Code::UNSUPPORTED, "field 'use_sliding_window': sliding-window attention is not supported", where);
  }
  // Mistral's sliding window equals full attention for contexts no longer
  // than the window, so cap the context there instead of refusing the model.
  if (c.architecture == "llama") {
    if (const Json* sw = j.get("sliding_window"); sw != nullptr && sw->is_number() && sw->number > 0 &&
                                                  sw->number < static_cast<double>(c.max_position_embeddings)) {
      c.max_position_embeddings = static_cast<int64_t>(sw->number);
    }
  }

  c.rope.theta = c.rope_theta;
  c.rope.style = cpu::RopeStyle::Neox;  // HF checkpoints keep q/k rows unpermuted
  if (const Json* rs = j.get("rope_scaling"); rs != nullptr && !rs->is_null()) {
    const Json* ty = rs->get("rope_type");
    if (ty == nullptr) ty = rs->get("type");
    std::string type = ty != nullptr && ty->is_string() ? ty->str : "";
    if (type == "llama3") {
      auto f = json_number(*rs, "factor", 8.0, where);
      auto lo = json_number(*rs, "low_freq_factor", 1.0, where);
      auto hi = json_number(*rs, "high_freq_factor", 4.0, where);
      auto om = json_int(*rs, "original_max_position_embeddings", 8192, where);
      if (!f.ok()) return f.error();
      if (!lo.ok()) return lo.error();
      if (!hi.ok()) return hi.error();
      if (!om.ok()) return om.error();
      if (!(f.value() > 0) || !(hi.value() > lo.value()) || om.value() <= 0 || om.value() > INT32_MAX) {
        return bad_field(where, "rope_scaling", "llama3 parameters out of range");
      }
      c.rope.llama3_factor = static_cast<float>(f.value());
      c.rope.llama3_low_freq_factor = static_cast<float>(lo.value());
      c.rope.llama3_high_freq_factor = static_cast<float>(hi.value());
      c.rope.llama3_original_max_pos = static_cast<int32_t>(om.value());
    } else if (type != "default" && !type.empty()) {
      return make_err(Code::UNSUPPORTED, "field 'rope_scaling': rope type '" + type + "' is not supported (llama3 is)", where);
    }
  }
  return c;  // validated by the builder once vocab_size is checked against the embeddings
}

Result<ModelConfig> config_from_gguf(const GgufFile& g, const std::string& where) {
  ModelConfig c;
  c.format = "gguf";
  c.source = where;
  const GgufValue* a = g.get("general.architecture");
  if (a == nullptr || a->type != GgufType::STRING) {
    return make_err(Code::BAD_FORMAT, "header field 'general.architecture' is missing", where);
  }
  c.architecture = normalize_arch(a->s);
  if (c.architecture.empty()) {
    return make_err(Code::UNSUPPORTED, "header field 'general.architecture': '" + a->s + "' is not supported (llama, qwen2, qwen3 are)", where);
  }
  set_arch_flags(&c);
  const std::string p = a->s + ".";
  c.gguf_prefix = p;
  // Sizes and counts must be integers (|v| <= 2^53, so the conversion below
  // is exact); the two float fields only finite numbers.
  auto num = [&](const std::string& key, double fb, bool required, double* out) -> Status {
    const GgufValue* v = g.get(p + key);
    if (v == nullptr) {
      if (required) return make_err(Code::BAD_FORMAT, "header field '" + p + key + "' is missing", where);
      *out = fb;
      return Status();
    }
    if (!v->is_integer() && !v->is_float()) return make_err(Code::BAD_FORMAT, "header field '" + p + key + "' is not a number", where);
    const double d = v->as_double();
    const bool is_float_field = key == "rope.freq_base" || key == "attention.layer_norm_rms_epsilon";
    if (!std::isfinite(d) || (!is_float_field && (std::floor(d) != d || std::fabs(d) > 9007199254740992.0))) {
      return make_err(Code::BAD_FORMAT, "header field '" + p + key + "' = " + std::to_string(d) + " is not " +
                                            (is_float_field ? "a finite number" : "an integer in range"), where);
    }
    *out = d;
    return Status();
  };
  double hidden = 0, layers = 0, heads = 0, kv = 0, ff = 0, ctx = 0, theta = 0, eps = 0, key_len = 0, rot = 0, vocab = 0;
  for (auto [key, fb, req, dst] : std::initializer_list<std::tuple<const char*, double, bool, double*>>{
           {"embedding_length", 0, true, &hidden},
           {"block_count", 0, true, &layers},
           {"attention.head_count", 0, true, &heads},
           {"attention.head_count_kv", -1, false, &kv},
           {"feed_forward_length", 0, true, &ff},
           {"context_length", 2048, false, &ctx},
           {"rope.freq_base", 10000.0, false, &theta},
           {"attention.layer_norm_rms_epsilon", 1e-5, false, &eps},
           {"attention.key_length", -1, false, &key_len},
           {"rope.dimension_count", -1, false, &rot},
           {"vocab_size", 0, false, &vocab}}) {
    Status st = num(key, fb, req, dst);
    if (!st.ok()) return st.error();
  }
  c.hidden_size = static_cast<int64_t>(hidden);
  c.num_layers = static_cast<int64_t>(layers);
  c.num_heads = static_cast<int64_t>(heads);
  c.num_kv_heads = kv < 0 ? c.num_heads : static_cast<int64_t>(kv);
  c.head_dim = key_len > 0 ? static_cast<int64_t>(key_len) : (c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.intermediate_size = static_cast<int64_t>(ff);
  c.max_position_embeddings = static_cast<int64_t>(ctx);
  c.vocab_size = static_cast<int64_t>(vocab);  // 0: taken from token_embd by the model builder
  c.rope_theta = static_cast<float>(theta);
  c.rms_norm_eps = static_cast<float>(eps);
  c.rope.theta = c.rope_theta;
  if (rot > INT32_MAX) {
    return make_err(Code::BAD_FORMAT, "header field '" + p + "rope.dimension_count' = " + std::to_string(static_cast<int64_t>(rot)) + " is out of range", where);
  }
  if (rot > 0 && static_cast<int64_t>(rot) != c.head_dim) c.rope.rotary_dim = static_cast<int32_t>(rot);
  // llama.cpp's converter permutes llama q/k rows for interleaved RoPE; it
  // leaves qwen2/qwen3 as they are and runs NEOX RoPE on them.
  c.rope.style = c.architecture == "llama" ? cpu::RopeStyle::Interleaved : cpu::RopeStyle::Neox;
  if (const GgufValue* st = g.get(p + "rope.scaling.type"); st != nullptr && st->type == GgufType::STRING &&
                                                            st->s != "none" && !st->s.empty()) {
    return make_err(Code::UNSUPPORTED, "header field '" + p + "rope.scaling.type': '" + st->s + "' is not supported", where);
  }
  // Token ids: integers in 0..2^31-1; -1 (some converters' "none") counts as absent.
  auto token_id = [&](const char* key, int32_t* out) -> Result<bool> {
    const GgufValue* v = g.get(key);
    if (v == nullptr) return false;
    const bool neg_one = v->is_integer() && v->type != GgufType::U64 && v->as_int() == -1;
    if (neg_one) return false;
    if (!v->is_integer() || v->type == GgufType::BOOL || (v->type == GgufType::U64 && v->u > INT32_MAX) ||
        v->as_int() < 0 || v->as_int() > INT32_MAX) {
      return make_err(Code::BAD_FORMAT, std::string("header field '") + key + "' = " +
                                            (v->is_integer() || v->is_float() ? std::to_string(v->as_double()) : std::string("a non-number")) +
                                            " is not a token id (an integer in 0..2^31-1)", where);
    }
    *out = static_cast<int32_t>(v->as_int());
    return true;
  };
  {
    auto b = token_id("tokenizer.ggml.bos_token_id", &c.bos_token_id);
    if (!b.ok()) return b.error();
  }
  for (const char* k : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    int32_t id = 0;
    auto e = token_id(k, &id);
    if (!e.ok()) return e.error();
    if (!e.value()) continue;
    bool seen = false;
    for (int32_t x : c.eos_token_ids) seen = seen || x == id;
    if (!seen) c.eos_token_ids.push_back(id);
  }
  return c;  // validated by the builder once vocab_size is known
}

std::string config_field(const ModelConfig& c, const std::string& hf_name) {
  if (c.format != "gguf") return "field '" + hf_name + "'";
  static const std::pair<const char*, const char*> kKeys[] = {
      {"vocab_size", "vocab_size"},
      {"hidden_size", "embedding_length"},
      {"num_hidden_layers", "block_count"},
      {"num_attention_heads", "attention.head_count"},
      {"num_key_value_heads", "attention.head_count_kv"},
      {"head_dim", "attention.key_length"},
      {"intermediate_size", "feed_forward_length"},
      {"max_position_embeddings", "context_length"},
      {"rms_norm_eps", "attention.layer_norm_rms_epsilon"},
      {"rope_theta", "rope.freq_base"},
  };
  for (const auto& [hf, gg] : kKeys) {
    if (hf_name == hf) return "header field '" + c.gguf_prefix + gg + "'";
  }
  if (hf_name == "eos_token_id" || hf_name == "bos_token_id") return "header field 'tokenizer.ggml." + hf_name + "'";
  return "header field '" + hf_name + "'";
}

Status validate_config(const ModelConfig& c) {
  const std::string& where = c.source;
  auto bad = [&](const std::string& field, const std::string& msg) {
    return Status(make_err(Code::BAD_FORMAT, config_field(c, field) + msg, where));
  };
  for (auto [v, n] : std::initializer_list<std::pair<int64_t, const char*>>{
           {c.vocab_size, "vocab_size"}, {c.hidden_size, "hidden_size"}, {c.num_layers, "num_hidden_layers"},
           {c.num_heads, "num_attention_heads"}, {c.num_kv_heads, "num_key_value_heads"}, {c.head_dim, "head_dim"},
           {c.intermediate_size, "intermediate_size"}, {c.max_position_embeddings, "max_position_embeddings"}}) {
    if (v <= 0 || v > INT32_MAX) return bad(n, " = " + std::to_string(v) + " is not a positive size (1..2^31-1)");
  }
  if (c.num_heads % c.num_kv_heads != 0) {
    return bad("num_key_value_heads", " does not divide " + config_field(c, "num_attention_heads"));
  }
  if (c.head_dim % 2 != 0 || (c.rope.rotary_dim != 0 && (c.rope.rotary_dim % 2 != 0 || c.rope.rotary_dim > c.head_dim))) {
    return bad("head_dim", ": RoPE needs an even head size");
  }
  if (!(c.rms_norm_eps > 0) || !(c.rope_theta > 0) || !std::isfinite(c.rope_theta)) {
    return bad("rms_norm_eps", "/" + config_field(c, "rope_theta") + " out of range");
  }
  if (c.bos_token_id < -1 || c.bos_token_id >= c.vocab_size) {
    return bad("bos_token_id", " = " + std::to_string(c.bos_token_id) + " is not a token id of the vocabulary (" +
                                   std::to_string(c.vocab_size) + " tokens)");
  }
  for (int32_t id : c.eos_token_ids) {
    if (id < 0 || id >= c.vocab_size) {
      return bad("eos_token_id", " = " + std::to_string(id) + " is not a token id of the vocabulary (" +
                                     std::to_string(c.vocab_size) + " tokens)");
    }
  }
  return Status();
}

}  // namespace hs
