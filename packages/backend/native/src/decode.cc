// One decoding step of a Llama / Qwen2 decoder: see decode.h for the model and the layouts.
//
// Where the time goes at batch 1 is reading the weights once per token (a 2-layer width-128 model is 2 MB),
// so the products with few rows are dot products over the weight rows (4 rows at a time, AVX2 + FMA when the
// CPU has it), split across the thread pool when they are large enough; from 8 rows up they go to sgemm.
#include "decode.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "elementwise.h"
#include "gemm.h"
#include "microkernels.h"
#include "thread_pool.h"
#include "vmath.h"

#ifdef VLAB_X86_KERNELS
#include <immintrin.h>
#define VLAB_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace vlab {
namespace {

constexpr long kGemmRows = 8;              // a batch of at least this many rows multiplies through sgemm
constexpr long kParallelWork = 1L << 16;   // multiply-adds below which a product stays on one thread
constexpr long kRowsPerTask = 32;

// ----- dot products: portable and AVX2 -------------------------------------------------------------

float dot_portable(const float* a, const float* b, long n) {
  float s[4] = {0, 0, 0, 0};
  long i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; j++) s[j] += a[i + j] * b[i + j];
  float t = (s[0] + s[1]) + (s[2] + s[3]);
  for (; i < n; i++) t += a[i] * b[i];
  return t;
}

// y[r] = (bias[r]) + w[r, :] · x for r in [r0, r1)
void matvec_portable(const float* w, const float* x, float* y, long r0, long r1, long cols, const float* bias) {
  for (long r = r0; r < r1; r++) y[r] = dot_portable(w + r * cols, x, cols) + (bias ? bias[r] : 0.0f);
}

#ifdef VLAB_X86_KERNELS
VLAB_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

VLAB_AVX2 float dot_avx2(const float* a, const float* b, long n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  long i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float t = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; i++) t += a[i] * b[i];
  return t;
}

// Four weight rows at a time share each load of x; two accumulators a row keep eight FMA chains in flight.
VLAB_AVX2 void matvec_avx2(const float* w, const float* x, float* y, long r0, long r1, long cols, const float* bias) {
  long r = r0;
  const long c16 = cols & ~15L;
  for (; r + 4 <= r1; r += 4) {
    const float* w0 = w + r * cols;
    const float* w1 = w0 + cols;
    const float* w2 = w1 + cols;
    const float* w3 = w2 + cols;
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
    for (long c = 0; c < c16; c += 16) {
      const __m256 xl = _mm256_loadu_ps(x + c), xh = _mm256_loadu_ps(x + c + 8);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + c), xl, a0);
      b0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + c + 8), xh, b0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + c), xl, a1);
      b1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + c + 8), xh, b1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + c), xl, a2);
      b2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + c + 8), xh, b2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + c), xl, a3);
      b3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + c + 8), xh, b3);
    }
    float s[4] = {hsum(_mm256_add_ps(a0, b0)), hsum(_mm256_add_ps(a1, b1)), hsum(_mm256_add_ps(a2, b2)),
                  hsum(_mm256_add_ps(a3, b3))};
    for (int j = 0; j < 4; j++) {
      const float* wj = w0 + j * cols;
      for (long c = c16; c < cols; c++) s[j] += wj[c] * x[c];
      y[r + j] = s[j] + (bias ? bias[r + j] : 0.0f);
    }
  }
  for (; r < r1; r++) y[r] = dot_avx2(w + r * cols, x, cols) + (bias ? bias[r] : 0.0f);
}
#endif

bool use_avx2() {
#ifdef VLAB_X86_KERNELS
  static const bool yes = [] {
    const char* isa = std::getenv("VLAB_NATIVE_ISA");
    return !(isa && std::strcmp(isa, "portable") == 0) && cpu_has_avx2_fma();
  }();
  return yes;
#else
  return false;
#endif
}

float dot(const float* a, const float* b, long n) {
#ifdef VLAB_X86_KERNELS
  if (use_avx2()) return dot_avx2(a, b, n);
#endif
  return dot_portable(a, b, n);
}

void matvec(const float* w, const float* x, float* y, long r0, long r1, long cols, const float* bias) {
#ifdef VLAB_X86_KERNELS
  if (use_avx2()) return matvec_avx2(w, x, y, r0, r1, cols, bias);
#endif
  matvec_portable(w, x, y, r0, r1, cols, bias);
}

