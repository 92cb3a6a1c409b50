/**
 * The attention masks of BLIP-2's three stage-1 objectives (Li et al. 2023, sec. 3.2 and Figure 2): which keys each
 * row of the Q-Former's shared self-attention may see. Q = the N learned queries, T = the L text tokens.
 *
 *   objective   Q rows see   T rows see               LAVIS (salesforce/LAVIS, lavis/models/blip2_models/)
 *   ITC         Q            T (not padding)          two passes: queries alone, text alone (`Blip2Qformer.forward`)
 *   ITM         Q + T        Q + T (not padding)      one pass over [Q; T], 2-D mask cat(ones(N), text mask)
 *   ITG         Q            Q + T[≤ i] (not pad.)    Qformer.py `BertModel.get_extended_attention_mask`, is_decoder
 *
 * `extendedAttentionMask` is LAVIS's `get_extended_attention_mask` (Qformer.py) as 0/1 numbers: for a decoder,
 * causal[i][j] = j ≤ i over the L text positions; when the 2-D mask is longer (N query keys in front), N rows of
 * zeros are put above it if `hasQuery` (the "UniLM" mask: queries do not see the text), then N columns of ones to
 * its left (every row sees the queries); the result is multiplied by the 2-D padding mask over the keys. For an
 * encoder it is the padding mask alone, one row that every query row shares. ITG's training pass has no query rows
 * (`hasQuery` false): the query keys and values come from the ITC query pass (blip2.ts).
 *
 * Masks here are "keep" numbers [B][R][S] (1 = may attend); R = 1 is a row every query shares. `additiveMask` turns
 * them into the additive [B, 1, R, S] tensor attention adds to its scores: 0 or core's MASK_MIN (LAVIS uses −10000;
 * both give exactly zero weight in float32 to a hidden key of a row that sees any key).
 */
import { MASK_MIN, tf } from "@vlab/core";

/** 1 where a row may attend to a key, 0 where not: [B][R][S] (R = 1: one row shared by every query row). */
export type KeepMask = number[][][];

/** A 2-D 0/1 mask [B][S]: 1 = token, 0 = padding. */
export type Mask2d = readonly (readonly number[])[];

function checkMask2d(where: string, mask: Mask2d): number {
  const S = mask[0]?.length ?? 0;
  mask.forEach((row, b) => {
    if (row.length !== S) throw new Error(`${where}: mask row ${b} has ${row.length} entries, row 0 has ${S}`);
    row.forEach((v, j) => {
      if (v !== 0 && v !== 1) throw new RangeError(`${where}: mask[${b}][${j}] is ${v}; masks hold 0 or 1`);
    });
  });
  return S;
}

function checkCount(where: string, what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${where}: ${what} must be a non-negative integer, got ${n}`);
}

/** [1 × N, ...mask] for each row: the query keys (never padding) in front of the text's mask. */
export function withQueryKeys(numQueries: number, textMask: Mask2d): number[][] {
  checkCount("withQueryKeys", "numQueries", numQueries);
  checkMask2d("withQueryKeys", textMask);
  return textMask.map((row) => [...new Array<number>(numQueries).fill(1), ...row]);
}

export interface ExtendedMaskOptions {
  /** A decoder (causal over the text) or an encoder (the padding mask only). */
  isDecoder: boolean;
  /** Decoder: the text length L (the causal block); the 2-D mask may be longer by the query keys in front. */
  textLength?: number;
  /** Decoder: the query rows are part of the pass (UniLM mask: zero rows above the causal block). */
  hasQuery?: boolean;
}

/** LAVIS's `get_extended_attention_mask` on a 2-D mask [B][S] (see the file comment). */
export function extendedAttentionMask(mask2d: Mask2d, opts: ExtendedMaskOptions): KeepMask {
  const S = checkMask2d("extendedAttentionMask", mask2d);
  if (!opts.isDecoder) return mask2d.map((row) => [[...row]]);
  const L = opts.textLength ?? S;
  checkCount("extendedAttentionMask", "textLength", L);
  if (L > S) throw new RangeError(`extendedAttentionMask: textLength ${L} is longer than the mask's ${S} keys`);
  const prefix = S - L; // query keys in front
  const rows = opts.hasQuery ? S : L;
  return mask2d.map((pad) =>
    Array.from({ length: rows }, (_, r) => {
      const i = opts.hasQuery ? r - prefix : r; // the text position of this row; < 0 for a query row
      // every row sees the query keys; text keys causally, and by text rows only
      return pad.map((p, j) => (j < prefix || (i >= 0 && j - prefix <= i) ? p : 0));
    }),
  );
}

