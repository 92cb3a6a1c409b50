// The N-API surface of vlab_native.node (C API only, no node-addon-api dependency):
//
//   matmul(a, b, out, bias, m, n, k, transA, transB, batch, aStride, bStride,
//          activation, alpha, aIndex, bIndex)                    -> undefined
//   gelu(x, y) / geluGrad(x, dy, dx)                             exact GELU and its gradient
//   layerNorm(x, gamma, beta, y, rows, cols, eps)                 gamma / beta may be null
//   layerNormGrad(dy, x, gamma, dx, dgamma, dbeta, rows, cols, eps)
//   softmaxXent(logits, labels, loss, rows, cols)                 labels: Int32Array in [0, cols)
//   softmaxXentGrad(dloss, logits, labels, dlogits, rows, cols)
//   columnSum(x, out, rows, cols)
//   adamw(p, g, m, v, pOut, mOut, vOut, beta1, beta2, eps, keep, stepSize, bc2Sqrt)
//   maskedSoftmax(x, mask, maskRows, y, rows, cols, scale, maskMin)    mask / maskRows may be null
//   maskedSoftmaxGrad(dy, y, dx, rows, cols, scale)
//   transpose(x, y, shape, perm)          x, y: Float32Array or Int32Array; shape, perm: Int32Array
//   decoderCreate(config, eps, invFreq, weights)                  -> a decoder (decode.h): config Int32Array
//       [vocab, dim, inter, layers, heads, kvHeads, headDim, tied, qkvBias], invFreq Float64Array [headDim/2],
//       weights: Float32Arrays in decode.h's order (copied)
//   decoderStep(decoder, tokens, positions, prefixK, prefixV, prefixMask, kCache, vCache, mask, batch, repeats,
//               prefix, past, capacity, logits)
//       tokens / positions Int32Array [B]; the prompts' prefix (prefix columns, shared by `repeats` rows each;
//       R = B / repeats): prefixK Float32Array [layers, R, kvHeads, headDim, prefix] (keys transposed), prefixV
//       [layers, R, kvHeads, prefix, headDim], prefixMask Uint8Array [R, prefix] (all three ignored when prefix is 0);
//       each row's own columns: kCache [layers, B, kvHeads, headDim, capacity], vCache [layers, B, kvHeads,
//       capacity, headDim], mask Uint8Array [B, capacity]; caches all Float32Arrays or all Uint16Arrays of IEEE
//       halves; logits Float32Array [B, vocab]
//   decoderFree(decoder)                                          frees its weights now (else on GC)
//   info()                                                       -> { kernel, threads, decode }
//   setThreads(n)                                                -> undefined
//
// a, b, out and bias are Float32Arrays, in practice views of the tfjs wasm heap: the addon reads and
// writes them in place (no copies). aIndex / bIndex are Int32Arrays or null. Sizes are checked
// here so that a wrong call throws instead of touching memory outside the arrays.
#include <node_api.h>

#include <cstdint>
#include <string>

#include "decode.h"
#include "elementwise.h"
#include "gemm.h"
#include "thread_pool.h"

namespace {

#define CHECK_NAPI(call)                                   \
  do {                                                     \
    if ((call) != napi_ok) {                               \
      napi_throw_error(env, nullptr, "vlab_native: " #call); \
      return nullptr;                                      \
    }                                                      \
  } while (0)

napi_value throw_error(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, ("vlab_native: " + msg).c_str());
  return nullptr;
}

struct Array {
  void* data = nullptr;
  size_t length = 0;
  bool present = false;
};

// Reads a typed array of the given type; null / undefined give `present = false`.
bool get_array(napi_env env, napi_value v, napi_typedarray_type want, Array* out, const char* what, std::string* err) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) return true;
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (!is_ta) {
    *err = std::string(what) + " must be a typed array";
    return false;
  }
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, &out->length, &out->data, &buffer, &offset) != napi_ok || type != want) {
    const char* name = want == napi_float32_array   ? " must be a Float32Array"
                       : want == napi_float64_array ? " must be a Float64Array"
                       : want == napi_uint8_array   ? " must be a Uint8Array"
                                                    : " must be an Int32Array";
    *err = std::string(what) + name;
    return false;
  }
  out->present = true;
  return true;
}

