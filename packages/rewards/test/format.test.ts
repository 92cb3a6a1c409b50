import { describe, expect, it } from "vitest";
import { FORMAT_VARIANTS, formatReward, matchesFormat, type FormatVariant } from "../src/format.js";
import { MAX_TEXT_CHARS, PY_SPACE, isPySpace, pyStrip } from "../src/text.js";
import { prng, randomString, recString, shapedString } from "./strings.js";

const VARIANTS = Object.keys(FORMAT_VARIANTS) as FormatVariant[];
const all = (s: string) => Object.fromEntries(VARIANTS.map((v) => [v, formatReward(s, { variant: v })]));

describe("formatReward — worked examples F1…", () => {
  // R1-V's format_reward (src/r1-v/src/open_r1/grpo.py): re.fullmatch with DOTALL; "R1-V orig" = re.match without
  // DOTALL.
  it.each([
    ["F1", "<think>I count 3 objects.</think><answer>3</answer>", 1, 1],
    ["F2", "<think>\nI count 3 objects.\n</think>\n<answer>3</answer>", 1, 0],
    ["F4", "<think>x</think><answer>3</answer> extra", 0, 1],
    ["F6", "Sure. <think>x</think><answer>3</answer>", 0, 0],
  ])("%s", (_id, completion, r1v, orig) => {
    expect(formatReward(completion)).toBe(r1v); // the default variant is R1-V's
    expect(formatReward(completion, { variant: "r1v" })).toBe(r1v);
    expect(formatReward(completion, { variant: "r1v-original" })).toBe(orig);
  });
});

