import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as ioClient, type Socket } from 'socket.io-client';
import { ensureServerBuilt, ROOT } from '../support/build';
import { ADMIN_KEY, API_KEYS_FOR_TESTS, eventually, nextEvent, TEST_JWT_SECRET, makeToken } from '../support/node';
import { freePort, RedisServer } from '../support/redis-server';
import { uniquePrefix } from '../support/redis';

/**
 * The plain `pm2` (from devDependencies) running ecosystem.config.js exactly as shipped: pushgate's
 * router with two workers on one real Redis, default clients (HTTP long-polling first, then the
 * upgrade), pushes across workers, and `pm2 reload` under steady pushes: no handshake lost, no
 * client waiting out a connect timeout, nothing lost or delivered twice.
 */
const PM2 = join(ROOT, 'node_modules', '.bin', 'pm2');
const USERS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];

/** Two consecutive free ports: worker i listens on base + i. */
async function freePortPair(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (;;) {
    const p = await freePort();
    if (p < 65535 && (await free(p + 1))) return p;
  }
}

interface Client {
  user: string;
  socket: Socket;
  /** nodeId of the latest welcome (a reconnect brings a new one). */
  nodeId: string | null;
  welcomes: number;
  /** Ids of the `note` pushes received, in order (replays included). */
  notes: string[];
  /** connect_error events: a handshake that failed. */
  connectErrors: number;
  /** When the transport last went away, and the longest time from that to the next welcome. */
  lostAt: number | null;
  longestGapMs: number;
}

