import type { AppId } from '../contracts/app-scope';
import type { Clock } from '../lib/clock';
import type { Room, UserId } from '../contracts/socket-events';
import { send, type RedisClient } from './redis';
import type { RedisKeys } from './redis-keys';
import { LEASE, LEASE_RELEASE, OUTBOX_ADD, OUTBOX_DONE } from './redis-scripts';
import { KIND_CODES, type Outbox, type QueuedEvent, type WebhookStore } from './webhook-store';

/** Outboxes looked at per pass: bounds one pass's work whatever the index holds. */
const OUTBOXES_PER_PASS = 200;
/** Outboxes read at once. */
const OUTBOXES_PER_READ = 20;

/** An outbox seen empty this long leaves the index (a producer lists it a moment before it writes). */
const EMPTY_FOR_MS = 5000;

/**
 * Webhook outboxes in Redis: a stream per room and per user in the owner's slot, written by the
 * transition scripts (redis-scripts.ts), and a set per app of the outboxes that may hold events.
 */
export class RedisWebhookStore implements WebhookStore {
  /** Outboxes last seen empty, and since when: they leave the index once that has lasted. */
  private readonly emptySince = new Map<string, number>();

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly queueMax: number,
    private readonly clock: Clock,
  ) {}

  async lease(app: AppId, holder: string, ttlMs: number): Promise<boolean> {
    return (await LEASE.run<number>(this.redis, [this.keys.webhookLease(app)], [holder, ttlMs])) === 1;
  }

  async release(app: AppId, holder: string): Promise<void> {
    await LEASE_RELEASE.run(this.redis, [this.keys.webhookLease(app)], [holder]);
  }

  /**
   * Whole outboxes (an outbox holds at most WEBHOOK_QUEUE_MAX entries), a few at a time, until
   * about `max` events are read: a leaving event's cancelling return is always in the same read.
   */
  async pending(app: AppId, max: number): Promise<Outbox[]> {
    const index = this.keys.webhookIndex(app);
    const keys = (await send<string[]>(this.redis, index, ['SRANDMEMBER', index, String(OUTBOXES_PER_PASS)])).sort();
    const now = this.clock.now();
    const out: Outbox[] = [];
    let n = 0;
    for (let i = 0; i < keys.length && n < max; i += OUTBOXES_PER_READ) {
      const chunk = keys.slice(i, i + OUTBOXES_PER_READ);
      const read = await Promise.all(chunk.map(async (key) => ({ key, raw: await send<[string, string[]][]>(this.redis, key, ['XRANGE', key, '-', '+', 'COUNT', String(this.queueMax)]) })));
      for (const { key, raw } of read) {
        if (raw.length === 0) {
          await this.forgetIfStillEmpty(index, key, now);
          continue;
        }
        this.emptySince.delete(key);
        out.push({ key, events: raw.map(([entry, fields]) => parse(entry, fields)) });
        n += raw.length;
      }
    }
    return out;
  }

  async done(_app: AppId, outbox: string, entries: string[]): Promise<void> {
    if (entries.length === 0) return;
    const left = await OUTBOX_DONE.run<number>(this.redis, [outbox], entries);
    if (left === 0) this.emptySince.set(outbox, this.clock.now());
  }

  async clientEvent(app: AppId, userId: UserId, ev: { event: string; data: unknown; socketId: string; channel?: Room }): Promise<boolean> {
    const index = this.keys.webhookIndex(app);
    const outbox = this.keys.userOutbox(userId);
    await send(this.redis, index, ['SADD', index, outbox]);
    const fields = ['k', 'c', 'u', userId, 'e', ev.event, 'd', JSON.stringify(ev.data ?? null), 's', ev.socketId];
    if (ev.channel !== undefined) fields.push('ch', ev.channel);
    return (await OUTBOX_ADD.run<number>(this.redis, [outbox], [this.queueMax, ...fields])) === 0;
  }

  /**
   * Drops an outbox from the index once it has been empty for EMPTY_FOR_MS, then looks again: a
   * producer that listed it meanwhile and wrote to it puts it back.
   */
  private async forgetIfStillEmpty(index: string, key: string, now: number): Promise<void> {
    const since = this.emptySince.get(key);
    if (since === undefined) {
      this.emptySince.set(key, now);
      return;
    }
    if (now - since < EMPTY_FOR_MS) return;
    this.emptySince.delete(key);
    await send(this.redis, index, ['SREM', index, key]);
    if ((await send<number>(this.redis, key, ['EXISTS', key])) === 1) await send(this.redis, index, ['SADD', index, key]);
  }
}

function parse(entry: string, flat: string[]): QueuedEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
  const ev: QueuedEvent = { entry, kind: KIND_CODES[f.k ?? ''] ?? 'client_event', timeMs: Number(f.ms), grace: f.g !== '0' };
  if (f.k === 'c') {
    if (f.ch !== undefined) ev.channel = f.ch;
    ev.event = f.e;
    ev.socketId = f.s;
    try {
      ev.data = JSON.parse(f.d ?? 'null');
    } catch {
      ev.data = f.d;
    }
  } else if (f.c !== undefined) {
    ev.channel = f.c;
  }
  if (f.u !== undefined) ev.userId = f.u;
  return ev;
}
