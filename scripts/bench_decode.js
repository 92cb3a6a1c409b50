/**
 * Decode throughput of @vlab/llm, for `npm run bench`: tokens per second generating greedily at batch 1 and at
 * batch 64 (64 distinct prompts), with the KV cache (`generate`: each new token runs through the model alone,
 * attending over cached keys and values) and without it (every step re-runs the whole sequence, as a model without a
 * cache must); sampling in GRPO's shape (8 prompts x G = 8 completions, each prompt's prefill shared by its group or
 * repeated) against sampling one completion; the arithmetic floor of a token on this CPU; and, given `torch`, the
 * same greedy decode in plain PyTorch (scripts/torch_ref_decode.py) with the ratios.
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
const GROUP = 8; // GRPO's G: BATCH / GROUP prompts

/**
 * The floor of one decoded token: its multiply-adds at the best matmul rate measured in this run, or reading the
 * weights it needs (once per step, shared by the batch's rows) and its KV cache at the measured copy rate, whichever
 * is longer. Multiply-adds per token at context c: per layer 2·D·(H·hd + 2·Hkv·hd + H·hd) for q, k, v, o,
 * 2·3·D·F for SwiGLU, 2·2·H·hd·c for attention; plus 2·D·V for the head.
 */
function floorPerToken({ peakGflops, copyGBps, kvCopyGBps = copyGBps, context, batch }) {
  const { hiddenSize: d, intermediateSize: f, numHiddenLayers: l, vocabSize: v } = CONFIG;
  const hd = d / CONFIG.numAttentionHeads;
  const q = CONFIG.numAttentionHeads * hd;
  const kv = CONFIG.numKeyValueHeads * hd;
  const weights = l * (d * (2 * q + 2 * kv) + 3 * d * f) + d * v; // multiply-add count = weights read
  const flops = 2 * weights + l * 4 * q * context;
  const weightBytes = (4 * weights) / batch;
  const kvBytes = 4 * l * 2 * kv * context;
  const bytes = weightBytes + kvBytes;
  const computeUs = (flops / (peakGflops * 1e9)) * 1e6;
  const memoryUs = (weightBytes / (copyGBps * 1e9) + kvBytes / (kvCopyGBps * 1e9)) * 1e6;
  return {
    flops,
    bytes: Math.round(bytes),
    compute_us: computeUs,
    memory_us: memoryUs,
    us: Math.max(computeUs, memoryUs),
  };
}

/**
 * GB/s of copying a buffer of `bytes` within this thread: the memory side of the floor. A 4 MB buffer (about the
 * model's weights) stays in the caches; the batch-64 KV cache (~15 MB read per step) does not.
 */
