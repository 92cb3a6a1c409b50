// The attention of one decoding step for the query heads that share a key/value head: see decode_attention.h for
// the equations.
//
// Layouts: the keys of one (row, key/value head) are cached transposed, kt [hd, ld], so the scores of a query over
// all S columns are S/8 vectors built up over the hd key rows; the values are [ld, hd], so the output is hd/8
// vectors built up over the S columns. Both products are register-tiled (AVX2 + FMA): a tile of R query heads x
// NB vectors of columns (scores) or R heads x NV vectors of the head width (output) stays in registers for the whole
// sum, and each key or value vector loaded serves the R heads. Without AVX2 (or with hd not a multiple of 8) the
// portable loops below compute the same sums one head at a time.
//
// At a large batch the caches (16 MB for 64 rows of 256 columns of the reference model) stream from memory every
// step, so a call also prefetches the next call's keys and values as it goes (next_kt, next_v), and the caches may
// hold IEEE halves (half the bytes): the tiles then widen 8 halves to floats as they load them (F16C), and the sums
// are the float ones on those values.
//
// When the rows of one prompt share its prefix (decode_attention.h), the prefix's scores are computed for all their
// heads in one pass over its keys, and each output tile sums the prefix's values and then the row's own: the same
// operations in the same order as over one row holding both, so sharing changes no number. Without AVX2 each row's
// two segments are copied into one block first.
#include "decode_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "half.h"
#include "microkernels.h"
#include "vmath.h"

#ifdef VLAB_X86_KERNELS
#include <immintrin.h>
#define VLAB_AVX2 __attribute__((target("avx2,fma,f16c")))  // F16C only for the half-precision caches
// The tiles' loops over heads and vectors run fully unrolled, so that their accumulators live in registers.
#define VLAB_UNROLL _Pragma("GCC unroll 16")
#endif

namespace vlab {
namespace {

constexpr int kLanes = 16;  // independent partial maxima and sums in the softmax reductions

// Floats of scratch one query head needs for S columns (S rounded up to whole vectors).
inline long attend_scratch(long S) { return (S + 7) / 8 * 8; }

// The portable loops' problem: the `group` heads of one row over S contiguous columns.
struct AttendGroup {
  const float* q = nullptr;       // [group, hd]
  long group = 1, hd = 0;
  const float* kt = nullptr;      // [hd, ld]: keys transposed
  const float* v = nullptr;       // [ld, hd]
  long ld = 0, S = 0;
  const uint8_t* mask = nullptr;  // [S]
  float scale = 1.0f;
  float* scratch = nullptr;       // group · attend_scratch(S) floats
  float* out = nullptr;           // [group, hd]
};

// p[j] ← exp(scale · p[j] − max) where mask[j], else 0, for j < S; returns Σ_j p[j], or 0 when every column is masked
// (then p is left undefined).
VLAB_VECTORISED float softmax_numerators(float* p, const uint8_t* mask, long S, float scale) {
  for (long j = 0; j < S; j++) p[j] = mask[j] ? scale * p[j] : -INFINITY;
  float acc[kLanes];
  for (int l = 0; l < kLanes; l++) acc[l] = -INFINITY;
  long j = 0;
  for (; j + kLanes <= S; j += kLanes)
    for (int l = 0; l < kLanes; l++) acc[l] = p[j + l] > acc[l] ? p[j + l] : acc[l];
  float mx = -INFINITY;
  for (int l = 0; l < kLanes; l++) mx = acc[l] > mx ? acc[l] : mx;
  for (; j < S; j++) mx = p[j] > mx ? p[j] : mx;
  if (mx == -INFINITY) return 0.0f;
  float sum[kLanes] = {};
  j = 0;
  for (; j + kLanes <= S; j += kLanes)
    for (int l = 0; l < kLanes; l++) {
      const float e = vexp(p[j + l] - mx);  // a masked column: vexp(−∞) = 0
      p[j + l] = e;
      sum[l] += e;
    }
  float s = 0.0f;
  for (int l = 0; l < kLanes; l++) s += sum[l];
  for (; j < S; j++) {
    p[j] = vexp(p[j] - mx);
    s += p[j];
  }
  return s;
}

#ifdef VLAB_X86_KERNELS
// vmath.h's vexp on 8 lanes, operation for operation (each product and sum rounded, as there).
VLAB_AVX2 inline __m256 vexp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3f), magic = _mm256_set1_ps(12582912.f);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.7f));
  const __m256 n = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), magic), magic);
  __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693145751953125f)));
  r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(1.42860682030941723212e-6f)));
  __m256 p = _mm256_set1_ps(1.f / 720.f);
  for (const float c : {1.f / 120.f, 1.f / 24.f, 1.f / 6.f, 0.5f, 1.f, 1.f})
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(c));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LE_OQ), y);  // 0 at and below −87.3
}