bool get_number(napi_env env, napi_value v, double* out) {
  return napi_get_value_double(env, v, out) == napi_ok;
}

napi_value Matmul(napi_env env, napi_callback_info info) {
  size_t argc = 16;
  napi_value argv[16];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 14) return throw_error(env, "matmul expects at least 14 arguments");
  std::string err;
  Array a, b, c, bias, ai, bi;
  if (!get_array(env, argv[0], napi_float32_array, &a, "a", &err) ||
      !get_array(env, argv[1], napi_float32_array, &b, "b", &err) ||
      !get_array(env, argv[2], napi_float32_array, &c, "out", &err) ||
      !get_array(env, argv[3], napi_float32_array, &bias, "bias", &err) ||
      (argc > 14 && !get_array(env, argv[14], napi_int32_array, &ai, "aIndex", &err)) ||
      (argc > 15 && !get_array(env, argv[15], napi_int32_array, &bi, "bIndex", &err))) {
    return throw_error(env, err);
  }
  if (!a.present || !b.present || !c.present) return throw_error(env, "a, b and out are required");
  double num[10];
  for (int i = 0; i < 10; i++) {
    if (!get_number(env, argv[4 + i], &num[i])) return throw_error(env, "m, n, k, transA, transB, batch, aStride, bStride, activation, alpha must be numbers");
  }
  vlab::GemmProblem p;
  p.m = long(num[0]);
  p.n = long(num[1]);
  p.k = long(num[2]);
  p.trans_a = num[3] != 0;
  p.trans_b = num[4] != 0;
  p.batch = long(num[5]);
  p.a_stride = long(num[6]);
  p.b_stride = long(num[7]);
  p.activation = int(num[8]);
  p.alpha = float(num[9]);
  if (p.m < 0 || p.n < 0 || p.k < 0 || p.batch < 0 || p.a_stride < 0 || p.b_stride < 0) return throw_error(env, "negative size");
  if (p.activation < vlab::kLinear || p.activation > vlab::kElu || p.activation == vlab::kPrelu) {
    return throw_error(env, "unsupported activation " + std::to_string(p.activation));
  }
  // Bounds: every batch entry must lie inside its array.
  const size_t a_size = size_t(p.m) * size_t(p.k), b_size = size_t(p.k) * size_t(p.n);
  if (c.length < size_t(p.batch) * size_t(p.m) * size_t(p.n)) return throw_error(env, "out is too small");
  if (p.batch > 0) {
    if (ai.present) {
      if (ai.length < size_t(p.batch)) return throw_error(env, "aIndex is too short");
      const int32_t* idx = static_cast<const int32_t*>(ai.data);
      for (long i = 0; i < p.batch; i++)
        if (idx[i] < 0 || (size_t(idx[i]) + 1) * a_size > a.length) return throw_error(env, "aIndex out of range");
      p.a_index = idx;
    } else if (size_t(p.batch - 1) * size_t(p.a_stride) + a_size > a.length) {
      return throw_error(env, "a is too small");
    }
    if (bi.present) {
      if (bi.length < size_t(p.batch)) return throw_error(env, "bIndex is too short");
      const int32_t* idx = static_cast<const int32_t*>(bi.data);
      for (long i = 0; i < p.batch; i++)
        if (idx[i] < 0 || (size_t(idx[i]) + 1) * b_size > b.length) return throw_error(env, "bIndex out of range");
      p.b_index = idx;
    } else if (size_t(p.batch - 1) * size_t(p.b_stride) + b_size > b.length) {
      return throw_error(env, "b is too small");
    }
  }
  if (bias.present) {
    if (bias.length == size_t(p.n)) p.bias_mode = vlab::kBiasPerColumn;
    else if (bias.length == 1) p.bias_mode = vlab::kBiasScalar;
    else return throw_error(env, "bias must have n elements or 1");
    p.bias = static_cast<const float*>(bias.data);
  }
  p.a = static_cast<const float*>(a.data);
  p.b = static_cast<const float*>(b.data);
  p.c = static_cast<float*>(c.data);
  vlab::sgemm(p);
  return nullptr;
}

