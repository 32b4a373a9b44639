/**
 * Per-socket events-per-second cap: a fixed one-second window kept on the socket's own node
 * (a socket lives on one node, so nothing needs sharing). 0 disables it.
 */
export class EventRateLimiter {
  private windowStart = 0;
  private count = 0;

  constructor(private readonly perSecond: number) {}

  allow(now: number): boolean {
    if (this.perSecond === 0) return true;
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count += 1;
    return this.count <= this.perSecond;
  }
}
