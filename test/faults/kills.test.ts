/**
 * Fault injection, SIGKILL (issue 14, "Reliability"): real processes are killed at seeded-random moments, mid-write
 * included, and what they leave behind is checked.
 *
 * - Training: core's `train` (checkpoint every 2 steps) and GRPO's `GrpoTrainer.train` (every step) are killed 10
 *   times each and resumed after every kill. The checkpoint on disk is always complete and never goes back; the final
 *   one (weights, AdamW moments, step, history) is bit-identical to an uninterrupted run's; no temp file remains.
 * - Results: eval's `report()` and the kernel's `writeNotebook` (executed notebooks) are killed while writing in a
 *   loop. The target is always the old file or the new one, byte for byte, and a killed writer's temp file is removed
 *   by the next write of the same target (never a live writer's).
 *
 * The children are node scripts written to a temp folder that import the built packages (dist/: `npm test` builds
 * first) on tfjs's cpu backend, whose arithmetic is plain JavaScript, so "bit-identical" is a fair thing to ask.
 * A kill moment is counted in the child's own progress lines (after its k-th step or write, then either a fraction of
 * a step later or as its next temp file appears), so what a kill interrupts does not depend on the machine's speed.
 * The two training tests run side by side (one child each at a time: two cores), the rest one after the other. The
 * file takes about 60 s of CPU (user + sys), most of it 30 node processes starting tfjs (~1 s each). The timeouts
 * are generous (4 min) so that a loaded machine makes it slow, not red.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { threadId } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeNotebook, type Notebook } from "../../kernels/vlab/src/notebook.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const dist = (p: string) => JSON.stringify(pathToFileURL(path.join(ROOT, p)).href);
let tmp = "";
const t0 = performance.now();
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-kills-"));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  console.log(`kills.test.ts: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});

/** mulberry32: the test's own seeded stream of kill moments. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- children -------------------------------------------------------------------------------------------------

/** A child that prints "ready", then "step <n>" after each training step or "saved <v>" after each write. */
interface Child {
  proc: ChildProcessWithoutNullStreams;
  /** Progress lines since "ready", with the time each arrived. */
  marks: { n: number; at: number }[];
  readyAt: number;
  ready: Promise<void>;
  closed: Promise<NodeJS.Signals | number | null>;
}

function startChild(script: string, args: string[]): Child {
  const proc = spawn(process.execPath, [script, ...args], { cwd: path.dirname(script) });
  const c: Child = { proc, marks: [], readyAt: 0, ready: Promise.resolve(), closed: Promise.resolve(null) };
  let out = "";
  let err = "";
  let onReady = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  proc.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    for (let i = out.indexOf("\n"); i >= 0; i = out.indexOf("\n")) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      if (line === "ready") {
        c.readyAt = performance.now();
        onReady();
      } else if (/^(step|saved) \d+$/.test(line))
        c.marks.push({ n: Number(line.split(" ")[1]), at: performance.now() });
    }
  });
  proc.stderr.on("data", (d: Buffer) => (err += d.toString()));
  c.closed = new Promise((resolve, reject) =>
    proc.on("close", (code, signal) => {
      if (signal === null && code !== 0) reject(new Error(`${path.basename(script)} exited with ${code}: ${err}`));
      resolve(signal ?? code);
    }),
  );
  c.ready = Promise.race([ready, c.closed.then(() => {})]);
  return c;
}

/** A kill moment: after `lines` progress lines, then either a fraction of a step later or as the next write starts. */
interface Moment {
  mode: "random" | "write";
  lines: number;
  frac: number;
}

