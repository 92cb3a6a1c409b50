import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint } from "../src/checkpoint.js";
import { AdamW } from "../src/optim.js";
import { loadSafetensors, readSafetensorsHeader, saveSafetensors } from "../src/safetensors.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
let dir: string;
beforeAll(async () => {
  await tf.setBackend("cpu");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-ckpt-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function trained() {
  const w = tf.variable(
    tf.tensor2d([
      [1, 2],
      [3, 4],
    ]),
  );
  const b = tf.variable(tf.tensor1d([0.5, -0.5]));
  const opt = new AdamW(
    [
      ["w", w],
      ["b", b],
    ],
    { lr: 0.1 },
  );
  for (let i = 0; i < 2; i++) tf.tidy(() => opt.step({ w: tf.fill([2, 2], 0.3 + i), b: tf.fill([2], -0.2) }));
  return { w, b, opt };
}

describe("checkpoint", () => {
  it("saves model, optimizer, step, history and extras in one safetensors file and restores them", () => {
    const { w, b, opt } = trained();
    const file = path.join(dir, "ck.safetensors");
    const n = tf.memory().numTensors;
    saveCheckpoint(file, {
      model: { w, b },
      optimizer: opt,
      step: 2,
      history: [{ step: 0, loss: 1.5 }],
      extra: { seed: 3, note: "x" },
    });
    expect(tf.memory().numTensors).toBe(n);

    const header = readSafetensorsHeader(file);
    expect(Object.keys(header.tensors).sort()).toEqual([
      "b",
      "optim.b.exp_avg",
      "optim.b.exp_avg_sq",
      "optim.b.step",
      "optim.w.exp_avg",
      "optim.w.exp_avg_sq",
      "optim.w.step",
      "w",
    ]);
    expect(header.metadata).toMatchObject({ format: "vlab.checkpoint/1", step: "2" });
    expect(JSON.parse(header.metadata!["optim.hparams"]!)).toMatchObject({ type: "AdamW", lr: 0.1, weightDecay: 0.01 });

    const ck = loadCheckpoint(file);
    expect(ck.step).toBe(2);
    expect(ck.history).toEqual([{ step: 0, loss: 1.5 }]);
    expect(ck.extra).toEqual({ seed: 3, note: "x" });
    expect(Array.from(ck.tensors.w!.dataSync())).toEqual(Array.from(w.dataSync()));
    tf.dispose([ck.tensors, ck.optimizerState]);

    // Restore into fresh objects, then one more identical step on both: same result.
    const w2 = tf.variable(tf.zeros([2, 2]));
    const b2 = tf.variable(tf.zeros([2]));
    const opt2 = new AdamW(
      [
        ["w", w2],
        ["b", b2],
      ],
      { lr: 0.1 },
    );
    const m = tf.memory().numTensors;
    const r = restoreCheckpoint(file, {
      model: [
        ["w", w2],
        ["b", b2],
      ],
      optimizer: opt2,
    });
    expect(tf.memory().numTensors).toBe(m);
    expect(r).toMatchObject({ step: 2, extra: { seed: 3, note: "x" } });
    for (const o of [opt, opt2]) tf.tidy(() => o.step({ w: tf.fill([2, 2], -1), b: tf.fill([2], 1) }));
    expect(Array.from(w2.dataSync())).toEqual(Array.from(w.dataSync()));
    expect(Array.from(b2.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(() => restoreCheckpoint(file, { model: [["w", w2]] })).toThrow(/unexpected tensors "b"/);
    tf.dispose([w, b, w2, b2]);
    opt.dispose();
    opt2.dispose();
  });

  it("reduced precision applies to the model only; the optimizer state stays F32", () => {
    const { w, b, opt } = trained();
    const file = path.join(dir, "bf16.safetensors");
    saveCheckpoint(file, { model: { w, b }, optimizer: opt, step: 2 }, { dtype: "BF16" });
    const h = readSafetensorsHeader(file).tensors;
    expect(h.w!.dtype).toBe("BF16");
    expect(h["optim.w.exp_avg"]!.dtype).toBe("F32");
    expect(h["optim.w.step"]!.dtype).toBe("I32");
    tf.dispose([w, b]);
    opt.dispose();
  });

  it("rejects a plain safetensors file, naming it", () => {
    const file = path.join(dir, "plain.safetensors");
    const t = tf.ones([2]);
    saveSafetensors(file, { t });
    t.dispose();
    expect(() => loadCheckpoint(file)).toThrow(/checkpoint .*plain\.safetensors: not a vlab checkpoint/);
  });

  it(
    "a process killed mid-save leaves the previous checkpoint " + "intact; the torn temp file is reported as truncated",
    async () => {
      // Build a small ESM copy of the writer (safetensors_encode.ts, atomic_write.ts and what they import)
      // the child can import (inside node_modules so that it resolves packages like the package does).
      const work = path.join(repo, "node_modules", ".cache", `vlab-ckpt-kill-${process.pid}`);
      fs.mkdirSync(work, { recursive: true });
      try {
        for (const file of [
          "safetensors_encode",
          "safetensors_header",
          "safetensors_json",
          "safetensors_dtypes",
          "atomic_write",
        ]) {
          const src = fs.readFileSync(path.join(here, `../src/${file}.ts`), "utf8");
          const js = ts.transpileModule(src, {
            compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
          }).outputText;
          fs.writeFileSync(path.join(work, `${file}.mjs`), js.replace(/(from "\.\/[a-z_]+)\.js"/g, '$1.mjs"'));
        }

        const file = path.join(dir, "kill.safetensors");
        const w = tf.tensor1d([1, 2, 3]);
        saveSafetensors(file, { w }, { format: "vlab.checkpoint/1", step: "5" });
        w.dispose();
        const before = fs.readFileSync(file);

        // The child writes a 64 MB checkpoint over it in 1 MB chunks, announces the first chunk, then hangs.
        fs.writeFileSync(
          path.join(work, "child.mjs"),
          `import { atomicWrite } from "./atomic_write.mjs";
         import { encodeSafetensors } from "./safetensors_encode.mjs";
         const big = encodeSafetensors({ w: { dtype: "F32", shape: [16 << 20], data: new Float32Array(16 << ` +
            `20).fill(7) } });
         atomicWrite(process.argv[2], big, { chunkSize: 1 << 20, onChunk: (n, total, tmp) => {
           if (n === 1 << 20) { process.stdout.write("ready " + tmp + "\\n"); Atomics.wait(new Int32Array(new ` +
            `SharedArrayBuffer(4)), 0, 0, 60000); }
         } });`,
        );
        const child = spawn(process.execPath, [path.join(work, "child.mjs"), file], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        const tmp = await new Promise<string>((resolve, reject) => {
          let out = "";
          child.stdout.on("data", (d) => {
            out += d;
            const m = /ready (.*)\n/.exec(out);
            if (m) resolve(m[1]!);
          });
          child.on("exit", (code) => reject(new Error(`child exited early (${code})`)));
        });
        const exited = new Promise((r) => child.on("exit", (_code, signal) => r(signal)));
        child.kill("SIGKILL");
        expect(await exited).toBe("SIGKILL");

        // The target is byte-for-byte the previous checkpoint, and loads.
        expect(fs.readFileSync(file).equals(before)).toBe(true);
        const t = loadSafetensors(file);
        expect(Array.from(t.w!.dataSync())).toEqual([1, 2, 3]);
        tf.dispose(t);
        // The torn temporary file is left beside it; reading it fails, naming the file and the fault.
        expect(path.dirname(tmp)).toBe(dir);
        expect(fs.statSync(tmp).size).toBe(1 << 20);
        expect(() => loadSafetensors(tmp)).toThrow(
          new RegExp(
            `${path.basename(tmp).replace(/\./g, "\\.")}: file is truncated: the header needs \\d+ bytes, the file has 1048576`,
          ),
        );
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
    },
  );
});
