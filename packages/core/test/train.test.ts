import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// tfjs-core alone registers no gradients; the union package does (as backend.ts imports it).
import "@tensorflow/tfjs";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { AdamW, type Grads } from "../src/optim.js";
import { progressLine, train, trainLoop, type Progress } from "../src/train.js";
import { loadCheckpoint } from "../src/checkpoint.js";
import { Rng } from "../src/rng.js";

let dir: string;
beforeAll(async () => {
  await tf.setBackend("cpu");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-train-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete (globalThis as Record<symbol, unknown>)[Symbol.for("vlab.kernel")];
});

/** y = X·w* + b* with w* = [2, -3], b* = 0.5; batches drawn from the step number. */
function problem() {
  const w = tf.variable(tf.tensor2d([[0.1], [0.1]]), true, undefined);
  const b = tf.variable(tf.scalar(0));
  const batch = (step: number) => {
    const r = new Rng(1000 + step);
    const x = r.normalArray(16 * 2);
    const y = new Float32Array(16);
    for (let i = 0; i < 16; i++) y[i] = 2 * x[2 * i]! - 3 * x[2 * i + 1]! + 0.5;
    return { x: tf.tensor2d(x, [16, 2]), y: tf.tensor2d(y, [16, 1]) };
  };
  const loss = (step: number) => {
    const { x, y } = batch(step);
    return tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), y))) as tf.Scalar;
  };
  return { w, b, loss, dispose: () => tf.dispose([w, b]) };
}

const snapshot = (vs: tf.Variable[]) => vs.map((v) => Array.from(v.dataSync()));

