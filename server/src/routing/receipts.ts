import { randomUUID } from 'node:crypto';

/**
 * How much longer than `ackTimeoutMs` the admitting node waits for the other nodes' reports: each
 * node starts its own timeout when the push reaches it, and its report still has to travel back.
 */
export const RECEIPT_GRACE_MS = 1000;

/** One push's wait for receipts. */
export interface ReceiptWait {
  token: string;
  /** The push reached this many nodes: the wait ends once each has reported. */
  expect(nodes: number): void;
  /** Sockets that acknowledged, summed over the nodes that reported in time. */
  readonly acked: Promise<number>;
  /** The push was not delivered (refused, or a duplicate): forget the wait. */
  cancel(): void;
}

interface Pending {
  reported: number;
  acked: number;
  nodes: number | null;
  finish: () => void;
}

/**
 * The admitting node's side of receipts. Every node that receives a push with `ack` answers once,
 * with how many of its own sockets acknowledged (zero when it had none), so the admitting node
 * knows when it has heard from everyone and can answer before the timeout.
 */
export class Receipts {
  private readonly pending = new Map<string, Pending>();

  open(timeoutMs: number): ReceiptWait {
    const token = randomUUID();
    const p: Pending = { reported: 0, acked: 0, nodes: null, finish: () => undefined };
    let timer: NodeJS.Timeout | undefined;
    const acked = new Promise<number>((resolve) => {
      p.finish = () => {
        clearTimeout(timer);
        this.pending.delete(token);
        resolve(p.acked);
      };
    });
    // Opened before the push is admitted: a fast node's report can arrive before the admission's answer.
    this.pending.set(token, p);
    return {
      token,
      acked,
      expect: (nodes) => {
        p.nodes = nodes;
        if (p.reported >= nodes) return p.finish();
        timer = setTimeout(p.finish, timeoutMs + RECEIPT_GRACE_MS);
        // The HTTP request waiting on it keeps the process alive; the timer itself need not.
        timer.unref();
      },
      cancel: () => {
        clearTimeout(timer);
        this.pending.delete(token);
      },
    };
  }

  /** A node's report; reports for waits that ended (timed out, cancelled) are dropped. */
  report(token: string, acked: number): void {
    const p = this.pending.get(token);
    if (!p) return;
    p.reported += 1;
    p.acked += acked;
    if (p.nodes !== null && p.reported >= p.nodes) p.finish();
  }

  /** Waits still open (for the tests and the drain). */
  get size(): number {
    return this.pending.size;
  }
}
