import type { PushTargets } from './presence-store';
import type { AdmitResult, PushStore } from './push-store';
import type { RedisClient } from './redis';
import { targetArgs } from './redis-presence-store';
import { ADMIT_PUSH } from './redis-scripts';

/** Idempotency and recipients in one script: exactly one Redis round trip per push. */
export class RedisPushStore implements PushStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async admit(id: string, targets: PushTargets, ttlMs: number): Promise<AdmitResult> {
    const [dup, recipients] = await ADMIT_PUSH.run<[number, number]>(this.redis, [], [this.prefix, id, ttlMs, ...targetArgs(targets)]);
    return { duplicate: dup === 1, recipients: Number(recipients) };
  }
}