describe("train", () => {
  it("lowers the loss and leaks no tensors per step", async () => {
    const p = problem();
    const counts: number[] = [];
    const progress: Progress = { update: () => counts.push(tf.memory().numTensors), done: vi.fn() };
    const opt = new AdamW([p.w, p.b], { lr: 0.05, weightDecay: 0 });
    const before = tf.memory().numTensors;
    const r = await train({ params: [p.w, p.b], loss: p.loss, steps: 60, optimizer: opt, progress });
    expect(r.stopped).toBe("done");
    expect(r.steps).toBe(60);
    expect(r.history).toHaveLength(60);
    expect(r.history[59]!.loss).toBeLessThan(r.history[0]!.loss / 10);
    expect(counts).toHaveLength(60);
    expect(new Set(counts)).toEqual(new Set([before])); // unchanged after every step
    expect(tf.memory().numTensors).toBe(before);
    expect(progress.done).toHaveBeenCalledOnce();
    expect(r.history[0]).toMatchObject({ step: 0, lr: 0.05 });
    expect(r.history[0]!.gradNorm).toBeGreaterThan(0);
    opt.dispose();
    p.dispose();
  });

  it("uses a schedule, evaluates every evalEvery steps and at the end, logs ~10 lines", async () => {
    const p = problem();
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const evalFn = vi.fn(async (step: number) => ({ val: step * 2 }));
    const r = await train({
      params: [p.w, p.b],
      loss: p.loss,
      steps: 20,
      lr: (s) => 0.01 * (s + 1),
      evalEvery: 8,
      evalFn,
    });
    const lines = log.mock.calls.map((c) => String(c[0]));
    log.mockRestore();
    expect(r.history.map((h) => h.lr)).toEqual(Array.from({ length: 20 }, (_, s) => 0.01 * (s + 1)));
    expect(r.evals).toEqual([
      { step: 7, val: 14 },
      { step: 15, val: 30 },
      { step: 19, val: 38 },
    ]);
    expect(lines.length).toBe(10);
    // Numbers in core's formatNumber: 38 as "38", 0.2 as "0.2".
    expect(lines[9]).toMatch(
      /^step 20\/20 \| loss [\d.e-]+ \| lr 0\.2 \| gradNorm [\d.e-]+ \| val 38 \| [\d.e-]+ ms\/step$/,
    );
    r.optimizer.dispose();
    p.dispose();
  });

  it("records a loss's side values in each history entry, outside the gradient", async () => {
    const run = async (withAux: boolean) => {
      const p = problem();
      const before = tf.memory().numTensors;
      const r = await train({
        params: [p.w, p.b],
        steps: 5,
        lr: 0.05,
        logEvery: 100,
        loss: (step) => {
          const loss = p.loss(step);
          // a side value that would change the gradient if it took part in it
          return withAux
            ? { loss, aux: { w0: tf.squeeze(tf.slice(p.w, [0, 0], [1, 1])), twice: tf.mul(loss, 2) } }
            : loss;
        },
      });
      const w = snapshot([p.w, p.b]);
      r.optimizer.dispose();
      p.dispose();
      expect(tf.memory().numTensors).toBe(before - 2); // only w and b are gone
      return { r, w };
    };
    const plain = await run(false);
    const { r, w } = await run(true);
    expect(w).toEqual(plain.w); // same updates: the side values take no part in the gradient
    r.history.forEach((h, i) => {
      expect(h.loss).toBe(plain.r.history[i]!.loss);
      expect(h.twice).toBeCloseTo(2 * h.loss, 5);
    });
    expect(r.history[0]!.w0).toBeCloseTo(0.1, 6); // read before the step's update
    expect(r.history[4]!.w0).not.toBeCloseTo(0.1, 3);
    expect(plain.r.history[0]!.twice).toBeUndefined();
  });
  it("clips gradients to the global norm before the optimizer sees them", async () => {
    const p = problem();
    const seen: number[] = [];
    class Spy extends AdamW {
      override step(g: Grads, lr?: number) {
        seen.push(
          tf.tidy(() =>
            Math.sqrt(
              (Array.isArray(g) ? g : Object.values(g)).reduce((s, t) => s + tf.sum(tf.square(t!)).dataSync()[0]!, 0),
            ),
          ),
        );
        super.step(g, lr);
      }
    }
    const opt = new Spy([p.w, p.b]);
    const r = await train({
      params: [p.w, p.b],
      loss: p.loss,
      steps: 3,
      optimizer: opt,
      clip: 0.5,
      progress: { update() {} },
    });
    for (let i = 0; i < 3; i++) {
      expect(r.history[i]!.gradNorm).toBeGreaterThan(0.5);
      expect(seen[i]).toBeCloseTo(0.5, 4);
    }
    opt.dispose();
    p.dispose();
  });

  it("stops on a non-finite loss without applying that update", async () => {
    const p = problem();
    let afterStep1: number[][] = [];
    const progress: Progress = { update: (s) => void (s === 2 && (afterStep1 = snapshot([p.w, p.b]))) };
    const opt = new AdamW([p.w, p.b]);
    const n = tf.memory().numTensors;
    await expect(
      train({
        params: [p.w, p.b],
        loss: (s) => (s === 2 ? (tf.mul(p.loss(s), NaN) as tf.Scalar) : p.loss(s)),
        steps: 5,
        optimizer: opt,
        progress,
      }),
    ).rejects.toThrow(/train: loss is NaN at step 2; stopped before applying that update/);
    expect(snapshot([p.w, p.b])).toEqual(afterStep1);
    expect(tf.memory().numTensors).toBe(n);
    // An infinite gradient (finite loss) is caught too.
    await expect(
      train({
        params: [p.w, p.b],
        loss: (s) => (s === 1 ? (tf.mul(tf.sum(tf.sqrt(tf.abs(tf.sub(p.w, p.w)))), 1) as tf.Scalar) : p.loss(s)),
        steps: 3,
        optimizer: opt,
        progress: { update() {} },
      }),
    ).rejects.toThrow(/gradient norm is (NaN|Infinity) \(loss 0\) at step 1/);
    opt.dispose();
    p.dispose();
  });

  it("stops cleanly on a Jupyter interrupt and on SIGINT, saving a checkpoint", async () => {
    const p = problem();
    const hook = { display() {}, interrupted: false };
    (globalThis as Record<symbol, unknown>)[Symbol.for("vlab.kernel")] = hook;
    const file = path.join(dir, "int.safetensors");
    const r = await train({
      params: [p.w, p.b],
      loss: p.loss,
      steps: 50,
      checkpoint: { path: file, every: 100 },
      progress: { update: (s) => void (s === 3 && (hook.interrupted = true)) },
    });
    expect(r.stopped).toBe("interrupted");
    expect(r.steps).toBe(3);
    const ck = loadCheckpoint(file);
    expect(ck.step).toBe(3);
    tf.dispose([ck.tensors, ck.optimizerState]);
    r.optimizer.dispose();
    delete (globalThis as Record<symbol, unknown>)[Symbol.for("vlab.kernel")];

    const r2 = await train({
      params: [p.w, p.b],
      loss: p.loss,
      steps: 50,
      progress: { update: (s) => void (s === 4 && process.emit("SIGINT")) },
    });
    expect(r2.stopped).toBe("interrupted");
    expect(r2.steps).toBe(4);
    expect(process.listenerCount("SIGINT")).toBe(0);
    r2.optimizer.dispose();
    p.dispose();
  });

  it("resumes exactly: 6 straight steps = 3 steps + checkpoint + fresh objects + 3 more", async () => {
    const lr = (s: number) => 0.02 * (1 + s / 10);
    const a = problem();
    const ra = await train({ params: [a.w, a.b], loss: a.loss, steps: 6, lr, clip: 5, progress: { update() {} } });

    const file = path.join(dir, "resume.safetensors");
    const b1 = problem();
    const rb1 = await train({
      params: [b1.w, b1.b],
      loss: b1.loss,
      steps: 3,
      lr,
      clip: 5,
      checkpoint: { path: file, every: 3 },
      progress: { update() {} },
    });
    expect(rb1.steps).toBe(3);
    rb1.optimizer.dispose();
    b1.dispose();

    const b2 = problem(); // fresh parameters and a fresh optimizer
    const rb2 = await train({
      params: [b2.w, b2.b],
      loss: b2.loss,
      steps: 6,
      lr,
      clip: 5,
      checkpoint: { path: file, every: 3 },
      resume: true,
      progress: { update() {} },
    });
    expect(rb2.steps).toBe(6);
    expect(snapshot([b2.w, b2.b])).toEqual(snapshot([a.w, a.b]));
    expect(rb2.history).toEqual(ra.history);
    const ck = loadCheckpoint(file);
    expect(ck.step).toBe(6);
    tf.dispose([ck.tensors, ck.optimizerState]);
    for (const r of [ra, rb2]) r.optimizer.dispose();
    a.dispose();
    b2.dispose();
  });

  it("trains a Module-like object by parameter names and resumes through loadStateDict", async () => {
    const p = problem();
    const frozen = tf.variable(tf.scalar(7), false);
    const mod = {
      namedParameters: (): [string, tf.Variable][] => [
        ["lin.weight", p.w],
        ["lin.bias", p.b],
        ["frozen", frozen],
      ],
      trainableParameters: () => [p.w, p.b],
      stateDict: () => ({ "lin.weight": p.w, "lin.bias": p.b, frozen }) as Record<string, tf.Tensor>,
      loadStateDict: vi.fn((t: Record<string, tf.Tensor>) => {
        p.w.assign(t["lin.weight"] as tf.Tensor2D);
        p.b.assign(t["lin.bias"] as tf.Scalar);
      }),
    };
    const file = path.join(dir, "mod.safetensors");
    const r = await train({
      params: mod,
      loss: p.loss,
      steps: 2,
      checkpoint: { path: file, every: 1 },
      progress: { update() {} },
    });
    const ck = loadCheckpoint(file);
    expect(Object.keys(ck.tensors).sort()).toEqual(["frozen", "lin.bias", "lin.weight"]);
    expect(Object.keys(ck.optimizerState).sort()).toEqual([
      "lin.bias.exp_avg",
      "lin.bias.exp_avg_sq",
      "lin.bias.step",
      "lin.weight.exp_avg",
      "lin.weight.exp_avg_sq",
      "lin.weight.step",
    ]);
    tf.dispose([ck.tensors, ck.optimizerState]);
    const r2 = await train({
      params: mod,
      loss: p.loss,
      steps: 3,
      checkpoint: { path: file, every: 1 },
      resume: true,
      progress: { update() {} },
    });
    expect(mod.loadStateDict).toHaveBeenCalledOnce();
    expect(r2.history.map((h) => h.step)).toEqual([0, 1, 2]);
    for (const x of [r, r2]) x.optimizer.dispose();
    frozen.dispose();
    p.dispose();
  });
});

