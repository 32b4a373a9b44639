import type { Clock } from '../lib/clock';
import type { MemoryHistoryStore } from './memory-history-store';
import type { HistoryMessage } from './history-store';
import type { PresenceStore } from './presence-store';
import type { AdmitResult, PushStore } from './push-store';
import { streamsOf, type PushRoute, type PushWire } from './push-wire';

interface Seen {
  recipients: Promise<number>;
  acked?: number;
  expiresAt: number;
}

/**
 * Single-node idempotency: message id → first answer, expired lazily and by a sweep; history in
 * memory; the admitted push goes straight to this node's own delivery, the only receiver.
 */
export class MemoryPushStore implements PushStore {
  private readonly seen = new Map<string, Seen>();
  private lastSweep = 0;

  constructor(
    private readonly presence: PresenceStore,
    private readonly clock: Clock,
    private readonly history: MemoryHistoryStore | null,
    private readonly deliver: (push: PushWire) => void,
  ) {}

  async admit(id: string, route: PushRoute, ttlMs: number, message: HistoryMessage, keep: boolean): Promise<AdmitResult> {
    const now = this.clock.now();
    this.sweep(now, ttlMs);
    const prior = this.seen.get(id);
    if (prior && prior.expiresAt > now) {
      const answer: AdmitResult = { duplicate: true, recipients: await prior.recipients, offsets: [], receivers: 0 };
      if (prior.acked !== undefined) answer.acked = prior.acked;
      return answer;
    }
    // Reserved before the await, as a promise: a concurrent retry of the same id is a duplicate
    // and answers with the first count, not with a count still being made.
    const recipients = this.presence.countRecipients(route);
    this.seen.set(id, { recipients, expiresAt: now + ttlMs });
    try {
      const n = await recipients;
      const offsets = keep && this.history ? this.history.append(streamsOf(route), message) : [];
      this.deliver({ offsets, message, route });
      return { duplicate: false, recipients: n, offsets, receivers: 1 };
    } catch (err) {
      this.seen.delete(id);
      throw err;
    }
  }

  async recordAcked(id: string, _recipients: number, acked: number): Promise<void> {
    const e = this.seen.get(id);
    if (e) e.acked = acked;
  }

  /** Drops expired ids at most once per TTL, so the map stays bounded by one TTL of traffic. */
  private sweep(now: number, ttlMs: number): void {
    if (now - this.lastSweep < ttlMs) return;
    this.lastSweep = now;
    for (const [id, e] of this.seen) if (e.expiresAt <= now) this.seen.delete(id);
  }
}
