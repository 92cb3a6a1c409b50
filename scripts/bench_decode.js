/**
 * Decode throughput of @vlab/llm, for `npm run bench`: tokens per second generating greedily at batch 1 and at
 * batch 64 (GRPO's 8 prompts x 8 completions), with the KV cache (`generate`: each new token runs through the
 * model alone, attending over cached keys and values) and without it (every step re-runs the whole sequence, as a
 * model without a cache must); the arithmetic floor of a token on this CPU; and, given `torch`, the same decode in
 * plain PyTorch (scripts/torch_ref_decode.py) with the ratios.
 *
 * The model is a Qwen2-style decoder the size of the reference step's (width 128, 2 layers, 4 heads with 2 kv
 * heads, SwiGLU 512, vocab 256); the prompt is 192 tokens and 64 are generated (long enough that re-running it costs
 * more than the per-op overhead).
 */
const CONFIG = {
  vocabSize: 256,
  hiddenSize: 128,
  intermediateSize: 512,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  maxPositionEmbeddings: 512,
};
const BATCH = 64;

/**
 * The floor of one decoded token: its multiply-adds at the best matmul rate measured in this run, or reading the
 * weights it needs (once per step, shared by the batch's rows) and its KV cache at the measured copy rate, whichever
 * is longer. Multiply-adds per token at context c: per layer 2·D·(H·hd + 2·Hkv·hd + H·hd) for q, k, v, o,
 * 2·3·D·F for SwiGLU, 2·2·H·hd·c for attention; plus 2·D·V for the head.
 */
function floorPerToken({ peakGflops, copyGBps, context, batch }) {
  const { hiddenSize: d, intermediateSize: f, numHiddenLayers: l, vocabSize: v } = CONFIG;
  const hd = d / CONFIG.numAttentionHeads;
  const q = CONFIG.numAttentionHeads * hd;
  const kv = CONFIG.numKeyValueHeads * hd;
  const weights = l * (d * (2 * q + 2 * kv) + 3 * d * f) + d * v; // multiply-add count = weights read
  const flops = 2 * weights + l * 4 * q * context;
  const bytes = (4 * weights) / batch + 4 * l * 2 * kv * context;
  const computeUs = (flops / (peakGflops * 1e9)) * 1e6;
  const memoryUs = (bytes / (copyGBps * 1e9)) * 1e6;
  return {
    flops,
    bytes: Math.round(bytes),
    compute_us: computeUs,
    memory_us: memoryUs,
    us: Math.max(computeUs, memoryUs),
  };
}

/** GB/s of copying a 4 MB buffer (about the model's weights) within this thread: the memory side of the floor. */
function copyRate() {
  const a = new Float32Array(1 << 20);
  const b = new Float32Array(1 << 20).fill(1);
  let best = Infinity;
  for (let r = 0; r < 20; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) a.set(b);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * 10 * a.byteLength) / (best / 1000) / 1e9; // read + write
}

