import type { Offset, Stream } from '../contracts/socket-events';
import { parseOffset } from '../cluster/history-store';
import type { PgSocket } from '../realtime/types';

type Write = (packets: unknown, opts: unknown) => void;
interface EngineWriter {
  writeToEngine: Write;
  /** Set by a gate while it is installed: the bytes of the live packets it holds. */
  pushgateHeldBytes?: number;
}

/**
 * Bytes of live packets a recovery's gate holds back for this socket (0 when none). They are this
 * socket's unsent data as much as Engine.IO's queue is, so the slow-consumer guard counts them: a
 * long replay under heavy live traffic cannot grow the node's memory past MAX_SOCKET_BUFFER_BYTES
 * per socket. Kept on the Engine.IO client next to the patched writeToEngine, so the guard needs
 * no reference to the gates.
 */
export function heldBytes(socket: PgSocket): number {
  return (socket.client as unknown as EngineWriter).pushgateHeldBytes ?? 0;
}

/** The size of what Socket.IO hands to Engine.IO in one write: one or more encoded packets. */
function packetBytes(packets: unknown): number {
  if (typeof packets === 'string') return packets.length;
  if (packets instanceof Uint8Array) return packets.byteLength;
  if (Array.isArray(packets)) return packets.reduce((n: number, p) => n + packetBytes(p), 0);
  return 0;
}

/**
 * How long after a replay live copies of replayed messages are still looked for. A message is kept
 * in history before it is published, so its live copy can reach a node after that node read the
 * history for a recovering socket; it arrives within the pub/sub delay, far below this.
 */
export const REPLAY_OVERLAP_MS = 10_000;

/**
 * Holds everything written to one socket while its missed messages are replayed, so no live
 * message overtakes a replayed one. The socket joins its rooms first (live messages start flowing
 * and are held), history is read after that (it holds everything published before the read), the
 * replay goes out, then the held packets follow, minus those the replay already carried. After that
 * the gate stays open but keeps dropping late live copies of replayed messages, per stream until the
 * first newer message of that stream passes (a publisher's messages arrive in order) or
 * REPLAY_OVERLAP_MS, whichever comes first.
 *
 * Live broadcasts reach a socket through its Engine.IO client's `writeToEngine` (Socket.IO's
 * adapters call it directly), so that is where they are held; the recovery tests fail if a
 * Socket.IO upgrade changes this path.
 */
export class DeliveryGate {
  private holds = 0;
  private passing = false;
  private installed = false;
  private queue: [unknown, unknown][] = [];
  /** Per stream, the last replayed offset: a live message at or below it was replayed. */
  private readonly replayed = new Map<Stream, { epoch: string; seq: number }>();
  private overlapTimer: NodeJS.Timeout | null = null;

  /** @param done called once the gate has taken itself off the socket (its owner forgets it then). */
  constructor(
    private readonly socket: PgSocket,
    private readonly done: () => void,
  ) {}

  hold(): void {
    this.holds += 1;
    this.install();
  }

  /** Runs `emit` past the gate (the welcome, the replay, the recovered report). */
  pass(emit: () => void): void {
    if (!this.installed) return emit();
    this.passing = true;
    try {
      emit();
    } finally {
      this.passing = false;
    }
  }

  markReplayed(stream: Stream, offset: Offset): void {
    const o = parseOffset(offset);
    if (o) this.replayed.set(stream, o);
  }

  /** Ends one hold; the last one sends the held packets in order, then only filters replayed copies. */
  release(): void {
    if (this.holds === 0 || --this.holds > 0) return;
    const queue = this.queue;
    this.queue = [];
    this.client().pushgateHeldBytes = 0;
    if (this.socket.connected) for (const [packets, opts] of queue) this.forward(packets, opts);
    if (this.replayed.size === 0 || !this.socket.connected) return this.uninstall();
    if (this.overlapTimer) clearTimeout(this.overlapTimer);
    this.overlapTimer = setTimeout(() => this.uninstall(), REPLAY_OVERLAP_MS);
    this.overlapTimer.unref();
  }

  private install(): void {
    if (this.installed) return;
    this.installed = true;
    const client = this.client();
    const original = client.writeToEngine;
    this.write = (packets, opts) => original.call(client, packets, opts);
    client.pushgateHeldBytes = 0;
    client.writeToEngine = (packets, opts) => {
      if (this.passing) this.write(packets, opts);
      else if (this.holds > 0) {
        this.queue.push([packets, opts]);
        client.pushgateHeldBytes! += packetBytes(packets);
      } else this.forward(packets, opts);
    };
  }

  private client(): EngineWriter {
    return this.socket.client as unknown as EngineWriter;
  }

  private uninstall(): void {
    if (this.holds > 0 || !this.installed) return;
    if (this.overlapTimer) clearTimeout(this.overlapTimer);
    this.overlapTimer = null;
    this.installed = false;
    // The own property goes; the prototype's method shows through again.
    delete (this.socket.client as unknown as Partial<EngineWriter>).writeToEngine;
    delete this.client().pushgateHeldBytes;
    this.replayed.clear();
    this.done();
  }

  private write: Write = () => undefined;

  /** Sends a live packet unless the replay already carried it. */
  private forward(packets: unknown, opts: unknown): void {
    if (this.replayed.size > 0) {
      const meta = peekMeta(packets);
      const done = meta && this.replayed.get(meta.stream);
      const o = done && parseOffset(meta.offset);
      if (done && o && o.epoch === done.epoch) {
        if (o.seq <= done.seq) return;
        // A newer message of the stream: its publisher's older ones have all arrived.
        this.replayed.delete(meta.stream);
        if (this.replayed.size === 0 && this.holds === 0) {
          this.write(packets, opts);
          return this.uninstall();
        }
      }
    }
    this.write(packets, opts);
  }
}

/**
 * The meta argument of an encoded event packet (`2[...]`, `2<ackId>[...]`, or `5<n>-[...]` with
 * binary attachments), when it names a stream. Only held packets are parsed, only during a recovery.
 */
function peekMeta(packets: unknown): { stream: Stream; offset: Offset } | null {
  const head = Array.isArray(packets) ? packets[0] : packets;
  if (typeof head !== 'string' || (head[0] !== '2' && head[0] !== '5')) return null;
  const at = head.indexOf('[');
  if (at < 0) return null;
  try {
    const args = JSON.parse(head.slice(at)) as unknown[];
    const meta = args[args.length - 1] as { stream?: unknown; offset?: unknown } | null;
    if (meta && typeof meta === 'object' && typeof meta.stream === 'string' && typeof meta.offset === 'string') return { stream: meta.stream, offset: meta.offset };
  } catch {
    /* not JSON we wrote */
  }
  return null;
}
