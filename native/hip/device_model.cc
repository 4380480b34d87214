// DeviceModel: weight upload, scratch, KV pool, memory report (the step is
// in device_forward.cc). See device_model.h for the memory layout.
#include "device_model.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace hs {
namespace hipk {

Status DeviceBuffer::reserve(size_t bytes) {
  if (bytes <= bytes_) return Status();
  HS_HIP_CHECK(hipFree(ptr_));
  ptr_ = nullptr;
  bytes_ = 0;
  HS_HIP_CHECK(hipMalloc(&ptr_, bytes));
  bytes_ = bytes;
  return Status();
}

DeviceModel::~DeviceModel() {
  // Destructors have no one to report to: failures here are dropped. The
  // stream is synchronized first so no queued kernel reads freed memory.
  if (stream_ != nullptr) (void)hipStreamSynchronize(stream_);
#if HS_HIP_HAVE_BLAS
  if (gemm_.blas != nullptr) (void)rocblas_destroy_handle(gemm_.blas);
#endif
  for (void* p : owned_) (void)hipFree(p);
  if (stream_ != nullptr) (void)hipStreamDestroy(stream_);
}

Status DeviceModel::upload(const void* host, size_t bytes, const void** dev) {
  void* p = nullptr;
  HS_HIP_CHECK(hipMalloc(&p, bytes));
  owned_.push_back(p);  // recorded before the copy so a failed copy still frees it
  weight_bytes_ += bytes;
  // Invariant: `host` holds `bytes` readable bytes (the host model's mmap or
  // its f32 copies, alive for this call).
  HS_HIP_CHECK(hipMemcpyAsync(p, host, bytes, hipMemcpyHostToDevice, stream_));
  *dev = p;
  return Status();
}

Status DeviceModel::upload_weight(const hs_dev_weight& w, DeviceWeight* out) {
  if (w.data == nullptr || w.rows < 1 || w.cols < 1 || w.dtype < kF32 || w.dtype > kQ8_0 ||
      w.nbytes < static_cast<uint64_t>(w.rows) * static_cast<uint64_t>(weight_row_bytes_host(w.dtype, w.cols))) {
    return make_err(Code::INTERNAL, "a weight descriptor is empty or shorter than its shape", "DeviceModel::create");
  }
  out->dtype = w.dtype;
  out->rows = w.rows;
  out->cols = w.cols;
  return upload(w.data, static_cast<size_t>(w.rows) * static_cast<size_t>(weight_row_bytes_host(w.dtype, w.cols)),
                &out->data);
}

Status DeviceModel::upload_vec(const float* host, int64_t n, const float** dev) {
  if (host == nullptr) {
    *dev = nullptr;
    return Status();
  }
  const void* p = nullptr;
  Status st = upload(host, static_cast<size_t>(n) * sizeof(float), &p);
  *dev = static_cast<const float*>(p);
  return st;
}

Result<std::unique_ptr<DeviceModel>> DeviceModel::create(const hs_dev_model_desc& d) {
  if (d.layers == nullptr || d.final_norm == nullptr || d.num_layers < 1 || d.head_dim > 256 || d.head_dim % 2 != 0) {
    return make_err(Code::UNSUPPORTED, "the HIP forward needs an even head_dim <= 256 and every layer", "DeviceModel::create");
  }
  std::unique_ptr<DeviceModel> m(new DeviceModel());
  m->V_ = d.vocab, m->H_ = d.hidden, m->L_ = d.num_layers, m->nh_ = d.num_heads;
  m->nkv_ = d.num_kv_heads, m->hd_ = d.head_dim, m->I_ = d.intermediate, m->eps_ = d.rms_eps;
  m->rope_.theta = d.rope_theta;
  m->rope_.style = d.rope_style;
  m->rope_.rotary_dim = d.rope_rotary_dim;
  m->rope_.llama3_factor = d.llama3_factor;
  m->rope_.llama3_low = d.llama3_low;
  m->rope_.llama3_high = d.llama3_high;
  m->rope_.llama3_original_max_pos = d.llama3_original_max_pos;
  const char* half = std::getenv("HIPSERVE_HIP_HALF_GEMM");
  m->half_gemm_ = half != nullptr && std::string(half) == "1";
  HS_HIP_CHECK(hipStreamCreate(&m->stream_));
  m->gemm_.stream = m->stream_;
#if HS_HIP_HAVE_BLAS
  HS_HIP_CHECK(rocblas_create_handle(&m->gemm_.blas));
  HS_HIP_CHECK(rocblas_set_stream(m->gemm_.blas, m->stream_));
#endif
  Status st = m->upload_weight(d.embed, &m->embed_);
  if (!st.ok()) return st.error();
  if (d.lm_head.data == d.embed.data) {
    m->lm_head_ = m->embed_;  // tied: one copy on the device
  } else if (!(st = m->upload_weight(d.lm_head, &m->lm_head_)).ok()) {
    return st.error();
  }
  if (!(st = m->upload_vec(d.final_norm, d.hidden, &m->final_norm_)).ok()) return st.error();
  m->layers_.resize(static_cast<size_t>(d.num_layers));
  const int64_t qd = d.num_heads * d.head_dim, kd = d.num_kv_heads * d.head_dim;
  for (int64_t l = 0; l < d.num_layers; ++l) {
    // Invariant: d.layers holds num_layers entries (the descriptor's contract).
    const hs_dev_layer& h = d.layers[l];
    DeviceLayer& o = m->layers_[static_cast<size_t>(l)];
    for (const auto& [src, dst] : {std::pair<const hs_dev_weight*, DeviceWeight*>{&h.q, &o.q}, {&h.k, &o.k},
                                   {&h.v, &o.v}, {&h.o, &o.o}, {&h.gate, &o.gate}, {&h.up, &o.up}, {&h.down, &o.down}}) {
      if (!(st = m->upload_weight(*src, dst)).ok()) return st.error();
    }
    const std::pair<const float*, std::pair<int64_t, const float**>> vecs[] = {
        {h.attn_norm, {d.hidden, &o.attn_norm}}, {h.ffn_norm, {d.hidden, &o.ffn_norm}},
        {h.q_bias, {qd, &o.q_bias}},             {h.k_bias, {kd, &o.k_bias}},
        {h.v_bias, {kd, &o.v_bias}},             {h.q_norm, {d.head_dim, &o.q_norm}},
        {h.k_norm, {d.head_dim, &o.k_norm}}};
    for (const auto& [src, dst] : vecs) {
      if (!(st = m->upload_vec(src, dst.first, dst.second)).ok()) return st.error();
    }
  }
  if (!(st = m->reserve_scratch(std::max<int64_t>(1, d.reserve_tokens), 1)).ok()) return st.error();
  // The host pointers may go away when create returns: wait for the copies.
  HS_HIP_CHECK(hipStreamSynchronize(m->stream_));
  return m;
}

// Sizes every activation buffer for `tokens` tokens and `rows` sampling rows
// per lm_head chunk; buffers only grow.
Status DeviceModel::reserve_scratch(int64_t tokens, int64_t rows) {
  if (tokens <= reserved_tokens_ && rows <= reserved_rows_) return Status();
  tokens = std::max(tokens, reserved_tokens_);
  rows = std::max(rows, reserved_rows_);
  const size_t T = static_cast<size_t>(tokens), f = sizeof(float);
  const size_t H = static_cast<size_t>(H_), I = static_cast<size_t>(I_);
  const size_t qd = static_cast<size_t>(nh_ * hd_), kd = static_cast<size_t>(nkv_ * hd_);
  Status st;
  if (!(st = x_.reserve(T * H * f)).ok()) return st;
  if (!(st = xn_.reserve(T * H * f)).ok()) return st;
  if (!(st = q_.reserve(T * qd * f)).ok()) return st;
  if (!(st = k_.reserve(T * kd * f)).ok()) return st;
  if (!(st = v_.reserve(T * kd * f)).ok()) return st;
  if (!(st = attn_.reserve(T * qd * f)).ok()) return st;
  if (!(st = gate_.reserve(T * I * f)).ok()) return st;
  if (!(st = up_.reserve(T * I * f)).ok()) return st;
  // 16-bit activations for rocBLAS: the widest matmul input is max(H, qd, I).
  const size_t widest = std::max({H, qd, I});
  if (!(st = half_.reserve(T * widest * 2)).ok()) return st;
  gemm_.half_x = half_.as<uint16_t>();
  gemm_.half_x_elems = half_.bytes() / 2;
  const size_t R = static_cast<size_t>(rows), V = static_cast<size_t>(V_);
  if (!(st = last_.reserve(R * H * f)).ok()) return st;
  if (!(st = logits_.reserve(R * V * f)).ok()) return st;
  if (!(st = sample_scratch_.reserve(R * 3 * V * f)).ok()) return st;
  reserved_tokens_ = tokens;
  reserved_rows_ = rows;
  return Status();
}

Result<std::unique_ptr<DeviceKv>> DeviceModel::create_kv(int64_t num_blocks, int64_t block_size) {
  auto kv = std::make_unique<DeviceKv>();
  kv->num_layers = L_, kv->num_kv_heads = nkv_, kv->head_dim = hd_;
  kv->num_blocks = num_blocks, kv->block_size = block_size;
  kv->bytes = 2ull * static_cast<uint64_t>(L_) * static_cast<uint64_t>(kv->layer_elems()) * sizeof(float);
  void* p = nullptr;
  HS_HIP_CHECK(hipMalloc(&p, static_cast<size_t>(kv->bytes)));
  kv->data = static_cast<float*>(p);
  // Zeroed like the CPU's calloc'd pool, so that no slot a kernel might read
  // before it is written (the null block, a tile's tail) holds NaN bits.
  HS_HIP_CHECK(hipMemsetAsync(p, 0, static_cast<size_t>(kv->bytes), stream_));
  HS_HIP_CHECK(hipStreamSynchronize(stream_));
  return kv;
}

Result<hs_dev_memory> DeviceModel::memory() const {
  hs_dev_memory m{};
  size_t free_b = 0, total_b = 0;
  HS_HIP_CHECK(hipMemGetInfo(&free_b, &total_b));
  m.total = total_b;
  m.free = free_b;
  m.weights = weight_bytes_;
  for (const DeviceBuffer* b : {&x_, &xn_, &q_, &k_, &v_, &attn_, &gate_, &up_, &half_, &last_, &logits_,
                                &sample_scratch_, &partials_, &ints_, &params_, &flat_, &outs_}) {
    m.scratch += b->bytes();
  }
  return m;
}

Status DeviceModel::matmul(const float* x, int64_t M, const DeviceWeight& w, float* y) {
  // A few rows (decode): the GEMV kernel reads each weight once for all rows
  // and keeps activations in f32. More rows: rocBLAS (or the tiled kernel)
  // through gemm_rowmajor, the one row-major <-> column-major place.
  if (M <= kGemvMaxRows) {
    HS_HIP_CHECK(launch_gemv(stream_, w.dtype, w.data, w.rows, w.cols, x, M, y));
    return Status();
  }
  // rocBLAS multiplies A and B of one type: 16-bit weights would take 16-bit
  // activations, which moves logits by ~1e-2 nats and flips the greedy
  // choice of the CPU reference (f32 activations) on near ties. Unless asked
  // for (HIPSERVE_HIP_HALF_GEMM=1), 16-bit weights take the tiled kernel,
  // which reads them as they are and keeps the activations in f32.
  if (w.dtype == kF16 || w.dtype == kBF16) {
    if (!half_gemm_) {
      HS_HIP_CHECK(launch_gemm_tiled(stream_, x, M, w.cols, w.dtype, w.data, w.rows, y));
      return Status();
    }
  }
  return gemm_rowmajor(gemm_, x, M, w.cols, w.dtype, w.data, w.rows, y);
}

}  // namespace hipk
}  // namespace hs
