import { tf, initBackend, describeBackend, Module, Embedding, LayerNorm, Linear, MLP, MultiHeadAttention, causalMask, setSeed } from "./dist/index.js";
import { configureWasmMatMul } from "./dist/wasm_kernels.js";
const [backend, threads, fast] = [process.argv[2] ?? "wasm", Number(process.argv[3] ?? 1), process.argv[4] !== "0"];
const info = await initBackend(backend, { threads });
configureWasmMatMul({ enabled: fast });
class Block extends Module {
  ln1 = this.module("ln1", new LayerNorm(128)); attn = this.module("attn", new MultiHeadAttention(128, 4, { qkvFused: true }));
  ln2 = this.module("ln2", new LayerNorm(128)); mlp = this.module("mlp", new MLP(128, 512));
  forward(x, mask) { return tf.tidy(() => { const h = tf.add(x, this.attn.forward(this.ln1.forward(x), { mask })); return tf.add(h, this.mlp.forward(this.ln2.forward(h))); }); }
}
class GPT extends Module {
  wte = this.module("wte", new Embedding(256, 128)); wpe = this.module("wpe", new Embedding(64, 128));
  blocks = this.moduleList("blocks", [new Block(), new Block()]); ln_f = this.module("ln_f", new LayerNorm(128)); head = this.module("head", new Linear(128, 256, { bias: false }));
  forward(ids) { return tf.tidy(() => { const [B, T] = ids.shape; const mask = causalMask(T); let h = tf.add(this.wte.forward(ids), this.wpe.forward(tf.range(0, T, 1, "int32"))); for (const b of this.blocks) h = b.forward(h, mask); return this.head.forward(this.ln_f.forward(h)); }); }
}
setSeed(0);
const m = new GPT();
const opt = tf.train.adam(1e-3);
const B = 16, T = 64;
const ids = tf.tensor2d(Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 7 + t * 3) % 256)), [B, T], "int32");
const targets = tf.oneHot(tf.reshape(tf.concat([tf.slice(ids, [0, 1], [B, T - 1]), tf.slice(ids, [0, 0], [B, 1])], 1), [-1]), 256);
const step = () => { const loss = tf.tidy(() => opt.minimize(() => tf.losses.softmaxCrossEntropy(targets, tf.reshape(m.forward(ids), [B * T, 256])), true, m.trainableParameters())); const v = loss.dataSync()[0]; loss.dispose(); return v; };
step(); step();
const n = 5, t0 = performance.now(); let l; for (let i = 0; i < n; i++) l = step();
console.log(`${info.name} threads=${describeBackend().threads} fastMatMul=${fast}: ${((performance.now() - t0) / n).toFixed(0)} ms/step (B=${B}, T=${T}, d=128, 2 layers, ${m.numParameters()} params) loss ${l.toFixed(3)} tensors ${tf.memory().numTensors}`);
