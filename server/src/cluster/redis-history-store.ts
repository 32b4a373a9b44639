import type { Offset, Stream } from '../contracts/socket-events';
import { formatOffset, historyMetaTtlMs, parseOffset, type HistoryEntry, type HistoryMessage, type HistoryPolicy, type HistoryRead, type HistoryStore } from './history-store';
import type { RedisClient } from './redis';
import { HISTORY_POSITION, HISTORY_READ } from './redis-scripts';

/** How a message is kept in a Redis stream entry: one JSON array, written once per push. */
export function encodeHistoryMessage(m: HistoryMessage): string {
  return JSON.stringify([m.event, m.data ?? null, m.id, m.ts, m.room ?? null]);
}

function decode(epoch: string, entryId: string, json: string): HistoryEntry {
  const [event, data, id, ts, room] = JSON.parse(json) as [string, unknown, string, number, string | null];
  const entry: HistoryEntry = { offset: formatOffset(epoch, Number(entryId.slice(0, entryId.indexOf('-')))), event, data, id, ts };
  if (room !== null) entry.room = room;
  return entry;
}

/** Per-stream history in Redis Streams (key layout in redis-scripts.ts); appends happen in RedisPushStore's admission script. */
export class RedisHistoryStore implements HistoryStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly policy: HistoryPolicy,
  ) {}

  position(stream: Stream): Promise<Offset> {
    return HISTORY_POSITION.run<string>(this.redis, [], [this.prefix, stream, historyMetaTtlMs(this.policy), this.policy.ttlMs]);
  }

  async since(stream: Stream, offset: Offset): Promise<HistoryRead> {
    const asked = parseOffset(offset);
    if (!asked) return { covered: false, entries: [], position: await this.position(stream) };
    const [covered, position, ...rest] = await HISTORY_READ.run<[number, string, ...string[]]>(this.redis, [], [
      this.prefix,
      stream,
      historyMetaTtlMs(this.policy),
      asked.epoch,
      asked.seq,
      this.policy.size,
      this.policy.ttlMs,
    ]);
    const epoch = asked.epoch;
    const entries: HistoryEntry[] = [];
    for (let i = 0; i + 1 < rest.length; i += 2) entries.push(decode(epoch, rest[i]!, rest[i + 1]!));
    return { covered: covered === 1, entries, position };
  }
}
