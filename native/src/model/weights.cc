#include "model/weights.h"

#include <cstring>

namespace hs {

namespace {

struct Names {
  bool gguf;
  std::string layer(int64_t l, const char* hf, const char* gg) const {
    return gguf ? "blk." + std::to_string(l) + "." + gg : "model.layers." + std::to_string(l) + "." + hf;
  }
  std::string embed() const { return gguf ? "token_embd.weight" : "model.embed_tokens.weight"; }
  std::string final_norm() const { return gguf ? "output_norm.weight" : "model.norm.weight"; }
  std::string lm_head() const { return gguf ? "output.weight" : "lm_head.weight"; }
};

class Binder {
 public:
  explicit Binder(Model* m) : m_(m) {}

  // A file to name when a tensor is missing: the model path itself.
  Error missing(const std::string& name) const {
    return make_err(Code::NOT_FOUND, "tensor '" + name + "' is missing from the checkpoint", m_->path);
  }

  Result<const TensorInfo*> find(const std::string& name, const std::vector<int64_t>& shape) {
    const TensorInfo* t = m_->tensors.find(name);
    if (t == nullptr) return missing(name);
    if (!t->supported) {
      return make_err(Code::UNSUPPORTED, "tensor '" + name + "': dtype " + t->dtype_label + " is not supported (F32, F16, BF16, Q8_0 are)", t->file);
    }
    if (t->shape != shape) {
      return make_err(Code::BAD_FORMAT, "tensor '" + name + "': shape " + shape_str(t->shape) + ", expected " + shape_str(shape), t->file);
    }
    return t;
  }

  Result<WeightView> matrix(const std::string& name, int64_t rows, int64_t cols) {
    auto r = find(name, {rows, cols});
    if (!r.ok()) return r.error();
    const TensorInfo* t = r.value();
    if (t->dtype == DType::Q8_0 && cols % kQ8Block != 0) {
      return make_err(Code::BAD_FORMAT, "tensor '" + name + "': Q8_0 row length is not a multiple of 32", t->file);
    }
    WeightView w;
    w.dtype = t->dtype;
    w.rows = rows;
    w.cols = cols;
    w.data = t->data;
    // safetensors only promises byte offsets: kernels read f32 through float
    // pointers, so a misaligned matrix is copied into an aligned buffer.
    size_t align = t->dtype == DType::F32 ? 4 : 2;
    if (reinterpret_cast<uintptr_t>(t->data) % align != 0) {
      m_->owned.emplace_back((t->nbytes + 3) / 4);
      // Invariant: t->data has t->nbytes readable bytes (checked by the loader).
      std::memcpy(m_->owned.back().data(), t->data, t->nbytes);
      w.data = m_->owned.back().data();
    }
    return w;
  }

