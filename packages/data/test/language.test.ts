import { Rng } from "@vlab/core";
import { describe, expect, it } from "vitest";
import { caption, captions, relations, withArticle } from "../src/captions.js";
import { boxes, counts, pixelBox, questions, questionsOfKind, referringExpression } from "../src/questions.js";
import { COLOR_NAMES, SHAPES, makeScene, sampleScene } from "../src/shapes.js";

// Left: large red circle at (12, 20). Right: small blue square at (44, 20). Above the square:
// small red star at (44, 6).
const scene = makeScene(
  [
    { shape: "circle", color: "red", size: "large", x: 12, y: 20 },
    { shape: "square", color: "blue", size: "small", x: 44, y: 22 },
    { shape: "star", color: "red", size: "small", x: 44, y: 8 },
  ],
  { width: 56, height: 32 },
);
const single = makeScene([{ shape: "triangle", color: "orange", size: "large", x: 16, y: 16 }]);

describe("captions", () => {
  it("name the one object in several phrasings", () => {
    expect(captions(single)).toEqual([
      "an orange triangle",
      "a large orange triangle",
      "a photo of an orange triangle",
      "a photo of a large orange triangle",
      "a picture of an orange triangle",
    ]);
  });

  it("varied: shape-first word orders for one object, and every phrasing also with a full stop", () => {
    const v = captions(single, undefined, { varied: true });
    const base = [
      ...captions(single),
      "a triangle that is orange",
      "a triangle in orange",
      "a photo of a triangle that is orange",
    ];
    expect(v).toEqual([...base, ...base.map((c) => `${c}.`)]);
    const multi = captions(scene, undefined, { varied: true });
    expect(multi).toEqual([...captions(scene), ...captions(scene).map((c) => `${c}.`)]);
    expect(captions(single, new Rng(3), { varied: true }).sort()).toEqual([...v].sort());
  });

  it("list objects left to right and state clear relations", () => {
    const all = captions(scene);
    expect(all).toContain("three shapes: a red circle, a red star and a blue square");
    expect(all).toContain("a photo of a red circle, a red star and a blue square");
    expect(all).toContain("a red circle left of a red star");
    const rel = all.filter((c) => / (left of|right of|above|below) /.test(c));
    expect(rel.map((c) => c.match(/ (left of|right of|above|below) /)![1]).sort()).toEqual([
      "above",
      "below",
      "left of",
      "right of",
    ]);
    const o = Object.fromEntries(scene.objects.map((x) => [`${x.color} ${x.shape}`, x]));
    for (const c of rel) {
      const [, a, r, b] = c.match(/^an? (\w+ \w+) (left of|right of|above|below) an? (\w+ \w+)$/)!;
      expect(relations(o[a!]!, o[b!]!), c).toContain(r);
    }
    // with an rng: shuffled, and the relation captions may come from other pairs
    const shuffled = captions(scene, new Rng(1));
    const plain = (l: string[]) => l.filter((c) => !/ (left of|right of|above|below) /.test(c)).sort();
    expect(plain(shuffled)).toEqual(plain(all));
    expect(shuffled).toHaveLength(all.length);
  });

  it("mention only colours and shapes in the scene", () => {
    const rng = new Rng(9);
    for (let i = 0; i < 100; i++) {
      const s = sampleScene(rng, { objects: [1, 4] });
      const present = new Set(s.objects.flatMap((o) => [o.color, o.shape]));
      const c = caption(s, rng);
      for (const w of [...COLOR_NAMES, ...SHAPES])
        if (new RegExp(`\\b${w}\\b`).test(c)) expect(present.has(w), `${w} in "${c}"`).toBe(true);
      expect(s.objects.filter((o) => c.includes(`${o.color} ${o.shape}`)).length).toBeGreaterThan(0);
    }
  });

  it("helpers", () => {
    expect(withArticle("orange star")).toBe("an orange star");
    expect(withArticle("large red circle")).toBe("a large red circle");
    expect(relations(scene.objects[0]!, scene.objects[1]!)).toEqual(["left of"]);
    expect(relations(scene.objects[2]!, scene.objects[1]!)).toEqual(["above"]);
  });
});

