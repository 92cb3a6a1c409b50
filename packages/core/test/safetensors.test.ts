import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  atomicWrite,
  bf16BitsToF32,
  decodeSafetensors,
  encodeSafetensors,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  loadSafetensors,
  loadSafetensorsSharded,
  rawToTypedArray,
  readSafetensorsHeader,
  saveSafetensors,
} from "../src/safetensors.js";
import { loadCheckpoint } from "../src/checkpoint.js";

let dir: string;
beforeAll(async () => {
  await tf.setBackend("cpu");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-st-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

/**
 * Written by the reference implementation (safetensors 0.8.0, `safetensors.numpy.save`) from
 *   { b: f16 [1, -2, 0.5], a: f32 [[1, 2.5], [-3, 65504]], ids: i64 [7, -1, 2^31-1], mask: bool [T, F, T],
 *     u: u8 [0, 255], d: f64 [0.25], i: i32 [-5, 6] },  metadata { format: "np" }
 * Header order: I64, F64, F32, I32, F16, U8, BOOL (the crate's dtype order, descending), then name.
 */
const REFERENCE = hex(
  "a8010000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a226e70227d2c22696473223a7b226474797065223a2249" +
    "3634222c227368617065223a5b335d2c22646174615f6f666673657473223a5b302c32345d7d2c2264223a7b226474797065223a2246363" +
    "4222c227368617065223a5b315d2c22646174615f6f666673657473223a5b32342c33325d7d2c2261223a7b226474797065223a22463332" +
    "222c227368617065223a5b322c325d2c22646174615f6f666673657473223a5b33322c34385d7d2c2269223a7b226474797065223a22493" +
    "332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b34382c35365d7d2c2262223a7b226474797065223a224631" +
    "36222c227368617065223a5b335d2c22646174615f6f666673657473223a5b35362c36325d7d2c2275223a7b226474797065223a2255382" +
    "22c227368617065223a5b325d2c22646174615f6f666673657473223a5b36322c36345d7d2c226d61736b223a7b226474797065223a2242" +
    "4f4f4c222c227368617065223a5b335d2c22646174615f6f666673657473223a5b36342c36375d7d7d200700000000000000fffffffffff" +
    "fffffffffff7f00000000000000000000d03f0000803f00002040000040c000e07f47fbffffff06000000003c00c0003800ff010001",
);

describe("float16 / bfloat16 conversion", () => {
  it("f32 → f16 rounds to nearest even (expected bits from numpy's float32 → float16 cast)", () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520, 0x7c00],
      [1e5, 0x7c00],
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // exactly half of it: tie → even (0)
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units → even (2)
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -14 - 2 ** -24, 0x03ff], // largest subnormal
      [1 + 2 ** -11, 0x3c00], // tie → even
      [1 + 3 * 2 ** -11, 0x3c02], // tie → even (up)
      [0.1, 0x2e66],
      [1e-8, 0x0000],
      [-0, 0x8000],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [NaN, 0x7e00],
    ];
    for (const [x, bits] of cases) expect([x, f32ToF16Bits(x)]).toEqual([x, bits]);
    for (const [x, bits] of cases) {
      if (Number.isNaN(x)) expect(f16BitsToF32(bits)).toBeNaN();
      else if (bits !== 0x7c00 || x === Infinity) expect(f16BitsToF32(f32ToF16Bits(x))).toBe(f16BitsToF32(bits));
    }
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
  });

  it("f32 → bf16 keeps the top 16 bits, rounding to nearest even", () => {
    const f = new Float32Array(1),
      u = new Uint32Array(f.buffer);
    const fromBits = (b: number) => ((u[0] = b), f[0]!);
    const cases: [number, number][] = [
      [1, 0x3f80],
      [-2, 0xc000],
      [65504, 0x4780], // 0x477fe000: low half 0xe000 > 0x8000 → rounds up to 65536
      [fromBits(0x3f808000), 0x3f80], // 1 + 2^-8: tie, even stays
      [fromBits(0x3f818000), 0x3f82], // tie, odd rounds up
      [fromBits(0x00000001), 0x0000], // tiniest f32 subnormal
      [fromBits(0x00018000), 0x0002], // subnormal tie, odd → up
      [fromBits(0x7f7fffff), 0x7f80], // FLT_MAX rounds to Inf
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
      [NaN, 0x7fc0],
      [-0, 0x8000],
    ];
    for (const [x, bits] of cases) expect([x, f32ToBf16Bits(x)]).toEqual([x, bits]);
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(bf16BitsToF32(0xc000)).toBe(-2);
    expect(bf16BitsToF32(0x7fc0)).toBeNaN();
  });
});

