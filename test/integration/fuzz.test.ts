import { createHash, createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseQuery } from 'node:querystring';
import jwt from 'jsonwebtoken';
import { io as ioClient, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import { parse as parseYaml } from 'yaml';
import { FakeBackend, json } from '../support/fake-backend';
import {
  Fuzz,
  PROTO_KEYS,
  RawJson,
  Rng,
  Tally,
  UNICODE_EDGES,
  b64url,
  contractName,
  fuzzCases,
  fuzzSeed,
  garble,
  hasLoneSurrogate,
  hasRaw,
  hmacToken,
  jsonText,
  nesting,
  own,
  pctEncode,
  rsaToken,
  sendRaw,
  short,
  type RawOutcome,
  type RawRequest,
} from '../support/fuzz';
import { MAX_NESTING } from '../../server/src/contracts/api';
import type { WelcomePayload } from '../../server/src/contracts/socket-events';
import { ADMIN_KEY, PUSH_KEY, READ_KEY, SIGNED_KEY, TEST_JWT_SECRET, closeAllClients, connectClient, makeToken, nextEvent, startNode, type TestNode } from '../support/node';
import { testRedisUrl, uniquePrefix } from '../support/redis';

/*
 * Generated bad input (issue 6). Every HTTP route and every socket event gets a seeded corpus of
 * hostile input; each case is checked against what the contract allows for it (an exact code where
 * the generator knows which rule fires, a short list where it cannot), and the invariants hold for
 * all of them: no 5xx, no hang, every HTTP answer in the envelope with its X-Request-Id, every ack
 * `{ ok: true, data? }` or `{ ok: false, error: { code, message } }`, no error logged, the node
 * healthy afterwards. The rules the generator models include the three this fuzzer once caught the
 * server breaking, each also pinned by a plain test: a session cookie with broken percent-encoding
 * is no session (401, never a 500); HTTP bodies and socket event arguments nesting deeper than
 * MAX_NESTING are refused with BAD_REQUEST before anything is admitted or forwarded; room names,
 * user ids, push and client event names and token subs with a lone surrogate are refused
 * (BAD_REQUEST, or UNAUTHORIZED for a token), so no two ids collide as UTF-8.
 * The hand-written corpus in bad-input.test.ts comes first; this one explores around it.
 *
 * Replay a run: FUZZ_SEED=<seed> FUZZ_CASES=<n> npx jest test/integration/fuzz.test.ts
 */

const SEED = fuzzSeed();
const N = fuzzCases(40);
const cases = (weight: number) => Math.max(1, Math.round(N * weight));
/** Each target's time limit grows with FUZZ_CASES (the default run needs a few seconds per target). */
const TARGET_TIMEOUT_MS = Math.max(30_000, N * 500);
process.stdout.write(`fuzz: FUZZ_SEED=${SEED} FUZZ_CASES=${N} (MAX_NESTING=${MAX_NESTING})\n`);

const MAX_PAYLOAD = 16384;
/** Node's default --max-http-header-size. */
const MAX_HEADER_BYTES = 16384;
const MAX_TOKEN_LENGTH = 8192;
const METRICS_TOKEN = 'fz-metrics-token-0123456789abcdef';
const KID2_SECRET = 'fuzz-second-kid-secret-0123456789ab';
const WRONG_SECRET = 'fuzz-wrong-secret-0123456789abcdef';
const TIMEOUT_MS = 5000;

/** The contract's HTTP codes (CONTRACT.md §4) with their statuses. */
const HTTP_CODES: Record<string, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMIT_EXCEEDED: 429,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
};
/** Pushed event names a push may not use (README, "HTTP API" and "Delivery guarantees"). */
const RESERVED_PUSH = ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener', 'welcome', 'server:draining', 'recovered', 'presence:join', 'presence:leave'];
/** Names socket.io-client refuses to emit: those go out as raw packets. */
const CLIENT_RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);
const OFFSET = /^[0-9a-z]{1,16}:\d{1,12}$/;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nowS = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------
// The canary: one socket per describe that must keep receiving pushes
// ---------------------------------------------------------------------------------------------

class Canary {
  private socket: ClientSocket | null = null;
  private n = 0;

  constructor(readonly userId: string) {}

  async connect(url: string, token: string): Promise<void> {
    this.socket = ioClient(url, { auth: { token }, reconnection: false, forceNew: true, transports: ['websocket'] });
    await nextEvent(this.socket, 'welcome');
  }

  /** Problems found, empty when /health/live answers and a push still reaches the canary. */
  async check(node: TestNode): Promise<string[]> {
    const live = await sendRaw(node.port, { method: 'GET', path: '/health/live', headers: [] }, TIMEOUT_MS);
    if (live.kind !== 'response' || live.res.status !== 200) return [`/health/live: ${describeOutcome(live)}`];
    const n = ++this.n;
    const arrived = nextEvent<[number]>(this.socket!, 'canary', TIMEOUT_MS);
    arrived.catch(() => undefined);
    const body = Buffer.from(JSON.stringify({ users: [this.userId], event: 'canary', data: n }));
    const res = await sendRaw(node.port, { method: 'POST', path: '/api/v1/push', headers: [['Authorization', `Bearer ${ADMIN_KEY}`], ['Content-Type', 'application/json']], body }, TIMEOUT_MS);
    if (res.kind !== 'response' || res.res.status !== 200) return [`canary push: ${describeOutcome(res)}`];
    const recipients = (JSON.parse(res.res.body.toString()) as { data?: { recipients?: number } }).data?.recipients;
    if (recipients !== 1) return [`canary push reached ${String(recipients)} sockets`];
    try {
      const [got] = await arrived;
      return got === n ? [] : [`canary received ${String(got)}, expected ${n}`];
    } catch (err) {
      return [`canary: ${(err as Error).message}`];
    }
  }

  close(): void {
    this.socket?.disconnect();
  }
}

function describeOutcome(o: RawOutcome): string {
  if (o.kind === 'hang') return `no answer within ${o.ms} ms (hang)`;
  if (o.kind === 'closed') return `connection closed without a complete answer after ${o.ms} ms (${o.error ?? 'no error'}, ${o.bytes} bytes)`;
  return `${o.res.status} ${short(o.res.body.toString(), 200)}`;
}

/** Error lines a node logged. */
function errorLines(node: TestNode): Record<string, unknown>[] {
  return node.logs.filter((l) => l.level === 'error');
}

/** Status and error code of an API answer, for exact assertions. */
function answer(o: RawOutcome): { status: number | string; code?: unknown; fields?: unknown } {
  if (o.kind !== 'response') return { status: describeOutcome(o) };
  let body: { error?: { code?: unknown; details?: { field?: unknown }[] } } = {};
  try {
    body = JSON.parse(o.res.body.toString()) as typeof body;
  } catch {
    /* judged by the status alone */
  }
  const out: { status: number; code?: unknown; fields?: unknown } = { status: o.res.status };
  if (body.error) out.code = body.error.code;
  if (Array.isArray(body.error?.details)) out.fields = body.error.details.map((d) => d.field);
  return out;
}

// =============================================================================================
// HTTP
// =============================================================================================

type Scope = 'push' | 'read' | 'manage' | 'admin';
interface KeyInfo {
  key: string;
  scopes: Scope[];
  mustSign: boolean;
}
const KEYS: Record<'admin' | 'push' | 'read' | 'signed', KeyInfo> = {
  admin: { key: ADMIN_KEY, scopes: ['admin'], mustSign: false },
  push: { key: PUSH_KEY, scopes: ['push'], mustSign: false },
  read: { key: READ_KEY, scopes: ['read'], mustSign: false },
  signed: { key: SIGNED_KEY, scopes: ['push', 'read'], mustSign: true },
};
const hasScope = (k: KeyInfo, s: Scope) => k.scopes.includes('admin') || k.scopes.includes(s);

/** What a route's handler decides, once auth, body parsing and signatures passed. */
type Verdict = Set<number>;

interface HttpCase {
  req: RawRequest;
  /** Statuses the contract allows for this input. */
  allowed: number[];
  /** How the answer must look: the API envelope, a health summary, Prometheus text, a CORS preflight, Pusher's (JSON, or a plain-text refusal). */
  shape: 'envelope' | 'health' | 'metrics' | 'preflight' | 'pusher';
  /** A 2xx answer's `data`, checked further (route-specific); returns a problem or null. */
  verify?: (data: unknown) => string | null;
  /** The body as generated nests deeper than MAX_NESTING (shown in the tally, whether or not it is read as JSON). */
  tooDeep?: boolean;
  /** Node's HTTP parser refuses the request: answered outside Express, so an incoming X-Request-Id cannot be kept. */
  parserRefuses?: boolean;
  note: string;
}

interface Who {
  headers: [string, string][];
  key: KeyInfo | null;
  note: string;
}

/** Auth headers: the admin key most of the time, so the validation layer behind auth is what gets fuzzed. */
function who(f: Fuzz, adminShare = 0.75): Who {
  const r = f.rng;
  const valid = (k: KeyInfo): Who => (r.chance(0.7) ? { headers: [['Authorization', `Bearer ${k.key}`]], key: k, note: 'bearer' } : { headers: [['X-API-Key', k.key]], key: k, note: 'x-api-key' });
  if (r.chance(adminShare)) return valid(KEYS.admin);
  const k = r.pick([KEYS.admin, KEYS.push, KEYS.read, KEYS.signed]);
  return r.weighted<Who>([
    [3, () => valid(r.pick([KEYS.push, KEYS.read, KEYS.signed]))],
    [1, () => ({ headers: [['Authorization', `bearer ${' '.repeat(r.int(1, 3))}${k.key}`]], key: k, note: 'lower-case scheme, extra spaces' })],
    [1, () => ({ headers: [['Authorization', `BEARER\t${k.key}`]], key: k, note: 'tab after the scheme' })],
    [1, () => ({ headers: [['X-API-Key', `  ${k.key}  `]], key: k, note: 'x-api-key with spaces around' })],
    [1, () => ({ headers: [['X-API-Key', ''], ['Authorization', `Bearer ${k.key}`]], key: k, note: 'empty x-api-key, valid bearer' })],
    [2, () => ({ headers: [], key: null, note: 'no auth' })],
    [1, () => ({ headers: [['Authorization', `Basic ${Buffer.from(`x:${k.key}`).toString('base64')}`]], key: null, note: 'basic scheme' })],
    [1, () => ({ headers: [['Authorization', r.pick([`Token ${k.key}`, k.key, 'Bearer', 'Bearer ', `Bearer:${k.key}`, `Bearer${k.key}`, `${k.key} Bearer`])]], key: null, note: 'wrong scheme' })],
    [2, () => ({ headers: [['Authorization', `Bearer ${r.pick([`${k.key}x`, k.key.slice(0, -1), k.key.toUpperCase(), f.ascii(5, 40), `${k.key.slice(0, 8)} ${k.key.slice(8)}`, `${k.key}\u00e9`])}`]], key: null, note: 'wrong key' })],
    [1, () => ({ headers: [['Authorization', `Bearer ${'k'.repeat(r.pick([513, 2000, 9000]))}`]], key: null, note: 'huge key' })],
    [1, () => ({ headers: [['X-API-Key', `${k.key}x`], ['Authorization', `Bearer ${k.key}`]], key: null, note: 'wrong x-api-key wins over a valid bearer' })],
    [1, () => ({ headers: [['X-API-Key', k.key], ['X-API-Key', k.key]], key: null, note: 'x-api-key twice (joined with a comma)' })],
    [1, () => ({ headers: [['Authorization', `Bearer ${k.key}`], ['Authorization', 'Bearer nope']], key: k, note: 'authorization twice (the first counts)' })],
  ]);
}

/** A dashboard session cookie, forged (broken percent-encoding in the key name among them): no session, never a 500. */
function sessionCookie(f: Fuzz): string {
  const r = f.rng;
  const name = r.weighted<string>([
    [2, () => 'admin'],
    [2, () => pctEncode(f.string(30)).slice(0, 200) || 'x'],
    [2, () => r.pick(['%', '%E0%A4%A', '%ZZ', '%C0%AF', '%ED%A0%80', 'a%2', '%%'])],
    [1, () => f.ascii(1, 20).replace(/[.;]/g, '_')],
  ]);
  const exp = r.pick([String(Date.now() + 3_600_000), String(Date.now() - 1000), '9'.repeat(16), '0', f.ascii(1, 5)]);
  const mac = r.pick(['a'.repeat(64), createHmac('sha256', 'x').update(name).digest('hex'), f.ascii(10, 70)]);
  const value = r.chance(0.8) ? `v1.${name}.${exp}.${mac}` : f.ascii(0, 60);
  return r.chance(0.8) ? `pushgate_session=${value}` : `other=1; pushgate_session=${value}; x=${f.ascii(0, 10)}`;
}

/** A valid room or user name: no whitespace, no control characters, short enough under either reading of "characters". */
function validName(f: Fuzz, prefix = ''): string {
  const r = f.rng;
  const safe = ['a', 'Z', '0', '9', '-', '_', '.', ':', '#', '@', '!', '~', '*', '(', 'é', '漢', '\u{1F600}', '\u200D', '\u200F', 'e\u0301', '\uFFFD', '\u0627', '%', '/', '\\', '"', "'", '<', '+', '=', '&'];
  let s = prefix;
  const n = r.int(1, 24);
  for (let i = 0; i < n; i++) s += r.chance(0.7) ? f.ascii(1, 1).replace(/[^!-~]/g, 'x') : r.pick(safe);
  if (s.startsWith('user:')) s = `u${s}`;
  return s;
}

interface Param {
  raw: string;
  /** Decoded as Express does; null when it cannot be decoded. */
  value: string | null;
}

function param(f: Fuzz): Param {
  const r = f.rng;
  const raw = r.weighted<string>([
    [5, () => pctEncode(validName(f))],
    [3, () => pctEncode(f.string(300))],
    [1, () => r.pick(['%', '%E0%A4%A', '%ZZ', '%C0%AF', '%ED%A0%80', '%FF', 'a%2', '%%30'])],
    [1, () => r.pick(['..', '.', '%2e%2e', '%2F', 'a%2Fb', '%00', '%20', '+', 'a+b', '%2B', '~', '*', ':', '@', "!$&'()*,;=", `user:${f.ascii(1, 8).replace(/[^A-Za-z0-9]/g, 'x')}`, 'user%3Ax', 'USER:x'])],
    [1, () => 'r'.repeat(r.pick([200, 201, 1000, 6000]))],
  ]);
  let value: string | null;
  try {
    value = decodeURIComponent(raw);
  } catch {
    value = null;
  }
  return { raw, value };
}

/** checkRoomName as the contract states it: BAD_REQUEST for a bad name, FORBIDDEN for a user: room. */
function roomVerdict(value: string | null, ok: Verdict): Verdict {
  if (value === null) return new Set([400]);
  const v = contractName(value);
  if (v === 'invalid') return new Set([400]);
  const after = value.startsWith('user:') ? new Set([403]) : ok;
  return v === 'either' ? new Set([400, ...after]) : after;
}

function userVerdict(value: string | null, ok: Verdict): Verdict {
  if (value === null) return new Set([400]);
  const v = contractName(value);
  if (v === 'invalid') return new Set([400]);
  return v === 'either' ? new Set([400, ...ok]) : ok;
}

// --- bodies ---------------------------------------------------------------------------------

type Validity = 'valid' | 'invalid' | 'either';
interface Field {
  key: string;
  value: unknown;
  validity: Validity;
  /** A valid value that makes the whole push FORBIDDEN (a user: room). */
  forbidden?: boolean;
}
interface Body {
  value: unknown;
  /** What the route's validation answers: 200, 400 or 403 (a set where the generator cannot tell). */
  verdict: Verdict;
  /** For batches: each item's expected result (null where unknown). */
  items?: { verdict: Verdict | null }[];
}

/** Collapses per-field validity into the route's answer (zod reports every issue, so one invalid field is a 400). */
function verdictOf(fields: Field[], extra: { invalid?: boolean; either?: boolean } = {}): Verdict {
  if (extra.invalid || fields.some((x) => x.validity === 'invalid')) return new Set([400]);
  const base = fields.some((x) => x.forbidden) ? 403 : 200;
  return extra.either || fields.some((x) => x.validity === 'either') ? new Set([400, base]) : new Set([base]);
}

function listValidity(items: unknown[], one: (x: unknown) => Validity): Validity {
  if (items.length > 1000) return 'invalid';
  const vs = items.map(one);
  return vs.includes('invalid') ? 'invalid' : vs.includes('either') ? 'either' : 'valid';
}
/** A length rule: where code points and UTF-16 units disagree about the limit, either answer is right. */
function lengthIn(x: unknown, min: number, max: number): Validity {
  if (typeof x !== 'string') return 'invalid';
  const cps = [...x].length;
  if (cps < min || cps > max) return 'invalid';
  return x.length <= max ? 'valid' : 'either';
}
const nameValidity = (x: unknown): Validity => contractName(x);
const socketIdValidity = (x: unknown): Validity => lengthIn(x, 1, 100);
const eventValidity = (x: unknown): Validity => (typeof x === 'string' && (RESERVED_PUSH.includes(x) || hasLoneSurrogate(x)) ? 'invalid' : lengthIn(x, 1, 100));
const idValidity = (x: unknown): Validity => (typeof x === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(x) ? 'valid' : 'invalid');
const ackTimeoutValidity = (x: unknown): Validity => (typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= 30000 ? 'valid' : 'invalid');

/** Nesting around MAX_NESTING: a body (or a batch item) carrying it lands on either side of the limit. */
const NEAR_LIMIT = [MAX_NESTING - 3, MAX_NESTING - 2, MAX_NESTING - 1, MAX_NESTING];

/** A `data` value: random JSON, pollution keys, raw numbers, nesting around the limit and far beyond it (within the body limit). */
function data(f: Fuzz): unknown {
  const r = f.rng;
  return r.weighted<unknown>([
    [5, () => f.json(3)],
    [2, () => f.pollution()],
    [1, () => f.rawNumber()],
    [1, () => f.deep(r.pick([...NEAR_LIMIT, 100, 1000, 3000, 7000]), 'array')],
    [1, () => f.deep(r.pick([...NEAR_LIMIT, 100, 1000, 2500]), 'object')],
    [1, () => 'x'.repeat(r.pick([MAX_PAYLOAD / 4, MAX_PAYLOAD - 400, MAX_PAYLOAD - 60, MAX_PAYLOAD + 100, MAX_PAYLOAD * 2]))],
    [1, () => r.times(r.int(1, 5), () => r.pick(UNICODE_EDGES)).join('')],
  ]);
}

/** A wrong value for a list-of-names field. */
function wrongList(f: Fuzz, item: (x: unknown) => Validity): { value: unknown; validity: Validity } {
  const r = f.rng;
  return r.weighted<{ value: unknown; validity: Validity }>([
    [3, () => ({ value: f.wrong('array'), validity: 'invalid' })],
    [3, () => {
      const list = r.times(r.int(1, 4), () => (r.chance(0.5) ? f.string(300) : f.json(1)));
      return { value: list, validity: listValidity(list, item) };
    }],
    [1, () => ({ value: r.times(r.int(1001, 1400), (i) => `u${i}`), validity: 'invalid' })],
    [1, () => ({ value: r.times(1000, (i) => `${i}`), validity: 'valid' })],
    [1, () => ({ value: [], validity: 'valid' })],
  ]);
}

