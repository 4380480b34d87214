// Row-wise and element-wise kernels: embedding gather, RMSNorm, RoPE,
// SiLU*mul, residual adds. Memory-light next to the matmuls; plain loops the
// compiler vectorizes, reductions summed in double for a stable result.
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/internal.h"

namespace hs {
namespace cpu {

bool embed(const WeightView& table, const int32_t* ids, int64_t T, float* out) {
  for (int64_t t = 0; t < T; ++t) {
    if (ids[t] < 0 || ids[t] >= table.rows) return false;
  }
  const size_t rb = dtype_row_bytes(table.dtype, table.cols);
  const auto* base = static_cast<const uint8_t*>(table.data);
  for (int64_t t = 0; t < T; ++t) {
    dequantize_row(table.dtype, base + static_cast<size_t>(ids[t]) * rb, table.cols, out + t * table.cols);
  }
  return true;
}

void rmsnorm(const float* x, const float* weight, float* y, int64_t rows, int64_t dim, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double ss = 0.0;
    for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
    for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * weight[i];
  }
}

namespace {

// Inverse frequencies of the rotary pairs, with Llama 3's rope_scaling
// applied as HF's _compute_llama3_parameters does.
void inv_freqs(const RopeParams& p, int64_t rd, double* out) {
  const double two_pi = 6.283185307179586;
  for (int64_t i = 0; i < rd / 2; ++i) {
    double f = 1.0 / std::pow(static_cast<double>(p.theta), static_cast<double>(2 * i) / rd);
    if (p.llama3_factor > 0.0f) {
      const double old_len = p.llama3_original_max_pos;
      const double low_wavelen = old_len / p.llama3_low_freq_factor;
      const double high_wavelen = old_len / p.llama3_high_freq_factor;
      const double wavelen = two_pi / f;
      if (wavelen > low_wavelen) {
        f = f / p.llama3_factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_len / wavelen - p.llama3_low_freq_factor) /
                              (p.llama3_high_freq_factor - p.llama3_low_freq_factor);
        f = (1.0 - smooth) * f / p.llama3_factor + smooth * f;
      }
    }
    out[i] = f;
  }
}

}  // namespace

void rope(float* x, const int32_t* positions, int64_t T, int64_t n_heads, int64_t head_dim,
          const RopeParams& p) {
  const int64_t rd = (p.rotary_dim > 0 && p.rotary_dim <= head_dim) ? p.rotary_dim : head_dim;
  const int64_t half = rd / 2;
  static thread_local std::vector<double> freq;
  static thread_local std::vector<float> cs;  // cos[half] then sin[half]
  freq.resize(half);
  cs.resize(2 * half);
  inv_freqs(p, rd, freq.data());
  for (int64_t t = 0; t < T; ++t) {
    const double pos = positions[t];
    for (int64_t i = 0; i < half; ++i) {
      const double a = pos * freq[i];
      cs[i] = static_cast<float>(std::cos(a));
      cs[half + i] = static_cast<float>(std::sin(a));
    }
    const float* c = cs.data();
    const float* s = cs.data() + half;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      if (p.style == RopeStyle::Neox) {
        for (int64_t i = 0; i < half; ++i) {
          const float a = v[i], b = v[i + half];
          v[i] = a * c[i] - b * s[i];
          v[i + half] = b * c[i] + a * s[i];
        }
      } else {
        for (int64_t i = 0; i < half; ++i) {
          const float a = v[2 * i], b = v[2 * i + 1];
          v[2 * i] = a * c[i] - b * s[i];
          v[2 * i + 1] = b * c[i] + a * s[i];
        }
      }
    }
  }
}

void silu_mul_scalar(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void silu_mul(const float* gate, const float* up, float* out, int64_t n) { isa().silu_mul(gate, up, out, n); }

void add_inplace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void add_bias(float* x, const float* bias, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * cols;
    for (int64_t c = 0; c < cols; ++c) xr[c] += bias[c];
  }
}

}  // namespace cpu
}  // namespace hs
