import { createHmac, randomInt, type KeyObject, createSign } from 'node:crypto';
import { connect } from 'node:net';

/*
 * The generator behind test/integration/fuzz.test.ts: a seeded PRNG (mulberry32) and hostile values
 * built from it, so every run can be replayed exactly with FUZZ_SEED. Each fuzz target derives its
 * own stream from the seed and its name, so changing one target's case count or generator does not
 * reshuffle the others.
 */

/** FUZZ_SEED (decimal or 0x-hex) or a fresh random 32-bit seed. */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FUZZ_SEED?.trim();
  if (!raw) return randomInt(0, 2 ** 32);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new Error(`FUZZ_SEED must be an integer 0..2^32-1, got "${raw}"`);
  return n;
}

/** FUZZ_CASES (cases per target) or the default. */
export function fuzzCases(fallback: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FUZZ_CASES?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`FUZZ_CASES must be a positive integer, got "${raw}"`);
  return n;
}

/** FNV-1a, to turn a target's name into a number mixed into the seed. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** mulberry32: tiny, fast and good enough to drive a fuzzer. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A stream of its own for one target: same seed and label, same values. */
  static derive(seed: number, label: string): Rng {
    return new Rng((seed ^ hash32(label)) >>> 0);
  }

  /** [0, 1) */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Calls one of the weighted generators. */
  weighted<T>(choices: readonly (readonly [number, () => T])[]): T {
    const total = choices.reduce((s, [w]) => s + w, 0);
    let r = this.next() * total;
    for (const [w, gen] of choices) {
      if ((r -= w) < 0) return gen();
    }
    return choices[choices.length - 1]![1]();
  }

  times<T>(n: number, gen: (i: number) => T): T[] {
    return Array.from({ length: n }, (_, i) => gen(i));
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile values
// ---------------------------------------------------------------------------------------------

/** Unicode that breaks naive code: lone and reversed surrogates, invisible and bidi marks, combining stacks, astral characters. */
export const UNICODE_EDGES: readonly string[] = [
  '\uD800', // lone high surrogate
  '\uDFFF', // lone low surrogate
  '\uDC00\uD800', // a reversed pair
  '\u0000',
  '\uFEFF', // BOM / zero-width no-break space
  '\u200F', // right-to-left mark
  '\u202E', // right-to-left override
  '\u2066', // left-to-right isolate
  '\u200D', // zero-width joiner
  '\u200B', // zero-width space
  'e\u0301', // combining acute accent
  `Z${'\u0336\u0337\u0338\u0489'.repeat(12)}`, // a stack of combining marks
  '\u{1F600}', // 4-byte emoji
  '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}', // an emoji sequence joined by ZWJs
  '\u{1F1FA}\u{1F1F8}', // a flag (regional indicators)
  '\u2028', // line separator
  '\u2029', // paragraph separator
  '\uFFFF', // a noncharacter
  '\uFFFD', // the replacement character
  '\u00A0', // no-break space
  '\u3000', // ideographic space
  '\u0085', // NEL (a C1 control)
  '\u007F', // DEL
  '\u0007', // BEL
  '\u001B[31m', // an ANSI escape
  '\u{10FFFF}', // the last code point
  '\u{1D54F}', // mathematical double-struck X
  '\u0130', // dotted capital I (case-mapping changes length)
  '\u00DF', // sharp s (upper-cases to two letters)
  '\u0627\u0644\u0639\u0631\u0628\u064A\u0629', // Arabic (RTL)
];

/** Invalid UTF-8: overlong forms, encoded surrogates, truncated sequences, bytes that never occur. */
export const INVALID_UTF8: readonly number[][] = [
  [0xc0, 0xaf], // overlong "/"
  [0xe0, 0x80, 0xaf], // overlong "/" in three bytes
  [0xc1, 0xbf], // overlong
  [0xed, 0xa0, 0x80], // U+D800 encoded (CESU-8)
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf8, 0x88, 0x80, 0x80, 0x80], // a 5-byte form
  [0xff],
  [0xfe, 0xff],
  [0x80], // a lone continuation byte
  [0xc3], // truncated 2-byte sequence
  [0xf0, 0x9f, 0x98], // truncated emoji
];

