import { initBackend, setSeed, Rng } from "@vlab/core";
import { CausalLM } from "@vlab/llm";
await initBackend("wasm");
setSeed(3);
const cfg = { vocabSize: 256, hiddenSize: 128, intermediateSize: 512, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 512, initializerRange: 0.2 };
for (const tied of [false, true]) {
  const m = new CausalLM({ ...cfg, tieWordEmbeddings: tied });
  const r = new Rng(1);
  const prompts = Array.from({ length: 5 }, (_, i) => Array.from({ length: 3 + 4 * i }, () => Math.floor(r.next() * 256)));
  for (const o of [{ greedy: true }, { temperature: 1, topK: 20, seed: 7 }, { temperature: 0.8, topP: 0.9, seed: 9 }]) {
    const a = m.generate(prompts, { maxNewTokens: 24, ...o, stopIds: [5] });
    const b = m.generate(prompts, { maxNewTokens: 24, ...o, stopIds: [5], fastDecode: false });
    console.log(tied, JSON.stringify(o), JSON.stringify(a) === JSON.stringify(b), a.tokens[0].slice(0, 8).join(","), b.tokens[0].slice(0, 8).join(","));
  }
  let t = performance.now();
  for (let i = 0; i < 3; i++) m.generate([prompts[4]], { maxNewTokens: 64, greedy: true });
  const fast = (performance.now() - t) / 3;
  t = performance.now();
  for (let i = 0; i < 3; i++) m.generate([prompts[4]], { maxNewTokens: 64, greedy: true, fastDecode: false });
  console.log("ms per 64 tokens fast", fast.toFixed(1), "ref", ((performance.now() - t) / 3).toFixed(1));
}
