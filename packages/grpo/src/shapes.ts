/**
 * Shape checks shared by the plain-array and tensor versions of the GRPO functions. Every function
 * here takes either `number[][]` ([B, T]: one row per completion) or a tfjs tensor of that shape;
 * the checks say which argument is wrong and how, before any arithmetic runs.
 */
import { tf } from "@vlab/core";

/** A [B, T] matrix as nested arrays (rows may be typed arrays). */
export type Matrix = readonly ArrayLike<number>[];

export function isTensor(x: unknown): x is tf.Tensor {
  return x instanceof tf.Tensor;
}

/** [B, T] of a rectangular nested array; throws if the rows differ in length. */
export function matrixShape(m: Matrix, fn: string, name: string): [number, number] {
  if (!Array.isArray(m)) throw new Error(`${fn}: ${name} must be number[][] or a tensor`);
  const B = m.length;
  const T = m[0]?.length ?? 0; // 0 rows: [0, 0]; a missing first row is reported below
  m.forEach((row, i) => {
    if (row == null || row.length !== T)
      throw new Error(
        `${fn}: ${name} row ${i} has length ${row?.length}, expected ${T} (rows must be padded to one length)`,
      );
  });
  return [B, T];
}

export function sameShape(fn: string, want: readonly number[], got: readonly number[], name: string): void {
  if (want.length !== got.length || want.some((d, i) => d !== got[i]))
    throw new Error(`${fn}: ${name} has shape [${got.join(", ")}], expected [${want.join(", ")}]`);
}
