import { randomUUID } from 'node:crypto';
import { pushBody, type BatchItemResult, type BroadcastBody, type PushBody, type PushResult } from '../contracts/api';
import { isPersonalRoom, PERSONAL_ROOM_PREFIX, type NodeId, type Room } from '../contracts/socket-events';
import type { PushTargets } from '../cluster/presence-store';
import type { PushStore } from '../cluster/push-store';
import type { HistoryMessage } from '../cluster/history-store';
import { streamsOf, type PushRoute } from '../cluster/push-wire';
import type { Clock } from '../lib/clock';
import { AppError, badRequest, isAppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import type { Receipts } from './receipts';
import type { RateLimitStore } from '../cluster/rate-limit-store';
import { implicitApp, type AppConfig } from '../config/config';

/** The default `ackTimeoutMs` of a push with `ack: true`. */
export const DEFAULT_ACK_TIMEOUT_MS = 5000;

export interface PushServiceOptions {
  /** How long a message id is remembered for idempotent retries. @default 300000 (5 minutes) */
  idempotencyTtlMs?: number;
}

const unique = (xs: string[] | undefined) => (xs && xs.length > 1 ? [...new Set(xs)] : (xs ?? []));

/** Which app a push is for: its names are qualified with the scope; its limits apply. */
export type PushApp = Pick<AppConfig, 'id' | 'scope' | 'limits'>;

/** Without APPS: the one implicit app. */
const IMPLICIT: PushApp = implicitApp();

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
      /** Counts each app's messages per minute (APPS limits: messagesPerMinute). */
      counters?: RateLimitStore;
      /** The app of a push that names none. @default the implicit app (plain names, no limits) */
      defaultApp?: PushApp;
    },
    opts: PushServiceOptions = {},
  ) {
    this.ttlMs = opts.idempotencyTtlMs ?? 300_000;
  }

  /** @param app whose names the body uses (qualified before anything shared sees them). */
  push(body: PushBody, app: PushApp = this.deps.defaultApp ?? IMPLICIT): Promise<PushResult> {
    const rooms = unique(body.rooms);
    // Personal rooms are addressed through `users`: as a room they would be delivered but never
    // counted in `recipients` (presence does not store them), and the prefix is reserved anyway.
    const personal = rooms.find(isPersonalRoom);
    if (personal !== undefined) return Promise.reject(new AppError('FORBIDDEN', `Rooms starting with "${PERSONAL_ROOM_PREFIX}" are reserved; push to users: ["${personal.slice(PERSONAL_ROOM_PREFIX.length)}"] instead`));
    const users = unique(body.users);
    const socketIds = unique(body.socketIds);
    // meta.room names the room only when a room is the push's single target.
    const onlyRoom = rooms.length === 1 && users.length === 0 && socketIds.length === 0 ? rooms[0] : undefined;
    return this.deliver(app, body, { users, rooms, socketIds, except: unique(body.except) }, onlyRoom);
  }

  broadcast(room: Room, body: BroadcastBody, app: PushApp = this.deps.defaultApp ?? IMPLICIT): Promise<PushResult> {
    return this.deliver(app, body, { users: [], rooms: [room], socketIds: [], except: unique(body.except) }, room);
  }

  /** Each message is validated and delivered on its own: one bad item does not fail the others. */
  batch(messages: unknown[], app: PushApp = this.deps.defaultApp ?? IMPLICIT): Promise<BatchItemResult[]> {
    return Promise.all(
      messages.map(async (raw, i): Promise<BatchItemResult> => {
        const parsed = pushBody.safeParse(raw);
        if (!parsed.success) return { success: false, error: badRequest(`messages[${i}] is invalid`, parsed.error.issues).toBody() };
        try {
          return { success: true, data: await this.push(parsed.data, app) };
        } catch (err) {
          if (isAppError(err)) return { success: false, error: err.toBody() };
          throw err;
        }
      }),
    );
  }

  /**
   * `targets` and `room` are the app's own names. The route carries them qualified; the message
   * (what clients see in `meta`) keeps them as the app knows them. The id is remembered per app.
   */
  private async deliver(app: PushApp, body: BroadcastBody, targets: PushTargets, room: Room | undefined): Promise<PushResult> {
    const started = performance.now();
    const id = body.id ?? randomUUID();
    if (!this.deps.clusterUp()) throw unavailable();
    if (app.limits.messagesPerMinute > 0) await this.withinQuota(app);
    const message: HistoryMessage = { event: body.event, data: body.data, id, ts: this.deps.clock.now() };
    if (room !== undefined) message.room = room;
    const { scope } = app;
    const route: PushRoute = scope.isDefault ? { ...targets } : { users: scope.names(targets.users), rooms: scope.names(targets.rooms), socketIds: scope.names(targets.socketIds), except: scope.names(targets.except) };
    const key = scope.name(id);
    // A replay from history (a node catching up, a client recovering) skips whom live delivery skipped.
    if (route.except.length > 0) message.except = route.except;
    if (route.users.length + route.rooms.length > 1) message.streams = streamsOf(route);
    const timeoutMs = body.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const wait = body.ack ? this.deps.receipts.open(timeoutMs) : null;
    if (wait) route.ack = { node: this.deps.nodeId, token: wait.token, timeoutMs };
    const keep = this.deps.keepHistory && targets.users.length + targets.rooms.length > 0;
    let admitted;
    try {
      admitted = await this.deps.store.admit(key, route, this.ttlMs, message, keep);
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
    this.deps.metrics.markPush(admitted.recipients, (performance.now() - started) / 1000, app.id);
    if (!wait) return { id, recipients: admitted.recipients };
    wait.expect(admitted.receivers);
    const acked = await wait.acked;
    await this.deps.store.recordAcked(key, admitted.recipients, acked).catch((err: Error) => this.deps.logger.debug('could not record receipts for retries', { id, error: err.message }));
    return { id, recipients: admitted.recipients, acked };
  }

  /** An app over its messagesPerMinute is refused (429) until the minute is over. Fails open while the counters are unreachable. */
  private async withinQuota(app: PushApp): Promise<void> {
    let hit;
    try {
      hit = await this.deps.counters!.hit(`app-msg:${app.id}`, 60_000);
    } catch (err) {
      this.deps.logger.warn('app message quota unavailable', { app: app.id, error: (err as Error).message });
      return;
    }
    if (hit.count > app.limits.messagesPerMinute) {
      const retryAfter = Math.max(1, Math.ceil((hit.resetAt - this.deps.clock.now()) / 1000));
      throw new AppError('RATE_LIMIT_EXCEEDED', `App ${app.id} is over its quota of ${app.limits.messagesPerMinute} messages per minute`, { retryAfter, details: [{ field: 'app', message: 'over quota' }] });
    }
  }
}

/** An app's messagesPerMinute refusal (Pusher's API answers it 403 "over quota", as Pusher does). */
export function isOverQuota(err: AppError): boolean {
  return err.code === 'RATE_LIMIT_EXCEEDED' && Array.isArray(err.details) && (err.details[0] as { message?: unknown } | undefined)?.message === 'over quota';
}

const unavailable = (cause?: unknown) => new AppError('SERVICE_UNAVAILABLE', 'Cluster state is unavailable; retry with the same id', { cause, retryAfter: 1 });
