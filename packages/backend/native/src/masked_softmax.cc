// Attention's softmax over the last axis with the score scale and the additive mask folded in,
// forward and backward, one row at a time:
//
//   y = softmax(scale·x + max(mask, mask_min))         (the mask row is chosen per row: broadcasting)
//   dz = y ⊙ (dy − Σ dy⊙y),   dx = scale·dz
//
// Masked entries (mask_min ≈ -1e9) get exp(…) = 0 exactly. Reductions use 16 independent lanes.
#include <cmath>

#include "elementwise.h"
#include "vmath.h"

namespace vlab {
namespace {

constexpr int L = 16;

// z = scale·x (+ max(mask, mask_min)), returns max(z).
VLAB_VECTORISED float logits_row(const float* x, const float* mask, float scale, float mask_min, float* z, long n) {
  for (long j = 0; j < n; j++) {
    float v = scale * x[j];
    if (mask) v += mask[j] > mask_min ? mask[j] : mask_min;
    z[j] = v;
  }
  float acc[L];
  for (int l = 0; l < L; l++) acc[l] = -INFINITY;
  long j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; l++) acc[l] = z[j + l] > acc[l] ? z[j + l] : acc[l];
  float m = -INFINITY;
  for (int l = 0; l < L; l++) m = acc[l] > m ? acc[l] : m;
  for (; j < n; j++) m = z[j] > m ? z[j] : m;
  return m;
}

// y = exp(z − m) in place, returns the sum.
VLAB_VECTORISED float exp_row(float* y, float m, long n) {
  float acc[L] = {};
  long j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; l++) {
      const float e = vexp(y[j + l] - m);
      y[j + l] = e;
      acc[l] += e;
    }
  float s = 0.f;
  for (int l = 0; l < L; l++) s += acc[l];
  for (; j < n; j++) {
    y[j] = vexp(y[j] - m);
    s += y[j];
  }
  return s;
}

VLAB_VECTORISED void scale_row(float* y, float k, long n) {
  for (long j = 0; j < n; j++) y[j] *= k;
}

VLAB_VECTORISED void grad_row(const float* dy, const float* y, float* dx, float scale, long n) {
  float acc[L] = {};
  long j = 0;
  for (; j + L <= n; j += L)
    for (int l = 0; l < L; l++) acc[l] += dy[j + l] * y[j + l];
  float s = 0.f;
  for (int l = 0; l < L; l++) s += acc[l];
  for (; j < n; j++) s += dy[j] * y[j];
  for (long c = 0; c < n; c++) dx[c] = scale * (y[c] * (dy[c] - s));
}

}  // namespace

void masked_softmax(const float* x, const float* mask, const int32_t* mask_rows, float* y, long rows, long cols, float scale,
                    float mask_min) {
  parallel_chunks(rows, [&](long lo, long hi) {
    for (long r = lo; r < hi; r++) {
      float* yr = y + r * cols;
      const float* mr = mask ? mask + long(mask_rows[r]) * cols : nullptr;
      const float m = logits_row(x + r * cols, mr, scale, mask_min, yr, cols);
      const float s = exp_row(yr, m, cols);
      scale_row(yr, 1.f / s, cols);
    }
  }, (1 << 14) / std::max<long>(cols, 1) + 1);
}

void masked_softmax_grad(const float* dy, const float* y, float* dx, long rows, long cols, float scale) {
  parallel_chunks(rows, [&](long lo, long hi) {
    for (long r = lo; r < hi; r++) grad_row(dy + r * cols, y + r * cols, dx + r * cols, scale, cols);
  }, (1 << 14) / std::max<long>(cols, 1) + 1);
}

}  // namespace vlab
