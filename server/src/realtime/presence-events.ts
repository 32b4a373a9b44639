import type { PresenceChange } from '../cluster/presence-store';
import type { Metrics } from '../metrics/metrics';
import { roomAllowed } from './token-verifier';
import { externalName } from '../contracts/app-scope';
import type { PgServer } from './types';

/**
 * `presence:join` / `presence:leave` for rooms matching PRESENCE_ROOMS. The presence store reports
 * each user transition once, to the node whose write made it (a join, a leave, a disconnect, or the
 * reap of a dead node), and that node tells the room's members on every node.
 */
export class PresenceEvents {
  constructor(
    private readonly io: PgServer,
    private readonly patterns: readonly string[],
    private readonly metrics: Metrics,
  ) {}

  announce(changes: PresenceChange[]): void {
    if (this.patterns.length === 0) return;
    for (const c of changes) {
      // Names are qualified with their app here; members hear (and patterns match) the app's own names.
      const room = externalName(c.room);
      if (!roomAllowed(this.patterns, room)) continue;
      this.io.to(c.room).emit(c.joined ? 'presence:join' : 'presence:leave', { room, userId: externalName(c.userId) });
      this.metrics.markPresenceEvent(c.joined ? 'join' : 'leave');
    }
  }
}
