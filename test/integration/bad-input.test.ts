import { createHmac, createSign, generateKeyPairSync } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import jwt from 'jsonwebtoken';
import request, { type Response } from 'supertest';
import { io as ioClient, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import {
  ADMIN_KEY,
  PUSH_KEY,
  SIGNED_KEY,
  TEST_JWT_SECRET,
  closeAllClients,
  connectClient,
  connectUser,
  emitAck,
  makeToken,
  nextEvent,
  startNode,
  type TestNode,
} from '../support/node';

/**
 * The bad-input corpus: every case gets its exact contract code and status, and afterwards the node
 * must still be alive and still deliver a normal push. Never a 500, a hang or a crash.
 */

const META = { requestId: expect.any(String), timestamp: expect.any(String) };
const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
const MAX_PAYLOAD = 16384;

function expectError(res: Response, status: number, code: string, field?: string): void {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(res.body).toEqual({ success: false, error: expect.objectContaining({ code, message: expect.any(String) }), meta: META });
  expect(res.headers['x-request-id']).toBe(res.body.meta.requestId);
  if (field !== undefined) expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
}

/**
 * A canary socket that stays connected for a whole describe (not tracked by closeAllClients), and
 * the check that the node is healthy: /health/live answers and a push still reaches the canary.
 */
class Canary {
  private socket: ClientSocket | null = null;
  private n = 0;

  constructor(private readonly userId: string) {}

  async connect(url: string, token: string): Promise<void> {
    this.socket = ioClient(url, { auth: { token }, reconnection: false, forceNew: true, transports: ['websocket'] });
    await nextEvent(this.socket, 'welcome');
  }

  async assertHealthy(node: TestNode): Promise<void> {
    await request(node.url).get('/health/live').expect(200);
    const n = ++this.n;
    const arrived = nextEvent<[number]>(this.socket!, 'canary');
    const res = await request(node.url).post('/api/v1/push').set(admin).send({ users: [this.userId], event: 'canary', data: n });
    expect({ status: res.status, recipients: res.body?.data?.recipients }).toEqual({ status: 200, recipients: 1 });
    expect((await arrived)[0]).toBe(n);
  }

  close(): void {
    this.socket?.disconnect();
  }
}

/** A raw body, sent as-is with the given content type. */
interface Raw {
  raw: string | Buffer;
  type?: string | null;
}
const raw = (body: string | Buffer, type: string | null = 'application/json'): Raw => ({ raw: body, type });
const isRaw = (b: unknown): b is Raw => typeof b === 'object' && b !== null && 'raw' in b;

interface HttpCase {
  method?: 'get' | 'post' | 'put' | 'delete' | 'patch';
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** A field the BAD_REQUEST details must name. */
  field?: string;
}

function send(node: TestNode, c: HttpCase): Promise<Response> {
  let req = request(node.url)[c.method ?? 'post'](c.path).set(c.headers ?? admin);
  if (isRaw(c.body)) {
    if (c.body.type) req = req.set('Content-Type', c.body.type);
    return req.send(c.body.raw);
  }
  return c.body === undefined ? req : req.send(c.body as object);
}

const push = (body: unknown, status = 400, code = 'BAD_REQUEST', field?: string): HttpCase => ({ path: '/api/v1/push', body, status, code, field });
const ok = { users: ['nobody'], event: 'e', data: 1 };
const many = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i));