/** Kills `c` at moment `m`; `temp` is the prefix of the child's temp files in `dir` (mode "write"). */
async function killAt(c: Child, m: Moment, dir: string, temp: string): Promise<void> {
  const alive = () => c.proc.exitCode === null && c.proc.signalCode === null;
  const deadline = Date.now() + 30_000;
  while (c.marks.length < m.lines && alive() && Date.now() < deadline) await sleep(1);
  if (!alive() || c.marks.length < m.lines) throw new Error(`the child ended or stalled before its kill (${m.lines})`);
  if (m.mode === "random") {
    // a fraction of the last step's time (of the time since "ready" for the first; of 60 ms before any)
    const last = c.marks.at(-1)?.at ?? c.readyAt;
    const before = c.marks.at(-2)?.at ?? c.readyAt;
    await sleep(m.frac * (c.marks.length ? last - before : 60));
  } else {
    // as soon as its next temp file appears (inotify, no polling: the child keeps its core); the event of a temp
    // file renamed over the target (its write is over) does not count
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error) => {
        watcher.close();
        clearInterval(check);
        if (e) reject(e);
        else resolve();
      };
      const watcher = fs.watch(dir, (_event, f) => {
        if (f?.startsWith(temp) && fs.existsSync(path.join(dir, f))) {
          c.proc.kill("SIGKILL");
          done();
        }
      });
      const check = setInterval(() => {
        if (!alive() || Date.now() > deadline) done(new Error("the child never started another write"));
      }, 50);
    });
  }
  c.proc.kill("SIGKILL");
  expect(await c.closed).toBe("SIGKILL");
}

/** The kill moments of a run: even kills as a write starts, odd ones at a random moment. */
function schedule(seed: number, kills: number, maxLines: number): Moment[] {
  const r = seeded(seed);
  return Array.from({ length: kills }, (_, k) => ({
    mode: k % 2 === 0 ? "write" : "random",
    lines: Math.floor(r() * (maxLines + 1)),
    frac: r(),
  }));
}

/** The temp files of writes of `name` in `dir`, with their sizes (one that a live writer renames meanwhile: not). */
const temps = (dir: string, name: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(`.${name}.tmp-`))
    .flatMap((f) => {
      const st = fs.statSync(path.join(dir, f), { throwIfNoEntry: false });
      return st ? [{ name: f, size: st.size }] : [];
    });

// --- safetensors, read raw (no tfjs in this process) --------------------------------------------------------------

interface Raw {
  meta: Record<string, string>;
  tensors: Map<string, Buffer>;
}

/** Parses a safetensors file completely; throws on a torn one. */
function readRaw(file: string): Raw {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, unknown>;
  const meta = (header.__metadata__ ?? {}) as Record<string, string>;
  const tensors = new Map<string, Buffer>();
  let end = 0;
  for (const [k, v] of Object.entries(header)) {
    if (k === "__metadata__") continue;
    const [a, b] = (v as { data_offsets: [number, number] }).data_offsets;
    tensors.set(k, buf.subarray(8 + n + a, 8 + n + b));
    end = Math.max(end, b);
  }
  if (8 + n + end !== buf.length) throw new Error(`${file}: ${buf.length} bytes, the header says ${8 + n + end}`);
  return { meta, tensors };
}

// --- training: kill, resume, compare ---------------------------------------------------------------------------

const CKPT = "run.safetensors";

/** In every child: exit when this test process is gone (a timed-out test must not leave a run training forever). */
const ORPHAN_GUARD = `
  const parentPid = process.ppid;
  setInterval(() => process.ppid !== parentPid && process.exit(1), 500).unref();`;

