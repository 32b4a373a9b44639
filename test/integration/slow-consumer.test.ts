import request from 'supertest';
import type { Socket as ClientSocket } from 'socket.io-client';
import { ADMIN_KEY, closeAllClients, connectUser, emitAck, eventually, startNode, type TestNode } from '../support/node';

/** The TCP socket under a socket.io-client WebSocket transport (engine.io-client → ws → net.Socket). */
function tcpOf(socket: ClientSocket): { pause(): void; resume(): void } {
  const transport = socket.io.engine.transport as unknown as { ws: { _socket: { pause(): void; resume(): void } } };
  return transport.ws._socket;
}

describe('a client that stops reading while pushes continue', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ MAX_SOCKET_BUFFER_BYTES: String(1024 * 1024), HISTORY_SIZE: '10' });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('is disconnected once its unsent data passes MAX_SOCKET_BUFFER_BYTES; the others get every message', async () => {
    const healthy = await connectUser(node.url, 'reader', { rooms: ['big:*'] });
    const slow = await connectUser(node.url, 'stalled', { rooms: ['big:*'] });
    for (const c of [healthy, slow]) await emitAck(c.socket, 'room:join', { room: 'big:1' });
    let received = 0;
    healthy.socket.on('chunk', () => (received += 1));
    tcpOf(slow.socket).pause();

    const payload = 'x'.repeat(64 * 1024);
    let sent = 0;
    // Far more than the loopback socket buffers can absorb; stops as soon as the node gave up on the slow client.
    while (sent < 2000) {
      await request(node.url).post('/api/v1/rooms/big:1/broadcast').set('Authorization', `Bearer ${ADMIN_KEY}`).send({ event: 'chunk', data: payload }).expect(200);
      sent += 1;
      if (sent % 20 === 0 && !(await request(node.url).get('/api/v1/users/stalled').set('Authorization', `Bearer ${ADMIN_KEY}`)).body.data.online) break;
    }
    expect(sent).toBeLessThan(2000);
    const metrics = (await request(node.url).get('/metrics')).text;
    expect(metrics).toMatch(/^pushgate_slow_consumer_disconnects_total\{node="[^"]+"\} 1$/m);
    expect(node.logs).toContainEqual(expect.objectContaining({ level: 'warn', message: expect.stringMatching(/^slow consumer/), userId: 'stalled', socketId: slow.welcome.socketId }));
    await eventually(() => received === sent);

    // Once it reads again, the client learns that its connection is gone.
    const gone = new Promise<string>((resolve) => slow.socket.once('disconnect', resolve));
    tcpOf(slow.socket).resume();
    expect(await gone).toBe('transport close');
    expect(healthy.socket.connected).toBe(true);
  });
});
