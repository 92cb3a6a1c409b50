// Column sums of a [rows, cols] matrix, the gradient of a bias added to every row. Accumulates in
// double (the rows can number in the thousands); with several threads each sums a block of rows
// and the partial sums are added at the end.
#include <vector>

#include "elementwise.h"
#include "vmath.h"

namespace vlab {
namespace {

VLAB_VECTORISED void add_rows(const float* x, double* acc, long rows, long cols) {
  for (long r = 0; r < rows; r++) {
    const float* row = x + r * cols;
    for (long c = 0; c < cols; c++) acc[c] += double(row[c]);
  }
}

}  // namespace

void column_sum(const float* x, float* out, long rows, long cols) {
  const bool parallel = pool_threads() > 1 && rows * cols >= (1 << 16) && rows >= 2;
  const long chunks = parallel ? std::min<long>(pool_threads(), rows) : 1;
  const long per = (rows + chunks - 1) / chunks;
  std::vector<double> partial(size_t(chunks) * size_t(cols), 0.0);
  auto run = [&](int t) {
    const long lo = t * per, hi = std::min(rows, lo + per);
    if (hi > lo) add_rows(x + lo * cols, partial.data() + size_t(t) * cols, hi - lo, cols);
  };
  if (parallel) parallel_for(int(chunks), run);
  else run(0);
  for (long c = 0; c < cols; c++) {
    double s = 0.0;
    for (long t = 0; t < chunks; t++) s += partial[size_t(t) * cols + c];
    out[c] = float(s);
  }
}

}  // namespace vlab
