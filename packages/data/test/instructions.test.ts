import { Rng } from "@vlab/core";
import { describe, expect, it } from "vitest";
import {
  IMAGE_PLACEHOLDER,
  conversation,
  detail,
  detailedDescription,
  instructionDataset,
  instructions,
  positionWords,
  reasoning,
  reasoningQuestions,
} from "../src/instructions.js";
import { questionsOfKind } from "../src/questions.js";
import { makeScene } from "../src/shapes.js";

// 56×32: thirds at x 18.7 / 37.3 and y 10.7 / 21.3. Large red circle at (12, 20): left, middle row.
// Small red star at (44, 8): top right. Small blue square at (44, 22): bottom right.
const scene = makeScene(
  [
    { shape: "circle", color: "red", size: "large", x: 12, y: 20 },
    { shape: "square", color: "blue", size: "small", x: 44, y: 22 },
    { shape: "star", color: "red", size: "small", x: 44, y: 8 },
  ],
  { width: 56, height: 32 },
);

describe("instruction data", () => {
  it("describes every object left to right with its size and position", () => {
    expect(detailedDescription(scene)).toBe(
      "there are three shapes. a large red circle at the left. a small red star at the top right. a small blue " +
        "square at the bottom right.",
    );
    expect(detailedDescription(makeScene([{ shape: "hexagon", color: "orange", x: 16, y: 16 }]))).toBe(
      "there is one shape. a large orange hexagon in the center.",
    );
    expect(positionWords(scene.objects[0]!, 56, 32)).toBe("left");
  });

  it("asks reasoning questions whose steps and answers follow from the scene", () => {
    const all = reasoningQuestions(scene);
    // The blue square is named by its colour; the only object clearly left of it is the red circle.
    expect(all).toContainEqual({
      question: "which shape is left of the blue one?",
      steps: "the red circle is left of the blue square.",
      answer: "circle",
    });
    // Two red shapes, one circle.
    expect(all).toContainEqual({
      question: "are there more red shapes than circles?",
      steps: "there are two red shapes and one circle.",
      answer: "yes",
    });
    expect(all).toContainEqual({
      question: "how many shapes are not red?",
      steps: "there are three shapes and two are red.",
      answer: "1",
    });
    // Equal counts are never compared (one blue shape, one square).
    expect(all.find((r) => r.question === "are there more blue shapes than squares?")).toBeUndefined();
    // The star is "the small red one"; only the circle is left of it. Below it are both the circle and the square:
    // ambiguous, so not asked.
    expect(all).toContainEqual({
      question: "which shape is left of the small red one?",
      steps: "the red circle is left of the red star.",
      answer: "circle",
    });
    expect(all.find((r) => r.question === "which shape is below the small red one?")).toBeUndefined();
    const s = reasoning(scene, new Rng(3))!;
    expect(s.turns[1]!.content.endsWith(`so the answer is ${s.answers[0]}.`)).toBe(true);
  });

  it("builds conversations of distinct question kinds with the image first", () => {
    const conv = conversation(scene, new Rng(1), { turns: 4 })!;
    expect(conv.turns.map((t) => t.role)).toEqual([
      "user",
      "assistant",
      "user",
      "assistant",
      "user",
      "assistant",
      "user",
      "assistant",
    ]);
    expect(conv.turns[0]!.content.startsWith(`${IMAGE_PLACEHOLDER}\n`)).toBe(true);
    expect(conv.turns.filter((t) => t.content.includes(IMAGE_PLACEHOLDER))).toHaveLength(1);
    expect(new Set(conv.questionKinds).size).toBe(4);
    conv.questionKinds.forEach((kind, i) => {
      const question = conv.turns[2 * i]!.content.replace(`${IMAGE_PLACEHOLDER}\n`, "");
      const truth = questionsOfKind(scene, kind as never).find((q) => q.question === question);
      expect(truth?.answer, question).toBe(conv.answers[i]);
      expect(conv.turns[2 * i + 1]!.content).toBe(conv.answers[i]);
    });
  });

  it("gives one sample per kind and rejects unknown kinds", () => {
    const all = instructions(scene, new Rng(0));
    expect(all.map((s) => s.kind)).toEqual(["conversation", "detail", "reasoning"]);
    expect(detail(scene, new Rng(0)).answers[0]).toBe(detailedDescription(scene));
    expect(() => instructions(scene, new Rng(0), { kinds: ["poetry" as never] })).toThrow(
      /unknown instruction kind "poetry"/,
    );
  });

  it("is deterministic per seed and split", async () => {
    const a = await instructionDataset({ seed: 5, n: 20, render: false });
    const b = await instructionDataset({ seed: 5, n: 20, render: false });
    const c = await instructionDataset({ seed: 5, n: 20, render: false, split: "test" });
    expect(a.instructions).toEqual(b.instructions);
    expect(a.instructions).not.toEqual(c.instructions);
    expect(a.instructions.every((list) => list.some((s) => s.kind === "detail"))).toBe(true);
  });

  it("asks only the question kinds it is given", async () => {
    const kindsOf = (ds: { instructions: { questionKinds: string[] }[][] }) =>
      new Set(ds.instructions.flat().flatMap((s) => s.questionKinds));
    const all = await instructionDataset({ seed: 5, n: 40, render: false });
    const noSize = await instructionDataset({
      seed: 5,
      n: 40,
      render: false,
      questionKinds: ["color", "shape", "count", "exists", "relation"],
    });
    expect(kindsOf(all).has("size")).toBe(true);
    expect(kindsOf(noSize).has("size")).toBe(false);
    expect(kindsOf(noSize).has("shape")).toBe(true);
    expect(noSize.scenes).toEqual(all.scenes); // the scenes do not depend on what is asked
    await expect(
      instructionDataset({ seed: 5, n: 2, render: false, questionKinds: ["colour" as never] }),
    ).rejects.toThrow(/unknown question kind "colour"/);
  });
});
