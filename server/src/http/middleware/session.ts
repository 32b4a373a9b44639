import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { ApiKey } from '../../config/config';
import type { Clock } from '../../lib/clock';

export const SESSION_COOKIE = 'pushgate_session';
/** @default 8 hours */
export const SESSION_TTL_MS = 8 * 3600 * 1000;

/**
 * Dashboard sessions are stateless and valid on every node: `v1.<keyName>.<expiresAt>.<mac>`, the
 * MAC keyed with the admin API key itself. Every node knows API_KEYS, so no shared session store
 * is needed, and removing or rotating the key ends its sessions.
 */
function mac(key: ApiKey, expiresAt: number): string {
  return createHmac('sha256', key.key).update(`pushgate-session|${key.name}|${expiresAt}`).digest('hex');
}

export function issueSession(res: Response, key: ApiKey, clock: Clock, secure: boolean): number {
  const expiresAt = clock.now() + SESSION_TTL_MS;
  res.cookie(SESSION_COOKIE, `v1.${encodeURIComponent(key.name)}.${expiresAt}.${mac(key, expiresAt)}`, {
    httpOnly: true,
    sameSite: 'strict',
    secure,
    path: '/',
    maxAge: SESSION_TTL_MS,
  });
  return expiresAt;
}

export function clearSession(res: Response, secure: boolean): void {
  res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure, path: '/' });
}

function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The admin key a valid session cookie stands for, and when the session ends. */
export function sessionKey(req: Request, keys: readonly ApiKey[], clock: Clock): { key: ApiKey; expiresAt: number } | null {
  const raw = readCookie(req, SESSION_COOKIE);
  const m = raw ? /^v1\.([^.]{1,200})\.(\d{1,16})\.([0-9a-f]{64})$/.exec(raw) : null;
  if (!m) return null;
  let name: string;
  try {
    name = decodeURIComponent(m[1]!);
  } catch {
    return null; // broken percent-encoding: a forged cookie, not a session
  }
  const expiresAt = Number(m[2]);
  if (expiresAt <= clock.now()) return null;
  const key = keys.find((k) => k.name === name && k.scopes.has('admin'));
  if (!key) return null;
  const expected = Buffer.from(mac(key, expiresAt));
  const given = Buffer.from(m[3]!);
  return timingSafeEqual(expected, given) ? { key, expiresAt } : null;
}

/**
 * When a request carries no API key, a valid dashboard session stands in for the admin key it was
 * opened with. SameSite=Strict keeps other sites from riding on the cookie.
 */
export function sessionAsApiKey(keys: readonly ApiKey[], clock: Clock): RequestHandler {
  return (req, _res, next) => {
    if (!req.apiKey && !req.get('authorization') && !req.get('x-api-key')) {
      const s = sessionKey(req, keys, clock);
      if (s) {
        req.apiKey = s.key;
        req.viaSession = true;
      }
    }
    next();
  };
}
