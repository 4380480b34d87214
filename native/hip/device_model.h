// The model forward on a HIP device, written once against the HIP API and
// the launchers of kernels/launchers.h. The same source is compiled
//   - with hipcc into libhipserve_hip.so (the real GPU backend, behind the
//     C ABI of backend_api.cc), and
//   - as host C++ into the addon against the emulator
//     (native/src/hip_emu/device_model_emu.cc), which is how CI runs it.
//
// Device memory of one model:
//
//   weights    every matrix in its file dtype, norms/biases f32, uploaded once
//   scratch    activations for `reserve_tokens` tokens (grown if a step needs more)
//   KV pool    one allocation per DeviceKv, the CPU's layout:
//              [layer][k|v][block][kv_head][slot in block][head_dim] f32
//
// One stream per model; a step enqueues everything on it and synchronizes
// once, when the sampled ids come back. Every hip*/rocblas_* call goes
// through HS_HIP_CHECK: a failure is an error Result, never an abort.
#pragma once

#include <memory>
#include <vector>

#include "../../kernels/launchers.h"
#include "device_abi.h"
#include "gemm.h"
#include "hip_check.h"

// Returns the error of a Status-returning call from the enclosing function.
#define HS_DEV_TRY(expr)                     \
  do {                                       \
    ::hs::Status hs_dev_st_ = (expr);        \
    if (!hs_dev_st_.ok()) return hs_dev_st_.error(); \
  } while (0)

namespace hs {
namespace hipk {

// Matmuls over at most this many rows use the GEMV kernel (on a GPU it
// reads each weight row once per 4 activation rows: decode is bound by weight
// bandwidth); larger ones go to gemm_rowmajor (rocBLAS, or the tiled kernel
// for Q8_0 and where there is no rocBLAS).
// The emulator's costs are not a GPU's: GEMV's thread block of 256 fibers
// per output feature costs ~60x the tiled kernel there (a 128k-row lm_head
// takes over a minute), so the emulator's build sends every matmul to
// gemm_rowmajor. GEMV itself is checked against the CPU kernel in
// test/hip/kernels.test.ts.
#if HS_HIP_EMU
constexpr int64_t kGemvMaxRows = 0;
#else
constexpr int64_t kGemvMaxRows = 8;
#endif

// Decode attention: the KV range is split into chunks of about this many
// cached tokens, one thread block each (attn_decode.hip). The forward and
// the kernel timing (kernel_timing.cc) split alike.
constexpr int32_t kDecodeSplitTokens = 256;
inline int32_t decode_blocks_per_split(int32_t block_size) {
  return block_size >= kDecodeSplitTokens ? 1 : kDecodeSplitTokens / block_size;
}

// Host twin of weights.h's weight_row_bytes (that one is device code on hipcc).
inline int64_t weight_row_bytes_host(int32_t dtype, int64_t cols) {
  if (dtype == kF32) return cols * 4;
  if (dtype == kQ8_0) return cols / 32 * 34;
  return cols * 2;
}

// A device buffer that only grows; contents are not kept across a grow.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { (void)hipFree(ptr_); }  // nothing to report to in a destructor
  Status reserve(size_t bytes);
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

struct DeviceWeight {
  const void* data = nullptr;  // device memory, `rows` rows of the file layout
  int32_t dtype = kF32;
  int64_t rows = 0, cols = 0;
};

struct DeviceLayer {
  const float* attn_norm = nullptr;
  DeviceWeight q, k, v, o;
  const float *q_bias = nullptr, *k_bias = nullptr, *v_bias = nullptr;
  const float *q_norm = nullptr, *k_norm = nullptr;
  const float* ffn_norm = nullptr;
  DeviceWeight gate, up, down;
};

// One KV pool on the device (see the diagram above).
struct DeviceKv {
  DeviceKv() = default;
  DeviceKv(const DeviceKv&) = delete;
  DeviceKv& operator=(const DeviceKv&) = delete;
  ~DeviceKv() { (void)hipFree(data); }
  float* data = nullptr;
  int64_t num_layers = 0, num_kv_heads = 0, head_dim = 0, num_blocks = 0, block_size = 0;
  uint64_t bytes = 0;
  int64_t layer_elems() const { return num_blocks * num_kv_heads * block_size * head_dim; }
  float* k_layer(int64_t l) const { return data + 2 * l * layer_elems(); }
  float* v_layer(int64_t l) const { return data + (2 * l + 1) * layer_elems(); }
};

class DeviceModel {
 public:
  ~DeviceModel();
  DeviceModel(const DeviceModel&) = delete;
  DeviceModel& operator=(const DeviceModel&) = delete;

