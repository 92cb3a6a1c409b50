/**
 * `_FusedMatMul` (`tf.fused.matMul`) on wasm: BatchMatMul, then Add, then the activation, unless it
 * is one plain product with a rank-1 bias.
 *
 * tfjs-backend-wasm 4.22's kernel gives wrong results with a bias and a transposed operand or a
 * batch: it adds the bias to the wrong elements (e.g. [3, 4]ᵀ·[4, 2] + [1, 2]: 2,0,7,0,1,5 instead
 * of 2,0,6,0,0,5), and it rejects any bias that is not rank 1. Everything but one plain product
 * with a rank-1 bias therefore runs as BatchMatMul (so the XNNPACK route of BatchMatMul.ts, or the
 * native one), then Add and the activation:
 *
 *   y = act(op(a) · op(b) + bias)
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { kernelFuncOf, size, type KernelArgs, type ReplacedKernel, type TensorInfo } from "./kernel_utils.js";

/** wasm kernels applying each fusable activation. */
const ACTIVATION_KERNELS: Record<string, string> = {
  relu: "Relu",
  relu6: "Relu6",
  elu: "Elu",
  sigmoid: "Sigmoid",
  leakyrelu: "LeakyRelu",
  prelu: "Prelu",
};

/**
 * y + bias, then the activation, with the registered wasm kernels; `y` is consumed (disposed when
 * replaced). Shared with native_kernels/_FusedMatMul.ts for the cases its addon does not fuse.
 */
export function applyBiasAndActivation(
  be: BackendWasm,
  y: TensorInfo,
  bias: TensorInfo | undefined,
  activation: string,
  prelu: TensorInfo | undefined,
  leakyAlpha: number,
): TensorInfo {
  if (bias) {
    const withBias = kernelFuncOf("Add", "wasm")({ inputs: { a: y, b: bias }, backend: be, attrs: {} }) as TensorInfo;
    be.disposeData(y.dataId);
    y = withBias;
  }
  if (activation && activation !== "linear") {
    const kernelName = ACTIVATION_KERNELS[activation];
    if (!kernelName) {
      be.disposeData(y.dataId);
      throw new Error(`_FusedMatMul: unknown activation '${activation}'`);
    }
    let inputs: tf.NamedTensorInfoMap = { x: y };
    if (activation === "prelu") {
      if (!prelu) {
        be.disposeData(y.dataId);
        throw new Error("_FusedMatMul: activation 'prelu' without preluActivationWeights");
      }
      inputs = { x: y, alpha: prelu };
    }
    const attrs: tf.NamedAttrMap = activation === "leakyrelu" ? { alpha: leakyAlpha } : {};
    const activated = kernelFuncOf(kernelName, "wasm")({ inputs, backend: be, attrs }) as TensorInfo;
    be.disposeData(y.dataId);
    y = activated;
  }
  return y;
}

function fusedMatMul(original: tf.KernelFunc, args: KernelArgs): TensorInfo | TensorInfo[] {
  const { a, b, bias, preluActivationWeights } = args.inputs as {
    a: TensorInfo;
    b: TensorInfo;
    bias?: TensorInfo;
    preluActivationWeights?: TensorInfo;
  };
  // tfjs types a kernel's attrs as a generic map.
  const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as {
    transposeA: boolean;
    transposeB: boolean;
    activation: string;
    leakyreluAlpha?: number;
  };
  // The original is right (and uses XNNPACK) for one plain product; with transposes or batches it
  // is wrong as soon as there is a bias, and slow either way.
  const single = size(a.shape.slice(0, -2)) === 1 && size(b.shape.slice(0, -2)) === 1;
  if (!transposeA && !transposeB && single && (!bias || bias.shape.length === 1)) return original(args);
  const be = args.backend as BackendWasm;
  const y = kernelFuncOf(
    "BatchMatMul",
    "wasm",
  )({ inputs: { a, b }, backend: be, attrs: { transposeA, transposeB } }) as TensorInfo;
  return applyBiasAndActivation(be, y, bias, activation, preluActivationWeights, leakyreluAlpha ?? 0.2);
}

export const fusedMatMulConfig: ReplacedKernel = {
  kind: "replaced",
  kernelName: "_FusedMatMul",
  label: "BatchMatMul + Add + activation unless one plain product",
  replace: (original) => (args) => fusedMatMul(original, args),
};