/** Keys that reach Object.prototype when code assigns them naively. */
export const PROTO_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'hasOwnProperty', 'toString', 'valueOf', 'toJSON', 'then'];

/** Text spliced verbatim into a JSON document: numbers JSON.stringify cannot write, and things that are not JSON. */
export class RawJson {
  /** `valid`: the text is a JSON value (then the document around it still parses); `depth`: how deep it nests. */
  constructor(
    readonly text: string,
    readonly valid = true,
    readonly depth = 0,
  ) {}
}

/** A plain object whose keys are all own properties (an own "__proto__" included, as JSON.parse makes it). */
export function own(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

/** JSON.stringify that writes RawJson verbatim (and keeps own "__proto__" keys, as JSON.stringify does). */
export function jsonText(v: unknown): string {
  if (v instanceof RawJson) return v.text;
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined || typeof x === 'function' ? 'null' : jsonText(x))).join(',')}]`;
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Uint8Array)) {
    const parts: string[] = [];
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined && typeof x !== 'function') parts.push(`${JSON.stringify(k)}:${jsonText(x)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * How many arrays and objects a value nests, counted the way a reader of the contract would: a scalar
 * is 0, `[]` and `{}` are 1, `[[1]]` is 2; a RawJson counts as the depth its text nests, binary data
 * (a Socket.IO attachment) as a leaf. Iterative, so even the deepest generated values cannot
 * overflow the stack here.
 */
export function nesting(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, above] = stack.pop()!;
    if (x instanceof RawJson) max = Math.max(max, above + x.depth);
    else if (x === null || typeof x !== 'object' || ArrayBuffer.isView(x) || x instanceof ArrayBuffer) max = Math.max(max, above);
    else {
      max = Math.max(max, above + 1);
      for (const child of Array.isArray(x) ? (x as unknown[]) : Object.values(x)) stack.push([child, above + 1]);
    }
  }
  return max;
}

/** True when a value holds a RawJson anywhere (then it only exists as text, not as a JS value); `invalid`: one that is not JSON. */
export function hasRaw(v: unknown, invalid = false): boolean {
  if (v instanceof RawJson) return !invalid || !v.valid;
  if (Array.isArray(v)) return v.some((x) => hasRaw(x, invalid));
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) return Object.keys(v).some((k) => hasRaw((v as Record<string, unknown>)[k], invalid));
  return false;
}

/** Numbers that trip parsers: valid JSON text JSON.stringify never writes, and number-looking non-JSON. */
export const RAW_NUMBERS = {
  validJson: ['1e309', '-1e309', '-0', '123456789012345678901234567890', '9007199254740993', '1E+2', '0.0000000000000000000001', '-0.0e-0', '1e-400'],
  invalidJson: ['NaN', 'Infinity', '-Infinity', '0x1F', '01', '1.', '.5', '+1', '1e', '--1', '1_000', '٣'],
} as const;

/** Values of every JSON type and a few JS-only ones, for "wrong type" mutations. */
export type Kind = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object';

/**
 * Hostile values drawn from an Rng. Everything it returns is JSON-serialisable (RawJson only where a
 * method says so), so the same generator feeds HTTP bodies and Socket.IO payloads.
 */
export class Fuzz {
  constructor(readonly rng: Rng) {}