describe("train with @vlab/core modules", () => {
  it("trains a Linear, checkpoints it by its parameter names, and resumes into a fresh one", async () => {
    const { Linear } = await import("../src/layers.js");
    const file = path.join(dir, "linear.safetensors");
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const y = tf.tensor2d([[1], [0], [-1]]);
    const mk = () => new Linear(2, 1, { rng: new Rng(5) });
    const loss = (m: InstanceType<typeof Linear>) => () => tf.mean(tf.square(tf.sub(m.forward(x), y))) as tf.Scalar;

    const a = mk();
    const ra = await train({ params: a, loss: loss(a), steps: 4, lr: 0.05, progress: { update() {} } });
    const b1 = mk();
    const r1 = await train({
      params: b1,
      loss: loss(b1),
      steps: 2,
      lr: 0.05,
      checkpoint: { path: file, every: 2 },
      progress: { update() {} },
    });
    const ck = loadCheckpoint(file);
    expect(Object.keys(ck.tensors).sort()).toEqual(["bias", "weight"]);
    tf.dispose([ck.tensors, ck.optimizerState]);
    const b2 = new Linear(2, 1, { rng: new Rng(99) }); // different init: the checkpoint must overwrite it
    const r2 = await train({
      params: b2,
      loss: loss(b2),
      steps: 4,
      lr: 0.05,
      checkpoint: { path: file, every: 2 },
      resume: true,
      progress: { update() {} },
    });
    expect(Array.from(b2.weight.dataSync())).toEqual(Array.from(a.weight.dataSync()));
    expect(r2.history).toEqual(ra.history);
    for (const r of [ra, r1, r2]) r.optimizer.dispose();
    for (const m of [a, b1, b2]) m.dispose();
    tf.dispose([x, y]);
  });
});

