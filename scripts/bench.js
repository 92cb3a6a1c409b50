#!/usr/bin/env node
/**
 * vlab benchmark: matmul throughput and one reference training step on every tfjs backend present.
 *
 *   npm run bench                      # builds, then: node scripts/bench.js
 *   node scripts/bench.js --vs-torch   # also runs scripts/torch_ref_step.py when PyTorch is installed
 *   node scripts/bench.js --ablation   # also times the wasm step with vlab's native / fused kernels off
 *
 * Prints one JSON object on stdout (progress goes to stderr) and writes it to results/bench.json:
 * per backend, matmul GFLOP/s (128, 512, 1024; 512 with B transposed), the reference training
 * step (median of timed steps after warm-up), a batch-1 forward pass, the kernels one step runs,
 * and vlab's native kernels in use; decode tokens/s of @vlab/llm at batch 1 and 64, with and without its KV cache,
 * and the arithmetic floor of a token (bench_decode.js); the reward service's requests/s and p99 latency
 * (bench_rewards.js); then peak RSS and, with --vs-torch, PyTorch on the same machine
 * in the same run: its step with 2 threads (before and after vlab's, averaged) and with 1, its
 * batch-1 forward (scripts/torch_ref_forward.py, best of 1 and 2 threads), its greedy decode with a KV cache at
 * batch 1 and 64 (scripts/torch_ref_decode.py), and the ratios vlab / PyTorch.
 *
 * The reference step is the model of scripts/torch_ref_step.py, op for op: a 2-layer pre-LN
 * transformer (width 128, 4 heads, MLP 512 with exact GELU), vocab 256, learned positions [T, D],
 * final LayerNorm, head without bias; batch 32 x 64 tokens, causal mask, cross-entropy, AdamW
 * (lr 1e-3, weight decay 0.01). One step = forward, backward, optimizer step, read the loss.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const vsTorch = argv.includes("--vs-torch");
const ablation = argv.includes("--ablation");

// stdout carries exactly one JSON object: send everything else (tfjs banners included) to stderr.
const print = (s) => process.stdout.write(s);
console.log = (...a) => console.error(...a);
const log = (...a) => console.error("[bench]", ...a);

const core = await import("@vlab/core");
const { benchDecode, torchDecode } = await import("./bench_decode.js");
const { tf } = core;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const round = (x, d = 2) => (x == null || !Number.isFinite(x) ? x : Math.round(x * 10 ** d) / 10 ** d);
const now = () => performance.now();

// ---------------------------------------------------------------------------------------------
// matmul throughput

/**
 * GFLOP/s of an n×n by n×n matmul (b transposed if asked): median over repeats within a time budget.
 * Completion is forced by reading one element of the product (an asynchronous backend must finish
 * it first); reading all of it back would add a copy of n² floats that is not the multiply (on
 * wasm, `dataSync` of a 1024² result alone takes ~14 ms on this 2-core VM, longer than the product).
 */
function matmulGflops(n, { transposeB = false, budgetMs = 600, maxReps = 50 } = {}) {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const run = () => {
    const c = tf.matMul(a, b, false, transposeB);
    const corner = tf.slice(c, [n - 1, n - 1], [1, 1]);
    corner.dataSync(); // wait for the result (read outside any tidy)
    tf.dispose([c, corner]);
  };
  const t0 = now();
  run();
  const first = now() - t0;
  if (first < budgetMs / 4) run(); // second warm-up unless a single run is already expensive
  const times = [];
  const start = now();
  do {
    const t = now();
    run();
    times.push(now() - t);
  } while (now() - start < budgetMs && times.length < maxReps);
  tf.dispose([a, b]);
  return (2 * n ** 3) / (median(times) * 1e6);
}

// ---------------------------------------------------------------------------------------------
// the reference model (scripts/torch_ref_step.py)

const B = 32,
  T = 64,
  D = 128,
  H = 4,
  L = 2,
  V = 256,
  FF = 512;

