import type { Offset, Stream } from '../contracts/socket-events';
import { parseOffset } from '../cluster/history-store';
import type { PgSocket } from './types';

type Write = (packets: unknown, opts: unknown) => void;
interface EngineWriter {
  writeToEngine: Write;
}

const gates = new WeakMap<PgSocket, DeliveryGate>();

/**
 * Holds everything written to one socket while its missed messages are replayed, so no live
 * message overtakes a replayed one. The socket joins its rooms first (live messages start flowing
 * and are held), history is read after that (it holds everything published before the read), the
 * replay goes out, then the held packets follow, minus those the replay already carried.
 *
 * Live broadcasts reach a socket through its Engine.IO client's `writeToEngine` (Socket.IO's
 * adapters call it directly), so that is where they are held; the recovery tests fail if a
 * Socket.IO upgrade changes this path.
 */
export class DeliveryGate {
  private holds = 0;
  private passing = false;
  private queue: [unknown, unknown][] = [];
  /** Per stream, the last replayed offset: a held live message at or below it was replayed. */
  private readonly replayed = new Map<Stream, { epoch: string; seq: number }>();

  private constructor(private readonly socket: PgSocket) {}

  static of(socket: PgSocket): DeliveryGate {
    let gate = gates.get(socket);
    if (!gate) gates.set(socket, (gate = new DeliveryGate(socket)));
    return gate;
  }

  hold(): void {
    if (this.holds++ > 0) return;
    const client = this.socket.client as unknown as EngineWriter;
    const original = client.writeToEngine;
    client.writeToEngine = (packets, opts) => {
      if (this.passing) original.call(client, packets, opts);
      else this.queue.push([packets, opts]);
    };
  }

  /** Runs `emit` past the gate (the welcome, the replay, the recovered report). */
  pass(emit: () => void): void {
    if (this.holds === 0) return emit();
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

  /** Ends one hold; the last one sends the held packets in order and restores the direct path. */
  release(): void {
    if (this.holds === 0 || --this.holds > 0) return;
    const client = this.socket.client as unknown as Partial<EngineWriter>;
    // The own property goes; the prototype's method shows through again.
    delete client.writeToEngine;
    const queue = this.queue;
    this.queue = [];
    if (this.socket.connected) {
      for (const [packets, opts] of queue) if (!this.alreadyReplayed(packets)) client.writeToEngine!(packets, opts);
    }
    this.replayed.clear();
    gates.delete(this.socket);
  }

  private alreadyReplayed(packets: unknown): boolean {
    if (this.replayed.size === 0) return false;
    const meta = peekMeta(packets);
    if (!meta) return false;
    const done = this.replayed.get(meta.stream);
    const o = parseOffset(meta.offset);
    return done !== undefined && o !== null && o.epoch === done.epoch && o.seq <= done.seq;
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
