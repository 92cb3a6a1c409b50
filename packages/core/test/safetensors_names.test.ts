// Tensor names that collide with Object.prototype, and headers of hundreds of thousands of entries.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MAX_HEADER,
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  rawToTypedArray,
  readSafetensorsHeader,
  saveSafetensors,
} from "../src/safetensors.js";
import { assignByName, loadCheckpoint, saveCheckpoint } from "../src/checkpoint.js";

let dir: string;
beforeAll(async () => {
  await tf.setBackend("cpu");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-st-names-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A file from a header text and a data length. */
function build(headerText: string, dataLen: number): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.byteLength + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

describe("every tensor name is kept exactly", () => {
  const names = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "0", "", "é ü"];

  it("save → load keeps __proto__, constructor, prototype ... as tensors; __metadata__ keeps its meaning", () => {
    const file = path.join(dir, "proto.safetensors");
    // Object.fromEntries defines own keys: a "__proto__" key here is a tensor, not the object's prototype.
    const tensors = Object.fromEntries(names.map((n, i) => [n, tf.tensor1d([i, i + 0.5])])) as Record<
      string,
      tf.Tensor
    >;
    saveSafetensors(
      file,
      tensors,
      Object.fromEntries([
        ["__proto__", "meta"],
        ["format", "pt"],
      ]),
    );
    const header = readSafetensorsHeader(file);
    expect(Object.keys(header.tensors).sort()).toEqual([...names].sort());
    expect(Object.getPrototypeOf(header.tensors)).toBe(null);
    expect(header.tensors.__proto__!.shape).toEqual([2]);
    expect(Object.keys(header.metadata!).sort()).toEqual(["__proto__", "format"]);
    expect(header.metadata!.__proto__).toBe("meta");
    const back = loadSafetensors(file);
    expect(Object.keys(back).sort()).toEqual([...names].sort());
    names.forEach((n, i) => expect(Array.from(back[n]!.dataSync())).toEqual([i, i + 0.5]));
    expect("valueOf" in back).toBe(false); // nothing inherited looks like a tensor
    tf.dispose([back, tensors]);
  });

  it("a hand-written header naming a tensor __proto__ decodes it", () => {
    const bytes = build('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4);
    new DataView(bytes.buffer).setFloat32(bytes.byteLength - 4, 2.5, true);
    const { tensors } = decodeSafetensors(bytes, { name: "proto.st" });
    expect(Object.keys(tensors)).toEqual(["__proto__"]);
    expect(Array.from(rawToTypedArray(tensors.__proto__!))).toEqual([2.5]);
  });

  it("checkpoints keep such names too, and a missing one is not found on Object.prototype", () => {
    const file = path.join(dir, "proto-ckpt.safetensors");
    const model = Object.fromEntries([
      ["__proto__", tf.tensor1d([1])],
      ["constructor", tf.tensor1d([2])],
    ]) as Record<string, tf.Tensor>;
    saveCheckpoint(file, { model, step: 1 });
    const ck = loadCheckpoint(file);
    expect(Object.keys(ck.tensors).sort()).toEqual(["__proto__", "constructor"]);
    expect(Array.from(ck.tensors.constructor!.dataSync())).toEqual([2]);
    const v = tf.variable(tf.zeros([1]));
    expect(() => assignByName([["toString", v]], ck.tensors)).toThrow('assignByName: missing tensor "toString"');
    assignByName(
      [
        ["__proto__", v],
        ["constructor", tf.variable(tf.zeros([1]))],
      ],
      ck.tensors,
    );
    expect(Array.from(v.dataSync())).toEqual([1]);
    tf.dispose([ck.tensors, model, v]);
  });
});

describe("large headers", () => {
  /** A header of n one-byte U8 tensors "t.<i>" holding byte i, listed in a shuffled order (so offsets get sorted). */
  function shuffled(n: number, edit = (json: string) => json): Uint8Array {
    const order = Array.from({ length: n }, (_, i) => (i * 7919) % n); // 7919 is prime, coprime with n
    const entry = (i: number) => `"t.${i}":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`;
    const bytes = build(edit(`{${order.map(entry).join(",")}}`), n);
    for (let i = 0; i < n; i++) bytes[bytes.byteLength - n + i] = i & 0xff;
    return bytes;
  }

  it("a 200k-entry header with offsets out of order parses in a few seconds; every entry is checked", () => {
    const n = 200_000;
    const bytes = shuffled(n);
    const t0 = performance.now();
    const { tensors } = decodeSafetensors(bytes, { name: "big.st" });
    const seconds = (performance.now() - t0) / 1000;
    // 1 to 2 s on one core; the bound leaves room for a loaded machine, not for a quadratic check (minutes).
    expect(seconds).toBeLessThan(20);
    expect(Object.keys(tensors).length).toBe(n);
    const dataStart = bytes.byteLength - n;
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const t = tensors[`t.${i}`];
      const ok =
        t?.dtype === "U8" && t.shape[0] === 1 && t.bytes.byteOffset === dataStart + i && t.bytes[0] === (i & 0xff);
      if (!ok) bad++;
    }
    expect(bad).toBe(0);
  });

  it("an overlap among 20k shuffled entries is found, naming both tensors", () => {
    const bytes = shuffled(20_000, (json) => json.replace('"data_offsets":[4242,4243]', '"data_offsets":[4241,4242]'));
    expect(() => decodeSafetensors(bytes, { name: "big.st" })).toThrow(
      /big\.st: tensor "t\.(4241|4242)" \(bytes \[4241, 4242\)\) overlaps the previous tensor "t\.(4241|4242)"/,
    );
  });

  it("the writer refuses a header over the 100 MB limit readers accept", () => {
    const huge = "n".repeat(MAX_HEADER + 1);
    expect(() => encodeSafetensors({ [huge]: { dtype: "U8", shape: [0], data: new Uint8Array(0) } })).toThrow(
      /encodeSafetensors: the header of 1 tensors would be over 100000001 bytes, over the 100 MB limit \(100000000 bytes\)/,
    );
  });
});
