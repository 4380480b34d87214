// See device_backend.h. The emulator's DeviceBackend calls the device
// forward compiled into the addon (device_model_emu.cc) directly.
#include "hip_emu/device_backend.h"

#include <chrono>
#include <limits>

#include "../../hip/device_model.h"
#include "registry.h"

namespace hs {

namespace {

hs_dev_weight weight(const WeightView& w) {
  hs_dev_weight d{};
  d.data = w.data;
  d.dtype = static_cast<int32_t>(w.dtype);
  d.rows = w.rows;
  d.cols = w.cols;
  // Invariant (WeightView): `data` holds rows * row bytes of its dtype.
  d.nbytes = static_cast<uint64_t>(w.rows) * static_cast<uint64_t>(hipk::weight_row_bytes_host(d.dtype, w.cols));
  return d;
}

class EmuBackend : public DeviceBackend {
 public:
  explicit EmuBackend(std::unique_ptr<hipk::DeviceModel> m) : model_(std::move(m)) {}
  Result<std::shared_ptr<void>> create_kv(int64_t num_blocks, int64_t block_size) override {
    auto kv = model_->create_kv(num_blocks, block_size);
    if (!kv.ok()) return kv.error();
    return std::shared_ptr<void>(std::shared_ptr<hipk::DeviceKv>(std::move(kv.value())));
  }
  Status forward(void* kv, const hs_dev_step& s, hs_dev_step_out* out) override {
    // Invariant: `kv` came from this backend's create_kv (run_device_forward
    // checks the cache's model id first).
    return model_->forward(*static_cast<hipk::DeviceKv*>(kv), s, out);
  }
  Result<hs_dev_memory> memory() override { return model_->memory(); }