/**
 * The model from @vlab/core's own layers (Linear, Embedding, LayerNorm, MultiHeadAttention with a
 * fused qkv projection, causalMask, exact gelu), initialised like PyTorch's defaults from `rng`.
 * Returns `{ params: [name, variable][], forward(ids [b, T]) -> logits [b, T, V], dispose() }`.
 */
function buildCoreModel(rng) {
  const { Module, Linear, Embedding, LayerNorm, MultiHeadAttention, gelu, causalMask } = core;
  class Block extends Module {
    constructor() {
      super();
      this.ln1 = this.module("ln1", new LayerNorm(D));
      this.ln2 = this.module("ln2", new LayerNorm(D));
      this.attn = this.module("attn", new MultiHeadAttention(D, H, { qkvFused: true, names: { out: "o" }, rng }));
      this.f1 = this.module("f1", new Linear(D, FF, { rng }));
      this.f2 = this.module("f2", new Linear(FF, D, { rng }));
    }
    forward(x, mask) {
      x = tf.add(x, this.attn.forward(this.ln1.forward(x), { mask })); // [b, T, D]
      return tf.add(x, this.f2.forward(gelu(this.f1.forward(this.ln2.forward(x)))));
    }
  }
  class LM extends Module {
    constructor() {
      super();
      this.emb = this.module("emb", new Embedding(V, D, { rng }));
      this.pos = this.param("pos", [T, D]); // zeros, as torch.zeros(T, D)
      this.blocks = this.moduleList(
        "blocks",
        Array.from({ length: L }, () => new Block()),
      );
      this.ln = this.module("ln", new LayerNorm(D));
      this.head = this.module("head", new Linear(D, V, { bias: false, rng }));
    }
    forward(ids, mask) {
      let x = tf.add(this.emb.forward(ids), this.pos); // [b, T, D]
      for (const blk of this.blocks) x = blk.forward(x, mask);
      return this.head.forward(this.ln.forward(x)); // [b, T, V]
    }
  }
  const m = new LM();
  const mask = causalMask(T); // [1, 1, T, T]
  return {
    params: m.namedParameters(),
    forward: (ids) => m.forward(ids, mask),
    dispose: () => (m.dispose(), mask.dispose()),
  };
}

/** The same model from raw tf ops, for a @vlab/core without layers (weights stored [in, out]). */
function buildRawModel(rng) {
  const params = [];
  const add = (name, values, shape) => {
    const v = tf.variable(tf.tensor(values, shape), true, `ref/${name}`);
    params.push([name, v]);
    return v;
  };
  const linear = (name, inF, outF, bias = true) => {
    const k = 1 / Math.sqrt(inF); // torch.nn.Linear: U(±1/√in) for weight and bias
    return {
      w: add(`${name}.weight`, rng.uniformArray(inF * outF, -k, k), [inF, outF]),
      b: bias ? add(`${name}.bias`, rng.uniformArray(outF, -k, k), [outF]) : null,
    };
  };
  const layerNorm = (name) => ({
    g: add(`${name}.weight`, new Float32Array(D).fill(1), [D]),
    b: add(`${name}.bias`, new Float32Array(D), [D]),
  });
  const m = {
    emb: add("emb.weight", rng.normalArray(V * D), [V, D]),
    pos: add("pos", new Float32Array(T * D), [T, D]),
    blocks: Array.from({ length: L }, (_, i) => ({
      ln1: layerNorm(`blocks.${i}.ln1`),
      ln2: layerNorm(`blocks.${i}.ln2`),
      qkv: linear(`blocks.${i}.qkv`, D, 3 * D),
      o: linear(`blocks.${i}.o`, D, D),
      f1: linear(`blocks.${i}.f1`, D, FF),
      f2: linear(`blocks.${i}.f2`, FF, D),
    })),
    ln: layerNorm("ln"),
    head: linear("head", D, V, false),
  };
  // Causal mask as an additive bias: 0 on and below the diagonal, -1e9 above.
  const maskBias = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9)); // [T, T]
  const lnorm = (x, p) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), p.g), p.b);
  };
  const lin = (x, p) => {
    const y = tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]]), p.w); // [N, out]
    return tf.reshape(p.b ? tf.add(y, p.b) : y, [...x.shape.slice(0, -1), p.w.shape[1]]);
  };
  const gelu = (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  const forward = (ids) => {
    const b = ids.shape[0];
    let x = tf.add(tf.gather(m.emb, ids), m.pos); // [b, T, D]
    for (const blk of m.blocks) {
      // torch: qkv.view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4). Same result, but split first: a 5-D
      // transpose takes tfjs-backend-wasm's generic path (~90 ms here, vs ~1 ms for a 4-D one).
      const heads = (t) => tf.transpose(tf.reshape(t, [b, T, H, D / H]), [0, 2, 1, 3]); // [b, H, T, Dh]
      const [q, k, v] = tf.split(lin(lnorm(x, blk.ln1), blk.qkv), 3, -1).map(heads);
      const att = tf.softmax(tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(D / H)), maskBias)); // [b, H, T, T]
      x = tf.add(x, lin(tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [b, T, D]), blk.o));
      x = tf.add(x, lin(gelu(lin(lnorm(x, blk.ln2), blk.f1)), blk.f2));
    }
    return lin(lnorm(x, m.ln), m.head); // [b, T, V]
  };
  return { params, forward, dispose: () => tf.dispose([maskBias, ...params.map(([, v]) => v)]) };
}

