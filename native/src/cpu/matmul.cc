// matmul driver: quantizes activations for Q8_0, splits the output features
// over the pool and hands ranges to the ISA kernel chosen at run time.
#include <algorithm>
#include <vector>

#include "cpu/internal.h"

namespace hs {
namespace cpu {
namespace {

// Output features per work item: a multiple of every ISA kernel's row group.
constexpr int64_t kRowsPerItem = 16;

float* thread_scratch() {
  alignas(64) static thread_local float buf[kMatmulScratchFloats];
  return buf;
}

struct QuantBuffers {
  std::vector<int8_t> qs;
  std::vector<float> d;
};

}  // namespace

void matmul(ThreadPool* pool, const float* x, int64_t M, const WeightView& w, float* y) {
  const IsaKernels& k = isa();
  MatmulJob job;
  job.x = x;
  job.M = M;
  job.K = w.cols;
  job.N = w.rows;
  job.w = static_cast<const uint8_t*>(w.data);
  job.row_bytes = dtype_row_bytes(w.dtype, w.cols);
  job.y = y;
  if (M <= 0 || job.N <= 0) return;
  if (job.K <= 0) {
    std::fill(y, y + M * job.N, 0.0f);
    return;
  }
  if (w.dtype == DType::Q8_0) {
    // Owned by the calling thread, grows to the largest call and stays.
    static thread_local QuantBuffers qb;
    const int64_t nb = job.K / kQ8Block;
    if (qb.qs.size() < static_cast<size_t>(M * job.K)) qb.qs.resize(M * job.K);
    if (qb.d.size() < static_cast<size_t>(M * nb)) qb.d.resize(M * nb);
    int8_t* qs = qb.qs.data();
    float* d = qb.d.data();
    auto quant = [&](int64_t b, int64_t e, int) {
      for (int64_t m = b; m < e; ++m) k.quantize_row_q8(x + m * job.K, job.K, qs + m * job.K, d + m * nb);
    };
    if (M >= 16) {
      parallel_for(pool, M, quant);
    } else {
      quant(0, M, 0);
    }
    job.xq.qs = qs;
    job.xq.d = d;
  }
  const MatmulRangeFn fn = k.matmul[static_cast<int>(w.dtype)];
  const int64_t items = (job.N + kRowsPerItem - 1) / kRowsPerItem;
  parallel_for(pool, items, [&](int64_t b, int64_t e, int) {
    fn(job, b * kRowsPerItem, std::min(job.N, e * kRowsPerItem), thread_scratch());
  });
}

}  // namespace cpu
}  // namespace hs
