import { randomUUID } from 'node:crypto';
import { pushBody, type BatchItemResult, type BroadcastBody, type PushBody, type PushResult } from '../contracts/api';
import { isPersonalRoom, PERSONAL_ROOM_PREFIX, userRoom, type PushMeta, type Room } from '../contracts/socket-events';
import type { PushTargets } from '../cluster/presence-store';
import type { PushStore } from '../cluster/push-store';
import type { Clock } from '../lib/clock';
import { AppError, badRequest, isAppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';

/** What PushService needs from Socket.IO: a broadcast to a set of rooms, minus some sockets or rooms. */
export interface Broadcaster {
  /** Resolves once the broadcast was handed to the cluster (published to Redis); rejects when it was not. */
  emit(rooms: string[], except: string[], event: string, data: unknown, meta: PushMeta): Promise<void>;
  /**
   * The same, asking every receiving socket for an acknowledgement: `sent` as for emit, `acks`
   * the acknowledgements that arrived within `timeoutMs`.
   */
  emitWithAcks(rooms: string[], except: string[], event: string, data: unknown, meta: PushMeta, timeoutMs: number): { sent: Promise<void>; acks: Promise<number> };
}

/** The default `ackTimeoutMs` of a push with `ack: true`. */
export const DEFAULT_ACK_TIMEOUT_MS = 5000;

export interface PushServiceOptions {
  /** How long a message id is remembered for idempotent retries. @default 300000 (5 minutes) */
  idempotencyTtlMs?: number;
}

const unique = (xs: string[] | undefined) => (xs && xs.length > 1 ? [...new Set(xs)] : (xs ?? []));

/**
 * Addresses a message, admits it (idempotency + recipients, one store call) and hands it to the
 * cluster in a single broadcast: Socket.IO encodes the packet once however many sockets get it.
 */
export class PushService {
  private readonly ttlMs: number;

  constructor(
    private readonly deps: {
      broadcaster: Broadcaster;
      store: PushStore;
      metrics: Metrics;
      clock: Clock;
      logger: Logger;
      /** Pushes to users and rooms are kept in their streams' history. */
      keepHistory: boolean;
      /** false while the cluster bus is unreachable: a push could not be handed to the other nodes. */
      clusterUp: () => boolean;
    },
    opts: PushServiceOptions = {},
  ) {
    this.ttlMs = opts.idempotencyTtlMs ?? 300_000;
  }

  push(body: PushBody): Promise<PushResult> {
    const rooms = unique(body.rooms);
    // Personal rooms are addressed through `users`: as a room they would be delivered but never
    // counted in `recipients` (presence does not store them), and the prefix is reserved anyway.
    const personal = rooms.find(isPersonalRoom);
    if (personal !== undefined) return Promise.reject(new AppError('FORBIDDEN', `Rooms starting with "${PERSONAL_ROOM_PREFIX}" are reserved; push to users: ["${personal.slice(PERSONAL_ROOM_PREFIX.length)}"] instead`));
    const users = unique(body.users);
    const socketIds = unique(body.socketIds);
    // meta.room names the room only when a room is the push's single target.
    const onlyRoom = rooms.length === 1 && users.length === 0 && socketIds.length === 0 ? rooms[0] : undefined;
    return this.deliver(body, { users, rooms, socketIds, except: unique(body.except) }, onlyRoom);
  }

  broadcast(room: Room, body: BroadcastBody): Promise<PushResult> {
    return this.deliver(body, { users: [], rooms: [room], socketIds: [], except: unique(body.except) }, room);
  }

  /** Each message is validated and delivered on its own: one bad item does not fail the others. */
  batch(messages: unknown[]): Promise<BatchItemResult[]> {
    return Promise.all(
      messages.map(async (raw, i): Promise<BatchItemResult> => {
        const parsed = pushBody.safeParse(raw);
        if (!parsed.success) return { success: false, error: badRequest(`messages[${i}] is invalid`, parsed.error.issues).toBody() };
        try {
          return { success: true, data: await this.push(parsed.data) };
        } catch (err) {
          if (isAppError(err)) return { success: false, error: err.toBody() };
          throw err;
        }
      }),
    );
  }

  private async deliver(body: BroadcastBody, targets: PushTargets, room: Room | undefined): Promise<PushResult> {
    const started = performance.now();
    const id = body.id ?? randomUUID();
    const { event, data } = body;
    if (!this.deps.clusterUp()) throw unavailable();
    const ts = this.deps.clock.now();
    const streams = this.deps.keepHistory ? [...targets.users.map(userRoom), ...targets.rooms] : [];
    let admitted;
    try {
      admitted = await this.deps.store.admit(id, targets, this.ttlMs, streams.length > 0 ? { streams, message: room === undefined ? { event, data, id, ts } : { event, data, id, ts, room } } : undefined);
    } catch (err) {
      this.deps.logger.warn('push not admitted: cluster state unavailable', { id, error: (err as Error).message });
      throw unavailable(err);
    }
    if (admitted.duplicate) return admitted.acked === undefined ? { id, recipients: admitted.recipients } : { id, recipients: admitted.recipients, acked: admitted.acked };

    const base: PushMeta = room === undefined ? { id, ts } : { id, ts, room };
    const sends = deliveries(targets, streams, admitted.offsets, base);
    const { broadcaster } = this.deps;
    const timeoutMs = body.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const out = sends.map((d) => (body.ack ? broadcaster.emitWithAcks(d.rooms, d.except, event, data, d.meta, timeoutMs) : { sent: broadcaster.emit(d.rooms, d.except, event, data, d.meta), acks: null }));
    try {
      await Promise.all(out.map((o) => o.sent));
    } catch (err) {
      // Admitted (and kept in history) but not published: Redis went away in between. The retry
      // with the same id is delivered when Redis lost the id with its data; otherwise it answers as
      // a duplicate and recovering clients get the message from history.
      this.deps.logger.warn('push admitted but not handed to the cluster', { id, error: (err as Error).message });
      throw unavailable(err);
    }
    this.deps.metrics.markPush(admitted.recipients, (performance.now() - started) / 1000);
    if (!body.ack) return { id, recipients: admitted.recipients };
    const acked = (await Promise.all(out.map((o) => o.acks))).reduce<number>((a, b) => a + (b ?? 0), 0);
    await this.deps.store.recordAcked(id, admitted.recipients, acked).catch((err: Error) => this.deps.logger.debug('could not record receipts for retries', { id, error: err.message }));
    return { id, recipients: admitted.recipients, acked };
  }
}

const unavailable = (cause?: unknown) => new AppError('SERVICE_UNAVAILABLE', 'Cluster state is unavailable; retry with the same id', { cause, retryAfter: 1 });

interface Delivery {
  rooms: string[];
  except: string[];
  meta: PushMeta;
}

/**
 * How one push goes out. Without history: a single broadcast to every target (Socket.IO reaches each
 * socket once). With history each stream is its own broadcast carrying that stream's offset, and
 * skips the streams before it, so a socket in two addressed streams still gets the message once
 * live (its other stream replays it on recovery, and the id tells the client it has it).
 * Socket-id targets, which have no stream, go last and skip every stream.
 */
function deliveries(targets: PushTargets, streams: string[], offsets: string[], base: PushMeta): Delivery[] {
  if (streams.length === 0) return [{ rooms: [...targets.users.map(userRoom), ...targets.rooms, ...targets.socketIds], except: targets.except, meta: base }];
  const out: Delivery[] = streams.map((stream, i) => ({ rooms: [stream], except: [...targets.except, ...streams.slice(0, i)], meta: { ...base, stream, offset: offsets[i]! } }));
  if (targets.socketIds.length > 0) out.push({ rooms: targets.socketIds, except: [...targets.except, ...streams], meta: base });
  return out;
}
