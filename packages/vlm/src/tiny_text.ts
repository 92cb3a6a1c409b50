/**
 * What the notebooks' language model (tiny.ts `tinyLm`) learns before it ever sees an image, so that notebooks 03
 * (BLIP-2) and 04 (LLaVA) start from the same frozen-LM recipe: shapes-world text alone, every token supervised.
 *
 *   chats      every instruction sample with its image removed (the LM learns their form and odds, not the answers)
 *   captions   every caption, closed by <|im_end|>
 *   copying    each caption after the scene's object list ("green diamond , orange circle" then "a photo of a green
 *              diamond and an orange circle <|im_end|>"): text whose next words can be read off what came before
 *
 * The last kind stands in for what a large pre-trained LM brings to LLaVA's stage 1 and BLIP-2's stage 2: reading and
 * copying from its context, which soft visual prompts rely on (Lester et al. 2021, "The Power of Scale for
 * Parameter-Efficient Prompt Tuning", found soft prompts weak on small frozen models that lack it).
 *
 * The training is plain next-token cross-entropy on random batches (llm's `sftLoss`), AdamW, warmup (a tenth of the
 * steps) then cosine decay, gradients clipped to norm 1.
 */
import { Rng, train, warmupCosine, type Progress, type TrainResult } from "@vlab/core";
import { IMAGE_PLACEHOLDER, describeObject, leftToRight, type InstructionDataset, type Scene } from "@vlab/data";
import { rightPadWithLabels, sftLoss, type CausalLM, type ChatTokenizer, type LabelledSequence } from "@vlab/llm";
import { toChatMessages, wholeSequenceLabels } from "./llava.js";

/** The scene's objects from left to right, "green diamond , orange circle". */
export function objectList(scene: Scene): string {
  return leftToRight(scene)
    .map((o) => describeObject(o))
    .join(" , ");
}

/** Every text of a dataset the LM reads (to build its tokenizer from): captions, object lists, chats without image. */
export function lmTextCorpus(ds: InstructionDataset): string[] {
  const withoutImage = (s: { turns: readonly { content: string }[] }) =>
    s.turns.map((t) => t.content.replace(IMAGE_PLACEHOLDER, ""));
  return [...ds.allCaptions.flat(), ...ds.scenes.map(objectList), ...ds.instructions.flat().flatMap(withoutImage)];
}

/** The LM's text-only sequences of a dataset (see the file comment), each token supervised. */
export function lmTextSequences(tokenizer: ChatTokenizer, ds: InstructionDataset): LabelledSequence[] {
  const closed = (text: string) => [...tokenizer.encode(text), tokenizer.imEndId];
  const scene = (i: number): Scene => {
    const s = ds.scenes[i];
    if (s === undefined) throw new RangeError(`lmTextSequences: caption list ${i} has no scene`);
    return s;
  };
  const ids = [
    ...ds.instructions.flat().map((s) => tokenizer.encodeChat(toChatMessages(s.turns, 0))),
    ...ds.allCaptions.flat().map(closed),
    ...ds.allCaptions.flatMap((all, i) => all.map((c) => [...tokenizer.encode(objectList(scene(i))), ...closed(c)])),
  ];
  return ids.map((row) => ({ ids: row, labels: wholeSequenceLabels(row, tokenizer) }));
}

export interface PretrainLmOptions {
  steps: number;
  /** Sequences per step (default 32). */
  batch?: number;
  /** Peak learning rate (default 3e-3). */
  lr?: number;
  /** Seed of the batches drawn. */
  seed: number;
  progress?: Progress;
}

/** Trains `lm` on `seqs` (`lmTextSequences`), see the file comment. */
export async function pretrainLmOnText(
  lm: CausalLM,
  seqs: readonly LabelledSequence[],
  opts: PretrainLmOptions,
): Promise<TrainResult> {
  const { steps, batch = 32, lr = 3e-3 } = opts;
  if (seqs.length === 0) throw new Error("pretrainLmOnText: no sequences to train on");
  const padId = lm.config.padTokenId;
  const rng = new Rng(opts.seed);
  return train({
    params: lm,
    steps,
    lr: warmupCosine({ lr, warmupSteps: Math.round(steps / 10), totalSteps: steps }),
    clip: 1,
    loss: () => {
      const picks = Array.from({ length: batch }, () => seqs[rng.int(seqs.length)] as LabelledSequence);
      const b = rightPadWithLabels(picks, padId);
      return sftLoss(lm.forward(b.ids, { attentionMask: b.attentionMask }), b.labels);
    },
    progress: opts.progress,
  });
}
