import { Agent } from 'node:http';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import { NginxProcess } from '../support/nginx';
import { ADMIN_KEY, PUSH_KEY, eventually, makeToken, nextEvent } from '../support/node';
import { ProcessNode } from '../support/process-node';
import { RedisServer } from '../support/redis-server';
import { uniquePrefix } from '../support/redis';

// docker-compose.yml's topology with real processes on loopback: one Redis, three nodes started
// as in the compose file (NODE_ID each, one REDIS_URL and prefix, TRUST_PROXY=1 for the one
// nginx hop), and Debian's nginx running the shipped deploy/nginx/nginx.conf in front of them.
// Clients connect through nginx with socket.io-client's default transports. Each client sends
// from its own loopback address (127.0.0.N), so nginx's `hash $remote_addr consistent` spreads
// them over the nodes the way it spreads real client addresses.

jest.setTimeout(60000);

interface Client {
  socket: ClientSocket;
  agent: Agent;
  user: string;
  address: string;
  nodeId: string;
  /** Transport when the engine opened, and after the upgrade (if any). */
  openedOn: string;
  upgraded: Promise<string>;
}

let redis: RedisServer;
let nodes: ProcessNode[] = [];
let nginx: NginxProcess;
const clients: Client[] = [];

/** A client bound to `address` on loopback, through nginx, default transports unless `polling`. */
async function connect(address: string, user: string, opts: { pollingOnly?: boolean; spoofForwardedFor?: string } = {}): Promise<Client> {
  const agent = new Agent({ localAddress: address });
  const socket = ioClient(nginx.url, {
    auth: { token: makeToken({ sub: user, rooms: ['news'] }) },
    reconnection: false,
    forceNew: true,
    ...(opts.pollingOnly ? { transports: ['polling'] } : {}),
    // engine.io-client hands `agent` to its XHR (polling) and ws transports; its type says string.
    agent: agent as unknown as string,
    localAddress: address,
    ...(opts.spoofForwardedFor ? { extraHeaders: { 'X-Forwarded-For': opts.spoofForwardedFor } } : {}),
  } as Parameters<typeof ioClient>[1]);
  let openedOn = '';
  let upgraded!: Promise<string>;
  socket.io.once('open', () => {
    const engine = socket.io.engine;
    openedOn = engine.transport.name;
    if (opts.pollingOnly) {
      upgraded = Promise.resolve('none');
      return;
    }
    upgraded = new Promise((resolve, reject) => {
      // Bounded so a config without the Upgrade headers fails with a message instead of hanging.
      const timer = setTimeout(() => reject(new Error(`${address}: no upgrade to WebSocket through nginx within 10 s`)), 10000);
      engine.once('upgrade', (t: { name: string }) => {
        clearTimeout(timer);
        resolve(t.name);
      });
      engine.once('upgradeError', (err: Error) => {
        clearTimeout(timer);
        reject(new Error(`${address}: WebSocket upgrade through nginx failed: ${err.message}`));
      });
    });
    upgraded.catch(() => undefined);
  });
  const client: Client = { socket, agent, user, address, nodeId: '', openedOn: '', upgraded: Promise.resolve('') };
  clients.push(client);
  const [welcome] = await new Promise<[{ nodeId: string; userId: string }]>((resolve, reject) => {
    socket.once('welcome', (w: { nodeId: string; userId: string }) => resolve([w]));
    socket.once('connect_error', (err) => reject(new Error(`${address} could not connect through nginx: ${err.message}\n${nginx.output()}`)));
  });
  client.nodeId = welcome.nodeId;
  client.openedOn = openedOn;
  client.upgraded = upgraded;
  return client;
}

async function api(base: string, method: string, path: string, body?: unknown, key = PUSH_KEY) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { success: boolean; data: Record<string, unknown> } };
}