// softmax_numerators on 8 lanes (the compiler's own vectorisation of it keeps the maximum scalar).
VLAB_AVX2 float softmax_numerators_avx2(float* p, const uint8_t* mask, long S, float scale) {
  const __m256 minus_inf = _mm256_set1_ps(-INFINITY), k = _mm256_set1_ps(scale);
  __m256 mx8 = minus_inf;
  long j = 0;
  for (; j + 8 <= S; j += 8) {
    const __m256i m = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mask + j)));
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(m, _mm256_setzero_si256()));
    const __m256 z = _mm256_blendv_ps(minus_inf, _mm256_mul_ps(k, _mm256_loadu_ps(p + j)), keep);
    _mm256_storeu_ps(p + j, z);
    mx8 = _mm256_max_ps(mx8, z);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, mx8);
  float mx = -INFINITY;
  for (float v : lanes) mx = v > mx ? v : mx;
  for (long t = j; t < S; t++) {
    p[t] = mask[t] ? scale * p[t] : -INFINITY;
    mx = p[t] > mx ? p[t] : mx;
  }
  if (mx == -INFINITY) return 0.0f;
  const __m256 m8 = _mm256_set1_ps(mx);
  __m256 sum8 = _mm256_setzero_ps();
  for (j = 0; j + 8 <= S; j += 8) {
    const __m256 e = vexp8(_mm256_sub_ps(_mm256_loadu_ps(p + j), m8));
    _mm256_storeu_ps(p + j, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  _mm256_store_ps(lanes, sum8);
  float s = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  for (; j < S; j++) {
    p[j] = vexp(p[j] - mx);
    s += p[j];
  }
  return s;
}
#endif

// The softmax of each of `rows` score rows (sp apart) in place, unnormalised; inv[r] = 1 / Σ_j w[r, j].
void softmax_rows(float* p, long sp, long rows, const uint8_t* mask, long S, float scale, float* inv) {
  for (long r = 0; r < rows; r++) {
    float* pr = p + r * sp;
#ifdef VLAB_X86_KERNELS
    const float s = decode_use_avx2() ? softmax_numerators_avx2(pr, mask, S, scale)
                                      : softmax_numerators(pr, mask, S, scale);
#else
    const float s = softmax_numerators(pr, mask, S, scale);
#endif
    if (s > 0.0f) {
      inv[r] = 1.0f / s;
    } else {  // every column masked: uniform weights
      std::fill(pr, pr + S, 1.0f);
      inv[r] = 1.0f / float(S);
    }
  }
}

// ----- portable: one head at a time ----------------------------------------------------------------

// p[j] = Σ_e q[e] · kt[e, j] for j < n; four key rows per pass over p.
VLAB_VECTORISED void scores_portable(const float* __restrict__ q, const float* __restrict__ kt, long ld, long hd,
                                     float* __restrict__ p, long n) {
  for (long j = 0; j < n; j++) p[j] = 0.0f;
  long e = 0;
  for (; e + 4 <= hd; e += 4) {
    const float q0 = q[e], q1 = q[e + 1], q2 = q[e + 2], q3 = q[e + 3];
    const float *r0 = kt + e * ld, *r1 = r0 + ld, *r2 = r1 + ld, *r3 = r2 + ld;
    for (long j = 0; j < n; j++) p[j] += (q0 * r0[j] + q1 * r1[j]) + (q2 * r2[j] + q3 * r3[j]);
  }
  for (; e < hd; e++)
    for (long j = 0; j < n; j++) p[j] += q[e] * kt[e * ld + j];
}

// out[e] = inv · Σ_j p[j] · v[j, e] over n columns of values [n, hd]; four columns per update of out.
VLAB_VECTORISED void weighted_sum_portable(const float* __restrict__ p, const float* __restrict__ v, long n, long hd,
                                           float inv, float* __restrict__ out) {
  for (long e = 0; e < hd; e++) out[e] = 0.0f;
  long j = 0;
  for (; j + 4 <= n; j += 4) {
    const float p0 = p[j], p1 = p[j + 1], p2 = p[j + 2], p3 = p[j + 3];
    const float *v0 = v + j * hd, *v1 = v0 + hd, *v2 = v1 + hd, *v3 = v2 + hd;
    for (long e = 0; e < hd; e++) out[e] += (p0 * v0[e] + p1 * v1[e]) + (p2 * v2[e] + p3 * v3[e]);
  }
  for (; j < n; j++)
    for (long e = 0; e < hd; e++) out[e] += p[j] * v[j * hd + e];
  for (long e = 0; e < hd; e++) out[e] *= inv;
}

void attend_portable(const AttendGroup& a, long sp) {
  float inv[1];
  for (long r = 0; r < a.group; r++) {
    float* p = a.scratch + r * sp;
    scores_portable(a.q + r * a.hd, a.kt, a.ld, a.hd, p, a.S);
    softmax_rows(p, sp, 1, a.mask, a.S, a.scale, inv);
    weighted_sum_portable(p, a.v, a.S, a.hd, inv[0], a.out + r * a.hd);
  }
}

// ----- AVX2 + FMA: register tiles over the heads of the group --------------------------------------

#ifdef VLAB_X86_KERNELS
// The 64-byte line holding *p, into every cache level; elements a line holds.
template <class T>
inline void prefetch(const T* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
}
template <class T>
constexpr long kLine = 64 / long(sizeof(T));

// 8 cache elements as floats: all 8, or the first n < 8 (`lanes` = lanes i < n; the others 0).
VLAB_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
VLAB_AVX2 inline __m256 load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
VLAB_AVX2 inline __m256 load_first(const float* p, long n, __m256i lanes) {
  return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes);
}
VLAB_AVX2 inline __m256 load_first(const uint16_t* p, long n, __m256i) {
  if (n >= 8) return load8(p);
  alignas(16) uint16_t part[8] = {};
  std::memcpy(part, p, size_t(n) * sizeof(uint16_t));
  return load8(part);
}