  /** A printable ASCII string. */
  ascii(min = 1, max = 12): string {
    const n = this.rng.int(min, max);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.rng.int(0x21, 0x7e));
    return s;
  }

  /** A code point from anywhere in Unicode, surrogates included (as lone UTF-16 units). */
  anyChar(): string {
    return this.rng.weighted<string>([
      [4, () => String.fromCharCode(this.rng.int(0x20, 0x7e))],
      [1, () => String.fromCharCode(this.rng.int(0, 0x1f))],
      [2, () => String.fromCharCode(this.rng.int(0x80, 0xd7ff))],
      [1, () => String.fromCharCode(this.rng.int(0xd800, 0xdfff))],
      [1, () => String.fromCharCode(this.rng.int(0xe000, 0xffff))],
      [1, () => String.fromCodePoint(this.rng.int(0x10000, 0x10ffff))],
      [2, () => this.rng.pick(UNICODE_EDGES)],
    ]);
  }

  /** A string made to hurt: edge Unicode, huge lengths, prototype keys, number look-alikes, path and format tricks. */
  string(maxLen = 2000): string {
    return this.rng.weighted<string>([
      [3, () => this.ascii(1, 20)],
      [3, () => this.rng.times(this.rng.int(1, 8), () => this.anyChar()).join('')],
      [2, () => `${this.ascii(1, 6)}${this.rng.pick(UNICODE_EDGES)}${this.ascii(0, 6)}`],
      [1, () => ''],
      [1, () => this.rng.pick([' ', '\t', '\n', '\r\n', ' x ', 'a b', '\u00A0', '\u3000', '\u000B', '\f'])],
      [2, () => this.rng.pick(PROTO_KEYS)],
      [1, () => this.rng.pick([...RAW_NUMBERS.validJson, ...RAW_NUMBERS.invalidJson])],
      [1, () => this.rng.pick(['..', '../..', '%00', '%2e%2e%2f', '/', '\\', '?', '#', '&', '=', '%', '%%', '%ZZ', '%E0%A4%A', '*', '**', ':', 'user:', 'user:x'])],
      [1, () => this.rng.pick(["'; DROP TABLE x;--", '<script>alert(1)</script>', '${7*7}', '{{7*7}}', '%s%s%n', '$(id)', '`id`', 'null', 'undefined', 'true', '[]', '{}', '\\u0000', '\\"'])],
      [1, () => this.rng.pick(['x', 'é', '\u{1F600}', '\uD800', '\u200D']).repeat(this.rng.pick([99, 100, 101, 128, 129, 199, 200, 201, 400, 401, 1000, Math.min(maxLen, 5000)]))],
      [1, () => 'x'.repeat(this.rng.int(1, maxLen))],
    ]);
  }

  /** A number JSON can carry, edge values first. */
  number(): number {
    return this.rng.weighted<number>([
      [3, () => this.rng.pick([0, -0, 1, -1, 0.5, 1e308, -1e308, 5e-324, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1000, 1001, 100, 101, 30000, 30001])],
      [2, () => this.rng.int(-1e6, 1e6)],
      [1, () => (this.rng.next() - 0.5) * 10 ** this.rng.int(-20, 300)],
    ]);
  }

  /** A value of the given JSON kind. */
  ofKind(kind: Kind, depth = 2): unknown {
    switch (kind) {
      case 'string':
        return this.string(300);
      case 'number':
        return this.number();
      case 'boolean':
        return this.rng.chance(0.5);
      case 'null':
        return null;
      case 'array':
        return this.rng.times(this.rng.int(0, 4), () => this.json(depth - 1));
      case 'object':
        return this.object(depth - 1);
    }
  }

  /** A value of any kind but `not` (a wrong type for a field of that kind). */
  wrong(not: Kind | readonly Kind[], depth = 2): unknown {
    const excluded = typeof not === 'string' ? [not] : not;
    const kinds = (['string', 'number', 'boolean', 'null', 'array', 'object'] as const).filter((k) => !excluded.includes(k));
    return this.ofKind(this.rng.pick(kinds), depth);
  }

  /** Random JSON: objects, arrays and primitives mixed, prototype keys sprinkled in. */
  json(depth = 3): unknown {
    if (depth <= 0) return this.rng.weighted<unknown>([[2, () => this.string(200)], [2, () => this.number()], [1, () => this.rng.chance(0.5)], [1, () => null]]);
    return this.rng.weighted<unknown>([
      [2, () => this.string(500)],
      [2, () => this.number()],
      [1, () => this.rng.chance(0.5)],
      [1, () => null],
      [2, () => this.rng.times(this.rng.int(0, 5), () => this.json(depth - 1))],
      [3, () => this.object(depth - 1)],
    ]);
  }

  /** An object with random keys (prototype keys among them), as own properties. */
  object(depth = 2): Record<string, unknown> {
    const n = this.rng.int(0, 5);
    const entries: [string, unknown][] = [];
    for (let i = 0; i < n; i++) entries.push([this.rng.chance(0.25) ? this.rng.pick(PROTO_KEYS) : this.string(40), this.json(depth)]);
    return own(entries);
  }

  /** An object of prototype-pollution keys nested `levels` deep. */
  pollution(levels = this.rng.int(1, 4)): Record<string, unknown> {
    let v: unknown = own([['polluted', true], [this.rng.pick(PROTO_KEYS), own([['polluted', true]])]]);
    for (let i = 0; i < levels; i++) v = own([[this.rng.pick(PROTO_KEYS), v]]);
    return v as Record<string, unknown>;
  }

  /** A raw number token (RawJson): valid JSON JSON.stringify cannot produce, or number-like non-JSON. */
  rawNumber(): RawJson {
    const valid = this.rng.chance(0.6);
    return new RawJson(this.rng.pick(valid ? RAW_NUMBERS.validJson : RAW_NUMBERS.invalidJson), valid);
  }

  /** A JS value nesting `levels` arrays and objects around `leaf` (built without recursion, so it can be deep). */
  nested(levels: number, leaf: unknown = 0, shape: 'array' | 'object' | 'mixed' = this.rng.pick(['array', 'object', 'mixed'] as const)): unknown {
    let v = leaf;
    for (let i = 0; i < levels; i++) v = shape === 'array' || (shape === 'mixed' && i % 2 === 0) ? [v] : { k: v };
    return v;
  }

  /** `deepText` as a RawJson that knows its depth. */
  deep(levels: number, shape?: 'array' | 'object' | 'mixed'): RawJson {
    return new RawJson(this.deepText(levels, shape), true, levels);
  }

  /** Nested arrays or objects `levels` deep as raw JSON text (no recursion to build or send it). */
  deepText(levels: number, shape: 'array' | 'object' | 'mixed' = this.rng.pick(['array', 'object', 'mixed'] as const)): string {
    if (shape === 'array') return `${'['.repeat(levels)}${']'.repeat(levels)}`;
    if (shape === 'object') return `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
    const open: string[] = [];
    const close: string[] = [];
    for (let i = 0; i < levels; i++) {
      if (i % 2) {
        open.push('{"k":');
        close.push('}');
      } else {
        open.push('[');
        close.push(']');
      }
    }
    return `${open.join('')}0${close.reverse().join('')}`;
  }

  /** Bytes that are not valid UTF-8. */
  badUtf8(): Buffer {
    return Buffer.from(this.rng.pick(INVALID_UTF8));
  }

  /** Some binary data (a Socket.IO attachment). */
  bytes(max = 64): Buffer {
    return Buffer.from(this.rng.times(this.rng.int(0, max), () => this.rng.int(0, 255)));
  }
}

/** Percent-encodes every UTF-8 byte of `s` outside the unreserved set (lone surrogates become U+FFFD, as Buffer writes them). */
export function pctEncode(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Code points, for oracles that must not reuse the server's own validation
// ---------------------------------------------------------------------------------------------

/** What JavaScript's \s matches (ECMAScript WhiteSpace + LineTerminator), listed by hand. */
const WHITESPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff]);

/** Code points of `s` (a lone surrogate counts as one). */
export function codePoints(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) out.push(ch.codePointAt(0)!);
  return out;
}

/** A UTF-16 surrogate that is not half of a pair: not Unicode, and UTF-8 (Redis, the wire) cannot carry it. */
export function hasLoneSurrogate(s: string): boolean {
  // Iteration pairs well-formed surrogates into one code point above U+FFFF: what is left in the range is lone.
  return codePoints(s).some((c) => c >= 0xd800 && c <= 0xdfff);
}

/**
 * The contract's name rule as the tests read it: 1–200 characters of well-formed Unicode (no lone
 * surrogates), none of them whitespace or a control character.
 */
export function contractName(s: unknown, max = 200): 'valid' | 'invalid' | 'either' {
  if (typeof s !== 'string') return 'invalid';
  const cps = codePoints(s);
  if (cps.length === 0) return 'invalid';
  if (cps.some((c) => WHITESPACE.has(c) || c <= 0x1f || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xdfff))) return 'invalid';
  // "Characters" may be read as code points or as UTF-16 units: where the two readings differ, both answers are right.
  if (cps.length <= max && s.length <= max) return 'valid';
  if (cps.length > max) return 'invalid';
  return 'either';
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP, so nothing between the fuzzer and the server fixes requests up
// ---------------------------------------------------------------------------------------------

export interface RawRequest {
  method: string;
  /** Sent verbatim in the request line. */
  path: string;
  /** Sent verbatim and in order (duplicates allowed). Host and Connection: close are added. */
  headers: [string, string][];
  body?: Buffer;
  /** Do not add Content-Length for the body. */
  noLength?: boolean;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string[]>;
  body: Buffer;
}

export type RawOutcome = { kind: 'response'; res: RawResponse; ms: number } | { kind: 'hang'; ms: number } | { kind: 'closed'; ms: number; error?: string; bytes: number };

function parseResponse(buf: Buffer, head: boolean): RawResponse | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!m) return null;
  const headers: Record<string, string[]> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    (headers[k] ??= []).push(line.slice(i + 1).trim());
  }
  let body = buf.subarray(end + 4);
  if (head) body = Buffer.alloc(0);
  else if ((headers['transfer-encoding'] ?? []).some((v) => /chunked/i.test(v))) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const nl = body.indexOf('\r\n', at);
      if (nl < 0) return null;
      const size = parseInt(body.subarray(at, nl).toString('latin1'), 16);
      if (!Number.isFinite(size)) return null;
      if (size === 0) break;
      if (nl + 2 + size > body.length) return null;
      parts.push(body.subarray(nl + 2, nl + 2 + size));
      at = nl + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length']) {
    const len = Number(headers['content-length'][0]);
    if (body.length < len) return null;
    body = body.subarray(0, len);
  }
  return { status: Number(m[1]), headers, body };
}

/**
 * Sends one request over a fresh TCP connection and reads the answer up to the server's close.
 * No answer within `timeoutMs` is a hang; a connection closed without a complete answer is `closed`.
 */
export function sendRaw(port: number, req: RawRequest, timeoutMs = 5000): Promise<RawOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let done = false;
    const finish = (o: RawOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(o);
    };
    const head = [`${req.method} ${req.path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close', ...req.headers.map(([k, v]) => `${k}: ${v}`)];
    if (req.body !== undefined && !req.noLength) head.push(`Content-Length: ${req.body.length}`);
    const bytes = Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), req.body ?? Buffer.alloc(0)]);
    const sock = connect(port, '127.0.0.1', () => sock.write(bytes));
    const timer = setTimeout(() => finish({ kind: 'hang', ms: Date.now() - started }), timeoutMs);
    const settle = () => {
      const buf = Buffer.concat(chunks);
      const res = parseResponse(buf, req.method === 'HEAD');
      finish(res ? { kind: 'response', res, ms: Date.now() - started } : { kind: 'closed', ms: Date.now() - started, error, bytes: buf.length });
    };
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      // An answer can be complete before the server closes (it may keep reading a body it refused).
      const res = parseResponse(Buffer.concat(chunks), req.method === 'HEAD');
      if (res) finish({ kind: 'response', res, ms: Date.now() - started });
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    sock.on('close', settle);
  });
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

