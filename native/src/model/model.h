// A loaded model: its config, the mapped checkpoint, and per-layer views of
// the weights the forward pass reads. Matrices stay in their file dtype in
// the mmap; norms and biases are converted to f32 at load.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cpu/kernels.h"
#include "huge_region.h"
#include "model/config.h"
#include "model/tensors.h"
#include "result.h"

namespace hs {

struct LayerWeights {
  const float* attn_norm = nullptr;
  WeightView q, k, v, o;
  const float* q_bias = nullptr;  // qwen2
  const float* k_bias = nullptr;
  const float* v_bias = nullptr;
  const float* q_norm = nullptr;  // qwen3, [head_dim]
  const float* k_norm = nullptr;
  const float* ffn_norm = nullptr;
  WeightView gate, up, down;
};

struct ForwardScratch;  // model/forward.h
class DeviceBackend;    // hip_emu/device_backend.h

struct Model {
  Model();
  ~Model();
  uint64_t id = 0;  // ties a KV cache to the model it was made for
  std::string path;
  std::string backend = "cpu";
  int32_t threads = 0;  // as asked; 0 = the process-wide default pool
  // The pool the forward runs on: the default one, or one this model owns
  // when `threads` asked for another size (destroyed with the model, which
  // in-flight work keeps alive).
  cpu::ThreadPool* pool = nullptr;
  bool owns_pool = false;
  ModelConfig cfg;
  DType dtype = DType::F32;  // of the layer matrices
  TensorSet tensors;         // keeps the mappings alive
  std::vector<std::vector<float>> owned;  // f32 copies of small vectors (and misaligned matrices)
  WeightView embed;
  WeightView lm_head;  // == embed when tied
  // Matrices repacked for the CPU kernels that have a packed layout
  // (cpu::pack_weights), all in one region (the views' `packed` point into
  // it); empty when nothing was packed.
  HugeRegion packed_mem;
  size_t packed_bytes = 0;  // of matrices in it
  const float* final_norm = nullptr;
  std::vector<LayerWeights> layers;

  // One forward at a time: a second concurrent call gets HIPSERVE_E_BUSY.
  std::atomic<bool> busy{false};
  // Moves while a forward runs: once per layer on the CPU (and per chunk of
  // prompt-logprob rows), once per device step. forwardProgress() reads it
  // from the JS thread, so that /health can tell a long step (a big prefill
  // on a slow CPU) from a wedged one. Its value means nothing; only a change.
  std::atomic<uint64_t> progress{0};
  // ...moved by the one forward that holds `busy`: a plain store, no locked
  // add between the layers of a decode step.
  void note_progress() { progress.store(progress.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  std::unique_ptr<ForwardScratch> scratch;
  // Set for the device backends (hip, hip-emu): the weights on the device and
  // the device forward; the host views above stay the source of truth.
  std::shared_ptr<DeviceBackend> device;

  // Element type of this model's KV caches: F16 or F32 on the CPU (loadModel's
  // kvCacheDtype), always F32 with a device (the HIP kernels read f32).
  DType kv_dtype = DType::F32;

  uint64_t kv_bytes_per_block(int64_t block_size) const {
    return 2ull * static_cast<uint64_t>(cfg.num_layers) * static_cast<uint64_t>(cfg.num_kv_heads) *
           static_cast<uint64_t>(block_size) * static_cast<uint64_t>(cfg.head_dim) * cpu::kv_elem_bytes(kv_dtype);
  }
};

// `path`: a Hugging Face directory or a .gguf file.
// `hold`: FileHold::Weights when the CPU computes from these weights (see mapped_file.h).
Result<std::shared_ptr<Model>> load_model(const std::string& path, FileHold hold = FileHold::Map);
// 0 = the default pool; another count gets a pool of its own.
void set_model_threads(Model* m, int32_t threads);
// The matrices a decode step multiplies by, in the order it reads them: each
// layer's q, k, v, o, gate, up and down, then lm_head (what the CPU packs,
// and what readWeights reads).
std::vector<WeightView*> step_matrices(Model& m);
// The GEMV tasks of one layer in a batch-1 CPU decode step, as run_forward
// issues them: q|k|v in one task (matmul_multi), o, gate|up in one
// (matmul_silu_mul), down; each entry the number of consecutive
// step_matrices it reads. run_forward's calls and this list change together.
inline constexpr int32_t kLayerGemvTasks[] = {3, 1, 2, 1};
// How step_matrices falls into those tasks, every layer's, then lm_head's.
std::vector<int32_t> step_gemv_tasks(const Model& m);

}  // namespace hs
