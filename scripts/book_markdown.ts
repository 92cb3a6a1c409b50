/**
 * A small Markdown renderer for the book's notebook pages (scripts/book.ts): the CommonMark subset the notebooks
 * write — ATX headings, paragraphs, emphasis, inline code, links and images, fenced code, block quotes, ordered and
 * bulleted lists (nested by indentation), GFM tables and horizontal rules. Everything is escaped: raw HTML in a
 * Markdown cell shows as text. Math (`$…$`, `$$…$$`, `\(…\)`, `\[…\]`) is kept verbatim, HTML-escaped, for MathJax
 * to typeset in the browser; Markdown inside it (underscores, asterisks) is left alone.
 */

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** A link or image target that cannot run script: http(s), mailto, relative paths, fragments; anything else → "#". */
export function safeUrl(url: string): string {
  const u = url.trim();
  if (/^(https?:|mailto:)/i.test(u) || !/^[a-z][a-z0-9+.-]*:/i.test(u)) return u;
  if (/^data:image\/(png|jpeg|gif|webp);/i.test(u)) return u;
  return "#";
}

// Inline spans kept out of the Markdown pass (code, math) become \u0000<index>\u0000 until the end.
// eslint-disable-next-line no-control-regex
const HOLE = /\u0000(\d+)\u0000/g;

const MATH = /\$\$[\s\S]+?\$\$|\\\[[\s\S]+?\\\]|\\\([\s\S]+?\\\)|\$(?=\S)(?:\\\$|[^$\n])+?(?<=[^\s\\])\$(?!\d)/g;

/** Renders inline Markdown (one paragraph, heading or cell of a table) to HTML. */
export function renderInline(text: string): string {
  const held: string[] = [];
  const hold = (html: string): string => `\u0000${held.push(html) - 1}\u0000`;
  let s = text.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_m, _ticks: string, code: string) => {
    const inner = code.replace(/\n/g, " ");
    const trimmed = /^ .* $/.test(inner) ? inner.slice(1, -1) : inner;
    return hold(`<code>${escapeHtml(trimmed)}</code>`);
  });
  s = s.replace(MATH, (m) => hold(escapeHtml(m)));
  s = s.replace(/\\([\\`*_{}[\]()#+\-.!|~<>])/g, (_m, c: string) => hold(escapeHtml(c)));
  s = escapeHtml(s);
  s = s.replace(/!\[([^\]]*)\]\(([^)\s]+)(?:\s+&quot;([^&]*)&quot;)?\)/g, (_m, alt: string, src: string) =>
    hold(`<img src="${escapeHtml(safeUrl(unescapeHtml(src)))}" alt="${alt}">`),
  );
  s = s.replace(
    /\[([^\]]+)\]\(([^)\s]+)\)/g,
    (_m, label: string, href: string) => `<a href="${escapeHtml(safeUrl(unescapeHtml(href)))}">${label}</a>`,
  );
  s = s.replace(/&lt;(https?:\/\/[^\s&]+)&gt;/g, (_m, url: string) => `<a href="${url}">${url}</a>`);
  s = s.replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, (m, mark: string, body: string, at: number, all: string) =>
    mark === "__" && isWordChar(all[at - 1]) ? m : `<strong>${body}</strong>`,
  );
  s = s.replace(/(\*|_)(?=[^\s*_])([\s\S]*?[^\s\\])\1/g, (m, mark: string, body: string, at: number, all: string) =>
    mark === "_" && (isWordChar(all[at - 1]) || isWordChar(all[at + m.length])) ? m : `<em>${body}</em>`,
  );
  s = s.replace(/ {2,}\n/g, "<br>\n");
  // Held spans may hold other held spans (a link's label with code): restore until none is left.
  for (let depth = 0; depth < 8 && s.includes("\u0000"); depth++) s = s.replace(HOLE, (_m, i) => held[Number(i)] ?? "");
  return s;
}

const isWordChar = (c: string | undefined): boolean => c !== undefined && /[\p{L}\p{N}]/u.test(c);

function unescapeHtml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) =>
    e === "amp" ? "&" : e === "lt" ? "<" : e === "gt" ? ">" : e === "quot" ? '"' : "'",
  );
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])( +|$)/;
const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

function splitRow(line: string): string[] {
  const row = line
    .trim()
    .replace(/^\|/, "")
    .replace(/(?<!\\)\|$/, "");
  const cells: string[] = [];
  let cell = "";
  let code = false;
  for (let i = 0; i < row.length; i++) {
    const c = row[i];
    if (c === "`") code = !code;
    if (c === "\\" && row[i + 1] === "|") {
      cell += "|";
      i++;
    } else if (c === "|" && !code) {
      cells.push(cell.trim());
      cell = "";
    } else cell += c;
  }
  cells.push(cell.trim());
  return cells;
}

function renderTable(lines: string[]): string {
  const head = splitRow(lines[0] ?? "");
  const aligns = splitRow(lines[1] ?? "").map((a) =>
    a.startsWith(":") && a.endsWith(":") ? "center" : a.endsWith(":") ? "right" : a.startsWith(":") ? "left" : "",
  );
  const cell = (tag: string, text: string, i: number): string => {
    const align = aligns[i] ? ` style="text-align:${aligns[i]}"` : "";
    return `<${tag}${align}>${renderInline(text)}</${tag}>`;
  };
  const body = lines.slice(2).map(
    (l) =>
      `<tr>${splitRow(l)
        .map((c, i) => cell("td", c, i))
        .join("")}</tr>`,
  );
  return (
    `<table>\n<thead><tr>${head.map((c, i) => cell("th", c, i)).join("")}</tr></thead>\n` +
    `<tbody>\n${body.join("\n")}\n</tbody>\n</table>`
  );
}

/** Does this line start a block other than a paragraph (so it ends a paragraph before it)? */
function startsBlock(line: string, next: string | undefined): boolean {
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    /^ {0,3}>/.test(line) ||
    /^ {0,3}([-*+]|1[.)]) +\S/.test(line) ||
    (line.includes("|") && next !== undefined && TABLE_SEP.test(next) && next.includes("-"))
  );
}

