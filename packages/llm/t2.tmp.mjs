import { initBackend, Rng, nativeDecoder } from "@vlab/core";
import { CausalLM } from "@vlab/llm";
await initBackend("wasm");
const m = new CausalLM({ vocabSize: 256, hiddenSize: 128, intermediateSize: 512, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 512 }, { rng: new Rng(0) });
for (const B of [1, 64]) {
  const times = [];
  for (let rep = 0; rep < 9; rep++) {
    const d = m.nativeDecoder(B, 256);
    const z = Array.from({ length: 2 }, () => new Float32Array(B * 2 * 192 * 32).fill(0.1));
    d.loadPrefix(z, z, Array.from({ length: B }, () => new Array(192).fill(1)));
    const tok = new Int32Array(B).fill(3), pos = new Int32Array(B).fill(192), att = new Uint8Array(B).fill(1);
    const t = performance.now();
    for (let i = 0; i < 63; i++) { pos.fill(192 + i); d.step(tok, pos, att); }
    times.push((performance.now() - t) / 63 * 1000);
    d.free();
  }
  times.sort((a, b) => a - b);
  console.log(B, "us/step min", times[0].toFixed(1), "median", times[4].toFixed(1), "us/token", (times[0] / B).toFixed(2));
}