describe('plain pm2 running pushgate\'s router (ecosystem.config.js)', () => {
  const home = mkdtempSync(join(tmpdir(), 'pushgate-pm2-'));
  let redis: RedisServer;
  let env: NodeJS.ProcessEnv;
  let publicPort: number;
  let base: number;
  const clients: Client[] = [];

  function pm2(...args: string[]): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const proc = spawn(process.execPath, [PM2, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
      proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
      proc.once('exit', (code) => resolve({ code, out }));
    });
  }

  const push = (port: number, id: string) =>
    fetch(`http://127.0.0.1:${port}/api/v1/push`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ users: USERS, event: 'note', data: { id }, id }),
    });

  beforeAll(async () => {
    ensureServerBuilt();
    redis = await RedisServer.start();
    publicPort = await freePort();
    base = await freePortPair();
    env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PM2_HOME: home,
      PORT: String(publicPort),
      INSTANCE_PORT_BASE: String(base),
      WORKERS: '2',
      PM2_APP_NAME: 'pushgate-test',
      HOST: '127.0.0.1',
      NODE_ENV: 'test',
      REDIS_URL: redis.url,
      REDIS_PREFIX: uniquePrefix('pm2'),
      JWT_SECRET: TEST_JWT_SECRET,
      API_KEYS: API_KEYS_FOR_TESTS,
      RATE_LIMIT_HTTP: '0',
      RATE_LIMIT_CONNECTIONS: '0',
      RATE_LIMIT_EVENTS: '0',
      LOG_LEVEL: 'warn',
      SHUTDOWN_TIMEOUT_MS: '3000',
      HEARTBEAT_MS: '500',
    };
    const started = await pm2('start', join(ROOT, 'ecosystem.config.js'));
    if (started.code !== 0) throw new Error(`pm2 start failed: ${started.out}`);
    // A loaded CI machine (the dashboard build may run in parallel) can take a while to start two workers.
    for (const port of [base, base + 1]) {
      await eventually(() => fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false), 60_000, 100).catch(async (err: Error) => {
        const logs = await pm2('logs', '--nostream', '--lines', '40');
        throw new Error(`${err.message}; instance port ${port} never became ready. pm2 logs:\n${logs.out}`);
      });
    }
  }, 150_000);

  afterAll(async () => {
    for (const c of clients) c.socket.disconnect();
    const killed = await Promise.race([pm2('kill'), new Promise<null>((r) => setTimeout(() => r(null), 15_000).unref())]);
    if (!killed) {
      // A daemon that does not answer must not outlive the run.
      const pid = Number(readFileSync(join(home, 'pm2.pid'), 'utf8'));
      if (pid) process.kill(pid, 'SIGKILL');
    }
    await redis?.destroy();
    rmSync(home, { recursive: true, force: true });
  }, 30_000);

  it('default clients connect through the daemon, spread over both instances, and a push crosses instances', async () => {
    for (const user of USERS) {
      // Default transports: long-polling first, then the upgrade. Each reconnection asks to
      // recover the personal stream from the last offset seen, as the client helper does.
      const token = makeToken({ sub: user }, { expiresIn: 3600 });
      let offset: string | null = null;
      const socket = ioClient(`http://127.0.0.1:${publicPort}`, { auth: (cb) => cb(offset ? { token, recover: { [`user:${user}`]: offset } } : { token }), forceNew: true });
      const client: Client = { user, socket, nodeId: null, welcomes: 0, notes: [], connectErrors: 0, lostAt: null, longestGapMs: 0 };
      socket.on('welcome', (w: { nodeId: string; offsets?: Record<string, string> }) => {
        client.nodeId = w.nodeId;
        client.welcomes += 1;
        offset ??= w.offsets?.[`user:${user}`] ?? null;
        if (client.lostAt !== null) client.longestGapMs = Math.max(client.longestGapMs, Date.now() - client.lostAt);
        client.lostAt = null;
      });
      socket.on('note', (d: { id: string }, meta: { offset?: string }) => {
        client.notes.push(d.id);
        if (meta?.offset) offset = meta.offset;
      });
      socket.on('connect_error', () => (client.connectErrors += 1));
      socket.on('disconnect', () => (client.lostAt ??= Date.now()));
      clients.push(client);
      const [welcome] = await nextEvent<[{ userId: string }]>(socket, 'welcome', 10_000);
      expect(welcome.userId).toBe(user);
    }
    expect(new Set(clients.map((c) => c.nodeId)).size).toBe(2);
    // Generous: the upgrade can take seconds when the soak or another heavy suite shares the two cores.
    await eventually(() => clients.every((c) => c.socket.io.engine.transport.name === 'websocket'), 30_000);

    // Through instance 0's own port: half the recipients live on instance 1.
    const got = clients.map((c) => nextEvent<[{ id: string }]>(c.socket, 'note'));
    const res = await push(base, 'pm2-first');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { recipients: number } }).data.recipients).toBe(USERS.length);
    for (const [data] of await Promise.all(got)) expect(data).toEqual({ id: 'pm2-first' });

    // Every instance can be scraped on its own port, each under its own node label.
    const labels = await Promise.all(
      [base, base + 1].map(async (port) => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /pushgate_connected_sockets\{node="([^"]+)"\}/.exec(text)?.[1];
      }),
    );
    expect(new Set(labels).size).toBe(2);
    expect(labels.sort()).toEqual([...new Set(clients.map((c) => c.nodeId))].sort());
  });

  it('pm2 reload under steady pushes: new workers first, the old ones drain; no handshake lost, no timeout waited, nothing lost or twice', async () => {
    const before = new Set(clients.map((c) => c.nodeId));
    for (const c of clients) c.notes.length = 0;
    const drained = clients.map((c) => nextEvent(c.socket, 'server:draining', 60_000));
    // Steady pushes to every user, through the public port, for the whole reload.
    const sent: string[] = [];
    let pushing = true;
    const pusher = (async () => {
      for (let n = 0; pushing; n += 1) {
        const id = `steady-${n}`;
        const res = await push(publicPort, id).catch(() => null);
        // A refused push (a worker draining, 503) is retried with its id, as a backend would.
        if (res?.status === 200) sent.push(id);
        else n -= 1;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const reloaded = await pm2('reload', 'pushgate-test');
    expect(reloaded).toEqual({ code: 0, out: expect.any(String) });
    await Promise.all(drained);
    await eventually(() => clients.every((c) => c.socket.connected && c.nodeId !== null && !before.has(c.nodeId)), 30_000, 50);
    await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${publicPort}/api/v1/status`, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } });
      return res.ok && ((await res.json()) as { data: { totals: { connections: number } } }).data.totals.connections === USERS.length;
    }, 30_000, 100);
    pushing = false;
    await pusher;
    await eventually(() => clients.every((c) => sent.every((id) => c.notes.includes(id))), 20_000, 50).catch(() => undefined);
    const figures = clients.map((c) => ({
      user: c.user,
      lost: sent.filter((id) => !c.notes.includes(id)).length,
      duplicated: c.notes.length - new Set(c.notes).size,
      connectErrors: c.connectErrors,
      longestReconnectMs: c.longestGapMs,
    }));
    process.stdout.write(`pm2 reload under pushes: ${sent.length} pushes; ${JSON.stringify(figures)}\n`);
    for (const f of figures) expect({ lost: f.lost, duplicated: f.duplicated, connectErrors: f.connectErrors }).toEqual({ lost: 0, duplicated: 0, connectErrors: 0 });
    // A client that waited out its connect timeout would have counted a connect_error ("timeout") above.
    expect(sent.length).toBeGreaterThan(20);
  }, 150_000);
});
