// The attention of one decoding step over the key/value caches (decode_attention.cc), for decode.cc.
//
// One call handles the `group` query heads of one row that share one key/value head (grouped-query attention,
// Ainslie et al. 2023, "GQA", §2.2: query head h reads key/value head h / group), so that each cached key and value
// is read once per step rather than once per query head:
//
//   s[r, j]   = q[r] · K[:, j]                                   r < group, j < S, over the transposed keys
//   w[r, j]   = exp(scale · s[r, j] − max_j′) / Σ_j′ exp(…)      over the columns j with mask[j] = 1 (others 0)
//   out[r, :] = Σ_j w[r, j] · V[j, :]
//
// When every column is masked, the weights are uniform (1/S): what softmax gives under an additive −1e9 mask, the
// tfjs path's, where every masked score rounds to the same −1e9.
#pragma once

#include <cstdint>

namespace vlab {

// Whether the decoder's AVX2 + FMA code runs (the CPU has it and VLAB_NATIVE_ISA is not "portable").
bool decode_use_avx2();

// T: the caches' element type, float or uint16_t (IEEE half, half.h: the optional half-precision cache).
template <class T>
struct AttendGroupT {
  const float* q = nullptr;    // [group, hd] query heads, already rotated
  long group = 1, hd = 0;
  const T* kt = nullptr;       // [hd, ld]: keys transposed (column j of a row is key j)
  const T* v = nullptr;        // [ld, hd]: values
  long ld = 0;                 // the caches' capacity
  long S = 0;                  // columns to attend over (the new one included)
  const uint8_t* mask = nullptr;  // [S]: 1 = attend
  float scale = 1.0f;             // 1 / √hd
  float* scratch = nullptr;    // at least group · attend_scratch(S) floats
  float* out = nullptr;        // [group, hd]
  // Optional: the next call's keys and values (same layouts), prefetched while this one computes. A batch's caches
  // are far larger than L2, so without this every call first waits for its own cache lines.
  const T* next_kt = nullptr;
  const T* next_v = nullptr;
};
using AttendGroup = AttendGroupT<float>;
using AttendGroupHalf = AttendGroupT<uint16_t>;

// Floats of scratch one query head needs for S columns (S rounded up to whole vectors).
inline long attend_scratch(long S) { return (S + 7) / 8 * 8; }

void attend_group(const AttendGroup& a);
void attend_group(const AttendGroupHalf& a);

}  // namespace vlab
