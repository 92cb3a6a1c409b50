#!/usr/bin/env node
/**
 * Builds the optional native kernels (native/ → dist/native/vlab_native.node) with node-gyp.
 * Run by the package's `build` script after tsc. It never fails the build: without a C++ toolchain,
 * Python or Node's headers it prints one line and exits 0, and @vlab/backend then runs on tfjs's
 * own kernels. The addon is rebuilt only when a file under native/ (or this script) is newer than
 * it; `VLAB_NATIVE_BUILD=force` rebuilds anyway, `VLAB_NATIVE_BUILD=0` skips the build.
 *
 * node-gyp comes with npm (no download): this script uses npm's copy. It builds against the Node
 * headers already on the machine when it finds them (`npm_config_nodedir`, the headers installed
 * next to the node binary, or node-gyp's cache) and only otherwise lets node-gyp fetch them.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const nativeDir = path.join(pkg, "native");
const target = path.join(pkg, "dist", "native", "vlab_native.node");
const say = (msg) => console.log(`vlab native kernels: ${msg}`);

function skip(why) {
  say(`not built (${why}); @vlab/backend will use tfjs's own wasm kernels`);
  fs.rmSync(target, { force: true }); // never leave a stale addon behind
  process.exit(0);
}

/** npm's bundled node-gyp, next to the npm that runs this script or the one installed with node. */
function findNodeGyp() {
  const roots = [];
  if (process.env.npm_execpath) roots.push(path.resolve(path.dirname(process.env.npm_execpath), ".."));
  const prefix = path.resolve(path.dirname(process.execPath), "..");
  roots.push(
    path.join(prefix, "lib", "node_modules", "npm"),
    path.join(path.dirname(process.execPath), "node_modules", "npm"),
  );
  for (const root of roots) {
    const p = path.join(root, "node_modules", "node-gyp", "bin", "node-gyp.js");
    if (fs.existsSync(p)) return p;
  }
  return null;
}

/** A directory holding include/node/node_api.h for this Node, or null. */
function findNodeDir() {
  const hasHeaders = (dir) => fs.existsSync(path.join(dir, "include", "node", "node_api.h"));
  const fromNpm = process.env.npm_config_nodedir;
  if (fromNpm && hasHeaders(fromNpm)) return fromNpm;
  const prefix = path.resolve(path.dirname(process.execPath), "..");
  if (hasHeaders(prefix)) return prefix;
  const cache = path.join(
    process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"),
    "node-gyp",
    process.versions.node,
  );
  if (hasHeaders(cache)) return cache;
  return null;
}

if (process.env.VLAB_NATIVE_BUILD === "0") skip("VLAB_NATIVE_BUILD=0");

/** Newest modification time among the addon's sources (and this script). */
function sourcesTime() {
  const files = [path.join(nativeDir, "binding.gyp"), fileURLToPath(import.meta.url)];
  for (const f of fs.readdirSync(path.join(nativeDir, "src"))) files.push(path.join(nativeDir, "src", f));
  return Math.max(...files.map((f) => fs.statSync(f).mtimeMs));
}
if (
  fs.existsSync(target) &&
  fs.statSync(target).mtimeMs >= sourcesTime() &&
  process.env.VLAB_NATIVE_BUILD !== "force"
) {
  say("up to date");
  process.exit(0);
}
const nodeGyp = findNodeGyp();
if (!nodeGyp) skip("node-gyp not found next to npm");
const nodedir = findNodeDir();
const args = [nodeGyp, "rebuild", "--loglevel=error", ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const t0 = Date.now();
const r = spawnSync(process.execPath, args, {
  cwd: nativeDir,
  encoding: "utf8",
  timeout: 180_000,
  env: { ...process.env, JOBS: String(os.availableParallelism?.() ?? 2) },
});
const built = path.join(nativeDir, "build", "Release", "vlab_native.node");
if (r.error || r.status !== 0 || !fs.existsSync(built)) {
  const lines = `${r.error?.message ?? ""}\n${r.stderr ?? ""}\n${r.stdout ?? ""}`
    .split("\n")
    .map((l) => l.replace(/^gyp ERR! /, "").trim());
  const pick = (re) => lines.find((l) => re.test(l));
  const detail =
    pick(/need to install .*Python/i) ??
    pick(/not found|No such file|ENOENT|ETIMEDOUT|EAI_AGAIN/i) ??
    pick(/^stack Error:/) ??
    pick(/error/i) ??
    `node-gyp exited with ${r.status}`;
  skip(detail.slice(0, 160));
}
// Install it under a temporary name, check that it loads (a broken binary would otherwise only
// show up as a reason at run time), then rename it into place: processes that have the previous
// addon loaded keep their mapping of the old file, and none can load a half-written one.
fs.mkdirSync(path.dirname(target), { recursive: true });
const staged = path.join(path.dirname(target), `vlab_native.${process.pid}.tmp.node`);
fs.copyFileSync(built, staged);
const check = spawnSync(process.execPath, ["-e", `console.log(require(${JSON.stringify(staged)}).info().kernel)`], {
  encoding: "utf8",
});
if (check.status !== 0) {
  fs.rmSync(staged, { force: true });
  skip(`built but does not load: ${(check.stderr ?? "").split("\n").find((l) => l.trim()) ?? "unknown error"}`);
}
fs.renameSync(staged, target);
say(`built (${check.stdout.trim()}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