export const b64url = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** header.payload.signature with an HMAC over the first two (header and payload given as JSON text or values). */
export function hmacToken(alg: 'HS256' | 'HS384' | 'HS512', header: unknown, payload: unknown, secret: string | Buffer | KeyObject): string {
  const text = (v: unknown) => (typeof v === 'string' ? v : jsonText(v));
  const input = `${b64url(text(header))}.${b64url(text(payload))}`;
  const hashes = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' } as const;
  return `${input}.${createHmac(hashes[alg], secret).update(input).digest('base64url')}`;
}

/** An RS256 token over arbitrary header and payload text (jsonwebtoken refuses to sign some of what we need). */
export function rsaToken(header: unknown, payload: unknown, privateKey: KeyObject, hash: 'sha256' | 'sha384' | 'sha512' = 'sha256'): string {
  const text = (v: unknown) => (typeof v === 'string' ? v : jsonText(v));
  const input = `${b64url(text(header))}.${b64url(text(payload))}`;
  return `${input}.${createSign(hash).update(input).sign(privateKey, 'base64url')}`;
}

/** Changes one character of a token's signature (not the last, whose low bits base64 may ignore). */
export function garble(rng: Rng, token: string): string {
  const dot = token.lastIndexOf('.');
  if (dot < 0 || token.length - dot < 4) return `${token}x`;
  const i = rng.int(dot + 1, token.length - 2);
  const c = token[i] === 'A' ? 'B' : 'A';
  return token.slice(0, i) + c + token.slice(i + 1);
}

