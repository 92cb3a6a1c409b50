// The blocked, packed SGEMM driver (the Goto / BLIS loop nest) behind gemm.h:
//
//   for jc in N step NC:                      B panel  [KC x NC]  packed, lives in L3
//     for pc in K step KC:
//       pack B[pc.., jc..]
//       for ic in M step MC:                  A block  [MC x KC]  packed, lives in L2
//         pack A[ic.., pc..]
//         for jr in NC step NR:               B sliver [KC x NR]  stays in L1
//           for ir in MC step MR: micro-kernel C[ir.., jr..] (+)= A sliver · B sliver
//
// Transposed operands only change how packing reads them. The bias is where the micro-kernel's sums
// start (no extra pass over C); an activation is applied to each tile right after its last K block,
// while it is still in cache.
//
// Threads (thread_pool.h): many batch entries run one per task; a single large product packs all of
// B once, shared, then hands out blocks of rows dynamically (about 4 per thread), so a core that is
// busy with something else simply takes fewer blocks.
#include "gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "microkernels.h"
#include "thread_pool.h"

namespace vlab {
namespace {

constexpr long KC = 256;
constexpr long MC = 120;   // a multiple of every kernel's MR (4, 6)
constexpr long NC = 3072;  // a multiple of every kernel's NR (16, 32)
// Below this many multiply-adds (~100 µs of work on one core) a product runs on one thread: handing
// work to a second thread costs tens of µs when it is awake, and hundreds when it has to be woken
// (thread_pool.cc) or another process holds the other core.
constexpr double kParallelMinMacs = 16.0 * (1 << 20);

const MicroKernel& kernel() {
  static const MicroKernel k = best_microkernel();
  return k;
}

// A 64-byte aligned scratch buffer per thread, grown on demand (kept for the thread's lifetime).
struct Scratch {
  std::vector<float> storage;
  float* get(size_t n) {
    if (storage.size() < n + 16) storage.resize(n + 16);
    const auto address = reinterpret_cast<std::uintptr_t>(storage.data());
    return storage.data() + ((64 - address % 64) % 64) / sizeof(float);
  }
};
thread_local Scratch pack_a_buf, pack_b_buf, shared_b_buf, bias_buf;

// Packs rows [i0, i0 + mc) x depth [p0, p0 + kc) of op(A) into MR-row slivers, zero-padded.
void pack_a(const GemmProblem& p, const float* a, long i0, long mc, long p0, long kc, int mr, float* out) {
  for (long s = 0; s < mc; s += mr) {
    const long rows = std::min<long>(mr, mc - s);
    float* dst = out + s * kc;
    if (p.trans_a) {  // A stored [K, M]: row i of op(A) is column i
      for (long k = 0; k < kc; k++) {
        const float* src = a + (p0 + k) * p.m + i0 + s;
        long r = 0;
        for (; r < rows; r++) dst[k * mr + r] = src[r];
        for (; r < mr; r++) dst[k * mr + r] = 0.f;
      }
    } else {  // A stored [M, K]
      for (long r = 0; r < rows; r++) {
        const float* src = a + (i0 + s + r) * p.k + p0;
        for (long k = 0; k < kc; k++) dst[k * mr + r] = src[k];
      }
      for (long r = rows; r < mr; r++)
        for (long k = 0; k < kc; k++) dst[k * mr + r] = 0.f;
    }
  }
}

// Packs depth [p0, p0 + kc) x columns [j0, j0 + nc) of op(B) into NR-column slivers, zero-padded.
void pack_b(const GemmProblem& p, const float* b, long p0, long kc, long j0, long nc, int nr, float* out) {
  for (long s = 0; s < nc; s += nr) {
    const long cols = std::min<long>(nr, nc - s);
    float* dst = out + s * kc;
    if (p.trans_b) {  // B stored [N, K]: column j of op(B) is row j
      for (long c = 0; c < cols; c++) {
        const float* src = b + (j0 + s + c) * p.k + p0;
        for (long k = 0; k < kc; k++) dst[k * nr + c] = src[k];
      }
      for (long c = cols; c < nr; c++)
        for (long k = 0; k < kc; k++) dst[k * nr + c] = 0.f;
    } else {  // B stored [K, N]
      for (long k = 0; k < kc; k++) {
        const float* src = b + (p0 + k) * p.n + j0 + s;
        long c = 0;
        for (; c < cols; c++) dst[k * nr + c] = src[c];
        for (; c < nr; c++) dst[k * nr + c] = 0.f;
      }
    }
  }
}

inline float activate(float x, int act, float alpha) {
  switch (act) {
    case kRelu: return x > 0.f ? x : 0.f;
    case kRelu6: return x > 0.f ? (x < 6.f ? x : 6.f) : 0.f;
    case kLeakyRelu: return x < 0.f ? alpha * x : x;
    case kSigmoid: return 1.f / (1.f + std::exp(-x));
    case kElu: return x >= 0.f ? x : std::exp(x) - 1.f;
    default: return x;
  }
}

// Bias (only when the micro-kernels did not start from it: K = 0) and activation on a finished tile:
// rows [0, rows) x columns [j, j + cols) of C.
void epilogue(const GemmProblem& p, float* c, long ldc, long rows, long j, long cols, bool add_bias) {
  const bool bias = add_bias && p.bias_mode != kNoBias;
  if (!bias && p.activation == kLinear) return;
  for (long r = 0; r < rows; r++) {
    float* row = c + r * ldc;
    if (bias && p.bias_mode == kBiasPerColumn) {
      for (long x = 0; x < cols; x++) row[x] += p.bias[j + x];
    } else if (bias) {
      const float b = p.bias[0];
      for (long x = 0; x < cols; x++) row[x] += b;
    }
    if (p.activation != kLinear)
      for (long x = 0; x < cols; x++) row[x] = activate(row[x], p.activation, p.alpha);
  }
}

// The macro-kernel: C[ic : ic+mc, jc : jc+nc] (+)= packed A block [mc x kc] · packed B [kc x nc]
// (B slivers kc·nr apart), then bias / activation on each tile if this was the last K block.
void macro_kernel(const GemmProblem& p, const float* pa, const float* pb, float* c, long ic, long mc, long jc, long nc,
                  long kc, bool first, bool last) {
  const MicroKernel& mk = kernel();
  const int mr = mk.mr, nr = mk.nr;
  const long ldc = p.n;
  alignas(64) float tile[6 * 32];  // scratch for edge tiles (mr·nr ≤ 6·32 for every kernel)
  for (long jr = 0; jr < nc; jr += nr) {
    const long cols = std::min<long>(nr, nc - jr);
    const float* bs = pb + jr * kc;
    for (long ir = 0; ir < mc; ir += mr) {
      const long rows = std::min<long>(mr, mc - ir);
      const float* as = pa + ir * kc;
      float* ct = c + (ic + ir) * ldc + jc + jr;
      const float* init = first && p.bias_row ? p.bias_row + jc + jr : nullptr;
      if (rows == mr && cols == nr) {
        mk.fn(kc, as, bs, ct, ldc, !first, init);
      } else {
        mk.fn(kc, as, bs, tile, nr, false, init);
        for (long r = 0; r < rows; r++) {
          float* dst = ct + r * ldc;
          const float* src = tile + r * nr;
          if (first) std::memcpy(dst, src, cols * sizeof(float));
          else for (long x = 0; x < cols; x++) dst[x] += src[x];
        }
      }
      if (last) epilogue(p, ct, ldc, rows, jc + jr, cols, false);
    }
  }
}

// C[i0:i1, j0:j1] of one batch entry, on the calling thread.
void gemm_block(const GemmProblem& p, const float* a, const float* b, float* c, long i0, long i1, long j0, long j1) {
  const MicroKernel& mk = kernel();
  const int mr = mk.mr, nr = mk.nr;
  const long ldc = p.n;
  if (p.k == 0) {  // empty sum: C = act(bias)
    for (long i = i0; i < i1; i++) std::fill(c + i * ldc + j0, c + i * ldc + j1, 0.f);
    epilogue(p, c + i0 * ldc + j0, ldc, i1 - i0, j0, j1 - j0, true);
    return;
  }
  float* pa = pack_a_buf.get(MC * KC);
  float* pb = pack_b_buf.get(KC * ((std::min(NC, j1 - j0) + nr - 1) / nr) * nr);
  for (long jc = j0; jc < j1; jc += NC) {
    const long nc = std::min(NC, j1 - jc);
    for (long pc = 0; pc < p.k; pc += KC) {
      const long kc = std::min(KC, p.k - pc);
      pack_b(p, b, pc, kc, jc, nc, nr, pb);
      for (long ic = i0; ic < i1; ic += MC) {
        const long mc = std::min(MC, i1 - ic);
        pack_a(p, a, ic, mc, pc, kc, mr, pa);
        macro_kernel(p, pa, pb, c, ic, mc, jc, nc, kc, pc == 0, pc + kc == p.k);
      }
    }
  }
}

// Rows of C in blocks handed out dynamically (about 4 per thread, whole micro-tiles, at most MC rows), each packing
// its own A block, against all of op(B) packed in `pb` (KC-deep blocks of npad columns). Dynamic hand-out keeps both
// cores busy even when one of them is also running something else.
void gemm_rows(const GemmProblem& p, const float* a, const float* pb, float* c, int threads) {
  const MicroKernel& mk = kernel();
  const int mr = mk.mr, nr = mk.nr;
  const long npad = (p.n + nr - 1) / nr * nr;
  const long kblocks = (p.k + KC - 1) / KC;
  long mc = (p.m + 4 * threads - 1) / (4 * threads);
  mc = std::min(MC, std::max<long>(mr, (mc + mr - 1) / mr * mr));
  const long mblocks = (p.m + mc - 1) / mc;
  auto rows = [&](int t) {
    const long ic = t * mc, rows = std::min(mc, p.m - ic);
    float* pa = pack_a_buf.get(MC * KC);
    for (long blk = 0; blk < kblocks; blk++) {
      const long pc = blk * KC, kc = std::min(KC, p.k - pc);
      pack_a(p, a, ic, rows, pc, kc, mr, pa);
      macro_kernel(p, pa, pb + blk * KC * npad, c, ic, rows, 0, p.n, kc, blk == 0, blk == kblocks - 1);
    }
  };
  if (threads <= 1 || mblocks < 2) {
    for (int t = 0; t < mblocks; t++) rows(t);
  } else {
    parallel_for(int(mblocks), rows);
  }
}

// One product on every thread, sharing one packed copy of B: all of op(B) is packed first (in
// parallel), then blocks of rows of C are handed out (gemm_rows).
void gemm_shared_b(const GemmProblem& p, const float* a, const float* b, float* c, int threads) {
  const int nr = kernel().nr;
  const long npad = (p.n + nr - 1) / nr * nr;
  const long kblocks = (p.k + KC - 1) / KC;
  float* pb = shared_b_buf.get(size_t(kblocks) * KC * npad);
  const long slivers = npad / nr;
  const long groups = std::min<long>(slivers, 2 * threads);
  parallel_for(int(kblocks * groups), [&](int t) {
    const long blk = t / groups, g = t % groups;
    const long pc = blk * KC, kc = std::min(KC, p.k - pc);
    const long s0 = g * slivers / groups, s1 = (g + 1) * slivers / groups;
    const long j0 = s0 * nr, j1 = std::min(p.n, s1 * nr);
    if (j1 > j0) pack_b(p, b, pc, kc, j0, j1 - j0, nr, pb + blk * KC * npad + j0 * kc);
  });
  gemm_rows(p, a, pb, c, threads);
}

// The bias as a row the micro-kernels start from, zero-padded to whole micro-tiles (in the calling thread's scratch).
const float* bias_row(const GemmProblem& p) {
  const long width = (p.n + 63) / 64 * 64;
  float* row = bias_buf.get(width);
  for (long j = 0; j < width; j++) row[j] = j >= p.n ? 0.f : (p.bias_mode == kBiasPerColumn ? p.bias[j] : p.bias[0]);
  return row;
}

}  // namespace

const char* sgemm_kernel_name() { return kernel().name; }

void sgemm(const GemmProblem& problem) {
  if (problem.m <= 0 || problem.n <= 0 || problem.batch <= 0) return;
  GemmProblem p = problem;
  if (p.bias_mode != kNoBias && p.k > 0) p.bias_row = bias_row(p);
  auto a_of = [&](long bi) { return p.a + (p.a_index ? p.a_index[bi] * p.m * p.k : bi * p.a_stride); };
  auto b_of = [&](long bi) { return p.b + (p.b_index ? p.b_index[bi] * p.k * p.n : bi * p.b_stride); };
  auto c_of = [&](long bi) { return p.c + bi * p.m * p.n; };

  const int threads = pool_threads();
  const double macs = double(p.m) * double(p.n) * double(std::max<long>(p.k, 1)) * double(p.batch);
  if (threads <= 1 || macs < kParallelMinMacs || p.k == 0) {
    for (long bi = 0; bi < p.batch; bi++) gemm_block(p, a_of(bi), b_of(bi), c_of(bi), 0, p.m, 0, p.n);
    return;
  }
  // Many batch entries (attention heads): one task each.
  if (p.batch >= 2 * threads) {
    parallel_for(int(p.batch), [&](int bi) { gemm_block(p, a_of(bi), b_of(bi), c_of(bi), 0, p.m, 0, p.n); });
    return;
  }
  // Few large products: each one on all threads, with B packed once (if that copy stays modest:
  // at most 16 MB, kept afterwards as the calling thread's scratch).
  const double packed_b = double(p.k) * double(p.n);
  if (packed_b <= double(1 << 22)) {
    for (long bi = 0; bi < p.batch; bi++) gemm_shared_b(p, a_of(bi), b_of(bi), c_of(bi), threads);
    return;
  }
  // Very large B: split each product into column ranges, each packing its own part of B.
  const MicroKernel& mk = kernel();
  const long tiles = (p.n + mk.nr - 1) / mk.nr;
  const long parts = std::min<long>(tiles, 2 * threads);
  const long per_part = (tiles + parts - 1) / parts * mk.nr;
  const long nparts = (p.n + per_part - 1) / per_part;
  parallel_for(int(p.batch * nparts), [&](int t) {
    const long bi = t / nparts, lo = (t % nparts) * per_part;
    gemm_block(p, a_of(bi), b_of(bi), c_of(bi), 0, p.m, lo, std::min(p.n, lo + per_part));
  });
}

PackedB pack_b_once(const float* b, long k, long n, bool trans_b) {
  const int nr = kernel().nr;
  const long npad = (n + nr - 1) / nr * nr;
  const long kblocks = (k + KC - 1) / KC;
  PackedB out;
  out.k = k;
  out.n = n;
  out.storage.assign(size_t(kblocks) * KC * npad + 16, 0.f);
  const auto address = reinterpret_cast<std::uintptr_t>(out.storage.data());
  out.offset = ((64 - address % 64) % 64) / sizeof(float);
  GemmProblem p;
  p.k = k;
  p.n = n;
  p.trans_b = trans_b;
  float* pb = out.storage.data() + out.offset;
  for (long blk = 0; blk < kblocks; blk++) {
    const long pc = blk * KC;
    pack_b(p, b, pc, std::min(KC, k - pc), 0, n, nr, pb + blk * KC * npad);
  }
  return out;
}

void sgemm_packed(const float* a, long m, const PackedB& b, const float* bias, float* c, double parallel_macs) {
  if (m <= 0 || b.n <= 0) return;
  GemmProblem p;
  p.m = m;
  p.n = b.n;
  p.k = b.k;
  p.c = c;
  if (bias) {
    p.bias = bias;
    p.bias_mode = kBiasPerColumn;
  }
  if (p.k == 0) return gemm_block(p, a, nullptr, c, 0, m, 0, p.n);
  if (bias) p.bias_row = bias_row(p);
  const double macs = double(m) * double(p.n) * double(p.k);
  gemm_rows(p, a, b.data(), c, macs < parallel_macs ? 1 : pool_threads());
}

MicroKernel best_microkernel() {
  const char* cap = std::getenv("VLAB_NATIVE_ISA");
  const bool allow512 = !cap || !*cap || std::strcmp(cap, "avx512") == 0;
  const bool allow2 = allow512 || std::strcmp(cap, "avx2") == 0;
#ifdef VLAB_X86_KERNELS
  if (allow512 && cpu_has_avx512f()) return avx512_microkernel();
  if (allow2 && cpu_has_avx2_fma()) return avx2_microkernel();
#else
  (void)allow2;
#endif
  return portable_microkernel();
}

}  // namespace vlab
