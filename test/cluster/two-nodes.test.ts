import request from 'supertest';
import { ADMIN_KEY, closeAllClients, connectClient, connectUser, emitAck, eventually, makeToken, nextEvent, startNode, type TestNode } from '../support/node';
import { REDIS_BACKENDS, testRedisUrl, uniquePrefix } from '../support/redis';

const auth = { Authorization: `Bearer ${ADMIN_KEY}` };

async function pair(env: Record<string, string> = {}): Promise<[TestNode, TestNode]> {
  const prefix = uniquePrefix('pair');
  const common = { REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix, ...env };
  return [await startNode({ ...common, NODE_ID: `${prefix}-a` }), await startNode({ ...common, NODE_ID: `${prefix}-b` })];
}

/** Two nodes on one Redis (own key prefix) for the enclosing describe; clients closed after each test. */
function usePair(env: Record<string, string> = {}): { a: TestNode; b: TestNode } {
  const n = {} as { a: TestNode; b: TestNode };
  beforeAll(async () => {
    [n.a, n.b] = await pair(env);
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await n.a?.stop();
    await n.b?.stop();
  });
  return n;
}

describe.each(REDIS_BACKENDS)('on %s', (_label, backend) => {
  describe('two nodes', () => {
    const n = usePair(backend());

    it('a push through node A reaches the user on node B, and counts sockets on both', async () => {
      const onB = await connectUser(n.b.url, 'alice');
      const onA = await connectUser(n.a.url, 'alice');
      const gotB = nextEvent(onB.socket, 'note');
      const gotA = nextEvent(onA.socket, 'note');
      const res = await request(n.a.url).post('/api/v1/push').set(auth).send({ users: ['alice'], event: 'note', data: { hi: 1 } }).expect(200);
      expect(res.body.data.recipients).toBe(2);
      expect((await gotB)[0]).toEqual({ hi: 1 });
      expect((await gotA)[0]).toEqual({ hi: 1 });
    });

    it('room membership and presence are seen from either node', async () => {
      const { socket, welcome } = await connectUser(n.b.url, 'bob', { rooms: ['game:*'] });
      await emitAck(socket, 'room:join', { room: 'game:7' });
      const room = await request(n.a.url).get('/api/v1/rooms/game:7').set(auth).expect(200);
      expect(room.body.data).toEqual({ room: 'game:7', sockets: 1, users: [{ userId: 'bob', sockets: 1 }] });
      const user = await request(n.a.url).get('/api/v1/users/bob').set(auth).expect(200);
      expect(user.body.data).toEqual({ userId: 'bob', online: true, sockets: [{ id: welcome.socketId, nodeId: n.b.config.nodeId, connectedAt: expect.any(Number), rooms: ['game:7'] }] });
      const list = await request(n.a.url).get('/api/v1/rooms?prefix=game:').set(auth).expect(200);
      expect(list.body.data.rooms).toEqual([{ room: 'game:7', sockets: 1, users: 1 }]);
    });

    it('PUT and DELETE members through node A move the user’s sockets on both nodes', async () => {
      const s1 = await connectUser(n.a.url, 'carol');
      const s2 = await connectUser(n.b.url, 'carol');
      const put = await request(n.a.url).put('/api/v1/rooms/team:x/members/carol').set(auth).expect(200);
      expect(put.body.data).toEqual({ room: 'team:x', userId: 'carol', sockets: 2 });
      expect((await request(n.b.url).get('/api/v1/rooms/team:x').set(auth).expect(200)).body.data.sockets).toBe(2);
      const got = [nextEvent(s1.socket, 'hello'), nextEvent(s2.socket, 'hello')];
      const res = await request(n.b.url).post('/api/v1/rooms/team:x/broadcast').set(auth).send({ event: 'hello', data: 'x' }).expect(200);
      expect(res.body.data.recipients).toBe(2);
      await Promise.all(got);
      const del = await request(n.b.url).delete('/api/v1/rooms/team:x/members/carol').set(auth).expect(200);
      expect(del.body.data.sockets).toBe(2);
      await request(n.a.url).get('/api/v1/rooms/team:x').set(auth).expect(404);
    });

    it('DELETE /users/:id/connections disconnects the user on every node', async () => {
      const s1 = await connectUser(n.a.url, 'dave');
      const s2 = await connectUser(n.b.url, 'dave');
      const gone = [nextEvent(s1.socket, 'disconnect'), nextEvent(s2.socket, 'disconnect')];
      const res = await request(n.b.url).delete('/api/v1/users/dave/connections').set(auth).expect(200);
      expect(res.body.data).toEqual({ userId: 'dave', disconnected: 2 });
      await Promise.all(gone);
      await eventually(async () => (await request(n.a.url).get('/api/v1/users/dave').set(auth)).body.data.online === false);
    });

    it('a message id is delivered once cluster-wide, whichever node the retry reaches', async () => {
      const { socket } = await connectUser(n.b.url, 'erin');
      const received: unknown[] = [];
      socket.on('once', (d) => received.push(d));
      const first = await request(n.a.url).post('/api/v1/push').set(auth).send({ id: 'retry-1', users: ['erin'], event: 'once', data: 1 }).expect(200);
      const second = await request(n.b.url).post('/api/v1/push').set(auth).send({ id: 'retry-1', users: ['erin'], event: 'once', data: 1 }).expect(200);
      expect(second.body.data).toEqual(first.body.data);
      // A later, different message proves the earlier ones had their chance to arrive.
      const marker = nextEvent(socket, 'marker');
      await request(n.a.url).post('/api/v1/push').set(auth).send({ users: ['erin'], event: 'marker', data: 0 }).expect(200);
      await marker;
      expect(received).toEqual([1]);
    });

    it('a push to socket ids reaches exactly those sockets on either node, each once, alone or with a user', async () => {
      const one = await connectUser(n.b.url, 'sid-user');
      const two = await connectUser(n.b.url, 'sid-user');
      const far = await connectUser(n.a.url, 'sid-far');
      const got = new Map<string, unknown[]>();
      for (const [name, c] of [['one', one], ['two', two], ['far', far]] as const) {
        got.set(name, []);
        c.socket.on('direct', (d: unknown) => got.get(name)!.push(d));
      }
      const ids = [one.welcome.socketId, far.welcome.socketId];
      const alone = await request(n.a.url).post('/api/v1/push').set(auth).send({ socketIds: [...ids, 'no-such-socket'], event: 'direct', data: 1 }).expect(200);
      expect(alone.body.data.recipients).toBe(2);
      // With the user: `one` is both a socket id and the user's socket, and still counted and reached once.
      const mixed = await request(n.b.url).post('/api/v1/push').set(auth).send({ socketIds: ids, users: ['sid-user'], event: 'direct', data: 2 }).expect(200);
      expect(mixed.body.data.recipients).toBe(3);
      // A last push to every one of them: what was going to arrive has arrived before it.
      await request(n.a.url).post('/api/v1/push').set(auth).send({ users: ['sid-user', 'sid-far'], event: 'direct', data: 3 }).expect(200);
      await eventually(async () => [...got.values()].every((g) => g.includes(3)));
      expect(Object.fromEntries(got)).toEqual({ one: [1, 2, 3], two: [2, 3], far: [1, 2, 3] });
    });

    it('GET /status lists both nodes and cluster-wide totals', async () => {
      await connectUser(n.a.url, 'frank');
      await connectUser(n.b.url, 'grace');
      const res = await eventually(async () => {
        const r = await request(n.a.url).get('/api/v1/status').set(auth).expect(200);
        return r.body.data.nodes.filter((n: { alive: boolean }) => n.alive).length === 2 ? r : null;
      });
      const ids = res.body.data.nodes.map((n: { id: string }) => n.id);
      expect(ids).toEqual(expect.arrayContaining([n.a.config.nodeId, n.b.config.nodeId]));
      expect(res.body.data.totals.nodes).toBe(2);
      expect(res.body.data.totals.connections).toBeGreaterThanOrEqual(2);
    });
  });

  describe('RATE_LIMIT_CONNECTIONS is counted cluster-wide', () => {
    const n = usePair({ ...backend(), RATE_LIMIT_CONNECTIONS: '3' });

    it('refuses the 4th connection from one address whichever node it reaches', async () => {
      await connectUser(n.a.url, 'u1');
      await connectUser(n.b.url, 'u2');
      await connectUser(n.a.url, 'u3');
      const s = connectClient(n.b.url, { token: makeToken({ sub: 'u4' }) });
      const err = await new Promise<Error & { data?: { code: string } }>((resolve) => s.once('connect_error', resolve));
      expect(err.message).toBe('RATE_LIMITED');
      expect(err.data?.code).toBe('RATE_LIMITED');
    });
  });
});

