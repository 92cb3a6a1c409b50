import * as tf from "@tensorflow/tfjs-core";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../src/backend.js";
import { Embedding, LayerNorm, Linear } from "../src/layers.js";
import { Module } from "../src/module.js";
import { setSeed } from "../src/rng.js";

beforeAll(async () => {
  await initBackend("cpu");
});

class Block extends Module {
  ln = this.module("ln", new LayerNorm(4));
  fc = this.module("fc", new Linear(4, 4));
  forward(x: tf.Tensor) {
    return tf.tidy(() => tf.add(x, this.fc.forward(this.ln.forward(x))));
  }
}

class Toy extends Module {
  emb = this.module("emb", new Embedding(6, 4));
  blocks = this.moduleList("blocks", [new Block(), new Block()]);
  head = this.module("head", new Linear(4, 3, { bias: false }));
  scale = this.param("scale", [1], (s) => tf.ones(s));
  positions = this.buffer("positions", tf.range(0, 5, 1, "int32"));
  cache = this.buffer("cache", tf.zeros([2]), { persistent: false });
  forward(ids: tf.Tensor) {
    return tf.tidy(() => {
      let h = this.emb.forward(ids);
      for (const b of this.blocks) h = b.forward(h);
      return tf.mul(this.head.forward(h), this.scale);
    });
  }
}

const EXPECTED_NAMES = [
  "scale",
  "emb.weight",
  "blocks.0.ln.weight",
  "blocks.0.ln.bias",
  "blocks.0.fc.weight",
  "blocks.0.fc.bias",
  "blocks.1.ln.weight",
  "blocks.1.ln.bias",
  "blocks.1.fc.weight",
  "blocks.1.fc.bias",
  "head.weight",
];