describe('bad HTTP input', () => {
  let node: TestNode;
  const canary = new Canary('http-canary');
  beforeAll(async () => {
    node = await startNode({ MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD) });
    await canary.connect(node.url, makeToken({ sub: 'http-canary' }));
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    canary.close();
    await node.stop();
  });

  const corpus: Record<string, [string, HttpCase][]> = {
    'malformed JSON': [
      ['an unterminated object', push(raw('{'))],
      ['a missing value', push(raw('{"event":}'))],
      ['single quotes', push(raw("{'users':['a'],'event':'e','data':1}"))],
      ['a trailing comma', push(raw('{"users":["a"],"event":"e","data":1,}'))],
      ['two documents', push(raw('{"a":1}{"b":2}'))],
      ['NaN', push(raw('{"users":["a"],"event":"e","data":NaN}'))],
      ['a bare word', push(raw('undefined'))],
      ['invalid UTF-8', push(raw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])))],
      ['a NUL byte', push(raw('\u0000'))],
      ['an unterminated array', push(raw(`{"data":${'['.repeat(3000)}`))],
      ['a comment', push(raw('{"users":["a"],/* hi */"event":"e","data":1}'))],
      ['malformed JSON to broadcast', { path: '/api/v1/rooms/r/broadcast', body: raw('{"event":'), status: 400, code: 'BAD_REQUEST' }],
      ['malformed JSON to batch', { path: '/api/v1/batch', body: raw('{"messages":[{]}'), status: 400, code: 'BAD_REQUEST' }],
      ['malformed JSON on a PUT', { method: 'put', path: '/api/v1/rooms/r/members/u', body: raw('{'), status: 400, code: 'BAD_REQUEST' }],
    ],
    'JSON that is not an object': [
      ['null', push(raw('null'), 400, 'BAD_REQUEST', '(root)')],
      ['a number', push(raw('42'), 400, 'BAD_REQUEST', '(root)')],
      ['a string', push(raw('"push"'), 400, 'BAD_REQUEST', '(root)')],
      ['an array', push(raw('[{"users":["a"],"event":"e","data":1}]'), 400, 'BAD_REQUEST', '(root)')],
      ['true', push(raw('true'), 400, 'BAD_REQUEST', '(root)')],
      ['an empty body', push(raw(''))],
      ['deeply nested arrays', push(raw(`${'['.repeat(5000)}${']'.repeat(5000)}`), 400, 'BAD_REQUEST', '(root)')],
    ],
    'non-JSON content types': [
      ['text/plain', push(raw(JSON.stringify(ok), 'text/plain'))],
      ['a form', push(raw('users=a&event=e&data=1', 'application/x-www-form-urlencoded'))],
      ['multipart', push(raw('--x\r\nContent-Disposition: form-data; name="event"\r\n\r\ne\r\n--x--\r\n', 'multipart/form-data; boundary=x'))],
      ['XML', push(raw('<push><event>e</event></push>', 'application/xml'))],
      ['octet-stream', push(raw(Buffer.from(JSON.stringify(ok)), 'application/octet-stream'))],
      ['a JSON look-alike type', push(raw(JSON.stringify(ok), 'application/jsonx'))],
      ['an unsupported charset', push(raw(JSON.stringify(ok), 'application/json; charset=latin1'))],
      ['a bogus content type', push(raw(JSON.stringify(ok), '???'))],
      ['gzip that is not gzip', { path: '/api/v1/push', body: raw(JSON.stringify(ok)), headers: { ...admin, 'Content-Encoding': 'gzip' }, status: 400, code: 'BAD_REQUEST' }],
      ['an unknown content encoding', { path: '/api/v1/push', body: raw(JSON.stringify(ok)), headers: { ...admin, 'Content-Encoding': 'x-magic' }, status: 400, code: 'BAD_REQUEST' }],
    ],
    'wrong types': [
      ['users: a string', push({ ...ok, users: 'alice' }, 400, 'BAD_REQUEST', 'users')],
      ['users: null', push({ ...ok, users: null }, 400, 'BAD_REQUEST', 'users')],
      ['users: [number]', push({ ...ok, users: [1] }, 400, 'BAD_REQUEST', 'users.0')],
      ['users: [null]', push({ ...ok, users: [null] }, 400, 'BAD_REQUEST', 'users.0')],
      ['users: [object]', push({ ...ok, users: [{ id: 'a' }] }, 400, 'BAD_REQUEST', 'users.0')],
      ['users: [empty string]', push({ ...ok, users: [''] }, 400, 'BAD_REQUEST', 'users.0')],
      ['users: [with a space]', push({ ...ok, users: ['a b'] }, 400, 'BAD_REQUEST', 'users.0')],
      ['rooms: a string', push({ event: 'e', data: 1, rooms: 'chat' }, 400, 'BAD_REQUEST', 'rooms')],
      ['rooms: [object]', push({ event: 'e', data: 1, rooms: [{}] }, 400, 'BAD_REQUEST', 'rooms.0')],
      ['rooms: an object', push({ event: 'e', data: 1, rooms: { 0: 'a' } }, 400, 'BAD_REQUEST', 'rooms')],
      ['socketIds: a number', push({ event: 'e', data: 1, socketIds: 5 }, 400, 'BAD_REQUEST', 'socketIds')],
      ['socketIds: [empty string]', push({ event: 'e', data: 1, socketIds: [''] }, 400, 'BAD_REQUEST', 'socketIds.0')],
      ['socketIds: [101 characters]', push({ event: 'e', data: 1, socketIds: ['s'.repeat(101)] }, 400, 'BAD_REQUEST', 'socketIds.0')],
      ['except: a string', push({ ...ok, except: 'sid' }, 400, 'BAD_REQUEST', 'except')],
      ['except: [number]', push({ ...ok, except: [1] }, 400, 'BAD_REQUEST', 'except.0')],
      ['event: a number', push({ ...ok, event: 5 }, 400, 'BAD_REQUEST', 'event')],
      ['event: null', push({ ...ok, event: null }, 400, 'BAD_REQUEST', 'event')],
      ['event: an array', push({ ...ok, event: ['e'] }, 400, 'BAD_REQUEST', 'event')],
      ['event: empty', push({ ...ok, event: '' }, 400, 'BAD_REQUEST', 'event')],
      ['event: 101 characters', push({ ...ok, event: 'e'.repeat(101) }, 400, 'BAD_REQUEST', 'event')],
      ['event: reserved "connect"', push({ ...ok, event: 'connect' }, 400, 'BAD_REQUEST', 'event')],
      ['event: reserved "disconnect"', push({ ...ok, event: 'disconnect' }, 400, 'BAD_REQUEST', 'event')],
      ['event: reserved "welcome"', push({ ...ok, event: 'welcome' }, 400, 'BAD_REQUEST', 'event')],
      ['event: reserved "server:draining"', push({ ...ok, event: 'server:draining' }, 400, 'BAD_REQUEST', 'event')],
      ['id: a number', push({ ...ok, id: 5 }, 400, 'BAD_REQUEST', 'id')],
      ['id: empty', push({ ...ok, id: '' }, 400, 'BAD_REQUEST', 'id')],
      ['id: with a space', push({ ...ok, id: 'a b' }, 400, 'BAD_REQUEST', 'id')],
      ['id: 129 characters', push({ ...ok, id: 'i'.repeat(129) }, 400, 'BAD_REQUEST', 'id')],
      ['id: non-ASCII', push({ ...ok, id: 'é' }, 400, 'BAD_REQUEST', 'id')],
      ['id: an object', push({ ...ok, id: { a: 1 } }, 400, 'BAD_REQUEST', 'id')],
      ['broadcast event: a number', { path: '/api/v1/rooms/r/broadcast', body: { event: 1, data: 1 }, status: 400, code: 'BAD_REQUEST', field: 'event' }],
      ['broadcast except: a string', { path: '/api/v1/rooms/r/broadcast', body: { event: 'e', data: 1, except: 'x' }, status: 400, code: 'BAD_REQUEST', field: 'except' }],
      ['broadcast id: an object', { path: '/api/v1/rooms/r/broadcast', body: { event: 'e', data: 1, id: {} }, status: 400, code: 'BAD_REQUEST', field: 'id' }],
      ['batch messages: a string', { path: '/api/v1/batch', body: { messages: 'x' }, status: 400, code: 'BAD_REQUEST', field: 'messages' }],
      ['batch messages: an object', { path: '/api/v1/batch', body: { messages: { 0: ok } }, status: 400, code: 'BAD_REQUEST', field: 'messages' }],
      ['batch messages: null', { path: '/api/v1/batch', body: { messages: null }, status: 400, code: 'BAD_REQUEST', field: 'messages' }],
    ],
    'missing fields': [
      ['an empty object', push({}, 400, 'BAD_REQUEST', 'event')],
      ['no event', push({ users: ['a'], data: 1 }, 400, 'BAD_REQUEST', 'event')],
      ['no data', push({ users: ['a'], event: 'e' }, 400, 'BAD_REQUEST', 'data')],
      ['no target', push({ event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'users')],
      ['broadcast without event', { path: '/api/v1/rooms/r/broadcast', body: { data: 1 }, status: 400, code: 'BAD_REQUEST', field: 'event' }],
      ['broadcast without data', { path: '/api/v1/rooms/r/broadcast', body: { event: 'e' }, status: 400, code: 'BAD_REQUEST', field: 'data' }],
      ['batch without messages', { path: '/api/v1/batch', body: {}, status: 400, code: 'BAD_REQUEST', field: 'messages' }],
    ],
    'extra fields': [
      ['an unknown key', push({ ...ok, priority: 'high' }, 400, 'BAD_REQUEST')],
      ['a differently cased key', push({ ...ok, Users: ['a'] }, 400, 'BAD_REQUEST')],
      ['targets on a broadcast', { path: '/api/v1/rooms/r/broadcast', body: { event: 'e', data: 1, users: ['a'] }, status: 400, code: 'BAD_REQUEST' }],
      ['an unknown key on a batch', { path: '/api/v1/batch', body: { messages: [ok], atomic: true }, status: 400, code: 'BAD_REQUEST' }],
    ],
    'empty and too many targets': [
      ['empty users', push({ users: [], event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'users')],
      ['all three empty', push({ users: [], rooms: [], socketIds: [], event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'users')],
      ['only except', push({ except: ['s1'], event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'users')],
      ['1001 users', push({ users: many(1001, (i) => `u${i}`), event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'users')],
      ['1001 rooms', push({ rooms: many(1001, (i) => `r${i}`), event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'rooms')],
      ['1001 socketIds', push({ socketIds: many(1001, (i) => `s${i}`), event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'socketIds')],
      ['1001 except', push({ users: ['a'], except: many(1001, (i) => `s${i}`), event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'except')],
      ['1001 except on a broadcast', { path: '/api/v1/rooms/r/broadcast', body: { event: 'e', data: 1, except: many(1001, (i) => `s${i}`) }, status: 400, code: 'BAD_REQUEST', field: 'except' }],
      ['a batch of 101', { path: '/api/v1/batch', body: { messages: many(101, () => '').map(() => ok) }, status: 400, code: 'BAD_REQUEST', field: 'messages' }],
      ['an empty batch', { path: '/api/v1/batch', body: { messages: [] }, status: 400, code: 'BAD_REQUEST', field: 'messages' }],
    ],
    'oversize bodies': [
      ['a push over MAX_PAYLOAD_BYTES', push({ ...ok, data: 'x'.repeat(MAX_PAYLOAD) }, 413, 'PAYLOAD_TOO_LARGE')],
      ['a broadcast over MAX_PAYLOAD_BYTES', { path: '/api/v1/rooms/r/broadcast', body: { event: 'e', data: 'x'.repeat(MAX_PAYLOAD) }, status: 413, code: 'PAYLOAD_TOO_LARGE' }],
      ['a batch over MAX_PAYLOAD_BYTES', { path: '/api/v1/batch', body: { messages: many(500, () => '').map(() => ok) }, status: 413, code: 'PAYLOAD_TOO_LARGE' }],
      ['malformed JSON over MAX_PAYLOAD_BYTES', push(raw(`{${'x'.repeat(MAX_PAYLOAD)}`), 413, 'PAYLOAD_TOO_LARGE')],
      ['a big body without a key (refused before it is read)', { path: '/api/v1/push', headers: {}, body: { ...ok, data: 'x'.repeat(MAX_PAYLOAD * 4) }, status: 401, code: 'UNAUTHORIZED' }],
    ],
    'bad room names': [
      ...(['post', 'get', 'put', 'delete'] as const).flatMap((method): [string, HttpCase][] => {
        const path = (room: string) => (method === 'post' ? `/api/v1/rooms/${room}/broadcast` : method === 'get' ? `/api/v1/rooms/${room}` : `/api/v1/rooms/${room}/members/u1`);
        const body = method === 'post' ? { event: 'e', data: 1 } : undefined;
        return [
          [`${method}: a space`, { method, path: path('a%20b'), body, status: 400, code: 'BAD_REQUEST', field: 'room' }],
          [`${method}: a tab`, { method, path: path('a%09b'), body, status: 400, code: 'BAD_REQUEST', field: 'room' }],
          [`${method}: a newline`, { method, path: path('a%0Ab'), body, status: 400, code: 'BAD_REQUEST', field: 'room' }],
          [`${method}: NUL`, { method, path: path('%00'), body, status: 400, code: 'BAD_REQUEST', field: 'room' }],
          [`${method}: DEL`, { method, path: path('a%7F'), body, status: 400, code: 'BAD_REQUEST', field: 'room' }],
          [`${method}: a C1 control`, { method, path: path('a%C2%85b'), body, status: 400, code: 'BAD_REQUEST', field: 'room' }],
          [`${method}: 201 characters`, { method, path: path('r'.repeat(201)), body, status: 400, code: 'BAD_REQUEST', field: 'room' }],
          [`${method}: a user: room`, { method, path: path('user:bob'), body, status: 403, code: 'FORBIDDEN' }],
          [`${method}: broken percent-encoding`, { method, path: path('%E0%A4%A'), body, status: 400, code: 'BAD_REQUEST' }],
        ];
      }),
      ['push rooms: [with a space]', push({ rooms: ['a b'], event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'rooms.0')],
      ['push rooms: [empty]', push({ rooms: [''], event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'rooms.0')],
      ['push rooms: [a control character]', push({ rooms: ['a\u0001'], event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'rooms.0')],
      ['push rooms: [201 characters]', push({ rooms: ['r'.repeat(201)], event: 'e', data: 1 }, 400, 'BAD_REQUEST', 'rooms.0')],
      ['push rooms: [a user: room]', push({ rooms: ['user:bob'], event: 'e', data: 1 }, 403, 'FORBIDDEN')],
      ['a user id with a space', { method: 'get', path: '/api/v1/users/a%20b', status: 400, code: 'BAD_REQUEST' }],
      ['a user id of 201 characters', { method: 'put', path: `/api/v1/rooms/r/members/${'u'.repeat(201)}`, status: 400, code: 'BAD_REQUEST' }],
      ['a user id with a control character', { method: 'delete', path: '/api/v1/users/a%01/connections', status: 400, code: 'BAD_REQUEST' }],
    ],
    'unknown routes': [
      ['GET /', { method: 'get', path: '/', status: 404, code: 'NOT_FOUND' }],
      ['GET /nope', { method: 'get', path: '/nope', status: 404, code: 'NOT_FOUND' }],
      ['GET /api/v1/nope', { method: 'get', path: '/api/v1/nope', status: 404, code: 'NOT_FOUND' }],
      ['GET /api/v1/', { method: 'get', path: '/api/v1/', status: 404, code: 'NOT_FOUND' }],
      ['GET /api/v2/status', { method: 'get', path: '/api/v2/status', status: 404, code: 'NOT_FOUND' }],
      ['GET /api/v1/push (wrong method)', { method: 'get', path: '/api/v1/push', status: 404, code: 'NOT_FOUND' }],
      ['PATCH /api/v1/push', { method: 'patch', path: '/api/v1/push', body: ok, status: 404, code: 'NOT_FOUND' }],
      ['DELETE /api/v1/status', { method: 'delete', path: '/api/v1/status', status: 404, code: 'NOT_FOUND' }],
      ['POST /api/v1/rooms (no name)', { path: '/api/v1/rooms', body: ok, status: 404, code: 'NOT_FOUND' }],
      ['GET /api/v1/rooms/a/b/c', { method: 'get', path: '/api/v1/rooms/a/b/c', status: 404, code: 'NOT_FOUND' }],
      ['POST /api/v1/users/u', { path: '/api/v1/users/u', body: ok, status: 404, code: 'NOT_FOUND' }],
      ['a path traversal', { method: 'get', path: '/api/v1/..%2f..%2fetc%2fpasswd', status: 404, code: 'NOT_FOUND' }],
      ['POST /metrics', { path: '/metrics', body: ok, status: 404, code: 'NOT_FOUND' }],
      ['an unknown route without a key (the key is checked first)', { method: 'get', path: '/api/v1/nope', headers: {}, status: 401, code: 'UNAUTHORIZED' }],
    ],
    'bad query strings': [
      ['limit=0', { method: 'get', path: '/api/v1/rooms?limit=0', status: 400, code: 'BAD_REQUEST', field: 'limit' }],
      ['limit=-1', { method: 'get', path: '/api/v1/rooms?limit=-1', status: 400, code: 'BAD_REQUEST', field: 'limit' }],
      ['limit=abc', { method: 'get', path: '/api/v1/rooms?limit=abc', status: 400, code: 'BAD_REQUEST', field: 'limit' }],
      ['limit=1.5', { method: 'get', path: '/api/v1/rooms?limit=1.5', status: 400, code: 'BAD_REQUEST', field: 'limit' }],
      ['limit=1001', { method: 'get', path: '/api/v1/rooms?limit=1001', status: 400, code: 'BAD_REQUEST', field: 'limit' }],
      ['limit= (empty)', { method: 'get', path: '/api/v1/rooms?limit=', status: 400, code: 'BAD_REQUEST', field: 'limit' }],
      ['limit twice', { method: 'get', path: '/api/v1/rooms?limit=1&limit=2', status: 400, code: 'BAD_REQUEST', field: 'limit' }],
      ['prefix twice', { method: 'get', path: '/api/v1/rooms?prefix=a&prefix=b', status: 400, code: 'BAD_REQUEST', field: 'prefix' }],
      ['prefix of 201 characters', { method: 'get', path: `/api/v1/rooms?prefix=${'p'.repeat(201)}`, status: 400, code: 'BAD_REQUEST', field: 'prefix' }],
      ['cursor of 401 characters', { method: 'get', path: `/api/v1/rooms?cursor=${'c'.repeat(401)}`, status: 400, code: 'BAD_REQUEST', field: 'cursor' }],
      ['an unknown parameter', { method: 'get', path: '/api/v1/rooms?sort=desc', status: 400, code: 'BAD_REQUEST' }],
      ['bracket syntax', { method: 'get', path: '/api/v1/rooms?limit[]=1', status: 400, code: 'BAD_REQUEST' }],
      ['nested bracket syntax', { method: 'get', path: '/api/v1/rooms?prefix[a]=1', status: 400, code: 'BAD_REQUEST' }],
      ['__proto__', { method: 'get', path: '/api/v1/rooms?__proto__=x', status: 400, code: 'BAD_REQUEST' }],
      ['__proto__[limit]', { method: 'get', path: '/api/v1/rooms?__proto__[limit]=5', status: 400, code: 'BAD_REQUEST' }],
      ['constructor', { method: 'get', path: '/api/v1/rooms?constructor=x', status: 400, code: 'BAD_REQUEST' }],
      ['broken percent-encoding', { method: 'get', path: '/api/v1/rooms?prefix=%E0%A4%A&limit=x', status: 400, code: 'BAD_REQUEST', field: 'limit' }],
    ],
    '__proto__ and constructor keys': [
      ['__proto__ at the top', push(raw(`{"__proto__":{"polluted":true},${JSON.stringify(ok).slice(1)}`))],
      ['constructor at the top', push(raw(`{"constructor":{"prototype":{"polluted":true}},${JSON.stringify(ok).slice(1)}`))],
      ['prototype at the top', push(raw(`{"prototype":{"polluted":true},${JSON.stringify(ok).slice(1)}`))],
      ['__proto__ on a broadcast', { path: '/api/v1/rooms/r/broadcast', body: raw('{"__proto__":{"event":"e"},"data":1}'), status: 400, code: 'BAD_REQUEST' }],
      ['__proto__ on a batch', { path: '/api/v1/batch', body: raw('{"__proto__":{"messages":[]},"messages":[]}'), status: 400, code: 'BAD_REQUEST' }],
    ],
  };

  const table = Object.entries(corpus).flatMap(([group, cases]) => cases.map(([name, c]) => ({ group, name, c })));

  it.each(table)('$group: $name → $c.status $c.code', async ({ c }) => {
    const res = await send(node, c);
    expectError(res, c.status, c.code, c.field);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await canary.assertHealthy(node);
  });

  it('accepts the boundaries: 1000 targets, a batch of 100, a body of exactly MAX_PAYLOAD_BYTES', async () => {
    const thousand = await request(node.url).post('/api/v1/push').set(admin).send({ users: many(1000, (i) => `u${i}`), event: 'e', data: 1 });
    expect(thousand.status).toBe(200);
    const hundred = await request(node.url).post('/api/v1/batch').set(admin).send({ messages: many(100, () => '').map(() => ok) });
    expect(hundred.status).toBe(200);
    expect(hundred.body.data.results).toHaveLength(100);
    const skeleton = JSON.stringify({ ...ok, data: '' });
    const exact = JSON.stringify({ ...ok, data: 'x'.repeat(MAX_PAYLOAD - Buffer.byteLength(skeleton)) });
    expect(Buffer.byteLength(exact)).toBe(MAX_PAYLOAD);
    expect((await request(node.url).post('/api/v1/push').set(admin).set('Content-Type', 'application/json').send(exact)).status).toBe(200);
    await canary.assertHealthy(node);
  });

  it('refuses a chunked body (no Content-Length) once it passes MAX_PAYLOAD_BYTES: 413 PAYLOAD_TOO_LARGE', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${node.url}/api/v1/push`, { method: 'POST', headers: { ...admin, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      // The server may answer and close while we still write: that is the point.
      req.on('error', reject);
      req.write('{"users":["a"],"event":"e","data":"');
      for (let i = 0; i < 8; i++) req.write('x'.repeat(4096));
      req.end('"}');
    });
    expect(status).toBe(413);
    expect(JSON.parse(body)).toEqual({ success: false, error: expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }), meta: META });
    await canary.assertHealthy(node);
  });

  it('keeps __proto__ inside `data` as plain data: delivered, nothing polluted', async () => {
    const { socket } = await connectUser(node.url, 'proto-user');
    const arrived = nextEvent<[Record<string, unknown>]>(socket, 'proto');
    const res = await request(node.url)
      .post('/api/v1/push')
      .set(admin)
      .set('Content-Type', 'application/json')
      .send('{"users":["proto-user"],"event":"proto","data":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"ok":1}}');
    expect(res.status).toBe(200);
    const [data] = await arrived;
    expect(data.ok).toBe(1);
    expect(Object.keys(data).sort()).toEqual(['__proto__', 'constructor', 'ok']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await canary.assertHealthy(node);
  });

  it.each([
    ['no target', { event: 'e', data: 1 }],
    ['a wrong type', { users: 'a', event: 'e', data: 1 }],
    ['an extra key', { ...ok, extra: 1 }],
    ['a reserved event', { ...ok, event: 'connect' }],
    ['1001 users', { users: many(1001, (i) => `u${i}`), event: 'e', data: 1 }],
    ['not an object', 42],
    ['null', null],
  ])('a batch item with %s is refused in its place (BAD_REQUEST), the rest delivered', async (_name, bad) => {
    const res = await request(node.url)
      .post('/api/v1/batch')
      .set(admin)
      .send({ messages: [bad, { users: ['http-canary'], event: 'batch-ok', data: 1 }] });
    expect(res.status).toBe(200);
    expect(res.body.data.results).toEqual([
      { success: false, error: expect.objectContaining({ code: 'BAD_REQUEST', message: expect.any(String), details: expect.any(Array) }) },
      { success: true, data: { id: expect.any(String), recipients: 1 } },
    ]);
    await canary.assertHealthy(node);
  });

  it('refuses a batch item pushing to a user: room in its place with FORBIDDEN', async () => {
    const res = await request(node.url).post('/api/v1/batch').set(admin).send({ messages: [{ rooms: ['user:http-canary'], event: 'sneaky', data: 1 }] });
    expect(res.status).toBe(200);
    expect(res.body.data.results).toEqual([{ success: false, error: expect.objectContaining({ code: 'FORBIDDEN' }) }]);
    await canary.assertHealthy(node);
  });

  describe('bad and replayed signatures', () => {
    let seq = 0;
    const body = () => JSON.stringify({ ...ok, id: `bad-sig-${process.pid}-${++seq}` });
    const now = () => Math.floor(Date.now() / 1000);
    const hmac = (key: string, text: string) => createHmac('sha256', key).update(text).digest('hex');

    const cases: [string, string, (raw: string) => Record<string, string>][] = [
      ['no signature headers (signed key)', SIGNED_KEY, () => ({})],
      ['only X-Timestamp (signed key)', SIGNED_KEY, () => ({ 'X-Timestamp': String(now()) })],
      ['only X-Signature', SIGNED_KEY, (r) => ({ 'X-Signature': `sha256=${hmac(SIGNED_KEY, `${now()}.${r}`)}` })],
      ['garbage', SIGNED_KEY, () => ({ 'X-Timestamp': String(now()), 'X-Signature': 'garbage' })],
      ['an empty signature', SIGNED_KEY, () => ({ 'X-Timestamp': String(now()), 'X-Signature': '' })],
      ['sha256= and nothing', SIGNED_KEY, () => ({ 'X-Timestamp': String(now()), 'X-Signature': 'sha256=' })],
      ['non-hex', SIGNED_KEY, () => ({ 'X-Timestamp': String(now()), 'X-Signature': `sha256=${'z'.repeat(64)}` })],
      ['a truncated digest', SIGNED_KEY, (r) => ({ 'X-Timestamp': String(now()), 'X-Signature': `sha256=${hmac(SIGNED_KEY, `${now()}.${r}`).slice(0, 63)}` })],
      ['another algorithm', SIGNED_KEY, (r) => ({ 'X-Timestamp': String(now()), 'X-Signature': `sha1=${createHmac('sha1', SIGNED_KEY).update(`${now()}.${r}`).digest('hex')}` })],
      ['a 10 kB signature', SIGNED_KEY, () => ({ 'X-Timestamp': String(now()), 'X-Signature': `sha256=${'a'.repeat(10_000)}` })],
      ['no timestamp in the MAC', SIGNED_KEY, (r) => ({ 'X-Timestamp': String(now()), 'X-Signature': `sha256=${hmac(SIGNED_KEY, r)}` })],
      ['a non-numeric timestamp', SIGNED_KEY, (r) => ({ 'X-Timestamp': 'abc', 'X-Signature': `sha256=${hmac(SIGNED_KEY, `abc.${r}`)}` })],
      ['a negative timestamp', SIGNED_KEY, (r) => ({ 'X-Timestamp': '-5', 'X-Signature': `sha256=${hmac(SIGNED_KEY, `-5.${r}`)}` })],
      ['an exponent timestamp', SIGNED_KEY, (r) => ({ 'X-Timestamp': '1e9', 'X-Signature': `sha256=${hmac(SIGNED_KEY, `1e9.${r}`)}` })],
      ['a fractional timestamp', SIGNED_KEY, (r) => ({ 'X-Timestamp': `${now()}.5`, 'X-Signature': `sha256=${hmac(SIGNED_KEY, `${now()}.5.${r}`)}` })],
      ['a stale timestamp', SIGNED_KEY, (r) => ({ 'X-Timestamp': String(now() - 3600), 'X-Signature': `sha256=${hmac(SIGNED_KEY, `${now() - 3600}.${r}`)}` })],
      ['timestamp 0', SIGNED_KEY, (r) => ({ 'X-Timestamp': '0', 'X-Signature': `sha256=${hmac(SIGNED_KEY, `0.${r}`)}` })],
      ['a huge timestamp', SIGNED_KEY, (r) => ({ 'X-Timestamp': '9'.repeat(40), 'X-Signature': `sha256=${hmac(SIGNED_KEY, `${'9'.repeat(40)}.${r}`)}` })],
      ['the key of another client', SIGNED_KEY, (r) => ({ 'X-Timestamp': String(now()), 'X-Signature': `sha256=${hmac(PUSH_KEY, `${now()}.${r}`)}` })],
      ['garbage from a key that need not sign', PUSH_KEY, () => ({ 'X-Timestamp': String(now()), 'X-Signature': 'sha256=deadbeef' })],
      ['a stale signature from a key that need not sign', PUSH_KEY, (r) => ({ 'X-Timestamp': String(now() - 301), 'X-Signature': `sha256=${hmac(PUSH_KEY, `${now() - 301}.${r}`)}` })],
    ];

    it.each(cases)('refuses %s: 401 UNAUTHORIZED', async (_name, key, headers) => {
      const r = body();
      const res = await request(node.url)
        .post('/api/v1/push')
        .set({ Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', ...headers(r) })
        .send(r);
      expectError(res, 401, 'UNAUTHORIZED');
      await canary.assertHealthy(node);
    });

    it('refuses a replay, also under concurrency: exactly one of ten identical signed requests passes', async () => {
      const r = body();
      const ts = now();
      const headers = { Authorization: `Bearer ${SIGNED_KEY}`, 'Content-Type': 'application/json', 'X-Timestamp': String(ts), 'X-Signature': `sha256=${hmac(SIGNED_KEY, `${ts}.${r}`)}` };
      const answers = await Promise.all(Array.from({ length: 10 }, () => request(node.url).post('/api/v1/push').set(headers).send(r)));
      expect(answers.map((a) => a.status).sort()).toEqual([200, ...Array(9).fill(401)]);
      for (const a of answers.filter((x) => x.status === 401)) expectError(a, 401, 'UNAUTHORIZED');
      await canary.assertHealthy(node);
    });
  });

  // Runs last (jest keeps declaration order): no case above reached the unhandled-error path.
  it('logged no unhandled error for any of the cases', () => {
    expect(node.logs.filter((l) => l.level === 'error')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------------------------

const KID_SECRET_2 = 'second-kid-secret-0123456789abcdef';

/** Base64url JSON, for hand-made tokens. */
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const exp = (s: number) => Math.floor(Date.now() / 1000) + s;
/** A hand-made HS256 token, for claims jsonwebtoken would refuse to sign. */
const hs256 = (header: object, payload: unknown, secret = TEST_JWT_SECRET) => {
  const signingInput = `${b64({ alg: 'HS256', typ: 'JWT', ...header })}.${b64(typeof payload === 'string' ? payload : JSON.stringify(payload))}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
};
/** An HS256 token that expired 30 s ago. */
const expired = (kid: string, secret: string) => jwt.sign({ sub: 'x', exp: exp(-30) }, secret, { algorithm: 'HS256', keyid: kid });

/** Resolves with the handshake's refusal code (`err.message`, checked equal to `err.data.code`), or 'connected'. */
function handshake(url: string, auth: Record<string, unknown> | undefined, opts: Parameters<typeof connectClient>[2] = {}): Promise<string> {
  const s = connectClient(url, auth, opts);
  return new Promise((resolve) => {
    s.once('connect', () => resolve('connected'));
    s.once('connect_error', (err: Error & { data?: { code?: string } }) => resolve(err.data?.code === err.message ? err.message : `${err.message}/${String(err.data?.code)}`));
  });
}

describe('bad socket input', () => {
  let node: TestNode;
  const canary = new Canary('socket-canary');
  beforeAll(async () => {
    node = await startNode({ MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), JWT_SECRET: undefined, JWT_SECRETS: `k1:${TEST_JWT_SECRET},k2:${KID_SECRET_2}` });
    await canary.connect(node.url, makeToken({ sub: 'socket-canary' }, { keyid: 'k1' }));
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    canary.close();
    await node.stop();
  });
  /** A user connected with a token signed under kid k1 (this node verifies JWT_SECRETS). */
  const connectK1 = (user: string, claims: Record<string, unknown> = {}, opts: Partial<ManagerOptions & SocketOptions> = {}) =>
    connectUser(node.url, user, claims, { ...opts, auth: { token: makeToken({ sub: user, ...claims }, { keyid: 'k1' }) } });

  const payloads: [string, unknown[]][] = [
    ['null', [null]],
    ['a number', [42]],
    ['a string', ['chat:1']],
    ['an array', [['chat:1']]],
    ['true', [true]],
    ['nothing', []],
    ['two arguments', [{ room: 'chat:1', token: 'x' }, 'extra']],
    ['binary', [Buffer.from('chat:1')]],
    ['an object without the field', [{ other: 'chat:1' }]],
    ['the field as a number', [{ room: 7, token: 7 }]],
    ['the field as an object', [{ room: { toString: 'chat:1' }, token: { a: 1 } }]],
    ['the field as an array', [{ room: ['chat:1'], token: ['t'] }]],
    ['the field null', [{ room: null, token: null }]],
  ];
  const events = ['room:join', 'room:leave', 'auth:refresh'] as const;
  // auth:refresh reads `token` from any object (a Buffer included): a missing or non-string token is UNAUTHORIZED.
  const expected = (event: string, name: string) => (event === 'auth:refresh' && (name.startsWith('the field') || name === 'an object without the field' || name === 'binary') ? 'UNAUTHORIZED' : 'BAD_REQUEST');
  const socketTable = events.flatMap((event) => payloads.map(([name, args]) => ({ event, name, args, code: expected(event, name) })));

  it.each(socketTable)('$event with $name → $code, socket and node keep working', async ({ event, args, code }) => {
    const { socket } = await connectK1('payload-user', { rooms: ['chat:*'] });
    const ack = await emitAck(socket, event, ...args);
    expect(ack).toEqual({ ok: false, error: { code, message: expect.any(String), ...(code === 'BAD_REQUEST' ? { details: expect.any(Array) } : {}) } });
    // The same socket still serves a valid request.
    expect(await emitAck(socket, 'room:join', { room: 'chat:ok' })).toEqual({ ok: true, data: { room: 'chat:ok', offset: expect.any(String) } });
    await canary.assertHealthy(node);
  });

  it.each(socketTable)('$event with $name and no ack callback: nothing breaks', async ({ event, args }) => {
    const { socket } = await connectK1('noack-user', { rooms: ['chat:*'] });
    socket.emit(event, ...args);
    // Handled in order: the acknowledged event after it proves the first was processed without harm.
    expect(await emitAck(socket, 'room:leave', { room: 'chat:none' })).toEqual({ ok: true, data: { room: 'chat:none' } });
    expect(socket.connected).toBe(true);
    await canary.assertHealthy(node);
  });

  it.each([
    ['a name with a space', 'has space', 'BAD_REQUEST'],
    ['a 101-character name', 'e'.repeat(101), 'BAD_REQUEST'],
    ['a name with a control character', 'ev\u0007', 'BAD_REQUEST'],
    ['a valid name without a backend', 'chat:message', 'NO_BACKEND'],
  ])('a forwarded event with %s → %s', async (_name, event, code) => {
    const { socket } = await connectK1('fwd-user');
    expect(await emitAck(socket, event, { any: 'thing' })).toEqual({ ok: false, error: expect.objectContaining({ code }) });
    expect(socket.connected).toBe(true);
    await canary.assertHealthy(node);
  });

  it.each([
    ['room:join over websocket', 'room:join', 'websocket'],
    ['a forwarded event over websocket', 'chat:big', 'websocket'],
    ['room:join over long-polling', 'room:join', 'polling'],
  ] as const)('an oversize message (%s) disconnects that socket only; the node stays healthy', async (_name, event, transport) => {
    const { socket } = await connectK1('big-user', { rooms: ['*'] }, { transports: [transport] });
    const bystander = await connectK1('bystander');
    const gone = nextEvent<[string]>(socket, 'disconnect', 10_000);
    socket.emit(event, { room: 'r', pad: 'x'.repeat(MAX_PAYLOAD * 2) }, () => undefined);
    const [reason] = await gone;
    expect(['transport close', 'transport error']).toContain(reason);
    expect(bystander.socket.connected).toBe(true);
    await canary.assertHealthy(node);
    // A message just under the limit still works on a fresh socket.
    const fresh = await connectK1('big-user', { rooms: ['*'] }, { transports: [transport] });
    expect((await emitAck(fresh.socket, 'room:join', { room: 'ok-room', pad: 'x'.repeat(MAX_PAYLOAD / 2) })).ok).toBe(true);
  });

  it('a numeric event name (valid for the Socket.IO parser) → BAD_REQUEST', async () => {
    const { socket } = await connectK1('num-event');
    const ack = await (socket.timeout(5000).emitWithAck as (ev: unknown, ...a: unknown[]) => Promise<unknown>)(5, { room: 'x' });
    expect(ack).toEqual({ ok: false, error: expect.objectContaining({ code: 'BAD_REQUEST' }) });
    expect(socket.connected).toBe(true);
    await canary.assertHealthy(node);
  });

  // Raw Socket.IO packets a well-behaved client never sends. Protocol violations end that socket
  // (Socket.IO's own parser refuses them); well-formed oddities are answered and the socket stays.
  it.each([
    ['malformed JSON', '2["room:join"', 'closed'],
    ['an event packet that is an object', '2{"room":"x"}', 'closed'],
    ['an empty event array', '2[]', 'closed'],
    ['the reserved event "disconnect"', '2["disconnect"]', 'closed'],
    ['the reserved event "disconnecting"', '2["disconnecting","x"]', 'closed'],
    ['an unknown packet type', '9["x"]', 'closed'],
    ['a binary event whose attachment never comes, then text', '51-["room:join",{"_placeholder":true,"num":0}]', 'closed'],
    ['an ack for an id the server never sent', '3999[{"ok":true}]', 'open'],
    ['a connect to an unknown namespace', '0/nope,{}', 'open'],
    ['the event "welcome" from the client', '2["welcome",{}]', 'open'],
    ['room:join with a deeply nested payload', `2["room:join",${'['.repeat(2000)}${']'.repeat(2000)}]`, 'open'],
  ].map(([name, packet, outcome]) => ({ name, packet, outcome })))('a raw packet with $name leaves the socket $outcome and the node healthy', async ({ packet, outcome }) => {
    const { socket } = await connectK1('raw-user', { rooms: ['*'] });
    const gone = nextEvent<[string]>(socket, 'disconnect', 5000);
    gone.catch(() => undefined);
    socket.io.engine.send(packet);
    if (packet.startsWith('51-')) socket.io.engine.send('2["room:join",{"room":"x"}]');
    if (outcome === 'closed') {
      await gone;
    } else {
      expect(await emitAck(socket, 'room:join', { room: 'still-here' })).toEqual({ ok: true, data: { room: 'still-here', offset: expect.any(String) } });
      expect(socket.connected).toBe(true);
    }
    await canary.assertHealthy(node);
  });

  const wrongSecret = 'wrong-secret-0123456789abcdef0123';
  const tokenCases: [string, unknown, string][] = [
    ['garbage', 'garbage', 'UNAUTHORIZED'],
    ['three dots of nothing', 'a.b.c', 'UNAUTHORIZED'],
    ['an empty string', '', 'UNAUTHORIZED'],
    ['a number', 42, 'UNAUTHORIZED'],
    ['an object', { sub: 'x' }, 'UNAUTHORIZED'],
    ['an array', [makeToken({ sub: 'x' }, { keyid: 'k1' })], 'UNAUTHORIZED'],
    ['null', null, 'UNAUTHORIZED'],
    ['a 9 kB token', `${makeToken({ sub: 'x' }, { keyid: 'k1' })}${'a'.repeat(9000)}`, 'UNAUTHORIZED'],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', exp: exp(60) })}.`, 'UNAUTHORIZED'],
    ['alg none with a known kid', `${b64({ alg: 'none', typ: 'JWT', kid: 'k1' })}.${b64({ sub: 'x', exp: exp(60) })}.`, 'UNAUTHORIZED'],
    ['alg "None"', `${b64({ alg: 'None', kid: 'k1' })}.${b64({ sub: 'x', exp: exp(60) })}.`, 'UNAUTHORIZED'],
    ['HS512 with the right secret', makeToken({ sub: 'x' }, { keyid: 'k1', algorithm: 'HS512' }), 'UNAUTHORIZED'],
    ['expired', expired('k1', TEST_JWT_SECRET), 'TOKEN_EXPIRED'],
    ['expired and of the second kid', expired('k2', KID_SECRET_2), 'TOKEN_EXPIRED'],
    ['expired with a wrong secret', expired('k1', wrongSecret), 'UNAUTHORIZED'],
    ['not valid yet (nbf)', makeToken({ sub: 'x' }, { keyid: 'k1', notBefore: 3600 }), 'UNAUTHORIZED'],
    ['a foreign kid', makeToken({ sub: 'x' }, { keyid: 'k9' }), 'UNAUTHORIZED'],
    ['kid "__proto__"', makeToken({ sub: 'x' }, { keyid: '__proto__' }), 'UNAUTHORIZED'],
    ['a numeric kid', `${b64({ alg: 'HS256', kid: 1 })}.${b64({ sub: 'x' })}.sig`, 'UNAUTHORIZED'],
    ['the secret of the other kid', makeToken({ sub: 'x' }, { keyid: 'k1' }, KID_SECRET_2), 'UNAUTHORIZED'],
    ['a wrong secret', makeToken({ sub: 'x' }, { keyid: 'k1' }, wrongSecret), 'UNAUTHORIZED'],
    ['a wrong secret and no kid', makeToken({ sub: 'x' }, {}, wrongSecret), 'UNAUTHORIZED'],
    ['a tampered payload', ((t: string) => `${t.split('.')[0]}.${b64({ sub: 'admin', exp: exp(600) })}.${t.split('.')[2]}`)(makeToken({ sub: 'x' }, { keyid: 'k1' })), 'UNAUTHORIZED'],
    ['a stripped signature', makeToken({ sub: 'x' }, { keyid: 'k1' }).replace(/\.[^.]+$/, '.'), 'UNAUTHORIZED'],
    ['no sub', makeToken({ name: 'x' }, { keyid: 'k1' }), 'UNAUTHORIZED'],
    ['an empty sub', makeToken({ sub: '' }, { keyid: 'k1' }), 'UNAUTHORIZED'],
    ['a numeric sub', jwt.sign({ sub: 42 } as object, TEST_JWT_SECRET, { algorithm: 'HS256', keyid: 'k1', expiresIn: 60 }), 'UNAUTHORIZED'],
    ['a sub with a space', makeToken({ sub: 'a b' }, { keyid: 'k1' }), 'UNAUTHORIZED'],
    ['a 201-character sub', makeToken({ sub: 's'.repeat(201) }, { keyid: 'k1' }), 'UNAUTHORIZED'],
    ['a rooms claim that is a string', makeToken({ sub: 'x', rooms: 'chat:*' }, { keyid: 'k1' }), 'UNAUTHORIZED'],
    ['a rooms claim with a number', makeToken({ sub: 'x', rooms: [1] }, { keyid: 'k1' }), 'UNAUTHORIZED'],
    ['a JSON payload that is not an object', hs256({ kid: 'k1' }, '"x"'), 'UNAUTHORIZED'],
    ['a payload that is not JSON', hs256({ kid: 'k1' }, 'not json'), 'UNAUTHORIZED'],
    ['an exp that is a string', hs256({ kid: 'k1' }, { sub: 'x', exp: String(exp(600)) }), 'UNAUTHORIZED'],
    ['a sub that is an object', hs256({ kid: 'k1' }, { sub: { id: 'x' }, exp: exp(600) }), 'UNAUTHORIZED'],
    ['a payload with __proto__', hs256({ kid: 'k1' }, '{"__proto__":{"sub":"admin"},"exp":9999999999}'), 'UNAUTHORIZED'],
    ['a header that is not JSON', `${b64('not json')}.${b64({ sub: 'x' })}.sig`, 'UNAUTHORIZED'],
    ['four segments', `${makeToken({ sub: 'x' }, { keyid: 'k1' })}.extra`, 'UNAUTHORIZED'],
  ];

  const tokenTable = tokenCases.map(([name, token, code]) => ({ name, token, code }));

  it.each(tokenTable)('the handshake refuses a token that is $name → $code', async ({ token, code }) => {
    expect(await handshake(node.url, { token })).toBe(code);
    await canary.assertHealthy(node);
  });

  it.each(tokenTable.filter(({ token }) => typeof token === 'string' && token !== ''))('auth:refresh refuses a token that is $name → $code, and keeps the socket', async ({ token, code }) => {
    const { socket } = await connectK1('x');
    expect(await emitAck(socket, 'auth:refresh', { token })).toEqual({ ok: false, error: expect.objectContaining({ code }) });
    expect(socket.connected).toBe(true);
    await canary.assertHealthy(node);
  });

  it.each([
    ['?token=', { query: { token: 'garbage' } }],
    ['Authorization: Bearer (polling)', { transports: ['polling' as const], extraHeaders: { Authorization: 'Bearer garbage' } }],
    ['?token= with alg none', { query: { token: `${b64({ alg: 'none' })}.${b64({ sub: 'x' })}.` } }],
  ])('the handshake refuses a bad token in %s → UNAUTHORIZED', async (_name, opts) => {
    expect(await handshake(node.url, undefined, opts)).toBe('UNAUTHORIZED');
    await canary.assertHealthy(node);
  });

  it('logged no unhandled error for any of the cases', () => {
    expect(node.logs.filter((l) => l.level === 'error')).toEqual([]);
  });
});

describe('bad tokens with JWT_PUBLIC_KEY (RS256)', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const ISS = 'https://issuer.example';
  const AUD = 'pushgate';
  const rs = (claims: object, opts: jwt.SignOptions = {}, key: jwt.Secret = privateKey) => jwt.sign(claims, key, { algorithm: 'RS256', expiresIn: 600, issuer: ISS, audience: AUD, ...opts });
  /** HS256 with the public key's PEM text as the HMAC secret: the classic RS/HS confusion attack. */
  const confused = (pem: string) => {
    const head = b64({ alg: 'HS256', typ: 'JWT' });
    const body = b64({ sub: 'mallory', iss: ISS, aud: AUD, exp: exp(600) });
    return `${head}.${body}.${createHmac('sha256', pem).update(`${head}.${body}`).digest('base64url')}`;
  };
  const ps256 = () => {
    const head = b64({ alg: 'PS256', typ: 'JWT' });
    const body = b64({ sub: 'x', iss: ISS, aud: AUD, exp: exp(600) });
    const sig = createSign('sha256').update(`${head}.${body}`).sign({ key: privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */ }, 'base64url');
    return `${head}.${body}.${sig}`;
  };

  let node: TestNode;
  const canary = new Canary('rsa-canary');
  beforeAll(async () => {
    node = await startNode({ JWT_SECRET: undefined, JWT_PUBLIC_KEY: publicPem, JWT_ISSUER: ISS, JWT_AUDIENCE: AUD });
    await canary.connect(node.url, rs({ sub: 'rsa-canary' }));
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    canary.close();
    await node.stop();
  });

  it('accepts a valid RS256 token (the baseline the refusals are measured against)', async () => {
    expect(await handshake(node.url, { token: rs({ sub: 'alice' }) })).toBe('connected');
  });

  it.each([
    ['HS256 signed with the RSA public key PEM (RS/HS confusion)', confused(publicPem)],
    ['HS256 signed with the PEM without its trailing newline', confused(publicPem.trim())],
    ['HS256 signed with the test HMAC secret', makeToken({ sub: 'x', iss: ISS, aud: AUD })],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', iss: ISS, aud: AUD, exp: exp(60) })}.`],
    ['RS256 signed by another key pair', rs({ sub: 'x' }, {}, other.privateKey)],
    ['ES256 from another key', jwt.sign({ sub: 'x', iss: ISS, aud: AUD }, ec.privateKey, { algorithm: 'ES256', expiresIn: 60 })],
    ['PS256 with the right key (algorithm not allowed)', ps256()],
    ['RS256 from a wrong issuer', rs({ sub: 'x' }, { issuer: 'https://evil.example' })],
    ['RS256 without an audience', jwt.sign({ sub: 'x' }, privateKey, { algorithm: 'RS256', expiresIn: 60, issuer: ISS })],
    ['RS256 without sub', rs({ name: 'x' })],
    ['garbage', 'garbage'],
  ])('refuses %s with UNAUTHORIZED', async (_name, token) => {
    expect(await handshake(node.url, { token })).toBe('UNAUTHORIZED');
    await canary.assertHealthy(node);
  });

  it('refuses an expired RS256 token with TOKEN_EXPIRED', async () => {
    expect(await handshake(node.url, { token: jwt.sign({ sub: 'x', exp: exp(-30) }, privateKey, { algorithm: 'RS256', issuer: ISS, audience: AUD }) })).toBe('TOKEN_EXPIRED');
    await canary.assertHealthy(node);
  });

  it('auth:refresh refuses the RS/HS confusion token for the same sub', async () => {
    const token = rs({ sub: 'mallory' });
    const s = connectClient(node.url, { token });
    await nextEvent(s, 'welcome');
    expect(await emitAck(s, 'auth:refresh', { token: confused(publicPem) })).toEqual({ ok: false, error: expect.objectContaining({ code: 'UNAUTHORIZED' }) });
    expect(s.connected).toBe(true);
    await canary.assertHealthy(node);
  });
});
