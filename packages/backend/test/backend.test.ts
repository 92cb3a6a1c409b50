import * as tf from "@tensorflow/tfjs-core";
import { afterEach, describe, expect, it } from "vitest";
import { describeBackend, initBackend } from "../src/backend.js";

const savedEnv = process.env.VLAB_BACKEND;
afterEach(() => {
  if (savedEnv === undefined) delete process.env.VLAB_BACKEND;
  else process.env.VLAB_BACKEND = savedEnv;
});

describe("initBackend", () => {
  // This file runs in its own process, so the first call decides how wasm starts: here with two
  // threads, which exercises the worker workaround for Node (see wasm_threads.ts).
  it("picks wasm when tfjs-node is absent, and can run it with threads", async () => {
    delete process.env.VLAB_BACKEND;
    const info = await initBackend(undefined, { threads: 2 });
    expect(info.name).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(info.threads).toBe(2);
    expect(info.simd).toBe(true);
    expect(info.gpu).toBeNull();
    expect(info.version).toBe(tf.version_core);
    expect(info.registeredByVlab).toContain("UnsortedSegmentSum (wasm)");
    // and it computes
    const y = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64]));
    expect(y.dataSync()[0]).toBe(64);
    y.dispose();
  });

  it("is idempotent and cheap the second time", async () => {
    const t0 = performance.now();
    const info = await initBackend();
    expect(performance.now() - t0).toBeLessThan(50);
    expect(info.name).toBe("wasm");
  });

  it("an explicit name wins over VLAB_BACKEND, which wins over the default", async () => {
    process.env.VLAB_BACKEND = "cpu";
    expect((await initBackend()).name).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect((await initBackend("wasm")).name).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(describeBackend().threads).toBe(2); // the wasm instance was reused, not restarted
  });

  it("cpu reports one thread and no simd", async () => {
    const info = await initBackend("cpu");
    expect(info).toMatchObject({ name: "cpu", threads: 1, gpu: null });
    expect(info.simd).toBeUndefined();
    await initBackend("wasm");
  });

  it("a requested backend that is missing is a clear error", async () => {
    await expect(initBackend("tensorflow")).rejects.toThrow(/tensorflow.*not available.*tfjs-node/s);
    expect(tf.getBackend()).toBe("wasm"); // unchanged
    process.env.VLAB_BACKEND = "tpu";
    await expect(initBackend()).rejects.toThrow(/VLAB_BACKEND.*tpu/);
  });

  it("gradients are registered (tfjs-core alone has none)", async () => {
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor1d([1, 2, 3]));
    expect(Array.from(g.dataSync())).toEqual([2, 4, 6]);
    g.dispose();
  });
});

describe("describeBackend", () => {
  it("is plain data (@vlab/core adds its Jupyter display)", async () => {
    await initBackend("wasm");
    const info = describeBackend();
    expect(Object.getOwnPropertySymbols(info)).toEqual([]);
    expect(Object.keys(info)).toEqual(
      expect.arrayContaining(["name", "threads", "gpu", "version", "registeredByVlab"]),
    );
    expect(JSON.parse(JSON.stringify(info))).toEqual(info);
  });
});
