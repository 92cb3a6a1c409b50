import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { JUPYTER_DISPLAY } from "@vlab/core";
import { report, type ReportOptions } from "../src/report.js";
import { checkClaim, validateResults, type Claim, type ClaimOp } from "../src/results.js";
import { readResults, resultsDir } from "../src/results_dir.js";
import { resultsTable } from "../src/results_table.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-eval-"));
const saved = {
  budget: process.env.VLAB_BUDGET,
  dir: process.env.VLAB_RESULTS_DIR,
  write: process.env.VLAB_WRITE_RESULTS,
};

beforeAll(async () => {
  tf.env().set("IS_TEST", true);
  await tf.setBackend("cpu");
  delete process.env.VLAB_BUDGET;
  delete process.env.VLAB_RESULTS_DIR;
  delete process.env.VLAB_WRITE_RESULTS;
});
afterEach(() => {
  delete process.env.VLAB_BUDGET;
  delete process.env.VLAB_RESULTS_DIR;
  delete process.env.VLAB_WRITE_RESULTS;
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  if (saved.budget !== undefined) process.env.VLAB_BUDGET = saved.budget;
  if (saved.dir !== undefined) process.env.VLAB_RESULTS_DIR = saved.dir;
  if (saved.write !== undefined) process.env.VLAB_WRITE_RESULTS = saved.write;
});

const claim: Claim = {
  id: "ensembling-helps",
  source: "CLIP, Radford et al. 2021, sec. 3.1.4",
  statement: "prompt ensembling improves zero-shot accuracy",
  metric: "ensemble_gain",
  op: ">=",
  threshold: 0,
};

function base(dir: string) {
  return {
    notebook: "02-clip",
    metrics: { zero_shot_acc: 0.81, ensemble_gain: 0.03 },
    claims: [claim],
    seed: 0,
    wall_s: 71.4,
    dir,
  };
}