// ---------------------------------------------------------------------------------------------
// Tallies
// ---------------------------------------------------------------------------------------------

export interface FuzzFailure {
  target: string;
  index: number;
  input: string;
  problem: string;
}

/** Per-target case counts and outcome counts, and the failures, for the one-line summaries. */
export class Tally {
  readonly cases = new Map<string, number>();
  readonly outcomes = new Map<string, Map<string, number>>();
  readonly failures: FuzzFailure[] = [];

  count(target: string, outcome: string): void {
    this.cases.set(target, (this.cases.get(target) ?? 0) + 1);
    const m = this.outcomes.get(target) ?? new Map<string, number>();
    m.set(outcome, (m.get(outcome) ?? 0) + 1);
    this.outcomes.set(target, m);
  }

  fail(target: string, index: number, input: string, problem: string): void {
    this.failures.push({ target, index, input: short(input, 1500), problem: short(problem, 600) });
  }

  failuresOf(target: string): FuzzFailure[] {
    return this.failures.filter((f) => f.target === target);
  }

  total(): number {
    let n = 0;
    for (const v of this.cases.values()) n += v;
    return n;
  }

  /** `target: n cases [outcome×count ...]` for each target, joined into one line. */
  line(): string {
    return [...this.cases.entries()]
      .map(([t, n]) => {
        const o = [...(this.outcomes.get(t) ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${k}×${c}`);
        return `${t}: ${n} [${o.join(' ')}]`;
      })
      .join('; ');
  }

  codes(): string {
    const all = new Map<string, number>();
    for (const m of this.outcomes.values()) for (const [k, c] of m) all.set(k, (all.get(k) ?? 0) + c);
    return [...all.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, c]) => `${k}×${c}`)
      .join(' ');
  }
}

/** A readable, bounded rendering of any input for a failure report. */
export function short(v: unknown, max = 300): string {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (Buffer.isBuffer(v)) s = `<${v.length} bytes> ${v.subarray(0, 120).toString('latin1')}`;
  else {
    try {
      s = jsonText(v);
    } catch {
      s = String(v);
    }
  }
  // Control characters, separators and surrogates escaped, so a report prints as one readable line.
  s = s.replace(/[\p{Cc}\u2028\u2029\ud800-\udfff]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}
