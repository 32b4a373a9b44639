import type { IncomingHttpHeaders } from 'node:http';
import proxyaddr from 'proxy-addr';
import type { RateLimitStore } from '../cluster/rate-limit-store';
import type { AppDirectory } from '../config/app-directory';
import type { Config } from '../config/config';
import type { HandshakeErrorCode } from '../contracts/error-codes';
import type { Clock } from '../lib/clock';
import { AppError, isAppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import type { TokenVerifier } from './token-verifier';
import type { PgSocket } from './types';

export interface HandshakeDeps {
  verifier: TokenVerifier;
  apps: AppDirectory;
  rateLimits: RateLimitStore;
  connectionsPerMinute: number;
  /** From compileTrust(TRUST_PROXY). */
  trustProxy: TrustFn;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  /** false while draining: new connections are refused so clients go to another node. */
  accepting: () => boolean;
}

/** The contract's refusal shape: `err.message` is the code, and so is `err.data.code`. */
function refusal(code: HandshakeErrorCode, message: string): Error {
  return Object.assign(new Error(code), { data: { code, message } });
}

function bearer(headers: IncomingHttpHeaders): string | undefined {
  const h = headers.authorization;
  return typeof h === 'string' && /^bearer\s+/i.test(h) ? h.replace(/^bearer\s+/i, '').trim() : undefined;
}

/**
 * Which hops of X-Forwarded-For to believe, with Express's `trust proxy` semantics (true, a hop
 * count, or addresses/subnets such as `loopback, 10.0.0.0/8`), so HTTP and Socket.IO rate limits
 * see the same client address. Taking the first X-Forwarded-For entry instead would let any
 * client pick its own address and walk around RATE_LIMIT_CONNECTIONS.
 */
export type TrustFn = (addr: string, hop: number) => boolean;

export function compileTrust(trust: Config['trustProxy']): TrustFn {
  if (trust === true) return () => true;
  if (trust === false) return () => false;
  if (typeof trust === 'number') return (_addr, hop) => hop < trust;
  return proxyaddr.compile(trust.split(',').map((s) => s.trim()).filter(Boolean));
}

export function clientAddress(socket: PgSocket, trust: TrustFn): string {
  const req = socket.request;
  return req.socket?.remoteAddress ? proxyaddr(req, trust) : socket.handshake.address;
}

/** Socket.IO middleware: connection rate limit per address (cluster-wide), then the JWT. */
export function handshakeAuth(deps: HandshakeDeps) {
  return async (socket: PgSocket, next: (err?: Error) => void): Promise<void> => {
    if (!deps.accepting()) {
      deps.metrics.markConnection('rate_limited');
      return next(refusal('RATE_LIMITED', 'This node is shutting down; reconnect'));
    }
    const { auth, query, headers } = socket.handshake;
    const token = (auth && typeof auth === 'object' ? (auth as Record<string, unknown>).token : undefined) ?? bearer(headers) ?? query.token;
    // Each app has its own budget per address. Counted before the signature is checked (so bad
    // tokens are throttled too), by the app the token claims: a forged claim only spends the
    // budget of that app from that address.
    const claimed = deps.verifier.claimedApp(token);
    if (deps.connectionsPerMinute > 0 && !(await within(deps, claimed.scope.name(`conn:${clientAddress(socket, deps.trustProxy)}`), deps.connectionsPerMinute))) {
      return next(refusal('RATE_LIMITED', 'Too many connections from this address; retry later'));
    }
    try {
      const verified = deps.verifier.verify(token);
      const app = verified.app ?? deps.apps.default;
      if (app.limits.connectionsPerMinute > 0 && !(await within(deps, `app-conn:${app.id}`, app.limits.connectionsPerMinute))) {
        return next(refusal('RATE_LIMITED', `Too many new connections to app ${app.id}; retry later`));
      }
      socket.data = {
        app: app.scope,
        userId: app.scope.name(verified.userId),
        roomPatterns: verified.roomPatterns,
        tokenExp: verified.expiresAt,
        connectedAt: deps.clock.now(),
      };
      deps.metrics.markConnection('accepted', app.id);
      next();
    } catch (err) {
      const code = isAppError(err) && err.code === 'TOKEN_EXPIRED' ? 'TOKEN_EXPIRED' : 'UNAUTHORIZED';
      deps.metrics.markConnection(code === 'TOKEN_EXPIRED' ? 'expired' : 'unauthorized');
      next(refusal(code, err instanceof AppError ? err.message : 'The token is invalid'));
    }
  };
}

/** Counts a new connection against a cluster-wide budget; false (counted as refused) when it is spent. */
async function within(deps: HandshakeDeps, key: string, perMinute: number): Promise<boolean> {
  try {
    const { count } = await deps.rateLimits.hit(key, 60_000);
    if (count <= perMinute) return true;
    deps.metrics.markConnection('rate_limited');
    deps.metrics.markRateLimited('connection');
    return false;
  } catch (err) {
    // The shared counter is unreachable (Redis down): let the connection through rather than lock everyone out.
    deps.logger.warn('connection rate limit unavailable', { error: (err as Error).message });
    return true;
  }
}
