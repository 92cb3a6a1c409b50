/**
 * Atomic file writes: a reader sees either the old file or the complete new one, never a torn write
 * (checkpoints and safetensors files are written this way).
 */
import * as fs from "node:fs";
import * as path from "node:path";

export interface AtomicWriteOptions {
  /** Bytes per write call (default 8 MiB). */
  chunkSize?: number;
  /** Called after each chunk is written to the temporary file (tests use it to simulate a crash). */
  onChunk?: (written: number, total: number, tempPath: string) => void;
}

/**
 * Writes `bytes` to `file` atomically: into a temporary file in the same directory, fsync'd, then
 * renamed over `file` (a rename within one file system is atomic on POSIX). A reader sees either
 * the old file or the complete new one, never a torn write. If the process dies mid-write, a
 * `.<name>.tmp-*` file may remain next to the target; the target itself is untouched.
 */
export function atomicWrite(
  file: string,
  data: Uint8Array | string,
  { chunkSize = 8 << 20, onChunk }: AtomicWriteOptions = {},
): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  const fd = fs.openSync(tmp, "w");
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
