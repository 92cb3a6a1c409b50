// One decoding step of a Llama / Qwen2 decoder: see decode.h for the model and the layouts.
//
// Where the time goes at batch 1 is reading the weights once per token (a 2-layer width-128 model is 2 MB),
// so the products with few rows are dot products over the weight rows (4 rows at a time, AVX2 + FMA when the
// CPU has it), split across the thread pool when they are large enough; from 8 rows up they go to sgemm, on
// weights packed once. q/k/v and gate/up are one product each (decode.h). The attention is decode_attention.cc.
#include "decode.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "decode_attention.h"
#include "gemm.h"
#include "half.h"
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
constexpr long kAttendChunk = 4;           // (row, kv head) attention units per task of the pool
constexpr long kParallelElements = 1L << 13;  // element-wise work (silu) below which it stays on one thread
// Multiply-adds from which a packed product splits across the pool: lower than sgemm's own threshold, as the
// decoder's products follow each other (and the attention's parallel loop) closely enough that the pool's workers
// are still spinning (thread_pool.cc), not asleep.
constexpr double kParallelGemm = double(1 << 21);

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

}  // namespace

bool decode_use_avx2() {
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

namespace {

void matvec(const float* w, const float* x, float* y, long r0, long r1, long cols, const float* bias) {
#ifdef VLAB_X86_KERNELS
  if (decode_use_avx2()) return matvec_avx2(w, x, y, r0, r1, cols, bias);
#endif
  matvec_portable(w, x, y, r0, r1, cols, bias);
}

// y [B, out] = x [B, in] · wᵀ (+ bias), w in PyTorch's [out, in] layout; from kGemmRows rows up through sgemm, with
// w packed once (`packed`, when given).
void linear(const float* x, long B, long in, const float* w, long out, const float* bias, float* y,
            const PackedB* packed = nullptr) {
  if (B >= kGemmRows && packed) return sgemm_packed(x, B, *packed, bias, y, kParallelGemm);
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
// on `heads` heads of hd values at the start of each of B rows, `stride` apart.
void rope(float* x, long B, long stride, long heads, long hd, const float* cos, const float* sin) {
  const long half = hd / 2;
  for (long b = 0; b < B; b++) {
    const float* c = cos + b * half;
    const float* s = sin + b * half;
    for (long h = 0; h < heads; h++) {
      float* v = x + b * stride + h * hd;
      for (long j = 0; j < half; j++) {
        const float x1 = v[j], x2 = v[j + half];
        v[j] = x1 * c[j] - x2 * s[j];
        v[j + half] = x2 * c[j] + x1 * s[j];
      }
    }
  }
}

// h = silu(g) · u = g / (1 + e^−g) · u
VLAB_VECTORISED void silu_mul(const float* g, const float* u, float* h, long n) {
  for (long i = 0; i < n; i++) h[i] = g[i] / (1.0f + vexp(-g[i])) * u[i];
}

// The rows of each part one after the other, then the parts emptied.
std::vector<float> stack(std::initializer_list<std::vector<float>*> parts) {
  std::vector<float> out;
  for (auto* p : parts) {
    out.insert(out.end(), p->begin(), p->end());
    std::vector<float>().swap(*p);
  }
  return out;
}

// Every product's weight packed for sgemm (decode.h: at the first batched step).
void pack_weights(Decoder& d) {
  const DecoderConfig& c = d.cfg;
  const long D = c.dim, I = c.inter, qw = long(c.heads) * c.head_dim, kvw = long(c.kv_heads) * c.head_dim;
  for (DecoderLayerWeights& w : d.layers) {
    w.pqkv = pack_b_once(w.wqkv.data(), D, qw + 2 * kvw, true);
    w.po = pack_b_once(w.wo.data(), qw, D, true);
    w.pgu = pack_b_once(w.wgu.data(), D, 2 * I, true);
    w.pd = pack_b_once(w.wd.data(), I, D, true);
  }
  d.phead = pack_b_once(c.tied ? d.embed.data() : d.head.data(), D, c.vocab, true);
  d.packed = true;
}

// A cache element from a float: itself, or its nearest half.
inline void store(float* p, float x) { *p = x; }
inline void store(uint16_t* p, float x) { *p = float_to_half(x); }

template <class T>
T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

const char* decode_isa() { return decode_use_avx2() ? "avx2+fma" : "portable"; }

void decoder_prepare(Decoder& d) {
  for (DecoderLayerWeights& w : d.layers) {
    w.wqkv = stack({&w.wq, &w.wk, &w.wv});
    w.bqkv = stack({&w.bq, &w.bk, &w.bv});  // empty without biases
    w.wgu = stack({&w.wg, &w.wu});
  }
}

void decode_step(Decoder& d, const DecodeStep& s) {
  const DecoderConfig& c = d.cfg;
  const long B = s.batch, D = c.dim, H = c.heads, Hkv = c.kv_heads, hd = c.head_dim, I = c.inter;
  const long qw = H * hd, kvw = Hkv * hd, half = hd / 2, group = H / Hkv, cap = s.capacity, S = s.past + 1;
  const long rep = s.repeats, R = B / rep, P = s.prefix;  // rows per prompt, prompts, prefix columns
  const long F = qw + 2 * kvw;        // the stacked q/k/v width
  if (B >= kGemmRows && !d.packed) pack_weights(d);
  float* x = grow(d.x, B * D);        // the residual stream [B, D]
  float* n = grow(d.n, B * D);        // its normed copy
  float* qkv = grow(d.qkv, B * F);    // [B, F]: q [H, hd], then k [Hkv, hd], then v [Hkv, hd]
  float* att = grow(d.att, B * qw);   // attention output [B, H, hd]
  float* tmp = grow(d.tmp, B * D);
  float* gu = grow(d.gu, B * 2 * I);  // [B, 2I]: gate, then up
  float* h = grow(d.h, B * I);        // silu(gate) · up [B, I]
  float* cos = grow(d.cos, B * half);
  float* sin = grow(d.sin, B * half);
  const PackedB* none = nullptr;
  auto packed = [&](const PackedB& p) { return d.packed ? &p : none; };

  for (long b = 0; b < B; b++) std::memcpy(x + b * D, d.embed.data() + long(s.tokens[b]) * D, D * sizeof(float));
  // RoPE's cos and sin at each row's position, computed once per distinct position (rows often share one).
  for (long b = 0; b < B; b++) {
    long same = 0;
    while (same < b && s.positions[same] != s.positions[b]) same++;
    if (same < b) {
      std::memcpy(cos + b * half, cos + same * half, half * sizeof(float));
      std::memcpy(sin + b * half, sin + same * half, half * sizeof(float));
      continue;
    }
    for (long j = 0; j < half; j++) {
      const double a = double(s.positions[b]) * d.inv_freq[j];  // float64, rounded once (as @vlab/rope)
      cos[b * half + j] = float(std::cos(a));
      sin[b * half + j] = float(std::sin(a));
    }
  }
  const float scale = float(1.0 / std::sqrt(double(hd)));

  for (long l = 0; l < c.layers; l++) {
    const DecoderLayerWeights& w = d.layers[l];
    rms_norm(x, w.ln1.data(), n, B, D, c.eps);
    linear(n, B, D, w.wqkv.data(), F, w.bqkv.empty() ? nullptr : w.bqkv.data(), qkv, packed(w.pqkv));
    // The layer's attention over caches of element type T (float, or uint16_t halves: decode.h).
    auto attention = [&](auto* k_all, auto* v_all, auto* pk_all, auto* pv_all) {
      using T = std::remove_pointer_t<decltype(k_all)>;
      T* kc = k_all + l * B * Hkv * hd * cap;  // this layer's own keys [B, Hkv, hd, cap]
      T* vc = v_all + l * B * Hkv * cap * hd;  // and values [B, Hkv, cap, hd]
      const T* pk = P ? pk_all + l * R * Hkv * hd * P : nullptr;  // its prefix keys [R, Hkv, hd, P]
      const T* pv = P ? pv_all + l * R * Hkv * P * hd : nullptr;  // and values [R, Hkv, P, hd]
      // One unit: the `group` query heads of one key/value head g of the `rep` rows of prompt p. RoPE on those query
      // heads and on each row's key, the new column into the row's own caches (the key into the transposed
      // [hd, cap], the value into [cap, hd]), then softmax(scale · q kᵀ over the unmasked columns of the prefix and
      // of the row) v (decode_attention.cc). A task runs kAttendChunk consecutive units, each prefetching the next's
      // prefix keys and values.
      auto unit = [&](long u, bool prefetch_next) {
        const long p = u / Hkv, g = u % Hkv, b0 = p * rep;  // u = p·Hkv + g
        thread_local std::vector<float> q;                // [n, group, hd]: the rows' query heads, gathered
        float* qn = grow(q, size_t(rep * group * hd));
        for (long i = 0; i < rep; i++) {
          const long b = b0 + i;
          float* qg = qkv + b * F + g * group * hd;
          float* kn = qkv + b * F + qw + g * hd;
          rope(qg, 1, F, group, hd, cos + b * half, sin + b * half);
          rope(kn, 1, F, 1, hd, cos + b * half, sin + b * half);
          T* kt = kc + (b * Hkv + g) * hd * cap + s.past;
          T* vn = vc + ((b * Hkv + g) * cap + s.past) * hd;
          for (long e = 0; e < hd; e++) store(kt + e * cap, kn[e]);
          for (long e = 0; e < hd; e++) store(vn + e, kn[kvw + e]);
          std::memcpy(qn + i * group * hd, qg, size_t(group * hd) * sizeof(float));
        }
        AttendRowsT<T> a;
        a.q = qn;
        a.rows = rep;
        a.group = group;
        a.hd = hd;
        if (P) {
          a.prefix = P;
          a.prefix_kt = pk + u * hd * P;
          a.prefix_v = pv + u * P * hd;
          a.prefix_mask = s.prefix_mask + p * P;
          if (prefetch_next) {
            a.next_kt = a.prefix_kt + hd * P;
            a.next_v = a.prefix_v + P * hd;
          }
        }
        a.kt = kc + (b0 * Hkv + g) * hd * cap;
        a.v = vc + (b0 * Hkv + g) * cap * hd;
        a.ld = cap;
        a.row_stride = Hkv * hd * cap;
        a.own = S;
        a.mask = s.mask + b0 * cap;
        a.mask_stride = cap;
        a.scale = scale;
        a.out = att + (b0 * H + g * group) * hd;
        a.out_stride = H * hd;
        attend_rows(a);
      };
      const long units = R * Hkv, tasks = (units + kAttendChunk - 1) / kAttendChunk;
      auto task = [&](int t) {
        const long u1 = std::min(units, (t + 1) * kAttendChunk);
        for (long u = t * kAttendChunk; u < u1; u++) unit(u, u + 1 < u1);
      };
      if (B * H * (P + S) * hd < kParallelWork || pool_threads() == 1 || tasks < 2) {
        for (long u = 0; u < units; u++) unit(u, u + 1 < units);
      } else {
        parallel_for(int(tasks), task);
      }
    };
    if (s.k_cache16) {
      attention(s.k_cache16, s.v_cache16, s.prefix_k16, s.prefix_v16);
    } else {
      attention(s.k_cache, s.v_cache, s.prefix_k, s.prefix_v);
    }
    linear(att, B, qw, w.wo.data(), D, nullptr, tmp, packed(w.po));
    for (long i = 0; i < B * D; i++) x[i] += tmp[i];

    rms_norm(x, w.ln2.data(), n, B, D, c.eps);
    linear(n, B, D, w.wgu.data(), 2 * I, nullptr, gu, packed(w.pgu));
    auto swiglu = [&](int b) { silu_mul(gu + b * 2 * I, gu + b * 2 * I + I, h + b * I, I); };
    if (B * I < kParallelElements || pool_threads() == 1) {
      for (int b = 0; b < B; b++) swiglu(b);
    } else {
      parallel_for(int(B), swiglu);
    }
    linear(h, B, I, w.wd.data(), D, nullptr, tmp, packed(w.pd));
    for (long i = 0; i < B * D; i++) x[i] += tmp[i];
  }
  rms_norm(x, d.norm.data(), n, B, D, c.eps);
  linear(n, B, D, c.tied ? d.embed.data() : d.head.data(), c.vocab, nullptr, s.logits, packed(d.phead));
}

}  // namespace vlab
