// AVX-512F micro-kernel, 6 rows x 32 columns: 12 zmm accumulators, 2 zmm for the B row, one
// broadcast of A per row. Compiled for AVX-512F through a function attribute and only called after
// cpu_has_avx512f() said yes.
#include "microkernels.h"

#ifdef VLAB_X86_KERNELS
#include <immintrin.h>

namespace vlab {
namespace {

constexpr int MR = 6;
constexpr int NR = 32;

#define VLAB_AVX512 __attribute__((target("avx512f")))

// Writes (or adds) one row of the tile.
VLAB_AVX512 inline void store_row(bool accumulate, float* row, __m512 lo, __m512 hi) {
  if (accumulate) {
    lo = _mm512_add_ps(lo, _mm512_loadu_ps(row));
    hi = _mm512_add_ps(hi, _mm512_loadu_ps(row + 16));
  }
  _mm512_storeu_ps(row, lo);
  _mm512_storeu_ps(row + 16, hi);
}

VLAB_AVX512 void kernel_6x32(long kc, const float* a, const float* b, float* c, long ldc, bool accumulate,
                                     const float* init) {
  const __m512 i0 = init ? _mm512_loadu_ps(init) : _mm512_setzero_ps();
  const __m512 i1 = init ? _mm512_loadu_ps(init + 16) : _mm512_setzero_ps();
  __m512 c00 = i0, c01 = i1;
  __m512 c10 = i0, c11 = i1;
  __m512 c20 = i0, c21 = i1;
  __m512 c30 = i0, c31 = i1;
  __m512 c40 = i0, c41 = i1;
  __m512 c50 = i0, c51 = i1;
#pragma GCC unroll 4
  for (long k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
    __m512 x;
    x = _mm512_set1_ps(a[0]); c00 = _mm512_fmadd_ps(x, b0, c00); c01 = _mm512_fmadd_ps(x, b1, c01);
    x = _mm512_set1_ps(a[1]); c10 = _mm512_fmadd_ps(x, b0, c10); c11 = _mm512_fmadd_ps(x, b1, c11);
    x = _mm512_set1_ps(a[2]); c20 = _mm512_fmadd_ps(x, b0, c20); c21 = _mm512_fmadd_ps(x, b1, c21);
    x = _mm512_set1_ps(a[3]); c30 = _mm512_fmadd_ps(x, b0, c30); c31 = _mm512_fmadd_ps(x, b1, c31);
    x = _mm512_set1_ps(a[4]); c40 = _mm512_fmadd_ps(x, b0, c40); c41 = _mm512_fmadd_ps(x, b1, c41);
    x = _mm512_set1_ps(a[5]); c50 = _mm512_fmadd_ps(x, b0, c50); c51 = _mm512_fmadd_ps(x, b1, c51);
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

bool cpu_has_avx512f() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

MicroKernel avx512_microkernel() { return {MR, NR, kernel_6x32, "avx512f 6x32"}; }

}  // namespace vlab
#endif
