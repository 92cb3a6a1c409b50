// SGEMM micro-kernels: C[mr x nr] (+)= A_packed[kc x mr] * B_packed[kc x nr], the innermost loop of
// the blocked matrix multiply in gemm.cc. When not accumulating, the sums may start from `init`
// (nr values, the same for every row: a bias) instead of zero. A is packed as kc groups of `mr` values (one per row),
// B as kc groups of `nr` values (one per column), both 64-byte aligned and zero-padded at the edges,
// so a kernel never checks bounds: the driver hands edge tiles a scratch C and copies the valid part.
//
// One kernel is chosen at load time from what the CPU supports (checked at run time, so one binary
// runs everywhere): AVX-512 (6x32), AVX2 + FMA (6x16), or portable C++ (6x8, 4-wide vectors).
#pragma once

// x86-64 kernels need GCC / Clang (target attributes, __builtin_cpu_supports).
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define VLAB_X86_KERNELS 1
#endif

namespace vlab {

using MicroKernelFn = void (*)(long kc, const float* a, const float* b, float* c, long ldc, bool accumulate,
                              const float* init);

struct MicroKernel {
  int mr;  // rows of C per call
  int nr;  // columns of C per call
  MicroKernelFn fn;
  const char* name;
};

MicroKernel portable_microkernel();
#ifdef VLAB_X86_KERNELS
bool cpu_has_avx2_fma();
bool cpu_has_avx512f();
MicroKernel avx2_microkernel();
MicroKernel avx512_microkernel();
#endif

// The fastest kernel this CPU runs; `VLAB_NATIVE_ISA` (avx512, avx2, portable) caps the choice.
MicroKernel best_microkernel();

}  // namespace vlab
