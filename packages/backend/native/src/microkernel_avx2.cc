// AVX2 + FMA micro-kernel, 6 rows x 16 columns: 12 ymm accumulators, 2 ymm for the B row, one
// broadcast of A per row. Compiled for AVX2 through a function attribute (the rest of the addon
// stays baseline x86-64) and only called after cpu_has_avx2_fma() said yes.
#include "microkernels.h"

#ifdef VLAB_X86_KERNELS
#include <immintrin.h>

namespace vlab {
namespace {

constexpr int MR = 6;
constexpr int NR = 16;

#define VLAB_AVX2 __attribute__((target("avx2,fma")))

// Writes (or adds) one row of the tile.
VLAB_AVX2 inline void store_row(bool accumulate, float* row, __m256 lo, __m256 hi) {
  if (accumulate) {
    lo = _mm256_add_ps(lo, _mm256_loadu_ps(row));
    hi = _mm256_add_ps(hi, _mm256_loadu_ps(row + 8));
  }
  _mm256_storeu_ps(row, lo);
  _mm256_storeu_ps(row + 8, hi);
}

VLAB_AVX2 void kernel_6x16(long kc, const float* a, const float* b, float* c, long ldc, bool accumulate,
                                     const float* init) {
  const __m256 i0 = init ? _mm256_loadu_ps(init) : _mm256_setzero_ps();
  const __m256 i1 = init ? _mm256_loadu_ps(init + 8) : _mm256_setzero_ps();
  __m256 c00 = i0, c01 = i1;
  __m256 c10 = i0, c11 = i1;
  __m256 c20 = i0, c21 = i1;
  __m256 c30 = i0, c31 = i1;
  __m256 c40 = i0, c41 = i1;
  __m256 c50 = i0, c51 = i1;
#pragma GCC unroll 4
  for (long k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    __m256 x;
    x = _mm256_broadcast_ss(a + 0); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
    a += MR;
    b += NR;
  }
  store_row(accumulate, c + 0 * ldc, c00, c01);
  store_row(accumulate, c + 1 * ldc, c10, c11);
  store_row(accumulate, c + 2 * ldc, c20, c21);
  store_row(accumulate, c + 3 * ldc, c30, c31);
  store_row(accumulate, c + 4 * ldc, c40, c41);
  store_row(accumulate, c + 5 * ldc, c50, c51);
}

}  // namespace

bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

MicroKernel avx2_microkernel() { return {MR, NR, kernel_6x16, "avx2+fma 6x16"}; }

}  // namespace vlab
#endif
