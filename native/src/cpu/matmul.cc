// matmul driver: quantizes activations for Q8_0 (once per x), splits the
// output features of one or several weights over the pool in one hand-off and
// gives ranges to the ISA kernel chosen at run time.
#include <algorithm>
#include <cstring>
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
  std::vector<int32_t> s;
};

// Quantizes x once for every Q8_0 weight of a call (the buffers belong to
// the calling thread, grow to the largest call and stay). `sums_too`: also the
// blocks' 128 * sum(int8), which only the packed kernels read.
QuantX quantize_activations(ThreadPool* pool, const IsaKernels& k, const float* x, int64_t M, int64_t K, bool sums_too) {
  static thread_local QuantBuffers qb;
  const int64_t nb = K / kQ8Block;
  if (qb.qs.size() < static_cast<size_t>(M * K)) qb.qs.resize(M * K);
  if (qb.d.size() < static_cast<size_t>(M * nb)) qb.d.resize(M * nb);
  if (qb.s.size() < static_cast<size_t>(M * nb)) qb.s.resize(M * nb);
  int8_t* qs = qb.qs.data();
  float* d = qb.d.data();
  int32_t* sums = qb.s.data();
  auto quant = [&](int64_t b, int64_t e, int) {
    for (int64_t m = b; m < e; ++m) {
      k.quantize_row_q8(x + m * K, K, qs + m * K, d + m * nb);
      for (int64_t blk = 0; sums_too && blk < nb; ++blk) {
        const int8_t* q = qs + m * K + blk * kQ8Block;
        int32_t t = 0;
        for (int64_t i = 0; i < kQ8Block; ++i) t += q[i];
        sums[m * nb + blk] = 128 * t;
      }
    }
  };
  if (M >= 16) {
    parallel_for(pool, M, quant);
  } else {
    quant(0, M, 0);
  }
  QuantX q;
  q.qs = qs;
  q.d = d;
  q.s = sums_too ? sums : nullptr;
  return q;
}

MatmulJob make_job(const float* x, int64_t M, const WeightView& w, float* y) {
  MatmulJob job;
  job.x = x;
  job.M = M;
  job.K = w.cols;
  job.N = w.rows;
  job.w = static_cast<const uint8_t*>(w.data);
  job.row_bytes = dtype_row_bytes(w.dtype, w.cols);
  job.y = y;
  job.decode_prefetch = decode_prefetch();
  return job;
}

