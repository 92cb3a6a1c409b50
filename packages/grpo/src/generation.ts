/**
 * Sampling a GRPO step's completions, in one of two ways, each call timed:
 *
 *   "batched"     one call for all B·G rows (`numReturnSequences: G`, each prompt's G rows adjacent): R1-V since
 *                 2025-02, which replaced its loop by `num_return_sequences=G` ("3x speeded up", its README). The
 *                 call gets each prompt and image once; generate runs a prompt's prefill once for its G rows.
 *   "sequential"  G calls, each sampling one completion for every one of the B prompts: the loop of R1-V's first
 *                 release and of open-r1-multimodal (`for i in range(self.num_generations): completion =
 *                 unwrapped_model.generate(**prompt_inputs, generation_config=...)` in its
 *                 `src/open_r1/trainer/grpo_trainer.py`), also VisualThinker-R1-Zero's
 *
 * Call g's completion of prompt b becomes row b·G + g, so the groups lie as in the batched layout. The calls share
 * the step's rng in turn, so a seeded step is reproducible in either mode; the two modes draw different samples
 * (the rng meets the rows in another order), but greedy decoding gives the same completions in both.
 * Either way the calls get the first row of each group, and its image row (all G rows of a group hold its image).
 */
import { tf } from "@vlab/core";
import type { GenerateOptions, GenerateResult } from "@vlab/llm";
import { imageTensor, type Ids, type ImageInput, type Policy } from "./policy.js";

export type GenerationMode = "batched" | "sequential";
export const GENERATION_MODES: readonly GenerationMode[] = ["batched", "sequential"];

export interface GroupGeneration extends GenerateResult {
  /** Wall time of each generate call, in milliseconds (one in "batched" mode, G in "sequential"). */
  callMs: number[];
}

/**
 * The completions of `rows` (B·G prompt rows, each group's G rows adjacent and equal; `image` likewise B·G rows),
 * sampled in `mode` (see the file comment).
 */
export function generateGroups(
  policy: Pick<Policy, "generate">,
  rows: Ids,
  image: ImageInput | null,
  groupSize: number,
  opts: GenerateOptions,
  mode: GenerationMode = "batched",
): GroupGeneration {
  const G = groupSize;
  if (!Number.isInteger(G) || G < 1 || rows.length % G !== 0)
    throw new Error(`generateGroups: ${rows.length} rows are not groups of ${G}`);
  if (!GENERATION_MODES.includes(mode))
    throw new Error(`generateGroups: unknown mode "${mode}" (one of ${GENERATION_MODES.join(", ")})`);
  const B = rows.length / G;
  const firsts = Array.from({ length: B }, (_, b) => b * G);
  const prompts = firsts.map((i) => rows[i] ?? []);
  rows.forEach((row, r) => {
    const first = prompts[Math.floor(r / G)] ?? [];
    if (row.length !== first.length || row.some((t, j) => t !== first[j]))
      throw new Error(`generateGroups: row ${r} differs from the first row of its group of ${G} (row ${r - (r % G)})`);
  });
  const x = imageTensor(image);
  const once = x && image ? oneRowPerGroup(image, x, firsts) : null;
  try {
    if (mode === "batched") {
      const t0 = performance.now();
      const out = policy.generate(prompts, once, { ...opts, numReturnSequences: G });
      const callMs = [performance.now() - t0];
      if (out.tokens.length !== rows.length)
        throw new Error(
          `generateGroups: the policy returned ${out.tokens.length} completions for ${B} prompts with ` +
            `numReturnSequences ${G}; a Policy's generate must return G completions per prompt (GenerateOptions)`,
        );
      return { ...out, callMs };
    }
    const tokens = new Array<number[]>(rows.length);
    const finishReasons = new Array<GenerateResult["finishReasons"][number]>(rows.length);
    const callMs: number[] = [];
    for (let g = 0; g < G; g++) {
      const t0 = performance.now();
      const out = policy.generate(prompts, once, { ...opts, numReturnSequences: 1 });
      callMs.push(performance.now() - t0);
      if (out.tokens.length !== B)
        throw new Error(`generateGroups: call ${g} generated ${out.tokens.length} completions for ${B} prompts`);
      out.tokens.forEach((t, b) => {
        tokens[b * G + g] = t;
        finishReasons[b * G + g] = out.finishReasons[b] ?? "length";
      });
    }
    return { tokens, finishReasons, callMs };
  } finally {
    const t = imageTensor(once);
    if (t) t.dispose();
  }
}

/** The image rows `rows` of an ImageInput (a new tensor the caller disposes). */
function oneRowPerGroup(image: ImageInput, x: tf.Tensor, rows: readonly number[]): ImageInput {
  const picked = tf.tidy(() => tf.gather(x, tf.tensor1d([...rows], "int32")));
  return "features" in image ? { features: picked } : { pixels: picked };
}