describe("Module", () => {
  it("names parameters with dotted paths, in registration order", () => {
    const m = new Toy();
    expect(m.namedParameters().map(([n]) => n)).toEqual(EXPECTED_NAMES);
    expect(m.parameters().every((p) => p instanceof tf.Variable)).toBe(true);
    expect(m.namedModules().map(([n]) => n)).toEqual([
      "",
      "emb",
      "blocks",
      "blocks.0",
      "blocks.0.ln",
      "blocks.0.fc",
      "blocks.1",
      "blocks.1.ln",
      "blocks.1.fc",
      "head",
    ]);
    expect(m.blocks).toHaveLength(2);
    m.dispose();
  });

  it("counts parameters", () => {
    const m = new Toy();
    const perBlock = 4 + 4 + 16 + 4;
    expect(m.numParameters()).toBe(1 + 24 + 2 * perBlock + 12);
    m.dispose();
  });

  it("freeze / unfreeze", () => {
    const m = new Toy();
    m.blocks[0]!.freeze();
    expect(m.trainableParameters()).toHaveLength(EXPECTED_NAMES.length - 4);
    expect(m.numParameters({ trainableOnly: true })).toBe(m.numParameters() - 28);
    expect(m.blocks[0]!.fc.weight.trainable).toBe(false);
    m.freeze();
    expect(m.trainableParameters()).toHaveLength(0);
    m.unfreeze();
    expect(m.trainableParameters()).toHaveLength(EXPECTED_NAMES.length);
    m.dispose();
  });

  it("stateDict holds the variables themselves plus persistent buffers", () => {
    const m = new Toy();
    const sd = m.stateDict();
    expect(Object.keys(sd)).toEqual([...EXPECTED_NAMES, "positions"]);
    expect(sd["blocks.1.fc.weight"]).toBe(m.blocks[1]!.fc.weight);
    expect(sd["positions"]!.dtype).toBe("int32");
    expect(sd["cache"]).toBeUndefined(); // not persistent
    expect(m.namedBuffers().map(([n]) => n)).toEqual(["positions", "cache"]);
    m.dispose();
  });

  it("loadStateDict copies values in; the model then computes the same function", () => {
    setSeed(1);
    const a = new Toy();
    setSeed(2);
    const b = new Toy();
    const ids = tf.tensor2d([[0, 5, 2]], [1, 3], "int32");
    const ya = a.forward(ids);
    const yb0 = b.forward(ids);
    expect(tf.max(tf.abs(tf.sub(ya, yb0))).dataSync()[0]).toBeGreaterThan(1e-3);
    const res = b.loadStateDict(a.stateDict());
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const yb = b.forward(ids);
    expect(Array.from(yb.dataSync())).toEqual(Array.from(ya.dataSync()));
    // b keeps its own variables: changing a afterwards leaves b alone
    a.head.weight.assign(tf.zerosLike(a.head.weight));
    expect(Array.from(b.forward(ids).dataSync())).toEqual(Array.from(ya.dataSync()));
    tf.dispose([ids, ya, yb0, yb]);
    a.dispose();
    b.dispose();
  });

  it("loading a model's own stateDict into itself is harmless", () => {
    const m = new Toy();
    const before = Array.from(m.head.weight.dataSync());
    m.loadStateDict(m.stateDict());
    expect(Array.from(m.head.weight.dataSync())).toEqual(before);
    m.dispose();
  });

  it("shape mismatch: error names the tensor and both shapes, and nothing is loaded", () => {
    const m = new Toy();
    const before = Array.from(m.emb.weight.dataSync());
    const sd: Record<string, tf.Tensor> = { ...m.stateDict() };
    sd["emb.weight"] = tf.zeros([4, 4]);
    sd["head.weight"] = tf.zeros([3, 4]);
    expect(() => m.loadStateDict(sd)).toThrow(/"emb\.weight": checkpoint has shape \[4, 4\], model has \[6, 4\]/);
    expect(Array.from(m.emb.weight.dataSync())).toEqual(before);
    expect(Array.from(m.head.weight.dataSync())).not.toEqual(new Array(12).fill(0));
    tf.dispose([sd["emb.weight"]!, sd["head.weight"]!]);
    m.dispose();
  });

  it("strict lists missing and unexpected names; non-strict loads what matches", () => {
    const m = new Toy();
    const extra = tf.ones([2]);
    const head = tf.ones([3, 4]);
    const sd = { "head.weight": head, "lm_head.weight": extra };
    expect(() => m.loadStateDict(sd)).toThrow(/missing keys: scale, emb\.weight.*unexpected keys: lm_head\.weight/s);
    const res = m.loadStateDict(sd, { strict: false });
    expect(res.unexpectedKeys).toEqual(["lm_head.weight"]);
    expect(res.missingKeys).toContain("blocks.0.fc.weight");
    expect(res.missingKeys).not.toContain("head.weight");
    expect(Array.from(m.head.weight.dataSync())).toEqual(new Array(12).fill(1));
    tf.dispose([extra, head]); // the caller may dispose the source tensors
    expect(Array.from(m.head.weight.dataSync())).toEqual(new Array(12).fill(1));
    m.dispose();
  });

  it("casts dtypes when loading", () => {
    const m = new Toy();
    const pos = tf.tensor1d([4, 3, 2, 1, 0], "float32");
    const scale = tf.tensor1d([2], "int32");
    m.loadStateDict({ positions: pos, scale }, { strict: false });
    expect(m.positions.dtype).toBe("int32");
    expect(Array.from(m.positions.dataSync())).toEqual([4, 3, 2, 1, 0]);
    expect(m.scale.dtype).toBe("float32");
    expect(m.scale.dataSync()[0]).toBe(2);
    tf.dispose([pos, scale]);
    m.dispose();
  });

  it("same seed, same weights", () => {
    setSeed(7);
    const a = new Toy();
    setSeed(7);
    const b = new Toy();
    for (const [name, v] of a.namedParameters()) {
      expect(Array.from(v.dataSync()), name).toEqual(Array.from(b.stateDict()[name]!.dataSync()));
    }
    a.dispose();
    b.dispose();
  });

  it("rejects duplicate and dotted names", () => {
    const m = new Module();
    m.param("w", [2]);
    expect(() => m.param("w", [2])).toThrow(/already registered/);
    expect(() => m.module("a.b", new Module())).toThrow(/without dots/);
    m.dispose();
  });

  it("displays its tree with parameter counts", () => {
    const m = new Toy();
    m.blocks[1]!.freeze();
    const bundle = m[Symbol.for("Jupyter.display") as typeof import("../src/kernel_hook.js").JUPYTER_DISPLAY]();
    const text = bundle["text/plain"] as string;
    expect(text.split("\n")[0]).toBe("Toy  [93 params]");
    expect(text).toContain("├─ emb: Embedding(6, 4)  [24 params]");
    expect(text).toContain("├─ blocks: ModuleList(2)  [56 params]");
    expect(text).toMatch(/└─ 1: Block {2}\[28 params, frozen\]/);
    expect(text).toContain("└─ head: Linear(4, 3, bias=false)  [12 params]");
    expect(text).toContain("total 93 parameters, 65 trainable");
    expect(bundle["text/html"]).toContain("blocks.0.fc.weight");
    m.dispose();
  });

  it("dispose frees every parameter and buffer", () => {
    const before = tf.memory().numTensors;
    const m = new Toy();
    expect(tf.memory().numTensors).toBe(before + EXPECTED_NAMES.length + 2);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("a forward + backward step in tidy leaks nothing", () => {
    const m = new Toy();
    const ids = tf.tensor2d(
      [
        [0, 1, 2],
        [3, 4, 5],
      ],
      [2, 3],
      "int32",
    );
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.mean(tf.square(m.forward(ids))) as tf.Scalar,
          m.trainableParameters(),
        );
        tf.dispose(grads);
        return value;
      });
    step().dispose();
    const before = tf.memory().numTensors;
    step().dispose();
    expect(tf.memory().numTensors).toBe(before);
    ids.dispose();
    m.dispose();
  });
});
