/** Test helpers: a fake kernel hook on globalThis[Symbol.for("vlab.kernel")], and an XML well-formedness check. */
import type { MimeBundle } from "../../core/src/kernel_hook.js";

export interface Sent {
  bundle: MimeBundle;
  opts: { displayId?: string; update?: boolean; metadata?: Record<string, unknown> };
}

const HOOK = Symbol.for("vlab.kernel");

export function installFakeKernel(): { sent: Sent[]; remove(): void } {
  const sent: Sent[] = [];
  Reflect.set(globalThis, HOOK, {
    interrupted: false,
    display(bundle: MimeBundle, opts: Sent["opts"] = {}) {
      sent.push({ bundle, opts });
    },
  });
  return { sent, remove: () => Reflect.deleteProperty(globalThis, HOOK) };
}

/**
 * Throws unless `xml` is one well-formed element tree (tags balanced, attributes quoted); returns the root tag name.
 */
export function checkXml(xml: string): string {
  const stack: string[] = [];
  let root: string | undefined;
  const re =
    /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<|&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(xml))) {
    if (m[0] === "<") throw new Error(`stray "<" at ${m.index}: ${xml.slice(m.index, m.index + 40)}`);
    if (m[0].startsWith("&")) throw new Error(`unescaped "&" at ${m.index}`);
    if (m[0].startsWith("<!--") || m[0].startsWith("<?")) continue;
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}> at ${m.index}`);
    } else {
      if (!root) root = name;
      else if (stack.length === 0) throw new Error(`second root element <${name}>`);
      if (!selfClose) stack.push(name!);
    }
  }
  if (stack.length) throw new Error(`unclosed <${stack.join("><")}>`);
  if (!root) throw new Error("no element");
  return root;
}