// y [B, out] = x [B, in] · wᵀ (+ bias), w in PyTorch's [out, in] layout.
void linear(const float* x, long B, long in, const float* w, long out, const float* bias, float* y) {
  if (B >= kGemmRows) {
    GemmProblem p;
    p.m = B;
    p.n = out;
    p.k = in;
    p.a = x;
    p.b = w;
    p.trans_b = true;
    p.c = y;
    if (bias) {
      p.bias = bias;
      p.bias_mode = kBiasPerColumn;
    }
    sgemm(p);
    return;
  }
  const long tasks = (out + kRowsPerTask - 1) / kRowsPerTask;
  if (B * out * in < kParallelWork || pool_threads() == 1 || tasks < 2) {
    for (long b = 0; b < B; b++) matvec(w, x + b * in, y + b * out, 0, out, in, bias);
    return;
  }
  parallel_for(int(tasks * B), [&](int t) {
    const long b = t / tasks, r0 = (t % tasks) * kRowsPerTask;
    matvec(w, x + b * in, y + b * out, r0, std::min(out, r0 + kRowsPerTask), in, bias);
  });
}

// y = x / √(mean(x²) + eps) · weight, row by row.
void rms_norm(const float* x, const float* weight, float* y, long rows, long cols, float eps) {
  for (long r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float ss = 0;
    for (long c = 0; c < cols; c++) ss += xr[c] * xr[c];
    const float inv = 1.0f / std::sqrt(ss / float(cols) + eps);
    for (long c = 0; c < cols; c++) yr[c] = (xr[c] * inv) * weight[c];
  }
}

// RoPE in the half-split layout (Hugging Face's rotate_half): for j < hd/2,
//   x[j] ← x[j]·cos − x[j + hd/2]·sin,   x[j + hd/2] ← x[j + hd/2]·cos + x[j]·sin
void rope(float* x, long B, long heads, long hd, const float* cos, const float* sin) {
  const long half = hd / 2;
  for (long b = 0; b < B; b++) {
    const float* c = cos + b * half;
    const float* s = sin + b * half;
    for (long h = 0; h < heads; h++) {
      float* v = x + (b * heads + h) * hd;
      for (long j = 0; j < half; j++) {
        const float x1 = v[j], x2 = v[j + half];
        v[j] = x1 * c[j] - x2 * s[j];
        v[j + half] = x2 * c[j] + x1 * s[j];
      }
    }
  }
}

// p[j] += Σ_e q[e] · kt[e, j] for j < n: the scores of one query over n columns of transposed keys [hd, ld].
// Four key rows per pass over p (a pass per row would load and store p hd times).
VLAB_VECTORISED void scores_t(const float* __restrict__ q, const float* __restrict__ kt, long ld, long hd,
                              float* __restrict__ p, long n) {
  long e = 0;
  for (; e + 4 <= hd; e += 4) {
    const float q0 = q[e], q1 = q[e + 1], q2 = q[e + 2], q3 = q[e + 3];
    const float *r0 = kt + e * ld, *r1 = r0 + ld, *r2 = r1 + ld, *r3 = r2 + ld;
    for (long j = 0; j < n; j++) p[j] += (q0 * r0[j] + q1 * r1[j]) + (q2 * r2[j] + q3 * r3[j]);
  }
  for (; e < hd; e++)
    for (long j = 0; j < n; j++) p[j] += q[e] * kt[e * ld + j];
}

// out[e] = Σ_j p[j] · v[j, e] over n columns of values [n, hd]; four columns per update of out (one per column
// would chain every update through the same stores).
VLAB_VECTORISED void weighted_sum(const float* __restrict__ p, const float* __restrict__ v, long n, long hd,
                                  float* __restrict__ out) {
  for (long e = 0; e < hd; e++) out[e] = 0.0f;
  long j = 0;
  for (; j + 4 <= n; j += 4) {
    const float p0 = p[j], p1 = p[j + 1], p2 = p[j + 2], p3 = p[j + 3];
    const float *v0 = v + j * hd, *v1 = v0 + hd, *v2 = v1 + hd, *v3 = v2 + hd;
    for (long e = 0; e < hd; e++) out[e] += (p0 * v0[e] + p1 * v1[e]) + (p2 * v2[e] + p3 * v3[e]);
  }
  for (; j < n; j++)
    for (long e = 0; e < hd; e++) out[e] += p[j] * v[j * hd + e];
}

// g = silu(g) · u = g / (1 + e^−g) · u
VLAB_VECTORISED void silu_mul(float* g, const float* u, long n) {
  for (long i = 0; i < n; i++) g[i] = g[i] / (1.0f + vexp(-g[i])) * u[i];
}

template <class T>
T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

const char* decode_isa() { return use_avx2() ? "avx2+fma" : "portable"; }

