// Random strings for fuzz and differential tests: concatenations of fragments that the reward
// parsers care about (tags, halves of tags, digits in several scripts, Python-only and JS-only
// whitespace, JSON pieces, option letters, a lone surrogate), from a seeded generator.

/** xorshift32: a tiny seeded generator, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

export const FRAGMENTS = [
  "<think>",
  "</think>",
  "<answer>",
  "</answer>",
  "<think",
  "</answer",
  "answer>",
  "<",
  ">",
  "/",
  "\n",
  " ",
  "  ",
  "\t",
  "\r",
  "\v",
  "\x85",
  "\x1c",
  "\u3000",
  "\u2028",
  "\ufeff",
  "\xa0",
  "0",
  "1",
  "3",
  "4",
  "42",
  "007",
  "-",
  ".",
  ",",
  "=",
  "e",
  "3.5",
  "1/2",
  "1,000",
  "[",
  "]",
  "{",
  "}",
  "(",
  ")",
  "[[",
  "]]",
  ":",
  "'",
  '"',
  "'Position'",
  "'Confidence'",
  "0.9",
  "[0,0,10,10]",
  "[1, 2, 30, 40]",
  "[5,5,15,15]",
  "{'Position': [0,0,10,10], 'Confidence': 0.8}",
  "{'Position': [20,20,30,30], 'Confidence': 0.3}",
  "A",
  "B",
  "H",
  "I",
  "a",
  "x",
  "Sure. ",
  "I count 3 objects.",
  "Answer: ",
  "answer is 7",
  "**",
  "é",
  "٣",
  "３",
  "𝟑",
  "😀",
  "\ud800",
  "$",
  "\\boxed{3}",
  "_",
  "cat",
  "Cat_Dog",
];

/** A string of 0..maxParts random fragments. */
export function randomString(rand: () => number, maxParts = 20): string {
  const n = Math.floor(rand() * (maxParts + 1));
  let s = "";
  for (let i = 0; i < n; i++) s += FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)]!;
  return s;
}

/** Random strings that more often have the think/answer shape (so both outcomes are common). */
export function shapedString(rand: () => number): string {
  const r = () => randomString(rand, 4);
  const parts = [r(), "<think>", r(), "</think>", r(), "<answer>", r(), "</answer>", r()];
  return parts.filter(() => rand() < 0.85).join("");
}

/** Random strings shaped like VLM-R1 REC answers: think/answer with braces and box-like pieces inside. */
export function recString(rand: () => number): string {
  const r = () => randomString(rand, 3);
  const box = () =>
    ["[1, 2, 30, 40]", "[1,2,3]", "[١, ٢, ٣٠, ٤٠]", "[1.5, 2, 3, 4]", "[0,0,10,10]", "[ 1, 2, 3, 4]"][
      Math.floor(rand() * 6)
    ]!;
  const parts = [
    r(),
    "<think>",
    r(),
    "</think>",
    r(),
    "<answer>",
    r(),
    "{",
    r(),
    box(),
    r(),
    "}",
    r(),
    "</answer>",
    r(),
  ];
  return parts.filter(() => rand() < 0.9).join("");
}

/** Random strings shaped like Visual-RFT detection answers (sometimes truncated or malformed). */
export function detectionString(rand: () => number): string {
  const items = Array.from({ length: Math.floor(rand() * 4) }, () => {
    const x = Math.floor(rand() * 25);
    const y = Math.floor(rand() * 25);
    const box =
      rand() < 0.4
        ? "[0,0,10,10]"
        : `[${x}, ${y}, ${x + 1 + Math.floor(rand() * 12)}, ${y + 1 + Math.floor(rand() * 12)}]`;
    return `{'Position': ${box}, 'Confidence': ${Math.round(rand() * 100) / 100}}`;
  });
  let list = "[" + items.join(", ") + "]";
  if (rand() < 0.2) list = list.slice(0, Math.floor(rand() * list.length)); // cut off mid-way
  if (rand() < 0.1) list = list.replace("[", "[[") + "]";
  return (
    `<think>${randomString(rand, 3)}</think>${rand() < 0.5 ? "\n" : ""}` +
    `<answer>${list}</answer>${rand() < 0.1 ? randomString(rand, 3) : ""}`
  );
}