interface FieldSpec {
  key: string;
  valid: () => unknown;
  wrong: () => { value: unknown; validity: Validity };
  required?: boolean;
}

function pushFields(f: Fuzz, withTargets: boolean): FieldSpec[] {
  const r = f.rng;
  const names = (prefix = '') => r.times(r.int(1, 3), () => validName(f, prefix));
  const scalarWrong = (check: (x: unknown) => Validity, extra: () => unknown) => () => {
    const value = r.chance(0.5) ? extra() : r.chance(0.5) ? f.string(300) : f.json(2);
    return { value, validity: hasRaw(value) ? 'either' : check(value) } as { value: unknown; validity: Validity };
  };
  const specs: FieldSpec[] = [
    { key: 'event', required: true, valid: () => r.chance(0.5) ? `fz:${f.ascii(1, 20)}` : validEvent(f), wrong: scalarWrong(eventValidity, () => r.pick([...RESERVED_PUSH, '', 'e'.repeat(101), 5, null, ['e']])) },
    { key: 'data', required: true, valid: () => data(f), wrong: () => ({ value: data(f), validity: 'valid' }) },
    { key: 'id', valid: () => f.ascii(1, 40).replace(/[^A-Za-z0-9._:-]/g, '_'), wrong: scalarWrong(idValidity, () => r.pick(['', 'a b', 'i'.repeat(129), 'é', '\u{1F600}', 5, {}, 'a/b'])) },
    { key: 'except', valid: () => r.times(r.int(0, 3), () => f.string(100).slice(0, 100) || 's'), wrong: () => wrongList(f, socketIdValidity) },
    { key: 'ack', valid: () => r.chance(0.5), wrong: scalarWrong((x) => (typeof x === 'boolean' ? 'valid' : 'invalid'), () => r.pick(['true', 1, 0, null, 'yes'])) },
    // Receipts with nobody to acknowledge still wait for the cluster: keep valid timeouts short.
    { key: 'ackTimeoutMs', valid: () => r.int(1, 200), wrong: scalarWrong(ackTimeoutValidity, () => r.pick([0, -1, 30001, 1.5, '100', 1e308, new RawJson('1e309'), new RawJson('-0'), null])) },
  ];
  if (withTargets) {
    specs.push(
      { key: 'users', valid: () => names(), wrong: () => wrongList(f, nameValidity) },
      { key: 'rooms', valid: () => names('fz:'), wrong: () => wrongList(f, nameValidity) },
      { key: 'socketIds', valid: () => r.times(r.int(1, 3), () => f.ascii(1, 30)), wrong: () => wrongList(f, socketIdValidity) },
    );
  }
  return specs;
}

function validEvent(f: Fuzz): string {
  for (;;) {
    const e = f.string(100);
    if (eventValidity(e) === 'valid') return e;
  }
}

/**
 * A push or broadcast body: a valid one, then 0–3 mutations (a wrong value, a dropped required
 * field, an unknown or prototype key, a user: room), each with what it does to the verdict.
 */
function messageBody(f: Fuzz, withTargets: boolean, mutations = f.rng.pick([0, 1, 1, 2, 3])): { value: Record<string, unknown>; verdict: Verdict } {
  const r = f.rng;
  const specs = pushFields(f, withTargets);
  const fields: Field[] = [];
  for (const s of specs) {
    const include = s.required || (withTargets && (s.key === 'users' || s.key === 'rooms' || s.key === 'socketIds') ? r.chance(0.5) : r.chance(0.3));
    if (include) fields.push({ key: s.key, value: s.valid(), validity: 'valid' });
  }
  if (withTargets && !fields.some((x) => ['users', 'rooms', 'socketIds'].includes(x.key))) fields.push({ key: 'users', value: [validName(f)], validity: 'valid' });
  // ack without a short timeout would wait the 5 s default for receipts.
  if (fields.some((x) => x.key === 'ack' && x.value === true) && !fields.some((x) => x.key === 'ackTimeoutMs')) fields.push({ key: 'ackTimeoutMs', value: 50, validity: 'valid' });
  let unknownKey = false;
  for (let m = 0; m < mutations; m++) {
    r.weighted<void>([
      [5, () => {
        const s = r.pick(specs);
        const w = s.wrong();
        const at = fields.findIndex((x) => x.key === s.key);
        const field = { key: s.key, value: w.value, validity: w.validity };
        if (at >= 0) fields[at] = field;
        else fields.push(field);
      }],
      [2, () => {
        const req = fields.filter((x) => x.key === 'event' || x.key === 'data');
        if (req.length) fields.splice(fields.indexOf(r.pick(req)), 1);
      }],
      [2, () => {
        const key = r.chance(0.5) ? r.pick(PROTO_KEYS) : r.chance(0.5) ? f.string(20) : r.pick(['Users', 'USERS', 'event ', 'rooms\u0000', 'priority', 'target']);
        if (!fields.some((x) => x.key === key)) {
          const known = specs.some((s) => s.key === key);
          fields.push({ key, value: r.chance(0.5) ? f.json(2) : f.pollution(), validity: known ? 'either' : 'invalid' });
          if (!known) unknownKey = true;
        }
      }],
      [1, () => {
        if (withTargets) {
          const at = fields.findIndex((x) => x.key === 'rooms');
          const value = [`user:${validName(f)}`];
          if (at >= 0) fields[at] = { key: 'rooms', value, validity: 'valid', forbidden: true };
          else fields.push({ key: 'rooms', value, validity: 'valid', forbidden: true });
        }
      }],
      [1, () => {
        // Every target list emptied: no target at all.
        for (const k of ['users', 'rooms', 'socketIds']) {
          const at = fields.findIndex((x) => x.key === k);
          if (at >= 0) fields[at] = { key: k, value: [], validity: 'valid' };
        }
      }],
    ]);
  }
  const missing = !fields.some((x) => x.key === 'event') || !fields.some((x) => x.key === 'data');
  let noTarget = false;
  if (withTargets) {
    const count = (k: string) => {
      const x = fields.find((y) => y.key === k);
      return x && Array.isArray(x.value) ? x.value.length : 0;
    };
    noTarget = count('users') + count('rooms') + count('socketIds') === 0;
  }
  // A list field of the wrong shape cannot be counted: then "no target" is unknowable, and irrelevant (it is a 400 anyway).
  const value = own(fields.map((x) => [x.key, x.value] as const));
  const verdict = verdictOf(fields, { invalid: missing || noTarget || unknownKey });
  return { value, verdict };
}

function batchBody(f: Fuzz): Body {
  const r = f.rng;
  const count = r.weighted<number>([
    [6, () => r.int(1, 8)],
    [1, () => r.pick([0, 100, 101, r.int(102, 160)])],
  ]);
  const items: { verdict: Verdict | null }[] = [];
  const messages = r.times(count, () => {
    if (count > 20) {
      items.push({ verdict: new Set([200]) });
      return { users: ['fz-b'], event: 'b', data: 1 };
    }
    return r.weighted<unknown>([
      [4, () => {
        const m = messageBody(f, true);
        items.push({ verdict: m.verdict });
        return m.value;
      }],
      [1, () => {
        const v = f.json(2);
        items.push({ verdict: isObj(v) ? null : new Set([400]) });
        return v;
      }],
    ]);
  });
  let top: Record<string, unknown> = own([['messages', messages]]);
  let verdict: Verdict = count >= 1 && count <= 100 ? new Set([200]) : new Set([400]);
  r.weighted<void>([
    [6, () => undefined],
    [1, () => {
      top = own([['messages', f.wrong('array')]]);
      verdict = new Set([400]);
    }],
    [1, () => {
      top = own([['messages', messages], [r.chance(0.5) ? r.pick(PROTO_KEYS) : f.string(20), f.json(1)]]);
      verdict = new Set([400]);
    }],
    [1, () => {
      top = own([]);
      verdict = new Set([400]);
    }],
  ]);
  return { value: top, verdict, items: verdict.has(200) ? items : undefined };
}

function signInBody(f: Fuzz): Body {
  const r = f.rng;
  return r.weighted<Body>([
    [2, () => ({ value: { key: ADMIN_KEY }, verdict: new Set([200]) })],
    [2, () => ({ value: { key: r.pick([PUSH_KEY, READ_KEY, `${ADMIN_KEY} `, ADMIN_KEY.toUpperCase(), f.ascii(1, 100)]) }, verdict: new Set([401]) })],
    [2, () => {
      const key = r.chance(0.5) ? f.wrong('string') : r.pick(['', 'k'.repeat(513)]);
      return { value: { key }, verdict: new Set([400]) };
    }],
    [1, () => ({ value: own([['key', ADMIN_KEY], [r.pick(PROTO_KEYS), f.json(1)]]), verdict: new Set([400]) })],
    [1, () => ({ value: f.json(2), verdict: new Set([400, 401]) })],
  ]);
}

// --- encoding a body ------------------------------------------------------------------------

interface Encoded {
  bytes: Buffer;
  headers: [string, string][];
  /** How express.json sees it: parsed JSON (or a parse failure), or not read at all. */
  parse: 'json' | 'malformed' | 'either' | 'ignored' | 'ignored-or-json' | 'charset';
  note: string;
}

function parsesAsJson(bytes: Buffer): boolean {
  try {
    JSON.parse(bytes.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** Serialises a body, mostly cleanly, sometimes corrupted, under a clean or a hostile Content-Type. */
function encode(f: Fuzz, value: unknown, opts: { clean?: boolean } = {}): Encoded {
  const r = f.rng;
  let text = jsonText(value);
  let parse: Encoded['parse'] = hasRaw(value, true) ? 'malformed' : 'json';
  let note = 'json';
  let bytes = Buffer.from(text, 'utf8');
  if (!opts.clean) {
    r.weighted<void>([
      [12, () => undefined],
      [1, () => {
        bytes = Buffer.from(`${text}${r.pick([' ', '\n', '\r\n\t '])}`);
        note = 'trailing whitespace';
      }],
      [2, () => {
        bytes = Buffer.from(`${text}${r.pick(['x', '}', ']', ',', '{}', '\u0000', 'null', ' garbage', '//'])}`);
        parse = parsesAsJson(bytes) ? 'either' : 'malformed';
        note = 'trailing garbage';
      }],
      [1, () => {
        bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
        parse = parse === 'malformed' ? 'malformed' : 'either';
        note = 'UTF-8 BOM';
      }],
      [1, () => {
        if (text.length > 1) {
          text = text.slice(0, r.int(1, text.length - 1));
          bytes = Buffer.from(text);
          // A cut can leave a shorter document that is still JSON ("1001" → "1"): then it is another value.
          parse = parsesAsJson(bytes) ? 'either' : 'malformed';
          note = 'truncated';
        }
      }],
      [1, () => {
        // Invalid UTF-8 inside a string literal: decoded as U+FFFD, so the JSON may still be valid.
        const at = text.indexOf('":"');
        if (at > 0) {
          bytes = Buffer.concat([Buffer.from(text.slice(0, at + 3)), f.badUtf8(), Buffer.from(text.slice(at + 3))]);
          parse = parse === 'malformed' ? 'malformed' : 'either';
          note = 'invalid UTF-8 in a string';
        }
      }],
      [1, () => {
        bytes = Buffer.concat([f.badUtf8(), bytes]);
        parse = 'malformed';
        note = 'invalid UTF-8 before the document';
      }],
    ]);
  }
  let headers: [string, string][] = [['Content-Type', 'application/json']];
  if (!opts.clean) {
    r.weighted<void>([
      [10, () => undefined],
      [2, () => {
        headers = [['Content-Type', r.pick(['application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8', 'application/json ; charset="utf-8"'])]];
      }],
      [1, () => {
        headers = [['Content-Type', r.pick(['application/json; charset=latin1', 'application/json; charset=x-unknown', 'application/json; charset=ascii'])]];
        parse = 'charset';
      }],
      [1, () => {
        // A UTF-16 label is a charset the parser may decode with: the bytes become other text.
        headers = [['Content-Type', r.pick(['application/json; charset=utf-16', 'application/json; charset=utf-16le', 'application/json; charset=utf-7'])]];
        parse = 'either';
      }],
      [2, () => {
        headers = r.chance(0.2) ? [] : [['Content-Type', r.pick(['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x', 'text/html', 'image/png'])]];
        parse = 'ignored';
      }],
      [1, () => {
        headers = [['Content-Type', r.pick(['application/vnd.api+json', 'application/jsonx', '*/*', 'application/*', 'json', '', ';', 'application/json, text/plain', '\u00e9/\u00e9'])]];
        parse = parse === 'json' ? 'ignored-or-json' : 'either';
      }],
      [1, () => {
        headers = [['Content-Type', 'application/json'], ['Content-Type', r.pick(['text/plain', 'application/json'])]];
        parse = parse === 'json' ? 'ignored-or-json' : 'either';
      }],
    ]);
  }
  return { bytes, headers, parse, note: `${note}, ${headers.map((h) => h[1]).join(' + ') || 'no content-type'}` };
}

// --- queries --------------------------------------------------------------------------------

type QueryKey = { name: string; valid: () => string; check: (v: string) => Validity };

/** Parses `limit` the way a client would expect a number: plain decimals are judged, other spellings may go either way. */
function limitValidity(v: string): Validity {
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    return n >= 1 && n <= 1000 ? 'valid' : 'invalid';
  }
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? 'either' : 'invalid';
}

function queryString(f: Fuzz, keys: QueryKey[]): { text: string; validity: Validity; parsed: Record<string, unknown> } {
  const r = f.rng;
  const pairs: [string, string][] = [];
  for (const k of keys) {
    if (!r.chance(0.6)) continue;
    const v = r.chance(0.6) ? k.valid() : r.weighted<string>([
      [3, () => f.string(300)],
      [1, () => r.pick(['', '0', '-1', '1001', '1.5', 'abc', '1e3', '0x10', ' 5', '+5', 'NaN', 'Infinity', '9'.repeat(30)])],
      [1, () => 'x'.repeat(r.pick([200, 201, 400, 401, 3000]))],
    ]);
    pairs.push([k.name, v]);
    if (r.chance(0.1)) pairs.push([k.name, r.chance(0.5) ? v : k.valid()]);
  }
  if (r.chance(0.2)) pairs.push([r.pick([...PROTO_KEYS, 'sort', 'limit[]', 'prefix[a]', '__proto__[limit]', '', 'a'.repeat(300), f.string(20)]), f.ascii(0, 10)]);
  const encodeKey = (s: string) => (r.chance(0.9) ? pctEncode(s) : s.replace(/[^A-Za-z0-9[\]_]/g, (c) => pctEncode(c)));
  const text = pairs.map(([k, v]) => `${encodeKey(k)}=${r.chance(0.9) ? pctEncode(v) : v.replace(/[^!-~]/g, (c) => pctEncode(c)).replace(/[#&=]/g, (c) => pctEncode(c))}`).join('&');
  const parsed = parseQuery(text) as Record<string, unknown>;
  let validity: Validity = 'valid';
  for (const [k, v] of Object.entries(parsed)) {
    const spec = keys.find((x) => x.name === k);
    if (!spec || typeof v !== 'string') {
      validity = 'invalid';
      break;
    }
    const one = spec.check(v);
    if (one === 'invalid') {
      validity = 'invalid';
      break;
    }
    if (one === 'either') validity = 'either';
  }
  return { text, validity, parsed };
}

const ROOMS_QUERY: QueryKey[] = [
  { name: 'prefix', valid: () => 'fz:', check: (v) => lengthIn(v, 0, 200) },
  { name: 'limit', valid: () => '10', check: limitValidity },
  { name: 'cursor', valid: () => 'fz:a', check: (v) => lengthIn(v, 0, 400) },
];
const CONNECTIONS_QUERY: QueryKey[] = [
  { name: 'userId', valid: () => 'fz-user', check: (v) => lengthIn(v, 1, 200) },
  { name: 'socketId', valid: () => 'fz-socket', check: (v) => lengthIn(v, 1, 100) },
  { name: 'reveal', valid: () => 'true', check: (v) => (v === 'true' || v === 'false' ? 'valid' : 'invalid') },
];
const LOGS_QUERY: QueryKey[] = [
  { name: 'limit', valid: () => '5', check: limitValidity },
  { name: 'level', valid: () => 'warn', check: (v) => (['error', 'warn', 'info', 'http', 'verbose', 'debug'].includes(v) ? 'valid' : 'invalid') },
];

// --- routes ---------------------------------------------------------------------------------

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** OpenAPI template. */
  path: string;
  scope: Scope;
  body?: 'push' | 'broadcast' | 'batch';
  query?: QueryKey[];
}

const API_ROUTES: Route[] = [
  { method: 'POST', path: '/api/v1/push', scope: 'push', body: 'push' },
  { method: 'POST', path: '/api/v1/rooms/{room}/broadcast', scope: 'push', body: 'broadcast' },
  { method: 'POST', path: '/api/v1/batch', scope: 'push', body: 'batch' },
  { method: 'GET', path: '/api/v1/rooms', scope: 'read', query: ROOMS_QUERY },
  { method: 'GET', path: '/api/v1/rooms/{room}', scope: 'read' },
  { method: 'PUT', path: '/api/v1/rooms/{room}/members/{userId}', scope: 'manage' },
  { method: 'DELETE', path: '/api/v1/rooms/{room}/members/{userId}', scope: 'manage' },
  { method: 'GET', path: '/api/v1/users/{userId}', scope: 'read' },
  { method: 'DELETE', path: '/api/v1/users/{userId}/connections', scope: 'manage' },
  { method: 'GET', path: '/api/v1/status', scope: 'read' },
  { method: 'GET', path: '/api/v1/admin/apps', scope: 'admin' },
  { method: 'GET', path: '/api/v1/admin/overview', scope: 'admin' },
  { method: 'GET', path: '/api/v1/admin/nodes', scope: 'admin' },
  { method: 'GET', path: '/api/v1/admin/connections', scope: 'admin', query: CONNECTIONS_QUERY },
  { method: 'GET', path: '/api/v1/admin/webhooks', scope: 'admin' },
  { method: 'GET', path: '/api/v1/admin/logs', scope: 'admin', query: LOGS_QUERY },
];
const SESSION_ROUTES = ['POST /api/v1/admin/session', 'GET /api/v1/admin/session', 'DELETE /api/v1/admin/session'];
const OPEN_ROUTES = ['GET /health', 'GET /health/live', 'GET /health/ready', 'GET /metrics'];
/** Fuzzed by pusherCase. */
const PUSHER_ROUTES = ['POST /apps/{appId}/events', 'POST /apps/{appId}/batch_events', 'GET /apps/{appId}/channels', 'GET /apps/{appId}/channels/{channel}', 'GET /apps/{appId}/channels/{channel}/users', 'POST /apps/{appId}/users/{userId}/terminate_connections'];

const headerBytes = (req: RawRequest) => Buffer.byteLength(`${req.method} ${req.path} HTTP/1.1\r\nHost: 127.0.0.1:65535\r\nConnection: close\r\n${req.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}`, 'latin1') + 40;

/** Random headers that must change nothing: request ids (safe or not), forwarding, origin, junk. */
function noiseHeaders(f: Fuzz): [string, string][] {
  const r = f.rng;
  const out: [string, string][] = [];
  if (r.chance(0.3)) out.push(['X-Request-Id', r.pick([f.ascii(1, 40).replace(/[^\w.:-]/g, '-'), f.ascii(1, 200), '', 'a b', 'x'.repeat(129), '../etc', '\u00e9'])]);
  if (r.chance(0.15)) out.push(['X-Forwarded-For', r.pick(['1.2.3.4', 'garbage', '::1, 10.0.0.1', '999.999.999.999', f.ascii(1, 40)])]);
  if (r.chance(0.15)) out.push(['Origin', r.pick(['http://evil.example', 'null', f.ascii(1, 30)])]);
  // (No Expect: 100-continue: the interim 100 answer is not what this client parses.)
  if (r.chance(0.15)) out.push([r.pick(['X-Fuzz', 'Accept', 'Accept-Encoding', 'If-None-Match', 'Range', 'X-HTTP-Method-Override', 'Accept-Language']), r.pick([f.ascii(0, 60), 'bytes=0-1', '*/*', 'gzip', 'DELETE'])]);
  return out;
}

function fill(template: string, params: Record<string, Param>): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => params[name]!.raw);
}

