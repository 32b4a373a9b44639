import type { RateLimitStore } from './rate-limit-store';
import type { RedisClient } from './redis';
import { RATE_DECREMENT, RATE_HIT } from './redis-scripts';

/** Fixed windows shared by every node: INCR plus expiry in one script, so a count never lives forever. */
export class RedisRateLimitStore implements RateLimitStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async hit(key: string, windowMs: number): Promise<{ count: number; resetAt: number }> {
    const [count, msLeft] = await RATE_HIT.run<[number, number]>(this.redis, [this.key(key)], [windowMs]);
    return { count: Number(count), resetAt: Date.now() + Number(msLeft) };
  }

  async decrement(key: string): Promise<void> {
    await RATE_DECREMENT.run(this.redis, [this.key(key)], []);
  }

  async reset(key: string): Promise<void> {
    await this.redis.del(this.key(key));
  }

  private key(key: string): string {
    return `${this.prefix}:rl:${key}`;
  }
}