describe("formatReward — worked cases per variant", () => {
  it("empty blocks are allowed by `.*?` (all but VLM-R1's, which needs a box)", () => {
    expect(all("<think></think><answer></answer>")).toEqual({
      r1v: 1,
      "r1v-original": 1,
      "open-r1-mm-first": 1,
      lenient: 1,
      "lmm-r1": 1,
      "vlm-r1-rec": 0,
    });
  });

  it(
    "whitespace between the blocks: `\\s*` crosses newlines even without DOTALL; open-r1's first form and lmm-r1 " +
      "allow none",
    () => {
      expect(all("<think>a</think> \n\t <answer>b</answer>")).toEqual({
        r1v: 1,
        "r1v-original": 1,
        "open-r1-mm-first": 0,
        lenient: 1,
        "lmm-r1": 0,
        "vlm-r1-rec": 0,
      });
    },
  );

  it("`\\s` is Python's: U+3000 and NEL (U+0085) are spaces, a byte-order mark (U+FEFF) is not", () => {
    expect(formatReward("<think>a</think>\u3000<answer>b</answer>")).toBe(1);
    expect(formatReward("<think>a</think>\x85<answer>b</answer>")).toBe(1); // JavaScript's \s would say no
    expect(formatReward("<think>a</think>\x1c<answer>b</answer>")).toBe(1); // file separator: str.isspace() is True
    expect(formatReward("<think>a</think>\ufeff<answer>b</answer>")).toBe(0); // JavaScript's \s would say yes
  });

  it("a trailing newline: fullmatch fails, Python's `$` (open-r1's first form) and re.match accept it", () => {
    expect(all("<think>a</think><answer>b</answer>\n")).toEqual({
      r1v: 0,
      "r1v-original": 1,
      "open-r1-mm-first": 1,
      lenient: 1,
      "lmm-r1": 0,
      "vlm-r1-rec": 0,
    });
    // `$` allows one final newline, not two.
    expect(formatReward("<think>a</think><answer>b</answer>\n\n", { variant: "open-r1-mm-first" })).toBe(0);
    // ...and nothing else after </answer>.
    expect(formatReward("<think>a</think><answer>b</answer> ", { variant: "open-r1-mm-first" })).toBe(0);
  });

  it("without DOTALL `.` stops only at \\n: a multi-line answer fails, a \\r (or U+2028) does not", () => {
    expect(all("<think>a</think><answer>b\nc</answer>")).toMatchObject({
      r1v: 1,
      "r1v-original": 0,
      "open-r1-mm-first": 0,
      lenient: 1,
    });
    expect(formatReward("<think>a\r</think><answer>b\u2028</answer>", { variant: "r1v-original" })).toBe(1);
  });

  it(
    "R1-V's lazy `.*?` still backtracks: tags may repeat " + "inside the blocks; lmm-r1's tempered tokens forbid that",
    () => {
      // Full match: the answer body can be "b</answer>" so that the final </answer> ends the text.
      expect(all("<think>a</think><answer>b</answer></answer>")).toMatchObject({ r1v: 1, "lmm-r1": 0 });
      // The second </think> is the one followed by <answer>; the think body is "a</think>x".
      expect(all("<think>a</think>x</think><answer>c</answer>")).toMatchObject({
        r1v: 1,
        "r1v-original": 1,
        "lmm-r1": 0,
      });
      // Two <think> tags: fine for R1-V, not for lmm-r1 ("exactly one <think>").
      expect(all("<think>a</think><think>b</think><answer>c</answer>")).toMatchObject({ r1v: 1, "lmm-r1": 0 });
      // A stray "<answer>" inside the think block: the tempered pattern passes, the count check does not.
      expect(all("<think>see <answer></think><answer>c</answer>")).toMatchObject({ r1v: 1, "lmm-r1": 0 });
      expect(formatReward("<think>multi\nline</think><answer>c</answer>", { variant: "lmm-r1" })).toBe(1); // DOTALL
    },
  );

  it("lenient: the shape anywhere, text around it allowed", () => {
    expect(formatReward("Sure. <think>x</think>\n<answer>3</answer> Done.", { variant: "lenient" })).toBe(1);
    expect(formatReward("<answer>3</answer><think>x</think>", { variant: "lenient" })).toBe(0); // wrong order
  });

  it(
    "VLM-R1 REC: searched, DOTALL, needs {… [x1, y1, x2, " +
      "y2] …} of integers (any Unicode digits) inside the answer",
    () => {
      const rec = (s: string) => formatReward(s, { variant: "vlm-r1-rec" });
      expect(rec('<think>t</think><answer>{"bbox_2d": [1, 2, 30, 40]}</answer>')).toBe(1);
      expect(rec('Sure <think>t</think>\n<answer>\n{"bbox_2d": [1,2,30,40], "label": "cat"}\n</answer> end')).toBe(1);
      expect(rec('<think>t</think><answer>{"bbox_2d": [1.5, 2, 30, 40]}</answer>')).toBe(0); // \d+ only
      expect(rec("<think>t</think><answer>[1, 2, 30, 40]</answer>")).toBe(0); // no braces
      expect(rec("<think>t</think><answer>{[1, 2, 30]}</answer>")).toBe(0); // three numbers
      expect(rec("<think>t</think><answer>{[١, ٢, ٣٠, ٤٠]}</answer>")).toBe(1); // Arabic-Indic digits are Python \d
      expect(rec("<think>t</think><answer>{[1, 2, 30, 40]</answer>")).toBe(0); // no } after the box
    },
  );

  it("thinkPrefilled checks '<think>' + completion (VisualThinker's base-model prompt ends in <think>)", () => {
    const c = "I count 3.</think> <answer>3</answer>";
    expect(formatReward(c)).toBe(0);
    expect(formatReward(c, { thinkPrefilled: true })).toBe(1);
  });

  it("garbage gives 0: non-strings, unknown variants, strings over MAX_TEXT_CHARS", () => {
    for (const x of [undefined, null, 3, {}, [], ["<think>a</think><answer>b</answer>"], Symbol("s"), () => 1])
      expect(formatReward(x)).toBe(0);
    expect(formatReward("<think>a</think><answer>b</answer>", { variant: "nope" as FormatVariant })).toBe(0);
    const huge = "<think>" + "a".repeat(MAX_TEXT_CHARS) + "</think><answer>1</answer>";
    expect(formatReward(huge, { variant: "lenient" })).toBe(0);
  });
});

describe("Python whitespace helpers", () => {
  it("PY_SPACE is CPython's str.isspace() set", () => {
    // From CPython 3.11: [c for c in range(0x110000) if chr(c).isspace()] (the same set as `\s` in str patterns).
    const cpython = [
      0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
      0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
    ];
    const ours: number[] = [];
    for (let c = 0; c < 0x10000; c++) if (isPySpace(String.fromCharCode(c))) ours.push(c);
    expect(ours).toEqual(cpython);
    expect(new RegExp(`^[${PY_SPACE}]+$`).test(cpython.map((c) => String.fromCharCode(c)).join(""))).toBe(true);
  });

  it("pyStrip strips Python whitespace only", () => {
    expect(pyStrip(" \x85\n 3 \u3000")).toBe("3");
    expect(pyStrip("\ufeff3")).toBe("\ufeff3"); // String.prototype.trim would remove the BOM
  });
});

