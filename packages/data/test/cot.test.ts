import { Rng } from "@vlab/core";
import { describe, expect, it } from "vitest";
import { JUDGE_CHECKS, chainSentences, judgeChain } from "../src/cot_judge.js";
import { cotChain, cotQuestion, cotQuestions, countOf, plainAnswer, type CotQuestion } from "../src/cot_questions.js";
import { describedObjects, formalDescription, objectPhrase, parseFormalDescription } from "../src/scene_description.js";
import { makeScene, sampleScene } from "../src/shapes.js";

// Left to right: a red circle, a blue square, a red triangle.
const scene = makeScene([
  { shape: "circle", color: "red", size: "large", x: 5, y: 8 },
  { shape: "square", color: "blue", size: "large", x: 16, y: 8 },
  { shape: "triangle", color: "red", size: "large", x: 26, y: 20 },
]);
const objects = describedObjects(scene);
const q = (kind: CotQuestion["kind"], question: string) => {
  const found = cotQuestions(objects).find((x) => x.kind === kind && x.question === question);
  if (!found) throw new Error(`no question "${question}"`);
  return found;
};
const notRed = () => q("not", "how many shapes are not red?");
const swap = (from: string, to: string) => cotChain(objects, notRed()).replace(from, to);

describe("formal description", () => {
  it("lists the objects left to right, then their whole-pixel boxes, and reads back", () => {
    const text = formalDescription(scene);
    expect(text).toMatch(
      /^objects : a red circle , a blue square and a red triangle \. boxes : \[\d+, \d+, \d+, \d+\] ; \[.*\] ; \[.*\]$/,
    );
    expect(parseFormalDescription(text)).toEqual(objects);
    // a tokenizer's decode spaces the punctuation differently: still read
    expect(parseFormalDescription(text.replace(/ ([,.;])/g, "$1").replace(/([[\],])/g, " $1 "))).toEqual(objects);
    expect(objects[0]?.box).toEqual(scene.objects[0]?.box.map((v) => Math.round(v) || 0));
    expect(objectPhrase(objects.slice(0, 1))).toBe("a red circle");
  });
  it("names the faulty item", () => {
    expect(() => parseFormalDescription("objects : a red circle . boxes : [1, 2, 3]")).toThrow(/box 1 .*not "\[x0/);
    expect(() =>
      parseFormalDescription("objects : a red circle and a pink star . boxes : [1, 2, 3, 4] ; [1, 2, 3, 4]"),
    ).toThrow(/object 2 has unknown colour "pink"/);
    expect(() => parseFormalDescription("objects : a red circle . boxes : [1, 2, 3, 4] ; [1, 2, 3, 4]")).toThrow(
      /1 objects but 2 boxes/,
    );
    expect(() => parseFormalDescription("things : red circle")).toThrow(/expected "objects :/);
    expect(() => parseFormalDescription("objects : a red circle")).toThrow(/no ". boxes :" part/);
    expect(parseFormalDescription("objects : . boxes :")).toEqual([]);
  });
});

describe("multi-step questions and chains", () => {
  it("answers each kind from the counts", () => {
    expect(notRed().answer).toBe("1");
    expect(q("sum", "how many shapes are red or blue?").answer).toBe("3");
    expect(q("more", "are there more red shapes than blue shapes?").answer).toBe("yes");
    expect(q("more", "are there more blue shapes than red shapes?").answer).toBe("no");
    // equal counts are skipped
    const two = describedObjects(
      makeScene([
        { shape: "circle", color: "red", size: "large", x: 5, y: 8 },
        { shape: "star", color: "blue", size: "large", x: 20, y: 8 },
      ]),
    );
    expect(cotQuestions(two, ["more"])).toEqual([]);
    expect(countOf(objects, { color: "red", shape: "circle" })).toBe(1);
  });
  it("writes the chain in the judge's grammar", () => {
    expect(cotChain(objects, notRed())).toBe(
      "<think> i see a red shape , a blue shape and a red shape . three shapes in all . two are red . " +
        "three minus two is one . </think> <answer> 1 </answer>",
    );
    const more = q("more", "are there more blue shapes than red shapes?");
    expect(cotChain(objects, more)).toContain(
      "one is blue . two are red . one is not more than two . </think> <answer> no </answer>",
    );
    expect(plainAnswer(notRed())).toBe("<answer> 1 </answer>");
  });
  it("draws every kind from random scenes", () => {
    const rng = new Rng(3);
    const kinds = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const o = describedObjects(sampleScene(rng, { objects: [1, 4] }));
      const x = cotQuestion(o, rng);
      if (x) kinds.add(x.kind);
    }
    expect([...kinds].sort()).toEqual(["more", "not", "sum"]);
  });
});

describe("the judge", () => {
  it("keeps every template chain of random scenes, also after a tokenizer's respacing", () => {
    const rng = new Rng(7);
    for (let i = 0; i < 300; i++) {
      const o = describedObjects(sampleScene(rng, { objects: [1, 4] }));
      for (const x of cotQuestions(o)) {
        const j = judgeChain(o, x, cotChain(o, x).replace(/ \. /g, "  .  "));
        expect(j.failed, `${x.question}: ${j.response}`).toEqual([]);
        // as the word tokenizer decodes: no space before "," and "."
        const decoded = cotChain(o, x).replace(/ ([,.])/g, "$1");
        expect(judgeChain(o, x, decoded).failed, decoded).toEqual([]);
      }
    }
  });
  const cases: [string, string, string[]][] = [
    [
      "a wrong answer, consistent chain otherwise",
      swap("<answer> 1 </answer>", "<answer> 2 </answer>"),
      ["correct", "consistent"],
    ],
    ["an object not in the description", swap("a blue shape", "a green shape"), ["grounded"]],
    ["an object left out", swap(" , a blue shape", ""), ["complete"]],
    ["a shape that is not there", swap("a blue shape", "a blue circle"), ["grounded"]],
    ["the right shape named", swap("a blue shape", "a blue square"), []],
    ["a wrong total", swap("three shapes in all", "four shapes in all"), ["complete"]],
    [
      "a miscount that cancels out",
      swap("two are red . three minus two is one", "three are red . four minus three is one").replace(
        "three shapes",
        "four shapes",
      ),
      ["complete", "counts"],
    ],
    ["false arithmetic", swap("three minus two is one", "three minus two is two"), ["arithmetic", "consistent"]],
    ["counting the wrong colour", swap("two are red", "one is blue"), ["relevant"]],
    [
      "no tags",
      "three minus two is one",
      ["format", "correct", "relevant", "grounded", "complete", "arithmetic", "consistent"],
    ],
    ["an off-topic sentence", swap("three shapes in all .", "three shapes in all . i like it ."), ["relevant"]],
  ];
  it.each(cases)("judges %s", (_, completion, failed) => {
    const j = judgeChain(objects, notRed(), completion);
    expect(j.keep).toBe(failed.length === 0);
    expect(j.failed).toEqual(JUDGE_CHECKS.filter((c) => failed.includes(c)));
    expect(j.response).toMatch(failed.length === 0 ? /^keep: / : /^reject: /);
  });
  it("reads the sentences inside the think span", () => {
    expect(chainSentences("<think> a . b  c . </think> <answer> 1 </answer>")).toEqual(["a", "b c"]);
    expect(chainSentences("<answer> 1 </answer>")).toBeNull();
  });
});
