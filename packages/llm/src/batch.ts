/**
 * Batching token sequences of different lengths. Prompts are padded on the LEFT, so that every row
 * ends at the last column and the next generated token of every row is appended in the same place:
 *
 *   prompts   [5, 6, 7]        ids   [[5, 6, 7],      mask [[1, 1, 1],      positions [[0, 1, 2],
 *             [8, 9]                  [0, 8, 9]]            [0, 1, 1]]                  [1, 0, 1]]
 *
 * (positions = cumsum(mask) − 1 with padding set to 1, see `positionsFromMask`).
 */

export interface PaddedBatch {
  /** [B, L] token ids, padding first. */
  ids: number[][];
  /** Shape [B, L]: 1 = token, 0 = padding. */
  attentionMask: number[][];
  /** Length of each sequence before padding. */
  lengths: number[];
  /** L, the padded length (columns of `ids`). */
  width: number;
}

/** Left-pads sequences with `padId` to the longest one (or to `length` if larger). Empty sequences are refused. */
export function leftPad(seqs: readonly (readonly number[])[], padId: number, length = 0): PaddedBatch {
  if (seqs.length === 0) throw new Error("leftPad: no sequences");
  seqs.forEach((s, i) => {
    if (s.length === 0) throw new Error(`leftPad: sequence ${i} is empty`);
  });
  const L = Math.max(length, ...seqs.map((s) => s.length));
  return {
    ids: seqs.map((s) => [...new Array<number>(L - s.length).fill(padId), ...s]),
    attentionMask: seqs.map((s) => [
      ...new Array<number>(L - s.length).fill(0),
      ...new Array<number>(s.length).fill(1),
    ]),
    lengths: seqs.map((s) => s.length),
    width: L,
  };
}

/** Right-pads sequences with `padId` to the longest one (or `length`); empty sequences are allowed. */
export function rightPad(seqs: readonly (readonly number[])[], padId: number, length = 0): PaddedBatch {
  const L = Math.max(length, 0, ...seqs.map((s) => s.length));
  return {
    ids: seqs.map((s) => [...s, ...new Array<number>(L - s.length).fill(padId)]),
    attentionMask: seqs.map((s) => [
      ...new Array<number>(s.length).fill(1),
      ...new Array<number>(L - s.length).fill(0),
    ]),
    lengths: seqs.map((s) => s.length),
    width: L,
  };
}