describe("questions", () => {
  it("counts", () => {
    const c = counts(scene);
    expect(c.total).toBe(3);
    expect(c.byColor).toMatchObject({ red: 2, blue: 1, green: 0 });
    expect(c.byShape).toMatchObject({ circle: 1, square: 1, star: 1, hexagon: 0 });
    expect(c.bySize).toEqual({ small: 2, large: 1 });
    expect(c.byPair).toEqual({ "red circle": 1, "blue square": 1, "red star": 1 });
  });

  it("refers to objects by the shortest unique description", () => {
    const [circle, square, star] = scene.objects;
    expect(referringExpression(scene, circle!)).toBe("the circle");
    expect(referringExpression(scene, circle!, ["shape"])).toBe("the large one");
    expect(referringExpression(scene, star!, ["shape"])).toBe("the small red one");
    expect(referringExpression(scene, square!, ["shape"])).toBe("the blue one");
  });

  it("answers are right on a constructed scene", () => {
    const byQ = (kind: Parameters<typeof questionsOfKind>[1]) =>
      Object.fromEntries(questionsOfKind(scene, kind).map((q) => [q.question, q.answer]));
    expect(byQ("color")).toEqual({
      "what color is the circle?": "red",
      "what color is the square?": "blue",
      "what color is the star?": "red",
    });
    expect(byQ("shape")).toEqual({
      "what shape is the large one?": "circle",
      "what shape is the blue one?": "square",
      "what shape is the small red one?": "star",
    });
    expect(byQ("size")).toMatchObject({
      "is the circle small or large?": "large",
      "is the square small or large?": "small",
    });
    expect(byQ("count")).toMatchObject({
      "how many shapes are there?": "3",
      "how many red shapes are there?": "2",
      "how many circles are there?": "1",
    });
    const exists = byQ("exists");
    expect(exists["is there a red circle?"]).toBe("yes");
    expect(exists["is there a blue circle?"]).toBe("no");
    expect(exists["is there an orange star?"]).toBe("no");
    const rel = byQ("relation");
    expect(rel["is the circle left of the square?"]).toBe("yes");
    expect(rel["is the square left of the circle?"]).toBe("no");
    expect(rel["is the star above the square?"]).toBe("yes");
    expect(rel["is the square above the star?"]).toBe("no");
    expect(rel["what is above the square?"]).toBe("red star");
    expect(rel["what is below the star?"]).toBeUndefined(); // the circle and the square both are
    // the star shares the square's column but its centre is not left of it
    expect(rel["what is left of the square?"]).toBe("red circle");
    expect(rel["what is right of the circle?"]).toBeUndefined(); // two objects are
    expect(byQ("box")["where is the circle?"]).toBe(JSON.stringify(pixelBox(scene.objects[0]!.box, 56, 32)));
  });

  it("random questions: one per kind, answers among the choices, yes/no balanced", () => {
    const rng = new Rng(3);
    let yes = 0,
      no = 0;
    for (let i = 0; i < 200; i++) {
      const s = sampleScene(rng, { objects: [1, 4] });
      const qs = questions(s, rng);
      expect(new Set(qs.map((q) => q.kind)).size).toBe(qs.length);
      for (const q of qs) if (q.kind !== "box") expect(q.choices).toContain(q.answer);
      const e = qs.find((q) => q.kind === "exists")!;
      if (e.answer === "yes") yes++;
      else no++;
    }
    expect(yes).toBeGreaterThan(70);
    expect(no).toBeGreaterThan(70);
  });

  it("boxes", () => {
    expect(boxes(single)).toEqual([{ label: "orange triangle", box: single.objects[0]!.box }]);
  });
});
