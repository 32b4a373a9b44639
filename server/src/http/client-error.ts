import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { errorEnvelope } from './envelope';

/**
 * Node's `clientError` listener: requests its own parser refuses (oversized headers, a broken
 * request line) never reach Express, so they are answered here, in the contract's envelope with an
 * `X-Request-Id`, and the connection is closed.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const requestId = randomUUID();
  const body = JSON.stringify(errorEnvelope(requestId, { code: 'BAD_REQUEST', message: tooLarge ? 'The request headers are too large' : 'The request is malformed' }));
  const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}
