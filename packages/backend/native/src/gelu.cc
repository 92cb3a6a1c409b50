// GELU, exact (erf) form, and its derivative, element-wise (vmath.h for exp / erf):
//
//   gelu(x)  = x·Φ(x),  Φ(x) = ½(1 + erf(x/√2))
//   gelu'(x) = Φ(x) + x·φ(x),  φ(x) = exp(-x²/2)/√(2π)
//
// erf(x/√2) and φ share exp(-x²/2), so the backward pass costs one exp per element.
#include "elementwise.h"

#include "thread_pool.h"
#include "vmath.h"

namespace vlab {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

VLAB_VECTORISED void gelu_range(const float* x, float* y, long n) {
  for (long i = 0; i < n; i++) {
    const float v = x[i];
    const float e = vexp(-0.5f * v * v);
    y[i] = 0.5f * v * (1.f + verf_with_exp(v * kInvSqrt2, e));
  }
}

VLAB_VECTORISED void gelu_grad_range(const float* x, const float* dy, float* dx, long n) {
  for (long i = 0; i < n; i++) {
    const float v = x[i];
    const float e = vexp(-0.5f * v * v);
    const float cdf = 0.5f * (1.f + verf_with_exp(v * kInvSqrt2, e));
    dx[i] = dy[i] * (cdf + v * e * kInvSqrt2Pi);
  }
}

}  // namespace

void gelu(const float* x, float* y, long n) {
  parallel_chunks(n, [&](long lo, long hi) { gelu_range(x + lo, y + lo, hi - lo); });
}

void gelu_grad(const float* x, const float* dy, float* dx, long n) {
  parallel_chunks(n, [&](long lo, long hi) { gelu_grad_range(x + lo, dy + lo, dx + lo, hi - lo); });
}

}  // namespace vlab