describe("trainLoop (the loop every trainer runs on)", () => {
  it(
    "runs the step hook from start to steps: progress, " + "then the checkpoint, then onStep; a last checkpoint",
    async () => {
      const events: string[] = [];
      const r = await trainLoop({
        label: "test",
        start: 2,
        steps: 7,
        step: async (s) => {
          events.push(`step ${s}`);
          return { loss: s / 10 };
        },
        show: (m) => ({ loss: m.loss }),
        progress: {
          update: (n, m) => void events.push(`progress ${n} ${m?.loss}`),
          done: () => void events.push("done"),
        },
        checkpoint: { every: 2, save: (n) => void events.push(`save ${n}`) },
        onStep: (m, s) => void events.push(`onStep ${s} ${m.loss}`),
      });
      expect(r).toEqual({ completed: 7, stopped: "done" });
      expect(events).toEqual([
        ...["step 2", "progress 3 0.2", "onStep 2 0.2"],
        ...["step 3", "progress 4 0.3", "save 4", "onStep 3 0.3"],
        ...["step 4", "progress 5 0.4", "onStep 4 0.4"],
        ...["step 5", "progress 6 0.5", "save 6", "onStep 5 0.5"],
        ...["step 6", "progress 7 0.6", "onStep 6 0.6"],
        "save 7",
        "done",
      ]);
    },
  );

  it(
    "does nothing (and saves nothing) when the run is " + "already complete; refuses a bad checkpoint interval",
    async () => {
      const saves: number[] = [];
      const r = await trainLoop({
        label: "test",
        start: 5,
        steps: 5,
        step: () => ({}),
        show: () => ({}),
        checkpoint: { every: 1, save: (n) => void saves.push(n) },
        progress: { update() {} },
      });
      expect(r).toEqual({ completed: 5, stopped: "done" });
      expect(saves).toEqual([]);
      await expect(
        trainLoop({
          label: "MyTrainer.train",
          start: 0,
          steps: 3,
          step: () => ({}),
          show: () => ({}),
          checkpoint: { every: 0, save() {} },
        }),
      ).rejects.toThrow("MyTrainer.train: checkpoint.every must be a positive integer, got 0");
    },
  );

  it("writes progress lines with core's formatNumber", () => {
    expect(progressLine(20, 100, { loss: 0.41271, lr: 0.001, reward: 1, tiny: 1.5e-5 }, 12.345)).toBe(
      "step 20/100 | loss 0.4127 | lr 0.001 | reward 1 | tiny 1.5e-5 | 12.3 ms/step",
    );
  });
});

describe("the slow-default warning", () => {
  // A fresh process: the warning is once per process, and this file's own tests set the backend.
  const run = (env: Record<string, string>, chooseFirst: string) => {
    const script = `
      import { tf, train, ${chooseFirst ? "initBackend" : "describeBackend"} } from "@vlab/core";
      ${chooseFirst}
      const w = tf.variable(tf.scalar(1));
      for (let i = 0; i < 2; i++) await train({ params: [w], steps: 2, loss: () => tf.square(w) });
      console.log("backend", tf.getBackend());`;
    return spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: path.resolve(import.meta.dirname, ".."),
      env: { ...process.env, VLAB_BACKEND: "", ...env },
      encoding: "utf8",
      timeout: 60_000,
    });
  };
  const warning = /runs on tfjs's slow "cpu" backend because no backend was chosen/g;

  it("warns once when training runs on cpu only because nothing chose a backend", () => {
    const r = run({}, "");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("backend cpu");
    expect(r.stderr.match(warning)?.length).toBe(1);
    expect(r.stderr).toContain("await core.initBackend()");
  });

  it("is silent when cpu or another backend was chosen on purpose", () => {
    for (const [env, choose, name] of [
      [{ VLAB_BACKEND: "cpu" }, "", "cpu"],
      [{}, 'await initBackend("cpu");', "cpu"],
      [{}, "await initBackend();", "wasm"],
    ] as const) {
      const r = run(env, choose);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`backend ${name}`);
      expect(r.stderr).not.toMatch(warning);
    }
  });
});