const TRAIN_CHILD = `
  import { tf, initBackend, Module, Linear, Rng, crossEntropy, train, warmupCosine }
    from ${dist("packages/core/dist/index.js")};
  const [file, steps, every] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
  ${ORPHAN_GUARD}
  await initBackend("cpu");
  const [I, H, C, B] = [64, 256, 8, 16]; // 84k parameters: a 1 MB checkpoint with the AdamW moments
  class Net extends Module {
    constructor() {
      super();
      const rng = new Rng(1);
      this.l1 = this.module("l1", new Linear(I, H, { rng }));
      this.l2 = this.module("l2", new Linear(H, H, { rng }));
      this.l3 = this.module("l3", new Linear(H, C, { rng }));
    }
    forward(x) { return this.l3.forward(tf.relu(this.l2.forward(tf.relu(this.l1.forward(x))))); }
  }
  const net = new Net();
  const batch = (s) => {
    const x = new Rng(1000 + s).normalArray(B * I); // the batch of step s, the same after a resume
    const y = Array.from({ length: B }, (_, i) => (x[i * I] > 0) + 2 * (x[i * I + 1] > 0)); // 4 classes
    return { x: tf.tensor2d(x, [B, I]), y };
  };
  process.stdout.write("ready\\n");
  await train({
    params: net, steps, clip: 1, lr: warmupCosine({ lr: 1e-2, warmupSteps: 3, totalSteps: 100 }),
    loss: (s) => { const { x, y } = batch(s); return crossEntropy(net.forward(x), y); },
    checkpoint: { path: file, every }, resume: true,
    progress: { update: (s) => process.stdout.write("step " + s + "\\n") },
  });`;

const GRPO_CHILD = `
  import { initBackend, Rng } from ${dist("packages/core/dist/index.js")};
  import { CausalLM, buildChatTokenizer } from ${dist("packages/llm/dist/index.js")};
  import { GrpoTrainer, grpoConfig, presets, textPolicy } from ${dist("packages/grpo/dist/index.js")};
  const [file, steps, every] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
  ${ORPHAN_GUARD}
  await initBackend("cpu");
  const COLOURS = ["red", "blue", "green", "yellow"];
  const tokenizer = buildChatTokenizer([["say", "a", "colour", "one", "two", ...COLOURS].join(" ")]);
  const lm = new CausalLM({ vocabSize: tokenizer.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2,
    numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 64, padTokenId: tokenizer.padId,
    eosTokenId: tokenizer.stopIds, imageTokenId: tokenizer.imageTokenId, initializerRange: 0.02 }, { rng: new Rng(8) });
  const config = grpoConfig(presets.r1v,
    { groupSize: 4, maxCompletionLength: 4, beta: 0.04, lr: (s) => 2e-2 * (1 - s / 100), seed: 11 });
  const prompt = (c) => tokenizer.encodeChat([{ role: "user", content: "say " + c }], { addGenerationPrompt: true });
  const batch = (s) => ({ prompts: [prompt(COLOURS[s % 4])], samples: [{ target: COLOURS[s % 4] }] });
  const rewards = [{ name: "target", fn: (text, s) => (text.split(/\\s+/).includes(s.target) ? 1 : 0) }];
  const trainer = new GrpoTrainer({ policy: textPolicy(lm), tokenizer, rewards, config });
  process.stdout.write("ready\\n");
  await trainer.train({ steps, batch, checkpoint: { path: file, every }, resume: true,
    progress: { update: (s) => process.stdout.write("step " + s + "\\n") } });`;

interface KillStats {
  kills: number;
  /** Kills that left a temp file of the killed child (they landed mid-write), and its bytes. */
  midWrite: number;
  orphanBytes: number;
  /** Temp files and their bytes present before the final resume, and after it. */
  before: { files: number; bytes: number };
  after: number;
  /** The checkpoint's step after each kill. */
  steps: number[];
  /** The step the last resume and the uninterrupted run stop at. */
  stop: number;
}

/**
 * Runs `script` in `dir` with no end in sight, killing it `kills` times at seeded moments and resuming after each
 * kill; then resumes once more up to a stop step a few steps past the last checkpoint, and, beside it, runs the same
 * script uninterrupted from scratch up to that step in `<dir>-ref`. (The `steps` argument only says where the loop
 * stops; the learning-rate schedules do not depend on it.) Returns the final checkpoint of each and the figures.
 */
