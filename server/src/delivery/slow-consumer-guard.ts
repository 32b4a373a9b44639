import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import type { ConnectionManager } from '../realtime/connection-manager';
import { heldBytes } from './delivery-gate';
import type { PgSocket } from '../realtime/types';

/** What the guard reads of Engine.IO's connection: its packet queue and, over WebSocket, the ws socket. */
interface EngineConn {
  writeBuffer?: { data?: unknown }[];
  transport?: { socket?: { bufferedAmount?: number; terminate?: () => void } };
  close(discard?: boolean): void;
}

/**
 * Bytes written to a socket that its client has not taken yet: Engine.IO's queue of packets waiting
 * for the transport, plus, over WebSocket, what ws holds in user space once the kernel's send buffer
 * is full. A client that stops reading makes both grow with every push.
 */
export function bufferedBytes(socket: PgSocket): number {
  const conn = socket.conn as unknown as EngineConn;
  let n = conn.transport?.socket?.bufferedAmount ?? 0;
  const queue = conn.writeBuffer;
  if (queue) for (const p of queue) n += typeof p.data === 'string' ? p.data.length : p.data instanceof Uint8Array ? p.data.byteLength : 0;
  return n;
}

/**
 * Cuts the transport at once (a graceful close would wait for the very buffer that is not
 * draining): the client sees a transport close, reconnects, and recovers what it missed.
 */
export function cutTransport(socket: PgSocket): void {
  const conn = socket.conn as unknown as EngineConn;
  const ws = conn.transport?.socket;
  conn.close(true);
  // Frees the queued bytes now instead of after ws's close handshake times out.
  ws?.terminate?.();
}

/**
 * Disconnects sockets whose unsent data exceeds MAX_SOCKET_BUFFER_BYTES, so one client that stops
 * reading cannot grow the node's memory without bound while pushes continue. Live messages a
 * recovery holds back for a socket count too (heldBytes). The client sees a transport close,
 * reconnects, and recovers what it missed from history.
 */
export class SlowConsumerGuard {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: { connections: ConnectionManager; limitBytes: number; metrics: Metrics; logger: Logger; everyMs?: number },
  ) {}

  start(): void {
    if (this.deps.limitBytes <= 0 || this.timer) return;
    this.timer = setInterval(() => this.check(), this.deps.everyMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** @returns sockets disconnected by this pass. */
  check(): number {
    let cut = 0;
    for (const socket of this.deps.connections.all()) {
      const held = heldBytes(socket);
      const bytes = bufferedBytes(socket) + held;
      if (bytes <= this.deps.limitBytes) continue;
      cut += 1;
      this.deps.metrics.markSlowConsumer();
      this.deps.logger.warn('slow consumer: disconnecting a socket that stopped reading', { socketId: socket.id, userId: socket.data.userId, bufferedBytes: bytes, heldBytes: held, limitBytes: this.deps.limitBytes });
      cutTransport(socket);
    }
    return cut;
  }
}
