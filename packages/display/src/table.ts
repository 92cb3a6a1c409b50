/**
 * Tables that display as HTML in a notebook, markdown where markdown is preferred, and aligned text in a terminal.
 *
 *   table([{ model: "clip", acc: 0.8123 }, { model: "blip2", acc: 0.85 }], { caption: "zero-shot" })
 */
import { inspect } from "node:util";
import { escapeHtml, formatNumber, JUPYTER_DISPLAY, type MimeBundle } from "@vlab/core";

export type CellFormatter = (value: unknown, column: string) => string;
export type Align = "left" | "right" | "center";

export interface TableOptions {
  /** Column order and names. For object rows, the default is every key in order of first appearance. */
  columns?: string[];
  caption?: string;
  /** One formatter for every cell, or one per column name; return the cell's text. */
  format?: CellFormatter | Record<string, (value: unknown) => string>;
  /** Significant digits for numbers (default 4). */
  digits?: number;
  /** Alignment per column name. Default: numeric columns right, boolean columns centred, the rest left. */
  align?: Record<string, Align>;
  /**
   * Per column name, the cell as HTML for the HTML view (trusted: not escaped), e.g. a bold id above a statement.
   * `row` is the row's index. The text and markdown views still show the cell's text.
   */
  html?: Record<string, (value: unknown, row: number) => string>;
}

type Kind = "number" | "bool" | "other";

function kindOf(v: unknown): Kind {
  if (typeof v === "number" || typeof v === "bigint") return "number";
  if (typeof v === "boolean") return "bool";
  return "other";
}

/** A column as the renderers see it: its name, alignment and the width of its widest text. */
interface Column {
  name: string;
  index: number;
  align: Align;
  width: number;
}

/** One cell: its column, its value and its text. */
interface Cell {
  column: Column;
  value: unknown;
  text: string;
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
      for (const r of objs)
        for (const k of Object.keys(r))
          if (!seen.has(k)) {
            seen.add(k);
            keys.push(k);
          }
      this.columns = opts.columns ?? keys;
      this.rows = objs.map((r) => this.columns.map((c) => r[c]));
    }
  }

  /** Text of one cell of column number `col` (booleans become ✓ / ✗). */
  cellText(value: unknown, col: number): string {
    const column = this.columns[col];
    if (column === undefined)
      throw new RangeError(`Table.cellText(): no column ${col} (${this.columns.length} columns)`);
    return this.textOf(value, column);
  }

  private textOf(value: unknown, column: string): string {
    const f = this.opts.format;
    if (typeof f === "function") return f(value, column);
    const byColumn = f?.[column];
    if (typeof byColumn === "function") return byColumn(value);
    if (value === null || value === undefined) return "";
    if (typeof value === "number") return formatNumber(value, this.opts.digits ?? 4);
    if (typeof value === "boolean") return value ? "✓" : "✗";
    if (typeof value === "string") return value;
    if (typeof value === "bigint") return value.toString();
    return inspect(value, { depth: 2, breakLength: Infinity, colors: false });
  }

  /** The `align` option, else numeric columns right and boolean ones centred. */
  private align(col: number, name: string): Align {
    const own = this.opts.align?.[name];
    if (own) return own;
    const kinds = new Set(this.rows.filter((r) => r[col] != null).map((r) => kindOf(r[col])));
    if (kinds.size === 1 && kinds.has("number")) return "right";
    if (kinds.size === 1 && kinds.has("bool")) return "center";
    return "left";
  }

  /** The columns and the rows of cells; `clean` maps each text (e.g. line breaks away) before widths are measured. */
  private layout(clean: (s: string) => string = (s) => s): { columns: Column[]; cells: Cell[][] } {
    const columns = this.columns.map((name, index) => ({ name, index, align: this.align(index, name), width: 0 }));
    const cells = this.rows.map((r) =>
      columns.map((column) => ({
        column,
        value: r[column.index],
        text: clean(this.textOf(r[column.index], column.name)),
      })),
    );
    for (const column of columns) column.width = column.name.length;
    for (const row of cells) for (const c of row) c.column.width = Math.max(c.column.width, c.text.length);
    return { columns, cells };
  }

  toHtml(): string {
    const { columns, cells } = this.layout();
    const th = columns.map((c) => `<th style="text-align:${c.align}">${escapeHtml(c.name)}</th>`).join("");
    const body = cells
      .map((row, ri) => {
        const tds = row.map(({ column, value, text }) => {
          const color = typeof value === "boolean" ? `;color:${value ? "#1a7f37" : "#cf222e"}` : "";
          const html = this.opts.html?.[column.name];
          const content = html ? html(value, ri) : escapeHtml(text);
          return `<td style="text-align:${column.align}${color}">${content}</td>`;
        });
        return `<tr>${tds.join("")}</tr>`;
      })
      .join("");
    const cap = this.caption !== undefined ? `<caption>${escapeHtml(this.caption)}</caption>` : "";
    return `<table class="vlab-table">${cap}<thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
  }

  toMarkdown(): string {
    const esc = escapeMarkdownCell;
    const { columns, cells } = this.layout();
    const head = `| ${columns.map((c) => esc(c.name)).join(" | ")} |`;
    const rules = { left: " --- ", right: " ---: ", center: " :---: " };
    const rule = `|${columns.map((c) => rules[c.align]).join("|")}|`;
    const body = cells.map((row) => `| ${row.map((c) => esc(c.text)).join(" | ")} |`);
    const cap = this.caption !== undefined ? `**${esc(this.caption)}**\n\n` : "";
    return cap + [head, rule, ...body].join("\n");
  }

  toText(): string {
    const { columns, cells } = this.layout((s) => s.replace(/\r?\n/g, " "));
    const fit = (s: string, { align, width }: Column) => {
      if (align === "right") return s.padStart(width);
      if (align === "center") return s.padStart(Math.floor((width + s.length) / 2)).padEnd(width);
      return s.padEnd(width);
    };
    const line = (texts: string[]) => texts.join("  ").trimEnd();
    const out = [
      line(columns.map((c) => fit(c.name, c))),
      columns.map((c) => "-".repeat(c.width)).join("  "),
      ...cells.map((row) => line(row.map((c) => fit(c.text, c.column)))),
    ];
    return (this.caption !== undefined ? `${this.caption}\n` : "") + out.join("\n");
  }

  toString(): string {
    return this.toText();
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return { "text/html": this.toHtml(), "text/markdown": this.toMarkdown(), "text/plain": this.toText() };
  }
}

/** Text made safe for one markdown table cell: backslashes and pipes escaped, line breaks as `<br>`. */
export function escapeMarkdownCell(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, "<br>");
}

/**
 * A displayable table from object rows (`[{ a: 1, b: true }]`) or array rows with `columns`.
 * Numbers get 4 significant digits; booleans show as ✓ / ✗; HTML is escaped.
 */
export function table(rows: Record<string, unknown>[] | unknown[][], opts: TableOptions = {}): Table {
  return new Table(rows, opts);
}
