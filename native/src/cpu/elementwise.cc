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
    // Eight partial sums in double: eight independent add chains instead of
    // one (the sum of 768 squares took ~1 us as one chain, 25 norms a
    // decode step); in double, the order moves the float result only when
    // the sum lies within ~1e-16 of a float rounding boundary.
    double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= dim; i += 8) {
      for (int k = 0; k < 8; ++k) part[k] += static_cast<double>(xr[i + k]) * xr[i + k];
    }
    for (; i < dim; ++i) part[0] += static_cast<double>(xr[i]) * xr[i];
    const double ss = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
    const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
    for (i = 0; i < dim; ++i) yr[i] = xr[i] * inv * weight[i];
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

namespace {
int64_t rotary_dim(const RopeParams& p, int64_t head_dim) {
  return (p.rotary_dim > 0 && p.rotary_dim <= head_dim) ? p.rotary_dim : head_dim;
}
}  // namespace

void rope_table(const int32_t* positions, int64_t T, int64_t head_dim, const RopeParams& p,
                std::vector<float>* table) {
  const int64_t half = rotary_dim(p, head_dim) / 2;
  static thread_local std::vector<double> freq;
  freq.resize(static_cast<size_t>(half));
  inv_freqs(p, 2 * half, freq.data());
  table->resize(static_cast<size_t>(T * 2 * half));
  for (int64_t t = 0; t < T; ++t) {
    const double pos = positions[t];
    float* cs = table->data() + t * 2 * half;
    for (int64_t i = 0; i < half; ++i) {
      const double a = pos * freq[static_cast<size_t>(i)];
      cs[i] = static_cast<float>(std::cos(a));
      cs[half + i] = static_cast<float>(std::sin(a));
    }
  }
}

int64_t rope_row_floats(const RopeParams& p, int64_t head_dim) { return 2 * (rotary_dim(p, head_dim) / 2); }

void rope_token(float* x, int64_t n_heads, int64_t head_dim, const RopeParams& p, const float* row) {
  const int64_t half = rotary_dim(p, head_dim) / 2;
  const float* c = row;
  const float* s = c + half;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
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

void rope_apply(float* x, int64_t T, int64_t n_heads, int64_t head_dim, const RopeParams& p,
                const std::vector<float>& table) {
  const int64_t half = rotary_dim(p, head_dim) / 2;
  for (int64_t t = 0; t < T; ++t) {
    // Invariant: table holds T rows of 2 * half (rope_table with the same T, head_dim, p).
    rope_token(x + t * n_heads * head_dim, n_heads, head_dim, p, table.data() + t * 2 * half);
  }
}

void rope(float* x, const int32_t* positions, int64_t T, int64_t n_heads, int64_t head_dim,
          const RopeParams& p) {
  static thread_local std::vector<float> table;
  rope_table(positions, T, head_dim, p, &table);
  rope_apply(x, T, n_heads, head_dim, p, table);
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
