/**
 * Atomic file writes: a reader sees either the old file or the complete new one, never a torn write
 * (checkpoints and safetensors files are written this way).
 *
 * The temporary file is `.<name>.tmp-<pid>-t<threadId>-<random>` next to the target. A process killed
 * mid-write leaves it behind (as large as what was written); the next write of the same target, and
 * `removeStaleTempFiles` (which `loadCheckpoint` calls), remove such leftovers of dead writers.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { threadId } from "node:worker_threads";

export interface AtomicWriteOptions {
  /** Bytes per write call (default 8 MiB). */
  chunkSize?: number;
  /** Called after each chunk is written to the temporary file (tests use it to simulate a crash). */
  onChunk?: (written: number, total: number, tempPath: string) => void;
}

/** Temporary files this thread is writing now (so that a re-entrant cleanup never removes one). */
const inFlight = new Set<string>();

function tempName(file: string): string {
  const rand = Math.random().toString(36).slice(2, 10) || "0";
  return `.${path.basename(file)}.tmp-${process.pid}-t${threadId}-${rand}`;
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Whether process `pid` exists (on this machine). Anything but "no such process" counts as alive. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence and permission check only, nothing is sent
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH"; // EPERM: alive, owned by someone else
  }
}

/**
 * Removes temporary files that earlier `atomicWrite`s of `file` left behind when their process died
 * mid-write, and returns their paths. Only names of the exact form `.<name>.tmp-<pid>-…` for this target
 * are considered, and a temp file is removed only when its writer cannot still be writing it:
 * - its pid is not a running process (`process.kill(pid, 0)` fails with ESRCH), or
 * - its pid is this process's own, its thread is this thread, and this thread is not writing it (a
 *   previous process that had the same pid, as happens when a container restarts; temp files of this
 *   process's other worker threads are left alone), or it has the older name without a thread.
 * A temp file whose pid belongs to any other running process is kept, even if that process is not
 * ours: no age rule, since a live writer may be stopped (Ctrl-Z) or slow for any length of time. The
 * pid test is local to this machine, so two machines must not write the same target on a shared file
 * system (the other writer would find its temp file gone and fail, leaving the previous file intact).
 * Best effort: an unreadable directory or a file that cannot be removed is skipped silently.
 */
export function removeStaleTempFiles(file: string): string[] {
  const dir = path.dirname(path.resolve(file));
  const pattern = new RegExp(`^\\.${escapeRegExp(path.basename(file))}\\.tmp-(\\d+)-(?:t(\\d+)-)?[0-9a-z]+$`);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    const full = path.join(dir, name);
    if (!Number.isSafeInteger(pid) || pid < 1) continue; // never probe 0 or a negative (process-group) pid
    let stale: boolean;
    if (pid === process.pid) stale = m[2] === undefined || (Number(m[2]) === threadId && !inFlight.has(full));
    else stale = !pidAlive(pid);
    if (!stale) continue;
    try {
      if (!fs.lstatSync(full).isFile()) continue;
      fs.rmSync(full, { force: true });
      removed.push(full);
    } catch {
      /* already gone, or not ours to remove: skip */
    }
  }
  return removed;
}

/**
 * Writes `bytes` to `file` atomically: into a temporary file in the same directory, fsync'd, then
 * renamed over `file` (a rename within one file system is atomic on POSIX). A reader sees either
 * the old file or the complete new one, never a torn write. If the process dies mid-write, a
 * `.<name>.tmp-*` file may remain next to the target; the target itself is untouched, and the next
 * `atomicWrite` of the same target removes such leftovers first (see `removeStaleTempFiles`).
 */
export function atomicWrite(
  file: string,
  data: Uint8Array | string,
  { chunkSize = 8 << 20, onChunk }: AtomicWriteOptions = {},
): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const dir = path.dirname(path.resolve(file));
  makeDirs(dir);
  removeStaleTempFiles(file); // first, so that their space is free for this write
  const tmp = path.join(dir, tempName(file));
  const fd = fs.openSync(tmp, "w");
  inFlight.add(tmp);
  let closed = false;
  try {
    let written = 0;
    while (written < bytes.byteLength) {
      const n = fs.writeSync(fd, bytes, written, Math.min(chunkSize, bytes.byteLength - written));
      written += n;
      onChunk?.(written, bytes.byteLength, tmp);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    closed = true;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (!closed) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  } finally {
    inFlight.delete(tmp);
  }
  // Persist the rename itself (best effort: not every platform can fsync a directory).
  try {
    const dfd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* ignore */
  }
}

/**
 * `mkdir -p` that fails instead of spinning: Node 20's `mkdirSync(dir, { recursive: true })` loops forever when
 * mkdir says ENOENT for a path whose parent exists (e.g. under /proc). This creates one level at a time from the
 * nearest existing ancestor, so any error is thrown as it is.
 */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  let d = path.resolve(dir);
  while (!fs.existsSync(d)) {
    missing.push(d);
    const parent = path.dirname(d);
    if (parent === d) break;
    d = parent;
  }
  for (const m of missing.reverse()) {
    try {
      fs.mkdirSync(m);
    } catch (e) {
      // another process may have made it meanwhile
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir} is not a folder`);
}
