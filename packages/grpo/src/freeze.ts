/**
 * Freezing parts of the policy during GRPO: VisualThinker-R1-Zero's `--freeze_vision` / `--freeze_llm`
 * (turningpoint-ai/VisualThinker-R1-Zero, `src/open-r1-multimodal/src/open_r1/grpo.py`, `main`):
 *
 *   if script_args.freeze_vision: trainer.model.visual.requires_grad_ = False
 *   elif script_args.freeze_llm:  trainer.model.model.requires_grad_ = False
 *
 * What the flags mean on Qwen2-VL (transformers' `Qwen2VLForConditionalGeneration` of that time):
 * `model.visual` is the vision tower with its patch merger (the projector to the LM width lives inside it), and
 * `model.model` is the LM body (embeddings, decoder layers, final norm) — not `lm_head`. So freeze_vision freezes the
 * tower and the merger; freeze_llm freezes the LM body and leaves `lm_head` (and the vision side) trainable. With
 * tied embeddings (`tie_word_embeddings`, the tiny VLMs of vlab) the head *is* the embedding matrix, so freezing the
 * body freezes the head too, as in PyTorch, where they are one Parameter.
 *
 * Which parameter is which, by its dotted name (`namedParameters()`), for the policies the trainer supports:
 *
 * | policy                    | vision (`visual`)            | LM body (`model`)         | neither: trainable      |
 * |---------------------------|------------------------------|---------------------------|-------------------------|
 * | vlm.Qwen2VL (HF names)    | `visual.*` (tower + merger)  | `model.*`                 | `lm_head.*`             |
 * | vlm.Llava (HF LLaVA names)| `vision_tower.*`             | `language_model.model.*`  | `multi_modal_projector.*`,|
 * |                           |                              |                           | `language_model.lm_head.*`|
 * | textPolicy(CausalLM)      | none                         | `model.*`                 | `lm_head.*`             |
 *
 * LLaVA's projector is its own module beside the tower (`multi_modal_projector`), so freezeVision leaves it
 * trainable — the same split as LLaVA's own training stages, which freeze the tower and train the projector.
 *
 * ⚠ VisualThinker's lines *assign an attribute* named `requires_grad_` (shadowing the method) instead of calling
 * `requires_grad_(False)`: neither flag freezes anything, and because of the `elif` only one is ever looked at.
 * `faithfulFreeze: true` reproduces that: nothing is frozen whatever the flags say (the plan still reports which
 * flag VisualThinker would have looked at). By default the flags really freeze, both at once if both are set.
 *
 * Freezing here is the trainer's, not the model's: frozen parameters are left out of the trainer's parameter list —
 * no gradient is computed for them, the optimizer never holds them, the reference copy and the checkpoint skip them
 * — and the policy's own `trainable` flags are not touched (a later SFT run or trainer sees the model as it was).
 * Parameters the model itself already froze (`Module.freeze()`, e.g. `Llava.stage(2)`'s vision tower) stay frozen.
 */
import type { tf } from "@vlab/core";

/** The freeze options of `GrpoConfig` (VisualThinker's flag names, camel-cased). */
export interface FreezeOptions {
  /** Freeze the vision side (VisualThinker `--freeze_vision`: `model.visual`). Default false. */
  freezeVision?: boolean;
  /** Freeze the LM body (VisualThinker `--freeze_llm`: `model.model`; lm_head stays trainable). Default false. */
  freezeLlm?: boolean;
  /** Reproduce VisualThinker's bug: the flags freeze nothing (and freezeLlm is not looked at when freezeVision is). */
  faithfulFreeze?: boolean;
}

/** Where a parameter belongs, by name (see the table in the file comment). */
export type ParameterPart = "vision" | "llm" | "other";

/** Name prefixes of the vision side: Qwen2-VL's `visual.` (tower and merger), LLaVA's `vision_tower.`. */
export const VISION_PREFIXES: readonly string[] = ["visual.", "vision_tower."];
/** Name prefixes of the LM body: Qwen2-VL's and a CausalLM's `model.`, LLaVA's `language_model.model.`. */
export const LLM_BODY_PREFIXES: readonly string[] = ["model.", "language_model.model."];

/** The part a parameter belongs to, from its dotted name. */
export function parameterPart(name: string): ParameterPart {
  if (VISION_PREFIXES.some((p) => name.startsWith(p))) return "vision";
  if (LLM_BODY_PREFIXES.some((p) => name.startsWith(p))) return "llm";
  return "other";
}

export interface FreezePlan {
  /** The parameters the trainer trains: trainable in the model and not frozen by the options (model order). */
  trainable: [string, tf.Variable][];
  /** Names the options froze (parameters the model had already frozen are not listed). */
  frozen: string[];
  /**
   * The flag VisualThinker's `if … elif` would look at: "vision" if freezeVision, else "llm" if freezeLlm, else null.
   * With faithfulFreeze it freezes nothing either way.
   */
  considered: "vision" | "llm" | null;
}

/**
 * Which of the policy's parameters a trainer trains under the freeze options. `named` is every parameter of the
 * policy with its name (`policy.namedParameters()`), frozen ones included. Throws a clear error when a flag names a
 * part the policy does not have, or when the freeze leaves nothing to train.
 */
export function freezePlan(named: readonly [string, tf.Variable][], opts: FreezeOptions = {}): FreezePlan {
  const fn = "GrpoTrainer (freeze)";
  const vision = opts.freezeVision === true;
  const llm = opts.freezeLlm === true;
  const considered = vision ? "vision" : llm ? "llm" : null;
  const has = (part: ParameterPart) => named.some(([n]) => parameterPart(n) === part);
  if (vision && !has("vision"))
    throw new Error(
      `${fn}: freezeVision, but the policy has no vision parameters (names starting with ` +
        `${VISION_PREFIXES.join(" or ")}); a text-only policy has nothing to freeze there`,
    );
  if (llm && !has("llm"))
    throw new Error(
      `${fn}: freezeLlm, but the policy has no LM-body parameters (names starting with ` +
        `${LLM_BODY_PREFIXES.join(" or ")})`,
    );
  const frozenParts = new Set<ParameterPart>();
  if (opts.faithfulFreeze !== true) {
    if (vision) frozenParts.add("vision");
    if (llm) frozenParts.add("llm");
  }
  const trainable: [string, tf.Variable][] = [];
  const frozen: string[] = [];
  for (const [n, v] of named) {
    if (!v.trainable) continue;
    if (frozenParts.has(parameterPart(n))) frozen.push(n);
    else trainable.push([n, v]);
  }
  if (trainable.length === 0) {
    const what = [...frozenParts].map((p) => (p === "vision" ? "freezeVision" : "freezeLlm")).join(" and ");
    throw new Error(
      what
        ? `${fn}: ${what} leave nothing to train (${frozen.length} parameters frozen; the rest of the policy was ` +
            `already frozen in the model, or it has no parameters outside the frozen parts)`
        : "GrpoTrainer: the policy has no trainable parameters",
    );
  }
  return { trainable, frozen, considered };
}