// Several products of one x in ONE parallel_for: the work items of all the
// weights in a row, so a decode step pays one hand-off to the workers per
// group (q|k|v, gate|up) instead of one per weight. Each output row is
// computed by the same kernel call as in a lone matmul, so results do not
// change. `pair_silu`: the two weights are gate and up of equal shape; an
// item computes both over the same output features and then
// ys[0] = silu(gate) * up on them.
// One contiguous range of items per thread (kStreamChunks): items cost the
// same, and with four interleaved chunks per thread each chunk boundary
// restarted the weight stream; decode measured 7% (f16) and 19% (Q8_0)
// faster at batch 1 with one range per thread on a Zen 5 VM (bench/README.md).
void matmul_group(ThreadPool* pool, const float* x, int64_t M, const WeightView* const* ws, float* const* ys,
                  int count, bool pair_silu) {
  const IsaKernels& k = isa();
  constexpr int kMax = 4;
  MatmulJob jobs[kMax];
  MatmulRangeFn fns[kMax] = {};
  int64_t first_item[kMax + 1] = {0};
  QuantX xq;
  bool quantized = false;
  bool packed_q8 = false;
  for (int i = 0; i < count; ++i) packed_q8 = packed_q8 || (ws[i]->dtype == DType::Q8_0 && ws[i]->packed != nullptr);
  for (int i = 0; i < count; ++i) {
    jobs[i] = make_job(x, M, *ws[i], ys[i]);
    if (ws[i]->dtype == DType::Q8_0) {
      if (!quantized) xq = quantize_activations(pool, k, x, M, ws[i]->cols, packed_q8);
      quantized = true;
      jobs[i].xq = xq;
    }
    // A packed weight always takes a packed kernel (its row bytes may be
    // gone, kernels.h), the level's or the portable one; every M takes the
    // same kernel for a given weight, so results stay batch-invariant.
    fns[i] = k.matmul[static_cast<int>(ws[i]->dtype)];
    if (ws[i]->packed != nullptr) {
      const int t = static_cast<int>(ws[i]->dtype);
      // Invariant: packed is only set for dtypes with a portable packed kernel (packable).
      fns[i] = k.matmul_packed[t] != nullptr ? k.matmul_packed[t] : kPortablePacked[t];
      jobs[i].w = static_cast<const uint8_t*>(ws[i]->packed);
    }
    const int64_t items = (jobs[i].N + kRowsPerItem - 1) / kRowsPerItem;
    first_item[i + 1] = first_item[i] + (pair_silu && i == 1 ? 0 : items);
  }
  parallel_for(pool, first_item[count], [&](int64_t b, int64_t e, int) {
    for (int i = 0; i < count; ++i) {
      const int64_t lo = std::max(b, first_item[i]), hi = std::min(e, first_item[i + 1]);
      if (lo >= hi) continue;
      const MatmulJob& j = jobs[i];
      const int64_t n0 = (lo - first_item[i]) * kRowsPerItem;
      const int64_t n1 = std::min(j.N, (hi - first_item[i]) * kRowsPerItem);
      fns[i](j, n0, n1, thread_scratch());
      if (pair_silu) {
        fns[1](jobs[1], n0, n1, thread_scratch());
        for (int64_t m = 0; m < M; ++m) {
          // Invariant: both products are [M][N] with the same N (checked by the caller).
          float* g = ys[0] + m * j.N + n0;
          k.silu_mul(g, ys[1] + m * j.N + n0, g, n1 - n0);
        }
      }
    }
  }, kStreamChunks);
}

}  // namespace

bool packed_kernel(DType t) { return isa().matmul_packed[static_cast<int>(t)] != nullptr; }

bool packable(const WeightView& w) {
  if (w.rows <= 0 || w.rows % kPackRows != 0 || w.cols <= 0) return false;
  if (w.dtype == DType::Q8_0) return w.cols % kQ8Block == 0;
  return w.dtype == DType::F16 || w.dtype == DType::BF16;
}

namespace {

void pack_q8x16(const WeightView& w, uint8_t* out, int64_t g0, int64_t g1) {
  const int64_t nb = w.cols / kQ8Block;
  const auto* blocks = static_cast<const BlockQ8_0*>(w.data);
  for (int64_t g = g0; g < g1; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      // Invariant: out holds w.rows * nb * 34 bytes = (rows / 16) * nb * 544,
      // and this writes bytes [(g * nb + b) * 544, +544) of it.
      uint8_t* o = out + (g * nb + b) * kQ8x16BlockBytes;
      for (int64_t r = 0; r < kPackRows; ++r) {
        const BlockQ8_0& blk = blocks[(g * kPackRows + r) * nb + b];
        std::memcpy(o + 2 * r, &blk.d, sizeof(uint16_t));
        for (int64_t c = 0; c < kQ8Block / 4; ++c) {
          uint32_t q;  // 4 int8 -> 4 uint8 + 128
          std::memcpy(&q, blk.qs + 4 * c, sizeof(q));
          q ^= 0x80808080u;
          std::memcpy(o + 32 + 64 * c + 4 * r, &q, sizeof(q));
        }
      }
    }
  }
}

