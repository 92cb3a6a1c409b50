/**
 * Headless Chromium as the book's tests use it (Debian's `chromium`; `$VLAB_CHROMIUM` names another binary): load a
 * local HTML page, let its scripts run (MathJax, plotly) for a bounded virtual time, and return the DOM it ends with
 * and the console messages it logged. `scripts: false` loads a copy of the page whose Content-Security-Policy blocks
 * every script (`--blink-settings=scriptEnabled=false` also stops `--dump-dom` itself, which then prints nothing), so
 * the DOM is what a reader without JavaScript sees: GitHub's and nbviewer's view of an output's HTML.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

/** The Chromium binary, or undefined where none runs. */
export function findChromium(): string | undefined {
  const candidates = [process.env.VLAB_CHROMIUM, "chromium", "chromium-browser", "google-chrome"];
  for (const bin of candidates) {
    if (!bin) continue;
    const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 30_000 });
    if (r.status === 0 && /chrom/i.test(r.stdout)) return bin;
  }
  return undefined;
}

export interface LoadedPage {
  /** The serialised DOM after load (and after the scripts' virtual time). */
  dom: string;
  /** Every console message and uncaught error the page logged, as Chromium prints them ("text", source: url (line)). */
  console: string[];
  /** Chromium's stderr, for failure messages. */
  stderr: string;
}

const NO_SCRIPTS = `<meta http-equiv="Content-Security-Policy" content="script-src 'none'">`;

export interface LoadOptions {
  /** Run the page's scripts (default true). */
  scripts?: boolean;
  /** Virtual milliseconds the page may run before the DOM is taken (default 8000). */
  budgetMs?: number;
  /** Wall-clock limit of the Chromium process (default 90 s). */
  timeoutMs?: number;
}

/** Loads one HTML file in headless Chromium; throws when Chromium fails or prints no DOM. */
export function loadPage(chromium: string, file: string, opts: LoadOptions = {}): LoadedPage {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-chromium-"));
  try {
    let target = path.resolve(file);
    if (opts.scripts === false) {
      const html = fs.readFileSync(target, "utf8");
      const head = /<head[^>]*>/i.exec(html);
      const blocked = head
        ? html.slice(0, head.index + head[0].length) + NO_SCRIPTS + html.slice(head.index + head[0].length)
        : NO_SCRIPTS + html;
      // Next to the original, so its relative links still resolve.
      target = path.join(path.dirname(target), `.noscript-${path.basename(work)}-${path.basename(target)}`);
      fs.writeFileSync(target, blocked);
    }
    try {
      const r = spawnSync(
        chromium,
        [
          "--headless=new",
          "--no-sandbox",
          "--disable-gpu",
          "--no-first-run",
          "--disable-extensions",
          `--user-data-dir=${path.join(work, "profile")}`,
          "--enable-logging=stderr",
          "--v=0",
          `--virtual-time-budget=${opts.budgetMs ?? 8000}`,
          "--window-size=1280,1024",
          "--dump-dom",
          pathToFileURL(target).href,
        ],
        { encoding: "utf8", timeout: opts.timeoutMs ?? 90_000, maxBuffer: 256 * 1024 * 1024 },
      );
      const stderr = r.stderr ?? "";
      if (r.error) throw new Error(`chromium on ${file}: ${r.error.message}`);
      if (!r.stdout)
        throw new Error(`chromium printed no DOM for ${file} (status ${r.status}):\n${stderr.slice(-2000)}`);
      const consoleLines = stderr.split("\n").filter((l) => /:CONSOLE[:(]/.test(l));
      return { dom: r.stdout, console: consoleLines, stderr };
    } finally {
      if (target !== path.resolve(file)) fs.rmSync(target, { force: true });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** A data: URI image decodes to a PNG, JPEG, GIF or an SVG document. */
export function isImageDataUri(uri: string): boolean {
  const m = /^data:image\/(png|jpeg|gif|svg\+xml)(;base64)?,(.*)$/s.exec(uri);
  if (!m) return false;
  const bytes = m[2] ? Buffer.from(m[3] ?? "", "base64") : Buffer.from(decodeURIComponent(m[3] ?? ""), "utf8");
  if (bytes.length < 8) return false;
  if (m[1] === "png") return bytes.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
  if (m[1] === "jpeg") return bytes[0] === 0xff && bytes[1] === 0xd8;
  if (m[1] === "gif") return bytes.subarray(0, 4).toString("latin1") === "GIF8";
  return /<svg[\s>]/.test(bytes.toString("utf8")) && /<\/svg>\s*$/.test(bytes.toString("utf8"));
}

/**
 * The images an HTML fragment shows without scripts: <img> with a decodable data: URI or a local file, and inline
 * <svg> elements, not inside an element styled display:none or visibility:hidden within the fragment.
 */
export function visibleImages(html: string): string[] {
  // Script and style text is not markup (an inlined plotly.js holds "<svg" in its strings).
  const fragment = html.replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, "");
  const hidden = /style="[^"]*(display:\s*none|visibility:\s*hidden)/i;
  const found: string[] = [];
  const tag = /<(img|svg)\b[^>]*>/gi;
  for (let m = tag.exec(fragment); m; m = tag.exec(fragment)) {
    const before = fragment.slice(0, m.index);
    // An unclosed ancestor that hides: the last opening tag with a hiding style before this one, still open.
    const opener = [...before.matchAll(/<(div|span|figure|p)\b[^>]*>/gi)].filter((o) => hidden.test(o[0]));
    const open = opener.some((o) => {
      const name = o[1] ?? "div";
      const after = before.slice((o.index ?? 0) + o[0].length);
      const opens = (after.match(new RegExp(`<${name}\\b`, "gi")) ?? []).length;
      const closes = (after.match(new RegExp(`</${name}>`, "gi")) ?? []).length;
      return closes <= opens;
    });
    if (open || hidden.test(m[0])) continue;
    if ((m[1] ?? "").toLowerCase() === "svg") {
      found.push("svg");
      continue;
    }
    const src = /\ssrc="([^"]*)"/i.exec(m[0])?.[1] ?? "";
    if (src.startsWith("data:") ? isImageDataUri(src.replace(/&amp;/g, "&")) : src !== "") found.push(src.slice(0, 40));
  }
  return found;
}
