import { describe, expect, it } from "vitest";
import { accuracyReward } from "../src/accuracy.js";
import { extractAnswer, mathVerifyNumber, numbersEqual, parseNumber } from "../src/answer.js";
import { extractChoiceLetters, multipleChoiceReward } from "../src/choice.js";

// R1-V's `solution` column: "<answer> {a} </answer>", spaces included (create_hf_dataset.py).
const SOL3 = "<answer> 3 </answer>";

describe("accuracyReward — R1-V's accuracy_reward worked by hand (solution '<answer> 3 </answer>')", () => {
  it("a correct answer scores 1 in both modes", () => {
    const c = "<think>I count 3 objects.</think><answer>3</answer>";
    expect(accuracyReward(c, SOL3)).toBe(1);
    expect(accuracyReward(c, SOL3, { mode: "r1v" })).toBe(1);
  });

  it("R1-V's false positive: the 3 in the reasoning matches, the answer 4 is ignored", () => {
    const c = "<think>I see 3 cubes</think><answer>4</answer>";
    expect(accuracyReward(c, SOL3, { mode: "r1v" })).toBe(1);
    expect(accuracyReward(c, SOL3)).toBe(0); // vlab's checker reads only the <answer> span
  });
});

describe("accuracyReward — worked cases", () => {
  it("default mode compares numbers as numbers", () => {
    expect(accuracyReward("<answer>3.0</answer>", SOL3)).toBe(1);
    expect(accuracyReward("<answer> 3e0 </answer>", SOL3)).toBe(1);
    expect(accuracyReward("<answer>6/2</answer>", SOL3)).toBe(1);
    expect(accuracyReward("<answer>3.5</answer>", SOL3)).toBe(0);
    // R1-V: Math-Verify sees no number in "<answer>3.0</answer>" (glued to the tag), and "3.0" != "3".
    expect(accuracyReward("<answer>3.0</answer>", SOL3, { mode: "r1v" })).toBe(0);
  });

  it("default mode: an answer may span lines; R1-V's step (b) has no DOTALL", () => {
    const sol = "<answer> cat </answer>";
    const c = "<think>x</think><answer>\ncat\n</answer>";
    expect(accuracyReward(c, sol)).toBe(1);
    // No number anywhere, so step (a) fails; step (b)'s search fails on the newline and falls back to
    // the whole completion stripped, which is not "cat".
    expect(accuracyReward(c, sol, { mode: "r1v" })).toBe(0);
  });

  it("no <answer>: 0 by default; R1-V still reads numbers from the text", () => {
    const c = "<think>x</think> so 3";
    expect(accuracyReward(c, SOL3)).toBe(0);
    expect(accuracyReward(c, SOL3, { mode: "r1v" })).toBe(1); // " 3" follows a space
  });

  it("strings compare exactly after stripping", () => {
    expect(accuracyReward("<answer>cat</answer>", "<answer> cat </answer>")).toBe(1);
    expect(accuracyReward("<answer>cat</answer>", "<answer> cat </answer>", { mode: "r1v" })).toBe(1); // step (b)
    expect(accuracyReward("<answer>Cat</answer>", "<answer> cat </answer>")).toBe(0);
    expect(accuracyReward("<answer>cat</answer>", "cat")).toBe(1); // a solution without tags is used whole
  });

  it("an empty solution: nothing to check (0) by default; R1-V matches '' with ''", () => {
    expect(accuracyReward("<answer></answer>", "<answer>  </answer>")).toBe(0);
    expect(accuracyReward("<answer></answer>", "<answer>  </answer>", { mode: "r1v" })).toBe(1);
  });

  it("non-strings and unknown modes give 0", () => {
    expect(accuracyReward(3, 3)).toBe(0);
    expect(accuracyReward("<answer>3</answer>", undefined)).toBe(0);
    expect(accuracyReward("<answer>3</answer>", SOL3, { mode: "bogus" as "r1v" })).toBe(0);
  });

  it("relTol widens numeric equality", () => {
    expect(accuracyReward("<answer>3.001</answer>", SOL3)).toBe(0);
    // |3.001 − 3| = 1e-3 ≤ 1e-3 · 3.001
    expect(accuracyReward("<answer>3.001</answer>", SOL3, { relTol: 1e-3 })).toBe(1);
  });
});

