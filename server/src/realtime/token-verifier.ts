import jwt, { type Algorithm, type JwtPayload } from 'jsonwebtoken';
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config/config';
import { hasLoneSurrogate } from '../contracts/api';
import { AppError } from '../lib/errors';

export interface VerifiedToken {
  userId: string;
  roomPatterns: string[];
  /** Expiry in ms since the epoch, null when the token has no `exp`. */
  expiresAt: number | null;
}

/** Longest token we try to verify; anything bigger is refused before any parsing. */
const MAX_TOKEN_LENGTH = 8192;

/**
 * Verifies client JWTs with keys prepared once at start-up (a KeyObject, never a string per
 * handshake: that halves the connection rate). `alg` is pinned per key kind, so `none` and
 * HS/RS confusion are refused by jsonwebtoken itself.
 */
export class TokenVerifier {
  private readonly byKid = new Map<string, KeyObject>();
  private readonly anyKeys: KeyObject[];
  private readonly algorithms: Algorithm[];
  private readonly options: { issuer?: string; audience?: string };

  constructor(private readonly cfg: Config['jwt']) {
    if (cfg.kind === 'hmac') {
      for (const k of cfg.keys) if (k.kid) this.byKid.set(k.kid, k.key);
      this.anyKeys = cfg.keys.map((k) => k.key);
      this.algorithms = ['HS256'];
    } else {
      this.anyKeys = [cfg.key];
      this.algorithms = cfg.algorithms;
    }
    this.options = {};
    if (cfg.issuer) this.options.issuer = cfg.issuer;
    if (cfg.audience) this.options.audience = cfg.audience;
  }

  verify(token: unknown): VerifiedToken {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw new AppError('UNAUTHORIZED', 'A valid token is required');
    }
    const keys = this.keysFor(token);
    let lastError: unknown;
    for (const key of keys) {
      try {
        const payload = jwt.verify(token, key, { algorithms: this.algorithms, ...this.options });
        return this.claims(payload);
      } catch (err) {
        if (err instanceof jwt.TokenExpiredError) throw new AppError('TOKEN_EXPIRED', 'The token has expired');
        if (err instanceof AppError) throw err;
        lastError = err;
      }
    }
    throw new AppError('UNAUTHORIZED', 'The token is invalid', { cause: lastError });
  }

  /** A token naming a `kid` is checked against that key only; without one, against every key. */
  private keysFor(token: string): KeyObject[] {
    if (this.byKid.size === 0) return this.anyKeys;
    let decoded: ReturnType<typeof jwt.decode>;
    try {
      decoded = jwt.decode(token, { complete: true });
    } catch (err) {
      // jws throws (instead of returning null) when the header parses but the payload is not JSON.
      throw new AppError('UNAUTHORIZED', 'The token is invalid', { cause: err });
    }
    const kid = decoded && typeof decoded === 'object' ? decoded.header.kid : undefined;
    if (kid === undefined) return this.anyKeys;
    const key = this.byKid.get(kid);
    if (!key) throw new AppError('UNAUTHORIZED', 'The token is signed with an unknown key');
    return [key];
  }

  private claims(payload: string | JwtPayload): VerifiedToken {
    if (typeof payload !== 'object' || typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 200 || /[\s\p{Cc}]/u.test(payload.sub) || hasLoneSurrogate(payload.sub)) {
      throw new AppError('UNAUTHORIZED', 'The token has no valid sub claim');
    }
    const rooms: unknown = payload.rooms;
    if (rooms !== undefined && (!Array.isArray(rooms) || rooms.length > 1000 || !rooms.every((r) => typeof r === 'string' && r.length <= 200))) {
      throw new AppError('UNAUTHORIZED', 'The token rooms claim must be a list of room patterns');
    }
    return {
      userId: payload.sub,
      roomPatterns: (rooms as string[] | undefined) ?? [],
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
    };
  }
}

/**
 * Signs a token with the first configured key (tools, the demo token, tests). Only possible with a
 * shared secret: with JWT_PUBLIC_KEY the private key lives with whoever issues tokens.
 */
export function signToken(cfg: Config['jwt'], claims: { sub: string; rooms?: string[] } & Record<string, unknown>, expiresInSeconds = 3600): string {
  if (cfg.kind !== 'hmac') throw new Error('signToken needs JWT_SECRET or JWT_SECRETS (tokens for JWT_PUBLIC_KEY are signed by their issuer)');
  const first = cfg.keys[0]!;
  const options: jwt.SignOptions = { algorithm: 'HS256', expiresIn: expiresInSeconds };
  if (first.kid) options.keyid = first.kid;
  if (cfg.issuer) options.issuer = cfg.issuer;
  if (cfg.audience) options.audience = cfg.audience;
  return jwt.sign(claims, first.key, options);
}

/** `prefix:*` matches by prefix; anything else must match exactly. */
export function roomAllowed(patterns: readonly string[], room: string): boolean {
  for (const p of patterns) {
    if (p === '*' || p === room) return true;
    if (p.endsWith('*') && room.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}