beforeAll(async () => {
  redis = await RedisServer.start();
  const prefix = uniquePrefix('nginx');
  nodes = await Promise.all(
    ['node-1', 'node-2', 'node-3'].map((id) => ProcessNode.start({ REDIS_URL: redis.url, REDIS_PREFIX: prefix, NODE_ID: id, TRUST_PROXY: '1' })),
  );
  await Promise.all(nodes.map((n) => eventually(() => fetch(`${n.url}/health/ready`).then((r) => r.ok))));
  nginx = await NginxProcess.start(nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
});

afterAll(async () => {
  for (const c of clients) c.socket.disconnect();
  for (const c of clients) c.agent.destroy();
  await nginx?.stop();
  await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
  await redis?.destroy();
});

test('the shipped nginx.conf proxies the API and health checks and keeps /metrics private', async () => {
  const ready = await fetch(`${nginx.url}/health/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ status: 'ok' });

  const status = await api(nginx.url, 'GET', '/status', undefined, ADMIN_KEY);
  expect(status.status).toBe(200);
  const ids = (status.body.data.nodes as { id: string }[]).map((n) => n.id).sort();
  expect(ids).toEqual(['node-1', 'node-2', 'node-3']);

  expect((await fetch(`${nginx.url}/metrics`)).status).toBe(404);
  // ...while every node's own /metrics (what Prometheus scrapes) answers.
  for (const n of nodes) {
    const text = await (await fetch(`${n.url}/metrics`)).text();
    expect(text).toContain('pushgate_connected_sockets');
  }
});

test('default clients from many addresses connect through nginx, start on long-polling, upgrade to WebSocket, and reach every node', async () => {
  // Each address hashes to one node; add addresses until every node has clients (a handful
  // suffice; 40 without covering three nodes would mean nginx is not spreading by address).
  const seen = new Set<string>();
  for (let i = 2; seen.size < 3 && i < 42; i++) {
    const c = await connect(`127.0.0.${i}`, `u${i}`);
    seen.add(c.nodeId);
  }
  expect([...seen].sort()).toEqual(['node-1', 'node-2', 'node-3']);

  for (const c of clients) {
    expect(c.openedOn).toBe('polling');
    expect(await c.upgraded).toBe('websocket');
    expect(c.socket.io.engine.transport.name).toBe('websocket');
  }
});

test('the same address always lands on the same node (sticky), and nodes see the client address nginx saw', async () => {
  const first = clients[0]!;
  const again = await connect(first.address, `${first.user}-again`);
  expect(again.nodeId).toBe(first.nodeId);

  // A client that writes its own X-Forwarded-For: with TRUST_PROXY=1 the node believes only the
  // hop nginx appended, so the address is still the real one.
  const spoofer = await connect('127.0.0.200', 'spoofer', { spoofForwardedFor: '203.0.113.9' });
  for (const c of [first, again, spoofer]) {
    const res = await api(nginx.url, 'GET', `/admin/connections?userId=${c.user}&reveal=true`, undefined, ADMIN_KEY);
    expect(res.status).toBe(200);
    const sockets = res.body.data.sockets as { nodeId: string; address: string }[];
    expect(sockets).toHaveLength(1);
    expect(sockets[0]).toMatchObject({ nodeId: c.nodeId, address: c.address });
  }
});

test('a long-polling-only client works through nginx', async () => {
  const poller = await connect('127.0.0.201', 'poller', { pollingOnly: true });
  expect(poller.openedOn).toBe('polling');
  // Several polling round trips (each a separate HTTP request through nginx) carry the ack.
  for (let i = 0; i < 3; i++) {
    const ack = (await poller.socket.timeout(10000).emitWithAck('room:join', { room: 'news' })) as { ok: boolean };
    expect(ack.ok).toBe(true);
  }
  expect(poller.socket.io.engine.transport.name).toBe('polling');
});

test('pushes through each node directly and through nginx reach every client, whichever node it is on', async () => {
  const users = clients.map((c) => c.user);
  const targets = [...nodes.map((n, i) => ({ via: `node-${i + 1}`, url: n.url })), { via: 'nginx', url: nginx.url }];
  for (const { via, url } of targets) {
    const received = clients.map((c) => nextEvent<[{ via: string }, { id: string }]>(c.socket, 'deploy:ping', 10000));
    const res = await api(url, 'POST', '/push', { users, event: 'deploy:ping', data: { via } });
    expect(res.status).toBe(200);
    expect(res.body.data.recipients).toBe(clients.length);
    const got = await Promise.all(received);
    for (const [data, meta] of got) {
      expect(data).toEqual({ via });
      expect(meta.id).toBe(res.body.data.id);
    }
  }

  // A room every client joined through nginx (acks travel back through it), broadcast through nginx.
  await Promise.all(
    clients.map(async (c) => {
      const ack = (await c.socket.timeout(10000).emitWithAck('room:join', { room: 'news' })) as { ok: boolean };
      expect(ack.ok).toBe(true);
    }),
  );
  const received = clients.map((c) => nextEvent<[{ headline: string }, { room?: string }]>(c.socket, 'news:flash', 10000));
  const res = await api(nginx.url, 'POST', '/rooms/news/broadcast', { event: 'news:flash', data: { headline: 'through nginx' } });
  expect(res.status).toBe(200);
  expect(res.body.data.recipients).toBe(clients.length);
  for (const [data, meta] of await Promise.all(received)) {
    expect(data).toEqual({ headline: 'through nginx' });
    expect(meta.room).toBe('news');
  }
});