// JavaScript regexes with Python's semantics spelled out: `.` without DOTALL is [^\n], `\s` is
// PY_SPACE, `\d` is \p{Nd}, fullmatch is ^…$ (JavaScript's `$` without the m flag is the very end),
// Python's `$` is (?=\n?$). Backtracking regexes: only for short strings.
const WS = `[${PY_SPACE}]`;
const ORACLE: Record<FormatVariant, (s: string) => boolean> = {
  r1v: (s) => new RegExp(`^<think>[\\s\\S]*?</think>${WS}*<answer>[\\s\\S]*?</answer>$`).test(s),
  "r1v-original": (s) => new RegExp(`^<think>[^\\n]*?</think>${WS}*<answer>[^\\n]*?</answer>`).test(s),
  "open-r1-mm-first": (s) => /^<think>[^\n]*?<\/think><answer>[^\n]*?<\/answer>(?=\n?$)/.test(s),
  lenient: (s) => new RegExp(`<think>[\\s\\S]*?</think>${WS}*<answer>[\\s\\S]*?</answer>`).test(s),
  "lmm-r1": (s) =>
    /^<think>(?:(?!<\/think>)[\s\S])*<\/think><answer>(?:(?!<\/answer>)[\s\S])*<\/answer>$/.test(s) &&
    s.split("<think>").length === 2 &&
    s.split("<answer>").length === 2,
  "vlm-r1-rec": (s) =>
    new RegExp(
      `<think>[\\s\\S]*?</think>${WS}*<answer>[\\s\\S]*?\\{[\\s\\S]*\\[\\p{Nd}+,${WS}*\\p{Nd}+,${WS}*\\p{Nd}+,${WS}*` +
        `\\p{Nd}+\\][\\s\\S]*\\}[\\s\\S]*?</answer>`,
      "u",
    ).test(s),
};

describe("the linear scans agree with the regexes", () => {
  it("on 4000 random strings, every variant", () => {
    const rand = prng(20250207);
    const counts = Object.fromEntries(VARIANTS.map((v) => [v, [0, 0]]));
    for (let i = 0; i < 4000; i++) {
      const s = i % 3 === 0 ? randomString(rand) : i % 3 === 1 ? shapedString(rand) : recString(rand);
      for (const v of VARIANTS) {
        if (v === "vlm-r1-rec" && s.length > 160) continue; // the backtracking oracle is cubic
        const want = ORACLE[v](s);
        if (matchesFormat(s, v) !== want) throw new Error(`${v} disagrees on ${JSON.stringify(s)}: regex says ${want}`);
        counts[v]![want ? 1 : 0]!++;
      }
    }
    // Both outcomes occur for every variant, so the agreement means something.
    for (const v of VARIANTS) expect(Math.min(...counts[v]!), v).toBeGreaterThan(25);
  });

  it("stays linear on adversarial million-character strings (a backtracking regex takes minutes)", () => {
    const n = Math.floor((MAX_TEXT_CHARS - 100) / 17);
    const cases: [string, FormatVariant[], number][] = [
      // many </think><answer> candidates, never closed: 0 for all
      ["<think>" + "</think><answer>".repeat(n) + "x", VARIANTS, 0],
      // many candidates, closed at the very end: R1-V full match succeeds
      ["<think>" + "</think> <answer>".repeat(n) + "</answer>", ["r1v", "lenient"], 1],
      // REC: many `{` and unfinished boxes
      ["<think></think><answer>" + "{[1,2,3]}".repeat(n / 2), ["vlm-r1-rec"], 0],
      // without DOTALL: newline-separated candidates
      ["<think>" + "</think>\n<answer>\n".repeat(n) + "</answer>", ["r1v-original", "open-r1-mm-first"], 0],
    ];
    for (const [s, variants, want] of cases) {
      for (const v of variants) {
        const t0 = performance.now();
        expect(formatReward(s, { variant: v }), v).toBe(want);
        expect(performance.now() - t0, v).toBeLessThan(2000);
      }
    }
  });
});