const haveCoreLayers = ["Module", "Linear", "Embedding", "LayerNorm", "MultiHeadAttention", "gelu", "causalMask"].every(
  (k) => k in core,
);
const buildRefModel = haveCoreLayers ? buildCoreModel : buildRawModel;

/** Mean cross-entropy of logits [b, T, V] against targets [b, T] (F.cross_entropy): @vlab/core's
 *  when it has one (fused into one kernel on wasm), else from raw ops. */
function crossEntropy(logits, targets) {
  if (typeof core.crossEntropy === "function") return core.crossEntropy(logits, targets);
  const logp = tf.logSoftmax(tf.reshape(logits, [-1, V])); // [b·T, V]
  return tf.neg(tf.mean(tf.sum(tf.mul(logp, tf.oneHot(tf.reshape(targets, [-1]), V)), -1)));
}

/** Times the reference step (median of `timed` after `warmup`) and the batch-1 forward pass. */
async function benchRefStep({ warmup, timed, fwdReps, skipStepIfWarmupMs = Infinity, profileKernels = false }) {
  const rng = new core.Rng(0);
  const model = buildRefModel(rng);
  const vars = model.params.map(([, v]) => v);
  if (vars.length !== 4 + L * 12 + 1)
    throw new Error(`reference model has ${vars.length} parameters, expected ${4 + L * 12 + 1}`);
  const opt = new core.AdamW(model.params, { lr: 1e-3, weightDecay: 0.01 });
  const ids = tf.tensor(
    Int32Array.from({ length: B * T }, () => rng.int(V)),
    [B, T],
    "int32",
  );
  const targets = tf.tensor(
    Int32Array.from({ length: B * T }, () => rng.int(V)),
    [B, T],
    "int32",
  );
  const step = () => {
    const { value, grads } = tf.tidy(() => tf.variableGrads(() => crossEntropy(model.forward(ids), targets), vars));
    opt.step(grads);
    tf.dispose(grads);
    const loss = value.dataSync()[0]; // loss.item(), read after the scope
    value.dispose();
    return loss;
  };
  const out = {};
  const before = tf.memory().numTensors;
  let t = now();
  const losses = [step()];
  const firstMs = now() - t;
  out.ref_first_step_ms = round(firstMs, 1);
  if (firstMs > skipStepIfWarmupMs) {
    out.ref_step_ms = null;
    out.ref_step_note = `timed steps skipped: the first (warm-up) step alone took ${Math.round(firstMs)} ms`;
  } else {
    for (let i = 1; i < warmup; i++) losses.push(step());
    const times = [];
    for (let i = 0; i < timed; i++) {
      t = now();
      losses.push(step());
      times.push(now() - t);
    }
    out.ref_step_ms = round(median(times), 1);
    out.ref_step_timed = timed;
    out.ref_step_range_ms = [round(Math.min(...times), 1), round(Math.max(...times), 1)];
    out.ref_loss_first = round(losses[0], 4); // ≈ ln 256 = 5.545 at init
    out.ref_loss_last = round(losses[losses.length - 1], 4);
    out.ref_step_leaked_tensors = tf.memory().numTensors - before;
  }
  if (profileKernels && out.ref_step_ms != null) {
    // Which kernels one step runs, and how often (tf.profile records every kernel call).
    let loss;
    const info = await tf.profile(() => {
      loss = step();
    });
    losses.push(loss);
    const counts = {};
    for (const k of info.kernels) counts[k.name] = (counts[k.name] ?? 0) + 1;
    out.ref_step_kernel_calls = info.kernels.length;
    out.ref_step_kernels = Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
  }
  const ids1 = tf.tidy(() => tf.slice(ids, [0, 0], [1, T]));
  const fwd = () => {
    const logits = tf.tidy(() => model.forward(ids1));
    logits.dataSync();
    logits.dispose();
  };
  for (let i = 0; i < 5; i++) fwd();
  const ft = [];
  for (let i = 0; i < fwdReps; i++) {
    t = now();
    fwd();
    ft.push(now() - t);
  }
  out.ref_forward_b1_ms = round(median(ft), 2);
  out.ref_forward_b1_reps = fwdReps;
  out.ref_forward_b1_p10_p90_ms = [round(quantile(ft, 0.1), 2), round(quantile(ft, 0.9), 2)];
  tf.dispose([ids, targets, ids1]);
  model.dispose();
  opt.dispose();
  return out;
}

