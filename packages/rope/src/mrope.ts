/**
 * Multimodal RoPE (M-RoPE) of Qwen2-VL's language model (Wang et al. 2024, "Qwen2-VL", the M-RoPE
 * section; huggingface/transformers models/qwen2_vl/modeling_qwen2_vl.py `apply_multimodal_rotary_pos_emb`). Every
 * token has three position ids (t, h, w); text tokens have
 * the same value on all three. The d/2 frequency slots are split into sections, default
 * [16, 24, 24] for head_dim 128: slots [0, 16) turn with the temporal position, [16, 40) with the
 * height and [40, 64) with the width; the second copy of each slot (dim j + d/2) follows the same rule.
 *
 *   cos_a = cos(concat(pos_a · inv_freq, pos_a · inv_freq))      per axis a ∈ {t, h, w}, [B, T, d]
 *   sec   = section ++ section                                  [16, 24, 24, 16, 24, 24]
 *   cos   = concat(chunk_i of cos_{i mod 3} for chunk_i in split(·, sec))
 *
 * With (t, h, w) all equal this is exactly 1-D RoPE — the same table rows are picked on every axis.
 */
import { tf } from "@vlab/core";
import { flattenPositions, type CosSin, type PositionIds, type RotaryEmbedding } from "./rope.js";

/** Qwen2-VL's `mrope_section` for head_dim 128. */
export const QWEN2_VL_MROPE_SECTION = [16, 24, 24] as const;

function checkSection(section: readonly number[], half: number): void {
  const sum = section.reduce((a, b) => a + b, 0);
  if (section.length === 0 || section.some((s) => !Number.isInteger(s) || s < 0) || sum !== half) {
    throw new RangeError(
      `M-RoPE: section [${section.join(", ")}] must be non-negative integers summing to head_dim/2 = ${half} (sums ` +
        `to ${sum})`,
    );
  }
}

/** The axis (0 = t, 1 = h, 2 = w, …) that drives each of the d/2 frequency slots. */
export function mropeSlotAxes(section: readonly number[]): number[] {
  const out: number[] = [];
  section.forEach((n, axis) => {
    for (let i = 0; i < n; i++) out.push(axis);
  });
  return out;
}

/**
 * The d/2 angles of one token with per-axis positions (e.g. [t, h, w]): slot j turns by
 * pos[axis(j)] · inv_freq[j] (float64, for inspection and tests).
 */
export function mropeAngles(
  rope: RotaryEmbedding,
  positions: readonly number[],
  section: readonly number[] = QWEN2_VL_MROPE_SECTION,
): Float64Array {
  checkSection(section, rope.dim / 2);
  if (positions.length !== section.length)
    throw new RangeError(`M-RoPE: ${section.length} axes in the section, ${positions.length} positions given`);
  const axes = mropeSlotAxes(section);
  return rope.invFreq.map((f, j) => {
    const axis = axes[j];
    const p = axis === undefined ? undefined : positions[axis];
    if (p === undefined) throw new RangeError(`M-RoPE: frequency slot ${j} has no axis in the section`);
    return p * f;
  });
}

/**
 * cos and sin [B, T, d] for per-axis position ids [A][B][T] (A = section.length, 3 for t/h/w) or an
 * int tensor [A, B, T], mixing the frequency slots of the axes by `section`.
 */
export function mropeCosSin(
  rope: RotaryEmbedding,
  positionIds: readonly PositionIds[] | tf.Tensor,
  section: readonly number[] = QWEN2_VL_MROPE_SECTION,
): CosSin {
  const d = rope.dim;
  checkSection(section, d / 2);
  const perAxis: PositionIds[] =
    positionIds instanceof tf.Tensor ? tf.tidy(() => tf.unstack(positionIds)) : [...positionIds];
  try {
    if (perAxis.length !== section.length)
      throw new RangeError(`M-RoPE: ${section.length} axes in the section, position ids for ${perAxis.length} given`);
    const flat = perAxis.map((p, a) => flattenPositions(p, `positionIds[${a}]`));
    const [first] = flat;
    if (!first) throw new RangeError("M-RoPE: no position ids given");
    const { shape } = first;
    if (flat.some((f) => f.shape[0] !== shape[0] || f.shape[1] !== shape[1]))
      throw new Error(`M-RoPE: the axes' position ids differ in shape`);
    rope.ensure(Math.max(...flat.map((f) => f.max)));
    return tf.tidy(() => {
      const rows = flat.map((f) => rope.gatherRows(f.data, f.max)); // per axis: [B·T, d]
      const chunks = [...section, ...section]; // the second copy of the slots follows the same rule
      const pick = (which: "cos" | "sin") => {
        const parts: tf.Tensor[] = [];
        let offset = 0;
        chunks.forEach((width, i) => {
          const axisRows = rows[i % section.length]; // one per axis (checked above)
          if (!axisRows) throw new RangeError(`M-RoPE: no position ids for axis ${i % section.length}`);
          if (width > 0) parts.push(tf.slice(axisRows[which], [0, offset], [-1, width]));
          offset += width;
        });
        return tf.reshape(tf.concat(parts, -1), [...shape, d]) as tf.Tensor3D; // [B, T, d]
      };
      return { cos: pick("cos"), sin: pick("sin") };
    });
  } finally {
    if (positionIds instanceof tf.Tensor) tf.dispose(perAxis as tf.Tensor[]);
  }
}
