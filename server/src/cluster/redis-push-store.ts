import type { Offset, SocketId, Stream } from '../contracts/socket-events';
import { historyMetaTtlMs, type HistoryMessage, type HistoryPolicy } from './history-store';
import type { AdmitResult, PushStore } from './push-store';
import { encodeRoute, streamsOf, type PushRoute } from './push-wire';
import { send, writerCheck, type RedisClient, type RedisTopology } from './redis';
import { encodeHistoryMessage } from './redis-history-store';
import type { RedisKeys } from './redis-keys';
import type { RedisPresenceStore } from './redis-presence-store';
import { PUSH_PART } from './redis-scripts';

/** What one stream's part answered: see PUSH_PART. */
type PartReply = [0, number, number, string] | [1, string] | [2, string];

/**
 * A push is admitted in parts, one per stream it is addressed to, each in its stream's hash slot
 * (PUSH_PART: recipients, history and the publish on the stream's channel in one atomic step on
 * the stream's shard), plus one publish per node for socket-id targets. The answer, found by the
 * message id alone, lives in the id's own slot.
 *
 * On one Redis server every key is on the same server, so the first part also reads the answer, and a
 * push to one stream (the common one, to one user or one room) also writes it: one script, one
 * round trip, atomic as a whole. On a Redis Cluster, and for any push to several streams:
 *
 *   1. the id's record is read (a repeat answers with it) and marked as begun;
 *   2. the parts run at once, on their shards; each leaves a marker with its offset, so a retry
 *      after a partial failure does only the parts that are missing and publishes nothing twice;
 *   3. the distinct recipients are counted and the answer is written.
 *
 * Any part failing fails the push (503, retry with the same id); the parts already done stay done.
 * Within a stream, offsets and delivery follow the order the stream's shard ran its parts in.
 * docs/scaling.md has the whole account.
 */
export class RedisPushStore implements PushStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly history: HistoryPolicy | null,
    private readonly presence: RedisPresenceStore,
    private readonly topology: RedisTopology,
  ) {}

  async admit(id: string, route: PushRoute, ttlMs: number, message: HistoryMessage, keep: boolean): Promise<AdmitResult> {
    const streams = streamsOf(route);
    const answer = this.keys.message(id);
    // One stream and no socket ids: its part counts the recipients as it runs.
    const single = streams.length === 1 && route.socketIds.length === 0;
    // One Redis server (alone or under Sentinel): the first part may read (and, alone, write) the answer in the same script.
    const together = this.topology.kind !== 'cluster' && streams.length > 0;
    const only = together && single;
    const w: Wire = { id, ttlMs, payload: encodeHistoryMessage(message), routeJson: encodeRoute(route), keep: keep && this.history !== null, only, route };
    const parts: PartReply[] = [];
    if (together) {
      const first = await this.part(w, streams, 0, answer);
      if (first[0] === 1) return duplicate(first[1]);
      if (only) return { duplicate: false, recipients: Number(first[1]), offsets: first[3] ? [first[3]] : [], receivers: Number(first[2]) };
      parts.push(first);
    } else {
      // Read the answer, and mark the push begun ('') when there is none, in one command.
      const prior = await send<string | null>(this.redis, answer, ['SET', answer, '', 'NX', 'PX', ttlMs, 'GET']);
      if (prior) return duplicate(prior);
    }
    const [rest, sockets, counted] = await Promise.all([
      Promise.all(streams.slice(parts.length).map((_, i) => this.part(w, streams, parts.length + i, null))),
      route.socketIds.length > 0 ? this.toSockets(w, streams.length) : Promise.resolve(0),
      single ? Promise.resolve(null) : this.presence.countRecipients(route),
    ]);
    parts.push(...rest);
    const recipients = counted ?? (parts[0]![0] === 0 ? Number(parts[0]![1]) : await this.presence.countRecipients(route));
    await send(this.redis, answer, ['SET', answer, recipients, 'PX', ttlMs]);
    const offsets: Offset[] = [];
    let receivers = sockets;
    for (const p of parts) {
      if (p[0] === 0) receivers += Number(p[2]);
      const offset = p[0] === 0 ? p[3] : p[1];
      if (offset) offsets.push(offset);
    }
    return { duplicate: false, recipients, offsets: offsets.length === streams.length ? offsets : [], receivers };
  }

  /** Updates a remembered answer with the receipts, keeping its TTL. */
  async recordAcked(id: string, recipients: number, acked: number): Promise<void> {
    const answer = this.keys.message(id);
    await send(this.redis, answer, ['SET', answer, `${recipients}:${acked}`, 'XX', 'KEEPTTL']);
  }

  /** Runs one stream's part; `answer` (one Redis only) lets it find a repeat, and write the answer of an only part. */
  private async part(w: Wire, streams: Stream[], i: number, answer: string | null): Promise<PartReply> {
    const k = this.keys;
    const stream = streams[i]!;
    const marker = k.part(k.streamOwner(stream), w.id);
    const policy = this.history;
    // Unused without `answer`; named all the same, in the part's slot, as a script's keys must be.
    return PUSH_PART.run<PartReply>(this.redis, [marker, answer ?? marker, k.members(stream), k.meta(stream), k.history(stream)], [
      writerCheck(this.topology),
      answer ? 1 : 0,
      w.only ? 1 : 0,
      w.keep ? 1 : 0,
      w.ttlMs,
      policy?.ttlMs ?? 0,
      policy ? historyMetaTtlMs(policy) : 0,
      policy?.size ?? 0,
      w.payload,
      k.streamChannel(stream),
      w.routeJson,
      i,
      ...w.route.except,
    ]);
  }

  /**
   * Socket-id targets have no stream: the push goes to the channel of each node that owns one of
   * them. Published before the marker is set, so a retry after a crash in between may deliver it
   * twice to those sockets (never zero times); the id tells clients it is a repeat.
   */
  private async toSockets(w: Wire, part: number): Promise<number> {
    const k = this.keys;
    const marker = k.part(k.socket(w.route.socketIds[0]!), w.id);
    if ((await send<number>(this.redis, marker, ['EXISTS', marker])) === 1) return 0;
    const owners = await Promise.all(w.route.socketIds.map((sid: SocketId) => send<string | null>(this.redis, k.socket(sid), ['HGET', k.socket(sid), 'nodeId'])));
    const nodes = [...new Set(owners.filter((n): n is string => n !== null))];
    const payload = `[[],${w.payload},${w.routeJson},${part}]`;
    const counts = await Promise.all(nodes.map((n) => send<number>(this.redis, k.nodeChannel(n), ['SPUBLISH', k.nodeChannel(n), payload])));
    await send(this.redis, marker, ['SET', marker, '1', 'PX', String(w.ttlMs)]);
    return counts.reduce((a, b) => a + Number(b), 0);
  }
}

interface Wire {
  id: string;
  ttlMs: number;
  payload: string;
  routeJson: string;
  keep: boolean;
  only: boolean;
  route: PushRoute;
}

function duplicate(answer: string): AdmitResult {
  const [recipients, acked] = String(answer).split(':');
  const result: AdmitResult = { duplicate: true, recipients: Number(recipients), offsets: [], receivers: 0 };
  if (acked !== undefined) result.acked = Number(acked);
  return result;
}
