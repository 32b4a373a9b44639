import { spawn } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { io as ioClient, type Socket } from 'socket.io-client';
import { FakeBackend, json } from '../support/fake-backend';
import { ADMIN_KEY, makeToken, nextEvent } from '../support/node';
import { ProcessNode } from '../support/process-node';

const ROOT = join(__dirname, '..', '..');
const clients: Socket[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

function connect(url: string, token: string, opts: Record<string, unknown> = {}): Socket {
  const s = ioClient(url, { auth: { token }, reconnection: false, forceNew: true, ...opts });
  clients.push(s);
  return s;
}

describe('starting with no variables at all', () => {
  let node: ProcessNode;
  afterAll(() => node?.kill('SIGTERM'));

  it('runs a development node that prints a working demo token, admin key and curl line', async () => {
    node = await ProcessNode.start({}, { bare: true });
    // The banner is written right after listen: wait for its last line rather than for time.
    const deadline = Date.now() + 10_000;
    while (!/curl -X POST/.test(node.stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const out = node.stdout;
    expect(out).toMatch(/single node, in-memory state/);
    const token = /Demo client token \(user "demo", 24 h\): (\S+)/.exec(out)?.[1];
    const key = /API key \(admin\): (\S+)/.exec(out)?.[1];
    const curl = /curl -X POST (\S+) -H "Authorization: Bearer (\S+)" -H "Content-Type: application\/json" -d '(.+)'/.exec(out);
    expect(token).toBeDefined();
    expect(key).toBeDefined();
    expect(curl).not.toBeNull();
    expect(curl![2]).toBe(key);

    // Do what the banner says: a browser client with the token, then the printed push.
    const socket = connect(node.url, token!);
    const welcome = await nextEvent<[{ userId: string }]>(socket, 'welcome');
    expect(welcome[0].userId).toBe('demo');
    const hello = nextEvent<[unknown, { id: string }]>(socket, 'hello');
    const res = await fetch(curl![1]!.replace('127.0.0.1:3000', `127.0.0.1:${node.port}`), {
      method: 'POST',
      headers: { Authorization: `Bearer ${curl![2]}`, 'Content-Type': 'application/json' },
      body: curl![3],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { recipients: number; id: string } };
    expect(body.data.recipients).toBe(1);
    const [data, meta] = await hello;
    expect(data).toEqual({ text: 'Hello from pushgate' });
    expect(meta.id).toBe(body.data.id);
  });
});

describe('production without real secrets', () => {
  it.each([
    [{}, 'JWT_SECRET'],
    [{ JWT_SECRET: 'a-very-long-production-secret-0123456789' }, 'API_KEYS'],
    [{ JWT_SECRET: 'changeme', API_KEYS: 'ops:k_0123456789abcdef0123456789:admin' }, 'JWT_SECRET'],
  ])('refuses to start (%o) with exit code 1 and names %s', async (env, variable) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/src/main.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    proc.stdout.resume();
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`configuration error: .*${variable}`));
  });
});

describe('SIGTERM', () => {
  const backend = new FakeBackend();
  afterAll(() => backend.stop());

  it('marks the node not ready, tells clients, finishes in-flight events, disconnects and exits 0', async () => {
    const backendUrl = await backend.start();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const forwarded = new Promise<void>((r) => (arrived = r));
    backend.handler = async (_req, res) => {
      arrived();
      await held;
      json(res, 200, { done: true });
    };
    const node = await ProcessNode.start({ BACKEND_URL: backendUrl, SHUTDOWN_TIMEOUT_MS: '8000' });
    const socket = connect(node.url, makeToken({ sub: 'drainee' }), { transports: ['websocket'] });
    await nextEvent(socket, 'welcome');

    const ack = socket.timeout(8000).emitWithAck('work', { n: 1 });
    await forwarded;
    const draining = nextEvent<[{ nodeId: string }]>(socket, 'server:draining');
    const disconnected = nextEvent(socket, 'disconnect', 8000);
    node.proc.kill('SIGTERM');
    expect((await draining)[0].nodeId).toEqual(expect.any(String));

    // While the event is in flight the node is still up, but no longer ready for new work.
    const ready = await fetch(`${node.url}/health/ready`).then((r) => r.status, () => 'closed');
    expect([503, 'closed']).toContain(ready);
    const refused = await new Promise<string>((resolve) => {
      const late = connect(node.url, makeToken({ sub: 'late' }), { transports: ['websocket'] });
      late.once('connect_error', (err) => resolve(err.message));
      late.once('welcome', () => resolve('accepted'));
    });
    expect(refused).not.toBe('accepted');

    release();
    expect(await ack).toEqual({ ok: true, data: { done: true } });
    // A transport close, not "io server disconnect": socket.io-client reconnects (to another node) by itself.
    expect((await disconnected)[0]).toBe('transport close');
    const exit = await node.exited;
    expect(exit).toEqual({ code: 0, signal: null });
  });
});

describe('SIGTERM right behind a burst of requests', () => {
  /** One push on its own connection (no agent): it is in the node's listen backlog or socket buffer, not parsed yet. */
  const push = (port: number, i: number) =>
    new Promise<string>((resolve) => {
      const body = JSON.stringify({ users: ['nobody'], event: 'e', data: { i }, id: `burst-${i}` });
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/push', agent: false, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end(body);
    });

  it('answers every request that reached the node before the signal', async () => {
    const node = await ProcessNode.start({ SHUTDOWN_TIMEOUT_MS: '4000' });
    const answers = Array.from({ length: 20 }, (_, i) => push(node.port, i));
    // On the same tick as the requests were written: none of them is parsed yet when the signal lands.
    node.proc.kill('SIGTERM');
    const got = await Promise.all(answers);
    expect(got).toEqual(Array.from({ length: 20 }, () => '200'));
    expect(await node.exited).toEqual({ code: 0, signal: null });
  });
});