describe('the sharded adapter (REDIS_SHARDED=true, SSUBSCRIBE) on a real Redis 7', () => {
  const n = usePair({ REDIS_SHARDED: 'true' });

  it('carries pushes, cluster-wide membership changes and disconnects between nodes', async () => {
    const onB = await connectUser(n.b.url, 'sharded-user');
    const got = nextEvent(onB.socket, 'note');
    const res = await request(n.a.url).post('/api/v1/push').set(auth).send({ users: ['sharded-user'], event: 'note', data: 's' }).expect(200);
    expect(res.body.data.recipients).toBe(1);
    expect((await got)[0]).toBe('s');

    // Server-side commands (serverSideEmitWithAck) cross over the sharded channels too.
    const put = await request(n.a.url).put('/api/v1/rooms/shard:1/members/sharded-user').set(auth).expect(200);
    expect(put.body.data.sockets).toBe(1);
    const inRoom = nextEvent(onB.socket, 'room-note');
    await request(n.a.url).post('/api/v1/rooms/shard:1/broadcast').set(auth).send({ event: 'room-note', data: 'r' }).expect(200);
    expect((await inRoom)[1]).toEqual(expect.objectContaining({ room: 'shard:1' }));

    const gone = nextEvent(onB.socket, 'disconnect');
    const del = await request(n.a.url).delete('/api/v1/users/sharded-user/connections').set(auth).expect(200);
    expect(del.body.data.disconnected).toBe(1);
    await gone;
  });
});
