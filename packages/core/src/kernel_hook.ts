/**
 * The one link between vlab packages and the Jupyter kernel that runs them.
 *
 * The vlab kernel (kernels/vlab) installs an object at `globalThis[Symbol.for("vlab.kernel")]`.
 * Packages never import the kernel: they look the hook up here, and when it is absent (a plain
 * Node script, a test) they fall back to the terminal.
 */
export type MimeBundle = Record<string, unknown>;

export interface DisplayOptions {
  /** Identifies a display so later calls can update it in place (progress bars, live plots). */
  displayId?: string;
  /** Replace the display named by `displayId` instead of adding a new one. */
  update?: boolean;
  metadata?: Record<string, unknown>;
}

export interface KernelHook {
  /** Sends a `display_data` (or `update_display_data`) message with this mime bundle. */
  display(bundle: MimeBundle, options?: DisplayOptions): void;
  /** True once the user asked to interrupt the running cell; reset when the next cell starts. */
  readonly interrupted: boolean;
}

const HOOK = Symbol.for("vlab.kernel");

/** The running kernel's hook, or undefined outside a kernel. */
export function kernelHook(): KernelHook | undefined {
  return (globalThis as Record<symbol, unknown>)[HOOK] as KernelHook | undefined;
}

/** Whether the current computation was asked to stop (Jupyter interrupt, or SIGINT seen by `watchInterrupt`). */
export function interruptRequested(): boolean {
  return kernelHook()?.interrupted === true || sigintSeen;
}

let sigintSeen = false;

/**
 * Outside a kernel, turn Ctrl-C into a clean stop request for the duration of `fn`
 * (a second Ctrl-C still kills the process). Inside a kernel the kernel handles interrupts.
 */
export async function watchInterrupt<T>(fn: () => Promise<T>): Promise<T> {
  if (kernelHook()) return fn();
  sigintSeen = false;
  const onSigint = () => {
    if (sigintSeen) process.exit(130);
    sigintSeen = true;
  };
  process.on("SIGINT", onSigint);
  try {
    return await fn();
  } finally {
    process.off("SIGINT", onSigint);
    sigintSeen = false;
  }
}

/** Symbol of the rich-display protocol shared with Deno's kernel: `obj[JUPYTER_DISPLAY]()` returns a mime bundle. */
export const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");
