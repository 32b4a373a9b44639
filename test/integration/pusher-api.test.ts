import Pusher from 'pusher';
import { closeAllClients, connectUser, emitAck, eventually, startNode, type TestNode } from '../support/node';
import { testRedisUrl, uniquePrefix } from '../support/redis';

/*
 * Pusher's HTTP API (PUSHER_APP), driven by the official `pusher` library exactly as a backend
 * would, against one node in memory and two nodes on Redis; plain socket.io-client sockets receive.
 */

const APP = { id: '4242', key: 'pg-app-key', secret: 'pg-app-secret-0123456789abcdef' };
const PUSHER_APP = `${APP.id}:${APP.key}:${APP.secret}`;

function backend(node: TestNode, over: Partial<{ appId: string; key: string; secret: string }> = {}): Pusher {
  return new Pusher({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(node.port), useTLS: false, ...over });
}

/** Every event a socket receives, as [event, data, meta]. */
function recordAll(socket: ReturnType<typeof connectUser> extends Promise<infer C> ? C extends { socket: infer S } ? S : never : never): unknown[][] {
  const got: unknown[][] = [];
  socket.onAny((event: string, ...args: unknown[]) => got.push([event, ...args]));
  return got;
}

/** A body for pusher.post(): its types say string, but it JSON-encodes whatever it is given. */
const raw = (body: unknown) => body as string;

const statusOf = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (err: { status?: number }) => err.status ?? -1,
  );

