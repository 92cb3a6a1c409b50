/** nbformat 4.5 notebooks: reading, outputs from kernel messages, writing. */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import type { Message } from "./wire.js";

export type Output = Record<string, unknown> & { output_type: string };

export interface Cell {
  id?: string;
  cell_type: "code" | "markdown" | "raw";
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
  attachments?: unknown;
}

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

export const KERNELSPEC = { name: "vlab", display_name: "TypeScript (vlab)", language: "typescript" };

export function sourceText(cell: Cell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

export function readNotebook(file: string): Notebook {
  let nb: Notebook;
  try {
    nb = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not a readable notebook (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  if (nb?.nbformat !== 4 || !Array.isArray(nb.cells)) throw new Error(`${file}: not an nbformat 4 notebook`);
  return nb;
}

/** Upgrades to nbformat 4.5: every cell gets an id, code cells get empty outputs. */
export function normalize(nb: Notebook): Notebook {
  nb.nbformat_minor = Math.max(nb.nbformat_minor ?? 0, 5);
  const seen = new Set<string>();
  for (const cell of nb.cells) {
    if (!cell.id || seen.has(cell.id) || !/^[a-zA-Z0-9-_]{1,64}$/.test(cell.id)) cell.id = randomUUID().slice(0, 8);
    seen.add(cell.id);
    cell.metadata ??= {};
    if (cell.cell_type === "code") {
      cell.outputs ??= [];
      cell.execution_count ??= null;
    }
  }
  return nb;
}

/** Splits text into nbformat's list-of-lines form (each line keeps its "\n"). */
export function toLines(text: string): string[] {
  return text.split(/(?<=\n)/).filter((l) => l.length > 0);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A display's mime data in nbformat's form: text as a list of lines, images as they are. */
function mimeData(data: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isRecord(data)) return out;
  for (const [mime, v] of Object.entries(data))
    out[mime] = typeof v === "string" && !mime.startsWith("image/") ? toLines(v) : v;
  return out;
}

/**
 * Collects a cell's outputs from iopub messages the way Jupyter front-ends do: consecutive stream
 * text is merged, `update_display_data` rewrites every output that carries its display id.
 */
export class OutputCollector {
  outputs: Output[] = [];
  private displays = new Map<string, Output[]>();
  private streamText = new Map<Output, string>();

  add(msg: Message) {
    const c = msg.content;
    const displayId = isRecord(c.transient) && typeof c.transient.display_id === "string" ? c.transient.display_id : "";
    switch (msg.header.msg_type) {
      case "stream": {
        const text = typeof c.text === "string" ? c.text : "";
        const last = this.outputs.at(-1);
        const before =
          last && last.output_type === "stream" && last.name === c.name ? this.streamText.get(last) : undefined;
        if (last && before !== undefined) {
          this.streamText.set(last, before + text);
          last.text = toLines(before + text);
        } else {
          const out: Output = { output_type: "stream", name: c.name, text: toLines(text) };
          this.streamText.set(out, text);
          this.outputs.push(out);
        }
        break;
      }
      case "display_data": {
        const out: Output = { output_type: "display_data", data: mimeData(c.data), metadata: c.metadata ?? {} };
        this.outputs.push(out);
        if (displayId) this.displays.set(displayId, [...(this.displays.get(displayId) ?? []), out]);
        break;
      }
      case "update_display_data":
        for (const out of this.displays.get(displayId) ?? []) {
          out.data = mimeData(c.data);
          out.metadata = c.metadata ?? {};
        }
        break;
      case "execute_result":
        this.outputs.push({
          output_type: "execute_result",
          execution_count: c.execution_count,
          data: mimeData(c.data),
          metadata: c.metadata ?? {},
        });
        break;
      case "error":
        this.outputs.push({ output_type: "error", ename: c.ename, evalue: c.evalue, traceback: c.traceback ?? [] });
        break;
      case "clear_output":
        this.outputs = [];
        break;
    }
  }
}

/** Writes JSON the way Jupyter does (1-space indent, trailing newline), atomically. */
export function writeNotebook(file: string, nb: Notebook) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(nb, null, 1) + "\n");
  fs.renameSync(tmp, file);
}

/** A copy without outputs or execution counts: what is committed to git. */
export function stripOutputs(nb: Notebook): Notebook {
  const copy: Notebook = JSON.parse(JSON.stringify(nb));
  for (const cell of copy.cells) {
    if (cell.cell_type !== "code") continue;
    cell.outputs = [];
    cell.execution_count = null;
  }
  return copy;
}
