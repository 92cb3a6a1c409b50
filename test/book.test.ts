// The static HTML book (scripts/book.ts) built from the hand-made notebooks of test/fixtures/book/, then opened in
// headless Chromium: plotly draws every figure, MathJax typesets the math, nothing reaches the console, and with
// scripts blocked every figure's static image is what shows. Chromium is Debian's `chromium` (.ci/run installs it);
// where it is missing those tests are skipped, as the nbconvert tests are without Jupyter.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBook, readmeTable } from "../scripts/book.js";
import { findChromium, loadPage, visibleImages } from "../scripts/book_chromium.js";
import { renderMarkdown } from "../scripts/book_markdown.js";
import { ROOT } from "./helpers.js";

const FIXTURES = path.join(ROOT, "test/fixtures/book");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vlab-book-"));
const out = path.join(tmp, "book");
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const chromium = findChromium();
if (!chromium) console.warn("book.test: no chromium (apt-get install chromium); the browser tests are skipped");

const read = (name: string): string => fs.readFileSync(path.join(out, name), "utf8");
const count = (text: string, re: RegExp): number => (text.match(re) ?? []).length;

/** The number of plotly figures a fixture notebook holds (what its page must draw). */
function figuresIn(name: string): number {
  const nb = JSON.parse(fs.readFileSync(path.join(FIXTURES, "executed", `${name}.ipynb`), "utf8")) as {
    cells: Array<{ outputs?: Array<{ data?: Record<string, unknown> }> }>;
  };
  return nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.data?.["application/vnd.plotly.v1+json"]).length;
}

beforeAll(() => {
  const pages = buildBook({ from: path.join(FIXTURES, "executed"), out });
  expect(pages.map((p) => path.basename(p))).toEqual(["index.html", "alpha.html", "beta.html"]);
});

