// The non-matmul native kernels (one file each) and the helper that splits their work across the
// thread pool. Arrays are row-major float32 unless noted; `rows` x `cols` views of the last axis.
#pragma once

#include <algorithm>
#include <cstdint>

#include "thread_pool.h"

namespace vlab {

// gelu.cc: exact GELU and its derivative (dx = dy · gelu'(x)).
void gelu(const float* x, float* y, long n);
void gelu_grad(const float* x, const float* dy, float* dx, long n);

// layer_norm.cc: y = (x − mean) / √(var + eps) · gamma + beta over each row (gamma, beta may be
// null), and its gradient (dgamma, dbeta may be null; they are overwritten, not accumulated).
void layer_norm(const float* x, const float* gamma, const float* beta, float* y, long rows, long cols, float eps);
void layer_norm_grad(const float* dy, const float* x, const float* gamma, float* dx, float* dgamma, float* dbeta,
                     long rows, long cols, float eps);

// softmax_xent.cc: loss[r] = logsumexp(logits[r]) − logits[r, label[r]], and
// dlogits[r] = dloss[r] · (softmax(logits[r]) − onehot(label[r])). Labels must be in [0, cols).
void softmax_xent(const float* logits, const int32_t* labels, float* loss, long rows, long cols);
void softmax_xent_grad(const float* dloss, const float* logits, const int32_t* labels, float* dlogits, long rows, long cols);

// masked_softmax.cc: y = softmax(scale·x + max(mask, mask_min)) per row, the mask row of x's row r
// being mask + mask_rows[r]·cols (mask may be null); and dx = scale · y ⊙ (dy − Σ dy⊙y).
void masked_softmax(const float* x, const float* mask, const int32_t* mask_rows, float* y, long rows, long cols, float scale,
                    float mask_min);
void masked_softmax_grad(const float* dy, const float* y, float* dx, long rows, long cols, float scale);

// transpose.cc: y = x with its axes permuted (out axis d is in axis perm[d]); 4-byte elements.
void transpose(const uint32_t* x, uint32_t* y, const long* shape, const int* perm, int rank);

// column_sum.cc: out[j] = Σ_r x[r, j] (the gradient of a bias broadcast over rows).
void column_sum(const float* x, float* out, long rows, long cols);

// adamw.cc: one AdamW update; the scalars arrive as the float32 values tfjs would use.
struct AdamWScalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float eps, keep /* 1 − lr·λ */, step_size /* lr / (1 − β1^t) */, bc2_sqrt /* √(1 − β2^t) */;
};
void adamw(const float* p, const float* g, const float* m, const float* v, float* p_out, float* m_out, float* v_out, long n,
           const AdamWScalars& s);

// Runs f(lo, hi) over [0, n) in one contiguous chunk per thread (chunks aligned to 64 elements),
// or inline when n is below `grain` per thread.
template <class F>
void parallel_chunks(long n, F&& f, long grain = 1 << 15) {
  const int threads = pool_threads();
  if (threads <= 1 || n < 2 * grain) {
    f(0L, n);
    return;
  }
  const long parts = std::min<long>(threads, n / grain);
  const long per = ((n + parts - 1) / parts + 63) / 64 * 64;
  parallel_for(int((n + per - 1) / per), [&](int t) { f(t * per, std::min(n, (t + 1) * per)); });
}

}  // namespace vlab
