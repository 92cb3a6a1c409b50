/**
 * The Python shim shipped with the package (python/vlab_rewards.py, standard library only): verl's
 * `compute_score`, TRL's reward function and OpenRLHF's `reward_func`, each calling the service.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";

/** Absolute path of python/vlab_rewards.py (two levels above this file, in src/ and in dist/ alike). */
export function shimPath(): string {
  return fileURLToPath(new URL("../../python/vlab_rewards.py", import.meta.url));
}

/** The shim's source text. */
export function shimSource(): string {
  return fs.readFileSync(shimPath(), "utf8");
}
