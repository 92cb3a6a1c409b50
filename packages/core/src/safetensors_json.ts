/**
 * A strict JSON reader (RFC 8259) for safetensors headers, written for what `JSON.parse` does badly there:
 *
 * - every key is kept exactly: objects are `JsonObject`s (their members in a list), so a tensor named `__proto__`,
 *   `constructor` or `toString` is an ordinary entry, never a setter or an inherited value;
 * - the top-level object is handed out member by member (`readTopLevelMembers`), in file order, with the position of
 *   each key, so a header of millions of entries is checked as it is read, without first becoming one huge object
 *   that is then walked again (with `JSON.parse`, a 99 MB header of 1.7 M entries took about twice the time and a
 *   third more memory);
 * - a fault is a `HeaderJsonError` carrying the character index where it was found, for a message with a byte offset;
 * - nesting is limited (`MAX_DEPTH`), so a hostile `[[[[…` cannot overflow the stack.
 *
 * Numbers follow JSON's grammar and become JS numbers (integers above 2^53 lose precision, as with `JSON.parse`).
 */

/** Deepest nesting of arrays and objects accepted (a safetensors header needs 3: header → entry → shape). */
export const MAX_DEPTH = 64;

/** A JSON syntax fault at character `index` of the text. */
export class HeaderJsonError extends Error {
  constructor(
    message: string,
    /** Index (UTF-16 code units) into the text where the fault was found. */
    readonly index: number,
  ) {
    super(message);
    this.name = "HeaderJsonError";
  }
}

/** A JSON value as this reader builds it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/**
 * A JSON object: its members in file order, as a flat `[key, value, key, value, …]` list. Lighter than a JS object
 * per entry (a header holds millions of small ones), and no key can collide with anything inherited.
 */
export class JsonObject {
  constructor(readonly members: JsonValue[] = []) {}

  /** The value of `key` (the last one, when a key is repeated, as `JSON.parse` does), or undefined. */
  get(key: string): JsonValue | undefined {
    const m = this.members;
    for (let i = m.length - 2; i >= 0; i -= 2) if (m[i] === key) return m[i + 1];
    return undefined;
  }

  /** The members as a prototype-free record (a repeated key keeps its last value). */
  toRecord(): Record<string, JsonValue> {
    const out = Object.create(null) as Record<string, JsonValue>;
    const m = this.members;
    for (let i = 0; i < m.length; i += 2) out[m[i] as string] = m[i + 1] as JsonValue;
    return out;
  }
}

const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  COMMA = 0x2c,
  COLON = 0x3a,
  LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACKET = 0x5b,
  RBRACKET = 0x5d,
  MINUS = 0x2d,
  ZERO = 0x30,
  NINE = 0x39;

/** A reader over one text; `i` is the next character to read. */
class Reader {
  i = 0;
  constructor(readonly text: string) {}

  fail(what: string, at = this.i): never {
    const found = at >= this.text.length ? "the end of the text" : JSON.stringify(this.text.charAt(at));
    throw new HeaderJsonError(`${what}, found ${found}`, at);
  }

