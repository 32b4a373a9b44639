import { randomUUID } from 'node:crypto';
import { pushBody, type BatchItemResult, type BroadcastBody, type PushBody, type PushResult } from '../contracts/api';
import { isPersonalRoom, PERSONAL_ROOM_PREFIX, userRoom, type PushMeta, type Room } from '../contracts/socket-events';
import type { PushTargets } from '../cluster/presence-store';
import type { PushStore } from '../cluster/push-store';
import type { Clock } from '../lib/clock';
import { AppError, badRequest, isAppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';

/** What PushService needs from Socket.IO: a broadcast to a set of rooms, minus some sockets. */
export interface Broadcaster {
  emit(rooms: string[], except: string[], event: string, data: unknown, meta: PushMeta): void;
}

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
    private readonly deps: { broadcaster: Broadcaster; store: PushStore; metrics: Metrics; clock: Clock; logger: Logger },
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
    return this.deliver(body.id, { users, rooms, socketIds, except: unique(body.except) }, body.event, body.data, onlyRoom);
  }

  broadcast(room: Room, body: BroadcastBody): Promise<PushResult> {
    return this.deliver(body.id, { users: [], rooms: [room], socketIds: [], except: unique(body.except) }, body.event, body.data, room);
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

  private async deliver(givenId: string | undefined, targets: PushTargets, event: string, data: unknown, room: Room | undefined): Promise<PushResult> {
    const started = performance.now();
    const id = givenId ?? randomUUID();
    let admitted;
    try {
      admitted = await this.deps.store.admit(id, targets, this.ttlMs);
    } catch (err) {
      this.deps.logger.warn('push not admitted: cluster state unavailable', { id, error: (err as Error).message });
      throw new AppError('SERVICE_UNAVAILABLE', 'Cluster state is unavailable; retry with the same id', { cause: err, retryAfter: 1 });
    }
    if (admitted.duplicate) return { id, recipients: admitted.recipients };

    const meta: PushMeta = room === undefined ? { id, ts: this.deps.clock.now() } : { id, ts: this.deps.clock.now(), room };
    const rooms = [...targets.users.map(userRoom), ...targets.rooms, ...targets.socketIds];
    this.deps.broadcaster.emit(rooms, targets.except, event, data, meta);
    this.deps.metrics.markPush(admitted.recipients, (performance.now() - started) / 1000);
    return { id, recipients: admitted.recipients };
  }
}
