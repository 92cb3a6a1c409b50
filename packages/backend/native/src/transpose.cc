// Transpose (permute axes) of a row-major tensor of 4-byte elements. When the last axis stays last
// (attention's [B, T, H, hd] ↔ [B, H, T, hd]) whole runs of hd elements are copied with memcpy;
// otherwise element by element. The output is walked in order; the input offset advances by the
// permuted strides, with an odometer over the output's outer axes.
#include <cstring>
#include <vector>

#include "elementwise.h"

namespace vlab {
namespace {

// Output rows [lo, hi) (a row = the last output axis).
void transpose_rows(const uint32_t* x, uint32_t* y, const std::vector<long>& out_shape, const std::vector<long>& src_stride,
                    long lo, long hi) {
  const int rank = int(out_shape.size());
  const long inner = out_shape[rank - 1];
  const long inner_stride = src_stride[rank - 1];
  std::vector<long> idx(rank - 1, 0);
  long src = 0;
  {  // position of row `lo`
    long rest = lo;
    for (int d = rank - 2; d >= 0; d--) {
      idx[d] = rest % out_shape[d];
      rest /= out_shape[d];
      src += idx[d] * src_stride[d];
    }
  }
  for (long r = lo; r < hi; r++) {
    uint32_t* dst = y + r * inner;
    if (inner_stride == 1) {
      std::memcpy(dst, x + src, size_t(inner) * sizeof(uint32_t));
    } else {
      for (long j = 0; j < inner; j++) dst[j] = x[src + j * inner_stride];
    }
    for (int d = rank - 2; d >= 0; d--) {  // odometer
      src += src_stride[d];
      if (++idx[d] < out_shape[d]) break;
      src -= out_shape[d] * src_stride[d];
      idx[d] = 0;
    }
  }
}

}  // namespace

void transpose(const uint32_t* x, uint32_t* y, const long* shape, const int* perm, int rank) {
  if (rank == 0) {
    y[0] = x[0];
    return;
  }
  std::vector<long> in_stride(rank, 1), out_shape(rank), src_stride(rank);
  for (int d = rank - 2; d >= 0; d--) in_stride[d] = in_stride[d + 1] * shape[d + 1];
  long total = 1;
  for (int d = 0; d < rank; d++) {
    out_shape[d] = shape[perm[d]];
    src_stride[d] = in_stride[perm[d]];
    total *= out_shape[d];
  }
  if (total == 0) return;
  const long rows = total / out_shape[rank - 1];
  parallel_chunks(rows, [&](long lo, long hi) { transpose_rows(x, y, out_shape, src_stride, lo, hi); },
                  (1 << 15) / std::max<long>(out_shape[rank - 1], 1) + 1);
}

}  // namespace vlab