// Arguments of the element-wise bindings: typed arrays checked against the sizes they must have.
struct Args {
  napi_env env;
  size_t argc = 16;
  napi_value argv[16];
  std::string err;

  Args(napi_env e, napi_callback_info info) : env(e) {
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) err = "bad arguments";
  }
  // A Float32Array (or Int32Array) of at least `need` elements; null allowed if `optional`.
  template <class T>
  T* array(size_t i, size_t need, bool optional, const char* what, napi_typedarray_type type = napi_float32_array) {
    if (!err.empty()) return nullptr;
    Array a;
    if (i >= argc || !get_array(env, argv[i], type, &a, what, &err)) {
      if (err.empty()) err = std::string(what) + " is missing";
      return nullptr;
    }
    if (!a.present) {
      if (!optional) err = std::string(what) + " is required";
      return nullptr;
    }
    if (a.length < need) {
      err = std::string(what) + " is too small";
      return nullptr;
    }
    return static_cast<T*>(a.data);
  }
  long integer(size_t i, const char* what) {
    double v = 0;
    if (err.empty() && (i >= argc || !get_number(env, argv[i], &v) || v < 0)) err = std::string(what) + " must be a non-negative number";
    return long(v);
  }
  double number(size_t i, const char* what) {
    double v = 0;
    if (err.empty() && (i >= argc || !get_number(env, argv[i], &v))) err = std::string(what) + " must be a number";
    return v;
  }
  bool ok() { return err.empty(); }
  napi_value fail() { return throw_error(env, err); }
};

// The length of a typed array argument (0 if it is not one).
size_t length_of(napi_env env, napi_value v) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_typedarray_type type;
  size_t length = 0;
  napi_get_typedarray_info(env, v, &type, &length, nullptr, nullptr, nullptr);
  return length;
}

napi_value Gelu(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const size_t n = a.argc > 0 ? length_of(env, a.argv[0]) : 0;
  const float* x = a.array<const float>(0, n, false, "x");
  float* y = a.array<float>(1, n, false, "y");
  if (!a.ok()) return a.fail();
  vlab::gelu(x, y, long(n));
  return nullptr;
}

napi_value GeluGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const size_t n = a.argc > 0 ? length_of(env, a.argv[0]) : 0;
  const float* x = a.array<const float>(0, n, false, "x");
  const float* dy = a.array<const float>(1, n, false, "dy");
  float* dx = a.array<float>(2, n, false, "dx");
  if (!a.ok()) return a.fail();
  vlab::gelu_grad(x, dy, dx, long(n));
  return nullptr;
}

napi_value LayerNorm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(4, "rows"), cols = a.integer(5, "cols");
  const double eps = a.number(6, "eps");
  const size_t n = size_t(rows) * size_t(cols);
  const float* x = a.array<const float>(0, n, false, "x");
  const float* gamma = a.array<const float>(1, cols, true, "gamma");
  const float* beta = a.array<const float>(2, cols, true, "beta");
  float* y = a.array<float>(3, n, false, "y");
  if (!a.ok()) return a.fail();
  vlab::layer_norm(x, gamma, beta, y, rows, cols, float(eps));
  return nullptr;
}

napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(6, "rows"), cols = a.integer(7, "cols");
  const double eps = a.number(8, "eps");
  const size_t n = size_t(rows) * size_t(cols);
  const float* dy = a.array<const float>(0, n, false, "dy");
  const float* x = a.array<const float>(1, n, false, "x");
  const float* gamma = a.array<const float>(2, cols, true, "gamma");
  float* dx = a.array<float>(3, n, false, "dx");
  float* dgamma = a.array<float>(4, cols, true, "dgamma");
  float* dbeta = a.array<float>(5, cols, true, "dbeta");
  if (!a.ok()) return a.fail();
  vlab::layer_norm_grad(dy, x, gamma, dx, dgamma, dbeta, rows, cols, float(eps));
  return nullptr;
}

// Labels are checked here: an index outside [0, cols) would read outside the row.
bool labels_in_range(const int32_t* labels, long rows, long cols) {
  for (long r = 0; r < rows; r++)
    if (labels[r] < 0 || labels[r] >= cols) return false;
  return true;
}

