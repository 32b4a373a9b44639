import type { NodeId, Offset, PushMeta, Stream } from '../contracts/socket-events';
import { userRoom } from '../contracts/socket-events';
import { externalName } from '../contracts/app-scope';
import type { HistoryMessage } from './history-store';
import type { PushTargets } from './presence-store';

/**
 * A push as a node receives it. In a cluster each stream's part is published by the script that
 * admits that part (redis-scripts.ts, PUSH_PART), in the same atomic step that takes the id and
 * assigns the offset, on the stream's own channel; every node with sockets in the stream, the
 * admitting one included, delivers it to them when it arrives on the subscription. That gives three
 * things a publish after admission could not:
 *   - an admitted part has always been published (a node dying between the two steps lost pushes
 *     that a retry then took for duplicates);
 *   - every node sees the pushes of a stream in offset order (a shard runs scripts one at a time and
 *     delivers a channel's messages in publish order), so live delivery follows the offsets;
 *   - nothing reaches a socket unless Redis took the push, so a refused part was delivered nowhere.
 */
export interface PushWire {
  /**
   * A whole push: one per stream, in the order of `streamsOf(route)`. A part: its stream's offset
   * alone. Empty when the push is not kept.
   */
  offsets: Offset[];
  message: HistoryMessage;
  route: PushRoute;
  /**
   * Which part this is: the index of its stream in `streamsOf(route)`, or the number of streams for
   * the socket-id targets. Undefined for a whole push (one node in memory).
   */
  part?: number;
}

export interface PushRoute extends PushTargets {
  /** Receipts asked for: the admitting node waits for one report per receiving node. */
  ack?: AckRequest;
}

export interface AckRequest {
  /** Where each node reports how many of its sockets acknowledged. */
  node: NodeId;
  /** Tells the admitting node's concurrent ack waits apart (an id may be retried while in flight). */
  token: string;
  timeoutMs: number;
}

/** The streams a push is kept in, in offset order: each addressed user's personal stream, then each room. */
export const streamsOf = (t: PushTargets): Stream[] => [...t.users.map(userRoom), ...t.rooms];

/** The route as the admission script receives it; the script wraps it with the offsets and the message. */
export function encodeRoute(r: PushRoute): string {
  const a = r.ack ? [r.ack.node, r.ack.token, r.ack.timeoutMs] : null;
  return JSON.stringify([r.users, r.rooms, r.socketIds, r.except, a]);
}

/** Parses what the admission published: `[offsets, message, route, part]`. */
export function decodeWire(raw: string): PushWire {
  const [offsets, m, r, part] = JSON.parse(raw) as [Offset[], [string, unknown, string, number, string | null], [string[], string[], string[], string[], [string, string, number] | null], number | undefined];
  const message: HistoryMessage = { event: m[0], data: m[1], id: m[2], ts: m[3] };
  if (m[4] !== null) message.room = m[4];
  const route: PushRoute = { users: r[0], rooms: r[1], socketIds: r[2], except: r[3] };
  if (r[4]) route.ack = { node: r[4][0], token: r[4][1], timeoutMs: r[4][2] };
  const wire: PushWire = { offsets, message, route };
  if (typeof part === 'number') wire.part = part;
  return wire;
}

/**
 * Names in a route are qualified with the pushing app (contracts/app-scope.ts): `rooms` are the
 * node's Socket.IO rooms as they are; `meta` carries the names the app's clients know.
 */
export interface Delivery {
  rooms: string[];
  except: string[];
  meta: PushMeta;
  /** The (qualified) stream this delivery is kept in, when it is. */
  stream?: Stream;
}

/**
 * How one push goes out on each node. Not kept: a single broadcast to every target (Socket.IO
 * reaches each socket once). Kept: each stream is its own broadcast carrying that stream's offset,
 * and skips the streams before it, so a socket in two addressed streams still gets the message once
 * live (its other stream replays it on recovery, and the id tells the client it has it).
 * Socket-id targets, which have no stream, go last and skip every stream.
 */
export function deliveries(w: PushWire): Delivery[] {
  const { route: t, message: m, offsets } = w;
  const base: PushMeta = m.room === undefined ? { id: m.id, ts: m.ts } : { id: m.id, ts: m.ts, room: m.room };
  if (w.part !== undefined) return [partDelivery(w, base)];
  if (offsets.length === 0) return [{ rooms: [...t.users.map(userRoom), ...t.rooms, ...t.socketIds], except: t.except, meta: base }];
  const streams = streamsOf(t);
  const out: Delivery[] = streams.map((stream, i) => ({ rooms: [stream], except: [...t.except, ...streams.slice(0, i)], meta: { ...base, stream: externalName(stream), offset: offsets[i]! }, stream }));
  if (t.socketIds.length > 0) out.push({ rooms: t.socketIds, except: [...t.except, ...streams], meta: base });
  return out;
}

/** A part's delivery: the same one the whole push would make for that stream (or for the socket ids). */
function partDelivery(w: PushWire, base: PushMeta): Delivery {
  const t = w.route;
  const streams = streamsOf(t);
  const i = w.part!;
  if (i >= streams.length) return { rooms: t.socketIds, except: [...t.except, ...streams], meta: base };
  const stream = streams[i]!;
  const offset = w.offsets[0];
  return offset === undefined ? { rooms: [stream], except: [...t.except, ...streams.slice(0, i)], meta: base } : { rooms: [stream], except: [...t.except, ...streams.slice(0, i)], meta: { ...base, stream: externalName(stream), offset }, stream };
}
