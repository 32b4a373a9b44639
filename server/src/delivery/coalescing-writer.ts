import type { Socket as NetSocket } from 'node:net';

const CORKED = Symbol('pushgate.corked');
type Tracked = NetSocket & { [CORKED]?: boolean };

/**
 * Lets everything written to one TCP connection within one event-loop turn leave in one write.
 * The first frame for a connection in a turn corks it; every later write to it in the same turn
 * (pre-framed pushes, and anything Socket.IO itself writes meanwhile, such as a receipt push or a
 * heartbeat) joins the same corked stream in call order; the connections are uncorked once the
 * turn's I/O callbacks are done (setImmediate), so the kernel gets one writev per connection.
 *
 * A burst of pushes that arrive together (several HTTP requests or several Redis messages read in
 * one turn) thus costs one syscall per socket instead of one per push and socket; a lone push
 * leaves at the end of the same turn, never held by a timer.
 */
export class CoalescingWriter {
  private pending: Tracked[] = [];
  private scheduled = false;
  /** Connections uncorked so far: each one is one write (or writev) to the kernel. */
  flushes = 0;

  write(tcp: NetSocket, frame: Buffer): void {
    const t = tcp as Tracked;
    if (t[CORKED] !== true) {
      t.cork();
      t[CORKED] = true;
      this.pending.push(t);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    }
    t.write(frame);
  }

  /** Uncorks every connection written this turn (also called on its own at the end of the turn). */
  readonly flush = (): void => {
    this.scheduled = false;
    const pending = this.pending;
    if (pending.length === 0) return;
    this.pending = [];
    this.flushes += pending.length;
    for (const t of pending) {
      t[CORKED] = false;
      t.uncork();
    }
  };
}
