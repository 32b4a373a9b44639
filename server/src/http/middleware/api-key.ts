import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ApiKey, Scope } from '../../config/config';
import { AppError } from '../../lib/errors';

const digest = (s: string) => createHash('sha256').update(s).digest();

function presented(authorization: string | undefined, xApiKey: string | undefined): string | undefined {
  if (xApiKey) return xApiKey.trim();
  if (authorization && /^bearer\s+/i.test(authorization)) return authorization.replace(/^bearer\s+/i, '').trim();
  return undefined;
}

/**
 * Finds the key a request presents, in constant time: every configured key is compared (as a
 * SHA-256 digest, so lengths never differ) whether or not an earlier one matched.
 * Sets `req.apiKey` and never refuses: rate limiting comes next, keyed by key or by address.
 */
export function identifyApiKey(keys: readonly ApiKey[]): RequestHandler {
  const table = keys.map((k) => ({ key: k, digest: digest(k.key) }));
  return (req, _res, next) => {
    const value = presented(req.get('authorization'), req.get('x-api-key'));
    if (value && value.length <= 512) {
      const d = digest(value);
      let found: ApiKey | undefined;
      for (const entry of table) if (timingSafeEqual(d, entry.digest) && !found) found = entry.key;
      req.apiKey = found;
    }
    next();
  };
}

export const requireApiKey: RequestHandler = (req, _res, next) => {
  if (!req.apiKey) return next(new AppError('UNAUTHORIZED', 'A valid API key is required (Authorization: Bearer <key> or X-API-Key)'));
  next();
};

/** `admin` implies every scope. */
export function hasScope(key: ApiKey | undefined, scope: Scope): boolean {
  return !!key && (key.scopes.has('admin') || key.scopes.has(scope));
}

export function requireScope(scope: Scope): RequestHandler {
  return (req, _res, next) => {
    if (!hasScope(req.apiKey, scope)) return next(new AppError('FORBIDDEN', `This API key lacks the "${scope}" scope`));
    next();
  };
}
