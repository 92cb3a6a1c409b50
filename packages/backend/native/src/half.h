// IEEE 754 binary16 ("half") ⇄ binary32 in portable C++, for the decoder's optional half-precision key/value
// cache. float_to_half rounds to nearest, ties to even, as F16C's vcvtps2ph with _MM_FROUND_TO_NEAREST_INT does
// (and as @vlab/backend's decoder.ts rounds the prefix it loads): magnitudes from 65520 up become ±∞, below 2^-14
// they become subnormal halves.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace vlab {

inline uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN (quiet)
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // ≥ 65520 rounds to ∞ (65504 is the largest half)
  if (a < 0x38800000u) {                                  // below 2^-14: a multiple of 2^-24
    float v;
    std::memcpy(&v, &a, sizeof v);
    return uint16_t(sign | uint32_t(std::nearbyint(v * 16777216.0f)));  // exact scaling, then ties to even
  }
  uint32_t h = (a - 0x38000000u) >> 13;  // exponent rebiased (127 → 15), 10 of the 23 mantissa bits
  const uint32_t rest = a & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;  // a carry into the exponent is still right
  return uint16_t(sign | h);
}

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t x;
  if (e == 0) {
    const float v = float(m) * 5.9604644775390625e-8f;  // m · 2^-24
    std::memcpy(&x, &v, sizeof x);
    x |= sign;
  } else if (e == 31) {
    x = sign | 0x7f800000u | (m << 13);
  } else {
    x = sign | ((e + 112u) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

}  // namespace vlab
