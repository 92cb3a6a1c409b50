// Where report() writes, and how a run reads beside the committed full-budget results: only an explicit full run
// (VLAB_WRITE_RESULTS=1 at the full budget, which `vlab run --budget full` sets) touches results/.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { JUPYTER_DISPLAY } from "@vlab/core";
import { report } from "../src/report.js";
import { validateResults, type Claim } from "../src/results.js";
import { findResultsDir, isFullRun, readCommitted, runResultsDir } from "../src/results_dir.js";
import { resultsTable, runSummary } from "../src/results_table.js";

const ENV = ["VLAB_BUDGET", "VLAB_RESULTS_DIR", "VLAB_WRITE_RESULTS"] as const;
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
const cwd0 = process.cwd();
const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "vlab-eval-loc-")));

const gain: Claim = {
  id: "ensembling-helps",
  source: "CLIP, Radford et al. 2021, sec. 3.1.4",
  statement: "prompt ensembling improves zero-shot accuracy",
  metric: "ensemble_gain",
  op: ">=",
  threshold: 0,
};
const temp: Claim = {
  id: "temperature-learned",
  source: "CLIP, Radford et al. 2021, sec. 2.5",
  statement: "the learned temperature grows",
  metric: "temperature_change",
  op: ">",
  threshold: 1,
  note: "at this data size the temperature barely moves from its initial value",
};

// A project: results/ holds a committed full-budget run where one claim holds and one does not.
const repo = path.join(tmp, "repo");
const results = path.join(repo, "results");
const notebooks = path.join(repo, "notebooks");
const committedText =
  JSON.stringify(
    {
      notebook: "02-clip",
      budget: "full",
      backend: "wasm",
      seed: 0,
      wall_s: 391.4,
      metrics: { ensemble_gain: 0.019, temperature_change: 0.4 },
      claims: [
        { ...gain, value: 0.019, holds: true },
        { ...temp, threshold: 2, value: 0.4, holds: false },
      ],
    },
    null,
    2,
  ) + "\n";

const run = (metrics: Record<string, number>) =>
  report({ notebook: "02-clip", metrics, claims: [gain, temp], seed: 0, wall_s: 60 });

