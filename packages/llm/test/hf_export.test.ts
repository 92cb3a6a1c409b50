/**
 * Hugging Face export of a language model: the files and their fields, sharding, the round trip through loadLlm
 * (identical logits), refusals naming the tensor, the Jinja chat template against applyChatTemplate (with Python's
 * jinja2 as transformers configures it) and the weights against a plain-PyTorch Qwen2 / Llama (with Debian's
 * python3-torch). The Python checks are skipped, saying so, where python3 lacks jinja2 or torch.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initBackend, parseShardSize, readSafetensorsHeader, tf } from "@vlab/core";
import {
  applyChatTemplate,
  buildChatTokenizer,
  chatTemplateJinja,
  exportLlmHf,
  jinjaString,
  loadLlm,
  QWEN2_VL_TEMPLATE,
  type ChatMessage,
  type ChatTemplateOptions,
} from "../src/index.js";
import { maxDiff, tinyModel } from "./helpers.js";

const PY = "/usr/bin/python3";
const has = (mod: string) => fs.existsSync(PY) && spawnSync(PY, ["-c", `import ${mod}`]).status === 0;
const HAS_TORCH = has("torch");
const HAS_JINJA = has("jinja2");
const REFERENCE = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "hf_reference.py");

let dir: string;
beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-hf-export-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const tok = buildChatTokenizer(["how many shapes are there?", "there are 3 shapes", "a red circle"], {
  addedTokens: ["<think>", "</think>"],
});
const ids = [[1, 5, 9, 12, 3, 2, 7, 15]];
const json = (d: string, f: string) => JSON.parse(fs.readFileSync(path.join(d, f), "utf8")) as Record<string, unknown>;

describe("exportLlmHf", () => {
  it("writes config, weights, tokenizer and generation files with the fields transformers 4.x and 5.x read", () => {
    const m = tinyModel({ vocabSize: 50, ropeTheta: 1e6 }, 21);
    const out = path.join(dir, "qwen2");
    const r = exportLlmHf(m, tok, out);
    expect(r.shards).toBe(1);
    const names = fs.readdirSync(out).sort();
    expect(names).toEqual([
      "chat_template.jinja",
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    const cfg = json(out, "config.json");
    expect(cfg).toMatchObject({
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      vocab_size: 50,
      rope_theta: 1e6,
      rope_parameters: { rope_type: "default", rope_theta: 1e6 },
      torch_dtype: "float32",
      dtype: "float32",
      use_sliding_window: false,
      tie_word_embeddings: false,
      bos_token_id: tok.eosId,
      eos_token_id: tok.imEndId,
      pad_token_id: tok.padId,
    });
    expect(readSafetensorsHeader(path.join(out, "model.safetensors")).metadata).toEqual({ format: "pt" });
    expect(json(out, "generation_config.json")).toEqual({
      bos_token_id: tok.eosId,
      eos_token_id: [tok.imEndId, tok.eosId],
      pad_token_id: tok.padId,
    });
    const tc = json(out, "tokenizer_config.json");
    expect(tc).toMatchObject({
      tokenizer_class: "PreTrainedTokenizerFast",
      eos_token: "<|im_end|>",
      pad_token: "<pad>",
      unk_token: "<unk>",
      model_max_length: 64,
    });
    expect(tc.chat_template).toBe(fs.readFileSync(path.join(out, "chat_template.jinja"), "utf8"));
    expect(json(out, "tokenizer.json")).toEqual(JSON.parse(JSON.stringify(tok.tokenizer.json)));

    const { model: back } = loadLlm(out);
    const [a, b] = [m.forward(ids), back.forward(ids)];
    expect(maxDiff(a, b)).toBe(0);
    tf.dispose([a, b]);
    back.dispose();
    m.dispose();
  });

  it("shards past --max-shard-size with an index, reloads identically, and a re-export leaves no stale file", () => {
    const m = tinyModel({ modelType: "llama", tieWordEmbeddings: true }, 22);
    const out = path.join(dir, "llama-sharded");
    const limit = 12_000; // bytes: the embedding [50, 32] F32 (6400 B) and a layer's few matrices per shard
    const r = exportLlmHf(m, tok, out, { maxShardSize: limit });
    expect(r.shards).toBeGreaterThan(2);
    const index = json(out, "model.safetensors.index.json") as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    const sd = m.stateDict();
    expect(Object.keys(index.weight_map).sort()).toEqual(Object.keys(sd).sort());
    expect(index.weight_map["lm_head.weight"]).toBeUndefined(); // tied: not written
    expect(index.metadata.total_size).toBe(Object.values(sd).reduce((n, t) => n + 4 * t.size, 0));
    const shards = [...new Set(Object.values(index.weight_map))].sort();
    expect(shards[0]).toBe(`model-00001-of-${String(r.shards).padStart(5, "0")}.safetensors`);
    for (const s of shards) {
      const h = readSafetensorsHeader(path.join(out, s));
      expect(h.metadata).toEqual({ format: "pt" });
      const bytes = Object.values(h.tensors).reduce((n, e) => n + e.data_offsets[1] - e.data_offsets[0], 0);
      if (Object.keys(h.tensors).length > 1) expect(bytes).toBeLessThanOrEqual(limit);
    }
    expect(fs.existsSync(path.join(out, "model.safetensors"))).toBe(false);
    expect(json(out, "config.json")).toMatchObject({ architectures: ["LlamaForCausalLM"], mlp_bias: false });

    const { model: back } = loadLlm(out);
    const [a, b] = [m.forward(ids), back.forward(ids)];
    expect(maxDiff(a, b)).toBe(0);
    tf.dispose([a, b]);
    back.dispose();

    exportLlmHf(m, tok, out); // again, unsharded: the shards and the index go
    expect(fs.readdirSync(out).filter((f) => f.includes("safetensors"))).toEqual(["model.safetensors"]);
    m.dispose();
  });

  it("a truncated shard, a tensor gone from the index, a wrong shape: refused naming the tensor", () => {
    const m = tinyModel({}, 23);
    const out = path.join(dir, "broken");
    exportLlmHf(m, tok, out, { maxShardSize: 20_000 });
    const index = json(out, "model.safetensors.index.json") as { weight_map: Record<string, string> };
    const last = Object.values(index.weight_map).sort().at(-1) ?? "";
    const file = path.join(out, last);
    const bytes = fs.readFileSync(file);
    const lastTensor = Object.entries(readSafetensorsHeader(file).tensors).sort(
      (x, y) => y[1].data_offsets[1] - x[1].data_offsets[1],
    )[0]?.[0];
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 10));
    expect(() => loadLlm(out)).toThrow(new RegExp(`${last}.*${lastTensor?.replace(/\./g, "\\.")}`));
    fs.writeFileSync(file, bytes);

    const missing = Object.keys(index.weight_map).find((k) => k.endsWith("post_attention_layernorm.weight")) ?? "";
    delete index.weight_map[missing];
    const indexFile = path.join(out, "model.safetensors.index.json");
    fs.writeFileSync(indexFile, JSON.stringify(index));
    expect(() => loadLlm(out)).toThrow(`missing tensor "${missing}" (the model expects [32])`);

    exportLlmHf(m, tok, out);
    const cfg = json(out, "config.json");
    fs.writeFileSync(path.join(out, "config.json"), JSON.stringify({ ...cfg, intermediate_size: 48 }));
    expect(() => loadLlm(out)).toThrow(
      'tensor "model.layers.0.mlp.gate_proj.weight" has shape [64, 32] in the checkpoint, the model expects [48, 32]',
    );
    m.dispose();
  });

  it("refuses a tokenizer with more ids than the model's vocabulary, and bad shard sizes", () => {
    const m = tinyModel({ vocabSize: 8 }, 24);
    expect(() => exportLlmHf(m, tok, path.join(dir, "small"))).toThrow(
      /has ids up to \d+, but the model's vocabulary holds 8/,
    );
    m.dispose();
    expect(parseShardSize("5GB")).toBe(5e9);
    expect(parseShardSize("200MiB")).toBe(200 * 2 ** 20);
    expect(parseShardSize(" 1.5 kb ")).toBe(1500);
    expect(() => parseShardSize("lots")).toThrow('shard size "lots" is not a size');
    expect(() => parseShardSize(0)).toThrow("positive whole number of bytes");
  });
});

describe("the chat template in Jinja", () => {
  const chats: ChatMessage[][] = [
    [{ role: "user", content: "how many shapes are there?" }],
    [
      { role: "system", content: "Be brief." },
      { role: "user", content: [{ type: "image" }, { type: "text", text: "Count, it's 'fun'\\n." }] },
      { role: "assistant", content: "<think> 3 </think>" },
      { role: "user", content: [{ type: "text", text: "and now?" }, { type: "image" }] },
    ],
  ];
  const templates: [string, ChatTemplateOptions][] = [
    ["plain (vlab's default)", {}],
    ["Qwen2-VL's", QWEN2_VL_TEMPLATE],
    ["a system prompt with quotes and a newline", { defaultSystemPrompt: 'It\'s "you"\nand \\ me.' }],
  ];
  it("quotes Jinja strings", () => {
    expect(jinjaString("a'b\\c\nd")).toBe("'a\\'b\\\\c\\nd'");
  });
  it.skipIf(!HAS_JINJA)(
    `renders what applyChatTemplate renders${HAS_JINJA ? "" : " (skipped: /usr/bin/python3 has no jinja2)"}`,
    () => {
      // transformers' settings (utils/chat_template_utils.py _compile_jinja_template)
      const script = [
        "import json, sys",
        "from jinja2.sandbox import ImmutableSandboxedEnvironment",
        "env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)",
        "cases = json.load(sys.stdin)",
        "print(json.dumps([env.from_string(c['t']).render(messages=c['m'], add_generation_prompt=c['g']) " +
          "for c in cases]))",
      ].join("\n");
      const cases = templates.flatMap(([, opts]) =>
        chats.flatMap((m) => [false, true].map((g) => ({ t: chatTemplateJinja(opts), m, g, opts }))),
      );
      const r = spawnSync(PY, ["-c", script], { input: JSON.stringify(cases), encoding: "utf8" });
      expect(r.stderr).toBe("");
      const rendered = JSON.parse(r.stdout) as string[];
      cases.forEach((c, i) => {
        expect(rendered[i]).toBe(applyChatTemplate(c.m, { ...c.opts, addGenerationPrompt: c.g }));
      });
    },
  );
});

describe("PyTorch reads the export", () => {
  const note = HAS_TORCH ? "" : " (skipped: /usr/bin/python3 has no torch; apt-get install python3-torch)";
  for (const [name, over, shard] of [
    ["Qwen2, untied, one file", { vocabSize: 50, ropeTheta: 1e6 }, undefined],
    ["Llama, tied, sharded", { modelType: "llama" as const, tieWordEmbeddings: true }, 10_000],
  ] as const) {
    it.skipIf(!HAS_TORCH)(
      `${name}: documented names and shapes, logits of a plain PyTorch forward within 1e-4${note}`,
      () => {
        const m = tinyModel(over, 25);
        const out = path.join(dir, `torch-${name.replace(/\W+/g, "-")}`);
        exportLlmHf(m, tok, out, { maxShardSize: shard });
        const r = spawnSync(PY, [REFERENCE, out, JSON.stringify(ids[0])], { encoding: "utf8" });
        expect(r.stderr).toBe("");
        const ref = JSON.parse(r.stdout) as { names: number; logits: number[][] };
        expect(ref.names).toBe(m.namedParameters().length);
        const ours = m.forward(ids);
        const theirs = tf.tensor3d([ref.logits]);
        expect(maxDiff(ours, theirs)).toBeLessThan(1e-4);
        tf.dispose([ours, theirs]);
        m.dispose();
      },
    );
  }
});
