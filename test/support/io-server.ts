import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type ServerOptions } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { PgServer, PgSocket } from '../../server/src/realtime/types';

/**
 * A plain Socket.IO server on 127.0.0.1, port 0, for tests of delivery parts without a whole node,
 * with jest hooks that disconnect the test's clients after each test and close the server at the
 * end. `clients` is where the test puts the clients it opens.
 */
export function ioServerForTests(opts: Partial<ServerOptions>, onConnection: (s: PgSocket) => void) {
  const rig = { io: null as unknown as PgServer, url: '', clients: [] as ClientSocket[] };
  beforeAll(async () => {
    const http = createServer();
    rig.io = new Server(http, opts) as PgServer;
    rig.io.on('connection', onConnection);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    rig.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterEach(() => {
    for (const c of rig.clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await new Promise<void>((r) => rig.io.close(() => r()));
  });
  return rig;
}
