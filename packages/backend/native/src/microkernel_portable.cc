// The portable micro-kernel (any CPU, any compiler), 6 rows x 8 columns. With GCC / Clang it is
// written with 4-wide vector types (SSE2 on x86-64, NEON on arm64: 12 accumulators, 2 for the B
// row, 1 broadcast); elsewhere as plain loops.
#include "microkernels.h"

namespace vlab {
namespace {

constexpr int MR = 6;
constexpr int NR = 8;

#if defined(__GNUC__) || defined(__clang__)

typedef float v4 __attribute__((vector_size(16)));

inline v4 load4(const float* p) {
  v4 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

inline void store4(float* p, v4 v) { __builtin_memcpy(p, &v, sizeof v); }

void kernel_6x8(long kc, const float* a, const float* b, float* c, long ldc, bool accumulate, const float* init) {
  const v4 i0 = init ? load4(init) : v4{}, i1 = init ? load4(init + 4) : v4{};
  v4 acc[MR][2];
  for (int i = 0; i < MR; i++) {
    acc[i][0] = i0;
    acc[i][1] = i1;
  }
  for (long k = 0; k < kc; k++) {
    const v4 b0 = load4(b), b1 = load4(b + 4);
    for (int i = 0; i < MR; i++) {
      const v4 ai = {a[i], a[i], a[i], a[i]};
      acc[i][0] += ai * b0;
      acc[i][1] += ai * b1;
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; i++) {
    float* row = c + i * ldc;
    if (accumulate) {
      acc[i][0] += load4(row);
      acc[i][1] += load4(row + 4);
    }
    store4(row, acc[i][0]);
    store4(row + 4, acc[i][1]);
  }
}

#else

void kernel_6x8(long kc, const float* a, const float* b, float* c, long ldc, bool accumulate, const float* init) {
  float acc[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i][j] = init ? init[j] : 0.f;
  for (long k = 0; k < kc; k++) {
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0.f) + acc[i][j];
}

#endif

}  // namespace

MicroKernel portable_microkernel() { return {MR, NR, kernel_6x8, "portable 6x8"}; }

}  // namespace vlab