napi_value SoftmaxXent(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(3, "rows"), cols = a.integer(4, "cols");
  const float* logits = a.array<const float>(0, size_t(rows) * size_t(cols), false, "logits");
  const int32_t* labels = a.array<const int32_t>(1, rows, false, "labels", napi_int32_array);
  float* loss = a.array<float>(2, rows, false, "loss");
  if (!a.ok()) return a.fail();
  if (!labels_in_range(labels, rows, cols)) return throw_error(env, "a label is outside [0, classes)");
  vlab::softmax_xent(logits, labels, loss, rows, cols);
  return nullptr;
}

napi_value SoftmaxXentGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(4, "rows"), cols = a.integer(5, "cols");
  const size_t n = size_t(rows) * size_t(cols);
  const float* dloss = a.array<const float>(0, rows, false, "dloss");
  const float* logits = a.array<const float>(1, n, false, "logits");
  const int32_t* labels = a.array<const int32_t>(2, rows, false, "labels", napi_int32_array);
  float* dlogits = a.array<float>(3, n, false, "dlogits");
  if (!a.ok()) return a.fail();
  if (!labels_in_range(labels, rows, cols)) return throw_error(env, "a label is outside [0, classes)");
  vlab::softmax_xent_grad(dloss, logits, labels, dlogits, rows, cols);
  return nullptr;
}

napi_value ColumnSum(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(2, "rows"), cols = a.integer(3, "cols");
  const float* x = a.array<const float>(0, size_t(rows) * size_t(cols), false, "x");
  float* out = a.array<float>(1, cols, false, "out");
  if (!a.ok()) return a.fail();
  vlab::column_sum(x, out, rows, cols);
  return nullptr;
}

napi_value AdamW(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const size_t n = a.argc > 0 ? length_of(env, a.argv[0]) : 0;
  const float* p = a.array<const float>(0, n, false, "p");
  const float* g = a.array<const float>(1, n, false, "g");
  const float* m = a.array<const float>(2, n, false, "m");
  const float* v = a.array<const float>(3, n, false, "v");
  float* p_out = a.array<float>(4, n, false, "pOut");
  float* m_out = a.array<float>(5, n, false, "mOut");
  float* v_out = a.array<float>(6, n, false, "vOut");
  const double beta1 = a.number(7, "beta1"), beta2 = a.number(8, "beta2"), eps = a.number(9, "eps");
  const double keep = a.number(10, "keep"), step = a.number(11, "stepSize"), bc2 = a.number(12, "bc2Sqrt");
  if (!a.ok()) return a.fail();
  // Each scalar rounded to float32 once, as a tfjs scalar operand would be.
  const vlab::AdamWScalars s{float(beta1), float(1 - beta1), float(beta2), float(1 - beta2), float(eps), float(keep), float(step), float(bc2)};
  vlab::adamw(p, g, m, v, p_out, m_out, v_out, long(n), s);
  return nullptr;
}

napi_value MaskedSoftmax(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(4, "rows"), cols = a.integer(5, "cols");
  const double scale = a.number(6, "scale"), mask_min = a.number(7, "maskMin");
  const size_t n = size_t(rows) * size_t(cols);
  const float* x = a.array<const float>(0, n, false, "x");
  const float* mask = a.array<const float>(1, 0, true, "mask");
  const int32_t* mask_rows = a.array<const int32_t>(2, mask ? size_t(rows) : 0, true, "maskRows", napi_int32_array);
  float* y = a.array<float>(3, n, false, "y");
  if (!a.ok()) return a.fail();
  if (mask) {
    if (!mask_rows) return throw_error(env, "maskRows is required with a mask");
    const size_t mask_len = a.argc > 1 ? length_of(env, a.argv[1]) : 0;
    for (long r = 0; r < rows; r++)
      if (mask_rows[r] < 0 || (size_t(mask_rows[r]) + 1) * size_t(cols) > mask_len) return throw_error(env, "maskRows out of range");
  }
  vlab::masked_softmax(x, mask, mask_rows, y, rows, cols, float(scale), float(mask_min));
  return nullptr;
}

