import { createHmac } from 'node:crypto';
import request from 'supertest';
import { closeAllClients, connectUser, emitAck, startNode, type TestNode } from '../support/node';
import { FakeBackend, json } from '../support/fake-backend';

const SECRET = 'backend-hmac-secret-0123456789abcdef';

describe('MessageRouter: client events → backend', () => {
  let node: TestNode;
  const backend = new FakeBackend();
  beforeAll(async () => {
    const url = await backend.start();
    node = await startNode({ BACKEND_URL: `${url}/hooks`, BACKEND_SECRET: SECRET, BACKEND_TIMEOUT_MS: '300' }, { breaker: { failureThreshold: 3, openMs: 60_000 } });
  });
  afterEach(() => {
    closeAllClients();
    backend.requests.length = 0;
  });
  afterAll(async () => {
    await node.stop();
    await backend.stop();
  });

  it('forwards any other event, signed, and returns the backend body as the ack', async () => {
    backend.handler = (req, res) => json(res, 200, { echoed: req.body.data, at: 'backend' });
    const { socket, welcome } = await connectUser(node.url, 'alice');
    const ack = await emitAck(socket, 'chat:send', { text: 'hi' });
    expect(ack).toEqual({ ok: true, data: { echoed: { text: 'hi' }, at: 'backend' } });

    const [req] = backend.requests;
    expect(req!.path).toBe('/hooks/events');
    expect(req!.body).toEqual({ id: expect.any(String), event: 'chat:send', data: { text: 'hi' }, userId: 'alice', socketId: welcome.socketId, nodeId: node.config.nodeId, ts: expect.any(Number) });
    const ts = req!.headers['x-pushgate-timestamp'] as string;
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${req!.raw}`).digest('hex')}`;
    expect(req!.headers['x-pushgate-signature']).toBe(expected);
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(10);
  });

  it('reuses keep-alive connections to the backend', async () => {
    backend.handler = (_req, res) => json(res, 200, {});
    const { socket } = await connectUser(node.url, 'pool');
    for (let i = 0; i < 5; i++) await emitAck(socket, 'tick', i);
    const ports = new Set(backend.requests.map((r) => r.remotePort));
    expect(backend.requests).toHaveLength(5);
    expect(ports.size).toBe(1);
  });

  it('maps a non-2xx answer to BACKEND_ERROR with the status', async () => {
    backend.handler = (_req, res) => json(res, 422, { why: 'no' });
    const { socket } = await connectUser(node.url, 'bob');
    expect(await emitAck(socket, 'order:place', {})).toEqual({ ok: false, error: { code: 'BACKEND_ERROR', message: expect.any(String), details: { status: 422 } } });
  });

  it('answers BACKEND_TIMEOUT past BACKEND_TIMEOUT_MS, then opens the circuit: BACKEND_UNAVAILABLE at once', async () => {
    backend.handler = () => undefined; // never answers
    const { socket } = await connectUser(node.url, 'carol');
    for (let i = 0; i < 3; i++) expect((await emitAck(socket, 'slow', i)).error?.code).toBe('BACKEND_TIMEOUT');
    const started = Date.now();
    expect((await emitAck(socket, 'slow', 4)).error?.code).toBe('BACKEND_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(250);
    const metrics = (await request(node.url).get('/metrics')).text;
    expect(metrics).toMatch(/pushgate_backend_requests_total\{outcome="timeout",node="[^"]+"\} 3/);
    expect(metrics).toMatch(/pushgate_backend_requests_total\{outcome="circuit_open",node="[^"]+"\} [1-9]/);
  });
});

describe('MessageRouter without a backend, and with a dead one', () => {
  let bare: TestNode;
  let dead: TestNode;
  beforeAll(async () => {
    bare = await startNode();
    dead = await startNode({ BACKEND_URL: 'http://127.0.0.1:9', BACKEND_SECRET: SECRET });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await bare.stop();
    await dead.stop();
  });

  it('answers NO_BACKEND when BACKEND_URL is unset', async () => {
    const { socket } = await connectUser(bare.url, 'a');
    expect((await emitAck(socket, 'anything', 1)).error?.code).toBe('NO_BACKEND');
  });

  it('answers BACKEND_UNAVAILABLE when the backend refuses connections', async () => {
    const { socket } = await connectUser(dead.url, 'a');
    expect((await emitAck(socket, 'anything', 1)).error?.code).toBe('BACKEND_UNAVAILABLE');
  });
});
