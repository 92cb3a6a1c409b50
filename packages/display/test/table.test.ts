import { describe, expect, it } from "vitest";
import { toMimeBundle } from "../src/display.js";
import { escapeMarkdownCell, table } from "../src/table.js";

describe("table()", () => {
  const rows = [
    { model: "clip", acc: 0.81234, params: 1200000, ok: true },
    { model: "<b>blip2</b>", acc: 0.85, params: 35, ok: false },
  ];

  it("renders html (escaped), markdown and aligned text", () => {
    const b = toMimeBundle(table(rows, { caption: "zero-shot" }));
    expect(Object.keys(b).sort()).toEqual(["text/html", "text/markdown", "text/plain"]);
    const html = b["text/html"] as string;
    expect(html).toContain("<caption>zero-shot</caption>");
    expect(html).toContain("&lt;b&gt;blip2&lt;/b&gt;");
    expect(html).not.toContain("<b>blip2");
    expect(html).toContain(">✓</td>");
    expect(html).toContain(">✗</td>");
    expect(html).toContain('<th style="text-align:right">acc</th>');
    expect(b["text/markdown"]).toBe(
      "**zero-shot**\n\n" +
        "| model | acc | params | ok |\n" +
        "| --- | ---: | ---: | :---: |\n" +
        "| clip | 0.8123 | 1200000 | ✓ |\n" +
        "| <b>blip2</b> | 0.85 | 35 | ✗ |",
    );
    expect(b["text/plain"]).toBe(
      "zero-shot\n" +
        "model            acc   params  ok\n" +
        "------------  ------  -------  --\n" +
        "clip          0.8123  1200000  ✓\n" +
        "<b>blip2</b>    0.85       35  ✗",
    );
  });

  it("takes array rows with columns, formatters, and odd values", () => {
    const t = table(
      [
        [1e-7, null, "a|b"],
        [123456789.5, undefined, { k: 1 }],
      ],
      { columns: ["x", "y", "z"], format: { y: () => "-" } },
    );
    expect(t.columns).toEqual(["x", "y", "z"]);
    const md = t.toMarkdown().split("\n");
    expect(md[2]).toBe("| 1e-7 | - | a\\|b |");
    expect(md[3]).toBe("| 1.235e+8 | - | { k: 1 } |");
    expect(table([[1, 2]]).columns).toEqual(["0", "1"]);
    expect(table([{ a: NaN, b: Infinity }]).toText()).toContain("NaN  inf");
    expect(table([], { columns: ["a"] }).toText()).toBe("a\n-");
    const f = table([{ a: 0.5 }], { format: (v, c) => `${c}=${v}` });
    expect(f.toText()).toContain("a=0.5");
  });

  it("rejects mixed rows", () => {
    expect(() => table([{ a: 1 }, [1]] as unknown as unknown[][])).toThrow(/all objects or all arrays/);
    expect(() => table("x" as unknown as unknown[][])).toThrow(/array/);
  });

  it("takes an alignment per column and trusted HTML for the cells of a column", () => {
    const rows = [
      { claim: "a: first", run: "m = 0.5", holds: true },
      { claim: "b: second\nline", run: "m = 12.25", holds: false },
    ];
    const t = table(rows, {
      align: { run: "right" },
      html: { claim: (v, row) => `<b>${row}</b>${String(v).length}` },
    });
    expect(t.toText().split("\n")).toEqual([
      "claim                 run  holds",
      "--------------  ---------  -----",
      "a: first          m = 0.5    ✓",
      "b: second line  m = 12.25    ✗",
    ]);
    const html = t.toHtml();
    expect(html).toContain('<td style="text-align:left"><b>0</b>8</td>');
    expect(html).toContain('<td style="text-align:left"><b>1</b>14</td>');
    expect(html).toContain('<th style="text-align:right">run</th>');
    expect(t.toMarkdown().split("\n")[1]).toBe("| --- | ---: | :---: |");
    expect(t.toMarkdown()).toContain("| b: second<br>line |");
    expect(() => t.cellText(1, 3)).toThrow(/no column 3/);
  });

  it("escapes text for a markdown cell", () => {
    expect(escapeMarkdownCell("a|b\\c\nd")).toBe("a\\|b\\\\c<br>d");
  });
});
