import { tf, initBackend, Module, Embedding, LayerNorm, Linear, MLP, MultiHeadAttention, causalMask, setSeed } from "./dist/index.js";
await initBackend("wasm");
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
const B = 16, T = 64;
const ids = tf.tensor2d(Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 7 + t * 3) % 256)), [B, T], "int32");
const targets = tf.oneHot(tf.reshape(ids, [-1]), 256);
const step = () => tf.tidy(() => { const {value, grads} = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(targets, tf.reshape(m.forward(ids), [B * T, 256])), m.trainableParameters()); return value; });
step().dispose();
// time each kernel by wrapping kernelFuncs
const totals = new Map();
for (const k of tf.getKernelsForBackend("wasm")) { const f = k.kernelFunc; k.kernelFunc = (args) => { const t0 = performance.now(); const r = f(args); const dt = performance.now() - t0; const key = k.kernelName + (k.kernelName === "BatchMatMul" || k.kernelName === "GatherV2" || k.kernelName === "Sum" || k.kernelName==="Transpose" ? ` ${JSON.stringify(args.attrs)} ${Object.values(args.inputs).map(t=>"["+t.shape+"]").join("x")}` : ""); totals.set(key, (totals.get(key) ?? 0) + dt); return r; }; }
const t0 = performance.now(); step().dispose(); const total = performance.now() - t0;
const sorted = [...totals].sort((a, b) => b[1] - a[1]);
console.log("total", total.toFixed(0), "kernels", sorted.reduce((s, [, v]) => s + v, 0).toFixed(0));
for (const [k, v] of sorted.slice(0, 25)) console.log(v.toFixed(1).padStart(8), k);
