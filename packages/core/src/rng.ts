/**
 * Seeded random numbers.
 *
 * `Rng` is sfc32 (Chris Doty-Humphrey's "small fast counting" generator: 128 bits of state, passes
 * PractRand/BigCrush), seeded through splitmix32 so that nearby seeds give unrelated streams.
 * Normals come from Box–Muller; the second value of each pair is kept for the next call.
 *
 * The same seed always gives the same sequence, on every platform and backend: everything here is
 * plain 32-bit integer arithmetic.
 */

/** splitmix32: a well-mixed 32-bit hash of a counter, used only to expand a seed into state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  /** The second Box–Muller value, waiting for the next `normal()` call. */
  private spare: number | undefined;

  constructor(seed: number) {
    // Fold the (possibly non-integer or > 2^32) seed into 32 bits, keeping its high part.
    const hi = Math.floor(seed / 4294967296) | 0;
    const st = { s: (seed >>> 0) ^ Math.imul(hi, 0x27d4eb2d) };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = 1; // sfc32's counter
    for (let i = 0; i < 12; i++) this.nextUint32(); // discard the warm-up outputs
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    // sfc32 step: t = a + b + counter; a = b ^ (b >>> 9); b = c + (c << 3); c = rotl(c, 21) + t.
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) + t;
    this.c |= 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1), with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A standard normal sample (mean 0, std 1), by Box–Muller. */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    // u1 in (0, 1] so that log(u1) is finite.
    const u1 = 1 - this.next();
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** `n` samples from N(0, std²). */
  normalArray(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }

  /** `n` samples uniform in [lo, hi). */
  uniformArray(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    const w = hi - lo;
    for (let i = 0; i < n; i++) out[i] = lo + w * this.next();
    return out;
  }

  /** A uniform integer in 0..n-1 (unbiased: rejection sampling on the top of the 32-bit range). */
  int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n) || n > 4294967296) {
      throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n); // largest multiple of n that fits
    let x: number;
    do x = this.nextUint32();
    while (x >= limit);
    return x % n;
  }

  /** Shuffles `a` in place (Fisher–Yates) and returns it. */
  shuffle<T>(a: T[]): T[] {
    /* eslint-disable @typescript-eslint/no-non-null-assertion -- 0 <= j <= i < a.length */
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i]!;
      a[i] = a[j]!;
      a[j] = tmp;
    }
    /* eslint-enable @typescript-eslint/no-non-null-assertion */
    return a;
  }

  /** An independent generator seeded from this one (advances this one by two draws). */
  fork(): Rng {
    const lo = this.nextUint32();
    const hi = this.nextUint32();
    return new Rng(hi * 4294967296 + lo);
  }
}

let defaultRng = new Rng(0);

/** Reseeds the process-wide default generator returned by `getRng()`. */
export function setSeed(seed: number): void {
  defaultRng = new Rng(seed);
}

/** The process-wide default generator (seed 0 until `setSeed` is called). */
export function getRng(): Rng {
  return defaultRng;
}
