// Fuzz: every public function on thousands of random strings (and non-strings) never throws and
// stays in its documented range; and, where CPython is installed, the Python-semantics pieces agree
// with the Python patterns themselves.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  FORMAT_VARIANTS,
  accuracyReward,
  combineRewards,
  extractAnswer,
  extractBox,
  extractChoiceLetters,
  formatReward,
  iou,
  iouReward,
  lengthReward,
  mathVerifyNumber,
  matchesFormat,
  multipleChoiceReward,
  parseDetections,
  parseNumber,
  pyStrip,
  visualRftClassificationReward,
  visualRftDetectionReward,
  type FormatVariant,
} from "../src/index.js";
import { searchTagged } from "../src/text.js";
import { detectionString, prng, randomString, recString, shapedString } from "./strings.js";

const VARIANTS = Object.keys(FORMAT_VARIANTS) as FormatVariant[];
const GARBAGE: unknown[] = [
  undefined,
  null,
  0,
  NaN,
  -1,
  true,
  {},
  [],
  [1, 2, 3, 4],
  { content: "<answer>3</answer>" },
  Symbol("x"),
  () => "",
  10n,
];

function randomBoxes(rand: () => number): unknown {
  const k = Math.floor(rand() * 4);
  if (rand() < 0.1) return GARBAGE[Math.floor(rand() * GARBAGE.length)];
  return Array.from({ length: k }, (_, j) => {
    if (j === 0 && rand() < 0.5) return [0, 0, 10, 10];
    const x = Math.floor(rand() * 30);
    const y = Math.floor(rand() * 30);
    return rand() < 0.05 ? [x, y, NaN, "1"] : [x, y, x + Math.floor(rand() * 20) - 2, y + Math.floor(rand() * 20) - 2];
  });
}

const inUnit = (v: number) => Number.isFinite(v) && v >= 0 && v <= 1;
const binary = (v: number) => v === 0 || v === 1;

describe("fuzz: never throws, always in range", () => {
  it("5000 random strings and non-strings through every reward", () => {
    const rand = prng(7);
    const combined = combineRewards<{ solution: unknown }>([
      { name: "accuracy", fn: (c, ex) => accuracyReward(c, ex.solution) },
      { name: "format", fn: (c) => formatReward(c), weight: 0.5 },
    ]);
    const seen = { format: 0, accuracy: 0, iou: 0, detection: 0 };
    for (let i = 0; i < 5000; i++) {
      const pick = rand();
      const c: unknown =
        pick < 0.05
          ? GARBAGE[i % GARBAGE.length]
          : pick < 0.4
            ? randomString(rand, 30)
            : pick < 0.6
              ? shapedString(rand)
              : pick < 0.8
                ? recString(rand)
                : detectionString(rand);
      const sol: unknown =
        rand() < 0.05
          ? GARBAGE[(i * 7) % GARBAGE.length]
          : rand() < 0.5
            ? "<answer> 3 </answer>"
            : randomString(rand, 6);
      const boxes = randomBoxes(rand);

      for (const v of VARIANTS) {
        const f = formatReward(c, { variant: v, thinkPrefilled: rand() < 0.2 });
        expect(binary(f)).toBe(true);
        seen.format += f;
      }
      for (const mode of ["answer", "r1v", "visualthinker"] as const) {
        const a = accuracyReward(c, sol, { mode });
        expect(binary(a)).toBe(true);
        seen.accuracy += a;
      }
      expect(binary(multipleChoiceReward(c, sol))).toBe(true);
      expect(binary(visualRftClassificationReward(c, sol))).toBe(true);
      expect(binary(visualRftClassificationReward(c, sol, { faithful: true }))).toBe(true);

      const gt = Array.isArray(boxes) ? boxes[0] : boxes;
      for (const rule of ["continuous", "threshold"] as const) {
        const r = iouReward(c, gt, { rule, convention: rand() < 0.5 ? "plain" : "vlm-r1" });
        expect(inUnit(r)).toBe(true);
        if (rule === "threshold") expect(binary(r)).toBe(true);
        seen.iou += r;
      }
      expect(inUnit(iou(extractBox(c), gt))).toBe(true);

      const d = visualRftDetectionReward(c, boxes);
      expect(inUnit(d.iou) && inUnit(d.confidence) && binary(d.format)).toBe(true);
      expect(d.total).toBeCloseTo(d.iou + d.confidence + d.format, 12);
      seen.detection += d.iou;

      const len = lengthReward(c);
      expect(Number.isFinite(len) && len >= 0).toBe(true);
      expect(lengthReward(c, { max: 0.01 })).toBeLessThanOrEqual(0.01);

      const comb = combined(c, { solution: sol });
      expect(comb.total >= 0 && comb.total <= 1.5).toBe(true);

      const ans = extractAnswer(c);
      expect(ans === null || typeof ans === "string").toBe(true);
      expect(extractChoiceLetters(c).every((l) => /^[A-H]$/.test(l))).toBe(true);
      for (const n of [parseNumber(ans), mathVerifyNumber(c)]) expect(n === null || Number.isFinite(n)).toBe(true);
      const dets = parseDetections(ans);
      expect(dets === null || Array.isArray(dets)).toBe(true);
    }
    // The generators reach the interesting branches (non-zero rewards of each kind).
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThan(0);
  });

  it("reward functions survive hostile objects (throwing getters, proxies)", () => {
    const hostile = new Proxy([0, 0, 10, 10], {
      get: () => {
        throw new Error("boom");
      },
    });
    const getter = Object.defineProperty([1, 2, 3, 4], "0", {
      get: () => {
        throw new Error("boom");
      },
    });
    for (const h of [hostile, getter]) {
      expect(iou(h, [0, 0, 10, 10])).toBe(0);
      expect(iouReward("<answer>[0,0,10,10]</answer>", h)).toBe(0);
      expect(visualRftDetectionReward("<answer>[]</answer>", h).total).toBe(0);
      expect(accuracyReward(h, h)).toBe(0);
    }
    expect(
      lengthReward("abc", {
        count: () => {
          throw new Error("boom");
        },
      }),
    ).toBe(0);
  });
});