async function trainWithKills(
  script: string,
  dir: string,
  { seed, kills, maxLines, every }: { seed: number; kills: number; maxLines: number; every: number },
) {
  const file = path.join(dir, CKPT);
  const refFile = path.join(`${dir}-ref`, CKPT);
  for (const f of [file, refFile]) fs.mkdirSync(path.dirname(f));
  const args = (f: string, steps: number) => [f, String(steps), String(every)];
  const stats: KillStats = {
    kills: 0,
    midWrite: 0,
    orphanBytes: 0,
    before: { files: 0, bytes: 0 },
    after: -1,
    steps: [],
    stop: 0,
  };
  let prev = 0;
  for (const m of schedule(seed, kills, maxLines)) {
    const existed = fs.existsSync(file);
    const c = startChild(script, args(file, 1_000_000));
    await c.ready;
    const own = `.${CKPT}.tmp-${c.proc.pid}-`;
    await killAt(c, m, dir, own);
    stats.kills++;
    if (fs.existsSync(file)) {
      const step = Number(readRaw(file).meta.step); // complete (readRaw throws on a torn file)
      expect(step).toBeGreaterThanOrEqual(prev); // never goes back
      expect(step).toBeLessThanOrEqual(Math.max(prev, ...c.marks.map((x) => x.n))); // never ahead of the run
      expect(step % every).toBe(0);
      prev = step;
    }
    stats.steps.push(prev);
    const left = temps(dir, CKPT);
    const mine = left.filter((t) => t.name.startsWith(own));
    expect(mine.length).toBeLessThanOrEqual(1);
    if (mine[0]) {
      stats.midWrite++;
      stats.orphanBytes += mine[0].size;
    }
    // A life that resumed from a checkpoint (it loaded it before its first step) removed the temp files of earlier
    // lives; only its own can be there.
    if (existed && c.marks.length > 0) expect(left.filter((t) => !t.name.startsWith(own))).toEqual([]);
  }
  const left = temps(dir, CKPT);
  stats.before = { files: left.length, bytes: left.reduce((a, t) => a + t.size, 0) };
  stats.stop = prev + 2 * every + 1; // the last resume runs a few steps, and ends between two periodic checkpoints
  const [last, ref] = [startChild(script, args(file, stats.stop)), startChild(script, args(refFile, stats.stop))];
  expect(await last.closed).toBe(0);
  expect(await ref.closed).toBe(0);
  expect(fs.readdirSync(dir)).toEqual([CKPT]); // the last resume left no temp file
  stats.after = temps(dir, CKPT).length;
  return { stats, got: readRaw(file), ref: readRaw(refFile), file, refFile };
}

/** Every tensor byte for byte; returns how many tensors and bytes were compared. */
function sameTensors(got: Raw, ref: Raw): { tensors: number; bytes: number } {
  expect([...got.tensors.keys()].sort()).toEqual([...ref.tensors.keys()].sort());
  let bytes = 0;
  for (const [k, t] of ref.tensors) {
    expect(Buffer.compare(got.tensors.get(k)!, t), k).toBe(0);
    bytes += t.length;
  }
  return { tensors: ref.tensors.size, bytes };
}

const kB = (bytes: number) => (bytes / 1e3).toFixed(0);
const figures = (what: string, s: KillStats, cmp: { tensors: number; bytes: number }) =>
  `${what}: ${s.kills} kills (${s.midWrite} mid-write, leaving ${kB(s.orphanBytes)} kB of temp files); ` +
  `checkpoint step after each kill ${s.steps.join(",")}, then resumed to ${s.stop}; before the last resume ` +
  `${s.before.files} temp files (${kB(s.before.bytes)} kB), after it ${s.after}; ` +
  `${cmp.tensors} tensors (${(cmp.bytes / 1e6).toFixed(2)} MB) bit-identical to the uninterrupted run`;

