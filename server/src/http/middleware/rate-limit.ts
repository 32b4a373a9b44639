import type { Request, RequestHandler, Response } from 'express';
import { rateLimit, type Store, type IncrementResponse, type Options } from 'express-rate-limit';
import type { RateLimitStore } from '../../cluster/rate-limit-store';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';

/** express-rate-limit's Store on top of pushgate's own counters (memory or Redis, shared by the cluster). */
class SharedStore implements Store {
  private windowMs = 60_000;
  private limit = Infinity;
  readonly prefix = 'http:';
  /**
   * Keys this node saw over their limit, until their window ends. A counter only grows within its
   * window, so such a key is refused without asking Redis again: a flood's 429s then cost no round
   * trip, and the other nodes still refuse it, the shared count being past the limit already.
   */
  private readonly over = new Map<string, { resetAt: number; hits: number }>();

  constructor(private readonly counters: RateLimitStore) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
    if (typeof options.limit === 'number') this.limit = options.limit;
  }

  async increment(key: string): Promise<IncrementResponse> {
    const now = Date.now();
    const known = this.over.get(key);
    if (known && known.resetAt > now) {
      known.hits += 1;
      return { totalHits: known.hits, resetTime: new Date(known.resetAt) };
    }
    if (known) this.over.delete(key);
    const { count, resetAt } = await this.counters.hit(this.prefix + key, this.windowMs);
    if (count > this.limit) {
      // Bounded by the keys over their limit within one window; the expired go when the map grows.
      if (this.over.size >= 10_000) for (const [k, v] of this.over) if (v.resetAt <= now) this.over.delete(k);
      this.over.set(key, { resetAt, hits: count });
    }
    return { totalHits: count, resetTime: new Date(resetAt) };
  }

  async decrement(key: string): Promise<void> {
    await this.counters.decrement(this.prefix + key);
  }

  async resetKey(key: string): Promise<void> {
    this.over.delete(key);
    await this.counters.reset(this.prefix + key);
  }
}

/**
 * How long a 429 is held before it is sent. A client that waits for its answers before sending
 * again (every HTTP client does, per connection) is slowed to a few requests per second per
 * connection instead of keeping the node busy refusing it; a client that honours Retry-After never
 * notices. Each held answer costs one timer.
 */
export const REFUSAL_DELAY_MS = 250;

/**
 * RATE_LIMIT_HTTP requests per minute per API key, or per client address for requests without a
 * valid key (so guessing keys is throttled too). Over it: 429 RATE_LIMIT_EXCEEDED with Retry-After.
 * If the shared counter is unreachable the request passes: Redis being down must not stop pushes
 * that can still be answered honestly.
 */
export function httpRateLimit(opts: {
  perMinute: number;
  counters: RateLimitStore;
  logger: Logger;
  onLimited?: () => void;
  /** Whose budget a request spends. @default its API key (with the app it acts on), or its address without a key */
  key?: (req: Request, res: Response) => string;
}): RequestHandler {
  if (opts.perMinute === 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: opts.perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    passOnStoreError: true,
    store: new SharedStore(opts.counters),
    // A key acting for several apps has a budget in each: one tenant's traffic never spends another's.
    keyGenerator: (req: Request, res: Response) => opts.key?.(req, res) ?? (req.apiKey ? (req.pgApp?.scope.name(`key:${req.apiKey.name}`) ?? `key:${req.apiKey.name}`) : `ip:${req.ip ?? 'unknown'}`),
    validate: { keyGeneratorIpFallback: false },
    handler: (_req, res, next, options) => {
      opts.onLimited?.();
      const retryAfter = Math.max(1, Math.ceil(Number(res.getHeader('Retry-After') ?? options.windowMs / 1000)));
      const refusal = new AppError('RATE_LIMIT_EXCEEDED', `More than ${opts.perMinute} requests per minute`, { retryAfter });
      setTimeout(() => next(refusal), REFUSAL_DELAY_MS);
    },
  });
}