// Where CPython is installed, run the Python patterns of the sources on the same random strings.
const python = spawnSync("python3", ["-c", "print(1)"], { encoding: "utf8" });
const hasPython = python.status === 0;

const PY_ORACLE =
  String.raw`
import json, re, sys
P = r"<think>.*?</think>\s*<answer>.*?</answer>"
def fmt(c):
    return {
        "r1v": bool(re.fullmatch(P, c, re.DOTALL)),
        "r1v-original": bool(re.match(P, c)),
        "open-r1-mm-first": bool(re.match(r"^<think>.*?</think><answer>.*?</answer>$", c)),
        "lenient": bool(re.search(P, c, re.DOTALL)),
        "lmm-r1": bool(re.match(r"^<think>(?:(?!</think>).)*</think><answer>(?:(?!</answer>).)*</answer>\Z", c, ` +
  String.raw`re.DOTALL))
                  and c.count("<think>") == 1 and c.count("<answer>") == 1,
        "vlm-r1-rec": bool(re.search(r"<think>.*?</think>\s*<answer>.*?\{.*\[\d+,\s*\d+,` +
  String.raw`\s*\d+,\s*\d+\].*\}.*?</answer>", c, re.DOTALL)),
    }
def span(c, flags):
    m = re.search(r"<answer>(.*?)</answer>", c, flags)
    return m.group(1) if m else None
def box(c):
    a = span(c, re.DOTALL)
    if a is None: return None
    m = re.search(r"\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)]", a)
    return [int(g) for g in m.groups()] if m else None
out = []
for c in json.load(sys.stdin):
    s = span(c, 0)
    out.append({
        "format": fmt(c),
        "letters": [m[1] for m in re.findall(r"(^|\s|\[|\()([A-H])(\s|\]|\)|$)", c)],
        "r1vSpan": s,
        "answer": None if span(c, re.DOTALL) is None else span(c, re.DOTALL).strip(),
        "box": box(c),
        "strip": c.strip(),
    })
json.dump(out, sys.stdout)
`;

describe.skipIf(!hasPython)("differential test against CPython's re", () => {
  it("format variants, letters, <answer> spans, boxes and strip agree on 3000 random strings", () => {
    const rand = prng(424242);
    const strings = Array.from({ length: 3000 }, (_, i) =>
      i % 3 === 0 ? randomString(rand, 25) : i % 3 === 1 ? shapedString(rand) : recString(rand),
    );
    const r = spawnSync("python3", ["-c", PY_ORACLE], {
      input: JSON.stringify(strings),
      encoding: "utf8",
      maxBuffer: 1 << 26,
    });
    expect(r.status, r.stderr).toBe(0);
    const py = JSON.parse(r.stdout) as {
      format: Record<FormatVariant, boolean>;
      letters: string[];
      r1vSpan: string | null;
      answer: string | null;
      box: number[] | null;
      strip: string;
    }[];
    strings.forEach((s, i) => {
      const want = py[i]!;
      const ctx = JSON.stringify(s);
      for (const v of VARIANTS) expect(matchesFormat(s, v), `${v} on ${ctx}`).toBe(want.format[v]);
      expect(extractChoiceLetters(s), ctx).toEqual(want.letters);
      expect(searchTagged(s, "<answer>", "</answer>", false), ctx).toBe(want.r1vSpan);
      expect(extractAnswer(s), ctx).toBe(want.answer);
      expect(extractBox(s), ctx).toEqual(want.box);
      expect(pyStrip(s), ctx).toBe(want.strip);
    });
  });
});
