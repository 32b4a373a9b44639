import type { AppId } from '../contracts/app-scope';
import type { Room, UserId } from '../contracts/socket-events';

/**
 * Webhook events as they wait to be sent. Each transition is queued by the same atomic step that
 * makes it (redis-scripts.ts: a room's transitions in the room's slot, a user's in the user's), so
 * a transition that happened is owed, whichever node made it and whatever happens to that node
 * afterwards; and each is queued once, because the step that makes it happens once.
 *
 * A queue is an outbox per room and per user (its events in order); each app keeps an index of
 * its outboxes with something pending. One node at a time, holding the app's lease, sends them.
 */
export type QueuedKind = 'channel_occupied' | 'channel_vacated' | 'member_added' | 'member_removed' | 'user_online' | 'user_offline' | 'client_event';

export interface QueuedEvent {
  /** The outbox's own id of the entry (what done() takes). */
  entry: string;
  kind: QueuedKind;
  /** Qualified names (contracts/app-scope.ts). */
  channel?: Room;
  userId?: UserId;
  /** When the transition happened (the store's clock), ms since the epoch. */
  timeMs: number;
  /** false: made by the reaper of a dead node; the user had the dead-node timeout to come back already. */
  grace: boolean;
  /** client_event only. */
  event?: string;
  data?: unknown;
  socketId?: string;
}

export interface Outbox {
  /** The outbox's name (a Redis key, or the memory store's equivalent). */
  key: string;
  events: QueuedEvent[];
}

/** Which transitions an app wants queued (from its webhook configuration). null: none. */
export interface WebhookPolicy {
  /** For a (qualified) room: whether its occupancy and its members are reported. */
  room(room: Room): { occupancy: boolean; members: boolean } | null;
  /** For a (qualified) user: whether their online/offline transitions are reported. */
  user(userId: UserId): boolean;
  /** The app a qualified name belongs to (its id, the default app's for plain names). */
  appOf(name: string): AppId;
}

export interface WebhookStore {
  /** Takes or renews the app's sending lease for `holder`. @returns whether `holder` has it. */
  lease(app: AppId, holder: string, ttlMs: number): Promise<boolean>;
  release(app: AppId, holder: string): Promise<void>;
  /** The app's pending events, oldest first per outbox, at most about `max` in all. */
  pending(app: AppId, max: number): Promise<Outbox[]>;
  /** Removes sent (or cancelled) entries; an outbox left empty leaves the index. */
  done(app: AppId, outbox: string, entries: string[]): Promise<void>;
  /** Queues a client event of a (qualified) user. @returns false when the user's outbox was full and its oldest entry dropped. */
  clientEvent(app: AppId, userId: UserId, ev: { event: string; data: unknown; socketId: string; channel?: Room }): Promise<boolean>;
}

/** Wire codes of the kinds, as the scripts write them. */
export const KIND_CODES: Record<string, QueuedKind> = { o: 'channel_occupied', v: 'channel_vacated', a: 'member_added', r: 'member_removed', n: 'user_online', f: 'user_offline', c: 'client_event' };
