import type { Socket as NetSocket } from 'node:net';

const CORKED = Symbol('pushgate.corked');
const TURN = Symbol('pushgate.turn');
type Tracked = NetSocket & { [CORKED]?: boolean; [TURN]?: number };

/**
 * Lets everything written to one TCP connection within one event-loop turn leave in one write
 * under load, without holding back a lone message when there is no load.
 *
 * A corked connection collects every write made to it (pushes, and anything Socket.IO itself
 * writes meanwhile, such as a receipt push or a heartbeat) in call order, and the connections
 * corked in a turn are uncorked once the turn's I/O callbacks are done (setImmediate): the kernel
 * then gets one writev per connection for all of that turn's frames. Which frames cork depends on
 * what the previous turn saw, with no timer involved:
 *   - quiet (no connection got two frames in the previous turn): the first frame for a connection
 *     is written at once, as an unbuffered write would be, so a lone push leaves as soon as it is
 *     encoded; only a second frame for it in the same turn corks it;
 *   - busy (some connection got two or more): every frame corks from the first, so a burst of k
 *     pushes that arrive together (several HTTP requests or Redis messages read in one turn) costs
 *     one syscall per socket instead of k.
 * A burst switches to busy after its first turn, and back to quiet one turn after it ends.
 */
export class CoalescingWriter {
  private pending: Tracked[] = [];
  private scheduled = false;
  /** Counts turns in which something was written; a connection remembers the last one it saw. */
  private turn = 0;
  private busy = false;
  private sawSecond = false;
  /** Writes that left for the kernel so far: frames written at once, and uncorked connections. */
  flushes = 0;

  write(tcp: NetSocket, frame: Buffer): void {
    const t = tcp as Tracked;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    if (t[TURN] !== this.turn) {
      t[TURN] = this.turn;
      if (!this.busy) {
        this.flushes += 1;
        t.write(frame);
        return;
      }
    } else this.sawSecond = true;
    if (t[CORKED] !== true) {
      t.cork();
      t[CORKED] = true;
      this.pending.push(t);
    }
    t.write(frame);
  }

  /** Ends the turn: uncorks every connection corked in it. */
  readonly flush = (): void => {
    this.scheduled = false;
    this.turn += 1;
    this.busy = this.sawSecond;
    this.sawSecond = false;
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
