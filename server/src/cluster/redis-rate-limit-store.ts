import type { RateLimitStore } from './rate-limit-store';
import { send, type RedisClient } from './redis';
import type { RedisKeys } from './redis-keys';
import { RATE_DECREMENT, RATE_HIT } from './redis-scripts';

/** Fixed windows shared by every node: INCR plus expiry in one script, so a count never lives forever. */
export class RedisRateLimitStore implements RateLimitStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  async hit(key: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
    const [count, msLeft] = await RATE_HIT.run<[number, number]>(this.redis, [this.key(key)], [windowMs]);
    return { count: Number(count), resetAt: Date.now() + Number(msLeft) };
  }

  async decrement(key: string): Promise<void> {
    await RATE_DECREMENT.run(this.redis, [this.key(key)], []);
  }

  async reset(key: string): Promise<void> {
    await send(this.redis, this.key(key), ['DEL', this.key(key)]);
  }

  private key(key: string): string {
    return this.keys.rateLimit(key);
  }
}