napi_value MaskedSoftmaxGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const long rows = a.integer(3, "rows"), cols = a.integer(4, "cols");
  const double scale = a.number(5, "scale");
  const size_t n = size_t(rows) * size_t(cols);
  const float* dy = a.array<const float>(0, n, false, "dy");
  const float* y = a.array<const float>(1, n, false, "y");
  float* dx = a.array<float>(2, n, false, "dx");
  if (!a.ok()) return a.fail();
  vlab::masked_softmax_grad(dy, y, dx, rows, cols, float(scale));
  return nullptr;
}

napi_value Transpose(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const size_t rank = a.argc > 2 ? length_of(env, a.argv[2]) : 0;
  const int32_t* shape = a.array<const int32_t>(2, rank, false, "shape", napi_int32_array);
  const int32_t* perm = a.array<const int32_t>(3, rank, false, "perm", napi_int32_array);
  if (!a.ok()) return a.fail();
  if (rank > 16) return throw_error(env, "transpose: rank above 16");
  long dims[16];
  int order[16];
  bool seen[16] = {};
  size_t n = 1;
  for (size_t d = 0; d < rank; d++) {
    if (shape[d] < 0 || perm[d] < 0 || size_t(perm[d]) >= rank || seen[perm[d]]) return throw_error(env, "transpose: bad shape or permutation");
    seen[perm[d]] = true;
    dims[d] = shape[d];
    order[d] = perm[d];
    n *= size_t(shape[d]);
  }
  // Any 4-byte typed arrays (float32 or int32 data): try both types.
  const void* x = nullptr;
  void* y = nullptr;
  for (napi_typedarray_type type : {napi_float32_array, napi_int32_array}) {
    Array xa, ya;
    std::string err;
    if (get_array(env, a.argv[0], type, &xa, "x", &err) && get_array(env, a.argv[1], type, &ya, "y", &err) && xa.present && ya.present) {
      if (xa.length < n || ya.length < n) return throw_error(env, "transpose: arrays too small");
      x = xa.data;
      y = ya.data;
      break;
    }
  }
  if (!x || !y) return throw_error(env, "transpose: x and y must be Float32Arrays or Int32Arrays of one type");
  vlab::transpose(static_cast<const uint32_t*>(x), static_cast<uint32_t*>(y), dims, order, int(rank));
  return nullptr;
}

// ----- the decoder (decode.h) -----------------------------------------------------------------------

// The decoder behind an external made by DecoderCreate; null (with `err` set) otherwise or once freed.
vlab::Decoder** decoder_slot(napi_env env, napi_value v, std::string* err) {
  napi_valuetype t;
  void* data = nullptr;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok) {
    *err = "decoder must be what decoderCreate returned";
    return nullptr;
  }
  return static_cast<vlab::Decoder**>(data);
}

void delete_slot(napi_env, void* data, void*) {
  auto** slot = static_cast<vlab::Decoder**>(data);
  delete *slot;
  delete slot;
}