export async function benchDecode({ tf, log = () => {}, peakGflops, torch }) {
  const llm = await import("@vlab/llm");
  const { Rng } = await import("@vlab/core");
  const model = new llm.CausalLM(CONFIG, { rng: new Rng(0) });
  const rng = new Rng(1);
  const prompt = Array.from({ length: 192 }, () => rng.int(256));
  const newTokens = 64;

  const prompts = [prompt, ...Array.from({ length: BATCH - 1 }, () => prompt.map(() => rng.int(256)))];
  const greedy = { maxNewTokens: newTokens, greedy: true, stopIds: [] };
  const withCache = (rows) => model.generate(rows, greedy).tokens;
  const withoutCache = (rows) => {
    const ids = rows.map((r) => [...r]);
    for (let i = 0; i < newTokens; i++) {
      const logits = model.forward(ids, { logitsToKeep: 1 }); // [B, 1, V]
      const next = tf.tidy(() => tf.argMax(tf.reshape(logits, [ids.length, -1]), -1)); // [B]
      logits.dispose();
      const got = next.dataSync();
      next.dispose();
      ids.forEach((row, b) => row.push(got[b]));
    }
    return ids.map((row) => row.slice(prompt.length));
  };
  const time = (fn, rows, warm = true) => {
    if (warm) fn(rows); // warm-up
    const t0 = performance.now();
    const out = fn(rows);
    return { tokensPerS: (rows.length * newTokens) / ((performance.now() - t0) / 1000), out };
  };
  const cached = time(withCache, [prompt]);
  const uncached = time(withoutCache, [prompt]);
  log(`decode: batch ${BATCH} ...`);
  const cachedBatch = time(withCache, prompts);
  const uncachedBatch = time(withoutCache, prompts, false); // ~30 s: no warm-up (batch 1 warmed the kernels)
  const same = (a, b) => a.length === b.length && a.every((t, i) => t === b[i]);
  const r1 = (x) => Math.round(x * 10) / 10;
  const result = {
    prompt_tokens: prompt.length,
    new_tokens: newTokens,
    tokens_per_s_kv_cache: r1(cached.tokensPerS),
    tokens_per_s_no_cache: r1(uncached.tokensPerS),
    [`tokens_per_s_kv_cache_b${BATCH}`]: r1(cachedBatch.tokensPerS),
    [`tokens_per_s_no_cache_b${BATCH}`]: r1(uncachedBatch.tokensPerS),
    same_tokens: same(cached.out[0], uncached.out[0]),
    // greedy rows of a batch decode the same tokens as alone (row 0 is the batch-1 prompt)
    [`same_tokens_b${BATCH}`]: same(cachedBatch.out[0], cached.out[0]) && same(uncachedBatch.out[0], cached.out[0]),
  };
  model.dispose();
  result.kv_cache_speedup = Math.round((result.tokens_per_s_kv_cache / result.tokens_per_s_no_cache) * 100) / 100;
  result[`batch_${BATCH}_speedup`] = Math.round((cachedBatch.tokensPerS / cached.tokensPerS) * 100) / 100;
  log(
    `decode: ${result.tokens_per_s_kv_cache} tok/s with the KV cache, ${result.tokens_per_s_no_cache} without (same ` +
      `tokens: ${result.same_tokens}); batch ${BATCH}: ${result[`tokens_per_s_kv_cache_b${BATCH}`]} and ` +
      `${result[`tokens_per_s_no_cache_b${BATCH}`]} tok/s`,
  );
  if (peakGflops) {
    const copyGBps = copyRate();
    const context = prompt.length + newTokens / 2;
    const f1 = floorPerToken({ peakGflops, copyGBps, context, batch: 1 });
    const fb = floorPerToken({ peakGflops, copyGBps, context, batch: BATCH });
    result.floor = {
      how: "max(multiply-adds at the best matmul GFLOP/s of this run, weights/batch + KV cache at the copy rate)",
      peak_gflops: peakGflops,
      copy_gb_per_s: r1(copyGBps),
      context,
      flops_per_token: f1.flops,
      us_per_token_b1: Math.round(f1.us * 100) / 100,
      [`us_per_token_b${BATCH}`]: Math.round(fb.us * 100) / 100,
    };
    result.us_per_token_kv_cache = r1(1e6 / cached.tokensPerS);
    result.latency_vs_floor_b1 = r1(1e6 / cached.tokensPerS / f1.us);
    log(`decode floor: ${result.floor.us_per_token_b1} us/token at batch 1; vlab is ${result.latency_vs_floor_b1}x it`);
  }
  if (torch) {
    result.torch_tokens_per_s = torch.tokens_per_s;
    result.ratio_vs_torch_b1 = Math.round((cached.tokensPerS / torch.tokens_per_s["1"]) * 1000) / 1000;
    result[`ratio_vs_torch_b${BATCH}`] =
      Math.round((cachedBatch.tokensPerS / torch.tokens_per_s[String(BATCH)]) * 1000) / 1000;
    log(
      `decode vs PyTorch (KV cache): batch 1 ${result.ratio_vs_torch_b1}x, batch ${BATCH} ` +
        `${result[`ratio_vs_torch_b${BATCH}`]}x`,
    );
  }
  return result;
}

/** PyTorch's greedy decode of the same model with a KV cache (scripts/torch_ref_decode.py), tokens/s per batch. */
export function torchDecode(execFileSync, python, script, threads) {
  const out = execFileSync(python, [script, String(threads), `1,${BATCH}`], { encoding: "utf8", timeout: 600_000 });
  return JSON.parse(out.trim().split("\n").pop());
}