describe("encode / decode (bytes)", () => {
  it("decodes the reference writer's file", () => {
    const { tensors, metadata } = decodeSafetensors(REFERENCE);
    expect(metadata).toEqual({ format: "np" });
    expect(Array.from(rawToTypedArray(tensors.a!))).toEqual([1, 2.5, -3, 65504]);
    expect(tensors.a!.shape).toEqual([2, 2]);
    expect(Array.from(rawToTypedArray(tensors.b!))).toEqual([1, -2, 0.5]);
    expect(Array.from(rawToTypedArray(tensors.ids!))).toEqual([7n, -1n, 2147483647n]);
    expect(Array.from(rawToTypedArray(tensors.mask!))).toEqual([1, 0, 1]);
    expect(Array.from(rawToTypedArray(tensors.u!))).toEqual([0, 255]);
    expect(Array.from(rawToTypedArray(tensors.d!))).toEqual([0.25]);
    expect(Array.from(rawToTypedArray(tensors.i!))).toEqual([-5, 6]);
  });

  it("encodes byte-identically to the reference writer", () => {
    const out = encodeSafetensors(
      {
        b: { dtype: "F16", shape: [3], data: new Float32Array([1, -2, 0.5]) },
        a: { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2.5, -3, 65504]) },
        ids: { dtype: "I64", shape: [3], data: new BigInt64Array([7n, -1n, 2147483647n]) },
        mask: { dtype: "BOOL", shape: [3], data: new Uint8Array([1, 0, 1]) },
        u: { dtype: "U8", shape: [2], data: new Uint8Array([0, 255]) },
        d: { dtype: "F64", shape: [1], data: new Float64Array([0.25]) },
        i: { dtype: "I32", shape: [2], data: new Int32Array([-5, 6]) },
      },
      { format: "np" },
    );
    expect(Buffer.from(out).toString("hex")).toBe(Buffer.from(REFERENCE).toString("hex"));
    const n = Number(new DataView(out.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
  });

  it("handles unaligned input views by copying", () => {
    const bytes = encodeSafetensors({ x: { dtype: "F32", shape: [3], data: new Float32Array([1, 2, 3]) } });
    const shifted = new Uint8Array(bytes.byteLength + 1);
    shifted.set(bytes, 1);
    const { tensors } = decodeSafetensors(shifted.subarray(1));
    expect(tensors.x!.bytes.byteOffset % 4).not.toBe(0);
    expect(Array.from(rawToTypedArray(tensors.x!))).toEqual([1, 2, 3]);
  });

  it("round-trips empty and scalar tensors", () => {
    const bytes = encodeSafetensors({
      s: { dtype: "F32", shape: [], data: new Float32Array([7]) },
      e: { dtype: "F32", shape: [0, 3], data: new Float32Array(0) },
    });
    const { tensors } = decodeSafetensors(bytes);
    expect(tensors.s!.shape).toEqual([]);
    expect(Array.from(rawToTypedArray(tensors.s!))).toEqual([7]);
    expect(tensors.e!.bytes.byteLength).toBe(0);
  });
});