  /** Skips JSON whitespace (space, tab, LF, CR) and returns the next character code (NaN at the end). */
  ws(): number {
    const t = this.text;
    let i = this.i;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else {
        this.i = i;
        return c;
      }
    }
  }

  expect(code: number, what: string): void {
    if (this.ws() !== code) this.fail(`expected ${what}`);
    this.i++;
  }

  /** A string starting at the current `"`: slices of the text between escapes (no per-character concatenation). */
  string(): string {
    const t = this.text;
    let i = ++this.i;
    let from = i; // start of the run of plain characters not yet copied
    let out = "";
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === QUOTE) {
        this.i = i + 1;
        return out + t.slice(from, i);
      }
      if (c === BACKSLASH) {
        out += t.slice(from, i);
        const e = t.charAt(i + 1);
        const simple = ESCAPES[e];
        if (simple !== undefined) {
          out += simple;
          i += 2;
        } else if (e === "u") {
          const hex = t.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail(`invalid \\u escape`, i);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else this.fail(`invalid escape in a string`, i);
        from = i;
        continue;
      }
      if (Number.isNaN(c)) this.fail(`unterminated string`, i);
      if (c < 0x20) this.fail(`unescaped control character in a string`, i);
      i++;
    }
  }

  /** A number starting at the current character (JSON grammar: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?). */
  number(): number {
    const t = this.text;
    const start = this.i;
    let i = start;
    if (t.charCodeAt(i) === MINUS) i++;
    let c = t.charCodeAt(i);
    if (c === ZERO) {
      c = t.charCodeAt(++i);
      if (c !== 0x2e && c !== 0x65 && c !== 0x45) {
        this.i = i;
        return i - start === 1 ? 0 : -0;
      }
    } else if (c > ZERO && c <= NINE) {
      let v = 0;
      while (c >= ZERO && c <= NINE) {
        v = v * 10 + (c - ZERO);
        c = t.charCodeAt(++i);
      }
      // The common case, a plain non-negative integer exact in a double: no slice, no Number().
      if (i - start <= 15 && c !== 0x2e && c !== 0x65 && c !== 0x45 && t.charCodeAt(start) !== MINUS) {
        this.i = i;
        return v;
      }
    } else this.fail(`expected a digit`, i);
    if (c === 0x2e) {
      c = t.charCodeAt(++i);
      if (!(c >= ZERO && c <= NINE)) this.fail(`expected a digit after the decimal point`, i);
      while (c >= ZERO && c <= NINE) c = t.charCodeAt(++i);
    }
    if (c === 0x65 || c === 0x45) {
      c = t.charCodeAt(++i);
      if (c === 0x2b || c === MINUS) c = t.charCodeAt(++i);
      if (!(c >= ZERO && c <= NINE)) this.fail(`expected a digit in the exponent`, i);
      while (c >= ZERO && c <= NINE) c = t.charCodeAt(++i);
    }
    this.i = i;
    return Number(t.slice(start, i));
  }

  literal(word: string, value: JsonValue): JsonValue {
    if (!this.text.startsWith(word, this.i)) this.fail(`expected a JSON value`);
    this.i += word.length;
    return value;
  }

  /** Any value, after whitespace. */
  value(depth: number): JsonValue {
    const c = this.ws();
    if (c === QUOTE) return this.string();
    if (c === LBRACE) return this.object(depth + 1);
    if (c === LBRACKET) return this.array(depth + 1);
    if (c === MINUS || (c >= ZERO && c <= NINE)) return this.number();
    if (c === 0x74) return this.literal("true", true);
    if (c === 0x66) return this.literal("false", false);
    if (c === 0x6e) return this.literal("null", null);
    return this.fail(`expected a JSON value`);
  }

  array(depth: number): JsonValue[] {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.i++; // [
    const out: JsonValue[] = [];
    if (this.ws() === RBRACKET) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      const c = this.ws();
      this.i++;
      if (c === RBRACKET) return out;
      if (c !== COMMA) this.fail(`expected "," or "]" in an array`, this.i - 1);
    }
  }

  object(depth: number): JsonObject {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    const out: JsonValue[] = [];
    this.members((key) => {
      out.push(key, this.value(depth));
    });
    return new JsonObject(out);
  }

  /** The members of the object at the current `{`: `onKey` is called after each key and colon, and reads the value. */
  members(onKey: (key: string, at: number) => void): void {
    this.i++; // {
    if (this.ws() === RBRACE) {
      this.i++;
      return;
    }
    for (;;) {
      if (this.ws() !== QUOTE) this.fail(`expected a string key`);
      const at = this.i;
      const key = this.string();
      this.expect(COLON, `":" after a key`);
      onKey(key, at);
      const c = this.ws();
      this.i++;
      if (c === RBRACE) return;
      if (c !== COMMA) this.fail(`expected "," or "}" in an object`, this.i - 1);
    }
  }
}

const ESCAPES: Record<string, string | undefined> = Object.assign(Object.create(null) as object, {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
});

/**
 * Reads a text that must hold one JSON object (and whitespace around it), calling `onMember(key, value, at)` for each
 * member in order; `at` is the character index of the key's opening quote. Duplicate keys are passed on as they come
 * (the caller decides). Throws `HeaderJsonError` for bad syntax, `notObject` when the text is another JSON value.
 */
export function readTopLevelMembers(
  text: string,
  onMember: (key: string, value: JsonValue, at: number) => void,
  notObject: (what: string) => never,
): void {
  const r = new Reader(text);
  const c = r.ws();
  if (c !== LBRACE) {
    if (Number.isNaN(c)) notObject("it is empty");
    const head = text.slice(r.i, r.i + 20);
    notObject(`it starts with ${JSON.stringify(head)}${text.length - r.i > 20 ? "…" : ""}`);
  }
  r.members((key, at) => onMember(key, r.value(1), at));
  if (!Number.isNaN(r.ws())) r.fail(`unexpected text after the header's JSON object`);
}

/** Parses one JSON value (objects as `JsonObject`s). */
export function parseJsonValue(text: string): JsonValue {
  const r = new Reader(text);
  const v = r.value(0);
  if (!Number.isNaN(r.ws())) r.fail(`unexpected text after the JSON value`);
  return v;
}
