import type { Offset, Stream } from '../contracts/socket-events';
import { formatOffset, historyMetaTtlMs, parseOffset, type HistoryEntry, type HistoryMessage, type HistoryPolicy, type HistoryRead, type HistoryStore } from './history-store';
import type { RedisClient, WriterCheck } from './redis';
import type { RedisKeys } from './redis-keys';
import { HISTORY_POSITION, HISTORY_READ } from './redis-scripts';

/** How a message is kept in a Redis stream entry: one JSON array, written once per push. */
/** `[event, data, id, ts, room, except?, streams?]`: readers of the first five (push-wire.ts) ignore the rest. */
export function encodeHistoryMessage(m: HistoryMessage): string {
  const head = [m.event, m.data ?? null, m.id, m.ts, m.room ?? null];
  return JSON.stringify(m.except || m.streams ? [...head, m.except ?? null, m.streams ?? null] : head);
}

function decode(epoch: string, entryId: string, json: string): HistoryEntry {
  const [event, data, id, ts, room, except, streams] = JSON.parse(json) as [string, unknown, string, number, string | null, string[] | null | undefined, string[] | null | undefined];
  const entry: HistoryEntry = { offset: formatOffset(epoch, Number(entryId.slice(0, entryId.indexOf('-')))), event, data, id, ts };
  if (room !== null) entry.room = room;
  if (except) entry.except = except;
  if (streams) entry.streams = streams;
  return entry;
}

/**
 * At most this many bytes of encoded messages per read, whatever its limit (the first message
 * always comes): a read copies its messages into the node's memory and holds Redis for the script,
 * and a page of 100 messages of up to MAX_PAYLOAD_BYTES each would be 100 MiB. @default 1 MiB
 */
export const HISTORY_PAGE_BYTES = 1024 * 1024;

/** Per-stream history in Redis Streams (key layout in redis-keys.ts); appends happen in RedisPushStore's admission script. */
export class RedisHistoryStore implements HistoryStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly policy: HistoryPolicy,
    /** Where a replica can take over, a stream written by another primary starts a new epoch (redis-scripts.ts). */
    private readonly writer: WriterCheck,
  ) {}

  position(stream: Stream): Promise<Offset> {
    return HISTORY_POSITION.run<string>(this.redis, [this.keys.meta(stream), this.keys.history(stream)], [historyMetaTtlMs(this.policy), this.policy.ttlMs, this.writer]);
  }

  async since(stream: Stream, offset: Offset, limit?: number): Promise<HistoryRead> {
    const asked = parseOffset(offset);
    if (!asked) return { covered: false, entries: [], more: false, position: await this.position(stream) };
    // Without a limit the caller asked for everything kept, so the page may not end early.
    const [covered, position, more, ...rest] = await HISTORY_READ.run<[number, string, number, ...string[]]>(this.redis, [this.keys.meta(stream), this.keys.history(stream)], [
      historyMetaTtlMs(this.policy),
      asked.epoch,
      asked.seq,
      Math.max(1, Math.min(limit ?? this.policy.size, this.policy.size)),
      this.policy.ttlMs,
      limit === undefined ? Number.MAX_SAFE_INTEGER : HISTORY_PAGE_BYTES,
      this.writer,
    ]);
    const epoch = asked.epoch;
    const entries: HistoryEntry[] = [];
    for (let i = 0; i + 1 < rest.length; i += 2) entries.push(decode(epoch, rest[i]!, rest[i + 1]!));
    return { covered: covered === 1, entries, more: more === 1, position };
  }
}