napi_value DecoderCreate(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int32_t* cfg = a.array<const int32_t>(0, 9, false, "config", napi_int32_array);
  const double eps = a.number(1, "eps");
  if (!a.ok()) return a.fail();
  vlab::DecoderConfig c;
  c.vocab = cfg[0], c.dim = cfg[1], c.inter = cfg[2], c.layers = cfg[3], c.heads = cfg[4], c.kv_heads = cfg[5];
  c.head_dim = cfg[6], c.tied = cfg[7] != 0, c.qkv_bias = cfg[8] != 0, c.eps = float(eps);
  for (int i = 0; i < 7; i++)
    if (cfg[i] <= 0) return throw_error(env, "decoderCreate: config sizes must be positive");
  if (c.heads % c.kv_heads || c.head_dim % 2) return throw_error(env, "decoderCreate: heads % kvHeads or headDim % 2");
  const double* inv_freq = a.array<const double>(2, size_t(c.head_dim / 2), false, "invFreq", napi_float64_array);
  if (!a.ok()) return a.fail();
  bool is_array = false;
  uint32_t count = 0;
  if (a.argc < 4 || napi_is_array(env, a.argv[3], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, a.argv[3], &count) != napi_ok) {
    return throw_error(env, "decoderCreate: weights must be an array of Float32Arrays");
  }
  const size_t D = c.dim, I = c.inter, qw = size_t(c.heads) * c.head_dim, kvw = size_t(c.kv_heads) * c.head_dim;
  auto* d = new vlab::Decoder();
  d->cfg = c;
  d->inv_freq.assign(inv_freq, inv_freq + c.head_dim / 2);
  d->layers.resize(c.layers);
  // Every weight in order with its size; biases only with qkvBias, the head only when not tied.
  std::vector<std::pair<std::vector<float>*, size_t>> want;
  want.push_back({&d->embed, size_t(c.vocab) * D});
  for (auto& l : d->layers) {
    want.push_back({&l.ln1, D});
    want.push_back({&l.wq, qw * D});
    if (c.qkv_bias) want.push_back({&l.bq, qw});
    want.push_back({&l.wk, kvw * D});
    if (c.qkv_bias) want.push_back({&l.bk, kvw});
    want.push_back({&l.wv, kvw * D});
    if (c.qkv_bias) want.push_back({&l.bv, kvw});
    want.push_back({&l.wo, D * qw});
    want.push_back({&l.ln2, D});
    want.push_back({&l.wg, I * D});
    want.push_back({&l.wu, I * D});
    want.push_back({&l.wd, D * I});
  }
  want.push_back({&d->norm, D});
  if (!c.tied) want.push_back({&d->head, size_t(c.vocab) * D});
  if (count != want.size()) {
    delete d;
    return throw_error(env, "decoderCreate: expected " + std::to_string(want.size()) + " weights, got " +
                                std::to_string(count));
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value item;
    Array w;
    std::string err;
    if (napi_get_element(env, a.argv[3], i, &item) != napi_ok ||
        !get_array(env, item, napi_float32_array, &w, "weight", &err) || !w.present || w.length != want[i].second) {
      delete d;
      return throw_error(env, "decoderCreate: weight " + std::to_string(i) + " must be a Float32Array of " +
                                  std::to_string(want[i].second) + " values");
    }
    const float* p = static_cast<const float*>(w.data);
    want[i].first->assign(p, p + w.length);
  }
  vlab::decoder_prepare(*d);
  auto** slot = new vlab::Decoder*(d);
  napi_value ext;
  if (napi_create_external(env, slot, delete_slot, nullptr, &ext) != napi_ok) {
    delete d;
    delete slot;
    return throw_error(env, "decoderCreate: napi_create_external");
  }
  return ext;
}

