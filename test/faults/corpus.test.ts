/**
 * The corpus of malformed files (issue 14, "Reliability", item 8): every reader of a file a user brings — safetensors,
 * images, tokenizer.json, JSONL, checkpoints, ONNX — given each kind of damage we know of, in one list.
 *
 * Each case writes its file into a fresh folder (generated here, no binary blob is committed), hands it to the reader
 * of the built package (dist/: `npm test` builds first), and asserts that
 * - the reader refuses it with the expected error class, and a message that names the file and the fault;
 * - nothing already saved was modified: every file in the folder hashes the same after as before, and no file was
 *   added or removed.
 * A few cases are inputs that look hostile but are valid (a tensor named `__proto__`): those must load, exactly.
 * The per-package tests check the details of each reader; this file is the inventory. It prints nothing.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import {
  encodeSafetensors,
  initBackend,
  loadCheckpoint,
  loadSafetensors,
  restoreCheckpoint,
  saveCheckpoint,
  saveSafetensors,
  tf,
} from "@vlab/core";
import { loadImage, readJsonl } from "@vlab/data";
import { createEncoderSession, loadOnnxRuntime, OnnxGraphBuilder } from "@vlab/onnx";
import { loadTokenizer } from "@vlab/tokenizers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** Whether onnxruntime-node (an optional native library here: its install script may be skipped) loads. */
const ortMissing = await loadOnnxRuntime().then(
  () => "",
  (e: unknown) => (e as Error).message,
);