describe("report()", () => {
  it("writes results/<notebook>.json in the documented format", () => {
    const dir = path.join(tmp, "a");
    const r = report(base(dir));
    const file = path.join(dir, "02-clip.json");
    expect(r.path).toBe(file);
    const text = fs.readFileSync(file, "utf8");
    expect(JSON.parse(text)).toEqual({
      notebook: "02-clip",
      budget: "quick",
      backend: "cpu",
      seed: 0,
      wall_s: 71.4,
      metrics: { zero_shot_acc: 0.81, ensemble_gain: 0.03 },
      claims: [{ ...claim, value: 0.03, holds: true }],
    });
    // key order as in the format documented in results.ts, and the returned object serialises to exactly the file
    expect(Object.keys(JSON.parse(text))).toEqual([
      "notebook",
      "budget",
      "backend",
      "seed",
      "wall_s",
      "metrics",
      "claims",
    ]);
    expect(Object.keys(JSON.parse(text).claims[0])).toEqual([
      "id",
      "source",
      "statement",
      "metric",
      "op",
      "threshold",
      "value",
      "holds",
    ]);
    expect(JSON.stringify(r, null, 2) + "\n").toBe(text);
    expect(validateResults(JSON.parse(text))).toBeTruthy();
    expect(fs.readdirSync(dir)).toEqual(["02-clip.json"]); // no temp files left
  });

  it("computes value and holds itself, ignoring what the caller says", () => {
    const r = report({
      ...base(path.join(tmp, "b")),
      claims: [
        { ...claim, value: 99, holds: true, threshold: 0.05 } as Claim,
        { ...claim, id: "eq", metric: "zero_shot_acc", op: "==", threshold: 0.81 },
        { ...claim, id: "lt", metric: "zero_shot_acc", op: "<", threshold: 0.81 },
      ],
    });
    expect(r.claims.map((c) => [c.value, c.holds])).toEqual([
      [0.03, false],
      [0.81, true],
      [0.81, false],
    ]);
    expect(Object.keys(r.claims[0]!)).not.toContain("extra");
    expect(r.allHold).toBe(false);
  });

  it("defaults: budget from VLAB_BUDGET, seed null, wall_s from process.uptime(), dir from VLAB_RESULTS_DIR", () => {
    process.env.VLAB_BUDGET = "full";
    process.env.VLAB_RESULTS_DIR = path.join(tmp, "env");
    const r = report({ notebook: "x", metrics: { m: 1 }, claims: [] });
    expect(r.budget).toBe("full");
    expect(r.seed).toBeNull();
    expect(r.backend).toBe("cpu");
    expect(r.wall_s).toBeGreaterThan(0);
    expect(Math.round(r.wall_s * 10) / 10).toBe(r.wall_s);
    expect(r.wall_s).toBeLessThanOrEqual(process.uptime() + 0.1);
    expect(fs.existsSync(path.join(tmp, "env", "x.json"))).toBe(true);
  });

  it("finds the nearest ancestor with a results/ folder", () => {
    const root = path.join(tmp, "repo");
    fs.mkdirSync(path.join(root, "results"), { recursive: true });
    fs.mkdirSync(path.join(root, "notebooks", "deep"), { recursive: true });
    expect(resultsDir(path.join(root, "notebooks", "deep"))).toBe(path.join(root, "results"));
    const lonely = path.join(tmp, "lonely");
    fs.mkdirSync(lonely);
    // tmp dirs have no results/ above them (unless the machine's / has one)
    if (!fs.existsSync("/results") && !fs.existsSync(path.join(os.tmpdir(), "results"))) {
      expect(resultsDir(lonely)).toBe(path.join(lonely, "results"));
    }
    process.env.VLAB_RESULTS_DIR = "/somewhere/else";
    expect(resultsDir(lonely)).toBe("/somewhere/else");
  });

  it("displays itself as the claims table", () => {
    // from a folder with no committed results/ above it (in the repository, report() compares with results/)
    const cwd = process.cwd();
    process.chdir(tmp);
    let r: ReturnType<typeof report>;
    try {
      r = report(base(path.join(tmp, "c")));
    } finally {
      process.chdir(cwd);
    }
    expect(r.committed).toBeUndefined();
    const b = r[JUPYTER_DISPLAY]();
    expect(Object.keys(b).sort()).toEqual(["text/html", "text/markdown", "text/plain"]);
    expect(b["text/html"]).toContain("<b>ensembling-helps</b>");
    expect(b["text/html"]).toContain("CLIP, Radford et al. 2021");
    expect(b["text/html"]).toContain("✓");
    expect(b["text/markdown"]).toContain(
      "| ensembling-helps: prompt ensembling improves zero-shot accuracy | CLIP, Radford et al. 2021, sec. 3.1.4 | " +
        "ensemble_gain = 0.03 | ≥ 0 | ✓ |",
    );
    expect(b["text/plain"]).toMatch(/^02-clip · budget quick · backend cpu · seed 0 · 71.4 s — 1\/1 claims hold/);
    // holds is a boolean column of display's table: ✓ / ✗ centred under "holds"
    expect(b["text/plain"]).toContain("ensemble_gain = 0.03  ≥ 0          ✓");
    expect(String(r)).toBe(b["text/plain"]);
  });

  describe("validation errors", () => {
    const dir = path.join(tmp, "never");
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ["empty notebook", { notebook: "" }, /notebook must be a non-empty name/],
      ["notebook with a slash", { notebook: "../x" }, /plain name/],
      [
        "unknown metric",
        { claims: [{ ...claim, metric: "nope" }] },
        /claim "ensembling-helps" uses metric "nope", which is not in metrics \(known: zero_shot_acc, ensemble_gain\)/,
      ],
      [
        "missing metric name",
        { claims: [{ ...claim, metric: undefined }] },
        /claim "ensembling-helps" needs a metric name/,
      ],
      [
        "NaN metric",
        { metrics: { ensemble_gain: NaN } },
        /metric "ensemble_gain" is NaN; every metric must be a finite number/,
      ],
      ["infinite metric", { metrics: { ensemble_gain: Infinity } }, /is Infinity/],
      ["non-number metric", { metrics: { ensemble_gain: "0.1" } }, /metric "ensemble_gain" must be a number/],
      ["duplicate claim ids", { claims: [claim, claim] }, /duplicate claim id "ensembling-helps"/],
      ["bad op", { claims: [{ ...claim, op: "=>" }] }, /has op "=>"; use one of >=, >, <=, <, ==/],
      ["bad threshold", { claims: [{ ...claim, threshold: NaN }] }, /needs a finite number threshold/],
      ["missing statement", { claims: [{ ...claim, statement: "" }] }, /needs a non-empty statement/],
      ["missing id", { claims: [{ ...claim, id: "" }] }, /claims\[0\] needs a non-empty string id/],
      ["bad budget", { budget: "medium" }, /budget must be "quick" or "full", got "medium"/],
      ["bad seed", { seed: 1.5 }, /seed must be an integer or null/],
      ["bad wall_s", { wall_s: -1 }, /wall_s must be a finite number of seconds/],
      ["claims not an array", { claims: undefined }, /claims must be an array/],
    ];
    for (const [name, patch, re] of cases) {
      it(name, () => {
        expect(() => report({ ...base(dir), ...patch } as unknown as ReportOptions)).toThrow(re);
      });
    }
    it("bad VLAB_BUDGET", () => {
      process.env.VLAB_BUDGET = "huge";
      const { budget: _b, ...rest } = { ...base(dir), budget: undefined };
      expect(() => report(rest)).toThrow(/VLAB_BUDGET must be "quick" or "full"/);
    });
    it("wrote nothing", () => expect(fs.existsSync(dir)).toBe(false));
  });
});

