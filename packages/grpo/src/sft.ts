/**
 * The supervised baseline R1-V compares GRPO against: fine-tune the same policy on the same prompts,
 * with the ground-truth answer (formatted as the rewards expect it, e.g. "<think> … </think>
 * <answer> 3 </answer>") as the target.
 *
 *   sequence   prompt ⊕ answer ⊕ stop            (stop = the tokenizer's first stop id, `<|im_end|>`)
 *   labels     −100 on the prompt and padding; the answer tokens and the stop token supervised
 *   loss       sftLoss (@vlab/llm): mean next-token cross-entropy over the supervised tokens
 *
 * The prompt already ends with the assistant header (`<|im_start|>assistant\n`), as GRPO samples
 * after it, so the labels are exactly the tokens GRPO would generate; learning the stop token
 * teaches the model where an answer ends. Training runs through core's `train` (NaN guard, clipping,
 * interrupt); batches are `batchSize` prompts drawn without replacement, reshuffled each epoch from
 * (seed, epoch). A policy without `forward` is trained on the same quantity from `logProbs`.
 */
import { AdamW, Rng, tf, train, type HistoryEntry, type Progress } from "@vlab/core";
import { IGNORE_INDEX, rightPadWithLabels, sftLoss } from "@vlab/llm";
import {
  batchImage,
  imageTensor,
  namedTrainable,
  type BatchImages,
  type Ids,
  type ImageInput,
  type Policy,
} from "./policy.js";

/** What the baseline needs of a tokenizer (a ChatTokenizer has it). */
export interface SftTokenizer {
  encode(text: string): number[];
  decode?(ids: ArrayLike<number>, opts?: { skipSpecial?: boolean }): string;
  readonly stopIds: readonly number[];
  readonly padId: number;
}

/** The answer's ids followed by the stop id: what the model should generate after the prompt. */
export function answerIds(tokenizer: SftTokenizer, answer: string): number[] {
  const stop = tokenizer.stopIds[0];
  if (stop === undefined) throw new Error("answerIds: the tokenizer has no stop ids");
  return [...tokenizer.encode(answer), stop];
}

/** One training sequence: ids = prompt ⊕ answer ⊕ stop, labels −100 on the prompt. */
export function sftExample(
  tokenizer: SftTokenizer,
  prompt: readonly number[],
  answer: string,
): { ids: number[]; labels: number[] } {
  const target = answerIds(tokenizer, answer);
  return { ids: [...prompt, ...target], labels: [...new Array<number>(prompt.length).fill(IGNORE_INDEX), ...target] };
}

/**
 * Mean cross-entropy of the answers (and their stop token) after the prompts: a differentiable scalar.
 * `image` holds one image per prompt row.
 */
