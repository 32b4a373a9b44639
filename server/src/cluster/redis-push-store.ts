import { historyMetaTtlMs, type HistoryMessage, type HistoryPolicy } from './history-store';
import type { AdmitResult, PushStore } from './push-store';
import { encodeRoute, streamsOf, type PushRoute } from './push-wire';
import type { RedisClient } from './redis';
import { encodeHistoryMessage } from './redis-history-store';
import { targetArgs } from './redis-presence-store';
import { ADMIT_PUSH, RECORD_ANSWER } from './redis-scripts';

/** Idempotency, recipients, history and the publish in one script: exactly one Redis round trip per push. */
export class RedisPushStore implements PushStore {
  private readonly publish: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly history: HistoryPolicy | null,
    /** Where pushes are published (every node subscribes), and whether as a sharded channel (SPUBLISH). */
    private readonly channel: string,
    sharded: boolean,
  ) {
    this.publish = sharded ? 'SPUBLISH' : 'PUBLISH';
  }

  async admit(id: string, route: PushRoute, ttlMs: number, message: HistoryMessage, keep: boolean): Promise<AdmitResult> {
    const policy = this.history;
    const streams = keep && policy ? streamsOf(route) : [];
    const args: (string | number)[] = [
      this.prefix,
      id,
      ttlMs,
      policy?.ttlMs ?? 0,
      policy ? historyMetaTtlMs(policy) : 0,
      policy?.size ?? 0,
      encodeHistoryMessage(message),
      this.publish,
      this.channel,
      encodeRoute(route),
      streams.length,
      ...streams,
      ...targetArgs(route),
    ];
    const [dup, answer, receivers, ...offsets] = await ADMIT_PUSH.run<[number, number | string, number, ...string[]]>(this.redis, [], args);
    if (dup !== 1) return { duplicate: false, recipients: Number(answer), offsets, receivers: Number(receivers) };
    const [recipients, acked] = String(answer).split(':');
    const result: AdmitResult = { duplicate: true, recipients: Number(recipients), offsets: [], receivers: 0 };
    if (acked !== undefined) result.acked = Number(acked);
    return result;
  }

  async recordAcked(id: string, recipients: number, acked: number): Promise<void> {
    await RECORD_ANSWER.run(this.redis, [], [this.prefix, id, `${recipients}:${acked}`]);
  }
}
