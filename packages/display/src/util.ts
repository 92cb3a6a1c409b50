/**
 * Small helpers shared by the display modules (not part of the public API): image bytes and display ids.
 * Numbers and escaping come from @vlab/core's format.ts, the one formatter of the repository.
 */

export function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && PNG_MAGIC.every((x, i) => b[i] === x);
}

export function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

/** Width and height read from a PNG or JPEG header without decoding, or undefined. */
export function imageSize(b: Uint8Array): { width: number; height: number } | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (isPng(b) && b.length >= 24) return { width: dv.getUint32(16), height: dv.getUint32(20) };
  if (isJpeg(b)) {
    // Walk the markers to the first start-of-frame segment (SOF0..SOF15 except DHT/JPG/DAC). Each segment is
    // 0xFF, a marker byte and a big-endian 2-byte length; a SOF segment then holds precision (1 byte), height (2)
    // and width (2). `i + 9 < b.length` keeps every read in range (DataView reads are big-endian by default).
    let i = 2;
    while (i + 9 < b.length) {
      if (dv.getUint8(i) !== 0xff) return undefined;
      const marker = dv.getUint8(i + 1);
      if (marker === 0xff) {
        i++;
        continue;
      }
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        return { height: dv.getUint16(i + 5), width: dv.getUint16(i + 7) };
      }
      i += 2 + dv.getUint16(i + 2);
    }
  }
  return undefined;
}

export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

let counter = 0;
/** A display id unique in this process (and unlikely to clash with another kernel's). */
export function newDisplayId(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid.toString(36)}-${Date.now().toString(36)}-${counter}`;
}