describe("npm run book (scripts/book.ts)", () => {
  it("writes a table of contents with each notebook's title, budget, wall time and claims", () => {
    const index = read("index.html");
    expect(index).toContain('<a href="alpha.html">Alpha · a fixture notebook</a>');
    expect(index).toContain('<a href="beta.html">Beta · figures only</a>');
    expect(index).toMatch(/<td>quick<\/td><td[^>]*>12 s<\/td><td[^>]*><span class="holds-some">1\/2<\/span>/);
    expect(index).toMatch(/<td>full<\/td><td[^>]*>7 min 12 s<\/td><td[^>]*><span class="holds-all">1\/1<\/span>/);
  });

  it("renders markdown, leaves the math to MathJax and escapes everything that is not an output's HTML", () => {
    const page = read("alpha.html");
    expect(page).toContain('<h1 id="alpha-a-fixture-notebook">Alpha · a fixture notebook</h1>');
    expect(page).toContain("$B$");
    expect(page).toContain("$$\\mathcal{L} = \\tfrac12\\Big(\\mathrm{CE}(f_i^\\top g_j)");
    expect(page).toContain("<li>a <strong>bold</strong> item with <code>code &lt;b&gt;</code>;</li>");
    expect(page).toContain('<a href="https://example.org/a?b=1&amp;c=2">link</a>');
    expect(page).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; and snake_case_name stays.");
    expect(page).not.toContain("<script>alert");
    expect(page).toContain('<th style="text-align:center">trained</th>');
    expect(page).toContain('<td style="text-align:right"><code>a|b</code></td>');
    // Code, streams and errors are text; ANSI colours are dropped.
    expect(page).toContain("console.log(&quot;hello &lt;world&gt;&quot;);");
    expect(page).toContain('<pre class="stream stdout">hello &lt;world&gt;\n</pre>');
    expect(page).toContain('<pre class="stream stderr">a warning\n</pre>');
    expect(page).toContain('<pre class="error">RangeError: out of &lt;range&gt;\n    at cell 8:1</pre>');
    expect(page).not.toContain("\u001b");
    // Rich outputs: an output's HTML as it is (preferred over its Markdown), images, Markdown-only outputs rendered.
    expect(page).toContain('<div class="html-output"><table class="vlab-table">');
    expect(page).toContain('<img src="data:image/png;base64,iVBORw0KGgo');
    expect(page).toContain("<strong>held out:</strong> $x^2$ and &lt;i&gt;raw&lt;/i&gt;");
    // A figure: plotly's JSON in a data block, its SVG as the fallback, not the output's own HTML and script.
    expect(page).toContain('<script type="application/json" id="fig-3-0-json">');
    expect(page).toContain('<div class="fallback"><img src="data:image/svg+xml;base64,');
    expect(page).not.toContain("vlab-plot");
  });

  it("ships plotly and MathJax once, in assets/, and every page's links resolve", () => {
    const assets = fs.readdirSync(path.join(out, "assets"));
    expect(assets.sort()).toEqual(["book.css", "book.js", "mathjax", "plotly.min.js"]);
    expect(fs.existsSync(path.join(out, "assets/mathjax/tex-svg-full.js"))).toBe(true);
    for (const name of ["index.html", "alpha.html", "beta.html"]) {
      const page = read(name);
      expect(count(page, /plotly\.min\.js/g), name).toBe(name === "index.html" ? 0 : 1);
      expect(page, name).not.toContain("Plotly, Inc.");
      expect(Buffer.byteLength(page), name).toBeLessThan(100_000);
      for (const m of page.matchAll(/\s(?:src|href)="([^"#:]+)"/g)) {
        expect(fs.existsSync(path.join(out, m[1] ?? "")), `${name} links ${m[1]}`).toBe(true);
      }
    }
  });

  it("rebuilds in place: pages of notebooks no longer there are removed", () => {
    fs.writeFileSync(path.join(out, "gone.html"), "<p>an old page</p>");
    buildBook({ from: path.join(FIXTURES, "executed"), out });
    expect(fs.readdirSync(out).sort()).toEqual(["alpha.html", "assets", "beta.html", "index.html"]);
  });

  it("prints the README's table of executed notebooks with their wall times", () => {
    const cwd = process.cwd();
    process.chdir(ROOT);
    try {
      const table = readmeTable(path.join(FIXTURES, "executed")).split("\n");
      expect(table[0]).toBe("| executed notebook | budget | wall time | claims hold |");
      expect(table[2]).toBe(
        "| [Alpha · a fixture notebook](test/fixtures/book/executed/alpha.ipynb) | quick | 12 s | 1/2 |",
      );
      expect(table[3]).toBe(
        "| [Beta · figures only](test/fixtures/book/executed/beta.ipynb) | full | 7 min 12 s | 1/1 |",
      );
    } finally {
      process.chdir(cwd);
    }
  });
});

describe("the book's markdown renderer", () => {
  it("keeps math intact where Markdown would read emphasis", () => {
    expect(renderMarkdown("a $x_i * y_j$ and $$a_1 * b_2$$ b")).toBe("<p>a $x_i * y_j$ and $$a_1 * b_2$$ b</p>");
    expect(renderMarkdown("costs $5 and $10")).toBe("<p>costs $5 and $10</p>");
  });

  it("nests lists, keeps fenced code verbatim and ends paragraphs at a list", () => {
    const html = renderMarkdown("intro\n- one\n  - inner *a*\n- two\n\n```ts\nconst a = x < 1 && **b**;\n```");
    expect(html).toBe(
      "<p>intro</p>\n<ul>\n<li>one\n<ul>\n<li>inner <em>a</em></li>\n</ul></li>\n<li>two</li>\n</ul>\n" +
        '<pre><code class="language-ts">const a = x &lt; 1 &amp;&amp; **b**;</code></pre>',
    );
  });

  it("refuses script URLs in links", () => {
    expect(renderMarkdown("[x](javascript:alert(1))")).toBe('<p><a href="#">x</a>)</p>');
  });
});

describe("visibleImages (what a page shows without scripts)", () => {
  it("counts decodable images and inline SVG, not hidden ones, broken data or markup inside scripts", () => {
    const png = fs.readFileSync(path.join(FIXTURES, "executed/alpha.ipynb"), "utf8").match(/iVBORw0KGgo[^"]+/)?.[0];
    expect(visibleImages(`<p><img src="data:image/png;base64,${png}"><svg width="2"></svg></p>`)).toHaveLength(2);
    expect(
      visibleImages(`<div style="display: none"><div><img src="data:image/png;base64,${png}"></div></div>`),
    ).toEqual([]);
    expect(visibleImages('<img src="data:image/png;base64,AAAA">')).toEqual([]);
    expect(visibleImages('<script>var s = "<svg>";</script>')).toEqual([]);
  });
});

describe.skipIf(!chromium)("the book in headless Chromium", () => {
  const opts = { timeout: 180_000 };
  it("reports what a page logs to the console (so a silent console means something)", opts, () => {
    const file = path.join(tmp, "noisy.html");
    fs.writeFileSync(file, "<p>x</p><script>console.error('noisy page'); missingFunction();</script>");
    const page = loadPage(chromium!, file, { budgetMs: 1000 });
    expect(page.console.join("\n")).toContain("noisy page");
    expect(page.console.join("\n")).toContain("missingFunction is not defined");
  });
  it.each(["index", "alpha", "beta"])(
    "%s.html: figures drawn by plotly, math typeset, a silent console",
    opts,
    (name) => {
      const page = loadPage(chromium!, path.join(out, `${name}.html`));
      expect(page.console, page.console.join("\n")).toEqual([]);
      const figures = name === "index" ? 0 : figuresIn(name);
      expect(count(page.dom, /data-rendered="plotly"/g), "figures drawn by plotly").toBe(figures);
      expect(count(page.dom, /<svg class="main-svg"/g)).toBeGreaterThanOrEqual(figures);
      if (name === "alpha") {
        expect(count(page.dom, /<mjx-container class="MathJax" jax="SVG"/g), "typeset formulas").toBe(5);
        expect(page.dom).not.toMatch(/<g[^>]*data-mml-node="merror"/);
        expect(page.dom).not.toContain("$B$");
      }
    },
  );

  it.each(["alpha", "beta"])("%s.html with scripts blocked: every figure's static image shows", opts, (name) => {
    const page = loadPage(chromium!, path.join(out, `${name}.html`), { scripts: false });
    expect(page.dom).not.toContain('data-rendered="plotly"');
    expect(page.dom).not.toContain("<mjx-container");
    const figures = page.dom.split('<div class="figure plotly-figure"').slice(1);
    expect(figures.length).toBe(figuresIn(name));
    for (const fig of figures) expect(visibleImages(fig.split("</script>")[0] ?? "").length).toBe(1);
  });
});
