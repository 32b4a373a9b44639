/**
 * A socket sending more than this many times its RATE_LIMIT_EVENTS within one second is
 * disconnected: refusing each of its events still costs the node reading and answering it, and a
 * client that keeps flooding past its answers (a loop with many acknowledgements outstanding)
 * would take a whole core from everyone else on the node. A client that merely bursts past its
 * limit stays connected and gets RATE_LIMITED.
 */
export const FLOOD_FACTOR = 10;

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

  /** The current window holds more than FLOOD_FACTOR times the limit. */
  get flooding(): boolean {
    return this.perSecond > 0 && this.count > this.perSecond * FLOOD_FACTOR;
  }
}