// p[r, j0 + 8b + i] = Σ_e q[r, e] · kt[e, j0 + 8b + i] for r < R, b < NB, i < 8. With NB = 1 only the first n
// columns are read (lanes = lanes i < n; the other lanes' scores are 0 and unused).
template <int R, int NB, class T>
VLAB_AVX2 void scores_tile(const float* q, long hd, const T* kt, long ld, long j0, float* p, long sp, long n,
                           __m256i lanes) {
  __m256 acc[R][NB];
  VLAB_UNROLL for (int r = 0; r < R; r++)
    VLAB_UNROLL for (int b = 0; b < NB; b++) acc[r][b] = _mm256_setzero_ps();
  for (long e = 0; e < hd; e++) {
    const T* k = kt + e * ld + j0;
    __m256 kv[NB];
    VLAB_UNROLL for (int b = 0; b < NB; b++) kv[b] = NB == 1 ? load_first(k, n, lanes) : load8(k + 8 * b);
    VLAB_UNROLL for (int r = 0; r < R; r++) {
      const __m256 qe = _mm256_broadcast_ss(q + r * hd + e);
      VLAB_UNROLL for (int b = 0; b < NB; b++) acc[r][b] = _mm256_fmadd_ps(qe, kv[b], acc[r][b]);
    }
  }
  VLAB_UNROLL for (int r = 0; r < R; r++)
    VLAB_UNROLL for (int b = 0; b < NB; b++) _mm256_storeu_ps(p + r * sp + j0 + 8 * b, acc[r][b]);
}

// The scores of R heads over all S columns: tiles of NB vectors, then single (the last one partial) vectors. Each
// tile prefetches the same columns of `next` (the next call's keys, or null), one 64-byte line at a time.
template <int R, int NB, class T>
VLAB_AVX2 void scores_heads(const float* q, long hd, const T* kt, long ld, long S, float* p, long sp, const T* next) {
  const __m256i all = _mm256_set1_epi32(-1);
  long j = 0;
  for (; j + 8 * NB <= S; j += 8 * NB) {
    if (next)
      for (long e = 0; e < hd; e++)
        for (long o = 0; o < 8 * NB; o += kLine<T>) prefetch(next + e * ld + j + o);
    scores_tile<R, NB>(q, hd, kt, ld, j, p, sp, 8 * NB, all);
  }
  for (; j < S; j += 8) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(S - j)), lane);  // lanes j + i < S
    scores_tile<R, 1>(q, hd, kt, ld, j, p, sp, S - j, tail);
  }
}