let root = "";
beforeAll(async () => {
  await initBackend("cpu");
  root = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-corpus-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------------------------
// Builders of the files

/** A safetensors file from a header text and `dataLen` bytes of data. */
function st(header: string, dataLen: number): Uint8Array {
  const json = Buffer.from(header, "utf8");
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/** A valid safetensors file of one F32 tensor "w" of 100 values. */
const goodSt = () => encodeSafetensors({ w: { dtype: "F32", shape: [100], data: new Float32Array(100).fill(1) } });

/** A PNG chunk: length, type, data, CRC. */
function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** Filtered scanlines (filter byte 0, then RGB) of a `w`×`h` pattern, as a PNG's IDAT holds them once inflated. */
function gradient(w: number, h: number): Buffer {
  const rows = Buffer.alloc(h * (1 + w * 3));
  for (let i = 0; i < rows.length; i++) rows[i] = i % (1 + w * 3) === 0 ? 0 : (i * 37) & 0xff;
  return rows;
}

/** An 8-bit RGB PNG declaring `w`×`h`, its IDAT `idat` (default: a pattern of that size, deflated). */
function png(w: number, h: number, idat?: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // depth 8, RGB, deflate, no filter set, no interlace
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const data = idat ?? zlib.deflateSync(gradient(w, h));
  return Buffer.concat([signature, chunk("IHDR", ihdr), chunk("IDAT", data), chunk("IEND", new Uint8Array(0))]);
}

/** A little-endian float32 greyscale TIFF (uncompressed, one strip). */
function floatTiff(w: number, h: number, values: readonly number[]): Buffer {
  const tags: [number, number, number][] = [
    [256, 3, w],
    [257, 3, h],
    [258, 3, 32],
    [259, 3, 1],
    [262, 3, 1],
    [273, 4, 0], // StripOffsets, filled in below
    [277, 3, 1],
    [278, 3, h],
    [279, 4, w * h * 4],
    [339, 3, 3], // SampleFormat: IEEE float
  ];
  const dataAt = 10 + tags.length * 12 + 4;
  const buf = Buffer.alloc(dataAt + w * h * 4);
  buf.write("II", 0, "latin1");
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(8, 4);
  buf.writeUInt16LE(tags.length, 8);
  tags.forEach(([tag, type, value], i) => {
    const o = 10 + i * 12;
    buf.writeUInt16LE(tag, o);
    buf.writeUInt16LE(type, o + 2);
    buf.writeUInt32LE(1, o + 4);
    if (type === 3) buf.writeUInt16LE(value, o + 8);
    else buf.writeUInt32LE(tag === 273 ? dataAt : value, o + 8);
  });
  values.forEach((v, i) => buf.writeFloatLE(v, dataAt + i * 4));
  return buf;
}

/** A tokenizer.json of a WordLevel model over a few words, with `model` patched. */
function tokenizerJson(model: Record<string, unknown>): string {
  const vocab = { "<pad>": 0, "<unk>": 1, red: 2, circle: 3 };
  return JSON.stringify({
    version: "1.0",
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: "Whitespace" },
    post_processor: null,
    decoder: null,
    model: { type: "WordLevel", vocab, unk_token: "<unk>", ...model },
  });
}

/** A tiny valid ONNX model (y = x · W). */
function onnxModel(): Uint8Array {
  const g = new OnnxGraphBuilder("corpus");
  g.input("x", "float32", ["batch", 4]);
  const w = g.constant(
    "float32",
    [4, 4],
    Array.from({ length: 16 }, (_, i) => i),
  );
  g.op("MatMul", ["x", w], {}, "y");
  g.output("y", "float32", ["batch", 4]);
  return g.encode();
}

/** Writes `bytes` to `dir/name`; returns the path. */
function put(dir: string, name: string, bytes: Uint8Array | string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

// ---------------------------------------------------------------------------------------------------------------
// The corpus

interface Case {
  group: "safetensors" | "image" | "tokenizer.json" | "JSONL" | "checkpoint" | "ONNX";
  name: string;
  /** Writes the input into `dir` (empty, the case's own); returns the path given to the reader. */
  make: (dir: string) => string | Promise<string>;
  /** The reader under test. */
  read: (file: string) => unknown;
  /** The error class's name and what the message must contain (the file is always required too). */
  error?: { type: string; parts: (string | RegExp)[] };
  /** For a valid input that must load: checks what was read. */
  loads?: (result: unknown) => void;
  /** Why the case cannot run here (it is skipped, saying so). */
  skip?: string;
}

const readSt = (f: string) => tf.dispose(loadSafetensors(f));
const wf = '"dtype":"F32","shape":[1]';

const cases: Case[] = [
  // safetensors -----------------------------------------------------------------------------------------------
  ...(
    [
      ["empty file", () => new Uint8Array(0), ["file is 0 bytes, shorter than the 8-byte header length field"]],
      ["truncated file", () => goodSt().subarray(0, -10), [/file is truncated: .*\(10 missing; tensor "w" ends/]],
      ["header length past EOF", () => st("{}", 0).map((b, i) => (i === 0 ? 200 : b)), ["header length 200 runs past"]],
      [
        "huge declared header length",
        () => new Uint8Array(16).fill(0xff),
        ["header length 18446744073709551615 is over the 100 MB limit"],
      ],
      ["header not JSON", () => st("{tensors}", 0), ["header is not valid JSON at byte 9 of the file"]],
      ["header not UTF-8", () => st('{"?"}', 0).map((b, i) => (i === 10 ? 0xff : b)), ["first bad byte at offset 10"]],
      ["header JSON not an object", () => st("[1,2]", 0), ['header is not a JSON object (it starts with "[1,2]")']],
      [
        "offsets out of range",
        () => st(`{"w":{"dtype":"F32","shape":[250],"data_offsets":[0,1000]}}`, 16),
        [/file is truncated: .*tensor "w" ends at byte/],
      ],
      [
        "offsets reversed",
        () => st(`{"w":{${wf},"data_offsets":[8,4]}}`, 8),
        ['tensor "w" has invalid data_offsets [8,4] (begin after end)'],
      ],
      [
        "overlapping offsets",
        () => st(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{${wf},"data_offsets":[4,8]}}`, 8),
        ['tensor "b" (bytes [4, 8)) overlaps the previous tensor "a", which ends at 8'],
      ],
      ["wrong dtype", () => st(`{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, 4), ['unknown dtype "F33"']],
      [
        "shape/size mismatch",
        () => st(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}`, 4),
        ['tensor "w": shape [3] × F32 (4 B) = 12 bytes, but data_offsets [0,4] span 4'],
      ],
      [
        "duplicate __proto__ name",
        () => st(`{"__proto__":{${wf},"data_offsets":[0,4]},"__proto__":{${wf},"data_offsets":[4,8]}}`, 8),
        ['tensor "__proto__" appears twice in the header (again at byte 70)'],
      ],
    ] as [string, () => Uint8Array, (string | RegExp)[]][]
  ).map(([name, bytes, parts]): Case => ({
    group: "safetensors",
    name,
    make: (dir) => put(dir, "model.safetensors", bytes()),
    read: readSt,
    error: { type: "Error", parts },
  })),
  {
    group: "safetensors",
    name: "a directory given as the file",
    make: (dir) => {
      fs.mkdirSync(path.join(dir, "model.safetensors"));
      return path.join(dir, "model.safetensors");
    },
    read: readSt,
    error: { type: "Error", parts: ["is a directory, expected a .safetensors file"] },
  },
  {
    group: "safetensors",
    name: "tensors named __proto__ and constructor load as tensors",
    make: (dir) => put(dir, "proto.safetensors", st(`{"__proto__":{${wf},"data_offsets":[0,4]}}`, 4)),
    read: (f) => {
      const t = loadSafetensors(f);
      const out = { keys: Object.keys(t), values: Array.from(t["__proto__"]?.dataSync() ?? []) };
      tf.dispose(t);
      return out;
    },
    loads: (r) => expect(r).toEqual({ keys: ["__proto__"], values: [0] }),
  },

  // images ----------------------------------------------------------------------------------------------------
  ...(
    [
      ["zero-byte file", () => new Uint8Array(0), ["is empty (0 bytes)"]],
      ["random bytes", () => Uint8Array.from({ length: 999 }, (_, i) => (i * 2654435761) >>> 24), ["is not an image"]],
      [
        "truncated PNG",
        () => png(40, 30).subarray(0, 120),
        [/truncated or damaged png file: its IDAT chunk at byte 33/],
      ],
      [
        "PNG with a corrupt chunk",
        () => png(40, 30).map((b, i) => (i === 60 ? b ^ 0x10 : b)),
        ["is a truncated or damaged png file: the CRC of its IDAT chunk at byte 33 does not match its contents"],
      ],
      [
        "huge declared dimension (decompression bomb)",
        () => png(100_000, 100_000, zlib.deflateSync(Buffer.alloc(4096))),
        ["is too large to decode: it declares 100000x100000 = 10000000000 pixels, over the limit"],
      ],
      [
        "float TIFF with a NaN pixel",
        () => floatTiff(3, 2, [0, 1, 2, NaN, 4, 5]),
        ["holds a non-finite pixel value (NaN) at index 9 (pixel (0, 1), channel 0"],
      ],
    ] as [string, () => Uint8Array, (string | RegExp)[]][]
  ).map(([name, bytes, parts]): Case => ({
    group: "image",
    name,
    make: (dir) => put(dir, name.startsWith("float") ? "image.tiff" : "image.png", bytes()),
    read: (f) => loadImage(f),
    error: { type: "Error", parts },
  })),

  // tokenizer.json --------------------------------------------------------------------------------------------
  ...(
    [
      ["not JSON", () => '{"model": {"type": "WordLevel",', ["is not valid JSON"]],
      ["missing model", () => '{"version": "1.0"}', ['is not a tokenizer.json (no "model" with a "vocab")']],
      ["wrong model type", () => tokenizerJson({ type: "Mystery" }), ['has a model of type "Mystery"; supported: BPE']],
      [
        "vocab with a non-integer id",
        () => tokenizerJson({ vocab: { "<pad>": 0, "<unk>": 1, red: 1.5 } }),
        ['model.vocab["red"] is 1.5, not a token id (a non-negative integer)'],
      ],
      [
        "vocab with a string id",
        () => tokenizerJson({ vocab: { "<pad>": 0, "<unk>": 1, red: "2" } }),
        ['model.vocab["red"] is "2", not a token id'],
      ],
      [
        "merges malformed",
        () => tokenizerJson({ type: "BPE", vocab: { r: 0, e: 1, re: 2 }, merges: ["re"] }),
        ['model.merges[0] is "re", not two tokens separated by one space'],
      ],
      [
        "merge of a token not in the vocabulary",
        () => tokenizerJson({ type: "BPE", vocab: { r: 0, e: 1, re: 2 }, merges: ["r x"] }),
        ['model.merges[0] ("r x"): "x" is not in the vocabulary'],
      ],
    ] as [string, () => string, string[]][]
  ).map(([name, text, parts]): Case => ({
    group: "tokenizer.json",
    name,
    make: (dir) => put(dir, "tokenizer.json", text()),
    read: (f) => loadTokenizer(f),
    error: { type: "Error", parts },
  })),

  // JSONL -----------------------------------------------------------------------------------------------------
  ...(
    [
      ["bad line", '{"a":1}\n{"a":2,}\n{"a":3}\n', [":2: invalid JSON (", '): "{\\"a\\":2,}"']],
      ["non-object record", '{"a":1}\n[1,2]\n', [':2: expected a JSON object, got an array: "[1,2]"']],
      ["truncated last line", '{"a":1}\n{"a":"hal', [":2: invalid JSON (", "the last line and has no newline"]],
      ["invalid UTF-8", Buffer.from([0x7b, 0x7d, 0x0a, 0x7b, 0x22, 0xc3, 0x22, 0x7d]), [":2: not valid UTF-8 (byte 5"]],
    ] as [string, string | Uint8Array, string[]][]
  ).map(([name, text, parts]): Case => ({
    group: "JSONL",
    name,
    make: (dir) => put(dir, "train.jsonl", text),
    read: (f) => readJsonl(f),
    error: { type: "JsonlError", parts },
  })),

  // checkpoints -----------------------------------------------------------------------------------------------
  {
    group: "checkpoint",
    name: "truncated",
    make: (dir) => {
      const file = path.join(dir, "ckpt.safetensors");
      saveCheckpoint(file, { model: { w: tf.ones([64]) }, step: 3 });
      fs.truncateSync(file, fs.statSync(file).size - 100);
      return file;
    },
    read: (f) => loadCheckpoint(f),
    error: { type: "Error", parts: [/file is truncated: .*\(100 missing; tensor "w" ends/] },
  },
  {
    group: "checkpoint",
    name: "missing tensor",
    make: (dir) => {
      const file = path.join(dir, "ckpt.safetensors");
      saveCheckpoint(file, { model: { w: tf.ones([2]) }, step: 3 });
      return file;
    },
    read: (f) => {
      const vars: [string, tf.Variable][] = [
        ["w", tf.variable(tf.zeros([2]))],
        ["b", tf.variable(tf.zeros([2]))],
      ];
      try {
        restoreCheckpoint(f, { model: vars });
      } finally {
        tf.dispose(vars.map(([, v]) => v));
      }
    },
    error: { type: "Error", parts: ['missing tensor "b"'] },
  },
  {
    group: "checkpoint",
    name: "a weights file that is not a checkpoint",
    make: (dir) => {
      const file = path.join(dir, "weights.safetensors");
      saveSafetensors(file, { w: tf.ones([2]) });
      return file;
    },
    read: (f) => loadCheckpoint(f),
    error: { type: "Error", parts: ['not a vlab checkpoint (__metadata__.format is undefined, expected "vlab.'] },
  },

  {
    group: "checkpoint",
    name: "history in __metadata__ not JSON",
    make: (dir) => {
      const file = path.join(dir, "ckpt.safetensors");
      saveSafetensors(file, { w: tf.ones([2]) }, { format: "vlab.checkpoint/1", step: "1", history: "[0.5, 0.4" });
      return file;
    },
    read: (f) => loadCheckpoint(f),
    error: { type: "Error", parts: ["__metadata__.history is not valid JSON"] },
  },

  // ONNX ------------------------------------------------------------------------------------------------------
  {
    group: "ONNX",
    name: "truncated model",
    make: (dir) => put(dir, "model.onnx", onnxModel().subarray(0, 100)),
    read: (f) => createEncoderSession(f),
    error: {
      type: "Error",
      parts: ["is not a valid ONNX model (100 bytes: truncated, damaged, or not an ONNX file?)"],
    },
    skip: ortMissing,
  },
  {
    group: "ONNX",
    name: "random bytes",
    make: (dir) =>
      put(
        dir,
        "model.onnx",
        Uint8Array.from({ length: 512 }, (_, i) => (i * 2654435761) >>> 24),
      ),
    read: (f) => createEncoderSession(f),
    error: { type: "Error", parts: ["is not an ONNX model: its first byte, 0x00, does not start any field"] },
    skip: ortMissing,
  },
];

/** Every file under `dir` (relative path → sha256, "dir" for folders), to prove a failed read changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = path.join(e.parentPath, e.name);
    out[path.relative(dir, p)] = e.isDirectory()
      ? "dir"
      : createHash("sha256").update(fs.readFileSync(p)).digest("hex");
  }
  return out;
}

describe("the corpus of malformed files", () => {
  it("lists 38 cases", () => {
    expect(cases.length).toBe(38);
    expect(new Set(cases.map((c) => `${c.group}: ${c.name}`)).size).toBe(cases.length);
  });

  cases.forEach((c, i) => {
    const reason = c.skip ? ` (skipped: ${c.skip.slice(0, 120)})` : "";
    it.skipIf(Boolean(c.skip))(`${c.group}: ${c.name}${reason}`, async () => {
      const dir = path.join(root, String(i));
      fs.mkdirSync(dir);
      const file = await c.make(dir);
      const before = snapshot(dir);
      let result: unknown;
      let error: unknown;
      try {
        result = await c.read(file);
      } catch (e) {
        error = e;
      }
      expect(snapshot(dir)).toEqual(before); // nothing saved was modified, added or removed
      if (c.loads) {
        expect(error).toBeUndefined();
        c.loads(result);
        return;
      }
      expect(error, "the reader accepted a malformed file").toBeInstanceOf(Error);
      const err = error as Error;
      expect(err.constructor.name).toBe(c.error?.type);
      expect(err.message).toContain(file); // names the file
      for (const part of c.error?.parts ?? []) {
        if (typeof part === "string") expect(err.message).toContain(part);
        else expect(err.message).toMatch(part);
      }
    });
  });
});
