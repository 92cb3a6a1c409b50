/**
 * Lets a notebook in any folder import `@vlab/*`, `vlab` and whatever else the kernel's own
 * installation has (tfjs, sharp, ...), both for type-checking and at run time.
 *
 * A package found from the notebook's folder (its node_modules or an ancestor's) always wins;
 * the kernel's installation is only the fallback, like NODE_PATH.
 */
import fs from "node:fs";
import Module, { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);

/** The node_modules folder the kernel itself was installed into. */
export function kernelNodeModules(): string {
  return path.dirname(path.dirname(require.resolve("tslab/package.json")));
}

/** Run-time: add the kernel's node_modules to Node's global lookup paths (the NODE_PATH mechanism). */
export function addRuntimeFallback(dir = kernelNodeModules()): void {
  const paths = (process.env.NODE_PATH ?? "").split(path.delimiter).filter(Boolean);
  if (!paths.includes(dir)) paths.push(dir);
  process.env.NODE_PATH = paths.join(path.delimiter);
  (Module as unknown as { _initPaths(): void })._initPaths();
}

/** The package name that `rel` (a path inside node_modules) starts with: "@vlab/core/dist/x" → "@vlab/core". */
function packageOf(rel: string): string {
  const [first = "", second] = rel.split(/[\\/]/); // split gives at least one part
  return first.startsWith("@") && second !== undefined ? `${first}/${second}` : first;
}

function foundFromAncestors(cwd: string, pkg: string): boolean {
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "node_modules", pkg))) return true;
    if (path.dirname(dir) === dir) return false;
  }
}

/**
 * Type-check time: tslab's converter resolves modules through `ts.sys` from the notebook's folder
 * (Node10 resolution). Map `<cwd>/node_modules/<pkg>/...` onto the kernel's node_modules when no
 * folder from cwd upwards has <pkg>.
 */
export function addTypeFallback(tsSys: Record<string, unknown>, cwd: string, dir = kernelNodeModules()): void {
  const local = path.join(cwd, "node_modules") + path.sep;
  const redirect = (p: string): string => {
    if (!p.startsWith(local)) return p;
    const rel = p.slice(local.length);
    if (!rel || foundFromAncestors(cwd, packageOf(rel))) return p;
    const alt = path.join(dir, rel);
    return fs.existsSync(alt) ? alt : p;
  };
  for (const fn of ["fileExists", "readFile", "directoryExists", "realpath", "getDirectories", "readDirectory"]) {
    const orig = tsSys[fn];
    if (typeof orig !== "function") continue;
    tsSys[fn] = (p: string, ...rest: unknown[]): unknown => orig.call(tsSys, redirect(p), ...rest);
  }
}
