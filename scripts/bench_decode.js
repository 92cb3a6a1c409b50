/**
 * Decode throughput of @vlab/llm, for `npm run bench`: tokens per second generating greedily at batch 1,
 * with the KV cache (`generate`: each new token runs through the model alone, attending over cached keys and
 * values) and without it (every step re-runs the whole sequence, as a model without a cache must).
 *
 * The model is a Qwen2-style decoder the size of the reference step's (width 128, 2 layers, 4 heads with 2 kv
 * heads, SwiGLU 512, vocab 256); the prompt is 192 tokens and 64 are generated (long enough that re-running it costs
 * more than the per-op overhead).
 */
export async function benchDecode({ tf, log = () => {} }) {
  const llm = await import("@vlab/llm");
  const { Rng } = await import("@vlab/core");
  const model = new llm.CausalLM(
    {
      vocabSize: 256,
      hiddenSize: 128,
      intermediateSize: 512,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      maxPositionEmbeddings: 512,
    },
    { rng: new Rng(0) },
  );
  const rng = new Rng(1);
  const prompt = Array.from({ length: 192 }, () => rng.int(256));
  const newTokens = 64;

  const withCache = () => model.generate([prompt], { maxNewTokens: newTokens, greedy: true, stopIds: [] }).tokens[0];
  const withoutCache = () => {
    const ids = [...prompt];
    for (let i = 0; i < newTokens; i++) {
      const logits = model.forward([ids], { logitsToKeep: 1 }); // [1, 1, V]
      const next = tf.tidy(() => tf.argMax(tf.reshape(logits, [-1]))); // read outside the tidy below
      logits.dispose();
      ids.push(next.dataSync()[0]);
      next.dispose();
    }
    return ids.slice(prompt.length);
  };
  const time = (fn) => {
    fn(); // warm-up
    const t0 = performance.now();
    const out = fn();
    return { ms: performance.now() - t0, out };
  };
  const cached = time(withCache);
  const uncached = time(withoutCache);
  const same = cached.out.length === uncached.out.length && cached.out.every((t, i) => t === uncached.out[i]);
  model.dispose();
  const result = {
    prompt_tokens: prompt.length,
    new_tokens: newTokens,
    tokens_per_s_kv_cache: Math.round((newTokens / cached.ms) * 1000 * 10) / 10,
    tokens_per_s_no_cache: Math.round((newTokens / uncached.ms) * 1000 * 10) / 10,
    same_tokens: same,
  };
  result.kv_cache_speedup = Math.round((result.tokens_per_s_kv_cache / result.tokens_per_s_no_cache) * 100) / 100;
  log(
    `decode: ${result.tokens_per_s_kv_cache} tok/s with the KV cache, ${result.tokens_per_s_no_cache} without (same ` +
      `tokens: ${same})`,
  );
  return result;
}