// ---------------------------------------------------------------------------------------------

/** The first Python that imports torch: $VLAB_PYTHON, python3 on PATH, then Debian's /usr/bin/python3
 *  (python3-torch installs there; a pyenv or venv python3 earlier on PATH would not see it). */
function findTorchPython() {
  const candidates = [process.env.VLAB_PYTHON, "python3", "/usr/bin/python3"].filter(Boolean);
  for (const py of [...new Set(candidates)]) {
    try {
      execFileSync(py, ["-c", "import torch"], { stdio: "ignore" });
      return py;
    } catch {
      // next
    }
  }
  return null;
}

/** One run of scripts/torch_ref_step.py (median of 5 steps after 2 warm-up), in ms. */
function torchRefStep(python, script, threads) {
  const outText = execFileSync(python, [script, String(threads)], { cwd: repo, encoding: "utf8", timeout: 300_000 });
  return Number(outText.trim().split("\n").pop());
}

/** One run of scripts/torch_ref_forward.py: median ms of a batch-1 forward pass (no_grad). */
function torchForward(python, threads) {
  const script = path.join(repo, "scripts", "torch_ref_forward.py");
  const outText = execFileSync(python, [script, String(threads), "100"], {
    cwd: repo,
    encoding: "utf8",
    timeout: 300_000,
  });
  return Number(outText.trim().split("\n").pop());
}

function torchInfo(python) {
  const v = execFileSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" }).trim();
  return { torch_version: v, torch_python: python };
}

