import { historyMetaTtlMs, type HistoryPolicy } from './history-store';
import type { PushTargets } from './presence-store';
import type { AdmitResult, HistoryAppend, PushStore } from './push-store';
import type { RedisClient } from './redis';
import { encodeHistoryMessage } from './redis-history-store';
import { targetArgs } from './redis-presence-store';
import { ADMIT_PUSH, RECORD_ANSWER } from './redis-scripts';

/** Idempotency, recipients and history in one script: exactly one Redis round trip per push. */
export class RedisPushStore implements PushStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly history: HistoryPolicy | null = null,
  ) {}

  async admit(id: string, targets: PushTargets, ttlMs: number, history?: HistoryAppend): Promise<AdmitResult> {
    const keep = history && this.history ? history : null;
    const policy = this.history;
    const args: (string | number)[] = [
      this.prefix,
      id,
      ttlMs,
      policy?.ttlMs ?? 0,
      policy ? historyMetaTtlMs(policy) : 0,
      policy?.size ?? 0,
      keep ? encodeHistoryMessage(keep.message) : '',
      keep ? keep.streams.length : 0,
      ...(keep ? keep.streams : []),
      ...targetArgs(targets),
    ];
    const [dup, answer, ...offsets] = await ADMIT_PUSH.run<[number, number | string, ...string[]]>(this.redis, [], args);
    if (dup !== 1) return { duplicate: false, recipients: Number(answer), offsets };
    const [recipients, acked] = String(answer).split(':');
    const result: AdmitResult = { duplicate: true, recipients: Number(recipients), offsets: [] };
    if (acked !== undefined) result.acked = Number(acked);
    return result;
  }

  async recordAcked(id: string, recipients: number, acked: number): Promise<void> {
    await RECORD_ANSWER.run(this.redis, [], [this.prefix, id, `${recipients}:${acked}`]);
  }
}
