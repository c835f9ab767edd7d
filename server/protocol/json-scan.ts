// A strict JSON (RFC 8259) scanner over bytes that validates a whole document and reports,
// for a top-level object, where each member's value starts and ends. It never builds values:
// the protocol cuts `data` out of the request bytes verbatim (numbers beyond double precision,
// escapes and inner whitespace survive), and decodes only the small fields it needs.

export type JsonKind = 'object' | 'array' | 'string' | 'number' | 'true' | 'false' | 'null';

export interface JsonMember {
  readonly kind: JsonKind;
  /** byte offsets of the value in the scanned buffer, end exclusive */
  readonly start: number;
  readonly end: number;
}

export type ScanResult = { ok: true; members: Map<string, JsonMember> } | { ok: false; error: string; duplicate?: boolean };

/** Deepest nesting accepted inside a value; deeper documents are rejected, never recursed. */
export const MAX_DEPTH = 512;

const SPACE = 0x20,
  TAB = 0x09,
  LF = 0x0a,
  CR = 0x0d;
const QUOTE = 0x22,
  BACKSLASH = 0x5c,
  COMMA = 0x2c,
  COLON = 0x3a;
const LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACKET = 0x5b,
  RBRACKET = 0x5d;

class Fail extends Error {}

class Scanner {
  pos = 0;
  constructor(
    readonly b: Uint8Array,
    readonly end: number,
  ) {}

  fail(what: string): never {
    throw new Fail(`${what} at byte ${this.pos}`);
  }

  ws(): void {
    const { b } = this;
    while (this.pos < this.end) {
      const c = b[this.pos]!;
      if (c !== SPACE && c !== TAB && c !== LF && c !== CR) return;
      this.pos++;
    }
  }

  /** Skips a string starting at its opening quote; returns true when it held an escape. */
  string(): boolean {
    const { b } = this;
    let escaped = false;
    this.pos++;
    while (this.pos < this.end) {
      const c = b[this.pos]!;
      if (c === QUOTE) {
        this.pos++;
        return escaped;
      }
      if (c < 0x20) this.fail('control character in string');
      if (c === BACKSLASH) {
        escaped = true;
        const e = b[this.pos + 1];
        if (e === 0x75 /* u */) {
          for (let i = 2; i < 6; i++) if (!isHex(b[this.pos + i])) this.fail('bad \\u escape');
          this.pos += 6;
          continue;
        }
        if (e === undefined || !isSimpleEscape(e)) this.fail('bad escape');
        this.pos += 2;
        continue;
      }
      this.pos++;
    }
    this.fail('unterminated string');
  }

  number(): void {
    const { b } = this;
    if (b[this.pos] === 0x2d /* - */) this.pos++;
    if (b[this.pos] === 0x30 /* 0 */) this.pos++;
    else if (isDigit19(b[this.pos])) while (isDigit(b[this.pos])) this.pos++;
    else this.fail('bad number');
    if (b[this.pos] === 0x2e /* . */) {
      this.pos++;
      if (!isDigit(b[this.pos])) this.fail('bad fraction');
      while (isDigit(b[this.pos])) this.pos++;
    }
    if (b[this.pos] === 0x65 || b[this.pos] === 0x45 /* e E */) {
      this.pos++;
      if (b[this.pos] === 0x2b || b[this.pos] === 0x2d) this.pos++;
      if (!isDigit(b[this.pos])) this.fail('bad exponent');
      while (isDigit(b[this.pos])) this.pos++;
    }
    if (this.pos > this.end) this.fail('truncated number');
  }

  literal(word: string): void {
    for (let i = 0; i < word.length; i++) {
      if (this.b[this.pos + i] !== word.charCodeAt(i)) this.fail('bad literal');
    }
    this.pos += word.length;
  }

  /** Skips one value of any kind without recursion: containers keep a stack of their closers. */
  value(): JsonKind {
    const stack: number[] = [];
    let kind: JsonKind | undefined;
    for (;;) {
      this.ws();
      const c = this.b[this.pos];
      const atStart: JsonKind = this.scalarOrOpen(c, stack);
      kind ??= atStart;
      // after a value: close containers or move to the next element
      for (;;) {
        if (stack.length === 0) return kind;
        this.ws();
        const closer = stack[stack.length - 1]!;
        const d = this.b[this.pos];
        if (d === closer) {
          this.pos++;
          stack.pop();
          continue;
        }
        if (d !== COMMA || this.pos >= this.end) this.fail('expected , or closing bracket');
        this.pos++;
        if (closer === RBRACE) this.memberKey();
        break;
      }
    }
  }