  // Uploads every weight of `d` (host pointers, read only during the call).
  static Result<std::unique_ptr<DeviceModel>> create(const hs_dev_model_desc& d);
  Result<std::unique_ptr<DeviceKv>> create_kv(int64_t num_blocks, int64_t block_size);
  // `s` was validated against the host model and `kv` (validate_step); one
  // forward at a time per model (the caller's busy flag).
  Status forward(DeviceKv& kv, const hs_dev_step& s, hs_dev_step_out* out);
  Result<hs_dev_memory> memory() const;

 private:
  DeviceModel() = default;
  Status upload(const void* host, size_t bytes, const void** dev);
  Status upload_weight(const hs_dev_weight& w, DeviceWeight* out);
  Status upload_vec(const float* host, int64_t n, const float** dev);
  Status reserve_scratch(int64_t tokens, int64_t sample_rows);
  Status matmul(const float* x, int64_t M, const DeviceWeight& w, float* y);
  Status layer(int64_t l, DeviceKv& kv, int64_t T);

  // Shapes (copied from the descriptor).
  int64_t V_ = 0, H_ = 0, L_ = 0, nh_ = 0, nkv_ = 0, hd_ = 0, I_ = 0;
  float eps_ = 0;
  RopeArgs rope_;

  bool half_gemm_ = false;  // HIPSERVE_HIP_HALF_GEMM=1: rocBLAS with 16-bit activations
  hipStream_t stream_ = nullptr;
  GemmContext gemm_;
  std::vector<void*> owned_;  // every weight allocation, freed in the destructor
  uint64_t weight_bytes_ = 0;
  DeviceWeight embed_, lm_head_;
  const float* final_norm_ = nullptr;
  std::vector<DeviceLayer> layers_;

  // Activations (f32) and the step's integer arrays; see reserve_scratch.
  DeviceBuffer x_, xn_, q_, k_, v_, attn_, gate_, up_, half_;
  DeviceBuffer last_, logits_, sample_scratch_, partials_;
  DeviceBuffer ints_, params_, flat_, outs_;
  int64_t reserved_tokens_ = 0, reserved_rows_ = 0;

  // Device views into ints_ for the current step (set by forward).
  const int32_t *d_tokens_ = nullptr, *d_positions_ = nullptr, *d_slots_ = nullptr;
  const int32_t *d_query_start_ = nullptr, *d_seq_lens_ = nullptr, *d_tables_ = nullptr;
  const int32_t* d_last_rows_ = nullptr;
  int32_t num_seqs_ = 0, max_blocks_ = 0, max_query_ = 0, max_seq_len_ = 0, block_size_ = 0;
  int32_t decode_split_ = 1;  // cache blocks per split of the decode kernel
  bool decode_only_ = false;
  std::vector<uint32_t> staging_, host_out_;  // host side of the step's two copies
  std::vector<float> host_hidden_;            // host side of the hidden rows' copies
  std::vector<int32_t> sample_seqs_;  // sequence index of each sampling row
  std::vector<int32_t> prompt_rows_;  // token index of each prompt-logprob row
};

}  // namespace hipk
}  // namespace hs