// out[r, e0 + 8c + i] = inv[r] · Σ_j p[r, j] · v[j, e0 + 8c + i] for r < R, c < NV, i < 8, the columns j of the first
// segment (v1, S1 columns) then the second's (v2, S2, at p[r, S1 + j]) in one sum; prefetches the first segment's
// values of `next` (the next call's, or null).
template <int R, int NV, class T>
VLAB_AVX2 void output_tile(const float* p, long sp, const T* v1, long S1, const T* v2, long S2, long hd, long e0,
                           const float* inv, float* out, const T* next) {
  __m256 acc[R][NV];
  VLAB_UNROLL for (int r = 0; r < R; r++)
    VLAB_UNROLL for (int c = 0; c < NV; c++) acc[r][c] = _mm256_setzero_ps();
  auto add = [&](const T* v, long S, long j0, const T* nx) VLAB_AVX2 {
    for (long j = 0; j < S; j++) {
      const T* vj = v + j * hd + e0;
      if (nx)
        for (long o = 0; o < 8 * NV; o += kLine<T>) prefetch(nx + j * hd + e0 + o);
      __m256 vv[NV];
      VLAB_UNROLL for (int c = 0; c < NV; c++) vv[c] = load8(vj + 8 * c);
      VLAB_UNROLL for (int r = 0; r < R; r++) {
        const __m256 w = _mm256_broadcast_ss(p + r * sp + j0 + j);
        VLAB_UNROLL for (int c = 0; c < NV; c++) acc[r][c] = _mm256_fmadd_ps(w, vv[c], acc[r][c]);
      }
    }
  };
  add(v1, S1, 0, next);
  add(v2, S2, S1, nullptr);
  VLAB_UNROLL for (int r = 0; r < R; r++) {
    const __m256 k = _mm256_set1_ps(inv[r]);
    VLAB_UNROLL for (int c = 0; c < NV; c++) _mm256_storeu_ps(out + r * hd + e0 + 8 * c, _mm256_mul_ps(acc[r][c], k));
  }
}

// The output of R heads (R ≤ 2) over the head width, in chunks of up to 4 vectors (hd is a multiple of 8).
template <int R, class T>
VLAB_AVX2 void output_heads(const float* p, long sp, const T* v1, long S1, const T* v2, long S2, long hd,
                            const float* inv, float* out, const T* next) {
  long e = 0;
  for (; e + 32 <= hd; e += 32) output_tile<R, 4>(p, sp, v1, S1, v2, S2, hd, e, inv, out, next);
  switch ((hd - e) / 8) {
    case 3: output_tile<R, 3>(p, sp, v1, S1, v2, S2, hd, e, inv, out, next); break;
    case 2: output_tile<R, 2>(p, sp, v1, S1, v2, S2, hd, e, inv, out, next); break;
    case 1: output_tile<R, 1>(p, sp, v1, S1, v2, S2, hd, e, inv, out, next); break;
    default: break;
  }
}

// The scores of `heads` heads (q [heads, hd]) over S columns of kt [hd, ld] into p (rows sp apart): up to 4 heads a
// tile (R x NB ≤ 8 accumulators); the first tile's columns prefetch `next`'s.
template <class T>
VLAB_AVX2 void scores_all(const float* q, long heads, long hd, const T* kt, long ld, long S, float* p, long sp,
                          const T* next) {
  for (long r = 0; r < heads;) {
    const float* qr = q + r * hd;
    float* pr = p + r * sp;
    const T* nx = r == 0 ? next : nullptr;
    switch (std::min<long>(heads - r, 4)) {
      case 1: scores_heads<1, 8>(qr, hd, kt, ld, S, pr, sp, nx), r += 1; break;
      case 2: scores_heads<2, 4>(qr, hd, kt, ld, S, pr, sp, nx), r += 2; break;
      case 3: scores_heads<3, 2>(qr, hd, kt, ld, S, pr, sp, nx), r += 3; break;
      default: scores_heads<4, 2>(qr, hd, kt, ld, S, pr, sp, nx), r += 4; break;
    }
  }
}

