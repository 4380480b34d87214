// Cephes' expf, the constants the vectorized exponentials share (exp256 in
// avx2_util.h, exp512 in attention_avx512.cc): e^x = 2^n * p(r) with
// n = round(x * log2(e)), r = x - n * ln(2) (ln(2) split in two for an exact
// first product), p a degree-7 polynomial; ~1 ulp on [-87.3, 88].
#pragma once

namespace hs {
namespace cpu {
namespace expf_poly {

constexpr float kLo = -87.33f;  // inputs are clamped to [kLo, kHi]
constexpr float kHi = 88.0f;
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
// p(r) = 1 + r + r^2 * (((((c0 r + c1) r + c2) r + c3) r + c4) r + c5)
constexpr float kC0 = 1.9875691500e-4f;
constexpr float kC1 = 1.3981999507e-3f;
constexpr float kC2 = 8.3334519073e-3f;
constexpr float kC3 = 4.1665795894e-2f;
constexpr float kC4 = 1.6666665459e-1f;
constexpr float kC5 = 5.0000001201e-1f;

}  // namespace expf_poly
}  // namespace cpu
}  // namespace hs
