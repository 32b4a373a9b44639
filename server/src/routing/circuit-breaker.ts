import type { Clock } from '../lib/clock';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. @default 5 */
  failureThreshold?: number;
  /** How long the circuit stays open before one trial request is let through. @default 10000 */
  openMs?: number;
}

/**
 * closed → (N consecutive failures) → open → (openMs later) half-open: exactly one trial call;
 * its success closes the circuit, its failure opens it again for another openMs.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | null = null;
  private trialInFlight = false;
  private readonly threshold: number;
  private readonly openMs: number;

  constructor(
    private readonly clock: Clock,
    opts: CircuitBreakerOptions = {},
  ) {
    this.threshold = opts.failureThreshold ?? 5;
    this.openMs = opts.openMs ?? 10_000;
  }

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.openedAt === null) return 'closed';
    return this.clock.now() - this.openedAt >= this.openMs ? 'half-open' : 'open';
  }

  /** false: refuse the call at once. true: go ahead, then report success() or failure(). */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.openedAt = null;
    this.trialInFlight = false;
  }

  failure(): void {
    this.trialInFlight = false;
    this.failures += 1;
    if (this.openedAt !== null || this.failures >= this.threshold) this.openedAt = this.clock.now();
  }
}