function copyRate(bytes = 4 << 20) {
  const n = Math.max(1, Math.floor(bytes / 4));
  const a = new Float32Array(n);
  const b = new Float32Array(n).fill(1);
  const reps = Math.max(1, Math.round((40 << 20) / bytes));
  let best = Infinity;
  for (let r = 0; r < 10; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) a.set(b);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * reps * a.byteLength) / (best / 1000) / 1e9; // read + write
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
  // The same generate with every step through the tfjs model (the path before the native decoder).
  const tfjsSteps = (rows) => model.generate(rows, { ...greedy, fastDecode: false }).tokens;
  // The wall time of each native step (one call of the decoder generate makes, sampling outside it): the model's
  // nativeDecoder wrapped, its steps' times summed over the current run.
  const makeDecoder = model.nativeDecoder.bind(model);
  let clock = null; // { ms, steps } of the run being timed
  model.nativeDecoder = (...args) => {
    const dec = makeDecoder(...args);
    if (!dec) return dec;
    const step = dec.step.bind(dec);
    dec.step = (...a) => {
      const t0 = performance.now();
      const out = step(...a);
      if (clock) {
        clock.ms += performance.now() - t0;
        clock.steps++;
      }
      return out;
    };
    return dec;
  };
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
  // Best of `reps` runs after a warm-up (the machine's noise only ever adds time), and the best run's mean native
  // step in µs (null when no native step ran).
  const time = (fn, rows, { warm = true, reps = 1 } = {}) => {
    if (warm) fn(rows);
    let best = Infinity;
    let stepUs = Infinity;
    let out;
    for (let r = 0; r < reps; r++) {
      clock = { ms: 0, steps: 0 };
      const t0 = performance.now();
      out = fn(rows);
      best = Math.min(best, performance.now() - t0);
      if (clock.steps) stepUs = Math.min(stepUs, (clock.ms / clock.steps) * 1000);
      clock = null;
    }
    return {
      ms: best,
      tokensPerS: (rows.length * newTokens) / (best / 1000),
      stepUs: stepUs < Infinity ? stepUs : null,
      out,
    };
  };
  const cached = time(withCache, [prompt], { reps: 15 });
  const step1 = cached.stepUs;
  const before = time(tfjsSteps, [prompt], { reps: 3 });
  const uncached = time(withoutCache, [prompt]);
  log(`decode: batch ${BATCH} ...`);
  const cachedBatch = time(withCache, prompts, { reps: 3 });
  const stepB = cachedBatch.stepUs;
  // The same with the KV cache in half precision (an option: different numbers, half the cache's memory traffic).
  const half = { ...greedy, kvCache: "float16" };
  const cachedHalf = time((rows) => model.generate(rows, half).tokens, prompts, { reps: 3 });
  const stepHalf = cachedHalf.stepUs;
  // GRPO's shape: 8 prompts x G = 8 sampled completions (temperature 1, seeded), against one sampled completion of one
  // prompt; the group's prompt shared (numReturnSequences: one prefill per prompt) or repeated G times (the rows
  // Hugging Face's generate expands num_return_sequences into).
  const sampled = { maxNewTokens: newTokens, temperature: 1, seed: 5, stopIds: [] };
  const sampledOne = time((rows) => model.generate(rows, sampled).tokens, [prompt], { reps: 15 });
  const groups = prompts.slice(0, BATCH / GROUP);
  const grpo = time(() => model.generate(groups, { ...sampled, numReturnSequences: GROUP }).tokens, groups, {
    reps: 3,
  });
  const repeated = groups.flatMap((p) => Array.from({ length: GROUP }, () => p));
  const grpoRepeated = time((rows) => model.generate(rows, sampled).tokens, repeated, { reps: 3 });
  const beforeBatch = time(tfjsSteps, prompts, { reps: 1 });
  const uncachedBatch = time(withoutCache, prompts, { warm: false }); // ~30 s: no warm-up (batch 1 warmed the kernels)
  const same = (a, b) => a.length === b.length && a.every((t, i) => t === b[i]);
  const sameCount = (a, b) => a.reduce((n, row, r) => n + row.filter((t, i) => t === b[r]?.[i]).length, 0);
  const r1 = (x) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null); // null: not measured (no native step)
  const result = {
    prompt_tokens: prompt.length,
    new_tokens: newTokens,
    tokens_per_s_kv_cache: r1(cached.tokensPerS),
    tokens_per_s_no_cache: r1(uncached.tokensPerS),
    [`tokens_per_s_kv_cache_b${BATCH}`]: r1(cachedBatch.tokensPerS),
    [`tokens_per_s_no_cache_b${BATCH}`]: r1(uncachedBatch.tokensPerS),
    // the steps alone (prefill and sampling excluded): one native step's wall time, and new tokens per second
    step_us_b1: r1(step1),
    [`step_us_b${BATCH}`]: r1(stepB),
    decode_tokens_per_s_b1: r1(1e6 / step1),
    [`decode_tokens_per_s_b${BATCH}`]: r1((BATCH * 1e6) / stepB),
    // batch 64 with the float16 KV cache; the share of its greedy tokens equal to the float32 cache's
    [`tokens_per_s_kv_f16_b${BATCH}`]: r1(cachedHalf.tokensPerS),
    [`step_us_f16_b${BATCH}`]: r1(stepHalf),
    [`f16_same_token_share_b${BATCH}`]:
      r1((100 * sameCount(cachedHalf.out, cachedBatch.out)) / (BATCH * newTokens)) / 100,
    // the same generate with every step through the tfjs model (fastDecode: false): the path before
    tokens_per_s_tfjs_steps: r1(before.tokensPerS),
    [`tokens_per_s_tfjs_steps_b${BATCH}`]: r1(beforeBatch.tokensPerS),
    same_tokens: same(cached.out[0], uncached.out[0]) && same(cached.out[0], before.out[0]),
    // greedy rows of a batch decode the same tokens as alone (row 0 is the batch-1 prompt)
    // GRPO's shape (sampled): tokens/s of 8 prompts x 8 completions, shared and repeated prompts, and of batch 1
    tokens_per_s_sampled_b1: r1(sampledOne.tokensPerS),
    [`tokens_per_s_grpo_b${BATCH}`]: r1((BATCH * newTokens) / (grpo.ms / 1000)),
    [`tokens_per_s_grpo_repeated_b${BATCH}`]: r1(grpoRepeated.tokensPerS),
    // one native step of GRPO's shape, the prompts' columns shared by their groups or repeated
    [`step_us_grpo_b${BATCH}`]: r1(grpo.stepUs),
    [`step_us_grpo_repeated_b${BATCH}`]: r1(grpoRepeated.stepUs),
    grpo_shared_same_tokens: grpo.out.every((row, b) => same(row, grpoRepeated.out[b])),
    [`same_tokens_b${BATCH}`]:
      cachedBatch.out.every((row, b) => same(row, beforeBatch.out[b])) &&
      same(cachedBatch.out[0], cached.out[0]) &&
      same(uncachedBatch.out[0], cached.out[0]),
  };
  model.dispose();
  result.kv_cache_speedup = Math.round((result.tokens_per_s_kv_cache / result.tokens_per_s_no_cache) * 100) / 100;
  result[`batch_${BATCH}_speedup`] = Math.round((cachedBatch.tokensPerS / cached.tokensPerS) * 100) / 100;
  result[`batch_${BATCH}_decode_speedup`] = Math.round((step1 * BATCH * 100) / stepB) / 100;
  result[`batch_${BATCH}_speedup_f16`] = Math.round((cachedHalf.tokensPerS / cached.tokensPerS) * 100) / 100;
  result[`batch_${BATCH}_decode_speedup_f16`] = Math.round((step1 * BATCH * 100) / stepHalf) / 100;
  result[`batch_${BATCH}_grpo_speedup`] =
    Math.round((result[`tokens_per_s_grpo_b${BATCH}`] / result.tokens_per_s_sampled_b1) * 100) / 100;
  result[`batch_${BATCH}_grpo_repeated_speedup`] =
    Math.round((grpoRepeated.tokensPerS / sampledOne.tokensPerS) * 100) / 100;
  result.native_vs_tfjs_steps = Math.round((cached.tokensPerS / before.tokensPerS) * 100) / 100;
  result[`native_vs_tfjs_steps_b${BATCH}`] = Math.round((cachedBatch.tokensPerS / beforeBatch.tokensPerS) * 100) / 100;
  log(
    `decode: ${result.tokens_per_s_kv_cache} tok/s with the KV cache, ${result.tokens_per_s_no_cache} without (same ` +
      `tokens: ${result.same_tokens}); batch ${BATCH}: ${result[`tokens_per_s_kv_cache_b${BATCH}`]} and ` +
      `${result[`tokens_per_s_no_cache_b${BATCH}`]} tok/s`,
  );
  log(
    `decode, GRPO's shape (${BATCH / GROUP} prompts x ${GROUP}, sampled): ${result[`tokens_per_s_grpo_b${BATCH}`]} ` +
      `tok/s shared, ${result[`tokens_per_s_grpo_repeated_b${BATCH}`]} repeated; batch 1 sampled ` +
      `${result.tokens_per_s_sampled_b1}: ${result[`batch_${BATCH}_grpo_speedup`]}x`,
  );
  log(
    `decode steps alone: ${result.step_us_b1} us at batch 1, ${result[`step_us_b${BATCH}`]} us at batch ${BATCH}; ` +
      `tfjs steps: ${result.tokens_per_s_tfjs_steps} tok/s`,
  );
  if (peakGflops) {
    const copyGBps = copyRate();
    const context = prompt.length + newTokens / 2;
    const { numHiddenLayers: l, numKeyValueHeads: hkv, hiddenSize: d, numAttentionHeads: h } = CONFIG;
    const kvCopyGBps = copyRate(BATCH * 4 * l * 2 * hkv * (d / h) * context); // the batch's KV cache, out of cache
    const f1 = floorPerToken({ peakGflops, copyGBps, context, batch: 1 });
    const fb = floorPerToken({ peakGflops, copyGBps, kvCopyGBps, context, batch: BATCH });
    result.floor = {
      how:
        "max(multiply-adds at the best matmul GFLOP/s of this run, weights/batch and KV cache at the copy rate " +
        "of a buffer their size)",
      peak_gflops: peakGflops,
      copy_gb_per_s: r1(copyGBps),
      [`kv_copy_gb_per_s_b${BATCH}`]: r1(kvCopyGBps),
      context,
      flops_per_token: f1.flops,
      us_per_token_b1: Math.round(f1.us * 100) / 100,
      [`us_per_token_b${BATCH}`]: Math.round(fb.us * 100) / 100,
    };
    result.us_per_token_kv_cache = r1(1e6 / cached.tokensPerS);
    result.latency_vs_floor_b1 = step1 === null ? null : r1(step1 / f1.us);
    result[`latency_vs_floor_b${BATCH}`] = stepB === null ? null : r1(stepB / BATCH / fb.us);
    log(
      `decode floor: ${result.floor.us_per_token_b1} us/token at batch 1; a step is ${result.latency_vs_floor_b1}x ` +
        `it; batch ${BATCH}: ${result[`latency_vs_floor_b${BATCH}`]}x`,
    );
  }
  if (torch) {
    result.torch_tokens_per_s = torch.tokens_per_s;
    if (torch.step_us) {
      result.torch_step_us = torch.step_us;
      result.step_ratio_vs_torch_b1 = Math.round((torch.step_us["1"] / step1) * 100) / 100;
      result[`step_ratio_vs_torch_b${BATCH}`] = Math.round((torch.step_us[String(BATCH)] / stepB) * 100) / 100;
    }
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
