// Branch-free float math that compilers vectorise: exp and erf for the element-wise kernels, and
// the VLAB_VECTORISED attribute that compiles a loop once per x86-64 level (AVX-512, AVX2+FMA,
// baseline) and picks one at load time (GCC / Clang `target_clones`, Linux only).
//
// exp: Cody-Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, then a degree-6 Taylor polynomial and 2^n
//      from the exponent bits; relative error ~2e-7 (about 1-2 ulp). Flushes to 0 below -87.3
//      (where the true result is denormal) and saturates at 88.7.
// erf: Abramowitz & Stegun 7.1.26, absolute error ≤ 1.5e-7: the formula tfjs-backend-cpu uses.
#pragma once

#include <cstdint>
#include <cstring>

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define VLAB_VECTORISED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VLAB_VECTORISED
#endif

namespace vlab {

inline float vexp(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  const float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;  // round to nearest
  float r = x - n * 0.693145751953125f;  // ln2 split in a high part exact in float ...
  r = r - n * 1.42860682030941723212e-6f;  // ... and the rest
  float p = 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t bits = (int32_t(n) + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float y = p * scale;
  return x <= -87.3f ? 0.f : y;
}

// erf(x) given x and e = exp(-x²) (callers often need e themselves).
inline float verf_with_exp(float x, float e) {
  const float ax = x < 0.f ? -x : x;
  const float t = 1.f / (1.f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.f - p * t * e;
  return x < 0.f ? -y : y;
}

inline float verf(float x) { return verf_with_exp(x, vexp(-x * x)); }

}  // namespace vlab