describe.concurrent("SIGKILL during training, then resume", () => {
  it("core's train: 10 kills at random moments (half mid-write); the resumed run is bit-identical", async () => {
    const script = path.join(tmp, "train_child.mjs");
    fs.writeFileSync(script, TRAIN_CHILD);
    const { stats, got, ref, file, refFile } = await trainWithKills(script, path.join(tmp, "train"), {
      seed: 14,
      kills: 10,
      maxLines: 4,
      every: 2,
    });
    expect(stats.midWrite).toBeGreaterThanOrEqual(3);
    expect(stats.steps.some((s) => s > 0)).toBe(true);
    const cmp = sameTensors(got, ref);
    expect(cmp.tensors).toBe(24); // 6 weights, and for each its AdamW exp_avg, exp_avg_sq and step count
    expect(got.meta).toEqual(ref.meta); // step, history (every loss, lr, grad norm), optimizer hparams
    expect(Buffer.compare(fs.readFileSync(file), fs.readFileSync(refFile))).toBe(0); // the whole file, too
    expect(Number(got.meta.step)).toBe(stats.stop);
    console.log(figures("train", stats, cmp) + "; the whole file identical too");
  }, 240_000);

  it("GRPO's trainer: 10 kills at random moments (half mid-write); the resumed run is bit-identical", async () => {
    const script = path.join(tmp, "grpo_child.mjs");
    fs.writeFileSync(script, GRPO_CHILD);
    const { stats, got, ref } = await trainWithKills(script, path.join(tmp, "grpo"), {
      seed: 21,
      kills: 10,
      maxLines: 2,
      every: 1,
    });
    expect(stats.midWrite).toBeGreaterThanOrEqual(3);
    const cmp = sameTensors(got, ref); // the policy's weights, the reference weights ("ref."), the AdamW moments
    expect([...got.tensors.keys()].some((k) => k.startsWith("ref."))).toBe(true);
    // The metadata too, but for what each step measures of its process: wall-clock timings (`step_ms`,
    // `generate_ms/3`) and the memory held (`memory/bytes`), which differ between a resumed process and one that
    // ran on.
    const measured = (k: string) => /_ms(\/|$)/.test(k) || k.startsWith("memory/");
    const untimed = (meta: Record<string, string>) => ({
      ...meta,
      history: (JSON.parse(meta.history!) as Record<string, unknown>[]).map((h) =>
        Object.fromEntries(Object.entries(h).filter(([k]) => !measured(k))),
      ),
    });
    expect(untimed(got.meta)).toEqual(untimed(ref.meta));
    expect(Number(got.meta.step)).toBe(stats.stop);
    console.log(figures("GRPO", stats, cmp));
  }, 240_000);
});

// --- results: report() and writeNotebook -------------------------------------------------------------------------

/** The report() of version `v`: 2000 metrics (a 55 kB file), the version as the seed. */
const REPORT_ARGS = `(v, dir) => ({
  notebook: "faults-kill", budget: "quick", backend: "cpu", wall_s: 1, seed: v, dir,
  metrics: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => ["m" + i, v + i / 1024])),
  claims: [{ id: "c", source: "a test", statement: "m1 is positive", metric: "m1", op: ">", threshold: 0 }],
})`;
/** The executed notebook of version `v`: 300 cells with outputs (a 110 kB file). */
const NOTEBOOK = `(v) => ({
  nbformat: 4, nbformat_minor: 5, metadata: { version: v },
  cells: Array.from({ length: 300 }, (_, i) => ({
    id: "c" + i, cell_type: "code", source: ["x = " + v + " + " + i + "\\n"], metadata: {}, execution_count: i + 1,
    outputs: [{ output_type: "stream", name: "stdout", text: [String(v * i).padEnd(200, ".") + "\\n"] }],
  })),
})`;

/** A writer: says "ready", then writes versions base, base + 1, ... (n of them), saying "saved <v>" after each. */
const writerScript = (imports: string, write: string) => `
  ${imports}
  const [file, base, n] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
  ${ORPHAN_GUARD}
  process.stdout.write("ready\\n");
  for (let v = base; v < base + n; v++) {
    ${write};
    process.stdout.write("saved " + v + "\\n");
  }`;
