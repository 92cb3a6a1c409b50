import { Rng } from "@vlab/core";
import { formatReward, multipleChoiceReward } from "@vlab/rewards";
import { describe, expect, it } from "vitest";
import { relations } from "../src/captions.js";
import { makeScene } from "../src/shapes.js";
import {
  DISTANCE_MARGIN,
  SPATIAL_TASKS,
  letteredOptions,
  spatialMcDataset,
  spatialMcQuestion,
  spatialMcSample,
} from "../src/spatial_mc.js";
import {
  describedDocument,
  spatialDescription,
  spatialMcCompletion,
  visualThinkerPrompt,
  VISUALTHINKER_BASE_PROMPT,
} from "../src/spatial_text.js";

// Left to right: a small red circle, a large blue square (both at the top), a small green star at the bottom right.
const scene = makeScene([
  { shape: "circle", color: "red", size: "small", x: 5, y: 6 },
  { shape: "square", color: "blue", size: "large", x: 16, y: 6 },
  { shape: "star", color: "green", size: "small", x: 26, y: 27 },
]);

describe("spatial multiple-choice questions on a hand-made scene", () => {
  it("count: the number of shapes, among nearby numbers", () => {
    const s = spatialMcSample(scene, "count", new Rng(0))!;
    expect(s.answer).toBe("3");
    expect([...s.options].sort()).toEqual(["1", "2", "3", "4"]);
    expect(s.options[s.letter.charCodeAt(0) - 65]).toBe("3");
  });

  it("depth: the large shape is the closer one (size as the depth cue)", () => {
    for (let seed = 0; seed < 10; seed++) {
      const s = spatialMcSample(scene, "depth", new Rng(seed))!;
      expect(s.answer).toBe("the blue square");
      expect(s.options).toContain("the blue square");
      expect(s.options.some((o) => o === "the red circle" || o === "the green star")).toBe(true);
    }
  });

  it("distance: the nearer of two candidates, only with a clear margin", () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 30; seed++) {
      const s = spatialMcSample(scene, "distance", new Rng(seed))!;
      seen.add(`${s.question} → ${s.answer}`);
    }
    // red circle–blue square 11 px apart, blue square–green star ≈ 23.3, red circle–green star ≈ 29.8
    expect(seen).toContain(
      "which shape is closer to the red circle, the blue square or the green star? → the blue square",
    );
    expect(seen).toContain(
      "which shape is closer to the blue square, the red circle or the green star? → the red circle",
    );
    // the green star's two distances differ by a factor 1.28 < DISTANCE_MARGIN: never asked about
    expect([...seen].some((q) => q.includes("closer to the green star"))).toBe(false);
    expect(29.8 / 23.3).toBeLessThan(DISTANCE_MARGIN);
  });

  it("relation: the axis along which the boxes are disjoint, and the right side", () => {
    for (let seed = 0; seed < 20; seed++) {
      const s = spatialMcSample(scene, "relation", new Rng(seed))!;
      const names = [...s.question.matchAll(/the (\w+ \w+)/g)].map((m) => m[1]);
      const obj = (name: string | undefined) => scene.objects.find((o) => `${o.color} ${o.shape}` === name)!;
      const rel = relations(obj(names[0]), obj(names[1]))[0];
      expect({ left: "left of", right: "right of", above: "above", below: "below" }[s.answer]).toBe(rel);
    }
  });

  it("no question where the scene has none: depth needs two sizes, distance three shapes", () => {
    const flat = makeScene([
      { shape: "circle", color: "red", size: "small", x: 5, y: 6 },
      { shape: "square", color: "blue", size: "small", x: 20, y: 20 },
    ]);
    expect(spatialMcSample(flat, "depth", new Rng(0))).toBeUndefined();
    expect(spatialMcSample(flat, "distance", new Rng(0))).toBeUndefined();
    expect(() => spatialMcSample(flat, "size" as never, new Rng(0))).toThrow(/unknown task "size"/);
  });
});