function renderList(lines: string[], start: number): { html: string; end: number } {
  const first = ITEM.exec(lines[start] ?? "");
  const indent = first?.[1]?.length ?? 0;
  const ordered = /\d/.test(first?.[2] ?? "");
  const items: string[][] = [];
  let i = start;
  let loose = false;
  let blank = false;
  while (i < lines.length) {
    const line = lines[i] ?? "";
    const m = ITEM.exec(line);
    if (m && (m[1]?.length ?? 0) === indent && /\d/.test(m[2] ?? "") === ordered) {
      if (blank && items.length > 0) loose = true;
      const width = (m[1]?.length ?? 0) + (m[2]?.length ?? 0) + Math.max(1, m[3]?.length ?? 1);
      items.push([line.slice(Math.min(width, line.length))]);
      blank = false;
    } else if (line.trim() === "") {
      blank = true;
      items[items.length - 1]?.push("");
    } else if (/^\s/.test(line) && line.search(/\S/) > indent) {
      items[items.length - 1]?.push(line.replace(new RegExp(`^ {0,${indent + 4}}`), ""));
      blank = false;
    } else if (!blank && !startsBlock(line, lines[i + 1]) && !m) {
      items[items.length - 1]?.push(line);
    } else break;
    i++;
  }
  while (i > start && (lines[i - 1] ?? "").trim() === "") i--;
  const rendered = items.map((item) => {
    while (item.length > 0 && (item[item.length - 1] ?? "").trim() === "") item.pop();
    const html = renderBlocks(item);
    const tight = !loose ? html.replace(/^<p>([\s\S]*?)<\/p>/, "$1") : html;
    return `<li>${tight}</li>`;
  });
  const startNum = ordered ? parseInt(first?.[2] ?? "1", 10) : 1;
  const tag = ordered ? "ol" : "ul";
  const attr = ordered && startNum !== 1 ? ` start="${startNum}"` : "";
  return { html: `<${tag}${attr}>\n${rendered.join("\n")}\n</${tag}>`, end: i };
}

function renderBlocks(lines: string[]): string {
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? "";
    const fence = FENCE.exec(line);
    if (line.trim() === "") {
      i++;
    } else if (fence) {
      const close = new RegExp(`^ {0,3}${fence[1]?.[0] === "`" ? "`" : "~"}{${fence[1]?.length ?? 3},}\\s*$`);
      const body: string[] = [];
      for (i++; i < lines.length && !close.test(lines[i] ?? ""); i++) body.push(lines[i] ?? "");
      i++;
      const lang = fence[2] ? ` class="language-${escapeHtml(fence[2])}"` : "";
      out.push(`<pre><code${lang}>${escapeHtml(body.join("\n"))}</code></pre>`);
    } else if (HEADING.test(line)) {
      const m = HEADING.exec(line);
      const level = m?.[1]?.length ?? 1;
      const text = m?.[2] ?? "";
      out.push(`<h${level} id="${slug(text)}">${renderInline(text)}</h${level}>`);
      i++;
    } else if (RULE.test(line)) {
      out.push("<hr>");
      i++;
    } else if (/^ {0,3}>/.test(line)) {
      const body: string[] = [];
      for (; i < lines.length && (lines[i] ?? "").trim() !== ""; i++)
        body.push((lines[i] ?? "").replace(/^ {0,3}> ?/, ""));
      out.push(`<blockquote>\n${renderBlocks(body)}\n</blockquote>`);
    } else if (ITEM.test(line) && /\S/.test(line.replace(ITEM, ""))) {
      const list = renderList(lines, i);
      out.push(list.html);
      i = list.end;
    } else if (line.includes("|") && TABLE_SEP.test(lines[i + 1] ?? "") && (lines[i + 1] ?? "").includes("-")) {
      const rows: string[] = [];
      for (; i < lines.length && (lines[i] ?? "").includes("|"); i++) rows.push(lines[i] ?? "");
      out.push(renderTable(rows));
    } else {
      const para: string[] = [line];
      for (i++; i < lines.length; i++) {
        const next = lines[i] ?? "";
        if (next.trim() === "" || (startsBlock(next, lines[i + 1]) && !inDisplayMath(para))) break;
        para.push(next);
      }
      out.push(`<p>${renderInline(para.join("\n").trim())}</p>`);
    }
  }
  return out.join("\n");
}

/** Is a `$$` display block still open at the end of these lines (so the next line belongs to it)? */
function inDisplayMath(lines: string[]): boolean {
  return ((lines.join("\n").match(/\$\$/g) ?? []).length & 1) === 1;
}

/** A heading's anchor: lower case, letters and digits joined by hyphens. */
export function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[`*_$\\]/g, "")
      .replace(/[^\p{L}\p{N}]+/gu, "-")
      .replace(/^-+|-+$/g, "") || "section"
  );
}

/** Renders a Markdown document (a notebook's markdown cell) to HTML. */
export function renderMarkdown(source: string): string {
  return renderBlocks(source.replace(/\r\n?/g, "\n").replace(/\t/g, "    ").split("\n"));
}