// 16-bit values: group g, column k at (g * K + k) * 16 elements, row order.
void pack_x16_u16(const WeightView& w, uint8_t* out, int64_t g0, int64_t g1) {
  const int64_t K = w.cols;
  const auto* src = static_cast<const uint8_t*>(w.data);
  for (int64_t g = g0; g < g1; ++g) {
    for (int64_t r = 0; r < kPackRows; ++r) {
      const uint8_t* row = src + (g * kPackRows + r) * K * 2;
      // Invariant: out holds w.rows * K * 2 bytes; element (g, k, r) is at
      // ((g * K + k) * 16 + r) * 2 < rows * K * 2.
      uint8_t* o = out + (g * K * kPackRows + r) * 2;
      for (int64_t k = 0; k < K; ++k) std::memcpy(o + k * kPackRows * 2, row + k * 2, 2);
    }
  }
}

}  // namespace

void pack_weights(const WeightView& w, uint8_t* out, int64_t g0, int64_t g1) {
  if (g1 < 0 || g1 > w.rows / kPackRows) g1 = w.rows / kPackRows;
  g0 = std::max<int64_t>(0, g0);
  if (w.dtype == DType::Q8_0) {
    pack_q8x16(w, out, g0, g1);
  } else {
    pack_x16_u16(w, out, g0, g1);
  }
}

void matmul(ThreadPool* pool, const float* x, int64_t M, const WeightView& w, float* y) {
  const WeightView* ws[1] = {&w};
  float* ys[1] = {y};
  matmul_multi(pool, x, M, ws, ys, 1);
}

void matmul_multi(ThreadPool* pool, const float* x, int64_t M, const WeightView* const* ws, float* const* ys,
                  int count) {
  if (M <= 0 || count <= 0) return;
  for (int i = 0; i < count; ++i) {
    if (ws[i]->cols <= 0) std::fill(ys[i], ys[i] + M * ws[i]->rows, 0.0f);
  }
  // One group: up to 4 non-empty weights over the same x (same cols).
  const WeightView* live[4];
  float* out[4];
  int n = 0;
  for (int i = 0; i < count; ++i) {
    if (ws[i]->rows <= 0 || ws[i]->cols <= 0) continue;
    if (n == 4 || (n > 0 && ws[i]->cols != live[0]->cols)) {
      matmul_group(pool, x, M, live, out, n, false);
      n = 0;
    }
    live[n] = ws[i];
    out[n++] = ys[i];
  }
  if (n > 0) matmul_group(pool, x, M, live, out, n, false);
}

void matmul_silu_mul(ThreadPool* pool, const float* x, int64_t M, const WeightView& gate, const WeightView& up,
                     float* gate_out, float* up_out) {
  if (M <= 0 || gate.rows <= 0) return;
  if (gate.rows != up.rows || gate.cols != up.cols || gate.cols <= 0) {
    // Not a pair the fused path can take: the plain sequence.
    matmul(pool, x, M, gate, gate_out);
    matmul(pool, x, M, up, up_out);
    silu_mul(gate_out, up_out, gate_out, M * gate.rows);
    return;
  }
  const WeightView* ws[2] = {&gate, &up};
  float* ys[2] = {gate_out, up_out};
  if (M == 1) {
    // Decode: gate's items then up's in one task, as q|k|v, so each thread
    // streams one weight's contiguous range (with two threads, one gate and
    // the other up) instead of switching between gate and up rows at every
    // claim; then SiLU·mul over the row on the caller (N values: ~1 us).
    // Batch-1 decode on the Zen 4 VM, alternating in one process: f16 +0.6%
    // at ~33 GB/s and +3.9% in the 45-60 GB/s spells, Q8_0 +1.7% / +2.8%.
    // The same products and the same silu_mul over the same values as the
    // fused path (its ranges start at multiples of 16, so the vector/scalar
    // split of silu_mul falls on the same elements): the same bits.
    matmul_group(pool, x, M, ws, ys, 2, false);
    silu_mul(gate_out, up_out, gate_out, gate.rows);
    return;
  }
  matmul_group(pool, x, M, ws, ys, 2, true);
}

}  // namespace cpu
}  // namespace hs
