/**
 * Tables that display as HTML in a notebook, markdown where markdown is preferred, and aligned text in a terminal.
 *
 *   table([{ model: "clip", acc: 0.8123 }, { model: "blip2", acc: 0.85 }], { caption: "zero-shot" })
 */
import { inspect } from "node:util";
import { escapeHtml, formatNumber, JUPYTER_DISPLAY, type MimeBundle } from "@vlab/core";

export type CellFormatter = (value: unknown, column: string) => string;

export interface TableOptions {
  /** Column order and names. For object rows, the default is every key in order of first appearance. */
  columns?: string[];
  caption?: string;
  /** One formatter for every cell, or one per column name; return the cell's text. */
  format?: CellFormatter | Record<string, (value: unknown) => string>;
  /** Significant digits for numbers (default 4). */
  digits?: number;
}

type Kind = "number" | "bool" | "other";

function kindOf(v: unknown): Kind {
  if (typeof v === "number" || typeof v === "bigint") return "number";
  if (typeof v === "boolean") return "bool";
  return "other";
}

export class Table {
  readonly columns: string[];
  /** The cell values, one array per row, in column order. */
  readonly rows: unknown[][];
  readonly caption?: string;
  private readonly opts: TableOptions;

  constructor(rows: Record<string, unknown>[] | unknown[][], opts: TableOptions = {}) {
    if (!Array.isArray(rows)) throw new TypeError("table(): rows must be an array of objects or of arrays");
    this.opts = opts;
    this.caption = opts.caption;
    const list: unknown[] = rows;
    const arrays = list.length > 0 && list.every((r) => Array.isArray(r));
    if (arrays) {
      const width = Math.max(...(rows as unknown[][]).map((r) => r.length));
      this.columns = opts.columns ?? Array.from({ length: width }, (_, i) => String(i));
      this.rows = (rows as unknown[][]).map((r) => this.columns.map((_, i) => r[i]));
    } else {
      if (list.some((r) => typeof r !== "object" || r === null || Array.isArray(r)))
        throw new TypeError("table(): rows must be all objects or all arrays");
      const objs = rows as Record<string, unknown>[];
      const keys: string[] = [];
      const seen = new Set<string>();
      for (const r of objs) for (const k of Object.keys(r)) if (!seen.has(k)) (seen.add(k), keys.push(k));
      this.columns = opts.columns ?? keys;
      this.rows = objs.map((r) => this.columns.map((c) => r[c]));
    }
  }

  /** Text of one cell (booleans become ✓ / ✗). */
  cellText(value: unknown, col: number): string {
    const column = this.columns[col]!;
    const f = this.opts.format;
    if (typeof f === "function") return f(value, column);
    if (f && typeof f[column] === "function") return f[column]!(value);
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return formatNumber(value, this.opts.digits ?? 4);
    if (typeof value === "boolean") return value ? "✓" : "✗";
    if (typeof value === "string") return value;
    if (typeof value === "bigint") return value.toString();
    return inspect(value, { depth: 2, breakLength: Infinity, colors: false });
  }

  /** Numeric columns align right. */
  private align(col: number): "left" | "right" | "center" {
    const kinds = new Set(this.rows.map((r) => kindOf(r[col])).filter((_, i) => this.rows[i]![col] != null));
    if (kinds.size === 1 && kinds.has("number")) return "right";
    if (kinds.size === 1 && kinds.has("bool")) return "center";
    return "left";
  }

  private cells(): string[][] {
    return this.rows.map((r) => r.map((v, c) => this.cellText(v, c)));
  }

  toHtml(): string {
    const cells = this.cells();
    const aligns = this.columns.map((_, c) => this.align(c));
    const th = this.columns.map((c, i) => `<th style="text-align:${aligns[i]}">${escapeHtml(c)}</th>`).join("");
    const body = cells
      .map((r, ri) => {
        const tds = r
          .map((text, c) => {
            const v = this.rows[ri]![c];
            const color = typeof v === "boolean" ? `;color:${v ? "#1a7f37" : "#cf222e"}` : "";
            return `<td style="text-align:${aligns[c]}${color}">${escapeHtml(text)}</td>`;
          })
          .join("");
        return `<tr>${tds}</tr>`;
      })
      .join("");
    const cap = this.caption !== undefined ? `<caption>${escapeHtml(this.caption)}</caption>` : "";
    return `<table class="vlab-table">${cap}<thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
  }

  toMarkdown(): string {
    const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
    const aligns = this.columns.map((_, c) => this.align(c));
    const head = `| ${this.columns.map(esc).join(" | ")} |`;
    const rule = `|${aligns.map((a) => (a === "right" ? " ---: " : a === "center" ? " :---: " : " --- ")).join("|")}|`;
    const body = this.cells().map((r) => `| ${r.map(esc).join(" | ")} |`);
    const cap = this.caption !== undefined ? `**${esc(this.caption)}**\n\n` : "";
    return cap + [head, rule, ...body].join("\n");
  }

  toText(): string {
    const cells = this.cells().map((r) => r.map((s) => s.replace(/\r?\n/g, " ")));
    const aligns = this.columns.map((_, c) => this.align(c));
    const widths = this.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
    const fit = (s: string, i: number) => {
      const w = widths[i]!;
      if (aligns[i] === "right") return s.padStart(w);
      if (aligns[i] === "center") return s.padStart(Math.floor((w + s.length) / 2)).padEnd(w);
      return s.padEnd(w);
    };
    const line = (r: string[]) => r.map(fit).join("  ").trimEnd();
    const out = [line(this.columns), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)];
    return (this.caption !== undefined ? `${this.caption}\n` : "") + out.join("\n");
  }

  toString(): string {
    return this.toText();
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return { "text/html": this.toHtml(), "text/markdown": this.toMarkdown(), "text/plain": this.toText() };
  }
}

/**
 * A displayable table from object rows (`[{ a: 1, b: true }]`) or array rows with `columns`.
 * Numbers get 4 significant digits; booleans show as ✓ / ✗; HTML is escaped.
 */
export function table(rows: Record<string, unknown>[] | unknown[][], opts: TableOptions = {}): Table {
  return new Table(rows, opts);
}