const REPORT_CHILD = writerScript(
  `import { dirname } from "node:path";\n  import { report } from ${dist("packages/eval/dist/index.js")};\n` +
    `  const args = ${REPORT_ARGS};`,
  "report(args(v, dirname(file)))",
);
const NOTEBOOK_CHILD = writerScript(
  `import { writeNotebook } from ${dist("kernels/vlab/dist/notebook.js")};\n  const nb = ${NOTEBOOK};`,
  "writeNotebook(file, nb(v))",
);

interface WriteStats {
  kills: number;
  midWrite: number;
  orphanBytes: number;
  /** Temp files present at once after a kill, at most. */
  maxLeft: number;
  /** Versions found in the target after each kill (old or new). */
  old: number;
  new: number;
  before: { files: number; bytes: number };
  after: number;
}

/**
 * Kills writers of `file` (`kills` of them, each writing from version 1000·k on) at seeded moments; after each kill
 * the target must be exactly `expected(v)` for the version v it holds: the last one written, or the one the kill
 * interrupted after its rename. Then one writer runs to its end: no temp file is left.
 */
async function writersWithKills(
  script: string,
  file: string,
  seed: number,
  kills: number,
  expected: (v: number) => Buffer,
  versionOf: (text: string) => number,
): Promise<WriteStats> {
  const [dir, name] = [path.dirname(file), path.basename(file)];
  fs.mkdirSync(dir, { recursive: true });
  const s: WriteStats = {
    kills: 0,
    midWrite: 0,
    orphanBytes: 0,
    maxLeft: 0,
    old: 0,
    new: 0,
    before: { files: 0, bytes: 0 },
    after: -1,
  };
  let current: number | undefined;
  for (const [k, m] of schedule(seed, kills, 3).entries()) {
    const before = temps(dir, name); // of dead writers only
    const c = startChild(script, [file, String(1000 * k), "1000"]);
    await c.ready;
    const own = `.${name}.tmp-${c.proc.pid}-`;
    await killAt(c, m, dir, own);
    s.kills++;
    const saved = c.marks.map((x) => x.n);
    const left = temps(dir, name);
    const mine = left.filter((t) => t.name.startsWith(own));
    if (mine[0]) {
      s.midWrite++;
      s.orphanBytes += mine[0].size;
    }
    s.maxLeft = Math.max(s.maxLeft, left.length);
    // A writer that wrote (or began to) removed the temp files of the dead writers before it.
    if (saved.length > 0 || mine.length > 0) expect(left.filter((t) => !t.name.startsWith(own))).toEqual([]);
    else expect(left.length).toBeLessThanOrEqual(before.length);
    if (!fs.existsSync(file)) {
      expect(current).toBeUndefined(); // no writer finished yet
      continue;
    }
    const bytes = fs.readFileSync(file);
    const v = versionOf(bytes.toString("utf8")); // throws on a torn file
    expect(Buffer.compare(bytes, expected(v)), `version ${v}`).toBe(0);
    const last = saved.at(-1);
    const allowed = last === undefined ? [current, 1000 * k] : [last, last + 1];
    expect(allowed).toContain(v);
    if (v === current) s.old++;
    else s.new++;
    current = v;
  }
  const left = temps(dir, name);
  s.before = { files: left.length, bytes: left.reduce((a, t) => a + t.size, 0) };
  const last = startChild(script, [file, "999000", "1"]);
  expect(await last.closed).toBe(0);
  s.after = temps(dir, name).length;
  expect(fs.readdirSync(dir)).toEqual([name]);
  expect(Buffer.compare(fs.readFileSync(file), expected(999_000))).toBe(0);
  return s;
}

const writeFigures = (what: string, s: WriteStats) =>
  `${what}: ${s.kills} kills (${s.midWrite} mid-write, leaving ${kB(s.orphanBytes)} kB of temp files, ` +
  `at most ${s.maxLeft} at once); the target was complete and byte-exact after every kill ` +
  `(the old version ${s.old} times, a newer one ${s.new} times); before the last write ${s.before.files} temp files ` +
  `(${kB(s.before.bytes)} kB), after it ${s.after}`;