export function sftAnswerLoss(
  policy: Policy,
  tokenizer: SftTokenizer,
  prompts: Ids,
  answers: readonly string[],
  image: ImageInput | null = null,
): tf.Scalar {
  if (prompts.length !== answers.length)
    throw new Error(`sftAnswerLoss: ${prompts.length} prompts but ${answers.length} answers`);
  if (prompts.length === 0) throw new Error("sftAnswerLoss: no prompts");
  const targets = answers.map((a) => answerIds(tokenizer, a));
  const forward = policy.forward?.bind(policy);
  if (forward) {
    const examples = prompts.map((p, i) => {
      const target = at(targets, i, "sftAnswerLoss", "answer");
      return { ids: [...p, ...target], labels: [...new Array<number>(p.length).fill(IGNORE_INDEX), ...target] };
    });
    const { ids, attentionMask, labels } = rightPadWithLabels(examples, tokenizer.padId);
    return tf.tidy(() => sftLoss(forward(ids, image, { attentionMask }), labels));
  }
  return tf.tidy(() => {
    const { logProbs, mask } = policy.logProbs(prompts, targets, image, { padId: tokenizer.padId });
    return tf.div(tf.neg(tf.sum(tf.mul(logProbs, mask))), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}

export interface SftBaselineOptions extends BatchImages {
  policy: Policy;
  tokenizer: SftTokenizer;
  /** The GRPO prompts (token ids ending with the assistant header). */
  prompts: Ids;
  /** The ground-truth answers, formatted as the rewards expect. */
  answers: readonly string[];
  steps: number;
  /** Prompts per step. */
  batchSize: number;
  /** A constant or a schedule `step => lr`. */
  lr: number | ((step: number) => number);
  /** Seed of the batch order. */
  seed: number;
  /** Clip gradients to this global norm (default 1, HF Trainer's). */
  maxGradNorm?: number;
  /** AdamW decoupled weight decay (default 0, HF Trainer's). */
  weightDecay?: number;
  /** Run `evalFn(step)` after every `evalEvery` completed steps and after the last (core `train`'s). */
  evalEvery?: number;
  evalFn?: (step: number) => Record<string, number> | Promise<Record<string, number>>;
  progress?: Progress;
}

export interface SftBaselineResult {
  /** Per step: step, loss, lr, gradNorm. */
  history: HistoryEntry[];
  /** What `evalFn` returned, with the step after which it ran. */
  evals: ({ step: number } & Record<string, number>)[];
  stopped: "done" | "interrupted";
  wallMs: number;
}

/** Indices of the prompts in step `step`'s batch: epochs of seeded shuffles, `batchSize` at a time. */
export function sftBatchIndices(
  n: number,
  batchSize: number,
  seed: number,
  step: number,
  cache = new Map<number, number[]>(),
): number[] {
  const perm = (epoch: number) => {
    let p = cache.get(epoch);
    if (!p) {
      p = new Rng((epoch + 1) * 4294967296 + (seed >>> 0)).shuffle(Array.from({ length: n }, (_, i) => i));
      cache.set(epoch, p);
    }
    return p;
  };
  return Array.from({ length: batchSize }, (_, j) => {
    const k = step * batchSize + j;
    return at(perm(Math.floor(k / n)), k % n, "sftBatchIndices", "permutation entry");
  });
}

/** Supervised fine-tuning on (prompt, answer) pairs: the baseline R1-V compares GRPO with. */
export async function sftBaseline(opts: SftBaselineOptions): Promise<SftBaselineResult> {
  const { policy, tokenizer, prompts, answers, steps, batchSize, seed } = opts;
  const n = prompts.length;
  if (answers.length !== n) throw new Error(`sftBaseline: ${n} prompts but ${answers.length} answers`);
  if (n === 0) throw new Error("sftBaseline: no prompts");
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`sftBaseline: batchSize must be a positive integer, got ${batchSize}`);
  const images = opts.features ?? opts.pixels;
  if (images && images.shape[0] !== n)
    throw new Error(`sftBaseline: ${n} prompts but the images have leading dimension ${images.shape[0]}`);
  const named = namedTrainable(policy);
  const lr0 = typeof opts.lr === "function" ? opts.lr(0) : opts.lr;
  const optimizer = new AdamW(named, { lr: lr0, weightDecay: opts.weightDecay ?? 0 });
  const perms = new Map<number, number[]>();
  try {
    const r = await train({
      params: named.map(([, v]) => v),
      optimizer,
      steps,
      lr: opts.lr,
      clip: opts.maxGradNorm ?? 1,
      progress: opts.progress,
      evalEvery: opts.evalEvery,
      evalFn: opts.evalFn,
      loss: (step) => {
        const idx = sftBatchIndices(n, batchSize, seed, step, perms);
        // Inside train's tidy: the gathered images live until the gradients are computed, then are freed.
        const rows = images ? tf.gather(images, tf.tensor1d(idx, "int32")) : null;
        const image: ImageInput | null = rows ? (opts.features ? { features: rows } : { pixels: rows }) : null;
        return sftAnswerLoss(
          policy,
          tokenizer,
          idx.map((i) => at(prompts, i, "sftBaseline", "prompt")),
          idx.map((i) => at(answers, i, "sftBaseline", "answer")),
          image,
        );
      },
    });
    return { history: r.history, evals: r.evals, stopped: r.stopped, wallMs: r.wallMs };
  } finally {
    optimizer.dispose();
  }
}

/** xs[i], or a clear error naming `fn` when i is out of range. */
function at<T>(xs: readonly T[], i: number, fn: string, what: string): T {
  const x = xs[i];
  if (x === undefined) throw new RangeError(`${fn}: no ${what} at index ${i} (${xs.length} given)`);
  return x;
}

/** Greedy completions of prompts (one image per prompt), decoded: how a trained policy answers. */
export function greedyCompletions(
  policy: Policy,
  tokenizer: {
    decode(ids: ArrayLike<number>, opts?: { skipSpecial?: boolean }): string;
    readonly stopIds: readonly number[];
    readonly padId: number;
  },
  prompts: Ids,
  opts: BatchImages & { maxNewTokens?: number } = {},
): { texts: string[]; tokens: number[][] } {
  const image = batchImage(opts, prompts.length, 1, "greedyCompletions");
  try {
    const { tokens } = policy.generate(prompts, image, {
      greedy: true,
      maxNewTokens: opts.maxNewTokens ?? 32,
      stopIds: tokenizer.stopIds,
      padId: tokenizer.padId,
    });
    return { texts: tokens.map((t) => tokenizer.decode(t, { skipSpecial: true })), tokens };
  } finally {
    imageTensor(image)?.dispose();
  }
}
