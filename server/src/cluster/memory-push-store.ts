import type { Clock } from '../lib/clock';
import type { PresenceStore, PushTargets } from './presence-store';
import type { AdmitResult, PushStore } from './push-store';

/** Single-node idempotency: message id → first recipients count, expired lazily and by a sweep. */
export class MemoryPushStore implements PushStore {
  private readonly seen = new Map<string, { recipients: Promise<number>; expiresAt: number }>();
  private lastSweep = 0;

  constructor(
    private readonly presence: PresenceStore,
    private readonly clock: Clock,
  ) {}

  async admit(id: string, targets: PushTargets, ttlMs: number): Promise<AdmitResult> {
    const now = this.clock.now();
    this.sweep(now, ttlMs);
    const prior = this.seen.get(id);
    if (prior && prior.expiresAt > now) return { duplicate: true, recipients: await prior.recipients };
    // Reserved before the await, as a promise: a concurrent retry of the same id is a duplicate
    // and answers with the first count, not with a count still being made.
    const recipients = this.presence.countRecipients(targets);
    this.seen.set(id, { recipients, expiresAt: now + ttlMs });
    try {
      return { duplicate: false, recipients: await recipients };
    } catch (err) {
      this.seen.delete(id);
      throw err;
    }
  }

  /** Drops expired ids at most once per TTL, so the map stays bounded by one TTL of traffic. */
  private sweep(now: number, ttlMs: number): void {
    if (now - this.lastSweep < ttlMs) return;
    this.lastSweep = now;
    for (const [id, e] of this.seen) if (e.expiresAt <= now) this.seen.delete(id);
  }
}