/**
 * The contract's pipeline for an /api/v1 request: key → body size → JSON parse → nesting (a body
 * deeper than MAX_NESTING is a 400 whatever the route) → signature → route → scope → handler.
 */
function apiCase(f: Fuzz, route: Route): HttpCase {
  const r = f.rng;
  const params: Record<string, Param> = {};
  for (const m of route.path.matchAll(/\{(\w+)\}/g)) params[m[1]!] = r.chance(0.5) ? { raw: pctEncode(validName(f, m[1] === 'room' ? 'fz:' : '')), value: null } : param(f);
  for (const p of Object.values(params)) {
    try {
      p.value = decodeURIComponent(p.raw);
    } catch {
      p.value = null;
    }
  }
  const auth = who(f);
  let verify: HttpCase['verify'];
  let body: Body | null = null;
  if (route.body === 'push') {
    const m = messageBody(f, true);
    body = { value: m.value, verdict: m.verdict };
  } else if (route.body === 'broadcast') {
    const m = messageBody(f, false);
    body = { value: m.value, verdict: m.verdict };
  } else if (route.body === 'batch') {
    body = batchBody(f);
  } else if (r.chance(0.15)) {
    // Routes without a body still get theirs parsed, and its nesting checked.
    body = { value: r.chance(0.3) ? f.deep(r.pick([MAX_NESTING, MAX_NESTING + 1, 200])) : f.json(2), verdict: new Set([200]) };
  }
  const tooDeep = body !== null && nesting(body.value) > MAX_NESTING;
  let query = '';
  let queryValidity: Validity = 'valid';
  let queryParsed: Record<string, unknown> = {};
  if (route.query) {
    const q = queryString(f, route.query);
    query = q.text;
    queryValidity = q.validity;
    queryParsed = q.parsed;
  } else if (r.chance(0.2)) {
    query = `${pctEncode(f.string(20))}=${pctEncode(f.string(50))}&a=1&a=2`;
  }
  const bodyRoute = route.body !== undefined;
  const enc = body ? encode(f, body.value) : null;
  const headers: [string, string][] = [...auth.headers, ...(enc?.headers ?? []), ...noiseHeaders(f)];
  if (auth.headers.length === 0 && r.chance(0.3)) headers.push(['Cookie', sessionCookie(f)]);
  const method = route.method === 'GET' && r.chance(0.1) ? 'HEAD' : route.method;
  const req: RawRequest = { method, path: `${fill(route.path, params)}${query ? `?${query}` : ''}`, headers, body: enc?.bytes };

  // The route's own verdict, from the handler's checks in order.
  const room = params.room;
  const user = params.userId;
  const handler = (): Verdict => {
    switch (route.path) {
      case '/api/v1/push':
      case '/api/v1/batch':
        return bodyVerdict();
      case '/api/v1/rooms/{room}/broadcast':
        return roomVerdict(room!.value, bodyVerdict());
      case '/api/v1/rooms':
        return queryValidity === 'valid' ? new Set([200]) : queryValidity === 'invalid' ? new Set([400]) : new Set([200, 400]);
      case '/api/v1/rooms/{room}':
        return roomVerdict(room!.value, new Set([200, 404]));
      case '/api/v1/rooms/{room}/members/{userId}':
        return roomVerdict(room!.value, userVerdict(user!.value, new Set([200])));
      case '/api/v1/users/{userId}':
      case '/api/v1/users/{userId}/connections':
        return userVerdict(user!.value, new Set([200]));
      case '/api/v1/admin/connections': {
        const some = (typeof queryParsed.userId === 'string' && queryParsed.userId !== '') || (typeof queryParsed.socketId === 'string' && queryParsed.socketId !== '');
        if (queryValidity === 'invalid' || (queryValidity === 'valid' && !some)) return new Set([400]);
        return queryValidity === 'either' ? new Set([200, 400]) : new Set([200]);
      }
      case '/api/v1/admin/logs':
        return queryValidity === 'valid' ? new Set([200]) : queryValidity === 'invalid' ? new Set([400]) : new Set([200, 400]);
      default:
        return new Set([200]);
    }
  };
  const bodyVerdict = (): Verdict => {
    if (!enc || !body) return new Set([400]);
    switch (enc.parse) {
      case 'json':
        return body.verdict;
      case 'ignored':
        return new Set([400]);
      case 'ignored-or-json':
        // Read as JSON, a too-deep body never reaches the route; not read, the route finds no body.
        return new Set([400, ...(tooDeep ? [] : body.verdict)]);
      default:
        // The bytes changed under the parser (U+FFFD, another charset): any verdict of the route.
        return new Set([200, 400, 403]);
    }
  };

  let allowed: Verdict;
  const bytes = headerBytes(req);
  if (bytes > MAX_HEADER_BYTES + 512) allowed = new Set([431]);
  else if (!auth.key) allowed = new Set([401]);
  else {
    allowed = new Set();
    let settled = false;
    if (enc && enc.parse !== 'ignored') {
      if (enc.parse === 'charset') {
        // An unsupported charset is refused; whether before or after the length check is the parser's business.
        allowed.add(400);
        if (enc.bytes.length > MAX_PAYLOAD) allowed.add(413);
        settled = true;
      } else if (enc.bytes.length > MAX_PAYLOAD) {
        allowed.add(413);
        if (enc.parse === 'ignored-or-json' || enc.parse === 'either') allowed.add(400);
        else settled = true;
      } else if (enc.parse === 'malformed') {
        allowed.add(400);
        settled = true;
      } else if (tooDeep && enc.parse === 'json') {
        allowed.add(400);
        settled = true;
      } else if (enc.parse !== 'json') allowed.add(400);
    }
    if (!settled && auth.key.mustSign) {
      allowed.add(401);
      settled = true;
    }
    if (!settled) {
      // An empty segment matches no route (or, for /rooms/{room}, the room list: trailing slashes do not count).
      if (Object.values(params).some((p) => p.raw === '')) for (const st of route.path === '/api/v1/rooms/{room}' ? [200, 400, 403] : [404]) allowed.add(st);
      else if (Object.values(params).some((p) => p.value === null)) allowed.add(400);
      else if (!hasScope(auth.key, route.scope)) allowed.add(403);
      else for (const s of bodyRoute || route.query || Object.keys(params).length ? handler() : new Set([200])) allowed.add(s);
    }
    if (bytes > MAX_HEADER_BYTES - 1024) allowed.add(431);
  }
  if (allowed.has(200) && !allowed.has(400) && route.path === '/api/v1/batch' && body?.items) {
    const items = body.items;
    verify = (d) => batchProblems(d, items);
  }
  if (route.path === '/api/v1/users/{userId}' && user?.value) {
    const expected = user.value;
    verify = (d) => (isObj(d) && d.userId === expected && d.online === false && Array.isArray(d.sockets) ? null : `expected { userId: ${short(expected, 60)}, online: false, sockets: [] }`);
  }
  return {
    req,
    allowed: [...allowed],
    shape: 'envelope',
    verify,
    tooDeep,
    parserRefuses: allowed.has(431),
    note: `${method} ${short(req.path, 160)} [${auth.note}${enc ? `; body ${enc.note}, ${enc.bytes.length} B` : ''}]${body ? ` ${short(body.value, 200)}` : ''}`,
  };
}

function batchProblems(d: unknown, items: { verdict: Verdict | null }[]): string | null {
  if (!isObj(d) || !Array.isArray(d.results)) return 'batch: data.results is not a list';
  if (d.results.length !== items.length) return `batch: ${d.results.length} results for ${items.length} messages`;
  for (let i = 0; i < items.length; i++) {
    const res = d.results[i] as Record<string, unknown>;
    const want = items[i]!.verdict;
    const ok = res.success === true && isObj(res.data) && typeof res.data.id === 'string' && typeof res.data.recipients === 'number';
    const err = res.success === false && isObj(res.error) && typeof res.error.code === 'string' && typeof res.error.message === 'string';
    if (!ok && !err) return `batch: result ${i} has neither shape: ${short(res)}`;
    if (!want) continue;
    const got = ok ? 200 : HTTP_CODES[String((res.error as Record<string, unknown>).code)] ?? -1;
    if (!want.has(got)) return `batch: result ${i} is ${ok ? 'a success' : String((res.error as Record<string, unknown>).code)}, expected one of ${[...want].join('/')}`;
  }
  return null;
}

/** Sign-in, session read and sign-out: no API key needed, their own limits. */
function sessionCase(f: Fuzz): HttpCase {
  const r = f.rng;
  const method = r.pick(['POST', 'POST', 'GET', 'DELETE'] as const);
  const headers: [string, string][] = [...noiseHeaders(f)];
  let allowed: Set<number>;
  let body: Buffer | undefined;
  let note: string;
  if (method === 'POST') {
    const b = r.chance(0.1) ? { value: { key: 'k'.repeat(5000) }, verdict: new Set([413]) } : signInBody(f);
    const enc = encode(f, b.value);
    headers.push(...enc.headers);
    body = enc.bytes;
    if (enc.parse === 'charset') allowed = new Set(enc.bytes.length > 4096 ? [400, 413] : [400]);
    else if (enc.bytes.length > 4096 && enc.parse !== 'ignored') allowed = new Set(enc.parse === 'json' || enc.parse === 'malformed' ? [413] : [413, 400]);
    else if (enc.parse === 'malformed') allowed = new Set([400]);
    else if (enc.parse === 'ignored') allowed = new Set([400, 429]);
    // Invalid UTF-8 inside the key string is decoded as U+FFFD: then it is simply a wrong key.
    else allowed = new Set([...(enc.parse === 'json' ? b.verdict : [400, 401, ...b.verdict]), 429]);
    // Well-formed sign-ins count against the per-address limit (10 a minute) before they are read.
    if (allowed.has(200) || allowed.has(401) || allowed.has(400)) allowed.add(429);
    note = `POST /api/v1/admin/session [${enc.note}] ${short(b.value, 120)}`;
  } else if (method === 'GET') {
    const cookie = sessionCookie(f);
    if (r.chance(0.8)) headers.push(['Cookie', cookie]);
    allowed = new Set([401]);
    note = `GET /api/v1/admin/session cookie ${short(cookie, 120)}`;
  } else {
    allowed = new Set([200]);
    note = 'DELETE /api/v1/admin/session';
  }
  return { req: { method, path: '/api/v1/admin/session', headers, body }, allowed: [...allowed], shape: 'envelope', note };
}

/** /health*, /metrics: open (or METRICS_TOKEN) routes, random methods, queries and headers. */
function openCase(f: Fuzz): HttpCase {
  const r = f.rng;
  const path = r.pick(['/health', '/health/live', '/health/ready', '/metrics', '/metrics', '/health/', '/HEALTH/live']);
  const method = r.weighted<string>([
    [6, () => 'GET'],
    [1, () => 'HEAD'],
    [2, () => r.pick(['POST', 'PUT', 'DELETE', 'PATCH'])],
  ]);
  const headers = noiseHeaders(f);
  const query = r.chance(0.3) ? `?${pctEncode(f.string(20))}=${pctEncode(f.string(200))}` : '';
  const isMetrics = path === '/metrics';
  let metricsOk = true;
  if (isMetrics) {
    const auth = r.weighted<[string, string] | null>([
      [4, () => ['Authorization', `Bearer ${METRICS_TOKEN}`]],
      [1, () => null],
      [2, () => ['Authorization', r.pick([`bearer ${METRICS_TOKEN}`, `Bearer  ${METRICS_TOKEN}`, `Bearer ${METRICS_TOKEN}x`, `Bearer ${ADMIN_KEY}`, METRICS_TOKEN, `Basic ${METRICS_TOKEN}`, `Bearer ${'t'.repeat(5000)}`])]],
    ]);
    if (auth) headers.push(auth);
    metricsOk = auth !== null && auth[1] === `Bearer ${METRICS_TOKEN}`;
  }
  let body: Buffer | undefined;
  if (method !== 'GET' && method !== 'HEAD' && r.chance(0.5)) {
    body = encode(f, f.json(2)).bytes;
    headers.push(['Content-Type', 'application/json']);
  }
  const get = method === 'GET' || method === 'HEAD';
  let allowed: number[];
  let shape: HttpCase['shape'];
  if (!get) {
    allowed = [404];
    shape = 'envelope';
  } else if (isMetrics) {
    allowed = metricsOk ? [200] : [401];
    shape = metricsOk ? 'metrics' : 'envelope';
  } else {
    allowed = [200];
    shape = 'health';
  }
  return { req: { method, path: `${path}${query}`, headers, body }, allowed, shape, note: `${method} ${short(path + query, 120)}` };
}

const KNOWN_SEGMENTS = new Set(['push', 'batch', 'rooms', 'users', 'status', 'admin']);
const KNOWN_TOP = new Set(['api', 'health', 'metrics', 'dashboard', 'socket.io']);

