// Softmax cross-entropy per row, forward and backward (F.cross_entropy without the mean):
//
//   loss[r]    = log Σ_j exp(z_j − m) + m − z_label,       m = max_j z_j
//   dlogits[r] = dloss[r] · (softmax(z) − onehot(label))
//
// Both passes recompute the row's max and sum of exponentials (the backward pass needs no saved
// softmax). Reductions use 16 independent lanes, which vectorise without reassociation.
#include <cmath>

#include "elementwise.h"
#include "vmath.h"

namespace vlab {
namespace {

constexpr int L = 16;

VLAB_VECTORISED float row_max(const float* x, long n) {
  float acc[L];
  for (int j = 0; j < L; j++) acc[j] = -INFINITY;
  long i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  float m = -INFINITY;
  for (int j = 0; j < L; j++) m = acc[j] > m ? acc[j] : m;
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

// Σ exp(x − m), writing the exponentials to e.
VLAB_VECTORISED float row_exp_sum(const float* x, float m, float* e, long n) {
  float acc[L] = {};
  long i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; j++) {
      const float v = vexp(x[i + j] - m);
      e[i + j] = v;
      acc[j] += v;
    }
  float s = 0.f;
  for (int j = 0; j < L; j++) s += acc[j];
  for (; i < n; i++) {
    e[i] = vexp(x[i] - m);
    s += e[i];
  }
  return s;
}

VLAB_VECTORISED void scale_row(float* e, float k, long n) {
  for (long i = 0; i < n; i++) e[i] *= k;
}

}  // namespace

void softmax_xent(const float* logits, const int32_t* labels, float* loss, long rows, long cols) {
  parallel_chunks(rows, [&](long lo, long hi) {
    float buf[1024];
    for (long r = lo; r < hi; r++) {
      const float* z = logits + r * cols;
      const float m = row_max(z, cols);
      float s = 0.f;
      for (long c = 0; c < cols; c += 1024) {
        const long w = std::min<long>(1024, cols - c);
        s += row_exp_sum(z + c, m, buf, w);
      }
      loss[r] = std::log(s) + m - z[labels[r]];
    }
  }, (1 << 14) / std::max<long>(cols, 1) + 1);
}

void softmax_xent_grad(const float* dloss, const float* logits, const int32_t* labels, float* dlogits, long rows, long cols) {
  parallel_chunks(rows, [&](long lo, long hi) {
    for (long r = lo; r < hi; r++) {
      const float* z = logits + r * cols;
      float* d = dlogits + r * cols;
      const float m = row_max(z, cols);
      const float s = row_exp_sum(z, m, d, cols);
      scale_row(d, dloss[r] / s, cols);
      d[labels[r]] -= dloss[r];
    }
  }, (1 << 14) / std::max<long>(cols, 1) + 1);
}

}  // namespace vlab