  // A small vector converted to f32 (norm weights, biases).
  Result<const float*> vec(const std::string& name, int64_t n) {
    auto r = find(name, {n});
    if (!r.ok()) return r.error();
    const TensorInfo* t = r.value();
    if (t->dtype == DType::Q8_0) {
      return make_err(Code::UNSUPPORTED, "tensor '" + name + "': Q8_0 vectors are not supported", t->file);
    }
    std::vector<float> out(static_cast<size_t>(n));
    // Invariant: t->data holds n elements of t->dtype (shape and size checked).
    for (int64_t i = 0; i < n; ++i) {
      if (t->dtype == DType::F32) {
        std::memcpy(&out[i], t->data + 4 * i, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, t->data + 2 * i, 2);
        out[i] = t->dtype == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
    }
    m_->owned.push_back(std::move(out));
    return m_->owned.back().data();
  }

 private:
  Model* m_;
};

}  // namespace

Status bind_weights(Model* m) {
  ModelConfig& c = m->cfg;
  Names n{c.format == "gguf"};
  Binder b(m);

  const TensorInfo* emb = m->tensors.find(n.embed());
  if (emb == nullptr) return b.missing(n.embed());
  if (c.vocab_size == 0 && emb->shape.size() == 2) c.vocab_size = emb->shape[0];
  // Sizes are checked before anything is sized from them.
  Status st = validate_config(c);
  if (!st.ok()) return st;
  // Every layer has at least 9 tensors (2 norms, q, k, v, o, gate, up,
  // down): a layer count the checkpoint cannot hold is refused before any
  // per-layer allocation. The first missing layer is found within
  // tensors.size() + 1 probes, since the names probed are distinct.
  const uint64_t n_tensors = m->tensors.tensors.size();
  if (static_cast<uint64_t>(c.num_layers) > n_tensors / 9) {
    int64_t l = 0;
    while (l < c.num_layers && m->tensors.find(n.layer(l, "input_layernorm.weight", "attn_norm.weight")) != nullptr) ++l;
    std::string first = l < c.num_layers ? " (first missing: '" + n.layer(l, "input_layernorm.weight", "attn_norm.weight") + "')" : "";
    return make_err(Code::BAD_FORMAT,
                    config_field(c, "num_hidden_layers") + " = " + std::to_string(c.num_layers) + " but the checkpoint holds " +
                        std::to_string(n_tensors) + " tensors, too few for that many layers" + first,
                    c.source);
  }
  // Pointers into owned vectors stay valid when `owned` reallocates (moving
  // a std::vector keeps its buffer); reserving only saves the moves.
  m->owned.reserve(static_cast<size_t>(c.num_layers) * 8 + 8);

  const int64_t H = c.hidden_size, V = c.vocab_size, hd = c.head_dim, I = c.intermediate_size;
  const int64_t qd = c.num_heads * hd, kd = c.num_kv_heads * hd;

#define HS_TRY(dst, expr)            \
  {                                  \
    auto r_ = (expr);                \
    if (!r_.ok()) return r_.error(); \
    dst = r_.value();                \
  }
  HS_TRY(m->embed, b.matrix(n.embed(), V, H));
  HS_TRY(m->final_norm, b.vec(n.final_norm(), H));
  if (m->tensors.find(n.lm_head()) != nullptr) {
    HS_TRY(m->lm_head, b.matrix(n.lm_head(), V, H));
    c.tie_word_embeddings = false;
  } else if (c.tie_explicit && !c.tie_word_embeddings) {
    return b.missing(n.lm_head());
  } else {
    m->lm_head = m->embed;
    c.tie_word_embeddings = true;
  }

  m->layers.resize(static_cast<size_t>(c.num_layers));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerWeights& w = m->layers[static_cast<size_t>(l)];
    HS_TRY(w.attn_norm, b.vec(n.layer(l, "input_layernorm.weight", "attn_norm.weight"), H));
    HS_TRY(w.q, b.matrix(n.layer(l, "self_attn.q_proj.weight", "attn_q.weight"), qd, H));
    HS_TRY(w.k, b.matrix(n.layer(l, "self_attn.k_proj.weight", "attn_k.weight"), kd, H));
    HS_TRY(w.v, b.matrix(n.layer(l, "self_attn.v_proj.weight", "attn_v.weight"), kd, H));
    HS_TRY(w.o, b.matrix(n.layer(l, "self_attn.o_proj.weight", "attn_output.weight"), H, qd));
    if (c.qkv_bias) {
      HS_TRY(w.q_bias, b.vec(n.layer(l, "self_attn.q_proj.bias", "attn_q.bias"), qd));
      HS_TRY(w.k_bias, b.vec(n.layer(l, "self_attn.k_proj.bias", "attn_k.bias"), kd));
      HS_TRY(w.v_bias, b.vec(n.layer(l, "self_attn.v_proj.bias", "attn_v.bias"), kd));
    }
    if (c.qk_norm) {
      HS_TRY(w.q_norm, b.vec(n.layer(l, "self_attn.q_norm.weight", "attn_q_norm.weight"), hd));
      HS_TRY(w.k_norm, b.vec(n.layer(l, "self_attn.k_norm.weight", "attn_k_norm.weight"), hd));
    }
    HS_TRY(w.ffn_norm, b.vec(n.layer(l, "post_attention_layernorm.weight", "ffn_norm.weight"), H));
    HS_TRY(w.gate, b.matrix(n.layer(l, "mlp.gate_proj.weight", "ffn_gate.weight"), I, H));
    HS_TRY(w.up, b.matrix(n.layer(l, "mlp.up_proj.weight", "ffn_up.weight"), I, H));
    HS_TRY(w.down, b.matrix(n.layer(l, "mlp.down_proj.weight", "ffn_down.weight"), H, I));
  }
#undef HS_TRY
  m->dtype = m->layers.empty() ? m->embed.dtype : m->layers[0].q.dtype;
  return Status();
}

}  // namespace hs
