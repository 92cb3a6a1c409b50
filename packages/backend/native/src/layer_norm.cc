// Layer normalisation over the last axis, forward and backward, one row at a time:
//
//   x̂ = (x − μ) · r,  r = 1/√(σ² + eps),  y = x̂·γ + β                       (biased σ², as PyTorch)
//   g = dy·γ,  dx = r · (g − mean(g) − x̂ · mean(g·x̂)),  dγ = Σ_rows dy·x̂,  dβ = Σ_rows dy
//
// The backward pass recomputes μ and r from x (one extra pass over a row already in cache) instead
// of saving them. Row sums use 16 independent partial sums, which vectorise without reassociating
// (no -ffast-math). With several threads each takes a block of rows and its own dγ, dβ partials.
#include <cmath>
#include <vector>

#include "elementwise.h"
#include "vmath.h"

namespace vlab {
namespace {

constexpr int L = 16;  // lanes of the partial sums

VLAB_VECTORISED float row_sum(const float* x, long n) {
  float acc[L] = {};
  long i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; j++) acc[j] += x[i + j];
  float s = 0.f;
  for (int j = 0; j < L; j++) s += acc[j];
  for (; i < n; i++) s += x[i];
  return s;
}

VLAB_VECTORISED float row_centred_sq(const float* x, float mean, long n) {
  float acc[L] = {};
  long i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; j++) {
      const float d = x[i + j] - mean;
      acc[j] += d * d;
    }
  float s = 0.f;
  for (int j = 0; j < L; j++) s += acc[j];
  for (; i < n; i++) s += (x[i] - mean) * (x[i] - mean);
  return s;
}

// μ and r of one row.
inline void row_stats(const float* x, long cols, float eps, float* mean, float* rstd) {
  const float m = row_sum(x, cols) / float(cols);
  const float var = row_centred_sq(x, m, cols) / float(cols);
  *mean = m;
  *rstd = 1.f / std::sqrt(var + eps);
}

VLAB_VECTORISED void normalise_row(const float* x, const float* gamma, const float* beta, float* y, long cols,
                                   float mean, float rstd) {
  for (long j = 0; j < cols; j++) {
    float v = (x[j] - mean) * rstd;
    if (gamma) v *= gamma[j];
    if (beta) v += beta[j];
    y[j] = v;
  }
}

// One row of the backward pass; adds into dgamma / dbeta (if given).
VLAB_VECTORISED void grad_row(const float* dy, const float* x, const float* gamma, float* dx, float* dgamma,
                              float* dbeta, long cols, float mean, float rstd) {
  float acc_g[L] = {}, acc_gx[L] = {};
  long j = 0;
  for (; j + L <= cols; j += L)
    for (int l = 0; l < L; l++) {
      const float xh = (x[j + l] - mean) * rstd;
      const float g = gamma ? dy[j + l] * gamma[j + l] : dy[j + l];
      acc_g[l] += g;
      acc_gx[l] += g * xh;
    }
  float sum_g = 0.f, sum_gx = 0.f;
  for (int l = 0; l < L; l++) {
    sum_g += acc_g[l];
    sum_gx += acc_gx[l];
  }
  for (; j < cols; j++) {
    const float xh = (x[j] - mean) * rstd;
    const float g = gamma ? dy[j] * gamma[j] : dy[j];
    sum_g += g;
    sum_gx += g * xh;
  }
  const float mg = sum_g / float(cols), mgx = sum_gx / float(cols);
  for (long c = 0; c < cols; c++) {
    const float xh = (x[c] - mean) * rstd;
    const float g = gamma ? dy[c] * gamma[c] : dy[c];
    dx[c] = rstd * (g - mg - xh * mgx);
    if (dgamma) dgamma[c] += dy[c] * xh;
    if (dbeta) dbeta[c] += dy[c];
  }
}

}  // namespace

void layer_norm(const float* x, const float* gamma, const float* beta, float* y, long rows, long cols, float eps) {
  parallel_chunks(rows, [&](long lo, long hi) {
    for (long r = lo; r < hi; r++) {
      float mean, rstd;
      row_stats(x + r * cols, cols, eps, &mean, &rstd);
      normalise_row(x + r * cols, gamma, beta, y + r * cols, cols, mean, rstd);
    }
  }, (1 << 14) / std::max<long>(cols, 1) + 1);
}

void layer_norm_grad(const float* dy, const float* x, const float* gamma, float* dx, float* dgamma, float* dbeta,
                     long rows, long cols, float eps) {
  // Rows split evenly into one chunk per thread; chunk t accumulates its own dγ, dβ partials.
  const bool parallel = pool_threads() > 1 && rows * cols >= (1 << 15);
  const long chunks = parallel ? std::min<long>(pool_threads(), rows) : 1;
  const long per = chunks > 0 ? (rows + chunks - 1) / chunks : 0;
  std::vector<float> partial(size_t(std::max<long>(chunks, 1)) * 2 * size_t(cols), 0.f);
  auto run = [&](int t) {
    const long lo = t * per, hi = std::min(rows, lo + per);
    float* dg = dgamma ? partial.data() + size_t(t) * 2 * cols : nullptr;
    float* db = dbeta ? partial.data() + size_t(t) * 2 * cols + cols : nullptr;
    for (long r = lo; r < hi; r++) {
      float mean, rstd;
      row_stats(x + r * cols, cols, eps, &mean, &rstd);
      grad_row(dy + r * cols, x + r * cols, gamma, dx + r * cols, dg, db, cols, mean, rstd);
    }
  };
  if (parallel) parallel_for(int(chunks), run);
  else if (rows > 0) run(0);
  for (long c = 0; c < cols; c++) {
    float g = 0.f, b = 0.f;
    for (long t = 0; t < std::max<long>(chunks, 1); t++) {
      g += partial[size_t(t) * 2 * cols + c];
      b += partial[size_t(t) * 2 * cols + cols + c];
    }
    if (dgamma) dgamma[c] = g;
    if (dbeta) dbeta[c] = b;
  }
}

}  // namespace vlab