describe("answer helpers", () => {
  it("extractAnswer: first span, DOTALL, stripped; null without one", () => {
    expect(extractAnswer("<answer> a </answer><answer>b</answer>")).toBe("a");
    expect(extractAnswer("<answer>\n x\ny \n</answer>")).toBe("x\ny");
    expect(extractAnswer("<answer>open")).toBe(null);
    expect(extractAnswer("</answer><answer>")).toBe(null);
    expect(extractAnswer(42)).toBe(null);
  });

  it.each([
    ["3", 3],
    [" 3 ", 3],
    ["3.0", 3],
    ["-0.5", -0.5],
    [".5", 0.5],
    ["3.", 3],
    ["+2", 2],
    ["1e3", 1000],
    ["1,234.5", 1234.5],
    ["3/4", 0.75],
    ["-3 / 4", -0.75],
    ["3/0", null],
    ["three", null],
    ["3 cubes", null],
    ["1,23", null],
    ["Infinity", null],
    ["1e999", null],
    ["", null],
    ["0x10", null],
  ])("parseNumber(%j) = %j", (s, want) => {
    expect(parseNumber(s)).toBe(want);
  });

  it("numbersEqual uses a relative tolerance of 1e-9 by default", () => {
    expect(numbersEqual(3, 3.0000000001)).toBe(true); // difference 1e-10 ≤ 3e-9
    expect(numbersEqual(3, 3.00001)).toBe(false);
    expect(numbersEqual(0, 1e-300)).toBe(false); // relative: nothing is close to 0 but 0
  });

  it.each([
    ["I see 3 cubes", 3], // follows a space
    ["<answer>4</answer>", null], // glued to the tag: not a Math-Verify number
    ["x=5 and y=6", 6], // the rightmost one
    ["The answer: 7, not 9", 7], // "answer" followed by a number wins over the rightmost number
    ["**3**", 3],
    ["costs $5", 5],
    ["t = -2.5", -2.5],
    ["no numbers", null],
  ])("mathVerifyNumber(%j) = %j", (s, want) => {
    expect(mathVerifyNumber(s)).toBe(want);
  });
});

describe("multiple choice (VisualThinker)", () => {
  it("extract_letters: stand-alone A–H; findall does not overlap, so 'A B' finds only A", () => {
    expect(extractChoiceLetters("(B)")).toEqual(["B"]);
    expect(extractChoiceLetters("A or B")).toEqual(["A", "B"]);
    expect(extractChoiceLetters("A B")).toEqual(["A"]); // the space after A is consumed by A's match
    expect(extractChoiceLetters("A  B")).toEqual(["A", "B"]);
    expect(extractChoiceLetters("[H] I AB a")).toEqual(["H"]); // I is not an option, AB is a word, a is lower case
    expect(extractChoiceLetters("Option C\n")).toEqual(["C"]);
  });

  it("the last letter of the answer must equal the ground truth", () => {
    const sol = "<answer>B</answer>";
    expect(multipleChoiceReward("<answer>The answer is (B)</answer>", sol)).toBe(1);
    expect(multipleChoiceReward("<answer>A or B</answer>", sol)).toBe(1);
    expect(multipleChoiceReward("<answer>B or A</answer>", sol)).toBe(0);
    expect(multipleChoiceReward("<answer>A B</answer>", sol)).toBe(0); // only A is found
    expect(multipleChoiceReward("(B)", sol)).toBe(0); // no <answer>
  });

  it("mode 'visualthinker' = R1-V's reward, then the letter fallback on R1-V's answer string", () => {
    const c = "<think>x</think><answer>The answer is (B)</answer>";
    expect(accuracyReward(c, "<answer>B</answer>", { mode: "visualthinker" })).toBe(1);
    expect(accuracyReward(c, "<answer>B</answer>", { mode: "r1v" })).toBe(0);
    expect(accuracyReward(c, "<answer>B</answer>")).toBe(0);
    // IndexError → 0
    expect(accuracyReward("<answer>no letter</answer>", "<answer>B</answer>", { mode: "visualthinker" })).toBe(0);
  });
});
