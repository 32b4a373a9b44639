/**
 * RATE_LIMIT_NODE_HANDSHAKES: how many new Socket.IO sessions this node starts per second, from all
 * addresses together: a token bucket holding a tenth of a second's worth, so a storm is admitted
 * evenly instead of in a burst that saturates the node anyway. Per-address limits cannot stop a
 * storm from many addresses, and one node saturated by handshakes (≈ 550/s per core on the 2-core
 * test machine, see README "Capacity under floods") makes every connected client wait. Past the
 * budget a handshake is refused at the HTTP level, before the WebSocket upgrade, so it costs almost
 * nothing, and socket.io-client retries it with its randomized backoff, as when a node drains.
 * 0 turns it off.
 */
export class HandshakeBudget {
  private tokens: number;
  private last: number;
  private readonly burst: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {
    this.burst = Math.max(1, perSecond / 10);
    this.tokens = this.burst;
    this.last = now();
  }

  take(): boolean {
    if (this.perSecond <= 0) return true;
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.perSecond) / 1000);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