/** Builds a file from a header object and a data length (for malformed-file tests). */
function build(header: unknown, dataLen: number, headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

describe("validation errors name the file and the fault", () => {
  const name = "bad.safetensors";
  const cases: [string, Uint8Array, RegExp][] = [
    ["short", new Uint8Array(5), /bad\.safetensors: file is 5 bytes, shorter than the 8-byte/],
    [
      "header past end",
      (() => {
        const b = new Uint8Array(16);
        b[0] = 100;
        return b;
      })(),
      /bad\.safetensors: header length 100 runs past the end of the file \(file is 16 bytes/,
    ],
    [
      "huge header",
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 200_000_000n, true);
        return b;
      })(),
      /bad\.safetensors: header length 200000000 is over the 100 MB limit/,
    ],
    [
      "not json",
      build(null, 0, "{nope"),
      /bad\.safetensors: header is not valid JSON at byte 9 of the file: expected a string key, found "n"/,
    ],
    [
      "not UTF-8",
      build(null, 0, "{}   ").map((b, i) => (i === 10 ? 0xff : b)),
      /bad\.safetensors: header is not valid UTF-8 \(first bad byte at offset 10 of the file\)/,
    ],
    ["not object", build([1, 2], 0), /bad\.safetensors: header is not a JSON object \(it starts with "\[1,2\]"\)/],
    [
      "trailing text",
      build(null, 0, "{} {}"),
      /bad\.safetensors: header is not valid JSON at byte 11 of the file: unexpected text after/,
    ],
    [
      "deep nesting",
      build(null, 0, `{"x":${"[".repeat(100_000)}`),
      /bad\.safetensors: header is not valid JSON at byte \d+ of the file: nested deeper than 64 levels/,
    ],
    [
      "duplicate name",
      build(
        null,
        4,
        '{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"x":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}}',
      ),
      /bad\.safetensors: tensor "x" appears twice in the header \(again at byte 61\)/,
    ],
    ["entry not an object", build({ x: [1, 2] }, 0), /bad\.safetensors: entry "x" is not an object \(it is \[1,2\]\)/],
    [
      "unknown dtype",
      build({ x: { dtype: "F12", shape: [1], data_offsets: [0, 4] } }, 4),
      /bad\.safetensors: tensor "x" has unknown dtype "F12"/,
    ],
    [
      "span mismatch",
      build({ x: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, 4),
      /bad\.safetensors: tensor "x": shape \[2\] × F32 \(4 B\) = 8 bytes, but data_offsets \[0,4\] span 4/,
    ],
    [
      "truncated",
      build({ x: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, 10),
      /bad\.safetensors: file is truncated: the header needs \d+ bytes, the file has \d+ \(6 missing; tensor "x" ends at byte \d+\)/,
    ],
    [
      "overlap",
      build(
        {
          x: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          y: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
        },
        8,
      ),
      /bad\.safetensors: tensor "y" .* overlaps/,
    ],
    [
      "hole",
      build({ x: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, 8),
      /bad\.safetensors: hole in the data buffer: bytes \[0, 4\)/,
    ],
    [
      "trailing",
      build({ x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 8),
      /bad\.safetensors: 4 trailing bytes/,
    ],
    [
      "bad metadata",
      build({ __metadata__: { a: 1 } }, 0),
      /bad\.safetensors: __metadata__\["a"\] is not a string \(it is 1\)/,
    ],
    [
      "a long name is quoted cut to 80 characters",
      build({ ["n".repeat(5000)]: { dtype: "F12", shape: [1], data_offsets: [0, 4] } }, 4),
      /bad\.safetensors: tensor "n{80}"…\(5000 chars\) has unknown dtype "F12"$/,
    ],
  ];
  for (const [label, bytes, re] of cases) {
    it(label, () => {
      expect(() => decodeSafetensors(bytes, { name })).toThrow(re);
    });
  }

  it("names the path when reading a file", () => {
    const file = path.join(dir, "trunc.safetensors");
    const good = encodeSafetensors({ x: { dtype: "F32", shape: [100], data: new Float32Array(100) } });
    fs.writeFileSync(file, good.subarray(0, good.byteLength - 10));
    expect(() => loadSafetensors(file)).toThrow(
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: file is truncated.*10 missing`),
    );
    expect(() => loadSafetensors(path.join(dir, "missing.safetensors"))).toThrow(
      /missing\.safetensors: cannot read file/,
    );
  });

  it("a directory is refused by name, not with a bare EISDIR", () => {
    const sub = path.join(dir, "ckpt.safetensors");
    fs.mkdirSync(sub);
    const msg = `safetensors ${sub}: is a directory, expected a .safetensors file`;
    expect(() => readSafetensorsHeader(sub)).toThrow(msg);
    expect(() => loadSafetensors(sub)).toThrow(msg);
    expect(() => loadCheckpoint(sub)).toThrow(msg);
    expect(() => readSafetensorsHeader(sub, { name: "weights" })).toThrow(
      "safetensors weights: is a directory, expected a .safetensors file",
    );
    fs.rmdirSync(sub);
  });
});

describe("tf tensors ↔ files", () => {
  it("save / load F32 exactly, F16 and BF16 rounded, ints and bools; metadata via the header", () => {
    const file = path.join(dir, "m.safetensors");
    const t = {
      "w.weight": tf.tensor2d([
        [0.1, -0.2],
        [3.14159, 1e-3],
      ]),
      ids: tf.tensor1d([1, -2, 3], "int32"),
      flag: tf.tensor1d([true, false], "bool"),
    };
    const before = tf.memory().numTensors;
    saveSafetensors(file, t, { step: "3" });
    expect(tf.memory().numTensors).toBe(before);
    const back = loadSafetensors(file);
    expect(Array.from(back["w.weight"]!.dataSync())).toEqual(Array.from(t["w.weight"].dataSync()));
    expect(back["w.weight"]!.shape).toEqual([2, 2]);
    expect(back.ids!.dtype).toBe("int32");
    expect(Array.from(back.ids!.dataSync())).toEqual([1, -2, 3]);
    expect(back.flag!.dtype).toBe("bool");
    expect(Array.from(back.flag!.dataSync())).toEqual([1, 0]);
    const header = readSafetensorsHeader(file);
    expect(header.metadata).toEqual({ step: "3" });
    expect(header.tensors["w.weight"]!.dtype).toBe("F32");
    tf.dispose(back);

    for (const dtype of ["F16", "BF16"] as const) {
      saveSafetensors(file, t, undefined, { dtype });
      expect(readSafetensorsHeader(file).tensors["w.weight"]!.dtype).toBe(dtype);
      const r = loadSafetensors(file);
      const got = r["w.weight"]!.dataSync();
      const want = t["w.weight"].dataSync();
      const conv =
        dtype === "F16" ? (x: number) => f16BitsToF32(f32ToF16Bits(x)) : (x: number) => bf16BitsToF32(f32ToBf16Bits(x));
      for (let i = 0; i < 4; i++) expect(got[i]).toBe(Math.fround(conv(want[i]!)));
      expect(Array.from(r.ids!.dataSync())).toEqual([1, -2, 3]); // ints stay I32
      tf.dispose(r);
    }
    tf.dispose(t);
  });

  it("I64 → int32 (error out of range), F64 → float32, U8 → int32", () => {
    const ok = encodeSafetensors({
      a: { dtype: "I64", shape: [2], data: new BigInt64Array([5n, -7n]) },
      b: { dtype: "F64", shape: [1], data: new Float64Array([0.1]) },
      c: { dtype: "U8", shape: [2], data: new Uint8Array([0, 200]) },
    });
    const r = loadSafetensors(ok, { name: "ok.st" });
    expect(r.a!.dtype).toBe("int32");
    expect(Array.from(r.a!.dataSync())).toEqual([5, -7]);
    expect(r.b!.dtype).toBe("float32");
    expect(r.b!.dataSync()[0]).toBe(Math.fround(0.1));
    expect(Array.from(r.c!.dataSync())).toEqual([0, 200]);
    tf.dispose(r);
    const big = encodeSafetensors({ a: { dtype: "I64", shape: [2], data: new BigInt64Array([1n, 2n ** 40n]) } });
    const n = tf.memory().numTensors;
    expect(() => loadSafetensors(big, { name: "big.st" })).toThrow(
      /big\.st: tensor "a" \(I64\) holds 1099511627776 at index 1, outside the int32 range/,
    );
    expect(tf.memory().numTensors).toBe(n);
  });

  it("loads a sharded checkpoint through model.safetensors.index.json", () => {
    const sd = path.join(dir, "sharded");
    fs.mkdirSync(sd);
    const x = tf.tensor1d([1, 2]),
      y = tf.tensor1d([3]);
    saveSafetensors(path.join(sd, "model-00001-of-00002.safetensors"), { x });
    saveSafetensors(path.join(sd, "model-00002-of-00002.safetensors"), { y });
    fs.writeFileSync(
      path.join(sd, "model.safetensors.index.json"),
      JSON.stringify({
        metadata: { total_size: 12 },
        weight_map: { x: "model-00001-of-00002.safetensors", y: "model-00002-of-00002.safetensors" },
      }),
    );
    const r = loadSafetensorsSharded(sd);
    expect(Object.keys(r).sort()).toEqual(["x", "y"]);
    expect(Array.from(r.y!.dataSync())).toEqual([3]);
    tf.dispose([x, y, r]);
  });
});

describe("atomicWrite", () => {
  it("replaces the file; an injected failure mid-write leaves the old file and no temp file", () => {
    const file = path.join(dir, "atomic.bin");
    atomicWrite(file, new Uint8Array([1, 2, 3]));
    expect(Array.from(fs.readFileSync(file))).toEqual([1, 2, 3]);
    const big = new Uint8Array(1 << 16).fill(9);
    expect(() =>
      atomicWrite(file, big, {
        chunkSize: 4096,
        onChunk: (written) => {
          if (written >= 8192) throw new Error("simulated crash");
        },
      }),
    ).toThrow(/simulated crash/);
    expect(Array.from(fs.readFileSync(file))).toEqual([1, 2, 3]);
    expect(fs.readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    atomicWrite(file, big, { chunkSize: 4096 });
    expect(fs.statSync(file).size).toBe(1 << 16);
  });
});

describe("atomicWrite's folders", () => {
  // Node 20's recursive mkdirSync spins forever on ENOENT under /proc; makeDirs makes one level at a time.
  it.runIf(fs.existsSync("/proc/self"))("fails at once where a folder cannot be made", () => {
    expect(() => atomicWrite("/proc/vlab-no/such/dir/x.json", "{}")).toThrow(/ENOENT.*mkdir '\/proc\/vlab-no'/);
  });
});
