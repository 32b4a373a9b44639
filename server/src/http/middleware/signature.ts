import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { RateLimitStore } from '../../cluster/rate-limit-store';
import type { Clock } from '../../lib/clock';
import { AppError } from '../../lib/errors';

/** How far X-Timestamp may be from now, either way. */
const WINDOW_SECONDS = 300;

/**
 * Request signing: `X-Signature: sha256=<hex HMAC(key, timestamp + "." + rawBody)>`. Checked when the
 * key must sign, and whenever a signature is present (a wrong one is never ignored). A signature
 * is accepted once: the same one again inside the window is a replay (remembered cluster-wide).
 */
export function verifySignature(clock: Clock, seen: RateLimitStore): RequestHandler {
  return async (req, _res, next) => {
    const key = req.apiKey;
    const signature = req.get('x-signature');
    // A dashboard session was opened with the key itself; its requests carry the cookie, not a signature.
    if (!key || req.viaSession || (!key.mustSign && signature === undefined)) return next();
    const timestamp = req.get('x-timestamp');
    if (!signature || !timestamp) return next(new AppError('UNAUTHORIZED', 'This API key must sign requests (X-Timestamp and X-Signature)'));
    if (!/^\d{1,12}$/.test(timestamp) || Math.abs(clock.now() / 1000 - Number(timestamp)) > WINDOW_SECONDS) {
      return next(new AppError('UNAUTHORIZED', 'X-Timestamp is missing, malformed or outside the 5-minute window'));
    }
    const body = req.rawBody ?? Buffer.alloc(0);
    const expected = Buffer.from(`sha256=${createHmac('sha256', key.key).update(`${timestamp}.`).update(body).digest('hex')}`);
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return next(new AppError('UNAUTHORIZED', 'X-Signature does not match the request'));
    }
    try {
      const { count } = await seen.hit(`sig:${signature.slice(7, 71)}`, WINDOW_SECONDS * 2 * 1000);
      if (count > 1) return next(new AppError('UNAUTHORIZED', 'This signature was already used (replay)'));
    } catch (err) {
      return next(new AppError('SERVICE_UNAVAILABLE', 'Cannot check the signature for replay right now; retry', { cause: err, retryAfter: 1 }));
    }
    next();
  };
}