void decode_step(Decoder& d, const DecodeStep& s) {
  const DecoderConfig& c = d.cfg;
  const long B = s.batch, D = c.dim, H = c.heads, Hkv = c.kv_heads, hd = c.head_dim, I = c.inter;
  const long qw = H * hd, kvw = Hkv * hd, half = hd / 2, group = H / Hkv, cap = s.capacity, S = s.past + 1;
  float* x = grow(d.x, B * D);        // the residual stream [B, D]
  float* n = grow(d.n, B * D);        // its normed copy
  float* q = grow(d.q, B * qw);       // [B, H, hd]
  float* k = grow(d.k, B * kvw);      // [B, Hkv, hd]
  float* v = grow(d.v, B * kvw);
  float* att = grow(d.att, B * qw);   // attention output [B, H, hd]
  float* tmp = grow(d.tmp, B * D);
  float* gate = grow(d.gate, B * I);
  float* up = grow(d.up, B * I);
  float* cos = grow(d.cos, B * half);
  float* sin = grow(d.sin, B * half);
  float* sc = grow(d.scores, B * H * S);  // attention weights, one row of S per (row, head)

  for (long b = 0; b < B; b++) std::memcpy(x + b * D, d.embed.data() + long(s.tokens[b]) * D, D * sizeof(float));
  for (long b = 0; b < B; b++) {
    for (long j = 0; j < half; j++) {
      const double a = double(s.positions[b]) * d.inv_freq[j];  // float64, rounded once (as @vlab/rope)
      cos[b * half + j] = float(std::cos(a));
      sin[b * half + j] = float(std::sin(a));
    }
  }
  const float scale = float(1.0 / std::sqrt(double(hd)));

  for (long l = 0; l < c.layers; l++) {
    const DecoderLayerWeights& w = d.layers[l];
    auto bias = [&](const std::vector<float>& b) { return b.empty() ? nullptr : b.data(); };
    rms_norm(x, w.ln1.data(), n, B, D, c.eps);
    linear(n, B, D, w.wq.data(), qw, bias(w.bq), q);
    linear(n, B, D, w.wk.data(), kvw, bias(w.bk), k);
    linear(n, B, D, w.wv.data(), kvw, bias(w.bv), v);
    rope(q, B, H, hd, cos, sin);
    rope(k, B, Hkv, hd, cos, sin);
    float* kc = s.k_cache + l * B * Hkv * hd * cap;  // this layer's keys [B, Hkv, hd, cap]
    float* vc = s.v_cache + l * B * Hkv * cap * hd;  // and values [B, Hkv, cap, hd]
    // The new column: its key into the transposed cache [hd, cap], its value into [cap, hd].
    for (long b = 0; b < B; b++) {
      for (long g = 0; g < Hkv; g++) {
        const float* kn = k + (b * Hkv + g) * hd;
        float* kt = kc + (b * Hkv + g) * hd * cap + s.past;
        for (long e = 0; e < hd; e++) kt[e * cap] = kn[e];
        std::memcpy(vc + ((b * Hkv + g) * cap + s.past) * hd, v + (b * Hkv + g) * hd, hd * sizeof(float));
      }
    }
    // softmax(scale · q kᵀ over the row's unmasked columns) v for the `group` query heads of one key/value head of
    // one row: a task. With the keys transposed, the scores of all S columns build up as hd vector updates.
    auto attend = [&](int t) {
      const long b = t / Hkv, g = t % Hkv;
      const float* kt = kc + (b * Hkv + g) * hd * cap;  // [hd, cap]
      const float* vb = vc + (b * Hkv + g) * cap * hd;  // [cap, hd]
      const uint8_t* m = s.mask + b * cap;
      float* p = sc + t * group * S;  // [group, S]
      bool any = false;
      for (long j = 0; j < S; j++) any = any || m[j];
      for (long r = 0; r < group; r++) {
        const float* qv = q + (b * H + g * group + r) * hd;
        float* pr = p + r * S;
        std::fill(pr, pr + S, 0.0f);
        scores_t(qv, kt, cap, hd, pr, S);
        if (!any) {
          std::fill(pr, pr + S, 1.0f / float(S));  // every column masked: uniform, as the additive −1e9 mask gives
          continue;
        }
        for (long j = 0; j < S; j++)
          if (!m[j]) pr[j] = -INFINITY;  // weight exp(−∞) = 0
      }
      if (any) masked_softmax(p, nullptr, nullptr, p, group, S, scale, 0.0f);  // the prefill's softmax kernel
      for (long r = 0; r < group; r++) weighted_sum(p + r * S, vb, S, hd, att + (b * H + g * group + r) * hd);
    };
    if (B * H * S * hd < kParallelWork || pool_threads() == 1) {
      for (int t = 0; t < B * Hkv; t++) attend(t);
    } else {
      parallel_for(int(B * Hkv), attend);
    }
    linear(att, B, qw, w.wo.data(), D, nullptr, tmp);
    for (long i = 0; i < B * D; i++) x[i] += tmp[i];

    rms_norm(x, w.ln2.data(), n, B, D, c.eps);
    linear(n, B, D, w.wg.data(), I, nullptr, gate);
    linear(n, B, D, w.wu.data(), I, nullptr, up);
    silu_mul(gate, up, B * I);
    linear(gate, B, I, w.wd.data(), D, nullptr, tmp);
    for (long i = 0; i < B * D; i++) x[i] += tmp[i];
  }
  rms_norm(x, d.norm.data(), n, B, D, c.eps);
  linear(n, B, D, c.tied ? d.embed.data() : d.head.data(), c.vocab, nullptr, s.logits);
}

}  // namespace vlab