/** Paths and methods no route has. */
function unknownCase(f: Fuzz): HttpCase {
  const r = f.rng;
  const segment = () => {
    for (;;) {
      const s = r.chance(0.6) ? f.ascii(1, 12).replace(/[^A-Za-z0-9_-]/g, 'x') : pctEncode(f.string(40)) || 'x';
      if (!KNOWN_SEGMENTS.has(s.toLowerCase()) && !KNOWN_TOP.has(s.toLowerCase())) return s;
    }
  };
  const auth = who(f, 0.6);
  // Under /api/v1 the key is checked first (and a key that must sign needs a signature), then the route.
  const underApi = (): number[] => (!auth.key ? [401] : auth.key.mustSign ? [401] : [404]);
  const kind = r.pick(['api', 'api', 'top', 'method', 'method-raw', 'route-method'] as const);
  let method = 'GET';
  let path = '/';
  let allowed: number[] = [];
  let shape: HttpCase['shape'] = 'envelope';
  switch (kind) {
    case 'api':
      method = r.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH']);
      path = `/api/v1/${r.times(r.int(1, 4), segment).join('/')}${r.chance(0.2) ? `?${f.ascii(1, 20).replace(/[#\s]/g, '')}` : ''}`;
      allowed = underApi();
      break;
    case 'top':
      method = r.pick(['GET', 'POST', 'DELETE']);
      path = r.chance(0.3) ? r.pick(['/', '/api', '/api/v2/status', '/api/v10/push', '/apiv1/status', `/${'x'.repeat(r.pick([100, 3000, 8000]))}`]) : `/${r.times(r.int(1, 3), segment).join('/')}`;
      allowed = [404];
      break;
    case 'route-method':
      // A documented path under a method it does not have.
      [method, path] = r.pick([
        ['PATCH', '/api/v1/push'],
        ['GET', '/api/v1/push'],
        ['PUT', '/api/v1/batch'],
        ['DELETE', '/api/v1/status'],
        ['POST', '/api/v1/status'],
        ['PUT', '/api/v1/users/u1'],
        ['POST', '/api/v1/users/u1'],
        ['GET', '/api/v1/rooms/r1/broadcast'],
        ['POST', '/api/v1/admin/nodes'],
        ['PATCH', '/api/v1/rooms/r1/members/u1'],
        ['GET', '/api/v1/users/u1/connections'],
        ['POST', '/api/v1/rooms'],
        ['PUT', '/api/v1/admin/session'],
      ] as const);
      // Everything under /admin needs the admin scope first, an unknown route included.
      allowed = path.startsWith('/api/v1/admin/') && auth.key && !auth.key.mustSign && !hasScope(auth.key, 'admin') ? [403] : underApi();
      break;
    case 'method':
      // Methods Node's parser may know but pushgate has no route for (400 from the parser where it does not).
      method = r.pick(['OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH', 'PURGE', 'REPORT', 'LINK', 'QUERY']);
      path = r.pick(['/api/v1/push', '/api/v1/status', '/health', '/']);
      if (method === 'OPTIONS') {
        // A CORS preflight, answered by the cors middleware on every path.
        allowed = [204];
        shape = 'preflight';
      } else allowed = [400, ...(path.startsWith('/api/v1') ? underApi() : [404])];
      break;
    case 'method-raw':
      // Not a method Node's parser accepts: its clientError answer.
      method = r.pick(['FOO', 'get', 'G-ET', 'GET\u0000', 'BREW', '\u00e9', 'POSTX', 'X'.repeat(40)]);
      path = r.pick(['/api/v1/push', '/health']);
      allowed = [400];
      break;
  }
  const headers = [...auth.headers, ...noiseHeaders(f)];
  return { req: { method, path, headers }, allowed, shape, parserRefuses: kind === 'method-raw' || allowed.includes(400), note: `${method} ${short(path, 150)} [${auth.note}]` };
}

/** Bodies that are not JSON, or JSON that is not an object, or nests deep, to every route that reads a body. */
function rawBodyCase(f: Fuzz): HttpCase {
  const r = f.rng;
  const target = r.pick(['/api/v1/push', '/api/v1/rooms/fz%3Araw/broadcast', '/api/v1/batch', '/api/v1/rooms/fz%3Araw/members/fz-u']);
  const method = target.includes('/members/') ? 'PUT' : 'POST';
  const bodyRoute = method === 'POST';
  // Each body with how express.json reads it and (`levels`) how deep the document nests.
  const gen = r.weighted<{ bytes: Buffer; parse: 'malformed' | 'nonobject' | 'object' | 'push' | 'huge-deep' | 'either'; levels?: number }>([
    [2, () => {
      const levels = r.pick([MAX_NESTING, MAX_NESTING + 1, 1000, 5000, 8000]);
      return { bytes: Buffer.from(f.deepText(levels, r.pick(['array', 'mixed'] as const))), parse: 'nonobject', levels };
    }],
    [1, () => ({ bytes: Buffer.from(f.deepText(10_000, 'array')), parse: 'huge-deep', levels: 10_000 })],
    [1, () => {
      const levels = r.pick([MAX_NESTING - 1, MAX_NESTING, 2000, 5000]);
      return { bytes: Buffer.from(`{"data":${f.deepText(levels, 'array')}}`), parse: 'object', levels: levels + 1 };
    }],
    [2, () => ({ bytes: Buffer.from(r.pick(['null', '42', '"push"', 'true', '[]', '[{}]', '-0', '1e309', '""'])), parse: 'nonobject' })],
    [2, () => ({ bytes: Buffer.from(r.pick(['{', '{"a":}', "{'a':1}", '{"a":1,}', '{"a":1}{"b":2}', 'NaN', 'undefined', '{"a":NaN}', '{"a":0x10}', '{"a":01}', '\u0000', '{"a":"\u0000"', '[1,2', '{"a" 1}', '{"a":1}}'])), parse: 'malformed' })],
    [2, () => ({ bytes: Buffer.concat([Buffer.from('{"users":["'), f.badUtf8(), Buffer.from('"],"event":"e","data":1}')]), parse: 'either' })],
    [1, () => ({ bytes: Buffer.from(f.bytes(200)), parse: 'either' })],
    // A valid push whose data is lone surrogates (JSON escapes): a push body for /push, an unknown field elsewhere.
    [1, () => ({ bytes: Buffer.from(`{"users":["fz-raw"],"event":"e","data":"${'\\ud800'.repeat(r.int(1, 50))}"}`), parse: 'push' })],
    [1, () => ({ bytes: Buffer.from(`{"users":["a"],"event":"e","data":1}${'x'.repeat(MAX_PAYLOAD)}`), parse: 'malformed' })],
  ]);
  const auth = who(f, 0.85);
  const ct = r.weighted<[string, string][]>([
    [5, () => [['Content-Type', 'application/json']]],
    [1, () => [['Content-Type', 'application/json'], ['Content-Encoding', r.pick(['gzip', 'deflate', 'br', 'x-magic', 'identity, gzip'])]]],
    [1, () => [['Content-Type', 'application/json'], ['Transfer-Encoding', 'chunked'], ['Content-Length', String(gen.bytes.length)]]],
  ]);
  const headers: [string, string][] = [...auth.headers, ...ct, ...noiseHeaders(f)];
  const encoded = headers.some(([k]) => k === 'Content-Encoding');
  const chunkedAndLength = headers.some(([k]) => k === 'Transfer-Encoding');
  let allowed: number[];
  if (chunkedAndLength) allowed = [400];
  else if (headerBytes({ method, path: target, headers }) > MAX_HEADER_BYTES + 512) allowed = [431];
  else if (!auth.key) allowed = [401];
  else if (encoded) allowed = [400, 413, ...(auth.key.mustSign ? [401] : [])];
  else if (gen.bytes.length > MAX_PAYLOAD) allowed = [413];
  else if (gen.parse === 'malformed') allowed = [400];
  // Too deep: refused after the parse, before the signature, the route and its scope.
  else if ((gen.levels ?? 0) > MAX_NESTING) allowed = [400];
  else if (auth.key.mustSign) allowed = [401, ...(gen.parse === 'either' ? [400] : [])];
  else if (!hasScope(auth.key, bodyRoute ? 'push' : 'manage')) allowed = [403, ...(gen.parse === 'either' ? [400] : [])];
  else if (!bodyRoute) allowed = [200, ...(gen.parse === 'either' ? [400] : [])];
  else if (gen.parse === 'push') allowed = target === '/api/v1/push' ? [200] : [400];
  else allowed = gen.parse === 'either' ? [200, 400, 403] : [400];
  return { req: { method, path: target, headers, body: gen.bytes, noLength: chunkedAndLength }, allowed, shape: 'envelope', tooDeep: (gen.levels ?? 0) > MAX_NESTING, parserRefuses: chunkedAndLength || allowed.includes(431), note: `${method} ${target} [${auth.note}; ${ct.map((h) => h.join(': ')).join(', ')}] ${short(gen.bytes, 100)}` };
}

/** Request signing: replays, clock skew, wrong and garbled headers, a signature over another body. */
function signatureCase(f: Fuzz, seq: number, usedGetTimestamps: Set<number>): HttpCase & { replay: boolean } {
  const r = f.rng;
  const key = r.chance(0.75) ? KEYS.signed : KEYS.push;
  // A GET has no body, so its signature covers the timestamp alone: two in the same second are one
  // signature, and the second a replay (README). Each GET here gets a second of its own.
  let getTs: number | null = null;
  if (key === KEYS.signed && r.chance(0.2)) {
    for (let back = 1; back < 250 && getTs === null; back++) if (!usedGetTimestamps.has(nowS() - back)) getTs = nowS() - back;
    if (getTs !== null) usedGetTimestamps.add(getTs);
  }
  const get = getTs !== null;
  const path = get ? '/api/v1/status' : '/api/v1/push';
  const bodyText = get ? '' : JSON.stringify({ users: [`fz-sig-${seq}`], event: 'sig', data: r.chance(0.3) ? r.pick(UNICODE_EDGES) : seq, id: `fz-sig-${SEED}-${seq}-${Date.now()}` });
  const mac = (k: string, ts: string, body: string | Buffer) => createHmac('sha256', k).update(`${ts}.`).update(body).digest('hex');
  const ts = getTs ?? nowS();
  let timestamp = String(ts);
  let signedBody: string = bodyText;
  let macKey = key.key;
  let sigPrefix = 'sha256=';
  let headerOverride: [string, string][] | null = null;
  let expect: number[] = [200];
  let note = 'valid';
  let replay = false;
  r.weighted<void>([
    [3, () => {
      replay = true;
      note = 'valid, then replayed';
    }],
    [get ? 0 : 1, () => {
      timestamp = String(Math.ceil(Date.now() / 1000) - 299);
      note = 'timestamp 299 s old';
    }],
    [get ? 0 : 1, () => {
      timestamp = String(ts + 299);
      note = 'timestamp 299 s ahead';
    }],
    [1, () => {
      timestamp = String(ts - 301);
      expect = [401];
      note = 'timestamp 301 s old';
    }],
    [1, () => {
      timestamp = String(Math.ceil(Date.now() / 1000) + 301);
      expect = [401];
      note = 'timestamp 301 s ahead';
    }],
    [1, () => {
      timestamp = r.pick([...(get ? [] : [` ${ts}`]), `+${ts}`, `${ts}.0`, `0x${ts.toString(16)}`, '1e9', `${ts}0000`, `-${ts}`, '', 'abc', `${ts},${ts}`]);
      // A value Node trims back to a plain number still counts as one.
      expect = /^\s*\d{1,12}\s*$/.test(timestamp) && Math.abs(Number(timestamp) - ts) < 299 ? [200] : [401];
      note = `timestamp ${JSON.stringify(timestamp)}`;
    }],
    [get ? 0 : 1, () => {
      timestamp = `00${ts}`;
      note = 'timestamp with leading zeros (12 digits)';
    }],
    [2, () => {
      signedBody = get ? 'x' : bodyText.replace('"sig"', '"sih"');
      expect = [401];
      note = 'signature over another body';
    }],
    [1, () => {
      macKey = r.pick([ADMIN_KEY, READ_KEY, key === KEYS.signed ? PUSH_KEY : SIGNED_KEY]);
      expect = [401];
      note = "another key's HMAC";
    }],
    [1, () => {
      sigPrefix = r.pick(['sha1=', 'SHA256=', 'sha256:', 'sha256= ', '', 'sha512=']);
      expect = [401];
      note = `prefix ${JSON.stringify(sigPrefix)}`;
    }],
    [2, () => {
      const good = `sha256=${mac(key.key, timestamp, bodyText)}`;
      headerOverride = r.pick<[string, string][]>([
        [['X-Timestamp', timestamp]],
        [['X-Signature', good]],
        [['X-Timestamp', timestamp], ['X-Signature', good.replace(/[0-9a-f](?=[0-9a-f]{10}$)/, (c) => (c === '0' ? '1' : '0'))]],
        [['X-Timestamp', timestamp], ['X-Signature', good.toUpperCase()]],
        [['X-Timestamp', timestamp], ['X-Signature', `${good}00`]],
        [['X-Timestamp', timestamp], ['X-Signature', good.slice(0, -1)]],
        [['X-Timestamp', timestamp], ['X-Signature', good], ['X-Signature', good]],
        [['X-Timestamp', timestamp], ['X-Timestamp', timestamp], ['X-Signature', good]],
        [['X-Timestamp', timestamp], ['X-Signature', `sha256=${'0'.repeat(64)}`]],
        [['X-Timestamp', timestamp], ['X-Signature', `sha256=${'x'.repeat(r.pick([10, 5000]))}`]],
        [['X-Timestamp', timestamp], ['X-Signature', '']],
      ]);
      // Without an X-Signature header a key that need not sign is simply not signing; with one (even empty) it is checked.
      const anySig = headerOverride.some(([k]) => k === 'X-Signature');
      expect = key.mustSign || anySig ? [401] : [200];
      note = `headers ${short(headerOverride.map((h) => h.join(': ')).join(', '), 100)}`;
    }],
  ]);
  const headers: [string, string][] = [['Authorization', `Bearer ${key.key}`]];
  if (!get) headers.push(['Content-Type', 'application/json']);
  const sigHeaders: [string, string][] = [
    ['X-Timestamp', timestamp],
    ['X-Signature', `${sigPrefix}${mac(macKey, timestamp.trim(), signedBody)}`],
  ];
  headers.push(...((headerOverride as [string, string][] | null) ?? sigHeaders));
  return { req: { method: get ? 'GET' : 'POST', path, headers, body: get ? undefined : Buffer.from(bodyText) }, allowed: expect, shape: 'envelope', note: `${key === KEYS.signed ? 'signed key' : 'push key'} ${get ? 'GET' : 'POST'}: ${note}`, replay: replay && expect[0] === 200 };
}

// --- checking one answer --------------------------------------------------------------------

const SAFE_REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Problems with one HTTP answer (empty when it is what the contract allows) and a label for the tally. */
function checkHttp(c: HttpCase, o: RawOutcome): { problems: string[]; label: string } {
  if (o.kind !== 'response') return { problems: [describeOutcome(o)], label: o.kind === 'hang' ? 'HANG' : 'CLOSED' };
  const { res } = o;
  const problems: string[] = [];
  let label = String(res.status);
  if (res.status >= 500) problems.push(`a ${res.status}`);
  if (!c.allowed.includes(res.status)) problems.push(`status ${res.status}, expected one of ${c.allowed.join('/')}`);
  const rid = res.headers['x-request-id'];
  if (!rid || rid.length !== 1 || !rid[0]) problems.push(`X-Request-Id header: ${JSON.stringify(rid)}`);
  const sent = c.req.headers.find(([k]) => k.toLowerCase() === 'x-request-id')?.[1];
  if (rid?.[0] && sent !== undefined && !c.parserRefuses && c.req.headers.filter(([k]) => k.toLowerCase() === 'x-request-id').length === 1) {
    if (SAFE_REQUEST_ID.test(sent) && rid[0] !== sent) problems.push(`X-Request-Id ${rid[0]} does not keep the incoming ${sent}`);
    if (!SAFE_REQUEST_ID.test(sent) && rid[0] === sent) problems.push('an unsafe incoming X-Request-Id was echoed');
  }
  const head = c.req.method === 'HEAD';
  if (head) label = `${res.status} (HEAD)`;
  if (c.shape === 'pusher') {
    const type = res.headers['content-type']?.[0] ?? '';
    const text = res.body.toString('utf8');
    if (res.status >= 400) {
      if (!/^text\/plain/.test(type) || text.length === 0) problems.push(`Pusher refusal not plain text: ${type} ${short(text, 120)}`);
      return { problems, label: `${res.status} ${text.split(/[:(]/)[0]!.slice(0, 40)}` };
    }
    try {
      if (!isObj(JSON.parse(text)) || !/^application\/json/.test(type)) problems.push(`Pusher answer: ${type} ${short(text, 120)}`);
    } catch {
      problems.push(`Pusher answer is not JSON: ${short(text, 120)}`);
    }
    return { problems, label };
  }
  const envelope = c.shape === 'envelope' || res.status >= 400;
  if (head || c.shape === 'preflight') return { problems, label };
  const text = res.body.toString('utf8');
  if (c.shape === 'metrics' && res.status === 200) {
    if (!/^# (HELP|TYPE) pushgate_/m.test(text)) problems.push('metrics: not Prometheus text');
    return { problems, label };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    problems.push(`body is not JSON: ${short(text, 120)}`);
    return { problems, label };
  }
  if (!/^application\/json/.test(res.headers['content-type']?.[0] ?? '')) problems.push(`content-type ${String(res.headers['content-type'])}`);
  if (!envelope) {
    if (!isObj(body) || typeof body.status !== 'string') problems.push(`health answer ${short(body, 120)}`);
    return { problems, label };
  }
  if (!isObj(body)) {
    problems.push(`not an envelope: ${short(body, 160)}`);
    return { problems, label };
  }
  const meta = body.meta;
  if (!isObj(meta) || typeof meta.requestId !== 'string' || typeof meta.timestamp !== 'string' || Number.isNaN(Date.parse(meta.timestamp)) || Object.keys(meta).length !== 2) problems.push(`meta: ${short(meta, 120)}`);
  else if (rid?.[0] && meta.requestId !== rid[0]) problems.push(`meta.requestId ${meta.requestId} ≠ X-Request-Id ${rid[0]}`);
  if (res.status < 400) {
    if (body.success !== true || !('data' in body) || Object.keys(body).sort().join() !== 'data,meta,success') problems.push(`success envelope: ${short(body, 160)}`);
    else if (c.verify) {
      const p = c.verify(body.data);
      if (p) problems.push(p);
    }
    return { problems, label };
  }
  const err = body.error;
  if (body.success !== false || !isObj(err) || Object.keys(body).sort().join() !== 'error,meta,success') {
    problems.push(`error envelope: ${short(body, 160)}`);
    return { problems, label };
  }
  label = `${res.status} ${String(err.code)}`;
  const extra = Object.keys(err).filter((k) => !['code', 'message', 'details'].includes(k));
  if (extra.length) problems.push(`error has extra keys ${extra.join(',')}`);
  if (typeof err.code !== 'string' || !(err.code in HTTP_CODES)) problems.push(`error code ${String(err.code)} is not in the contract`);
  else if (HTTP_CODES[err.code] !== res.status && !(res.status === 431 && err.code === 'BAD_REQUEST')) problems.push(`code ${err.code} with status ${res.status}`);
  if (typeof err.message !== 'string' || err.message === '') problems.push('error.message is empty');
  if (err.details !== undefined && (!Array.isArray(err.details) || !err.details.every((d) => isObj(d) && typeof d.field === 'string' && typeof d.message === 'string'))) problems.push(`details: ${short(err.details, 160)}`);
  if (res.status === 429 && !res.headers['retry-after']) problems.push('429 without Retry-After');
  return { problems, label };
}

/** PUSHER_APP of the fuzzed node. */
const PUSHER = { id: '4242', key: 'fz-pusher-key', secret: 'fz-pusher-secret-0123456789abcdef' };

/** A query string signed as Pusher's libraries sign (values as they appear in the URL). */
function pusherQuery(method: string, path: string, body: Buffer | undefined, params: [string, string][], o: { secret?: string; ts?: number } = {}): string {
  const all: [string, string][] = [['auth_key', PUSHER.key], ['auth_timestamp', String(o.ts ?? nowS())], ['auth_version', '1.0'], ...params];
  if (body && body.length > 0) all.push(['body_md5', createHash('md5').update(body).digest('hex')]);
  const query = all
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const sig = createHmac('sha256', o.secret ?? PUSHER.secret).update(`${method}\n${path}\n${query}`).digest('hex');
  return `${query}&auth_signature=${sig}`;
}

/**
 * Pusher's API: signed requests with fuzzed bodies and parameters (answered 200, 400 or 413), and
 * requests whose signing is wrong (401) or whose app is not the node's (404). Never a 5xx.
 */
function pusherCase(f: Fuzz): HttpCase {
  const r = f.rng;
  const seg = () => pctEncode(r.chance(0.6) ? r.pick(['presence-lobby', 'private-x', 'fz', 'a.b=c@d,e;f']) : f.string(40));
  const route = r.pick([
    { method: 'POST', path: '/events' },
    { method: 'POST', path: '/batch_events' },
    { method: 'GET', path: '/channels' },
    { method: 'GET', path: `/channels/${seg()}` },
    { method: 'GET', path: `/channels/${seg()}/users` },
    { method: 'POST', path: `/users/${seg()}/terminate_connections` },
  ]);
  const event = () => ({ name: r.chance(0.8) ? 'fz-event' : f.string(40), data: r.chance(0.8) ? JSON.stringify(f.json(2)) : f.json(1), channel: r.chance(0.8) ? 'fz' : f.string(30), ...(r.chance(0.2) ? { info: r.pick(['user_count', 'subscription_count', f.string(20)]) } : {}), ...(r.chance(0.2) ? { socket_id: r.pick(['1.2', f.string(30)]) } : {}) });
  let body: Buffer | undefined;
  let tooBig = false;
  if (route.method === 'POST') {
    const value = r.weighted<unknown>([
      [4, () => (route.path === '/batch_events' ? { batch: r.times(r.int(0, 12), event) } : event())],
      [1, () => ({ name: 'big', channel: 'fz', data: 'x'.repeat(10 * 1024 + r.int(1, 100)) })],
      [1, () => ({ name: 'many', data: '{}', channels: r.times(r.int(99, 102), (i) => `c${i}`) })],
      [2, () => f.json(3)],
    ]);
    body = r.chance(0.1) ? Buffer.from(`${jsonText(value)}`.slice(0, -1)) : Buffer.from(jsonText(value));
    tooBig = body.length > 200 * 1024;
  }
  const params: [string, string][] = route.method === 'GET' && r.chance(0.5) ? [[r.pick(['info', 'filter_by_prefix', 'x']), pctEncode(r.pick(['user_count', 'subscription_count', 'presence-', f.string(20)]))]] : [];
  const wrongApp = r.chance(0.05);
  const path = `/apps/${wrongApp ? '999' : PUSHER.id}${route.path}`;
  const signing = r.weighted<{ q: string; ok: boolean; note: string }>([
    [8, () => ({ q: pusherQuery(route.method, path, body, params), ok: true, note: 'signed' })],
    [1, () => ({ q: params.map(([k, v]) => `${k}=${v}`).join('&'), ok: false, note: 'unsigned' })],
    [1, () => ({ q: pusherQuery(route.method, path, body, params, { secret: 'wrong' }), ok: false, note: 'wrong secret' })],
    [1, () => ({ q: pusherQuery(route.method, path, body, params, { ts: nowS() - r.int(601, 5000) }), ok: false, note: 'stale timestamp' })],
  ]);
  // An empty channel or user segment matches no route: Pusher's 404.
  const allowed = tooBig ? [413] : wrongApp || route.path.includes('//') ? [404, ...(signing.ok || wrongApp ? [] : [401])] : signing.ok ? [200, 400, 413] : [401];
  return { req: { method: route.method, path: `${path}?${signing.q}`, headers: [...noiseHeaders(f), ...(body ? ([['Content-Type', 'application/json']] as [string, string][]) : [])], body }, allowed, shape: 'pusher', note: `${route.method} ${path} ${signing.note} ${short(body?.toString('utf8') ?? '', 100)}` };
}

function httpTarget(tally: Tally, name: string, index: number, c: HttpCase, o: RawOutcome): void {
  const { problems, label } = checkHttp(c, o);
  tally.count(name, c.tooDeep ? `${label} (nested > ${MAX_NESTING})` : label);
  if (problems.length) tally.fail(name, index, c.note, problems.join('; '));
}

describe(`fuzzed HTTP input (FUZZ_SEED=${SEED})`, () => {
  let node: TestNode;
  const canary = new Canary('fz-http-canary');
  const tally = new Tally();
  const started = Date.now();

  beforeAll(async () => {
    node = await startNode({ MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('fuzz-http'), METRICS_TOKEN, PUSHER_APP: `${PUSHER.id}:${PUSHER.key}:${PUSHER.secret}` });
    await canary.connect(node.url, makeToken({ sub: canary.userId }));
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    canary.close();
    await node?.stop();
    process.stdout.write(`fuzz HTTP (FUZZ_SEED=${SEED}): ${tally.total()} cases in ${((Date.now() - started) / 1000).toFixed(1)} s; ${tally.line()}\nfuzz HTTP codes: ${tally.codes()}\n`);
  });

  it('covers every documented operation (docs/openapi.yaml)', () => {
    const spec = parseYaml(readFileSync(join(__dirname, '../../docs/openapi.yaml'), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m)).map((m) => `${m.toUpperCase()} ${p}`));
    const fuzzed = new Set([...API_ROUTES.map((r) => `${r.method} ${r.path}`), ...SESSION_ROUTES, ...OPEN_ROUTES, ...PUSHER_ROUTES]);
    expect(documented.length).toBeGreaterThan(15);
    expect(documented.filter((op) => !fuzzed.has(op))).toEqual([]);
  });

  const targets: { name: string; count: number; gen: (f: Fuzz, i: number) => HttpCase }[] = [
    ...API_ROUTES.map((route) => ({ name: `${route.method} ${route.path}`, count: cases(route.body || route.query ? 1 : 0.5), gen: (f: Fuzz) => apiCase(f, route) })),
    { name: '/api/v1/admin/session', count: cases(0.75), gen: (f: Fuzz) => sessionCase(f) },
    { name: 'health and metrics', count: cases(0.75), gen: (f: Fuzz) => openCase(f) },
    { name: "Pusher's API", count: cases(1.5), gen: (f: Fuzz) => pusherCase(f) },
    { name: 'unknown paths and methods', count: cases(1), gen: (f: Fuzz) => unknownCase(f) },
    { name: 'raw bodies', count: cases(1), gen: (f: Fuzz) => rawBodyCase(f) },
  ];

  it.each(targets.map((t) => [t.name, t] as const))('%s: allowed codes only, no 5xx, no hang, the envelope and X-Request-Id every time', async (name, t) => {
    const f = new Fuzz(Rng.derive(SEED, name));
    for (let i = 0; i < t.count; i++) {
      const c = t.gen(f, i);
      httpTarget(tally, name, i, c, await sendRaw(node.port, c.req, TIMEOUT_MS));
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await canary.check(node)).toEqual([]);
    expect(tally.failuresOf(name)).toEqual([]);
  }, TARGET_TIMEOUT_MS);

  it('request signing: replays refused, ±299 s accepted, ±301 s and every wrong header refused', async () => {
    const name = 'signatures';
    const f = new Fuzz(Rng.derive(SEED, name));
    const usedGetTimestamps = new Set<number>();
    for (let i = 0; i < cases(1.5); i++) {
      const c = signatureCase(f, i, usedGetTimestamps);
      httpTarget(tally, name, i, c, await sendRaw(node.port, c.req, TIMEOUT_MS));
      if (c.replay) {
        const again: HttpCase = { ...c, allowed: [401], note: `${c.note} (the replay)` };
        httpTarget(tally, name, i, again, await sendRaw(node.port, c.req, TIMEOUT_MS));
      }
    }
    expect(await canary.check(node)).toEqual([]);
    expect(tally.failuresOf(name)).toEqual([]);
  }, TARGET_TIMEOUT_MS);

  it('a session cookie whose key name is broken percent-encoding is no session: 401 UNAUTHORIZED, as without a cookie', async () => {
    for (const name of ['%E0%A4%A', '%', '%ZZ', 'a%2', '%%', '%C0%AF', '%ED%A0%80', '%FF']) {
      const cookie = `pushgate_session=v1.${name}.9999999999999.${'a'.repeat(64)}`;
      for (const path of ['/api/v1/status', '/api/v1/admin/session']) {
        const withCookie = answer(await sendRaw(node.port, { method: 'GET', path, headers: [['Cookie', cookie]] }, TIMEOUT_MS));
        const without = answer(await sendRaw(node.port, { method: 'GET', path, headers: [] }, TIMEOUT_MS));
        expect({ name, path, withCookie }).toEqual({ name, path, withCookie: without });
        expect({ name, path, without }).toMatchObject({ name, path, without: { status: 401, code: 'UNAUTHORIZED' } });
      }
    }
  });

  it('a push whose data nests 7000 levels deep (14 KB) is refused with 400 BAD_REQUEST before anything is admitted: the same id with shallow data is then delivered', async () => {
    const s = connectClient(node.url, { token: makeToken({ sub: 'fz-deep' }) });
    await nextEvent(s, 'welcome', TIMEOUT_MS);
    const got: unknown[] = [];
    s.on('deep', (d: unknown) => got.push(d));
    const id = `fz-deep-${SEED}-${Date.now()}`;
    const push = (data: string) =>
      sendRaw(node.port, { method: 'POST', path: '/api/v1/push', headers: [['Authorization', `Bearer ${ADMIN_KEY}`], ['Content-Type', 'application/json']], body: Buffer.from(`{"users":["fz-deep"],"event":"deep","id":"${id}","data":${data}}`) }, TIMEOUT_MS);
    expect(answer(await push(`${'['.repeat(7000)}${']'.repeat(7000)}`))).toEqual({ status: 400, code: 'BAD_REQUEST', fields: ['(root)'] });
    // Had the refused push been admitted, its id would answer the retry with the first result and deliver nothing.
    const arrived = nextEvent<[unknown]>(s, 'deep', TIMEOUT_MS);
    const retry = await push('"shallow"');
    expect(retry.kind === 'response' ? { status: retry.res.status, body: JSON.parse(retry.res.body.toString()) as unknown } : describeOutcome(retry)).toMatchObject({ status: 200, body: { success: true, data: { id, recipients: 1 } } });
    await arrived;
    expect(got).toEqual(['shallow']);
    s.disconnect();
  });

  it(`a body nesting deeper than MAX_NESTING (${MAX_NESTING}) is a 400 on every /api/v1 route: after the key, size and JSON checks, before signatures, scopes and routes`, async () => {
    // `levels` counts the whole body: the push object is the first level, so its data nests one less.
    const pushText = (levels: number) => `{"users":["fz-depth"],"event":"depth","data":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
    const send = async (method: string, path: string, text: string, auth: [string, string][]) =>
      answer(await sendRaw(node.port, { method, path, headers: [...auth, ['Content-Type', 'application/json']], body: Buffer.from(text) }, TIMEOUT_MS));
    const bearer = (key: string): [string, string][] => [['Authorization', `Bearer ${key}`]];
    const signed = (key: string, text: string): [string, string][] => {
      const ts = String(nowS());
      return [...bearer(key), ['X-Timestamp', ts], ['X-Signature', `sha256=${createHmac('sha256', key).update(`${ts}.${text}`).digest('hex')}`]];
    };
    const refused = { status: 400, code: 'BAD_REQUEST', fields: ['(root)'] };

    // At the limit: admitted and delivered as sent.
    const s = connectClient(node.url, { token: makeToken({ sub: 'fz-depth' }) });
    await nextEvent(s, 'welcome', TIMEOUT_MS);
    const atLimit = pushText(MAX_NESTING);
    const arrived = nextEvent<[unknown]>(s, 'depth', TIMEOUT_MS);
    expect(await send('POST', '/api/v1/push', atLimit, bearer(ADMIN_KEY))).toEqual({ status: 200 });
    const [got] = await arrived;
    s.disconnect();
    expect(nesting(got)).toBe(MAX_NESTING - 1);
    expect(JSON.stringify(got)).toBe(JSON.stringify((JSON.parse(atLimit) as { data: unknown }).data));

    // One level more: refused whatever the key, its signature, its scopes or the route would say.
    const over = pushText(MAX_NESTING + 1);
    expect(await send('POST', '/api/v1/push', over, bearer(ADMIN_KEY))).toEqual(refused);
    expect(await send('POST', '/api/v1/push', over, bearer(SIGNED_KEY))).toEqual(refused);
    expect(await send('POST', '/api/v1/push', over, signed(SIGNED_KEY, over))).toEqual(refused);
    expect(await send('POST', '/api/v1/push', over, bearer(READ_KEY))).toEqual(refused);
    expect(await send('POST', '/api/v1/batch', `{"messages":[${pushText(MAX_NESTING - 1)}]}`, bearer(ADMIN_KEY))).toEqual(refused);
    expect(await send('POST', '/api/v1/rooms/fz%3Adepth/broadcast', over, bearer(PUSH_KEY))).toEqual(refused);
    expect(await send('PUT', '/api/v1/rooms/fz%3Adepth/members/fz-depth', over, bearer(ADMIN_KEY))).toEqual(refused);
    expect(await send('GET', '/api/v1/status', over, bearer(READ_KEY))).toEqual(refused);
    expect(await send('POST', '/api/v1/no-such-route', over, bearer(ADMIN_KEY))).toEqual(refused);

    // What comes before it still answers first.
    expect(await send('POST', '/api/v1/push', over, [])).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect(await send('POST', '/api/v1/push', over, bearer(`${ADMIN_KEY}x`))).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect(await send('POST', '/api/v1/push', pushText(MAX_PAYLOAD), bearer(ADMIN_KEY))).toMatchObject({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
    expect(await send('POST', '/api/v1/push', over.slice(0, -2), bearer(ADMIN_KEY))).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
  });

  it('ends healthy: no error logged, the canary still receives a push', async () => {
    expect(errorLines(node)).toEqual([]);
    expect(await canary.check(node)).toEqual([]);
  });
});

// =============================================================================================
// Tokens
// =============================================================================================

type TokenOutcome = 'connected' | 'UNAUTHORIZED' | 'TOKEN_EXPIRED';
interface TokenCase {
  token: unknown;
  expect: TokenOutcome;
  /** The sub of a token that verifies. */
  sub?: string;
  note: string;
}

interface ClaimPlan {
  entries: [string, unknown][];
  /** The claims the server checks itself (sub, rooms) are acceptable. */
  claimsOk: boolean;
  subOk: boolean;
  roomsOk: boolean;
  expOutcome: 'ok' | 'expired' | 'invalid';
  nbfOk: boolean;
  notes: string[];
}

/**
 * Claims for a token, then mutated: sub and rooms of wrong types or sizes, exp and nbf strings, past,
 * far future or not JSON-writable (1e309), unknown and prototype claims. `keepRooms` is kept in
 * every acceptable variant (a refreshed socket keeps its room rights).
 */
function claims(f: Fuzz, sub: string, keepRooms: string[] | undefined, extra: [string, unknown][] = []): ClaimPlan {
  const r = f.rng;
  const plan: ClaimPlan = { entries: [['sub', sub], ...(keepRooms ? ([['rooms', keepRooms]] as [string, unknown][]) : []), ['exp', nowS() + 3600], ...extra], claimsOk: true, subOk: true, roomsOk: true, expOutcome: 'ok', nbfOk: true, notes: [] };
  const set = (k: string, v: unknown) => {
    const at = plan.entries.findIndex(([x]) => x === k);
    if (at >= 0) plan.entries[at] = [k, v];
    else plan.entries.push([k, v]);
  };
  const drop = (k: string) => {
    plan.entries = plan.entries.filter(([x]) => x !== k);
  };
  const mutations = r.pick([0, 0, 1, 1, 2, 3]);
  for (let m = 0; m < mutations; m++) {
    r.weighted<void>([
      [3, () => {
        const v = r.weighted<[unknown, boolean]>([
          [2, () => [r.pick([42, 0, -1, true, null, {}, { id: sub }, [sub], ''] as unknown[]), false]],
          [2, () => {
            const s = r.pick([' x', 'a\tb', 'a b', 's'.repeat(201), '\u0000', 'x\n', '\uFEFFx', '\u3000']);
            return [s, false];
          }],
          [1, () => [sub + r.pick(['\u200D', '\u{1F600}', 'e\u0301', '\u200F']), true]],
          // Not well-formed Unicode: UTF-8 would turn the lone surrogate into U+FFFD, someone else's id.
          [1, () => [r.chance(0.7) ? sub + r.pick(['\ud800', '\udbff', '\udc00', '\udfff', '\ude00\ud83d']) : `\ud83d${sub}`, false]],
        ]);
        set('sub', v[0]);
        plan.subOk = v[1];
        plan.notes.push(`sub ${short(v[0], 40)}`);
      }],
      [1, () => {
        drop('sub');
        plan.subOk = false;
        plan.notes.push('no sub');
      }],
      [3, () => {
        const v = r.weighted<[unknown, ClaimPlan['expOutcome']]>([
          [2, () => [nowS() - r.pick([1, 30, 86400, 1e9]), 'expired']],
          [1, () => [r.pick([0, -1, 0.5, -1e308]), 'expired']],
          [1, () => [new RawJson('-0'), 'expired']],
          [1, () => [r.pick([1e308, nowS() + 1e9]), 'ok']],
          [1, () => [new RawJson('1e309'), 'ok']],
          [2, () => [r.pick([String(nowS() + 600), 'NaN', null, true, {}, [nowS() + 600]] as unknown[]), 'invalid']],
        ]);
        set('exp', v[0]);
        plan.expOutcome = v[1];
        plan.notes.push(`exp ${short(v[0], 30)}`);
      }],
      [1, () => {
        drop('exp');
        plan.expOutcome = 'ok';
        plan.notes.push('no exp');
      }],
      [2, () => {
        const v = r.weighted<[unknown, boolean]>([
          [1, () => [nowS() - 60, true]],
          [2, () => [nowS() + r.pick([120, 3600, 1e9]), false]],
          [1, () => [r.pick([String(nowS() - 60), null, {}, 'x'] as unknown[]), false]],
          [1, () => [new RawJson('1e309'), false]],
        ]);
        set('nbf', v[0]);
        plan.nbfOk = v[1];
        plan.notes.push(`nbf ${short(v[0], 30)}`);
      }],
      [3, () => {
        const v = r.weighted<[unknown, boolean]>([
          [2, () => [r.pick(['chat:*', 42, {}, null, true, { 0: 'fz:*' }] as unknown[]), false]],
          [2, () => [r.pick([[1], [null], ['x'.repeat(201)], [['fz:*']], ['fz:*', {}]] as unknown[]), false]],
          [1, () => [r.times(1001, (i) => `zz-never:${i}`), false]],
          [1, () => [[...(keepRooms ?? []), ...r.times(r.int(0, 900), (i) => `zz-never:${i}`)], true]],
        ]);
        set('rooms', v[0]);
        plan.roomsOk = v[1];
        plan.notes.push(`rooms ${short(v[0], 40)}`);
      }],
      [2, () => {
        const k = r.chance(0.5) ? r.pick(PROTO_KEYS) : r.pick(['iat', 'jti', 'scope', 'admin', 'typ', f.string(20)]);
        if (['sub', 'rooms', 'exp', 'nbf', 'iss', 'aud'].includes(k)) return;
        const v = k === '__proto__' ? own([['sub', 'admin'], ['rooms', ['*']]]) : k === 'iat' ? r.pick([nowS(), 'yesterday', null]) : f.json(2);
        set(k, v);
        plan.notes.push(`claim ${short(k, 20)}`);
      }],
    ]);
  }
  plan.claimsOk = plan.subOk && plan.roomsOk;
  return plan;
}

function outcomeOf(plan: ClaimPlan): TokenOutcome {
  if (!plan.nbfOk) return 'UNAUTHORIZED';
  if (plan.expOutcome === 'invalid') return 'UNAUTHORIZED';
  if (plan.expOutcome === 'expired') return 'TOKEN_EXPIRED';
  return plan.claimsOk ? 'connected' : 'UNAUTHORIZED';
}

const subOf = (plan: ClaimPlan): string | undefined => {
  const s = plan.entries.find(([k]) => k === 'sub')?.[1];
  return typeof s === 'string' ? s : undefined;
};

/** Breaks a well-formed token on the way out: truncated, garbled, extra segment, whitespace, a scheme prefix, padding. */
function corrupt(f: Fuzz, t: TokenCase): TokenCase {
  const r = f.rng;
  if (typeof t.token !== 'string' || !r.chance(0.2)) return t;
  const s = t.token;
  const broken = r.pick([
    () => s.slice(0, r.int(1, s.length - 2)),
    () => garble(r, s),
    () => `${s}.${b64url('x')}`,
    () => ` ${s}`,
    () => `${s}\n`,
    () => `Bearer ${s}`,
    () => `${s}==`,
    () => s.replace(/-/g, '+').replace(/_/g, '/') + (s.includes('-') || s.includes('_') ? '' : '+'),
    () => s.split('.').slice(0, 2).join('.'),
    () => `${s}${'A'.repeat(MAX_TOKEN_LENGTH)}`,
  ])();
  return { token: broken, expect: 'UNAUTHORIZED', note: `${t.note}, corrupted` };
}

/** Tokens for a node with JWT_SECRETS (k1, k2): every key choice, alg trick and claim mutation. */
function hmacTokenCase(f: Fuzz, sub: string, keepRooms: string[] | undefined): TokenCase {
  const r = f.rng;
  const plan = claims(f, sub, keepRooms);
  const payload = r.chance(0.05) ? r.pick(['"x"', '[1]', '123', 'null', 'not json', '{"sub":']) : own(plan.entries);
  const payloadOk = typeof payload !== 'string';
  const [header, secret, alg, sigOk, keyNote] = r.weighted<[Record<string, unknown>, string, 'HS256' | 'HS384' | 'HS512', boolean, string]>([
    [4, () => [{ alg: 'HS256', typ: 'JWT', kid: 'k1' }, TEST_JWT_SECRET, 'HS256', true, 'k1']],
    [2, () => [{ alg: 'HS256', typ: 'JWT', kid: 'k2' }, KID2_SECRET, 'HS256', true, 'k2']],
    [1, () => [{ alg: 'HS256', typ: 'JWT' }, r.pick([TEST_JWT_SECRET, KID2_SECRET]), 'HS256', true, 'no kid']],
    [1, () => [{ alg: 'HS256', kid: 'k1', typ: r.pick(['at+jwt', '', 'JWS', 42]), [f.string(10)]: f.json(1) }, TEST_JWT_SECRET, 'HS256', true, 'odd header fields']],
    [1, () => [{ alg: 'HS256', kid: 'k1' }, KID2_SECRET, 'HS256', false, "k2's secret under kid k1"]],
    [1, () => [{ alg: 'HS256', kid: r.pick(['k1']) }, WRONG_SECRET, 'HS256', false, 'wrong secret']],
    [1, () => [{ alg: 'HS256' }, WRONG_SECRET, 'HS256', false, 'wrong secret, no kid']],
    [2, () => [{ alg: 'HS256', kid: r.pick(['k9', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', ' k1', 'K1', 'k1\u0000', 'k'.repeat(3000), 1, null, {}, ['k1'], true] as unknown[]) }, TEST_JWT_SECRET, 'HS256', false, 'foreign kid']],
    [1, () => [{ alg: r.pick(['HS384', 'HS512'] as const), kid: 'k1' }, TEST_JWT_SECRET, 'HS384', false, 'HS384/HS512']],
    [1, () => [{ alg: r.pick(['RS256', 'ES256', 'hs256', 'HS256 ', 'PS256', '', 42, null] as unknown[]), kid: 'k1' }, TEST_JWT_SECRET, 'HS256', false, 'alg not HS256']],
  ]);
  let token: string;
  if (keyNote === 'HS384/HS512') token = hmacToken(header.alg as 'HS384' | 'HS512', header, payload, secret);
  else token = hmacToken(alg, header, payload, secret);
  let note = `${keyNote}; ${plan.notes.join(', ') || 'plain claims'}`;
  let ok = sigOk;
  if (r.chance(0.08)) {
    // alg none: no signature at all.
    token = `${b64url(own([['alg', r.pick(['none', 'None', 'NONE', 'nOnE'])], ['kid', 'k1']]))}.${b64url(jsonText(payload))}.`;
    ok = false;
    note = `alg none; ${note}`;
  }
  let expect: TokenOutcome = !ok || !payloadOk ? 'UNAUTHORIZED' : outcomeOf(plan);
  if (token.length > MAX_TOKEN_LENGTH) expect = 'UNAUTHORIZED';
  return corrupt(f, { token, expect, sub: expect === 'connected' ? subOf(plan) : undefined, note });
}

/** Values that are not tokens at all. */
function notAToken(f: Fuzz): TokenCase {
  const r = f.rng;
  const token = r.weighted<unknown>([
    [2, () => f.wrong('string')],
    [2, () => f.string(3000)],
    [1, () => r.pick(['', 'a.b.c', '..', '.', 'null', 'undefined', 'Bearer', `${b64url({ alg: 'HS256' })}..`, 'x'.repeat(MAX_TOKEN_LENGTH + 1)])],
  ]);
  return { token, expect: 'UNAUTHORIZED', note: `not a token: ${short(token, 60)}` };
}

// =============================================================================================
// Sockets
// =============================================================================================

type Outcome = string; // 'ok' | an error code | 'disconnect'

interface EventCase {
  event: unknown;
  args: unknown[];
  withAck: boolean;
  /** The arguments nest deeper than MAX_NESTING (shown in the tally). */
  tooDeep?: boolean;
  /** Outcomes the contract allows. */
  expect: Outcome[];
  /** An `ok` answer's data, checked further. */
  verify?: (data: unknown) => string | null;
  /** For room:join with since: the `recovered` event that must come before the ack. */
  recovers?: string;
  note: string;
}

const isBinary = (v: unknown) => Buffer.isBuffer(v) || v instanceof Uint8Array || v instanceof ArrayBuffer;
/** An object payload as the server's handlers read it (binary data arrives as a Buffer, which has no fields). */
const isPlain = (v: unknown): v is Record<string, unknown> => isObj(v) && !isBinary(v);

/** Resolves with the disconnect reason; `cancel` removes the listener when the socket stays. */
function whenGone(s: ClientSocket): { gone: Promise<string>; cancel: () => void } {
  let handler: (reason: string) => void = () => undefined;
  const gone = new Promise<string>((resolve) => {
    handler = resolve;
    s.once('disconnect', handler);
  });
  return { gone, cancel: () => s.off('disconnect', handler) };
}

/** Size of the Socket.IO messages an emit becomes: the JSON part and each binary attachment. */
function messageBytes(event: unknown, args: unknown[]): number {
  const attachments: number[] = [];
  const strip = (v: unknown): unknown => {
    if (isBinary(v)) {
      attachments.push((v as { byteLength: number }).byteLength);
      return { _placeholder: true, num: attachments.length - 1 };
    }
    if (Array.isArray(v)) return v.map(strip);
    if (isObj(v)) return own(Object.keys(v).map((k) => [k, strip(v[k])] as const));
    return v;
  };
  const text = JSON.stringify([event, ...args.map(strip)]);
  return Math.max(Buffer.byteLength(text) + 24, ...attachments.map((n) => n + 1));
}

/** The payload the server's handlers see: one argument as itself, several as a list, none as null. */
function payloadOf(args: unknown[]): unknown {
  return args.length <= 1 ? (args[0] ?? null) : args;
}

const SOCKET_ROOMS = ['fz:*'];
const allowedRoom = (room: string) => room.startsWith('fz:') || room.startsWith('ok');

/** A room for a join or leave: allowed by the token, allowed by the backend, refused, reserved, or hostile. */
function roomValue(f: Fuzz): unknown {
  const r = f.rng;
  return r.weighted<unknown>([
    [4, () => validName(f, 'fz:')],
    [2, () => validName(f, 'ok')],
    [2, () => validName(f, 'zz')],
    [1, () => `user:${r.chance(0.5) ? 'fz-sock' : validName(f)}`],
    [4, () => f.string(300)],
    [2, () => f.wrong('string')],
    [1, () => `fz:${'x'.repeat(r.pick([196, 197, 198, 400]))}`],
    [1, () => `fz:${r.pick(UNICODE_EDGES)}`],
  ]);
}

/** Extra arguments, binary attachments, padding and nesting around the limit (or far beyond it) around a payload. */
function decorate(f: Fuzz, payload: unknown): unknown[] {
  const r = f.rng;
  const args: unknown[] = payload === undefined ? [] : [payload];
  // defineProperty, not assignment: a generated key may be "__proto__".
  if (isPlain(payload) && r.chance(0.15)) Object.defineProperty(payload, r.chance(0.5) ? 'blob' : f.string(10), { value: r.chance(0.5) ? f.bytes(100) : [f.bytes(10), { deeper: f.bytes(5) }], enumerable: true, configurable: true, writable: true });
  if (isPlain(payload) && r.chance(0.1)) payload.pad = 'x'.repeat(r.pick([MAX_PAYLOAD / 2, MAX_PAYLOAD - 300, MAX_PAYLOAD + 300, MAX_PAYLOAD * 2]));
  if (r.chance(0.15)) args.push(...r.times(r.int(1, 3), () => (r.chance(0.3) ? f.bytes(20) : f.json(1))));
  if (r.chance(0.12)) {
    // As a field of the payload or as an argument of its own, on either side of the limit (the arguments list is the first level).
    const deep = f.nested(r.pick([MAX_NESTING - 3, MAX_NESTING - 2, MAX_NESTING - 1, MAX_NESTING, 200, 1000]), r.chance(0.2) ? f.bytes(8) : r.pick([0, 'x', null, true]));
    if (isPlain(payload) && r.chance(0.6)) Object.defineProperty(payload, 'nested', { value: deep, enumerable: true, configurable: true, writable: true });
    else args.push(deep);
  }
  return args;
}

/**
 * The first rule after the rate limit, for every event name: arguments nesting deeper than
 * MAX_NESTING are a BAD_REQUEST, so neither a handler nor the backend sees them.
 */
function nestingRule(c: EventCase): EventCase {
  const depth = nesting(c.args);
  if (depth <= MAX_NESTING) return c;
  return { ...c, expect: ['BAD_REQUEST'], verify: undefined, recovers: undefined, tooDeep: true, note: `${c.note} (nests ${depth} levels)` };
}

function joinCase(f: Fuzz, offsets: string[]): EventCase {
  const r = f.rng;
  const shape = r.weighted<'object' | 'other' | 'none'>([
    [8, () => 'object'],
    [2, () => 'other'],
    [1, () => 'none'],
  ]);
  let payload: unknown;
  if (shape === 'object') {
    const entries: [string, unknown][] = [];
    if (r.chance(0.9)) entries.push(['room', roomValue(f)]);
    if (r.chance(0.35))
      entries.push([
        'since',
        r.weighted<unknown>([
          [2, () => (offsets.length ? r.pick(offsets) : '0:0')],
          [1, () => `${f.ascii(1, 16).toLowerCase().replace(/[^0-9a-z]/g, 'a')}:${r.int(0, 999_999_999_999)}`],
          [2, () => f.string(40)],
          [1, () => f.wrong('string')],
          [1, () => r.pick(['0:', ':0', 'A:1', 'a:-1', 'a:1.5', 'a:1e3', `${'a'.repeat(17)}:1`, `a:${'9'.repeat(13)}`, 'a:1 ', ' a:1'])],
        ]),
      ]);
    if (r.chance(0.2)) entries.push([r.chance(0.5) ? r.pick(PROTO_KEYS) : f.string(15), f.json(1)]);
    payload = own(entries);
  } else if (shape === 'other') payload = r.pick([null, 42, 'fz:room', ['fz:room'], true, f.bytes(10), f.json(2)]);
  const args = decorate(f, payload);
  const p = payloadOf(args);
  const expect = new Set<Outcome>();
  let verify: EventCase['verify'];
  let recovers: string | undefined;
  if (!isPlain(p)) expect.add('BAD_REQUEST');
  else {
    const room = p.room;
    const v = contractName(room);
    if (v !== 'valid') expect.add('BAD_REQUEST');
    if (v !== 'invalid' && typeof room === 'string') {
      if (room.startsWith('user:')) expect.add('FORBIDDEN');
      else if (p.since !== undefined && !(typeof p.since === 'string' && OFFSET.test(p.since))) expect.add('BAD_REQUEST');
      else if (allowedRoom(room)) {
        expect.add('ok');
        verify = (d) => (isObj(d) && d.room === room && (d.offset === undefined || (typeof d.offset === 'string' && OFFSET.test(d.offset))) && Object.keys(d).every((k) => k === 'room' || k === 'offset') ? null : `join answered ${short(d, 120)}`);
        if (p.since !== undefined) recovers = room;
      } else expect.add('FORBIDDEN');
    }
  }
  return { event: 'room:join', args, withAck: f.rng.chance(0.75), expect: [...expect], verify, recovers, note: `room:join ${short(args, 200)}` };
}

function leaveCase(f: Fuzz): EventCase {
  const r = f.rng;
  const payload = r.chance(0.8) ? own([['room', roomValue(f)], ...(r.chance(0.2) ? ([[r.pick(PROTO_KEYS), f.json(1)]] as [string, unknown][]) : [])]) : r.pick([null, 7, 'fz:a', [{ room: 'fz:a' }], f.bytes(4), undefined]);
  const args = decorate(f, payload);
  const p = payloadOf(args);
  const expect = new Set<Outcome>();
  let verify: EventCase['verify'];
  if (!isPlain(p)) expect.add('BAD_REQUEST');
  else {
    const v = contractName(p.room);
    if (v !== 'valid') expect.add('BAD_REQUEST');
    if (v !== 'invalid' && typeof p.room === 'string') {
      const room = p.room;
      if (room.startsWith('user:')) expect.add('FORBIDDEN');
      else {
        expect.add('ok');
        verify = (d) => (isObj(d) && d.room === room && Object.keys(d).length === 1 ? null : `leave answered ${short(d, 120)}`);
      }
    }
  }
  return { event: 'room:leave', args, withAck: r.chance(0.75), expect: [...expect], verify, note: `room:leave ${short(args, 200)}` };
}

function refreshCase(f: Fuzz, sub: string): EventCase {
  const r = f.rng;
  const t = r.chance(0.85) ? hmacTokenCase(f, r.chance(0.85) ? sub : 'fz-someone-else', SOCKET_ROOMS) : notAToken(f);
  const payload = r.chance(0.9) ? own([['token', t.token], ...(r.chance(0.1) ? ([[r.pick(PROTO_KEYS), f.json(1)]] as [string, unknown][]) : [])]) : r.pick([t.token, null, [t.token], 5]);
  const args = decorate(f, payload);
  const p = payloadOf(args);
  let expect: Outcome[];
  let verify: EventCase['verify'];
  if (!isPlain(p)) expect = ['BAD_REQUEST'];
  else if (p.token !== t.token) expect = ['UNAUTHORIZED'];
  else if (t.expect === 'connected') {
    expect = t.sub === sub ? ['ok'] : ['FORBIDDEN'];
    verify = (d) => (isObj(d) && (d.exp === null || typeof d.exp === 'number') && Object.keys(d).length === 1 ? null : `refresh answered ${short(d, 120)}`);
  } else expect = [t.expect];
  return { event: 'auth:refresh', args, withAck: r.chance(0.8), expect, verify, note: `auth:refresh ${t.note}: ${short(args, 160)}` };
}

function forwardCase(f: Fuzz): EventCase {
  const r = f.rng;
  let event: string;
  do {
    event = r.weighted<string>([
      [4, () => `fz:${f.ascii(1, 20)}`],
      [2, () => validName(f)],
      [1, () => r.pick(['welcome', 'recovered', 'presence:join', 'server:draining', 'error', 'message', 'Room:Join', 'room:join ', 'ROOM:LEAVE', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'then'])],
      [3, () => f.string(200)],
    ]);
  } while (CLIENT_RESERVED.has(event) || event === 'room:join' || event === 'room:leave' || event === 'auth:refresh');
  const args = decorate(f, r.chance(0.8) ? f.json(3) : undefined);
  const v = contractName(event, 100);
  const expect = new Set<Outcome>();
  if (v !== 'valid') expect.add('BAD_REQUEST');
  if (v !== 'invalid') expect.add('ok');
  const name = event;
  return { event, args, withAck: r.chance(0.8), expect: [...expect], verify: (d) => (isObj(d) && d.received === name ? null : `forwarded answer ${short(d, 120)}`), note: `forward ${short(event, 80)} ${short(args, 160)}` };
}

/** Problems with one ack. */
function checkAck(c: EventCase, ack: unknown): { problems: string[]; label: string } {
  if (!isObj(ack)) return { problems: [`ack is not an object: ${short(ack, 120)}`], label: 'MALFORMED' };
  if (ack.ok === true) {
    const extra = Object.keys(ack).filter((k) => k !== 'ok' && k !== 'data');
    const problems = extra.length ? [`ok ack with extra keys ${extra.join(',')}`] : [];
    if (!c.expect.includes('ok')) problems.push(`ok, expected ${c.expect.join('/')}`);
    else if (c.verify) {
      const p = c.verify(ack.data);
      if (p) problems.push(p);
    }
    return { problems, label: 'ok' };
  }
  const err = ack.error;
  if (ack.ok !== false || !isObj(err) || Object.keys(ack).sort().join() !== 'error,ok') return { problems: [`ack shape ${short(ack, 160)}`], label: 'MALFORMED' };
  const problems: string[] = [];
  if (typeof err.code !== 'string' || typeof err.message !== 'string' || err.message === '') problems.push(`error ${short(err, 120)}`);
  const extra = Object.keys(err).filter((k) => !['code', 'message', 'details'].includes(k));
  if (extra.length) problems.push(`error has extra keys ${extra.join(',')}`);
  if (!c.expect.includes(String(err.code))) problems.push(`${String(err.code)} (${String(err.message)}), expected ${c.expect.join('/')}`);
  return { problems, label: String(err.code) };
}

/** A socket the targets share until a case closes it. */
class Session {
  socket: ClientSocket | null = null;
  recovered: Record<string, unknown>[] = [];

  constructor(
    private readonly url: () => string,
    readonly sub: string,
    private readonly token: () => string,
  ) {}

  async get(): Promise<ClientSocket> {
    if (this.socket?.connected) return this.socket;
    this.socket?.disconnect();
    const s = connectClient(this.url(), { token: this.token() });
    s.on('recovered', (p: Record<string, unknown>) => this.recovered.push(p));
    await nextEvent(s, 'welcome', TIMEOUT_MS);
    this.socket = s;
    return s;
  }
}

/** room:leave of a room nobody joined: answered ok at once, proves the socket still serves. */
async function probe(s: ClientSocket, ms = TIMEOUT_MS): Promise<string | null> {
  try {
    const ack = (await s.timeout(ms).emitWithAck('room:leave', { room: 'fz:probe' })) as unknown;
    return isObj(ack) && ack.ok === true ? null : `probe answered ${short(ack, 120)}`;
  } catch (err) {
    return `probe: ${(err as Error).message}`;
  }
}

/** Emits one case and reports what happened: the ack, a disconnect, or a hang. */
async function runEvent(session: Session, c: EventCase): Promise<{ problems: string[]; label: string }> {
  const s = await session.get();
  const size = messageBytes(c.event, c.args);
  const over = size > MAX_PAYLOAD + 64;
  const maybeOver = size > MAX_PAYLOAD - 64;
  const { gone, cancel } = whenGone(s);
  session.recovered = [];
  try {
    return await emitOne(s, c, session, gone, size, over, maybeOver);
  } finally {
    cancel();
  }
}

async function emitOne(s: ClientSocket, c: EventCase, session: Session, gone: Promise<string>, size: number, over: boolean, maybeOver: boolean): Promise<{ problems: string[]; label: string }> {
  if (c.withAck) {
    const acked = (s.timeout(TIMEOUT_MS).emitWithAck as (ev: unknown, ...a: unknown[]) => Promise<unknown>)(c.event, ...c.args).then(
      (ack) => ({ ack }),
      (err: Error) => ({ error: err.message }),
    );
    const first = await Promise.race([acked, gone.then((reason) => ({ gone: reason }))]);
    if ('gone' in first) {
      return maybeOver ? { problems: [], label: 'disconnect (over MAX_PAYLOAD_BYTES)' } : { problems: [`socket disconnected (${first.gone}) on a ${size}-byte message`], label: 'DISCONNECT' };
    }
    if ('error' in first) return { problems: [`no ack: ${first.error}`], label: 'HANG' };
    if (over) return { problems: [`a ${size}-byte message was answered (over MAX_PAYLOAD_BYTES)`], label: 'ANSWERED-OVERSIZE' };
    const result = checkAck(c, first.ack);
    if (!s.connected) result.problems.push('the socket was dropped after its ack');
    if (c.recovers && result.label === 'ok' && !session.recovered.some((p) => isObj(p.streams) && Object.prototype.hasOwnProperty.call(p.streams, c.recovers!))) result.problems.push(`no "recovered" for ${short(c.recovers, 60)} before the ack`);
    return result;
  }
  (s.emit as (ev: unknown, ...a: unknown[]) => void)(c.event, ...c.args);
  const after = await Promise.race([probe(s).then((p) => ({ p })), gone.then((reason) => ({ gone: reason }))]);
  if ('gone' in after) return maybeOver ? { problems: [], label: 'disconnect (over MAX_PAYLOAD_BYTES)' } : { problems: [`socket disconnected (${after.gone}) after an ack-less ${size}-byte message`], label: 'DISCONNECT' };
  if (over) return { problems: [`the socket survived a ${size}-byte message (over MAX_PAYLOAD_BYTES)`], label: 'SURVIVED-OVERSIZE' };
  return after.p ? { problems: [after.p], label: 'HANG' } : { problems: [], label: 'no ack asked, socket still serving' };
}

/** A raw Socket.IO packet string no well-behaved client sends (types 0/1 excluded: they detach the socket by design). */
function rawPacket(f: Fuzz): string | Buffer {
  const r = f.rng;
  if (r.chance(0.05)) return f.bytes(30);
  const type = r.pick(['2', '2', '2', '2', '2', '2', '3', '4', '5', '6', '7', '9', 'a', '', '-']);
  const attachments = type === '5' || type === '6' ? `${r.pick(['0', '1', '2', '99999999999', '-1', 'x'])}-` : '';
  const nsp = r.chance(0.15) ? `${r.pick(['/', '/nope', '/admin', `/${f.ascii(1, 10)}`])},` : '';
  // Ack ids far above the client's own counter, so the server's answer is never taken for the probe's.
  const id = r.chance(0.3) ? String(r.pick([2 ** 31, 2 ** 32 + 1, 2 ** 53, Number.MAX_SAFE_INTEGER])) + (r.chance(0.1) ? '9'.repeat(20) : '') : '';
  const event = r.pick<unknown>(['room:join', 'room:leave', 'auth:refresh', 'fz:raw', 'welcome', 'disconnect', 'connect', 'error', 'newListener', 42, -1, 1.5, null, true, {}, [], f.string(50)]);
  const payload = r.weighted<string>([
    [4, () => jsonText([event, ...r.times(r.int(0, 3), () => f.json(2))])],
    [1, () => f.deepText(r.pick([500, 3000, 7000]), 'array')],
    [1, () => `[${JSON.stringify('room:join')},${f.deepText(r.pick([500, 3000, 7000]), 'mixed')}]`],
    // A forwarded event nesting far deeper than MAX_NESTING (deeper than JSON.stringify copes with): refused, never forwarded.
    [1, () => `["fz:raw-deep",${f.deepText(r.int(7000, 7600), 'array')}]`],
    [1, () => r.pick(['[', '{', '["room:join"', '"x"', '{"room":"x"}', '[]', 'null', '[1e309]', '[NaN]', ''])],
    [1, () => jsonText(f.json(2))],
  ]);
  return `${type}${attachments}${nsp}${id}${payload}`;
}

/** The handshake as a socket.io-client sees it. */
type Handshake = { kind: 'connected'; welcome: Record<string, unknown>; recovered?: Record<string, unknown> } | { kind: 'refused'; code: string } | { kind: 'gone'; reason: string } | { kind: 'hang' };

async function handshake(url: string, auth: Record<string, unknown> | undefined, opts: Partial<ManagerOptions & SocketOptions>, waitRecovered: boolean): Promise<Handshake> {
  const s = connectClient(url, auth, opts);
  try {
    return await new Promise<Handshake>((resolve) => {
      const timer = setTimeout(() => resolve({ kind: 'hang' }), TIMEOUT_MS);
      s.once('connect_error', (err: Error & { data?: { code?: string } }) => {
        clearTimeout(timer);
        resolve({ kind: 'refused', code: err.data?.code === err.message ? err.message : `${err.message}/${String(err.data?.code)}` });
      });
      s.once('disconnect', (reason: string) => {
        clearTimeout(timer);
        resolve({ kind: 'gone', reason });
      });
      s.once('welcome', (welcome: Record<string, unknown>) => {
        if (!waitRecovered) {
          clearTimeout(timer);
          resolve({ kind: 'connected', welcome });
          return;
        }
        s.once('recovered', (recovered: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve({ kind: 'connected', welcome, recovered });
        });
      });
    });
  } finally {
    s.disconnect();
  }
}

function checkWelcome(w: Record<string, unknown>, sub: string): string | null {
  const rooms = w.rooms;
  if (typeof w.socketId !== 'string' || w.userId !== sub || typeof w.nodeId !== 'string' || typeof w.serverTime !== 'number' || !Array.isArray(rooms) || !rooms.includes(`user:${sub}`)) return `welcome ${short(w, 160)}`;
  return null;
}

interface RecoverPlan {
  value: unknown;
  /** For each stream asked, in order: the error code its report must carry, or null for none. */
  streams: [string, string | null][];
}

/** A `recover` map: own and foreign personal streams, rooms allowed or not, real, fabricated and broken offsets, too many streams. */
/** The error a stream's report must carry (contract §6 and README "Delivery guarantees"), '?' where the name is ambiguous. */
function streamCode(stream: string, offset: unknown, i: number, sub: string, mayJoin: (room: string) => boolean): string | null {
  if (i >= 100) return 'BAD_REQUEST';
  if (typeof offset !== 'string' || !OFFSET.test(offset)) return 'BAD_REQUEST';
  if (stream === `user:${sub}`) return null;
  if (stream.startsWith('user:')) return 'FORBIDDEN';
  const v = contractName(stream);
  return v === 'valid' ? (mayJoin(stream) ? null : 'FORBIDDEN') : v === 'invalid' ? 'BAD_REQUEST' : '?';
}

function recoverMap(f: Fuzz, sub: string, offsets: Record<string, string>, mayJoin: (room: string) => boolean): RecoverPlan {
  const r = f.rng;
  if (r.chance(0.1)) {
    // Not a map: judged by what arrives (a Buffer travels as { type, data }).
    const value = r.pick([f.string(20), 42, [`user:${sub}`], true, f.bytes(4)]);
    const arrived: unknown = JSON.parse(JSON.stringify(value));
    const streams: [string, string | null][] = isObj(arrived) ? Object.entries(arrived).map(([k, v], i) => [k, streamCode(k, v, i, sub, mayJoin)]) : [];
    return { value, streams };
  }
  const n = r.weighted<number>([
    [8, () => r.int(0, 6)],
    [1, () => r.int(99, 130)],
  ]);
  const entries: [string, unknown][] = [];
  const streams: [string, string | null][] = [];
  for (let i = 0; i < n; i++) {
    const stream = n > 20 ? `fz:many-${i}` : r.weighted<string>([
      [2, () => `user:${sub}`],
      [1, () => `user:${validName(f)}`],
      [3, () => (Object.keys(offsets).length && r.chance(0.5) ? r.pick(Object.keys(offsets)) : validName(f, 'fz:'))],
      [1, () => validName(f, 'ok')],
      [1, () => validName(f, 'zz')],
      [2, () => f.string(250)],
      [1, () => r.pick(PROTO_KEYS)],
    ]);
    if (entries.some(([k]) => k === stream)) continue;
    const offset = n > 20 ? '0:0' : r.weighted<unknown>([
      [3, () => (Object.hasOwn(offsets, stream) ? offsets[stream] : r.pick(Object.values(offsets).concat(['0:0'])))],
      [1, () => `${f.ascii(1, 8).toLowerCase().replace(/[^0-9a-z]/g, 'b')}:${r.int(0, 1e6)}`],
      [2, () => f.string(30)],
      [1, () => f.wrong('string')],
    ]);
    entries.push([stream, offset]);
    streams.push([stream, streamCode(stream, offset, entries.length - 1, sub, mayJoin)]);
  }
  return { value: own(entries), streams };
}

function checkRecovered(rec: Record<string, unknown> | undefined, plan: RecoverPlan): string | null {
  if (!rec || !isObj(rec.streams)) return `recovered ${short(rec, 120)}`;
  const got = rec.streams;
  const keys = Object.keys(got);
  const want = plan.streams.map(([s]) => s);
  if (keys.length !== want.length || want.some((s) => !Object.prototype.hasOwnProperty.call(got, s))) return `recovered streams ${short(keys, 160)}, asked ${short(want, 160)}`;
  for (const [stream, code] of plan.streams) {
    const s = got[stream];
    if (!isObj(s) || typeof s.recovered !== 'boolean' || typeof s.replayed !== 'number' || s.replayed < 0 || (s.offset !== undefined && (typeof s.offset !== 'string' || !OFFSET.test(s.offset)))) return `stream ${short(stream, 40)}: ${short(s, 120)}`;
    const errCode = isObj(s.error) ? s.error.code : undefined;
    if (code === '?') continue;
    if ((errCode ?? null) !== code) return `stream ${short(stream, 40)}: error ${String(errCode)}, expected ${String(code)}`;
    if (code && s.recovered) return `stream ${short(stream, 40)}: refused yet recovered`;
  }
  return null;
}

/** Two user ids that are different strings but easy to conflate: surrogates, normalisation forms, case, invisible marks, look-alikes. */
function identityPair(f: Fuzz, i: number): [string, string, string] {
  const r = f.rng;
  const base = `fz-id-${i}-${f.ascii(1, 6).replace(/[^A-Za-z0-9]/g, 'x')}`;
  const [x, y, how] = r.pick<[string, string, string]>([
    ['\ud800', '\ud801', 'two lone high surrogates'],
    ['\udc00', '\udfff', 'two lone low surrogates'],
    ['\ud800', '\ufffd', 'a lone surrogate and U+FFFD'],
    ['\ud83d\ude00', '\ude00\ud83d', 'a surrogate pair and its reverse'],
    ['\u{1F600}', '\ud83d', 'an emoji and its lone high half'],
    ['\u00e9', 'e\u0301', 'NFC and NFD'],
    ['A', 'a', 'case'],
    ['K', '\u212a', 'K and the Kelvin sign'],
    ['fi', '\ufb01', 'fi and its ligature'],
    ['1', '\uff11', 'a digit and its fullwidth form'],
    ['x', 'x\u200d', 'a trailing zero-width joiner'],
    ['x', '\u200fx', 'a leading right-to-left mark'],
  ]);
  return r.chance(0.5) ? [base + x, base + y, how] : [base + y, base + x, how];
}

describe(`fuzzed socket input (FUZZ_SEED=${SEED})`, () => {
  let node: TestNode;
  const backend = new FakeBackend();
  const canary = new Canary('fz-socket-canary');
  const tally = new Tally();
  const started = Date.now();
  const offsets: Record<string, string> = {};
  const SUB = 'fz-sock';
  const token = (sub: string, kid = 'k1') => makeToken({ sub, rooms: SOCKET_ROOMS }, { keyid: kid });
  const session = new Session(() => node.url, SUB, () => token(SUB));

  beforeAll(async () => {
    // The fake backend answers every forwarded event with the name it received, and allows the rooms starting with "ok".
    backend.handler = (req, res) => {
      if (req.path.endsWith('/authorize')) json(res, typeof req.body.room === 'string' && req.body.room.startsWith('ok') ? 200 : 403, {});
      else json(res, 200, { received: req.body.event });
    };
    const backendUrl = await backend.start();
    node = await startNode({
      MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD),
      REDIS_URL: testRedisUrl(),
      REDIS_PREFIX: uniquePrefix('fuzz-socket'),
      JWT_SECRET: undefined,
      JWT_SECRETS: `k1:${TEST_JWT_SECRET},k2:${KID2_SECRET}`,
      BACKEND_URL: backendUrl,
      BACKEND_SECRET: 'fz-backend-secret-0123456789abcdef',
      PRESENCE_ROOMS: 'fz:*',
    });
    await canary.connect(node.url, token(canary.userId));
    // Real offsets to recover from: the user's personal stream and two rooms, each with a message in it.
    const s = await session.get();
    for (const room of ['fz:a', 'fz:b']) {
      const ack = (await s.timeout(TIMEOUT_MS).emitWithAck('room:join', { room })) as { data?: { offset?: string } };
      if (ack.data?.offset) offsets[room] = ack.data.offset;
    }
    const pushed = nextEvent<[unknown, { offset?: string; stream?: string }]>(s, 'fz-seed');
    await sendRaw(node.port, { method: 'POST', path: '/api/v1/push', headers: [['Authorization', `Bearer ${ADMIN_KEY}`], ['Content-Type', 'application/json']], body: Buffer.from(JSON.stringify({ users: [SUB], event: 'fz-seed', data: 1 })) });
    const [, meta] = await pushed;
    if (meta.offset && meta.stream) offsets[meta.stream] = meta.offset;
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    canary.close();
    await node?.stop();
    await backend.stop();
    process.stdout.write(`fuzz sockets (FUZZ_SEED=${SEED}): ${tally.total()} cases in ${((Date.now() - started) / 1000).toFixed(1)} s; ${tally.line()}\nfuzz socket codes: ${tally.codes()}\n`);
  });

  const eventTargets: { name: string; count: number; gen: (f: Fuzz) => EventCase }[] = [
    { name: 'room:join', count: cases(1.25), gen: (f) => joinCase(f, Object.values(offsets)) },
    { name: 'room:leave', count: cases(0.75), gen: (f) => leaveCase(f) },
    { name: 'auth:refresh', count: cases(1.25), gen: (f) => refreshCase(f, SUB) },
    { name: 'forwarded events', count: cases(1), gen: (f) => forwardCase(f) },
  ];

  it.each(eventTargets.map((t) => [t.name, t] as const))('%s: every ack in the contract shape with an allowed code; oversize messages end only that socket', async (name, t) => {
    const f = new Fuzz(Rng.derive(SEED, name));
    for (let i = 0; i < t.count; i++) {
      const c = nestingRule(t.gen(f));
      const { problems, label } = await runEvent(session, c);
      tally.count(name, c.tooDeep ? `${label} (nested > ${MAX_NESTING})` : label);
      if (problems.length) tally.fail(name, i, c.note, problems.join('; '));
    }
    expect(await canary.check(node)).toEqual([]);
    expect(tally.failuresOf(name)).toEqual([]);
  }, TARGET_TIMEOUT_MS);

  it('handshakes: random auth objects, recover maps, queries and headers end in welcome (+ recovered) or UNAUTHORIZED / TOKEN_EXPIRED', async () => {
    const name = 'handshake';
    const f = new Fuzz(Rng.derive(SEED, name));
    const r = f.rng;
    for (let i = 0; i < cases(1); i++) {
      const sub = `fz-hs-${r.int(0, 3)}`;
      // Where the token comes from: auth.token, else Authorization: Bearer, else ?token= (contract §2).
      const tAuth = r.weighted<TokenCase | 'absent' | 'null'>([
        [4, () => ({ token: token(sub), expect: 'connected', sub, note: 'valid' })],
        [2, () => hmacTokenCase(f, sub, undefined)],
        [1, () => notAToken(f)],
        [2, () => 'absent'],
        [1, () => 'null'],
      ]);
      // Header and query tokens only where they travel unchanged (no whitespace for Node to trim, nothing to percent-encode badly).
      const tHeader = r.chance(0.3) ? (r.chance(0.5) ? { token: token(sub), expect: 'connected' as const, sub, note: 'valid' } : hmacTokenCase(f, sub, undefined)) : null;
      const scheme = r.pick(['Bearer ', 'bearer  ', 'BEARER\t', 'Token ', '']);
      const tQuery = r.chance(0.25) ? (r.chance(0.5) ? { token: token(sub), expect: 'connected' as const, sub, note: 'valid' } : r.chance(0.5) ? hmacTokenCase(f, sub, undefined) : notAToken(f)) : null;
      const auth: [string, unknown][] = [];
      if (tAuth === 'null') auth.push(['token', null]);
      else if (tAuth !== 'absent') auth.push(['token', tAuth.token]);
      if (r.chance(0.3)) auth.push([r.chance(0.5) ? r.pick(PROTO_KEYS) : f.string(20), f.json(2)]);
      const opts: Partial<ManagerOptions & SocketOptions> = { transports: [r.chance(0.85) ? 'websocket' : 'polling'] };
      const headers: Record<string, string> = {};
      const headerToken = tHeader && typeof tHeader.token === 'string' && /^[\x21-\x7e]+$/.test(tHeader.token) && tHeader.token.length < 8000 ? tHeader : null;
      if (headerToken) headers.Authorization = `${scheme}${String(headerToken.token)}`;
      if (r.chance(0.2)) headers[r.pick(['X-Forwarded-For', 'Origin', 'X-Fuzz', 'Accept-Language'])] = f.ascii(1, 60);
      if (Object.keys(headers).length) opts.extraHeaders = headers;
      const query: Record<string, string> = {};
      const queryToken = tQuery && typeof tQuery.token === 'string' && /^[\x20-\x7e]*$/.test(tQuery.token) && tQuery.token.length < 4000 ? tQuery : null;
      if (queryToken) query.token = String(queryToken.token);
      if (r.chance(0.2)) query[`fz${f.ascii(1, 10)}`] = f.ascii(0, 100);
      if (Object.keys(query).length) opts.query = query;

      const fromAuth = tAuth !== 'absent' && tAuth !== 'null' && tAuth.token !== null && tAuth.token !== undefined ? tAuth : null;
      const fromHeader = headerToken && /^bearer\s/i.test(scheme) ? headerToken : null;
      const effective = fromAuth ?? fromHeader ?? queryToken;
      const expected: TokenOutcome = effective ? effective.expect : 'UNAUTHORIZED';
      // Room rights come from the token that verifies: the plain one carries fz:*, generated ones none (only the backend's "ok" rooms).
      const who = effective?.sub ?? sub;
      const mayJoin = effective?.note === 'valid' ? allowedRoom : (room: string) => room.startsWith('ok');
      const recover = r.chance(0.5) ? recoverMap(f, who, { ...offsets, [`user:${who}`]: offsets[`user:${SUB}`] ?? '0:0' }, mayJoin) : null;
      if (recover) auth.push(['recover', recover.value]);
      const size = Buffer.byteLength(jsonText(own(auth)));
      const note = `auth ${short(own(auth), 1200)} header ${short(headers.Authorization ?? '-', 60)} query ${short(query, 60)} → ${expected}`;
      const got = await handshake(node.url, own(auth), opts, expected === 'connected' && recover !== null && recover.value !== null);
      if (size > MAX_PAYLOAD - 256 && (got.kind === 'gone' || (got.kind === 'refused' && !['UNAUTHORIZED', 'TOKEN_EXPIRED'].includes(got.code)))) {
        tally.count(name, 'transport closed (over MAX_PAYLOAD_BYTES)');
        continue;
      }
      const label = got.kind === 'connected' ? (got.recovered ? 'welcome+recovered' : 'welcome') : got.kind === 'refused' ? got.code : got.kind.toUpperCase();
      tally.count(name, label);
      const problems: string[] = [];
      if (got.kind === 'hang') problems.push('no welcome, connect_error or disconnect within the timeout');
      else if (got.kind === 'gone') problems.push(`disconnected during the handshake (${got.reason})`);
      else if (got.kind === 'refused') {
        if (got.code !== expected) problems.push(`connect_error ${got.code}, expected ${expected}`);
      } else if (expected !== 'connected') problems.push(`connected, expected ${expected}`);
      else {
        const w = checkWelcome(got.welcome, effective?.sub ?? sub);
        if (w) problems.push(w);
        if (recover && got.recovered) {
          const rp = checkRecovered(got.recovered, recover);
          if (rp) problems.push(rp);
        }
      }
      if (problems.length) tally.fail(name, i, note, problems.join('; '));
    }
    expect(await canary.check(node)).toEqual([]);
    expect(tally.failuresOf(name)).toEqual([]);
  }, TARGET_TIMEOUT_MS);

  it('tokens (JWT_SECRETS with kids): alg none, foreign kids, wrong claim types, expired and not-yet-valid tokens, truncated and garbled ones', async () => {
    const name = 'tokens (HS256, kids)';
    const f = new Fuzz(Rng.derive(SEED, name));
    const r = f.rng;
    for (let i = 0; i < cases(1.5); i++) {
      const t = r.chance(0.9) ? hmacTokenCase(f, `fz-tok-${i}`, undefined) : notAToken(f);
      // Header and query only for tokens that travel unchanged there.
      const via = typeof t.token === 'string' && /^[\x21-\x7e]+$/.test(t.token) && t.token.length < 4000 ? r.pick(['auth', 'auth', 'auth', 'header', 'query'] as const) : 'auth';
      const opts: Partial<ManagerOptions & SocketOptions> = via === 'header' ? { extraHeaders: { Authorization: `Bearer ${String(t.token)}` } } : via === 'query' ? { query: { token: String(t.token) } } : {};
      const got = await handshake(node.url, via === 'auth' ? { token: t.token } : undefined, opts, false);
      const label = got.kind === 'connected' ? 'welcome' : got.kind === 'refused' ? got.code : got.kind.toUpperCase();
      const outcome = got.kind === 'connected' ? 'connected' : got.kind === 'refused' ? got.code : got.kind;
      // A token bigger than MAX_PAYLOAD_BYTES never reaches the verifier: the transport refuses the message.
      const oversize = via === 'auth' && typeof t.token === 'string' && Buffer.byteLength(t.token) > MAX_PAYLOAD - 256;
      if (oversize && outcome === 'gone') {
        tally.count(name, 'transport closed (over MAX_PAYLOAD_BYTES)');
        continue;
      }
      tally.count(name, label);
      if (oversize ? outcome !== 'UNAUTHORIZED' : outcome !== t.expect) tally.fail(name, i, `${t.note} via ${via}: ${short(t.token, 200)}`, `${outcome}, expected ${oversize ? 'the transport closed' : t.expect}`);
      else if (got.kind === 'connected' && t.sub && got.welcome.userId !== t.sub) tally.fail(name, i, t.note, `welcome for ${short(got.welcome.userId, 40)}, token sub ${short(t.sub, 40)}`);
    }
    expect(await canary.check(node)).toEqual([]);
    expect(tally.failuresOf(name)).toEqual([]);
  }, TARGET_TIMEOUT_MS);

  it('unicode identities: distinct user ids never share a push (NFC/NFD, case, joiners, look-alikes); an id with a lone surrogate is nobody (UNAUTHORIZED, BAD_REQUEST)', async () => {
    const name = 'unicode identities';
    const f = new Fuzz(Rng.derive(SEED, name));
    const push = async (users: string[], event: string): Promise<{ status: number | string; code?: unknown; recipients?: unknown }> => {
      const o = await sendRaw(node.port, { method: 'POST', path: '/api/v1/push', headers: [['Authorization', `Bearer ${ADMIN_KEY}`], ['Content-Type', 'application/json']], body: Buffer.from(JSON.stringify({ users, event, data: event })) }, TIMEOUT_MS);
      if (o.kind !== 'response' || o.res.status !== 200) return answer(o);
      return { status: 200, recipients: (JSON.parse(o.res.body.toString()) as { data: { recipients: number } }).data.recipients };
    };
    for (let i = 0; i < cases(0.5); i++) {
      const [a, b, how] = identityPair(f, i);
      const problems: string[] = [];
      const lone = [a, b].filter(hasLoneSurrogate);
      // Not Unicode (UTF-8 would store it as U+FFFD, another id), so nobody: it cannot connect, and a push to it is refused.
      for (const id of lone) {
        const got = await handshake(node.url, { token: token(id) }, {}, false);
        if (got.kind !== 'refused' || got.code !== 'UNAUTHORIZED') problems.push(`${short(id, 60)}: handshake ${short(got, 120)}, expected connect_error UNAUTHORIZED`);
        const p = await push([id], 'fz-id-other');
        if (p.status !== 400 || p.code !== 'BAD_REQUEST') problems.push(`a push to ${short(id, 60)} answered ${short(p, 80)}, expected 400 BAD_REQUEST`);
      }
      // The well-formed id of the pair (the first when both are) connects; the other id's push must not reach it.
      const mine = [a, b].find((id) => !hasLoneSurrogate(id));
      if (mine !== undefined) {
        const other = mine === a ? b : a;
        const s = connectClient(node.url, { token: token(mine) });
        await nextEvent(s, 'welcome', TIMEOUT_MS);
        const strays: unknown[] = [];
        s.on('fz-id-other', (d: unknown) => strays.push(d));
        const toOther = await push([other], 'fz-id-other');
        // Events on one socket keep their order: once the marker is in, a stray delivery would be too.
        const marker = nextEvent(s, 'fz-id-own', TIMEOUT_MS);
        const toMine = await push([mine], 'fz-id-own');
        try {
          await marker;
        } catch (err) {
          problems.push(`the user's own push: ${(err as Error).message}`);
        }
        s.disconnect();
        const otherOk = hasLoneSurrogate(other) ? toOther.status === 400 && toOther.code === 'BAD_REQUEST' : toOther.status === 200 && toOther.recipients === 0;
        if (!otherOk) problems.push(`a push to the other id answered ${short(toOther, 80)}`);
        if (strays.length) problems.push(`the other id's push was delivered here`);
        if (toMine.status !== 200 || toMine.recipients !== 1) problems.push(`the user's own push answered ${short(toMine, 80)}`);
      }
      tally.count(name, problems.length ? 'PROBLEM' : ['distinct', 'distinct, the lone-surrogate one refused', 'both refused (lone surrogates)'][lone.length]!);
      if (problems.length) tally.fail(name, i, `${how}: ${short(a, 80)} vs ${short(b, 80)}`, problems.join('; '));
    }
    expect(await canary.check(node)).toEqual([]);
    expect(tally.failuresOf(name)).toEqual([]);
  }, TARGET_TIMEOUT_MS);

  it("an id with a lone surrogate is no alias of the U+FFFD one: it cannot connect, recover or refresh into a socket, a push to it is refused, and the other user's stream stays its own", async () => {
    // As UTF-8 (how Redis keeps names) the first is the second.
    const [lone, replacement] = ['fz-m\ud800', 'fz-m\ufffd'];
    expect(await handshake(node.url, { token: token(lone) }, {}, false)).toEqual({ kind: 'refused', code: 'UNAUTHORIZED' });
    expect(await handshake(node.url, { token: token(lone), recover: { [`user:${lone}`]: '0:0', [`user:${replacement}`]: '0:0' } }, {}, false)).toEqual({ kind: 'refused', code: 'UNAUTHORIZED' });
    const first = connectClient(node.url, { token: token(replacement) });
    const [welcome] = await nextEvent<[WelcomePayload]>(first, 'welcome', TIMEOUT_MS);
    expect(await first.timeout(TIMEOUT_MS).emitWithAck('auth:refresh', { token: token(lone) })).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    expect(await first.timeout(TIMEOUT_MS).emitWithAck('room:join', { room: 'fz:m\ud800' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    first.disconnect();
    const from = welcome.offsets?.[`user:${replacement}`] ?? '0:0';
    const pushed = await sendRaw(node.port, { method: 'POST', path: '/api/v1/push', headers: [['Authorization', `Bearer ${ADMIN_KEY}`], ['Content-Type', 'application/json']], body: Buffer.from(JSON.stringify({ users: [lone], rooms: ['fz:m\ud800'], event: 'fz-secret', data: 'not yours' })) }, TIMEOUT_MS);
    expect(answer(pushed)).toMatchObject({ status: 400, code: 'BAD_REQUEST' });
    const again = connectClient(node.url, { token: token(replacement), recover: { [`user:${replacement}`]: from, [`user:${lone}`]: from, 'fz:m\ud800': '0:0' } });
    const leaked: unknown[] = [];
    again.on('fz-secret', (d: unknown) => leaked.push(d));
    const [recovered] = await nextEvent<[{ streams: Record<string, { replayed: number; error?: { code: string } }> }]>(again, 'recovered', TIMEOUT_MS);
    const report = (stream: string) => ({ replayed: recovered.streams[stream]?.replayed, code: recovered.streams[stream]?.error?.code });
    expect({ leaked, own: report(`user:${replacement}`), foreign: report(`user:${lone}`), room: report('fz:m\ud800') }).toEqual({
      leaked: [],
      own: { replayed: 0, code: undefined },
      foreign: { replayed: 0, code: 'FORBIDDEN' },
      room: { replayed: 0, code: 'BAD_REQUEST' },
    });
  });

  it('raw Socket.IO packets: the socket is closed or keeps serving, never left hanging; deep ones are never forwarded', async () => {
    const name = 'raw packets';
    const f = new Fuzz(Rng.derive(SEED, name));
    for (let i = 0; i < cases(0.75); i++) {
      const packet = rawPacket(f);
      const s = await session.get();
      const { gone, cancel } = whenGone(s);
      s.io.engine.send(packet as string);
      const after = await Promise.race([probe(s, 3000).then((p) => ({ p })), gone.then((reason) => ({ gone: reason }))]);
      cancel();
      if ('gone' in after) tally.count(name, 'closed');
      else if (after.p) {
        tally.count(name, 'HANG');
        tally.fail(name, i, short(packet, 200), after.p);
        s.disconnect();
      } else tally.count(name, 'open');
    }
    const forwardedDeep = backend.requests.filter((r) => r.raw.includes('"fz:raw-deep"')).length;
    if (forwardedDeep) tally.fail(name, -1, 'events nesting deeper than MAX_NESTING', `${forwardedDeep} reached the backend`);
    // Forwarded events still reach the backend for everyone.
    const after = (await (await session.get()).timeout(TIMEOUT_MS).emitWithAck('fz:after-raw', {})) as { ok: boolean; error?: { code: string } };
    if (after.ok !== true) tally.fail(name, -1, 'a forwarded event after the raw packets', `answered ${short(after, 160)}`);
    expect(await canary.check(node)).toEqual([]);
    expect(tally.failuresOf(name)).toEqual([]);
  }, TARGET_TIMEOUT_MS);

  it("a client's deeply nested event arguments are refused with BAD_REQUEST, never forwarded, and the backend circuit stays closed for other clients", async () => {
    const mallory = await session.get();
    const alice = connectClient(node.url, { token: token('fz-alice') });
    await nextEvent(alice, 'welcome', TIMEOUT_MS);
    const sentBefore = backend.requests.length;
    // Through the client (which encodes a few hundred levels): every event name, the built-in ones included.
    const deep = new Fuzz(new Rng(SEED)).nested(MAX_NESTING + 200, 'x', 'mixed');
    const payloads: [string, unknown][] = [
      ['fz:deep', deep],
      ['room:join', { room: 'fz:deep', nested: deep }],
      ['room:leave', { room: 'fz:deep', nested: deep }],
      ['auth:refresh', { token: token(SUB), nested: deep }],
    ];
    for (const [event, payload] of payloads) {
      expect({ event, ack: (await mallory.timeout(TIMEOUT_MS).emitWithAck(event, payload)) as unknown }).toMatchObject({ event, ack: { ok: false, error: { code: 'BAD_REQUEST' } } });
    }
    // Deeper than the client could encode: raw packets, their acks read off the transport.
    const acks: string[] = [];
    const onMessage = (d: unknown) => {
      const m = typeof d === 'string' ? /^3(\d+)\[/.exec(d) : null;
      if (m && Number(m[1]) >= 2 ** 40) acks.push(d as string);
    };
    mallory.io.engine.on('message', onMessage);
    const deepData = '['.repeat(7000) + ']'.repeat(7000);
    for (let i = 0; i < 6; i++) mallory.io.engine.send(`2${2 ** 40 + i}["fz:deep",${deepData}]`);
    expect(await probe(mallory)).toBeNull();
    mallory.io.engine.off('message', onMessage);
    expect(acks.map((a) => /^3(\d+)\[\{"ok":false,"error":\{"code":"([A-Z_]+)"/.exec(a)?.slice(1))).toEqual([0, 1, 2, 3, 4, 5].map((i) => [String(2 ** 40 + i), 'BAD_REQUEST']));
    expect(backend.requests.slice(sentBefore).filter((r) => r.raw.includes('fz:deep'))).toEqual([]);
    expect(await alice.timeout(TIMEOUT_MS).emitWithAck('fz:hello', {})).toEqual({ ok: true, data: { received: 'fz:hello' } });
  });

  it('ends healthy: no error logged, the canary still receives a push', async () => {
    expect(errorLines(node)).toEqual([]);
    expect(await canary.check(node)).toEqual([]);
  });
});

// =============================================================================================
// JWT_PUBLIC_KEY (RS256) with JWT_ISSUER / JWT_AUDIENCE
// =============================================================================================

describe(`fuzzed tokens with JWT_PUBLIC_KEY, JWT_ISSUER and JWT_AUDIENCE (FUZZ_SEED=${SEED})`, () => {
  const ISS = 'https://issuer.fuzz.example';
  const AUD = 'pushgate-fuzz';
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const publicDer = publicKey.export({ type: 'spki', format: 'der' });
  let node: TestNode;
  const canary = new Canary('fz-rsa-canary');
  const tally = new Tally();
  const started = Date.now();
  const rs = (sub: string) => jwt.sign({ sub }, privateKey, { algorithm: 'RS256', expiresIn: 600, issuer: ISS, audience: AUD });

  beforeAll(async () => {
    // Default MAX_PAYLOAD_BYTES (1 MiB), so tokens with huge claims reach the verifier.
    node = await startNode({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: publicPem, JWT_ISSUER: ISS, JWT_AUDIENCE: AUD });
    await canary.connect(node.url, rs(canary.userId));
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    canary.close();
    await node?.stop();
    process.stdout.write(`fuzz RS256 (FUZZ_SEED=${SEED}): ${tally.total()} cases in ${((Date.now() - started) / 1000).toFixed(1)} s; ${tally.line()}\nfuzz RS256 codes: ${tally.codes()}\n`);
  });

  /** RS256 tokens: RS/HS confusion, other algorithms and keys, issuer and audience variants, huge claims. */
  function rsaCase(f: Fuzz, sub: string): TokenCase {
    const r = f.rng;
    const extra: [string, unknown][] = [];
    let claimsOk = true;
    const issChoice = r.weighted<[unknown, boolean] | null>([
      [5, () => [ISS, true]],
      [2, () => [r.pick(['https://evil.example', `${ISS}/`, ISS.toUpperCase(), '', ` ${ISS}`, 42, null, [ISS], { iss: ISS }] as unknown[]), false]],
      [1, () => null],
    ]);
    if (issChoice) extra.push(['iss', issChoice[0]]);
    if (!issChoice || !issChoice[1]) claimsOk = false;
    const audChoice = r.weighted<[unknown, boolean] | null>([
      [5, () => [AUD, true]],
      [1, () => [[f.string(10), AUD], true]],
      [2, () => [r.pick(['pushgate', `${AUD} `, AUD.toUpperCase(), '', 42, null, [], ['other'], { aud: AUD }] as unknown[]), false]],
      [1, () => null],
    ]);
    if (audChoice) extra.push(['aud', audChoice[0]]);
    if (!audChoice || !audChoice[1]) claimsOk = false;
    const plan = claims(f, sub, undefined, extra);
    if (r.chance(0.1)) {
      // Huge claims: a 100 KB sub, or 100 000 rooms (the message still fits MAX_PAYLOAD_BYTES).
      const huge = r.chance(0.5);
      plan.entries = plan.entries.filter(([k]) => k !== (huge ? 'sub' : 'rooms'));
      plan.entries.push(huge ? ['sub', 's'.repeat(100_000)] : ['rooms', r.times(100_000, () => 'r')]);
      plan.notes.push(huge ? 'sub of 100 KB' : '100 000 rooms');
    }
    const payload = own(plan.entries);
    const [token, sigOk, keyNote] = r.weighted<[string, boolean, string]>([
      [6, () => [rsaToken(own([['alg', 'RS256'], ['typ', 'JWT'], ...(r.chance(0.2) ? ([['kid', f.string(10)]] as [string, unknown][]) : [])]), payload, privateKey), true, 'RS256']],
      [1, () => [rsaToken({ alg: r.pick(['RS384', 'RS512']), typ: 'JWT' }, payload, privateKey, 'sha384'), false, 'RS384/RS512']],
      [1, () => [rsaToken({ alg: 'RS256', typ: 'JWT' }, payload, other.privateKey), false, 'another RSA key']],
      [1, () => {
        const input = `${b64url({ alg: 'PS256', typ: 'JWT' })}.${b64url(jsonText(payload))}`;
        const sig = createHmac('sha256', 'x').update(input).digest('base64url');
        return [`${input}.${sig}`, false, 'PS256 header'];
      }],
      [1, () => [jwt.sign({ sub, iss: ISS, aud: AUD }, ec.privateKey as KeyObject, { algorithm: 'ES256', expiresIn: 60 }), false, 'ES256 from another key']],
      [2, () => [hmacToken('HS256', { alg: 'HS256', typ: 'JWT' }, payload, r.pick([publicPem, publicPem.trim(), publicDer.toString('base64'), publicPem.replace(/\n/g, '\r\n')])), false, 'HS256 signed with the public key (RS/HS confusion)']],
      [1, () => [`${b64url({ alg: r.pick(['none', 'None']), typ: 'JWT' })}.${b64url(jsonText(payload))}.`, false, 'alg none']],
    ]);
    let expect: TokenOutcome;
    if (!sigOk) expect = 'UNAUTHORIZED';
    else if (!plan.nbfOk || plan.expOutcome === 'invalid') expect = 'UNAUTHORIZED';
    else if (plan.expOutcome === 'expired') expect = 'TOKEN_EXPIRED';
    else expect = claimsOk && plan.claimsOk ? 'connected' : 'UNAUTHORIZED';
    if (token.length > MAX_TOKEN_LENGTH) expect = 'UNAUTHORIZED';
    return corrupt(f, { token, expect, sub: expect === 'connected' ? subOf(plan) : undefined, note: `${keyNote}; iss ${short(issChoice?.[0] ?? '-', 30)}; aud ${short(audChoice?.[0] ?? '-', 30)}; ${plan.notes.join(', ')}` });
  }

  it('handshake and auth:refresh: only UNAUTHORIZED or TOKEN_EXPIRED refusals, the right one each time, the socket kept', async () => {
    const name = 'tokens (RS256, iss, aud)';
    const f = new Fuzz(Rng.derive(SEED, name));
    const r = f.rng;
    const refresher = connectClient(node.url, { token: rs('fz-rs-refresh') });
    await nextEvent(refresher, 'welcome');
    for (let i = 0; i < cases(1.25); i++) {
      const refresh = r.chance(0.3);
      const t = rsaCase(f, refresh ? 'fz-rs-refresh' : `fz-rs-${i}`);
      if (refresh) {
        let ack: unknown;
        try {
          ack = await refresher.timeout(TIMEOUT_MS).emitWithAck('auth:refresh', { token: t.token });
        } catch (err) {
          ack = `no ack: ${(err as Error).message}`;
        }
        const want = t.expect === 'connected' ? (t.sub === 'fz-rs-refresh' ? 'ok' : 'FORBIDDEN') : t.expect;
        const c: EventCase = { event: 'auth:refresh', args: [], withAck: true, expect: [want], note: t.note };
        const { problems, label } = checkAck(c, ack);
        tally.count(name, `refresh ${label}`);
        if (!refresher.connected) problems.push('the socket was dropped');
        if (problems.length) tally.fail(name, i, `refresh with ${t.note}: ${short(t.token, 160)}`, problems.join('; '));
        continue;
      }
      const got = await handshake(node.url, { token: t.token }, {}, false);
      const outcome = got.kind === 'connected' ? 'connected' : got.kind === 'refused' ? got.code : got.kind.toUpperCase();
      tally.count(name, outcome === 'connected' ? 'welcome' : outcome);
      if (outcome !== t.expect) tally.fail(name, i, `${t.note}: ${short(t.token, 160)}`, `${outcome}, expected ${t.expect}`);
    }
    refresher.disconnect();
    expect(await canary.check(node)).toEqual([]);
    expect(tally.failuresOf(name)).toEqual([]);
  }, TARGET_TIMEOUT_MS);

  it('ends healthy: no error logged, the canary still receives a push', async () => {
    expect(errorLines(node)).toEqual([]);
    expect(await canary.check(node)).toEqual([]);
  });
});

// Prototype pollution anywhere above would show here, after every describe ran.
afterAll(() => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.keys(Object.prototype)).toEqual([]);
});
