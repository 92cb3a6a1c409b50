// `vlab run` and the committed results: a quick run leaves results/ untouched and reads beside it, only an explicit
// full-budget run rewrites it; bad options and an unwritable --out fail at once with a clear message.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, readJson, ROOT } from "./helpers.js";

const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "vlab-run-results-")));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// A project of its own: results/ with a committed full-budget run, and a one-cell notebook that reports.
const project = path.join(tmp, "project");
const results = path.join(project, "results");
const notebook = path.join(project, "notebooks", "tiny.ipynb");
const claim = { id: "acc-high", source: "a test", statement: "accuracy is high", metric: "acc", op: ">=" };
const committedText =
  JSON.stringify({
    notebook: "tiny",
    budget: "full",
    backend: "wasm",
    seed: 0,
    wall_s: 42,
    metrics: { acc: 0.4 },
    claims: [{ ...claim, threshold: 0.5, note: "too few steps to learn it", value: 0.4, holds: false }],
  }) + "\n";

beforeAll(() => {
  fs.mkdirSync(results, { recursive: true });
  fs.mkdirSync(path.dirname(notebook), { recursive: true });
  fs.writeFileSync(path.join(results, "tiny.json"), committedText);
  const source =
    'import { budget, report } from "@vlab/eval";\n' +
    `report({ notebook: "tiny", metrics: { acc: budget({ quick: 0.9, full: 0.8 }) }, ` +
    `claims: [{ ...${JSON.stringify(claim)}, op: ">=", threshold: 0.5 }] })`;
  const cells = [{ cell_type: "code", id: "report", metadata: {}, source, outputs: [], execution_count: null }];
  fs.writeFileSync(notebook, JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells }));
});

function vlabRun(args: string[], timeout = 180_000) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // this test is about where report() writes when nobody chose a folder
  delete env.VLAB_RESULTS_DIR;
  delete env.VLAB_WRITE_RESULTS;
  delete env.VLAB_BUDGET;
  return spawnSync(process.execPath, [CLI, "run", ...args], { cwd: ROOT, encoding: "utf8", env, timeout });
}

describe("vlab run and results/", () => {
  it("a quick run leaves the committed results untouched and prints them beside its own", { timeout: 180_000 }, () => {
    const r = vlabRun([notebook, "--out", path.join(tmp, "out"), "--summary"]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(results, "tiny.json"), "utf8")).toBe(committedText);
    expect(fs.readdirSync(results)).toEqual(["tiny.json"]);
    const own = readJson(path.join(project, "runs", "quick", "tiny.json"));
    expect(own).toMatchObject({ budget: "quick", metrics: { acc: 0.9 } });
    expect(r.stdout).toContain("Quick budget: each notebook trains for fewer steps on less data");
    expect(r.stdout).toContain(`This run's results: ${path.join(project, "runs", "quick")} (${results} untouched).`);
    expect(r.stdout).toMatch(/tiny +acc-high +acc = 0.9 +≥ 0.5 +✓ +0.4 ✗/);
    expect(r.stdout).toContain("tiny acc-high does not hold at the full budget: too few steps to learn it");
  });

  it("an explicit full-budget run rewrites results/<notebook>.json", { timeout: 180_000 }, () => {
    const r = vlabRun([notebook, "--budget", "full", "--out", path.join(tmp, "out"), "--summary"]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(readJson(path.join(results, "tiny.json"))).toMatchObject({ budget: "full", metrics: { acc: 0.8 } });
    expect(fs.existsSync(path.join(project, "runs", "full"))).toBe(false);
    expect(r.stdout).toContain("Full budget:");
    expect(r.stdout).toContain(`This run's results: ${results} (the committed folder).`);
  });
});

describe("vlab run refuses bad options at once", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["a non-number cell timeout", ["--cell-timeout", "abc"], /--cell-timeout must be a number of seconds ≥ 0.*"abc"/],
    ["a negative cell timeout", ["--cell-timeout=-1"], /--cell-timeout must be a number of seconds ≥ 0/],
    ["a fractional seed", ["--seed", "1.5"], /--seed must be a non-negative integer, got "1.5"/],
    ["a word for a seed", ["--seed", "one"], /--seed must be a non-negative integer/],
    ["an unknown budget", ["--budget", "medium"], /--budget must be quick or full, got "medium"/],
    // Node's recursive mkdir spins forever on ENOENT under /proc; the runner makes one level at a time
    ["an --out it cannot create", ["--out", "/proc/vlab-nope/out"], /cannot write the executed notebooks to/],
  ];
  for (const [name, args, re] of cases) {
    it(name, { timeout: 60_000 }, () => {
      const t0 = Date.now();
      const r = vlabRun([notebook, ...args], 45_000);
      expect(r.signal, "killed by the test's time limit: it hung").toBeNull();
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(re);
      expect(Date.now() - t0).toBeLessThan(30_000);
    });
  }

  it("an --out below a file", { timeout: 60_000 }, () => {
    const file = path.join(tmp, "a-file");
    fs.writeFileSync(file, "");
    const r = vlabRun([notebook, "--out", path.join(file, "out")], 45_000);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/cannot write the executed notebooks to .*a-file\/out: ENOTDIR/);
  });
});