 private:
  std::unique_ptr<hipk::DeviceModel> model_;
};

}  // namespace

bool is_device_backend(const std::string& backend) { return backend == "hip" || backend == "hip-emu"; }

void describe_model(const Model& m, int64_t reserve_tokens, DeviceModelDesc* out) {
  const ModelConfig& c = m.cfg;
  hs_dev_model_desc& d = out->desc;
  d.vocab = c.vocab_size, d.hidden = c.hidden_size, d.num_layers = c.num_layers;
  d.num_heads = c.num_heads, d.num_kv_heads = c.num_kv_heads, d.head_dim = c.head_dim;
  d.intermediate = c.intermediate_size, d.rms_eps = c.rms_norm_eps;
  d.rope_theta = c.rope.theta;
  d.rope_style = c.rope.style == cpu::RopeStyle::Interleaved ? 1 : 0;
  d.rope_rotary_dim = c.rope.rotary_dim;
  d.llama3_factor = c.rope.llama3_factor;
  d.llama3_low = c.rope.llama3_low_freq_factor;
  d.llama3_high = c.rope.llama3_high_freq_factor;
  d.llama3_original_max_pos = c.rope.llama3_original_max_pos;
  d.embed = weight(m.embed);
  d.lm_head = weight(m.lm_head);
  d.final_norm = m.final_norm;
  d.reserve_tokens = reserve_tokens;
  out->layers.clear();
  for (const LayerWeights& w : m.layers) {
    hs_dev_layer l{};
    l.attn_norm = w.attn_norm;
    l.q = weight(w.q), l.k = weight(w.k), l.v = weight(w.v), l.o = weight(w.o);
    l.q_bias = w.q_bias, l.k_bias = w.k_bias, l.v_bias = w.v_bias;
    l.q_norm = w.q_norm, l.k_norm = w.k_norm;
    l.ffn_norm = w.ffn_norm;
    l.gate = weight(w.gate), l.up = weight(w.up), l.down = weight(w.down);
    out->layers.push_back(l);
  }
  d.layers = out->layers.data();
}

Result<std::shared_ptr<DeviceBackend>> create_device_backend(const Model& m, int64_t reserve_tokens) {
  DeviceModelDesc desc;
  describe_model(m, reserve_tokens, &desc);
  if (m.backend == "hip") return create_hip_library_backend(desc.desc);
  if (m.backend != "hip-emu") {
    return make_err(Code::INTERNAL, "backend '" + m.backend + "' has no device forward", "loadModel");
  }
  auto dm = hipk::DeviceModel::create(desc.desc);
  if (!dm.ok()) return dm.error();
  return std::shared_ptr<DeviceBackend>(std::make_shared<EmuBackend>(std::move(dm.value())));
}

Result<std::shared_ptr<KvCache>> create_device_kv_cache(const Model& m, int64_t num_blocks, int64_t block_size) {
  auto d = describe_kv_cache(m, num_blocks, block_size);
  if (!d.ok()) return d.error();
  auto pool = m.device->create_kv(num_blocks, block_size);
  if (!pool.ok()) return pool.error();
  std::shared_ptr<KvCache> kv = std::move(d.value());
  kv->device = std::move(pool.value());
  return kv;
}

Status run_device_forward(Model& m, const KvCache& kv, const StepInput& s, StepOutput* out) {
  Status st = validate_step(m, kv, s);
  if (!st.ok()) return st;
  if (!kv.device || !m.device) return make_err(Code::INVALID_ARGUMENT, "kvCache: not a device pool of this model", "forward");
  m.note_progress();  // per step: the device runs the layers (model.h)
  const auto t0 = std::chrono::steady_clock::now();
  const size_t S = s.query_start.size() - 1;
  out->top_n = 0;
  for (size_t i = 0; i < S; ++i) {
    if (s.do_sample[i] != 0 && s.num_logprobs[i] > out->top_n) out->top_n = s.num_logprobs[i];
  }
  out->sampled.assign(S, -1);
  out->logprob.assign(S, std::numeric_limits<float>::quiet_NaN());
  out->top_ids.assign(S * static_cast<size_t>(out->top_n), -1);
  out->top_logprobs.assign(S * static_cast<size_t>(out->top_n), -std::numeric_limits<float>::infinity());
  hs_dev_step d{};
  d.num_tokens = static_cast<int32_t>(s.token_ids.size());
  d.num_seqs = static_cast<int32_t>(S);
  d.max_blocks = s.max_blocks;
  // Invariant: validate_step checked every length and index these point at.
  d.token_ids = s.token_ids.data(), d.positions = s.positions.data();
  d.query_start = s.query_start.data(), d.seq_lens = s.seq_lens.data();
  d.block_tables = s.block_tables.data(), d.slot_mapping = s.slot_mapping.data();
  d.do_sample = s.do_sample.data();
  d.temperature = s.temperature.data(), d.top_p = s.top_p.data(), d.min_p = s.min_p.data();
  d.presence = s.presence_penalty.data(), d.frequency = s.frequency_penalty.data();
  d.repetition = s.repetition_penalty.data();
  d.top_k = s.top_k.data(), d.sample_index = s.sample_index.data(), d.num_logprobs = s.num_logprobs.data();
  d.seeds = s.seeds.data();
  d.output_tokens = s.output_tokens.data(), d.output_start = s.output_start.data();
  d.prompt_tokens = s.prompt_tokens.data(), d.prompt_start = s.prompt_start.data();
  d.banned = s.banned_tokens.data(), d.banned_start = s.banned_start.data();
  d.bias = s.bias_tokens.data(), d.bias_start = s.bias_start.data(), d.bias_values = s.bias_values.data();
  const bool prompt_lps = !prepare_prompt_logprobs(s, out).rows.empty();
  d.prompt_targets = prompt_lps ? s.prompt_targets.data() : nullptr;
  d.num_prompt_logprobs = prompt_lps ? s.num_prompt_logprobs.data() : nullptr;
  const std::vector<int32_t> hrows = hidden_rows(s);
  d.hidden_rows = hrows.empty() ? nullptr : hrows.data();
  d.num_hidden_rows = static_cast<int32_t>(hrows.size());
  out->hidden.assign(hrows.size() * static_cast<size_t>(m.cfg.hidden_size), 0.0f);
  hs_dev_step_out o{};
  o.top_n = out->top_n;
  o.sampled = out->sampled.data();
  o.logprob = out->logprob.data();
  o.top_ids = out->top_ids.data();
  o.top_logprobs = out->top_logprobs.data();
  o.prompt_top_n = out->prompt_top_n;
  o.prompt_logprob = prompt_lps ? out->prompt_logprob.data() : nullptr;
  o.prompt_rank = prompt_lps ? out->prompt_rank.data() : nullptr;
  o.prompt_top_ids = prompt_lps ? out->prompt_top_ids.data() : nullptr;
  o.prompt_top_logprobs = prompt_lps ? out->prompt_top_logprobs.data() : nullptr;
  o.hidden = hrows.empty() ? nullptr : out->hidden.data();
  st = m.device->forward(kv.device.get(), d, &o);
  // Sampling runs on the device inside the same stream: one total.
  out->forward_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  out->sample_ms = 0;
  return st;
}

}  // namespace hs