napi_value DecoderStep(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (a.argc < 15) return throw_error(env, "decoderStep expects 15 arguments");
  vlab::Decoder** slot = decoder_slot(env, a.argv[0], &a.err);
  if (!a.ok()) return a.fail();
  if (!*slot) return throw_error(env, "decoderStep: the decoder was freed");
  vlab::Decoder& d = **slot;
  const vlab::DecoderConfig& c = d.cfg;
  vlab::DecodeStep s;
  s.batch = int(a.integer(9, "batch"));
  s.repeats = int(a.integer(10, "repeats"));
  s.prefix = a.integer(11, "prefix");
  s.past = a.integer(12, "past");
  s.capacity = a.integer(13, "capacity");
  if (!a.ok()) return a.fail();
  if (s.batch < 1 || s.past >= s.capacity) return throw_error(env, "decoderStep: need batch >= 1 and past < capacity");
  if (s.repeats < 1 || s.batch % s.repeats)
    return throw_error(env, "decoderStep: repeats must divide batch (rows per prompt)");
  const size_t B = size_t(s.batch), R = B / size_t(s.repeats), P = size_t(s.prefix);
  const size_t head_cols = size_t(c.layers) * c.kv_heads * c.head_dim;  // per row and column, keys or values
  const size_t cache = head_cols * B * size_t(s.capacity), prefix = head_cols * R * P;
  s.tokens = a.array<const int32_t>(1, B, false, "tokens", napi_int32_array);
  s.positions = a.array<const int32_t>(2, B, false, "positions", napi_int32_array);
  // Float32Array caches, or Uint16Array ones holding IEEE halves (all four the same).
  napi_typedarray_type cache_type = napi_float32_array;
  bool is_ta = false;
  if (napi_is_typedarray(env, a.argv[6], &is_ta) == napi_ok && is_ta)
    napi_get_typedarray_info(env, a.argv[6], &cache_type, nullptr, nullptr, nullptr, nullptr);
  const bool half = cache_type == napi_uint16_array;
  if (half) {
    s.k_cache16 = a.array<uint16_t>(6, cache, false, "kCache", napi_uint16_array);
    s.v_cache16 = a.array<uint16_t>(7, cache, false, "vCache", napi_uint16_array);
  } else {
    s.k_cache = a.array<float>(6, cache, false, "kCache");
    s.v_cache = a.array<float>(7, cache, false, "vCache");
  }
  if (P > 0 && half) {
    s.prefix_k16 = a.array<const uint16_t>(3, prefix, false, "prefixK", napi_uint16_array);
    s.prefix_v16 = a.array<const uint16_t>(4, prefix, false, "prefixV", napi_uint16_array);
  } else if (P > 0) {
    s.prefix_k = a.array<const float>(3, prefix, false, "prefixK");
    s.prefix_v = a.array<const float>(4, prefix, false, "prefixV");
  }
  if (P > 0) s.prefix_mask = a.array<const uint8_t>(5, R * P, false, "prefixMask", napi_uint8_array);
  s.mask = a.array<const uint8_t>(8, B * size_t(s.capacity), false, "mask", napi_uint8_array);
  s.logits = a.array<float>(14, B * size_t(c.vocab), false, "logits");
  if (!a.ok()) return a.fail();
  for (size_t b = 0; b < B; b++) {
    if (s.tokens[b] < 0 || s.tokens[b] >= c.vocab)
      return throw_error(env, "decoderStep: token " + std::to_string(s.tokens[b]) + " of row " + std::to_string(b) +
                                  " is outside the vocabulary [0, " + std::to_string(c.vocab) + ")");
  }
  vlab::decode_step(d, s);
  return nullptr;
}

napi_value DecoderFree(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (a.argc < 1) return throw_error(env, "decoderFree expects a decoder");
  vlab::Decoder** slot = decoder_slot(env, a.argv[0], &a.err);
  if (!a.ok()) return a.fail();
  delete *slot;
  *slot = nullptr;
  return nullptr;
}

napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, kernel, threads;
  CHECK_NAPI(napi_create_object(env, &obj));
  CHECK_NAPI(napi_create_string_utf8(env, vlab::sgemm_kernel_name(), NAPI_AUTO_LENGTH, &kernel));
  CHECK_NAPI(napi_create_int32(env, vlab::pool_threads(), &threads));
  CHECK_NAPI(napi_set_named_property(env, obj, "kernel", kernel));
  CHECK_NAPI(napi_set_named_property(env, obj, "threads", threads));
  napi_value decode;
  CHECK_NAPI(napi_create_string_utf8(env, vlab::decode_isa(), NAPI_AUTO_LENGTH, &decode));
  CHECK_NAPI(napi_set_named_property(env, obj, "decode", decode));
  return obj;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  double n = 1;
  if (argc < 1 || !get_number(env, argv[0], &n)) return throw_error(env, "setThreads expects a number");
  vlab::set_pool_threads(int(n));
  return nullptr;
}

}  // namespace

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"gelu", nullptr, Gelu, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"geluGrad", nullptr, GeluGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"layerNorm", nullptr, LayerNorm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"layerNormGrad", nullptr, LayerNormGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"softmaxXent", nullptr, SoftmaxXent, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"softmaxXentGrad", nullptr, SoftmaxXentGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"columnSum", nullptr, ColumnSum, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maskedSoftmax", nullptr, MaskedSoftmax, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maskedSoftmaxGrad", nullptr, MaskedSoftmaxGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"transpose", nullptr, Transpose, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"decoderCreate", nullptr, DecoderCreate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"decoderStep", nullptr, DecoderStep, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"decoderFree", nullptr, DecoderFree, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}
