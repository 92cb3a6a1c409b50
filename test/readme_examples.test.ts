// The example of each package README runs, as a user would run it: the first ```ts block of
// packages/<name>/README.md (and kernels/vlab/README.md) is written to a .mts file inside the repository (so
// `@vlab/*` resolve from the workspace's node_modules), type-checked against the built packages, compiled to
// JavaScript and run with node in a fresh process; it must exit 0 and print what its README says it prints.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./helpers.js";

/** A line (or part of one) each example must print; every README with an example is listed here. */
const PRINTS: Record<string, string | RegExp> = {
  "packages/backend": /^backend: (tensorflow|wasm|cpu), /m,
  "packages/core": /: loss 1\.\d+ → 0\.\d+$/m,
  "packages/data": /^scene 0: .*\ncaption: "/m,
  "packages/display": 'Figure "loss"',
  "packages/eval": "beats-chance holds: acc 0.8 > 1/3",
  "packages/grpo": "advantages 0.87,-0.87,0.87,-0.87",
  "packages/llm": /^\d+ parameters; generated ".*" \((stop|length)\)$/m,
  "packages/onnx": /onnxruntime vs tfjs: max \|Δ\| \d\.\de-\d+$/m,
  "packages/rewards": "format 1, accuracy 0, R1-V's accuracy 1",
  "packages/rope": "same score true",
  "packages/tokenizers": "decoded: a red circle left of a blue square",
  "packages/vision": "image embeddings 4,32, text 4,32",
  "packages/vlab": "reward 2",
  "packages/vlm": "image tokens in 14 → logits 1,14,",
  "kernels/vlab": /^ok in .* s; cell 2: .*42/m,
};

/** Wall-clock limit of one example (a kernel start or an ONNX session takes a few seconds; 2 shared cores). */
const RUN_TIMEOUT_MS = 90_000;
const TMP = path.join(ROOT, ".vitest-tmp", "readme-examples");

interface Example {
  /** The package folder, relative to the root: "packages/core". */
  pkg: string;
  /** The example's TypeScript source. */
  source: string;
  /** The .mts file it was written to, and the .mjs file it was compiled to. */
  mts: string;
  mjs: string;
}

/** The first ```ts (or ```typescript) block of a markdown text, or undefined. */
function firstTsBlock(markdown: string): string | undefined {
  const m = /^```(?:ts|typescript)[ \t]*\r?\n([\s\S]*?)^```[ \t]*$/m.exec(markdown);
  return m?.[1];
}

function packageDirs(): string[] {
  const pkgs = fs
    .readdirSync(path.join(ROOT, "packages"), { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(ROOT, "packages", d.name, "package.json")))
    .map((d) => `packages/${d.name}`);
  return [...pkgs.sort(), "kernels/vlab"];
}

const dirs = packageDirs();
const examples = new Map<string, Example>();

/** Type errors of all examples at once (one program: the packages' declarations are read once). */
function typeErrors(files: string[]): string[] {
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2023.d.ts"],
    types: ["node"],
    typeRoots: [path.join(ROOT, "node_modules", "@types")],
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (!d.file || d.start === undefined) return text;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${path.relative(ROOT, d.file.fileName)}:${line + 1}:${character + 1} ${text}`;
  });
}

beforeAll(() => {
  fs.rmSync(TMP, { recursive: true, force: true });
  fs.mkdirSync(TMP, { recursive: true });
  for (const pkg of dirs) {
    const readme = path.join(ROOT, pkg, "README.md");
    if (!fs.existsSync(readme)) continue;
    const source = firstTsBlock(fs.readFileSync(readme, "utf8"));
    if (source === undefined) continue;
    const base = path.join(TMP, pkg.replace("/", "-"));
    const mts = `${base}.mts`;
    const mjs = `${base}.mjs`;
    fs.writeFileSync(mts, source);
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: mts,
    });
    fs.writeFileSync(mjs, js.outputText);
    examples.set(pkg, { pkg, source, mts, mjs });
  }
});

describe("package READMEs", () => {
  it.each(dirs)("%s has a README whose example is short (≤ 10 lines besides imports, ≤ 120 columns)", (pkg) => {
    const readme = path.join(ROOT, pkg, "README.md");
    expect(fs.existsSync(readme), `${pkg}/README.md is missing`).toBe(true);
    const example = examples.get(pkg);
    expect(example, `${pkg}/README.md has no \`\`\`ts block`).toBeDefined();
    const lines = (example?.source ?? "").trimEnd().split("\n");
    expect(lines.filter((l) => l.trim() !== "" && !l.startsWith("import ")).length).toBeLessThanOrEqual(10);
    expect(lines.filter((l) => l.length > 120)).toEqual([]);
    expect(PRINTS[pkg], `add what ${pkg}'s example prints to PRINTS`).toBeDefined();
  });

  it("every example type-checks against the built packages", () => {
    const files = [...examples.values()].map((e) => e.mts);
    expect(typeErrors(files)).toEqual([]);
  }, 120_000);

  it.each(dirs)(
    "%s: its example runs and prints what the README says",
    (pkg) => {
      const example = examples.get(pkg);
      expect(example, `${pkg}/README.md has no example`).toBeDefined();
      if (!example) return;
      const r = spawnSync(process.execPath, [example.mjs], {
        cwd: TMP,
        encoding: "utf8",
        timeout: RUN_TIMEOUT_MS,
        env: { ...process.env, VLAB_BUDGET: "quick" },
      });
      const output = `${r.stdout}\n${r.stderr}`;
      expect(r.error, output).toBeUndefined();
      expect(r.status, output).toBe(0);
      const expected = PRINTS[pkg] ?? "";
      if (typeof expected === "string") expect(r.stdout).toContain(expected);
      else expect(r.stdout).toMatch(expected);
    },
    RUN_TIMEOUT_MS + 30_000,
  );
});