template <class T>
void attend_rows_avx2(const AttendRowsT<T>& a) {
  const long P = a.prefix, S = P + a.own, heads = a.rows * a.group;
  // A row of weights: the prefix's scores, then the row's own from column P on; the last vector of each segment is
  // stored whole, so the row is P plus the own columns rounded up to whole vectors, itself rounded up.
  const long sp = attend_scratch(P + attend_scratch(a.own));
  thread_local std::vector<float> scratch;
  thread_local std::vector<uint8_t> mask;
  if (scratch.size() < size_t(heads * sp)) scratch.resize(size_t(heads * sp));
  if (mask.size() < size_t(S)) mask.resize(size_t(S));
  float* p = scratch.data();
  // Scores: the prefix's for every row's heads at once (its keys read once), then each row's own columns.
  if (P > 0) scores_all(a.q, heads, a.hd, a.prefix_kt, P, P, p, sp, a.next_kt);
  for (long i = 0; i < a.rows; i++)
    scores_all(a.q + i * a.group * a.hd, a.group, a.hd, a.kt + i * a.row_stride, a.ld, a.own, p + i * a.group * sp + P,
               sp, static_cast<const T*>(nullptr));
  if (P > 0) std::memcpy(mask.data(), a.prefix_mask, size_t(P));
  constexpr long kMaxGroup = 64;
  float inv[kMaxGroup];
  for (long i = 0; i < a.rows; i++) {
    std::memcpy(mask.data() + P, a.mask + i * a.mask_stride, size_t(a.own));
    const T* own_v = a.v + i * a.row_stride;
    for (long r0 = 0; r0 < a.group; r0 += kMaxGroup) {
      const long n = std::min(kMaxGroup, a.group - r0);
      float* pr = p + (i * a.group + r0) * sp;
      softmax_rows(pr, sp, n, mask.data(), S, a.scale, inv);
      // Output: two heads a tile (2 x 4 accumulators); the first row's first tile prefetches the next call's values.
      for (long r = 0; r < n; r += 2) {
        float* out = a.out + i * a.out_stride + (r0 + r) * a.hd;
        const T* next = i == 0 && r0 + r == 0 ? a.next_v : nullptr;
        if (r + 2 <= n) output_heads<2>(pr + r * sp, sp, a.prefix_v, P, own_v, a.own, a.hd, inv + r, out, next);
        else output_heads<1>(pr + r * sp, sp, a.prefix_v, P, own_v, a.own, a.hd, inv + r, out, next);
      }
    }
  }
}
#endif

inline float to_float(float x) { return x; }
inline float to_float(uint16_t x) { return half_to_float(x); }

// Portable (and half-precision caches without F16C): each row's columns copied as floats into one [hd, S] key block
// and one [S, hd] value block, prefix first, then attend_portable over them.
template <class T>
void attend_rows_portable(const AttendRowsT<T>& a) {
  const long P = a.prefix, S = P + a.own, hd = a.hd, sp = attend_scratch(S);
  thread_local std::vector<float> kf, vf, scratch;
  thread_local std::vector<uint8_t> mask;
  kf.resize(size_t(hd * S));
  vf.resize(size_t(S * hd));
  scratch.resize(size_t(a.group * sp));
  mask.resize(size_t(S));
  if (P > 0) std::memcpy(mask.data(), a.prefix_mask, size_t(P));
  for (long i = 0; i < a.rows; i++) {
    const T* kt = a.kt + i * a.row_stride;
    const T* v = a.v + i * a.row_stride;
    for (long e = 0; e < hd; e++) {
      for (long j = 0; j < P; j++) kf[e * S + j] = to_float(a.prefix_kt[e * P + j]);
      for (long j = 0; j < a.own; j++) kf[e * S + P + j] = to_float(kt[e * a.ld + j]);
    }
    for (long x = 0; x < P * hd; x++) vf[x] = to_float(a.prefix_v[x]);
    for (long x = 0; x < a.own * hd; x++) vf[P * hd + x] = to_float(v[x]);
    std::memcpy(mask.data() + P, a.mask + i * a.mask_stride, size_t(a.own));
    AttendGroup f;
    f.q = a.q + i * a.group * hd;
    f.group = a.group;
    f.hd = hd;
    f.kt = kf.data();
    f.v = vf.data();
    f.ld = S;
    f.S = S;
    f.mask = mask.data();
    f.scale = a.scale;
    f.scratch = scratch.data();
    f.out = a.out + i * a.out_stride;
    attend_portable(f, sp);
  }
}

}  // namespace

void attend_rows(const AttendRows& a) {
#ifdef VLAB_X86_KERNELS
  if (decode_use_avx2() && a.hd % 8 == 0) return attend_rows_avx2(a);
#endif
  attend_rows_portable(a);
}

void attend_rows(const AttendRowsHalf& a) {
#ifdef VLAB_X86_KERNELS
  static const bool f16c = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("f16c");
  }();
  if (decode_use_avx2() && f16c && a.hd % 8 == 0) return attend_rows_avx2(a);
#endif
  attend_rows_portable(a);
}

}  // namespace vlab