  /** At a value's first byte: skip a scalar, or open a container (and its first key). */
  private scalarOrOpen(c: number | undefined, stack: number[]): JsonKind {
    if (this.pos >= this.end || c === undefined) this.fail('unexpected end');
    switch (c) {
      case QUOTE:
        this.string();
        return 'string';
      case 0x74:
        this.literal('true');
        return 'true';
      case 0x66:
        this.literal('false');
        return 'false';
      case 0x6e:
        this.literal('null');
        return 'null';
      case LBRACE:
      case LBRACKET: {
        const closer = c === LBRACE ? RBRACE : RBRACKET;
        if (stack.length >= MAX_DEPTH) this.fail('nesting too deep');
        this.pos++;
        this.ws();
        if (this.b[this.pos] === closer && this.pos < this.end) {
          this.pos++;
          return c === LBRACE ? 'object' : 'array';
        }
        stack.push(closer);
        if (closer === RBRACE) this.memberKey();
        // the caller's loop continues with the first element
        this.ws();
        return this.scalarOrOpen(this.b[this.pos], stack) && (c === LBRACE ? 'object' : 'array');
      }
      default:
        if (c === 0x2d || isDigit(c)) {
          this.number();
          return 'number';
        }
        this.fail('unexpected character');
    }
  }

  private memberKey(): void {
    this.ws();
    if (this.b[this.pos] !== QUOTE || this.pos >= this.end) this.fail('expected member name');
    this.string();
    this.ws();
    if (this.b[this.pos] !== COLON || this.pos >= this.end) this.fail('expected :');
    this.pos++;
  }
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}
function isDigit19(c: number | undefined): boolean {
  return c !== undefined && c >= 0x31 && c <= 0x39;
}
function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}
function isSimpleEscape(c: number): boolean {
  // RFC 8259 section 7: \" \\ \/ \b \f \n \r \t
  return c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74;
}

/** Decodes a string member (quotes included in the span) to a JS string. */
export function decodeString(b: Uint8Array, m: JsonMember): string {
  const raw = Buffer.from(b.buffer, b.byteOffset + m.start, m.end - m.start);
  // Plain strings (the common case for op and topic) need no JSON.parse.
  if (raw.indexOf(BACKSLASH) === -1) return raw.toString('utf8', 1, raw.length - 1);
  return JSON.parse(raw.toString('utf8')) as string;
}

/**
 * Scans `b` as one JSON document whose top level must be an object. Members are keyed by
 * their decoded names; a repeated name is an error (`duplicate: true`), because two `data`
 * or `topic` members would make the verbatim cut ambiguous.
 */
export function scanObject(b: Uint8Array): ScanResult {
  const s = new Scanner(b, b.length);
  const members = new Map<string, JsonMember>();
  try {
    s.ws();
    if (b[s.pos] !== LBRACE) return { ok: false, error: 'not a JSON object' };
    s.pos++;
    s.ws();
    if (b[s.pos] === RBRACE) {
      s.pos++;
    } else {
      for (;;) {
        s.ws();
        if (b[s.pos] !== QUOTE || s.pos >= s.end) s.fail('expected member name');
        const keyStart = s.pos;
        s.string();
        const name = decodeString(b, { kind: 'string', start: keyStart, end: s.pos });
        s.ws();
        if (b[s.pos] !== COLON || s.pos >= s.end) s.fail('expected :');
        s.pos++;
        s.ws();
        const start = s.pos;
        const kind = s.value();
        if (members.has(name)) return { ok: false, error: `duplicate member "${name}"`, duplicate: true };
        members.set(name, { kind, start, end: s.pos });
        s.ws();
        if (b[s.pos] === COMMA && s.pos < s.end) {
          s.pos++;
          continue;
        }
        if (b[s.pos] === RBRACE && s.pos < s.end) {
          s.pos++;
          break;
        }
        s.fail('expected , or }');
      }
    }
    s.ws();
    if (s.pos !== s.end) s.fail('trailing characters');
    return { ok: true, members };
  } catch (err) {
    if (err instanceof Fail) return { ok: false, error: err.message };
    throw err;
  }
}
