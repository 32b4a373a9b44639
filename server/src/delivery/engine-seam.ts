import type { Socket as NetSocket } from 'node:net';
import type { PgSocket } from '../realtime/types';

/**
 * The one place where pushgate reaches below Socket.IO's public API, to write pre-framed bytes
 * straight to a socket's TCP connection. Everything it relies on is listed here and checked by
 * test/integration/engine-seam.test.ts against the installed versions; a Socket.IO, Engine.IO or
 * ws upgrade that changes any of it fails that test. At run time a socket whose objects do not
 * have the expected shape is simply written through Socket.IO (`viaEngine`), never guessed at.
 *
 * What it relies on (socket.io 4.8, engine.io 6.6, ws 8.18–8.21):
 *   - `socket.client.conn` is the Engine.IO socket: `readyState`, `writeBuffer` (packets waiting
 *     for the transport), `transport`;
 *   - its WebSocket transport has `name === 'websocket'` and `socket`, the ws WebSocket, whose
 *     `_socket` is the net.Socket, `_extensions` the negotiated extensions and `_sender` the
 *     frame writer with a `_queue` (frames held behind a compression) and `_state` (0: idle);
 *   - Engine.IO writes a packet to the transport as soon as it is queued unless an earlier write is
 *     still waiting (then it stays in `writeBuffer`), and ws's `sendFrame` writes to `_socket` at
 *     once. So when `writeBuffer` and `_queue` are empty, every earlier byte for this socket is
 *     already in the net.Socket, and a write there now lands after them, in order;
 *   - `socket.client.writeToEngine(encodedPackets, opts)` is where Socket.IO's broadcasts hand a
 *     socket its packets (the recovery gate wraps it: delivery-gate.ts), and it accepts
 *     `wsPreEncodedFrame`, a list of Buffers forming the whole WebSocket frame.
 */

/** Versions the seam was written and tested against (package.json pins them). */
export const SEAM_TESTED = { 'socket.io': '4.8.4', 'engine.io': '6.6.12', ws: '8.21.3' } as const;

/** ws' WebSocket.OPEN. */
const WS_OPEN = 1;

interface WsSender {
  _queue?: unknown[];
  _state?: number;
}
interface WsSocket {
  readyState?: number;
  _socket?: NetSocket | null;
  _sender?: WsSender | null;
  _extensions?: Record<string, unknown>;
}
interface EngineSocket {
  readyState?: string;
  writeBuffer?: unknown[];
  transport?: { name?: string; socket?: WsSocket };
}
interface EngineClient {
  conn?: EngineSocket;
  writeToEngine(packets: unknown, opts: unknown): void;
}

/**
 * The TCP connection a pre-framed WebSocket message may be written to right now, keeping order
 * with everything Socket.IO wrote to this socket before; null when the socket must go through
 * Socket.IO instead: not (yet) on WebSocket, upgrading, closing, with packets still waiting in
 * Engine.IO, with a compression extension negotiated (its frames must be compressed per socket and
 * queue in ws), or with the recovery gate installed (an own `writeToEngine` that holds live
 * packets while history is replayed).
 */
export function directSocket(socket: PgSocket): NetSocket | null {
  const client = socket.client as unknown as EngineClient;
  if (Object.prototype.hasOwnProperty.call(client, 'writeToEngine')) return null;
  const conn = client.conn;
  if (!conn || conn.readyState !== 'open' || conn.writeBuffer?.length !== 0) return null;
  const transport = conn.transport;
  if (!transport || transport.name !== 'websocket') return null;
  const ws = transport.socket;
  if (!ws || ws.readyState !== WS_OPEN) return null;
  const sender = ws._sender;
  if (!sender || sender._state !== 0 || sender._queue?.length !== 0) return null;
  if (ws._extensions && ws._extensions['permessage-deflate'] !== undefined) return null;
  const tcp = ws._socket;
  if (!tcp || !tcp.writable) return null;
  return tcp;
}

/**
 * Hands an encoded Socket.IO packet to a socket the way Socket.IO's own broadcast does: with its
 * pre-built WebSocket frame when it is one text packet, as is (with its binary attachments) otherwise.
 */
export function viaEngine(socket: PgSocket, packets: (string | Buffer)[], frame: Buffer | null): void {
  (socket.client as unknown as EngineClient).writeToEngine(packets, frame ? { preEncoded: true, wsPreEncodedFrame: [frame] } : { preEncoded: true });
}

/**
 * The whole WebSocket frame (RFC 6455, server to client: final, unmasked, text) carrying one
 * Engine.IO message packet ("4") whose content is `packet`, an encoded Socket.IO packet. One
 * allocation for header and payload: written as is to every recipient.
 */
export function engineMessageFrame(packet: string): Buffer {
  const payloadLength = Buffer.byteLength(packet) + 1;
  const header = payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + payloadLength);
  frame[0] = 0x81;
  if (header === 2) frame[1] = payloadLength;
  else if (header === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(payloadLength, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(payloadLength), 2);
  }
  frame[header] = 0x34; // "4": Engine.IO's message packet type
  frame.write(packet, header + 1, 'utf8');
  return frame;
}