describe("validateResults()", () => {
  const good = () => ({
    notebook: "n",
    budget: "quick",
    backend: "wasm",
    seed: 0,
    wall_s: 1,
    metrics: { a: 0.5 },
    claims: [{ id: "c", source: "s", statement: "t", metric: "a", op: ">", threshold: 0.4, value: 0.5, holds: true }],
  });

  it("accepts a good object and rejects inconsistent ones", () => {
    expect(validateResults(good())).toEqual(good());
    // each mutation makes the object invalid on purpose, so it is loosely typed here
    type Loose = { [k: string]: unknown; claims: Array<Record<string, unknown>>; metrics: Record<string, unknown> };
    const cases: Array<[(o: Loose) => void, RegExp]> = [
      [(o) => delete o.backend, /missing field "backend"/],
      [(o) => (o.extra = 1), /unknown field "extra"/],
      [(o) => (o.claims[0]!.holds = false), /says holds: false but 0.5 > 0.4 is true/],
      [(o) => (o.claims[0]!.value = 0.7), /has value 0.7 but metrics.a is 0.5/],
      [(o) => delete o.claims[0]!.value, /is missing "value"/],
      [(o) => (o.claims[0]!.extra = "x"), /unknown field "extra"/],
      [(o) => (o.claims[0]!.note = ""), /a note is a non-empty single line/],
      [(o) => (o.claims = [o.claims[0]!, o.claims[0]!]), /duplicate claim id "c"/],
      [(o) => (o.budget = "slow"), /budget must be/],
      [(o) => (o.metrics.a = null), /metric "a" must be a number/],
    ];
    for (const [mutate, re] of cases) {
      const o = good();
      mutate(o);
      expect(() => validateResults(o, "x.json")).toThrow(re);
    }
    expect(() => validateResults([], "x.json")).toThrow(/^x.json: expected an object/);
  });

  it("checkClaim implements each op", () => {
    expect([">=", ">", "<=", "<", "=="].map((op) => checkClaim(op as ClaimOp, 1, 1))).toEqual([
      true,
      false,
      true,
      false,
      true,
    ]);
  });
});

describe("resultsTable()", () => {
  it("summarises every results file and lists invalid ones", () => {
    const dir = path.join(tmp, "all");
    report({ ...base(dir), notebook: "02-clip" });
    report({ ...base(dir), notebook: "01-vit", metrics: { ensemble_gain: -0.1 }, seed: 3, wall_s: 12 });
    fs.writeFileSync(path.join(dir, "broken.json"), "{");
    fs.writeFileSync(path.join(dir, "bad.json"), JSON.stringify({ notebook: "bad" }));
    // not a results file: skipped
    fs.writeFileSync(path.join(dir, "figure.json"), JSON.stringify({ data: [], layout: {} }));
    const set = readResults(dir);
    expect(set.results.map((r) => r.results.notebook)).toEqual(["01-vit", "02-clip"]);
    expect(set.invalid.map((i) => path.basename(i.file))).toEqual(["bad.json", "broken.json"]);

    const md = resultsTable(dir);
    expect(md).toContain("| notebook | budget | backend | seed | wall (s) | claims hold |");
    expect(md).toContain("| 01-vit | quick | cpu | 3 | 12 | 0/1 |");
    expect(md).toContain("| 02-clip | quick | cpu | 0 | 71.4 | 1/1 |");
    expect(md).toContain(
      "| 01-vit | ensembling-helps | CLIP, Radford et al. 2021, sec. 3.1.4 | ensemble_gain = -0.1 | ≥ 0 | ✗ |",
    );
    expect(md).toContain("**Invalid result files**\n- bad.json: missing field");
    expect(md).toContain("- broken.json: invalid JSON");

    const text = resultsTable(dir, "text");
    expect(text.split("\n")[0]).toBe("notebook  budget  backend  seed  wall (s)  claims hold");
    expect(text).toContain("02-clip   quick   cpu         0      71.4          1/1");
    expect(resultsTable(path.join(tmp, "missing"))).toMatch(/^No results in /);
  });
});
