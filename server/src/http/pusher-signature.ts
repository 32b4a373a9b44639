import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** An application as Pusher's HTTP API names it: its id in the path, its key in `auth_key`, its secret signs. */
export interface PusherCredentials {
  id: string;
  key: string;
  secret: string;
}

/** What a signed request carries, as it arrived: the raw query string (without `?`) and body. */
export interface SignedRequest {
  method: string;
  /** The path as signed: `/apps/<id>/events`, without the query. */
  path: string;
  rawQuery: string;
  body: Buffer | string | undefined;
}

export type SignatureVerdict = { ok: true; app: PusherCredentials } | { ok: false; status: 401; message: string };

/** How far `auth_timestamp` may be from the server's clock, either way, as Pusher allows. @default 600 s */
export const PUSHER_TIMESTAMP_WINDOW_S = 600;

const RESERVED = ['auth_key', 'auth_timestamp', 'auth_version', 'auth_signature'] as const;

/**
 * Checks a request signed the way Pusher's HTTP API is signed, so that its server libraries
 * (pusher-http-node, -php, -python, …) work unchanged:
 *   - `auth_key` names the app, `auth_version` is 1.0, `auth_timestamp` (seconds) is within the
 *     window of this server's clock;
 *   - a request with a body carries `body_md5`, the hex MD5 of the body as sent;
 *   - `auth_signature` is the hex HMAC-SHA256, with the app's secret, of
 *     `METHOD\npath\nquery` where query is every parameter but `auth_signature`, keys lowercased,
 *     sorted by key, joined as `key=value` with `&`.
 * The libraries sign values as they put them in the URL (pusher-http-node does not escape them);
 * others may sign the decoded value and escape it in the URL. Both forms are accepted; either
 * is a signature made with the secret over the same parameters.
 */
export function verifyPusherSignature(req: SignedRequest, appByKey: (key: string) => PusherCredentials | undefined, nowMs: number, windowS = PUSHER_TIMESTAMP_WINDOW_S): SignatureVerdict {
  const params = parseQuery(req.rawQuery);
  const one = (name: string) => {
    const found = params.filter((p) => p.key === name);
    return found.length === 1 ? found[0]!.decoded : undefined;
  };
  for (const name of RESERVED) if (one(name) === undefined) return refuse(`Missing or repeated ${name}`);
  const app = appByKey(one('auth_key')!);
  if (!app) return refuse('Unknown auth_key');
  if (one('auth_version') !== '1.0') return refuse('Unsupported auth_version (1.0 expected)');
  const ts = Number(one('auth_timestamp'));
  const skewS = Math.abs(nowMs / 1000 - ts);
  if (!Number.isFinite(ts) || skewS > windowS) return refuse(`Timestamp expired: auth_timestamp must be within ${windowS} s of the server's time (${Math.floor(nowMs / 1000)})`);
  const body = req.body === undefined ? '' : req.body;
  if (body.length > 0) {
    const md5 = one('body_md5');
    if (md5 === undefined || !sameHex(md5, createHash('md5').update(body).digest('hex'))) return refuse('body_md5 does not match the body');
  }
  const signature = one('auth_signature')!;
  const signed = params.filter((p) => p.key !== 'auth_signature');
  const expect = (form: 'raw' | 'decoded') => {
    const query = signed
      .map((p) => [p.key, form === 'raw' ? p.raw : p.decoded] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    return createHmac('sha256', app.secret).update(`${req.method.toUpperCase()}\n${req.path}\n${query}`).digest('hex');
  };
  if (sameHex(signature, expect('raw')) || sameHex(signature, expect('decoded'))) return { ok: true, app };
  return refuse('Invalid signature: expected HMAC-SHA256 of the method, path and sorted query with the app secret');
}

interface Param {
  /** Lowercased, decoded. */
  key: string;
  raw: string;
  decoded: string;
}

function parseQuery(raw: string): Param[] {
  const out: Param[] = [];
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const at = part.indexOf('=');
    const k = at < 0 ? part : part.slice(0, at);
    const v = at < 0 ? '' : part.slice(at + 1);
    out.push({ key: decode(k).toLowerCase(), raw: v, decoded: decode(v) });
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Constant-time comparison of two hex digests (lowercase or not); false for anything else. */
function sameHex(given: string, expected: string): boolean {
  if (!/^[0-9a-fA-F]+$/.test(given) || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(given.toLowerCase(), 'latin1'), Buffer.from(expected, 'latin1'));
}

const refuse = (message: string): SignatureVerdict => ({ ok: false, status: 401, message });
