import { beforeAll, describe, expect, it } from "vitest";
import { instructionDataset, type InstructionDataset, type Scene } from "@vlab/data";
import {
  answerAccuracy,
  askedQuestions,
  captionIsRight,
  cleanReply,
  finalAnswer,
  isRightAnswer,
  namedPairs,
  type AskedQuestion,
} from "../src/index.js";

let ds: InstructionDataset;
beforeAll(async () => {
  ds = await instructionDataset({ seed: 4, n: 3, split: "test", objects: [1, 2], width: 32, height: 32 });
});

const object = (color: string, shape: string) => ({ color, shape, size: "large", x: 8, y: 8, r: 4 });
const scene = { objects: [object("red", "circle"), object("blue", "star")] } as unknown as Scene;
const q = (kind: AskedQuestion["kind"], answer: string): AskedQuestion => ({ scene: 0, kind, question: "?", answer });

describe("scoring the tiny models' replies and captions (notebooks 03 and 04)", () => {
  it("asks every conversation and reasoning question, without the image placeholder, with its answer", () => {
    const asked = askedQuestions(ds);
    const expected = ds.instructions.flatMap((list) =>
      list.filter((s) => s.kind !== "detail").flatMap((s) => s.answers),
    );
    expect(asked.map((a) => a.answer)).toEqual(expected);
    expect(asked.some((a) => a.question.includes("<image>"))).toBe(false);
    expect(asked.every((a) => a.kind !== "detail")).toBe(true);
    expect(new Set(asked.map((a) => a.scene))).toEqual(new Set([0, 1, 2]));
    const first = ds.instructions[0]!.find((s) => s.kind === "conversation")!;
    expect(asked[0]).toEqual({
      scene: 0,
      kind: first.questionKinds[0],
      question: first.turns[0]!.content.replace("<image>\n", ""),
      answer: first.answers[0],
    });
  });

  it("judges replies: cleaned, and for reasoning the words after 'the answer is'", () => {
    expect(cleanReply(" a red circle . ")).toBe("a red circle.");
    expect(finalAnswer("there are two shapes . so the answer is 2 .")).toBe("2");
    expect(finalAnswer("blue .")).toBe("blue");
    expect(isRightAnswer(q("color", "red"), "red")).toBe(true);
    expect(isRightAnswer(q("color", "red"), "red circle")).toBe(false);
    expect(isRightAnswer(q("reasoning", "square"), "the square is left . so the answer is square .")).toBe(true);
    expect(isRightAnswer(q("reasoning", "square"), "so the answer is circle .")).toBe(false);
    const acc = answerAccuracy([q("color", "red"), q("color", "blue"), q("count", "2")], ["red", "red", "2"]);
    expect(acc.overall).toBeCloseTo(2 / 3, 12);
    expect(acc.byKind).toEqual({ color: 0.5, count: 1 });
    expect(() => answerAccuracy([q("color", "red")], [])).toThrow(/0 replies for 1 questions/);
  });

  it("judges captions: at least one colour–shape pair named, and only pairs in the picture", () => {
    expect(namedPairs("a photo of a red circle left of a blue star")).toEqual(["red circle", "blue star"]);
    expect(captionIsRight("a photo of a red circle", scene)).toBe(true);
    expect(captionIsRight("a blue star right of a red circle", scene)).toBe(true);
    expect(captionIsRight("a red circle and a green star", scene)).toBe(false); // one pair is not there
    expect(captionIsRight("a red star", scene)).toBe(false); // colour and shape both there, not together
    expect(captionIsRight("two shapes", scene)).toBe(false); // names nothing
  });
});
