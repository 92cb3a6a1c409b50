import { initBackend, Rng } from "@vlab/core";
import { CausalLM } from "@vlab/llm";
await initBackend("wasm");
const m = new CausalLM({ vocabSize: 256, hiddenSize: 128, intermediateSize: 512, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 512 }, { rng: new Rng(0) });
const rng = new Rng(1);
for (const B of [1, 64]) {
const prompts = Array.from({ length: B }, () => Array.from({ length: 192 }, () => rng.int(256)));
const best = (n, o = {}) => { let b = Infinity; for (let i = 0; i < 7; i++) { const t = performance.now(); m.generate(prompts, { maxNewTokens: n, greedy: true, stopIds: [], ...o }); b = Math.min(b, performance.now() - t); } return b; };
const t1 = best(1), t2 = best(2), t64 = best(64);
console.log(B, "gen1", t1.toFixed(2), "gen2", t2.toFixed(2), "gen64", t64.toFixed(2), "us/step", ((t64 - t1) / 63 * 1000).toFixed(1), "tok/s", (B * 64 / t64 * 1000).toFixed(0));
}