describe("the text around the questions", () => {
  const s = spatialMcSample(scene, "depth", new Rng(1))!;

  it("letters the options as CV-Bench does; words as VisualThinker's SAT template", () => {
    expect(letteredOptions(["2", "4", "3"])).toBe("(A) 2, (B) 4 or (C) 3");
    expect(spatialMcQuestion(s)).toBe(
      `${s.question} Choose between the following options: (A) ${s.options[0]} or (B) ${s.options[1]}. ` +
        "Answer with the letter.",
    );
    expect(spatialMcQuestion(s, "words")).toBe(
      `Answer in natural language. ${s.question} Choose between the following options: ${s.options[0]} or ` +
        `${s.options[1]}`,
    );
  });

  it("VisualThinker's base prompt ends in <think>; the SFT completion then scores 1 on both rewards", () => {
    const prompt = visualThinkerPrompt("<image> q");
    expect(prompt.endsWith("Assistant: Let me solve this step by step.\n<think>")).toBe(true);
    expect(prompt).toContain("\nUser: <image> q \nAssistant:");
    expect(VISUALTHINKER_BASE_PROMPT.startsWith("A conversation between User and Assistant.")).toBe(true);
    const c = spatialMcCompletion(s);
    expect(formatReward(c, { thinkPrefilled: true })).toBe(1);
    expect(formatReward(c)).toBe(0); // without the prompt's <think> the format fails
    expect(multipleChoiceReward(c, s.letter)).toBe(1);
    const wrong = s.letter === "A" ? "B" : "A";
    expect(multipleChoiceReward(c, wrong)).toBe(0);
  });

  it("describes the scene's sizes and places; documents carry the description, never an image", () => {
    expect(spatialDescription(scene)).toBe(
      "a small red circle at the top left , a large blue square at the top , a small green star at the bottom right",
    );
    const forms = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      const doc = describedDocument(s, scene, new Rng(seed), { tagRate: 0.5, reflectRate: 0.3 });
      expect(doc).toContain(`the image shows ${spatialDescription(scene)} .`);
      expect(doc).not.toContain("<image>");
      forms.add(doc.includes("<answer>") ? "tags" : "plain");
      if (doc.includes("wait , let me check again .")) forms.add("reflect");
    }
    expect(forms).toEqual(new Set(["tags", "plain", "reflect"]));
    const noTags = describedDocument(s, scene, new Rng(0), { tagRate: 0, reflectRate: 0 });
    expect(noTags.endsWith(`</think> the answer is (${s.letter}) ${s.answer} .`)).toBe(true);
  });
});

describe("spatialMcDataset", () => {
  it("deals the tasks in turn, is deterministic, and balances the letters", async () => {
    const opts = { seed: 3, n: 200, width: 32, render: false } as const;
    const [a, b] = [await spatialMcDataset(opts), await spatialMcDataset(opts)];
    expect(a.samples).toEqual(b.samples);
    expect(a.samples.slice(0, 8).map((s) => s.task)).toEqual([...SPATIAL_TASKS, ...SPATIAL_TASKS]);
    for (const [i, s] of a.samples.entries()) {
      expect(s.options[s.letter.charCodeAt(0) - 65]).toBe(s.answer);
      if (s.task === "count") expect(s.answer).toBe(String(a.scenes[i]!.objects.length));
    }
    const firstA = a.samples.filter((s) => s.letter === "A").length / a.samples.length;
    expect(firstA).toBeGreaterThan(0.3); // options are shuffled: A is not always right
    expect(firstA).toBeLessThan(0.6);
    const other = await spatialMcDataset({ ...opts, split: "test" });
    expect(other.samples).not.toEqual(a.samples);
  });

  it("renders one image per sample and refuses bad options", async () => {
    const ds = await spatialMcDataset({ seed: 0, n: 4, width: 32, tasks: ["depth"] });
    expect(ds.images!.shape).toEqual([4, 3, 32, 32]);
    expect(ds.samples.every((s) => s.task === "depth")).toBe(true);
    ds.dispose();
    await expect(spatialMcDataset({ seed: 0, n: -1 })).rejects.toThrow(/n must be an integer/);
    await expect(spatialMcDataset({ seed: 0, n: 1, tasks: [] })).rejects.toThrow(/no tasks/);
    await expect(spatialMcDataset({ seed: 0, n: 1, tasks: ["size" as never] })).rejects.toThrow(/unknown task/);
  });
});