async function main() {
  const t0 = now();
  const defaultInfo = await core.initBackend(); // what a notebook would get ($VLAB_BACKEND respected)
  const result = {
    node: process.version,
    cpus: os.availableParallelism?.() ?? os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? "unknown",
    loadavg_start: os.loadavg().map((x) => round(x, 2)),
    backends: {},
    unavailable: {},
    default_backend: defaultInfo.name,
    model_source: haveCoreLayers
      ? "@vlab/core layers (Embedding, LayerNorm, MultiHeadAttention with fused qkv, Linear, gelu, causalMask, " +
        "crossEntropy)"
      : "raw tf ops in scripts/bench.js (@vlab/core has no layers)",
  };

  // PyTorch, when asked for: before vlab's measurements here and again after, averaged, so that a
  // change in the machine's load during the run weighs on both sides.
  let torch = null;
  if (vsTorch) {
    const script = path.join(repo, "scripts", "torch_ref_step.py");
    const python = findTorchPython();
    if (!python)
      Object.assign(result, {
        torch_ref_step_ms: null,
        torch_note: "unavailable: no python3 can import torch (Debian: apt-get install python3-torch)",
      });
    else if (!fs.existsSync(script))
      Object.assign(result, { torch_ref_step_ms: null, torch_note: `unavailable: ${script} not found` });
    else {
      const threads = Math.min(2, result.cpus);
      torch = { python, script, threads, runs: [] };
      log(`torch reference step (${threads} threads, ${python}) ...`);
      torch.runs.push(torchRefStep(python, script, threads));
    }
  }

  for (const name of ["tensorflow", "wasm", "cpu"]) {
    let info;
    try {
      info = await core.initBackend(name);
    } catch (e) {
      result.unavailable[name] = String(e.message).split("\n")[0];
      log(`${name}: unavailable`);
      continue;
    }
    const slow = name === "cpu";
    log(`${name}: matmul ...`);
    const r = {
      threads: info.threads,
      ...(info.simd !== undefined ? { simd: info.simd } : {}),
      ...(info.native ? { native: info.native } : {}),
    };
    r.matmul_gflops = {};
    for (const n of [128, 512, 1024]) r.matmul_gflops[n] = round(matmulGflops(n, { budgetMs: slow ? 1500 : 600 }));
    r.matmul_t_gflops = { 512: round(matmulGflops(512, { transposeB: true, budgetMs: slow ? 1500 : 600 })) };
    log(`${name}: reference step ...`);
    // The pure-JS cpu backend needs seconds per step: 1 warm-up + 2 timed steps there, or none if
    // the warm-up step alone is over 15 s (the whole bench should stay within ~3 minutes).
    const ref = slow
      ? await benchRefStep({ warmup: 1, timed: 2, fwdReps: 3, skipStepIfWarmupMs: 15_000 })
      : await benchRefStep({ warmup: 3, timed: 9, fwdReps: 100, profileKernels: true });
    if (slow && ref.ref_step_ms != null)
      ref.ref_step_note = "cpu backend: median of 2 timed steps after 1 warm-up (pure JS is slow)";
    Object.assign(r, ref);
    if (name === "wasm" && ablation) r.ablation = await ablate();
    result.backends[name] = r;
    log(`${name}: ${JSON.stringify({ ...r, ref_step_kernels: undefined })}`);
    if (torch && name === result.default_backend) {
      log(`torch reference step again ...`);
      torch.runs.push(torchRefStep(torch.python, torch.script, torch.threads));
    }
  }
  await core.initBackend(defaultInfo.name);

  if (torch) {
    if (torch.runs.length < 2) torch.runs.push(torchRefStep(torch.python, torch.script, torch.threads));
    // PyTorch with one thread too: on a loaded machine its OpenMP threads can lose more than they
    // gain, and the fair comparison is against its better setting.
    log(`torch with 1 thread, and batch-1 forward passes ...`);
    const oneThread = torchRefStep(torch.python, torch.script, 1);
    const fwd = { [torch.threads]: torchForward(torch.python, torch.threads), 1: torchForward(torch.python, 1) };
    Object.assign(result, torchInfo(torch.python), {
      torch_ref_step_ms: round(torch.runs.reduce((a, b) => a + b, 0) / torch.runs.length, 1),
      torch_ref_step_runs_ms: torch.runs,
      torch_threads: torch.threads,
      torch_ref_step_1thread_ms: oneThread,
      torch_forward_b1_ms: round(Math.min(...Object.values(fwd)), 3),
      torch_forward_b1_by_threads_ms: fwd,
    });
    const ours = result.backends[result.default_backend];
    if (ours?.ref_step_ms) {
      result.ratio_vs_torch = round(ours.ref_step_ms / result.torch_ref_step_ms, 2);
      result.ratio_vs_torch_best = round(ours.ref_step_ms / Math.min(result.torch_ref_step_ms, oneThread), 2);
      log(
        `reference step: vlab (${result.default_backend}) ${ours.ref_step_ms} ms, PyTorch ` +
          `${result.torch_ref_step_ms} ms (${torch.threads} threads; ${oneThread} ms with 1): ratio ` +
          `${result.ratio_vs_torch} (${result.ratio_vs_torch_best} vs its best)`,
      );
    }
    if (ours?.ref_forward_b1_ms) {
      result.ratio_forward_b1_vs_torch = round(ours.ref_forward_b1_ms / result.torch_forward_b1_ms, 2);
      log(
        `batch-1 forward: vlab ${ours.ref_forward_b1_ms} ms, PyTorch ${result.torch_forward_b1_ms} ms (best of 1 and ` +
          `${torch.threads} threads): ratio ${result.ratio_forward_b1_vs_torch}`,
      );
    }
  }
  // Decode throughput of @vlab/llm on the default backend, with and without the KV cache (bench_decode.js).
  await core.initBackend(defaultInfo.name);
  const peakGflops = Math.max(
    ...Object.values(result.backends).flatMap((b) => Object.values(b.matmul_gflops ?? {}).filter(Number.isFinite)),
  );
  let torchDecoded;
  if (torch) {
    log(`torch decode (${torch.threads} threads) ...`);
    const script = path.join(repo, "scripts", "torch_ref_decode.py");
    torchDecoded = torchDecode(execFileSync, torch.python, script, torch.threads);
  }
  result.decode = await benchDecode({ tf, log, peakGflops, torch: torchDecoded });
  result.rewards = await (await import("./bench_rewards.js")).benchRewards({ log }); // the reward service

  const described = core.describeBackend();
  result.kernels_registered = {
    by_vlab: described.registeredByVlab,
    per_backend: Object.fromEntries(Object.keys(result.backends).map((b) => [b, tf.getKernelsForBackend(b).length])),
  };
  if (described.native) result.native = described.native;
  result.peak_rss_mb = Math.round(process.resourceUsage().maxRSS / 1024);
  result.loadavg_end = os.loadavg().map((x) => round(x, 2));
  result.wall_s = round((now() - t0) / 1000, 1);

  const json = JSON.stringify(result, null, 2);
  fs.mkdirSync(path.join(repo, "results"), { recursive: true });
  fs.writeFileSync(path.join(repo, "results", "bench.json"), json + "\n");
  print(json + "\n");
}

/** The wasm reference step with vlab's native kernels off, then also its fused ops off (what a
 *  machine without a C++ compiler gets, and roughly the kernels before them), in this process. */
async function ablate() {
  const out = {};
  const configs = [
    ["no_native", () => core.configureNativeKernels({ enabled: false })],
    ["no_native_no_fused", () => core.configureFusedOps({ enabled: false })],
  ];
  for (const [label, apply] of configs) {
    apply();
    log(`wasm ablation ${label} ...`);
    const r = await benchRefStep({ warmup: 2, timed: 5, fwdReps: 30 });
    out[label] = { ref_step_ms: r.ref_step_ms, ref_forward_b1_ms: r.ref_forward_b1_ms };
  }
  core.configureNativeKernels({ enabled: true });
  core.configureFusedOps({ enabled: true });
  return out;
}

await main();
