import type { AppId } from '../contracts/app-scope';
import type { Room, UserId } from '../contracts/socket-events';
import type { Clock } from '../lib/clock';
import type { Outbox, QueuedEvent, QueuedKind, WebhookPolicy, WebhookStore } from './webhook-store';

/** A transition as the memory presence store reports it. */
export interface Transition {
  kind: Exclude<QueuedKind, 'client_event'>;
  channel?: Room;
  userId?: UserId;
  /** false: a reaped socket (see QueuedEvent.grace). */
  grace: boolean;
}

/**
 * Webhook outboxes of a single node: the same shape as in Redis (an outbox per room and user, an
 * index per app), in memory. The node is the only sender; its lease always holds.
 */
export class MemoryWebhookStore implements WebhookStore {
  private readonly outboxes = new Map<string, QueuedEvent[]>();
  private readonly index = new Map<AppId, Set<string>>();
  private seq = 0;

  constructor(
    private readonly policy: WebhookPolicy,
    private readonly queueMax: number,
    private readonly clock: Clock,
    private readonly dropped: (app: AppId, n: number) => void,
  ) {}

  /** Queues a transition the presence store made, if its app wants it. */
  transition(t: Transition): void {
    const owner = t.channel ?? t.userId!;
    if (t.channel !== undefined) {
      const wants = this.policy.room(t.channel);
      if (!wants || !(t.kind === 'channel_occupied' || t.kind === 'channel_vacated' ? wants.occupancy : wants.members)) return;
    } else if (!this.policy.user(t.userId!)) {
      return;
    }
    this.queue(this.policy.appOf(owner), t.channel !== undefined ? `room:${t.channel}` : `user:${t.userId}`, { kind: t.kind, channel: t.channel, userId: t.userId, grace: t.grace });
  }

  async lease(): Promise<boolean> {
    return true;
  }

  async release(): Promise<void> {}

  async pending(app: AppId, max: number): Promise<Outbox[]> {
    const out: Outbox[] = [];
    let n = 0;
    // Whole outboxes, as the Redis store reads them: a leave and its cancelling return are read together.
    for (const key of this.index.get(app) ?? []) {
      const events = this.outboxes.get(key) ?? [];
      if (events.length === 0) continue;
      out.push({ key, events: [...events] });
      n += events.length;
      if (n >= max) break;
    }
    return out;
  }

  async done(app: AppId, outbox: string, entries: string[]): Promise<void> {
    const gone = new Set(entries);
    const left = (this.outboxes.get(outbox) ?? []).filter((e) => !gone.has(e.entry));
    if (left.length > 0) return void this.outboxes.set(outbox, left);
    this.outboxes.delete(outbox);
    this.index.get(app)?.delete(outbox);
  }

  async clientEvent(app: AppId, userId: UserId, ev: { event: string; data: unknown; socketId: string; channel?: Room }): Promise<boolean> {
    return this.queue(app, `user:${userId}`, { kind: 'client_event', userId, grace: true, ...ev });
  }

  private queue(app: AppId, key: string, ev: Omit<QueuedEvent, 'entry' | 'timeMs'>): boolean {
    let events = this.outboxes.get(key);
    if (!events) this.outboxes.set(key, (events = []));
    let index = this.index.get(app);
    if (!index) this.index.set(app, (index = new Set()));
    index.add(key);
    const clean = Object.fromEntries(Object.entries(ev).filter(([, v]) => v !== undefined)) as Omit<QueuedEvent, 'entry' | 'timeMs'>;
    events.push({ ...clean, entry: String((this.seq += 1)), timeMs: this.clock.now() });
    if (events.length <= this.queueMax) return true;
    events.shift();
    this.dropped(app, 1);
    return false;
  }
}
