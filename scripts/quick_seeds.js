// How reliably does the quick budget reach its thresholds? Runs every notebook at the quick budget once per seed
// (`vlab run --seed N`, which notebooks read through runSeed()), then tabulates each claim: its value per seed, its
// threshold, and how many seeds held. A quick threshold should hold on every seed and still show the effect.
//
//   node scripts/quick_seeds.js [--seeds 0,1,2] [--dir runs/quick-seeds] [--json runs/quick-seeds.json] [--table-only]
//
// Each seed's results go to <dir>/s<N> (VLAB_RESULTS_DIR), its executed notebooks to <dir>/s<N>/executed, so the
// committed results/ are never touched. --table-only skips the runs and tabulates what <dir> already holds.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CLI = path.join(ROOT, "packages/vlab/dist/cli.js");

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "0,1,2" },
    dir: { type: "string", default: path.join(ROOT, "runs/quick-seeds") },
    json: { type: "string", default: path.join(ROOT, "runs/quick-seeds.json") },
    "table-only": { type: "boolean", default: false },
  },
});
const seeds = values.seeds.split(",").map((s) => {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--seeds: "${s}" is not a non-negative integer`);
  return n;
});
const dir = path.resolve(values.dir);
const notebooks = fs
  .readdirSync(path.join(ROOT, "notebooks"))
  .filter((f) => f.endsWith(".ipynb"))
  .sort()
  .map((f) => path.join("notebooks", f));

if (!values["table-only"]) {
  for (const seed of seeds) {
    const out = path.join(dir, `s${seed}`);
    const t0 = Date.now();
    console.log(`▶ seed ${seed} → ${out}`);
    const r = spawnSync(
      process.execPath,
      [CLI, "run", ...notebooks, "--budget", "quick", "--seed", String(seed), "--out", path.join(out, "executed")],
      { cwd: ROOT, stdio: "inherit", env: { ...process.env, VLAB_RESULTS_DIR: out } },
    );
    console.log(`  seed ${seed}: exit ${r.status} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
}

// claims[notebook/claim] = { notebook, id, metric, op, threshold, values: { seed: value }, held }
const claims = new Map();
const walls = {};
for (const seed of seeds) {
  for (const nb of notebooks) {
    const name = path.basename(nb, ".ipynb");
    const file = path.join(dir, `s${seed}`, `${name}.json`);
    if (!fs.existsSync(file)) {
      console.warn(`missing: ${file}`);
      continue;
    }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    (walls[name] ??= {})[seed] = r.wall_s;
    for (const c of r.claims) {
      const key = `${name}/${c.id}`;
      const row = claims.get(key) ?? {
        notebook: name,
        id: c.id,
        metric: c.metric,
        op: c.op,
        threshold: c.threshold,
        values: {},
        holds: {},
      };
      row.values[seed] = c.value;
      row.holds[seed] = c.holds;
      claims.set(key, row);
    }
  }
}
const rows = [...claims.values()].map((c) => {
  const vals = Object.values(c.values);
  return {
    ...c,
    held: Object.values(c.holds).filter(Boolean).length,
    runs: vals.length,
    min: Math.min(...vals),
    max: Math.max(...vals),
  };
});
const summary = { seeds, budget: "quick", dir, wall_s: walls, claims: rows };
fs.mkdirSync(path.dirname(path.resolve(values.json)), { recursive: true });
fs.writeFileSync(values.json, JSON.stringify(summary, null, 2) + "\n");

const fmt = (v) => (v === undefined ? "—" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
const header = ["claim", ...seeds.map((s) => `seed ${s}`), "threshold", "held"];
const lines = rows.map((c) => [
  `${c.notebook} ${c.id}`,
  ...seeds.map((s) => fmt(c.values[s])),
  `${c.op} ${c.threshold}`,
  `${c.held}/${c.runs}`,
]);
console.log(`\n| ${header.join(" | ")} |\n|${header.map(() => " --- |").join("")}`);
for (const l of lines) console.log(`| ${l.join(" | ")} |`);
console.log(`\nwall (s): ${JSON.stringify(walls)}\n→ ${values.json}`);