beforeAll(async () => {
  tf.env().set("IS_TEST", true);
  await tf.setBackend("cpu");
});
beforeEach(() => {
  for (const k of ENV) delete process.env[k];
  fs.rmSync(repo, { recursive: true, force: true });
  fs.mkdirSync(results, { recursive: true });
  fs.mkdirSync(notebooks, { recursive: true });
  fs.writeFileSync(path.join(results, "02-clip.json"), committedText);
  // the kernel runs a notebook in the notebook's folder
  process.chdir(notebooks);
});
afterEach(() => process.chdir(cwd0));
afterAll(() => {
  process.chdir(cwd0);
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

const committedFile = () => fs.readFileSync(path.join(results, "02-clip.json"), "utf8");

describe("report() never overwrites the committed results unless asked", () => {
  it("a quick run (the default budget) writes runs/quick/ and leaves results/ as committed", () => {
    const r = run({ ensemble_gain: -0.01, temperature_change: 1.5 });
    expect(r.path).toBe(path.join(repo, "runs", "quick", "02-clip.json"));
    expect(validateResults(JSON.parse(fs.readFileSync(r.path, "utf8")))).toMatchObject({ budget: "quick" });
    expect(committedFile()).toBe(committedText);
    expect(fs.readdirSync(results)).toEqual(["02-clip.json"]);
  });

  it("a notebook at the full budget in Jupyter (no VLAB_WRITE_RESULTS) writes runs/full/", () => {
    process.env.VLAB_BUDGET = "full";
    const r = run({ ensemble_gain: 0.02, temperature_change: 0.5 });
    expect(r.path).toBe(path.join(repo, "runs", "full", "02-clip.json"));
    expect(committedFile()).toBe(committedText);
  });

  it("VLAB_WRITE_RESULTS=1 only counts at the full budget", () => {
    process.env.VLAB_WRITE_RESULTS = "1";
    expect(isFullRun("quick")).toBe(false);
    expect(run({ ensemble_gain: 0.02, temperature_change: 0.5 }).path).toBe(
      path.join(repo, "runs", "quick", "02-clip.json"),
    );
    expect(committedFile()).toBe(committedText);
  });

  it("an explicit full run (VLAB_WRITE_RESULTS=1, budget full) rewrites results/ and is compared with nothing", () => {
    process.env.VLAB_WRITE_RESULTS = "1";
    process.env.VLAB_BUDGET = "full";
    expect(isFullRun()).toBe(true);
    const r = run({ ensemble_gain: 0.03, temperature_change: 0.5 });
    expect(r.path).toBe(path.join(results, "02-clip.json"));
    expect(JSON.parse(committedFile())).toMatchObject({ budget: "full", metrics: { ensemble_gain: 0.03 } });
    expect(r.committed).toBeUndefined();
    expect(String(r)).not.toContain("the committed results/");
    // its failing claim is explained by the notebook's note
    expect(String(r)).toContain(
      "02-clip temperature-learned does not hold at the full budget: at this data size the temperature barely moves",
    );
    expect(fs.existsSync(path.join(repo, "runs"))).toBe(false);
  });

  it("VLAB_RESULTS_DIR and dir are explicit choices and win", () => {
    process.env.VLAB_RESULTS_DIR = path.join(tmp, "env");
    expect(run({ ensemble_gain: 0, temperature_change: 0 }).path).toBe(path.join(tmp, "env", "02-clip.json"));
    const r = report({ notebook: "x", metrics: { m: 1 }, claims: [], dir: path.join(tmp, "d") });
    expect(r.path).toBe(path.join(tmp, "d", "x.json"));
    expect(committedFile()).toBe(committedText);
  });

  it("outside any project a run writes under the temp folder", () => {
    const lonely = path.join(tmp, "lonely");
    fs.mkdirSync(lonely, { recursive: true });
    if (findResultsDir(lonely) === undefined) {
      expect(runResultsDir("quick", lonely)).toBe(path.join(os.tmpdir(), "vlab-runs", "quick"));
      expect(runResultsDir("full", lonely, true)).toBe(path.join(lonely, "results"));
    }
    expect(runResultsDir("quick", notebooks)).toBe(path.join(repo, "runs", "quick"));
    expect(runResultsDir("full", notebooks, true)).toBe(results);
    expect(runResultsDir("full", notebooks, false)).toBe(path.join(repo, "runs", "full"));
  });

  it("an unwritable folder is an error, not a spin (Node's recursive mkdir loops on ENOENT under /proc)", () => {
    if (!fs.existsSync("/proc/self")) return;
    const dist = path.resolve(import.meta.dirname, "../dist/index.js");
    if (!fs.existsSync(dist)) return; // built by `npm test`'s pretest
    const code =
      `import("${dist}").then((m) => m.report({ notebook: "x", metrics: {}, claims: [], backend: "cpu", ` +
      `dir: "/proc/vlab-nope/deeper" }))`;
    const r = spawnSync(process.execPath, ["-e", code], { encoding: "utf8", timeout: 30_000 });
    expect(r.signal, "report() spun instead of failing").toBeNull();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ENOENT|EACCES|EPERM/);
  });
});

describe("a run's claims table beside the committed full-budget results", () => {
  it("shows the committed value and verdict of each claim, and the note of a claim that does not hold", () => {
    const r = run({ ensemble_gain: -0.017, temperature_change: 1.5 });
    expect(r.committed).toMatchObject({ budget: "full", wall_s: 391.4 });
    const text = String(r);
    const b = r[JUPYTER_DISPLAY]();
    // the committed threshold differs for temperature-learned, so it is shown
    expect(b["text/markdown"]).toContain("| ensemble_gain = -0.017 | ≥ 0 | ✗ | 0.019 ✓ |");
    expect(b["text/markdown"]).toContain("| temperature_change = 1.5 | > 1 | ✓ | 0.4 (> 2) ✗ |");
    expect(text).toContain("full budget: the committed results/02-clip.json (backend wasm, 391.4 s, 1/2 claims hold)");
    expect(text).toContain("02-clip ensembling-helps does not hold in this quick run (it holds at the full budget)");
    expect(text).toContain(`02-clip temperature-learned does not hold at the full budget: ${temp.note}`);
    expect(b["text/html"]).toContain('<th style="text-align:right">full budget</th>');
    expect(b["text/html"]).toContain(`<li>02-clip temperature-learned does not hold at the full budget: ${temp.note}`);
  });

  it("a committed file that is not full-budget or not valid is no reference", () => {
    const quick = JSON.parse(committedText);
    quick.budget = "quick";
    fs.writeFileSync(path.join(results, "02-clip.json"), JSON.stringify(quick));
    expect(readCommitted("02-clip")).toBeUndefined();
    fs.writeFileSync(path.join(results, "02-clip.json"), "{");
    expect(readCommitted("02-clip")).toBeUndefined();
    expect(run({ ensemble_gain: 0.1, temperature_change: 2 }).committed).toBeUndefined();
  });
});

describe("Claim.note", () => {
  it("is validated, written after threshold, and left out when not given", () => {
    const r = run({ ensemble_gain: 0.1, temperature_change: 2 });
    const json = JSON.parse(fs.readFileSync(r.path, "utf8"));
    expect(Object.keys(json.claims[1])).toEqual([
      "id",
      "source",
      "statement",
      "metric",
      "op",
      "threshold",
      "note",
      "value",
      "holds",
    ]);
    expect(json.claims[1].note).toBe(temp.note);
    expect("note" in json.claims[0]).toBe(false);
    const bad = (note: unknown) => () =>
      report({ notebook: "x", metrics: { m: 1 }, claims: [{ ...gain, metric: "m", note } as Claim] });
    expect(bad("")).toThrow(/claim "ensembling-helps" has note ""; a note is a non-empty single line/);
    expect(bad("two\nlines")).toThrow(/single line/);
    expect(bad(3)).toThrow(/has note 3/);
  });

  it("is not shown for a claim that holds in this run and at the full budget", () => {
    fs.rmSync(path.join(results, "02-clip.json"));
    const r = run({ ensemble_gain: 0.1, temperature_change: 2 });
    expect(String(r)).not.toContain(temp.note);
  });
});

describe("vlab run --summary's table", () => {
  it("lists this run's notebooks beside the committed results, and the ones with no fresh results", () => {
    const since = Date.now() - 1000;
    const r = run({ ensemble_gain: -0.017, temperature_change: 1.5 });
    const dir = path.dirname(r.path);
    // left over from an earlier run: not this run's result
    const old = path.join(dir, "01-vit.json");
    fs.writeFileSync(old, JSON.stringify({ ...JSON.parse(committedText), notebook: "01-vit", budget: "quick" }));
    fs.utimesSync(old, new Date(since - 60_000), new Date(since - 60_000));
    const text = resultsTable(dir, "text", { committed: results, notebooks: ["00-tour", "01-vit", "02-clip"], since });
    expect(text).toMatch(/02-clip +quick +cpu +0 +60 +1\/2 +1\/2 in 391.4 s/);
    expect(text).toMatch(/02-clip +ensembling-helps +ensemble_gain = -0.017 +≥ 0 +✗ +0.019 ✓/);
    expect(text).toContain("No results from this run for 00-tour, 01-vit");
    expect(text).toContain(`02-clip temperature-learned does not hold at the full budget: ${temp.note}`);

    const s = runSummary({ dir, budget: "quick", notebooks: ["02-clip"], since, committed: results });
    expect(s).toMatch(/^Quick budget: each notebook trains for fewer steps on less data/);
    expect(s).toContain(`This run's results: ${dir} (${results} untouched).`);
    expect(s).toContain(
      "This quick run: 1/2 claims hold in 1 notebook; the committed full-budget runs of the same notebooks: " +
        "1/2 claims hold.",
    );
    // without `committed`, the nearest results/ above the run's folder is the reference
    expect(runSummary({ dir, budget: "quick", notebooks: ["02-clip"] })).toContain("0.019 ✓");
    // a full run's summary does not compare the committed folder with itself
    const full = runSummary({ dir: results, budget: "full", committed: results });
    expect(full).toMatch(/^Full budget:/);
    expect(full).not.toContain("full budget\n");
  });
  it("shows a claim the notebook checks only at the full budget with its committed verdict", () => {
    const since = Date.now() - 1000;
    // the quick run leaves ensembling-helps out (no quick threshold holds reliably)
    const r = report({
      notebook: "02-clip",
      metrics: { temperature_change: 1.5 },
      claims: [temp],
      seed: 0,
      wall_s: 60,
    });
    const text = resultsTable(path.dirname(r.path), "text", { committed: results, notebooks: ["02-clip"], since });
    expect(text).toMatch(/02-clip +ensembling-helps +not checked at quick +≥ 0 +— +0.019 ✓/);
    expect(text).toMatch(/02-clip +temperature-learned +temperature_change = 1.5 /);
    // and in the notebook's own claims table
    expect(String(r)).toMatch(/ensembling-helps: .* +not checked at quick +≥ 0 +— +0.019 ✓/);
  });
});
