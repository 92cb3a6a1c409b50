// The attention of one decoding step over the key/value caches (decode_attention.cc), for decode.cc.
//
// One call handles the `group` query heads of each of `rows` rows that share one key/value head (grouped-query
// attention, Ainslie et al. 2023, "GQA", §2.2: query head h reads key/value head h / group), so that each cached key
// and value is read once per step rather than once per query head:
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
//
// The columns a row attends over come in two segments: a prefix (the prompt's columns, which the `rows` rows of one
// prompt share when its completions are decoded together: generate's numReturnSequences) and the row's own columns
// (what it generated, the new one included). The scores, the softmax and the weighted sum run over the prefix's
// columns and then the row's, in that order, with the same operations as over one concatenated row; the prefix's
// keys and values are read once for all the rows' heads.
template <class T>
struct AttendRowsT {
  const float* q = nullptr;    // [rows, group, hd]: the query heads of `rows` rows, already rotated
  long rows = 1, group = 1, hd = 0;
  // The shared prefix (prefix = 0: none): keys transposed [hd, prefix], values [prefix, hd], mask [prefix].
  const T* prefix_kt = nullptr;
  const T* prefix_v = nullptr;
  const uint8_t* prefix_mask = nullptr;
  long prefix = 0;
  // Each row's own columns: row i's keys transposed [hd, ld] at kt + i·row_stride, values [ld, hd] at v + i·row_stride,
  // mask [own] at mask + i·mask_stride; `own` columns are attended over (the new one included).
  const T* kt = nullptr;
  const T* v = nullptr;
  long ld = 0, row_stride = 0, own = 0;
  const uint8_t* mask = nullptr;
  long mask_stride = 0;
  float scale = 1.0f;          // 1 / √hd
  float* out = nullptr;        // row i's [group, hd] at out + i·out_stride
  long out_stride = 0;
  // Optional: the next call's prefix keys and values (same layouts), prefetched while this one computes. A batch's
  // caches are far larger than L2, so without this every call first waits for its own cache lines.
  const T* next_kt = nullptr;
  const T* next_v = nullptr;
};
using AttendRows = AttendRowsT<float>;
using AttendRowsHalf = AttendRowsT<uint16_t>;

void attend_rows(const AttendRows& a);
void attend_rows(const AttendRowsHalf& a);

}  // namespace vlab
