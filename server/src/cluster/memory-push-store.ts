import type { Clock } from '../lib/clock';
import type { PresenceStore, PushTargets } from './presence-store';
import type { AdmitResult, PushStore } from './push-store';

/** Single-node idempotency: message id → first recipients count, expired lazily and by a sweep. */
export class MemoryPushStore implements PushStore {
  private readonly seen = new Map<string, { recipients: number; expiresAt: number }>();
  private lastSweep = 0;

  constructor(
    private readonly presence: PresenceStore,
    private readonly clock: Clock,
  ) {}

  async admit(id: string, targets: PushTargets, ttlMs: number): Promise<AdmitResult> {
    const now = this.clock.now();
    this.sweep(now, ttlMs);
    const prior = this.seen.get(id);
    if (prior && prior.expiresAt > now) return { duplicate: true, recipients: prior.recipients };
    // Reserve before the await so a concurrent retry of the same id sees it as a duplicate.
    const entry = { recipients: 0, expiresAt: now + ttlMs };
    this.seen.set(id, entry);
    entry.recipients = await this.presence.countRecipients(targets);
    return { duplicate: false, recipients: entry.recipients };
  }

  /** Drops expired ids at most once per TTL, so the map stays bounded by one TTL of traffic. */
  private sweep(now: number, ttlMs: number): void {
    if (now - this.lastSweep < ttlMs) return;
    this.lastSweep = now;
    for (const [id, e] of this.seen) if (e.expiresAt <= now) this.seen.delete(id);
  }
}