describe.each([
  ['one node in memory', () => ({})],
  ['two nodes on Redis', () => ({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('pusher') })],
])('Pusher HTTP API (%s)', (label, env) => {
  let a: TestNode;
  let b: TestNode;
  beforeAll(async () => {
    const common = { ...env(), PUSHER_APP };
    a = await startNode({ ...common, NODE_ID: 'pa' });
    b = label.startsWith('two') ? await startNode({ ...common, NODE_ID: 'pb' }) : a;
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await a.stop();
    if (b !== a) await b.stop();
  });

  it('a cache- channel hands a joining socket its last event first; other rooms hand over nothing', async () => {
    const pusher = backend(a);
    const channel = `cache-prices-${label.length}`;
    await pusher.trigger(channel, 'price', { v: 1 });
    await pusher.trigger(channel, 'price', { v: 2 });
    await pusher.trigger('private-plain', 'price', { v: 3 });
    const late = await connectUser(b.url, 'pu-cache', { rooms: ['*'] });
    const got = recordAll(late.socket);
    const joined = await emitAck<{ ok: boolean; data: { room: string; offset: string } }>(late.socket, 'room:join', { room: channel });
    expect(joined.data.room).toBe(channel);
    await emitAck(late.socket, 'room:join', { room: 'private-plain' });
    await pusher.trigger(channel, 'price', { v: 4 });
    await eventually(() => got.filter(([e]) => e === 'price').length === 2);
    const prices = got.filter(([e]) => e === 'price');
    expect(prices.map(([, d]) => d)).toEqual([{ v: 2 }, { v: 4 }]);
    expect(prices[0]![2]).toMatchObject({ room: channel, stream: channel, offset: joined.data.offset });
    // Joining again (already a member) replays nothing.
    await emitAck(late.socket, 'room:join', { room: channel });
    await pusher.trigger(channel, 'price', { v: 5 });
    await eventually(() => got.filter(([e]) => e === 'price').length === 3);
    expect(got.filter(([e]) => e === 'price').map(([, d]) => d)).toEqual([{ v: 2 }, { v: 4 }, { v: 5 }]);
  });

  it('trigger, with channels and socket_id, and triggerBatch reach the sockets in those rooms, data parsed, once each', async () => {
    const one = await connectUser(b.url, 'pu-1', { rooms: ['*'] });
    const two = await connectUser(b.url, 'pu-2', { rooms: ['*'] });
    for (const s of [one, two]) await emitAck(s.socket, 'room:join', { room: 'presence-lobby' });
    await emitAck(one.socket, 'room:join', { room: 'private-news' });
    const gotOne = recordAll(one.socket);
    const gotTwo = recordAll(two.socket);
    const pusher = backend(a);
    const res = await pusher.trigger('presence-lobby', 'hello', { text: 'hi' });
    expect(res.status).toBe(200);
    // To two channels, one socket in both: it gets the event once. socket_id leaves out the sender,
    // given in the Pusher form of the welcome (the library refuses any other form).
    expect(two.welcome.pusherSocketId).toMatch(/^\d+\.\d+$/);
    await pusher.trigger(['presence-lobby', 'private-news'], 'both', { n: 2 }, { socket_id: two.welcome.pusherSocketId });
    // The Socket.IO id itself is accepted too, by a request that does not check the form.
    await pusher.post({ path: '/events', body: raw({ name: 'both', data: JSON.stringify({ n: 2.5 }), channel: 'presence-lobby', socket_id: two.welcome.socketId }) });
    await pusher.triggerBatch([
      { channel: 'private-news', name: 'batched', data: 'plain text' },
      { channel: 'presence-lobby', name: 'batched', data: { n: 3 } },
    ]);
    await eventually(async () => gotOne.filter(([e]) => e === 'batched').length === 2 && gotTwo.some(([e]) => e === 'batched'));
    const names = (got: unknown[][]) => got.filter(([e]) => e !== 'presence:join' && e !== 'presence:leave').map(([e, d]) => [e, d]);
    expect(names(gotOne)).toEqual([
      ['hello', { text: 'hi' }],
      ['both', { n: 2 }],
      ['both', { n: 2.5 }],
      ['batched', 'plain text'],
      ['batched', { n: 3 }],
    ]);
    expect(names(gotTwo)).toEqual([
      ['hello', { text: 'hi' }],
      ['batched', { n: 3 }],
    ]);
    // The usual meta: the room, and an offset in its stream (history and recovery work for these pushes).
    expect(gotOne[0]![2]).toMatchObject({ room: 'presence-lobby', stream: 'presence-lobby', offset: expect.any(String) });
  });

  it('answers info on /events and lists channels, a channel, its users; terminate_connections disconnects the user', async () => {
    const one = await connectUser(b.url, 'pi-1', { rooms: ['*'] });
    const two = await connectUser(a.url, 'pi-2', { rooms: ['*'] });
    const again = await connectUser(a.url, 'pi-1', { rooms: ['*'] });
    for (const s of [one, two, again]) await emitAck(s.socket, 'room:join', { room: 'presence-info' });
    const pusher = backend(a);
    const info = await pusher.trigger('presence-info', 'e', {}, { info: 'user_count,subscription_count' });
    expect(await info.json()).toEqual({ channels: { 'presence-info': { user_count: 2, subscription_count: 3 } } });
    const list = await (await pusher.get({ path: '/channels', params: { filter_by_prefix: 'presence-info', info: 'user_count' } })).json();
    expect(list).toEqual({ channels: { 'presence-info': { user_count: 2 } } });
    const channel = await (await pusher.get({ path: '/channels/presence-info', params: { info: 'user_count,subscription_count' } })).json();
    expect(channel).toEqual({ occupied: true, user_count: 2, subscription_count: 3 });
    expect(await (await pusher.get({ path: '/channels/presence-nobody' })).json()).toEqual({ occupied: false });
    const users = await (await pusher.get({ path: '/channels/presence-info/users' })).json();
    expect(users).toEqual({ users: [{ id: 'pi-1' }, { id: 'pi-2' }] });
    const gone = [one, again].map((s) => new Promise((r) => s.socket.once('disconnect', r)));
    await pusher.terminateUserConnections('pi-1');
    await Promise.all(gone);
    expect(two.socket.connected).toBe(true);
  });

  it('refuses with Pusher’s codes, and delivers nothing refused: wrong key or secret, unknown app, oversize data, too many channels, bad names', async () => {
    const s = await connectUser(b.url, 'pr-1', { rooms: ['*'] });
    await emitAck(s.socket, 'room:join', { room: 'refused' });
    const got = recordAll(s.socket);
    const good = backend(a);
    const codes = {
      wrongSecret: await statusOf(backend(a, { secret: 'not-the-secret' }).trigger('refused', 'no', {})),
      wrongKey: await statusOf(backend(a, { key: 'not-the-key' }).trigger('refused', 'no', {})),
      unknownApp: await statusOf(backend(a, { appId: '999' }).trigger('refused', 'no', {})),
      oversize: await statusOf(good.trigger('refused', 'no', 'x'.repeat(10 * 1024 + 1))),
      tooManyChannels: await statusOf(good.post({ path: '/events', body: raw({ name: 'no', data: '{}', channels: Array.from({ length: 101 }, (_, i) => `c${i}`) }) })),
      badChannel: await statusOf(good.post({ path: '/events', body: raw({ name: 'no', data: '{}', channel: 'bad name' }) })),
      dataNotString: await statusOf(good.post({ path: '/events', body: raw({ name: 'no', data: { x: 1 }, channel: 'refused' }) })),
      userCountNotPresence: await statusOf(good.get({ path: '/channels/refused', params: { info: 'user_count' } })),
    };
    expect(codes).toEqual({ wrongSecret: 401, wrongKey: 401, unknownApp: 404, oversize: 413, tooManyChannels: 400, badChannel: 400, dataNotString: 400, userCountNotPresence: 400 });
    await good.trigger('refused', 'yes', { last: true });
    await eventually(async () => got.some(([e]) => e === 'yes'));
    expect(got.map(([e]) => e)).toEqual(['yes']);
  });
});
