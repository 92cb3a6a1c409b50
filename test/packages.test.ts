// Each package imports on its own, in a fresh Node process, as a user's code would.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers.js";

const packages = [
  "@vlab/backend",
  "@vlab/core",
  "@vlab/data",
  "@vlab/display",
  "@vlab/eval",
  "@vlab/grpo",
  "@vlab/kernel",
  "@vlab/llm",
  "@vlab/onnx",
  "@vlab/rewards",
  "@vlab/rope",
  "@vlab/tokenizers",
  "@vlab/vision",
  "@vlab/vlm",
  "vlab",
];

describe("standalone imports", () => {
  it.each(packages)("%s imports in a fresh process", (name) => {
    const r = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const m = await import(${JSON.stringify(name)}); console.log(Object.keys(m).length);`,
      ],
      {
        cwd: ROOT,
        encoding: "utf8",
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThan(0);
  });

  it("the umbrella exposes each package as a namespace", async () => {
    const vlab = await import("vlab");
    expect(Object.keys(vlab).sort()).toEqual([
      "core",
      "data",
      "display",
      "eval",
      "evaluation",
      "grpo",
      "llm",
      "onnx",
      "rewards",
      "rope",
      "tokenizers",
      "vision",
      "vlm",
    ]);
    expect(typeof vlab.core.initBackend).toBe("function");
    expect(typeof vlab.evaluation.report).toBe("function");
  });
});
