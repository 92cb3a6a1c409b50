// `vlab export data | hf` through the command's own entry (main): files written, usage errors exit 2.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { initBackend, tf } from "@vlab/core";
import { buildChatTokenizer, CausalLM, loadLlm, saveLlm } from "@vlab/llm";
import { saveTokenizer } from "@vlab/tokenizers";
import { main } from "../src/cli.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-export-cli-"));
beforeAll(async () => {
  await initBackend(process.env.VLAB_TEST_BACKEND === "cpu" ? "cpu" : "wasm");
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs the command with its console output captured. */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  const error = vi.spyOn(console, "error").mockImplementation(() => {});
  try {
    const code = await main(args);
    return { code, out: log.mock.calls.flat().join("\n"), err: error.mock.calls.flat().join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe("vlab export", () => {
  it("data: a shapes-world task as the four files beside PNG images", async () => {
    const dir = path.join(tmp, "counting");
    const r = await run("export", "data", "counting", dir, "--n", "3", "--size", "56", "--seed", "2");
    expect(r.code).toBe(0);
    expect(r.out).toContain('3 records of "counting" (train)');
    expect(fs.readdirSync(dir).sort()).toEqual([
      "images",
      "lmm_r1.jsonl",
      "openrlhf.jsonl",
      "trl.jsonl",
      "verl.parquet",
    ]);
    expect(fs.readdirSync(path.join(dir, "images"))).toEqual(["000000.png", "000001.png", "000002.png"]);
  });

  it("hf: a model folder with its tokenizer, sharded on request, with the system prompt given", async () => {
    const tok = buildChatTokenizer(["how many shapes are there?", "two"]);
    const m = new CausalLM({
      vocabSize: 32,
      hiddenSize: 16,
      intermediateSize: 32,
      numHiddenLayers: 2,
      numAttentionHeads: 2,
    });
    const ck = path.join(tmp, "ck");
    saveLlm(m, ck);
    saveTokenizer(tok.tokenizer, ck);
    const out = path.join(tmp, "hf");
    const r = await run("export", "hf", ck, out, "--max-shard-size", "4KiB", "--system-prompt", "Be brief.");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/a language model \(model_type qwen2, F32, \d+ shards \+ index\)/);
    expect(fs.readFileSync(path.join(out, "chat_template.jinja"), "utf8")).toContain("Be brief.");
    const { model } = loadLlm(out);
    const [a, b] = [m.forward([[1, 5, 7]]), model.forward([[1, 5, 7]])];
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])).toBe(0);
    tf.dispose([a, b]);
    model.dispose();
    m.dispose();
  });

  it("usage errors exit 2 with the usage; a bad source fails with its reason", async () => {
    for (const args of [
      ["export"],
      ["export", "zip"],
      ["export", "data", "counting"],
      ["export", "data", "nope", tmp],
      ["export", "data", "counting", tmp, "--n", "0"],
      ["export", "hf", "a", "b", "--dtype", "F8"],
      ["export", "hf", "a", "b", "--max-shard-size", "lots"],
    ]) {
      const r = await run(...args);
      expect([args.join(" "), r.code]).toEqual([args.join(" "), 2]);
      expect(r.err).toContain("vlab export data <counting|grounding|file.jsonl> <dir>");
    }
    expect((await run("export", "--help")).code).toBe(0);
    await expect(main(["export", "hf", path.join(tmp, "missing"), path.join(tmp, "o")])).rejects.toThrow(
      "no such checkpoint",
    );
  });
});