describe("SIGKILL during results writes", () => {
  it("eval's report(): the old JSON or the new one, never a torn one; temp files go at the next write", async () => {
    const script = path.join(tmp, "report_child.mjs");
    fs.writeFileSync(script, REPORT_CHILD);
    // The expected bytes of version v: report() in this process, into a folder of its own.
    const { report } = await import("@vlab/eval");
    const args = new Function(`return ${REPORT_ARGS}`)() as (v: number, dir: string) => Parameters<typeof report>[0];
    const refDir = path.join(tmp, "report-ref");
    const expected = (v: number) => fs.readFileSync(report(args(v, refDir)).path);
    const versionOf = (text: string) => (JSON.parse(text) as { seed: number }).seed;
    const s = await writersWithKills(script, path.join(tmp, "report", "faults-kill.json"), 35, 5, expected, versionOf);
    expect(s.midWrite).toBeGreaterThanOrEqual(2);
    console.log(writeFigures("report()", s));
  }, 240_000);

  it("kernel's writeNotebook: the old notebook or the new one, never torn; temps go at the next write", async () => {
    const script = path.join(tmp, "notebook_child.mjs");
    fs.writeFileSync(script, NOTEBOOK_CHILD);
    const nb = new Function(`return ${NOTEBOOK}`)() as (v: number) => Notebook;
    const expected = (v: number) => Buffer.from(JSON.stringify(nb(v), null, 1) + "\n");
    const versionOf = (text: string) => (JSON.parse(text) as Notebook).metadata.version as number;
    const s = await writersWithKills(script, path.join(tmp, "nb", "run.ipynb"), 42, 16, expected, versionOf);
    expect(s.midWrite).toBeGreaterThanOrEqual(6);
    console.log(writeFigures("writeNotebook", s));
  }, 240_000);

  it("writeNotebook removes the temp files of dead writers only, never a live writer's", async () => {
    const dir = path.join(tmp, "nb-live");
    fs.mkdirSync(dir);
    const file = path.join(dir, "a.ipynb");
    const live = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    const dead = spawn(process.execPath, ["-e", ""]);
    await new Promise((r) => dead.on("close", r));
    try {
      const files = {
        deadNew: `.a.ipynb.tmp-${dead.pid}-t0-abc123`,
        deadLegacy: `a.ipynb.tmp-${dead.pid}`, // the name writeNotebook used before
        deadSamePid: `.a.ipynb.tmp-${process.pid}-t${threadId}-old123`, // an earlier process that had this pid
        liveNew: `.a.ipynb.tmp-${live.pid}-t0-abc123`,
        liveLegacy: `a.ipynb.tmp-${live.pid}`,
        ownOtherThread: `.a.ipynb.tmp-${process.pid}-t7-abc123`, // a worker thread of this process may be writing it
        otherTarget: `.b.ipynb.tmp-${dead.pid}-t0-abc123`,
        prefixTarget: `.a.ipynb.bak.tmp-${dead.pid}-t0-abc123`,
        notOurs: `.a.ipynb.tmp-${dead.pid}-t0-abc.json`,
        groupPid: `.a.ipynb.tmp-0-t0-abc123`,
      };
      for (const f of Object.values(files)) fs.writeFileSync(path.join(dir, f), "x");
      const nb: Notebook = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [] };
      writeNotebook(file, nb);
      expect(fs.readFileSync(file, "utf8")).toBe(JSON.stringify(nb, null, 1) + "\n");
      const kept = Object.entries(files).filter(([k]) => !k.startsWith("dead"));
      expect(fs.readdirSync(dir).sort()).toEqual(["a.ipynb", ...kept.map(([, f]) => f)].sort());
    } finally {
      live.kill("SIGKILL");
    }
  });
});
