// One decoding step of a Llama / Qwen2 decoder in a single native call (the fast path of @vlab/llm's
// `generate`, issue "make decoding fast"). The model is the one of @vlab/llm's model.ts, weight for weight:
//
//   x   = embed_tokens[token]                                                       [B, D]
//   per layer:
//     n = RMSNorm(x) · input_layernorm
//     q, k, v = n Wqᵀ + bq, n Wkᵀ + bk, n Wvᵀ + bv, then RoPE (half-split) on q and k at each row's position
//     k, v are written into the row's own caches at column `past`; each query head attends over the prompt's
//     prefix columns and then the row's own, those whose mask is 1 (grouped-query: H / Hkv query heads share a
//     key/value head; rows decoding the same prompt share its prefix). The key caches are kept transposed,
//     [hd, columns] per head, so that a head's scores over all columns are vector updates.
//     x = x + attn Woᵀ
//     m = RMSNorm(x) · post_attention_layernorm
//     x = x + (silu(m Wgᵀ) · m Wuᵀ) Wdᵀ
//   logits = RMSNorm(x) · norm  (lm_head or the tied embedding)ᵀ                    [B, V]
//
// Weights are copied once into the Decoder (so the caller may change or free its tensors), then
// decoder_prepare stacks the products that read the same input into one weight each: q, k and v as rows
// [H·hd + 2·Hkv·hd, D], gate and up as [2·I, D] (one larger product instead of three and two). The first step
// with kGemmRows (decode.cc) or more rows also packs every product's weight for sgemm once (pack_b_once,
// gemm.h), which doubles the weights' memory. The caches and the masks belong to the caller and are read and
// written in place. Nothing is allocated per step once the scratch has grown to the batch size.
#pragma once

#include <cstdint>
#include <vector>

#include "gemm.h"

namespace vlab {

struct DecoderConfig {
  int vocab = 0, dim = 0, inter = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
  bool tied = false, qkv_bias = false;
  float eps = 1e-6f;
};

struct DecoderLayerWeights {
  std::vector<float> ln1, wq, bq, wk, bk, wv, bv, wo, ln2, wg, wu, wd;  // PyTorch's [out, in] layout, as given
  // Made by decoder_prepare (which empties wq … bv, wg, wu): [wq; wk; wv], [bq; bk; bv] and [wg; wu], stacked rows.
  std::vector<float> wqkv, bqkv, wgu;
  PackedB pqkv, po, pgu, pd;  // the same for sgemm, packed at the first batched step
};

struct Decoder {
  DecoderConfig cfg;
  std::vector<double> inv_freq;  // RoPE's 1 / θ^(2j/hd), j < hd/2, as @vlab/rope computes it
  std::vector<float> embed, norm, head;  // head is empty when tied to embed
  std::vector<DecoderLayerWeights> layers;
  PackedB phead;
  bool packed = false;
  // Scratch, grown to the largest batch seen.
  std::vector<float> x, n, qkv, att, tmp, gu, h, cos, sin;
};

struct DecodeStep {
  int batch = 0;                       // B
  const int32_t* tokens = nullptr;     // [B], in [0, vocab)
  const int32_t* positions = nullptr;  // [B], RoPE positions of the new tokens
  // The prefix (the prompts' columns, from the prefill): rows b·repeats … b·repeats + repeats − 1 share prompt b's
  // (generate's numReturnSequences); R = B / repeats prompts. prefix = 0: none, every column is a row's own.
  int repeats = 1;
  long prefix = 0;
  const float* prefix_k = nullptr;     // [layers, R, Hkv, hd, prefix]: keys transposed
  const float* prefix_v = nullptr;     // [layers, R, Hkv, prefix, hd]
  const uint16_t* prefix_k16 = nullptr;  // or, with the half-precision caches, the same in IEEE halves
  const uint16_t* prefix_v16 = nullptr;
  const uint8_t* prefix_mask = nullptr;  // [R, prefix]: 1 = attend
  // Each row's own columns, written by the steps.
  float* k_cache = nullptr;            // [layers, B, Hkv, hd, capacity]: keys transposed (see decode.cc)
  float* v_cache = nullptr;            // [layers, B, Hkv, capacity, hd]
  uint16_t* k_cache16 = nullptr;       // or, when set, both caches in IEEE half precision (half.h), same layouts
  uint16_t* v_cache16 = nullptr;
  const uint8_t* mask = nullptr;       // [B, capacity]: 1 = attend; column `past` is the new token's
  long past = 0;                       // own columns before this step (the new one is written there)
  long capacity = 0;                   // own columns each row's cache holds
  float* logits = nullptr;             // [B, vocab]
};

// Stacks the q/k/v and gate/up weights (once, after the weights are loaded).
void decoder_prepare(Decoder& d);

// Runs the step; the caller has checked every size.
void decode_step(Decoder& d, const DecodeStep& s);

// Name of the vector code in use ("avx2+fma" or "portable").
const char* decode_isa();

}  // namespace vlab
