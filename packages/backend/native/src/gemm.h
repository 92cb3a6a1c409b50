// Single-precision matrix multiply for tfjs's BatchMatMul and _FusedMatMul kernels:
//
//   C[b] = act(op(A[ia(b)]) · op(B[ib(b)]) + bias)     for every batch entry b
//
// with op = identity or transpose (read through the packing, never materialised), row-major
// operands, an optional bias (one per column, or a scalar) and an optional fused activation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vlab {

// Fused activations, numbered as tfjs-backend-wasm's FusableActivation.
enum Activation : int {
  kLinear = 0,
  kRelu = 1,
  kRelu6 = 2,
  kPrelu = 3,  // not handled here: the caller applies it
  kLeakyRelu = 4,
  kSigmoid = 5,
  kElu = 6,
};

enum BiasMode : int { kNoBias = 0, kBiasPerColumn = 1, kBiasScalar = 2 };

struct GemmProblem {
  long m = 0, n = 0, k = 0;
  const float* a = nullptr;  // [M, K], or [K, M] if trans_a; batch entries `a_stride` apart
  const float* b = nullptr;  // [K, N], or [N, K] if trans_b
  float* c = nullptr;        // [M, N]; batch entries m·n apart
  bool trans_a = false, trans_b = false;
  long batch = 1;
  long a_stride = 0, b_stride = 0;         // elements between batch entries (0 = broadcast)
  const int32_t* a_index = nullptr;         // optional: batch entry b reads A[a_index[b]]
  const int32_t* b_index = nullptr;         // (general broadcasting); overrides the stride
  const float* bias = nullptr;
  int bias_mode = kNoBias;
  int activation = kLinear;
  float alpha = 0;  // leaky relu slope
  // Set by sgemm() itself: the bias as a zero-padded row the micro-kernels start their sums from.
  const float* bias_row = nullptr;
};

// Computes the problem; uses the thread pool when the work is large enough.
void sgemm(const GemmProblem& p);

// op(B) [K, N] packed once into the micro-kernel's slivers, for products that reuse it with many A (a decoder's
// weights, multiplied by every step's activations). Packed for the micro-kernel chosen at load time.
struct PackedB {
  long k = 0, n = 0;
  std::vector<float> storage;  // 64-byte aligned from `offset` on
  size_t offset = 0;
  const float* data() const { return storage.data() + offset; }
};

// Packs op(B): b is [K, N], or [N, K] (PyTorch's [out, in] weight) when trans_b.
PackedB pack_b_once(const float* b, long k, long n, bool trans_b);

// C [M, N] = A [M, K] · op(B) (+ bias [N], one per column), B packed by pack_b_once. Runs on the thread pool when
// M·N·K ≥ parallel_macs (callers whose workers are already awake may ask for less than sgemm's threshold).
void sgemm_packed(const float* a, long m, const PackedB& b, const float* bias, float* c, double parallel_macs);

// Name of the micro-kernel in use (e.g. "avx2+fma 6x16").
const char* sgemm_kernel_name();

}  // namespace vlab
