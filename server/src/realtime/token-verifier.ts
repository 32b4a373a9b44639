import jwt, { type Algorithm, type JwtPayload } from 'jsonwebtoken';
import type { KeyObject } from 'node:crypto';
import type { AppDirectory } from '../config/app-directory';
import { implicitApp, type AppConfig, type Config } from '../config/config';
import { hasLoneSurrogate } from '../contracts/api';
import { AppError } from '../lib/errors';

export interface VerifiedToken {
  /** The app the token belongs to: its `app` claim, or the default app without one. */
  app: AppConfig | null;
  /** The `sub` claim, as the app knows it. */
  userId: string;
  roomPatterns: string[];
  /** Expiry in ms since the epoch, null when the token has no `exp`. */
  expiresAt: number | null;
}

/** Without APPS: the one implicit app, whose names are plain. */
const IMPLICIT = implicitApp();

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

  /**
   * @param apps with APPS listed: a token names its app in the `app` claim (none: the default app)
   *   and is verified with that app's secret (HS256) or with the node-wide keys (JWT_SECRET,
   *   JWT_SECRETS, JWT_PUBLIC_KEY), which are the operator's and may sign for any app. An app's
   *   secret never verifies a token of another app. Without apps, an `app` claim is refused.
   */
  constructor(
    private readonly cfg: Config['jwt'],
    private readonly apps: AppDirectory | null = null,
  ) {
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
    const app = this.apps ? this.appOf(token) : null;
    let lastError: unknown;
    const attempt = (key: KeyObject, algorithms: Algorithm[]): VerifiedToken | null => {
      try {
        return this.claims(jwt.verify(token, key, { algorithms, ...this.options }), app);
      } catch (err) {
        if (err instanceof jwt.TokenExpiredError) throw new AppError('TOKEN_EXPIRED', 'The token has expired');
        if (err instanceof AppError) throw err;
        lastError = err;
        return null;
      }
    };
    if (app?.tokenKey) {
      const verified = attempt(app.tokenKey, ['HS256']);
      if (verified) return verified;
    }
    for (const key of this.keysFor(token, app !== null)) {
      const verified = attempt(key, this.algorithms);
      if (verified) return verified;
    }
    throw new AppError('UNAUTHORIZED', 'The token is invalid', { cause: lastError });
  }

  /**
   * The app a token claims, without checking anything (rate limits are counted before the
   * signature is): the default app for no claim, an unknown app, or no token at all.
   */
  claimedApp(token: unknown): AppConfig {
    if (!this.apps) return IMPLICIT;
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return this.apps.default;
    let claim: unknown;
    try {
      claim = (jwt.decode(token) as JwtPayload | null)?.app;
    } catch {
      return this.apps.default;
    }
    return (typeof claim === 'string' ? this.apps.get(claim) : undefined) ?? this.apps.default;
  }

  /** The app a token claims, read before its signature is checked: it says which keys may check it. */
  private appOf(token: string): AppConfig {
    const claim = (decode(token)?.payload as JwtPayload | undefined)?.app;
    if (claim === undefined) return this.apps!.default;
    const app = typeof claim === 'string' ? this.apps!.get(claim) : undefined;
    if (!app) throw new AppError('UNAUTHORIZED', 'The token names an unknown app');
    if (!app.enabled) throw new AppError('UNAUTHORIZED', `The app ${app.id} is disabled`);
    return app;
  }

  /**
   * A token naming a `kid` is checked against that key only; without one, against every key. A
   * `kid` no node-wide key has is refused, unless an app's secret was tried first (`triedApp`).
   */
  private keysFor(token: string, triedApp: boolean): KeyObject[] {
    if (this.byKid.size === 0) return this.anyKeys;
    const kid = decode(token)?.header.kid;
    if (kid === undefined) return this.anyKeys;
    const key = this.byKid.get(kid);
    if (!key && triedApp) return [];
    if (!key) throw new AppError('UNAUTHORIZED', 'The token is signed with an unknown key');
    return [key];
  }

  private claims(payload: string | JwtPayload, app: AppConfig | null): VerifiedToken {
    // Without APPS a token may not name an app: it would silently land in the only one there is.
    if (!app && typeof payload === 'object' && payload.app !== undefined) throw new AppError('UNAUTHORIZED', 'The token names an app, and this server lists none (APPS)');
    if (typeof payload !== 'object' || typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 200 || /[\s\p{Cc}]/u.test(payload.sub) || hasLoneSurrogate(payload.sub)) {
      throw new AppError('UNAUTHORIZED', 'The token has no valid sub claim');
    }
    const rooms: unknown = payload.rooms;
    if (rooms !== undefined && (!Array.isArray(rooms) || rooms.length > 1000 || !rooms.every((r) => typeof r === 'string' && r.length <= 200))) {
      throw new AppError('UNAUTHORIZED', 'The token rooms claim must be a list of room patterns');
    }
    return {
      app,
      userId: payload.sub,
      roomPatterns: (rooms as string[] | undefined) ?? [],
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
    };
  }
}

/** A token's header and payload, unverified; null when it is no JWT. */
function decode(token: string): { header: jwt.JwtHeader; payload: string | JwtPayload } | null {
  try {
    return jwt.decode(token, { complete: true });
  } catch (err) {
    // jws throws (instead of returning null) when the header parses but the payload is not JSON.
    throw new AppError('UNAUTHORIZED', 'The token is invalid', { cause: err });
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
