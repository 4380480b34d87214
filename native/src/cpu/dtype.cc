// dtype names, row sizes, f16/bf16 conversions and row (de)quantization.
#include <cmath>
#include <cstring>

#include "cpu/kernels.h"

namespace hs {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::Q8_0: return "q8_0";
  }
  return "unknown";
}

bool dtype_from_name(const char* name, DType* out) {
  static const struct { const char* n; DType t; } table[] = {
      {"f32", DType::F32}, {"f16", DType::F16}, {"bf16", DType::BF16}, {"q8_0", DType::Q8_0}};
  for (const auto& e : table) {
    if (std::strcmp(e.n, name) == 0) {
      *out = e.t;
      return true;
    }
  }
  return false;
}

size_t dtype_row_bytes(DType t, int64_t n) {
  switch (t) {
    case DType::F32: return static_cast<size_t>(n) * 4;
    case DType::F16:
    case DType::BF16: return static_cast<size_t>(n) * 2;
    case DType::Q8_0: return static_cast<size_t>(n / kQ8Block) * sizeof(BlockQ8_0);
  }
  return 0;
}

static inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
static inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ff;
  if (exp == 0) {
    if (man == 0) return float_of(sign);
    // subnormal: man * 2^-24
    const float v = static_cast<float>(man) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (exp == 31) return float_of(sign | 0x7f800000u | (man << 13));
  return float_of(sign | ((exp + 112) << 23) | (man << 13));
}

// Round to nearest even, overflow to inf, NaN stays NaN (as F16C does).
uint16_t f32_to_f16(float f) {
  const uint32_t u = bits_of(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return sign | (a > 0x7f800000u ? 0x7e00 : 0x7c00);
  if (a >= 0x477ff000u) return sign | 0x7c00;  // rounds to >= 65520: inf
  if (a < 0x38800000u) {
    // result is subnormal or zero: value / 2^-24 rounded to nearest even
    const float v = float_of(a) * 16777216.0f;  // exact (power of two)
    const float r = std::nearbyint(v);          // default mode: nearest even
    return sign | static_cast<uint16_t>(r);
  }
  uint32_t m = a + 0xc8000fffu + ((a >> 13) & 1);  // rebias exponent, round
  return sign | static_cast<uint16_t>(m >> 13);
}

float bf16_to_f32(uint16_t h) { return float_of(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_bf16(float f) {
  const uint32_t u = bits_of(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

void quantize_row(DType t, const float* x, int64_t n, void* out) {
  switch (t) {
    case DType::F32:
      std::memcpy(out, x, static_cast<size_t>(n) * 4);
      return;
    case DType::F16: {
      auto* o = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) o[i] = f32_to_f16(x[i]);
      return;
    }
    case DType::BF16: {
      auto* o = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) o[i] = f32_to_bf16(x[i]);
      return;
    }
    case DType::Q8_0: {
      auto* o = static_cast<BlockQ8_0*>(out);
      for (int64_t b = 0; b < n / kQ8Block; ++b) {
        const float* xb = x + b * kQ8Block;
        float amax = 0.0f;
        for (int i = 0; i < kQ8Block; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        o[b].d = f32_to_f16(d);
        for (int i = 0; i < kQ8Block; ++i) {
          o[b].qs[i] = static_cast<int8_t>(std::round(xb[i] * id));  // half away from zero
        }
      }
      return;
    }
  }
}

void dequantize_row(DType t, const void* in, int64_t n, float* out) {
  switch (t) {
    case DType::F32:
      std::memcpy(out, in, static_cast<size_t>(n) * 4);
      return;
    case DType::F16: {
      const auto* p = static_cast<const uint16_t*>(in);
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(p[i]);
      return;
    }
    case DType::BF16: {
      const auto* p = static_cast<const uint16_t*>(in);
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(p[i]);
      return;
    }
    case DType::Q8_0: {
      const auto* p = static_cast<const BlockQ8_0*>(in);
      for (int64_t b = 0; b < n / kQ8Block; ++b) {
        const float d = f16_to_f32(p[b].d);
        for (int i = 0; i < kQ8Block; ++i) out[b * kQ8Block + i] = d * static_cast<float>(p[b].qs[i]);
      }
      return;
    }
  }
}

}  // namespace hs
