import type { PushMeta } from '../contracts/socket-events';
import type { PgServer, PgSocket } from '../realtime/types';
import { CoalescingWriter } from './coalescing-writer';
import { directSocket, engineMessageFrame, viaEngine } from './engine-seam';

/** Socket.IO's EVENT packet type (socket.io-parser). */
const EVENT = 2;

/** Deliveries to this node's sockets so far, by path; read by the metrics. */
export interface DeliveryCounts {
  /** Written as pre-built bytes straight to the socket's TCP connection. */
  direct: number;
  /** Handed to Socket.IO per socket: long-polling, upgrading, recovering, compressing, or with packets queued. */
  engine: number;
  /** Writes that carried the direct deliveries (a lone frame written at once, or a turn's frames in one writev). */
  flushes: number;
}

/**
 * This node's half of delivering a push: which local sockets get it, and the bytes they get.
 *
 * A push is encoded once (Socket.IO packet, then Engine.IO message and WebSocket frame around it)
 * and the same Buffer goes to every recipient on WebSocket, through a writer that, under load, lets
 * everything one socket is owed within an event-loop turn leave in one write (coalescing-writer.ts).
 * Sockets that cannot take bytes directly right now (engine-seam.ts says which) get the same
 * encoded packet through Socket.IO, exactly as its own broadcast would hand it to them, so order
 * and the recovery gate still hold.
 * Recipients are picked as Socket.IO's adapter picks them: members of any of the rooms, each once,
 * minus the members of the `except` rooms (socket ids are rooms too).
 */
export class LocalDelivery {
  private readonly writer = new CoalescingWriter();
  private direct = 0;
  private engine = 0;

  /** @param fastPath false hands every socket to Socket.IO (DELIVERY_FAST_PATH=false). */
  constructor(
    private readonly io: PgServer,
    private readonly fastPath: boolean = true,
  ) {}

  counts(): DeliveryCounts {
    return { direct: this.direct, engine: this.engine, flushes: this.writer.flushes };
  }

  /** Sends `event` with `data` and `meta` to the matching local sockets. @returns how many got it. */
  send(rooms: readonly string[], except: readonly string[], event: string, data: unknown, meta: PushMeta): number {
    const packets = this.io.encoder.encode({ type: EVENT, nsp: '/', data: [event, data, meta] }) as (string | Buffer)[];
    // One text packet makes one frame. Binary attachments (which the JSON push API never produces)
    // make several packets: those go through Socket.IO for every socket.
    const frame = packets.length === 1 && typeof packets[0] === 'string' ? engineMessageFrame(packets[0]) : null;
    const fast = this.fastPath && frame !== null;
    return this.each(rooms, except, (s) => {
      const tcp = fast ? directSocket(s) : null;
      if (tcp) {
        this.writer.write(tcp, frame!);
        this.direct += 1;
      } else {
        viaEngine(s, packets, frame);
        this.engine += 1;
      }
    });
  }

  /**
   * Sends to each matching local socket on its own, asking for an acknowledgement within
   * `timeoutMs` (each socket needs its own ack id, so these take Socket.IO's per-socket path; they
   * still keep order with the direct writes around them, see engine-seam.ts).
   * @returns how many sockets were asked.
   */
  ask(rooms: readonly string[], except: readonly string[], event: string, data: unknown, meta: PushMeta, timeoutMs: number, acked: () => void): number {
    return this.each(rooms, except, (s) => {
      this.engine += 1;
      s.timeout(timeoutMs).emit(event as never, data as never, meta as never, ((err: Error | null) => {
        if (!err) acked();
      }) as never);
    });
  }

  private each(rooms: readonly string[], except: readonly string[], visit: (s: PgSocket) => void): number {
    const nsp = this.io.sockets;
    const members = nsp.adapter.rooms;
    const sockets = nsp.sockets;
    let n = 0;
    // The common case, one stream and nobody skipped, needs no bookkeeping of who was visited.
    if (rooms.length === 1 && except.length === 0) {
      const ids = members.get(rooms[0]!);
      if (!ids) return 0;
      for (const id of ids) {
        const s = sockets.get(id);
        if (!s) continue;
        n += 1;
        visit(s);
      }
      return n;
    }
    const skip = new Set<string>();
    for (const r of except) for (const id of members.get(r) ?? []) skip.add(id);
    for (const r of rooms) {
      for (const id of members.get(r) ?? []) {
        if (skip.has(id)) continue;
        skip.add(id);
        const s = sockets.get(id);
        if (!s) continue;
        n += 1;
        visit(s);
      }
    }
    return n;
  }
}
