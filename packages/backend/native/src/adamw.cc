// One AdamW update of one parameter (see packages/core/src/optim.ts for the algorithm), element-
// wise, in the order and float32 rounding of the tfjs ops it replaces:
//
//   m' = β1·m + (1 − β1)·g
//   v' = β2·v + (1 − β2)·g²
//   p' = p·(1 − lr·λ) − (m' / (√v' / bc2 + ε)) · stepSize
#include <cmath>

#include "elementwise.h"
#include "vmath.h"

namespace vlab {
namespace {

VLAB_VECTORISED void adamw_range(const float* p, const float* g, const float* m, const float* v, float* p_out, float* m_out,
                                 float* v_out, long n, const AdamWScalars& s) {
  for (long i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = m[i] * s.beta1 + gi * s.one_minus_beta1;
    const float vi = v[i] * s.beta2 + (gi * gi) * s.one_minus_beta2;
    const float denom = std::sqrt(vi) / s.bc2_sqrt + s.eps;
    m_out[i] = mi;
    v_out[i] = vi;
    p_out[i] = p[i] * s.keep - (mi / denom) * s.step_size;
  }
}

}  // namespace

void adamw(const float* p, const float* g, const float* m, const float* v, float* p_out, float* m_out, float* v_out, long n,
           const AdamWScalars& s) {
  parallel_chunks(n, [&](long lo, long hi) {
    adamw_range(p + lo, g + lo, m + lo, v + lo, p_out + lo, m_out + lo, v_out + lo, hi - lo, s);
  }, 1 << 16);
}

}  // namespace vlab
