import { randomUUID } from 'node:crypto';
import { pushBody, type BatchItemResult, type BroadcastBody, type PushBody, type PushResult } from '../contracts/api';
import { isPersonalRoom, PERSONAL_ROOM_PREFIX, type NodeId, type Room } from '../contracts/socket-events';
import type { PushTargets } from '../cluster/presence-store';
import type { PushStore } from '../cluster/push-store';
import type { HistoryMessage } from '../cluster/history-store';
import type { PushRoute } from '../cluster/push-wire';
import type { Clock } from '../lib/clock';
import { AppError, badRequest, isAppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import type { Receipts } from './receipts';

/** The default `ackTimeoutMs` of a push with `ack: true`. */
export const DEFAULT_ACK_TIMEOUT_MS = 5000;

export interface PushServiceOptions {
  /** How long a message id is remembered for idempotent retries. @default 300000 (5 minutes) */
  idempotencyTtlMs?: number;
}

const unique = (xs: string[] | undefined) => (xs && xs.length > 1 ? [...new Set(xs)] : (xs ?? []));

/**
 * Addresses a message and admits it: one store call takes the id, counts the recipients, keeps the
 * message and hands it to every node, which delivers it to its own sockets (delivery/push-fanout.ts).
 */
export class PushService {
  private readonly ttlMs: number;

  constructor(
    private readonly deps: {
      store: PushStore;
      receipts: Receipts;
      nodeId: NodeId;
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
    if (!this.deps.clusterUp()) throw unavailable();
    const message: HistoryMessage = { event: body.event, data: body.data, id, ts: this.deps.clock.now() };
    if (room !== undefined) message.room = room;
    const route: PushRoute = { ...targets };
    const timeoutMs = body.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const wait = body.ack ? this.deps.receipts.open(timeoutMs) : null;
    if (wait) route.ack = { node: this.deps.nodeId, token: wait.token, timeoutMs };
    const keep = this.deps.keepHistory && targets.users.length + targets.rooms.length > 0;
    let admitted;
    try {
      admitted = await this.deps.store.admit(id, route, this.ttlMs, message, keep);
    } catch (err) {
      wait?.cancel();
      // The admission and its publish are one script: refused here means delivered nowhere (or,
      // when only the answer was lost, remembered under the id, so the retry answers as a repeat).
      this.deps.logger.warn('push not admitted: cluster state unavailable', { id, error: (err as Error).message });
      throw unavailable(err);
    }
    if (admitted.duplicate) {
      wait?.cancel();
      return admitted.acked === undefined ? { id, recipients: admitted.recipients } : { id, recipients: admitted.recipients, acked: admitted.acked };
    }
    this.deps.metrics.markPush(admitted.recipients, (performance.now() - started) / 1000);
    if (!wait) return { id, recipients: admitted.recipients };
    wait.expect(admitted.receivers);
    const acked = await wait.acked;
    await this.deps.store.recordAcked(id, admitted.recipients, acked).catch((err: Error) => this.deps.logger.debug('could not record receipts for retries', { id, error: err.message }));
    return { id, recipients: admitted.recipients, acked };
  }
}

const unavailable = (cause?: unknown) => new AppError('SERVICE_UNAVAILABLE', 'Cluster state is unavailable; retry with the same id', { cause, retryAfter: 1 });