/** ITC's text pass: the text alone, bidirectional, padding hidden: [B][1][L]. (Its query pass has no mask.) */
export function itcTextMask(textMask: Mask2d): KeepMask {
  return extendedAttentionMask(textMask, { isDecoder: false });
}

/** ITM: queries and text see each other fully, padding hidden: [B][1][N + L]. */
export function itmMask(numQueries: number, textMask: Mask2d): KeepMask {
  return extendedAttentionMask(withQueryKeys(numQueries, textMask), { isDecoder: false });
}

/**
 * ITG: query rows see the queries only; text row i sees the queries and text 0..i; padding hidden. With `hasQuery`
 * (the joint pass of generation's first step) [B][N + L][N + L]; without (training: text rows only, the query keys
 * cached from the ITC pass) [B][L][N + L].
 */
export function itgMask(numQueries: number, textMask: Mask2d, opts: { hasQuery?: boolean } = {}): KeepMask {
  const L = textMask[0]?.length ?? 0;
  return extendedAttentionMask(withQueryKeys(numQueries, textMask), {
    isDecoder: true,
    textLength: L,
    hasQuery: opts.hasQuery ?? true,
  });
}

export type Blip2Objective = "itc" | "itm" | "itg";

/**
 * One example's mask over the joint sequence [Q; T], (N + L) × (N + L), for pictures and comparison: ITC as the
 * block diagonal of its two separate passes, ITM and ITG as above.
 */
export function jointMask(objective: Blip2Objective, numQueries: number, textMask: readonly number[]): number[][] {
  const N = numQueries;
  const S = N + textMask.length;
  let keep: number[][];
  if (objective === "itg") keep = itgMask(N, [textMask], { hasQuery: true })[0] ?? [];
  else if (objective === "itm") keep = new Array<number[]>(S).fill(itmMask(N, [textMask])[0]?.[0] ?? []);
  else if (objective === "itc") {
    const text = itcTextMask([textMask])[0]?.[0] ?? [];
    keep = Array.from({ length: S }, (_, r) =>
      Array.from({ length: S }, (_, j) => (r < N ? (j < N ? 1 : 0) : j < N ? 0 : (text[j - N] ?? 0))),
    );
  } else throw new RangeError(`jointMask: objective must be "itc", "itm" or "itg", got "${String(objective)}"`);
  return keep.map((row) => [...row]);
}

/** Keep numbers [B][R][S] → the additive mask [B, 1, R, S]: 0 where kept, MASK_MIN where hidden. */
export function additiveMask(keep: KeepMask): tf.Tensor4D {
  const B = keep.length;
  const R = keep[0]?.length ?? 0;
  const S = keep[0]?.[0]?.length ?? 0;
  const out = new Float32Array(B * R * S);
  keep.forEach((rows, b) => {
    if (rows.length !== R) throw new Error(`additiveMask: example ${b} has ${rows.length} rows, example 0 has ${R}`);
    rows.forEach((row, r) => {
      if (row.length !== S) throw new Error(`additiveMask: row [${b}][${r}] has ${row.length} keys, expected ${S}`);
      row.forEach((v, j) => (out[(b * R + r) * S + j] = v ? 0 : MASK_MIN));
    });
  });
  return tf.tensor4d(out, [B, 1, R, S]);
}
