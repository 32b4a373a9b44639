import winston from 'winston';
import { MemoryNodeRegistry } from '../../server/src/cluster/memory-node-registry';
import { MemoryPresenceStore } from '../../server/src/cluster/memory-presence-store';
import { MemoryPushStore } from '../../server/src/cluster/memory-push-store';
import { MemoryRateLimitStore } from '../../server/src/cluster/memory-rate-limit-store';
import type { NodeRegistry } from '../../server/src/cluster/node-registry';
import type { HistoryPolicy, HistoryStore } from '../../server/src/cluster/history-store';
import { MemoryHistoryStore } from '../../server/src/cluster/memory-history-store';
import type { PresenceChange, PresenceStore, PushTargets } from '../../server/src/cluster/presence-store';
import { RedisHistoryStore } from '../../server/src/cluster/redis-history-store';
import type { PushStore } from '../../server/src/cluster/push-store';
import type { RateLimitStore } from '../../server/src/cluster/rate-limit-store';
import { createRedisConnections, type RedisConnections } from '../../server/src/cluster/redis';
import { RedisNodeRegistry } from '../../server/src/cluster/redis-node-registry';
import { RedisPresenceStore } from '../../server/src/cluster/redis-presence-store';
import { RedisPushStore } from '../../server/src/cluster/redis-push-store';
import { decodeWire, deliveries, type Delivery, type PushWire } from '../../server/src/cluster/push-wire';
import { RedisKeys } from '../../server/src/cluster/redis-keys';
import { RedisRateLimitStore } from '../../server/src/cluster/redis-rate-limit-store';
import type { NodeStatus } from '../../server/src/contracts/api';
import { systemClock } from '../../server/src/lib/clock';
import { eventually } from '../support/node';
import { testRedisUrl, uniquePrefix } from '../support/redis';

/**
 * One contract suite, run against the memory implementation (single node) and the Redis one
 * (cluster): whatever a route or manager relies on must hold for both.
 */
interface Stores {
  presence: PresenceStore;
  push: PushStore;
  counters: RateLimitStore;
  registry: NodeRegistry;
  history: HistoryStore;
  /** Every presence transition the stores reported. */
  changes: PresenceChange[];
  /** Every push the push store handed to delivery (in a cluster: what each node received). */
  published: PushWire[];
  /** Resolves once what is published can be seen. */
  listening: Promise<unknown>;
  /** Makes the backing store lose every stream (a Redis restart without persistence, a single node's restart). */
  loseHistory(): Promise<void>;
}

/** Small on purpose: three messages per stream, gone 300 ms after a stream's last one. */
const POLICY: HistoryPolicy = { ttlMs: 300, size: 3 };

const silent = winston.createLogger({ silent: true });
let redis: RedisConnections;

beforeAll(async () => {
  redis = createRedisConnections(testRedisUrl(), { kind: 'single' }, silent);
  if (!(await redis.connect(5000))) throw new Error('test Redis is not reachable');
});
afterAll(() => redis.close());

const implementations: [string, () => Stores][] = [
  [
    'memory',
    () => {
      const changes: PresenceChange[] = [];
      const presence = new MemoryPresenceStore((c) => changes.push(...c));
      const published: PushWire[] = [];
      // A single node keeps history and message ids in its process: losing them means both go.
      const fresh = () => {
        const history = new MemoryHistoryStore(POLICY, systemClock);
        return { history, push: new MemoryPushStore(presence, systemClock, history, (w) => published.push(w)) };
      };
      let mem = fresh();
      return {
        presence,
        changes,
        published,
        listening: Promise.resolve(),
        get history() {
          return mem.history;
        },
        get push() {
          return mem.push;
        },
        counters: new MemoryRateLimitStore(systemClock),
        registry: new MemoryNodeRegistry(systemClock),
        async loseHistory() {
          mem = fresh();
        },
      };
    },
  ],
  [
    'redis',
    () => {
      const keys = new RedisKeys(uniquePrefix('stores'));
      const changes: PresenceChange[] = [];
      const presence = new RedisPresenceStore(redis.data, keys, (c) => changes.push(...c));
      const published: PushWire[] = [];
      // What a node with sockets in these streams, and owning node n1's sockets, would hear.
      const onPush = (raw: string) => published.push(decodeWire(raw));
      const channels = [...LISTENED_STREAMS.map((st) => keys.streamChannel(st)), keys.nodeChannel('n1')];
      return {
        presence,
        changes,
        published,
        listening: Promise.all(channels.map((c) => redis.sub.sSubscribe(c, onPush))),
        history: new RedisHistoryStore(redis.data, keys, POLICY, ''),
        push: new RedisPushStore(redis.data, keys, POLICY, presence, { kind: 'single' }),
        counters: new RedisRateLimitStore(redis.data, keys),
        registry: new RedisNodeRegistry(redis.data, keys, presence),
        async loseHistory() {
          const lost = [...(await redis.data.keys(`${keys.prefix}:*:hmeta`)), ...(await redis.data.keys(`${keys.prefix}:*:hist`))];
          if (lost.length > 0) await redis.data.del(lost);
        },
      };
    },
  ],
];

/** The streams whose pushes the Redis suite listens to. */
const LISTENED_STREAMS = ['user:u', 'r'];

/** What nodes deliver from what was published, in a stable order: a whole push and its parts compare equal. */
const delivered = (wires: PushWire[]): Delivery[] => wires.flatMap(deliveries).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

const targets = (t: Partial<PushTargets>): PushTargets => ({ users: [], rooms: [], socketIds: [], except: [], ...t });
const plain = (id: string) => ({ event: 'e', data: id, id, ts: 1 });

function nodeStatus(id: string): NodeStatus {
  return { id, version: '0.0.0', connections: 0, users: 0, rooms: 0, startedAt: 1, lastSeen: 2, memoryRss: 3, eventLoopLagMs: 0, redis: 'up', ready: true };
}

describe.each(implementations)('%s stores', (_name, make) => {
  let s: Stores;
  beforeEach(async () => {
    s = make();
    await s.listening;
  });

  async function socket(socketId: string, userId: string, nodeId = 'n1', connectedAt = 1000): Promise<void> {
    await s.presence.addSocket({ socketId, userId, nodeId, connectedAt });
  }

  describe('presence', () => {
    it('lists a user’s sockets, oldest first, with node, connection time and rooms', async () => {
      await socket('s2', 'u', 'n2', 2000);
      await socket('s1', 'u', 'n1', 1000);
      await s.presence.joinRoom('s1', 'b');
      await s.presence.joinRoom('s1', 'a');
      expect(await s.presence.getUser('u')).toEqual([
        { id: 's1', nodeId: 'n1', connectedAt: 1000, rooms: ['a', 'b'] },
        { id: 's2', nodeId: 'n2', connectedAt: 2000, rooms: [] },
      ]);
      expect(await s.presence.getUser('nobody')).toEqual([]);
    });

    it('adding a socket twice changes nothing', async () => {
      await socket('s1', 'u');
      await s.presence.joinRoom('s1', 'r');
      await socket('s1', 'u', 'other', 5);
      expect(await s.presence.getUser('u')).toEqual([{ id: 's1', nodeId: 'n1', connectedAt: 1000, rooms: ['r'] }]);
      expect(await s.presence.totals()).toEqual({ sockets: 1, users: 1, rooms: 1 });
    });

    it('joinRoom and leaveRoom report whether they changed anything', async () => {
      await socket('s1', 'u');
      expect(await s.presence.joinRoom('s1', 'r')).toBe(true);
      expect(await s.presence.joinRoom('s1', 'r')).toBe(false);
      expect(await s.presence.joinRoom('ghost', 'r')).toBe(false);
      expect(await s.presence.leaveRoom('s1', 'r')).toBe(true);
      expect(await s.presence.leaveRoom('s1', 'r')).toBe(false);
      expect(await s.presence.getRoom('r')).toBeNull();
    });

    it('a room counts sockets and distinct users', async () => {
      await socket('s1', 'ann');
      await socket('s2', 'ann');
      await socket('s3', 'bob');
      for (const id of ['s1', 's2', 's3']) await s.presence.joinRoom(id, 'chat:1');
      expect(await s.presence.getRoom('chat:1')).toEqual({ room: 'chat:1', sockets: 3, users: [{ userId: 'ann', sockets: 2 }, { userId: 'bob', sockets: 1 }] });
      await s.presence.leaveRoom('s1', 'chat:1');
      expect(await s.presence.getRoom('chat:1')).toEqual({ room: 'chat:1', sockets: 2, users: [{ userId: 'ann', sockets: 1 }, { userId: 'bob', sockets: 1 }] });
      expect((await s.presence.listRooms({ limit: 10 })).rooms).toEqual([{ room: 'chat:1', sockets: 2, users: 2 }]);
    });

    it('removing a socket takes it out of its user and every room; an emptied room disappears', async () => {
      await socket('s1', 'u');
      await socket('s2', 'v');
      await s.presence.joinRoom('s1', 'x');
      await s.presence.joinRoom('s1', 'y');
      await s.presence.joinRoom('s2', 'y');
      await s.presence.removeSocket('s1');
      await s.presence.removeSocket('s1');
      await s.presence.removeSocket('never-existed');
      expect(await s.presence.getUser('u')).toEqual([]);
      expect(await s.presence.getRoom('x')).toBeNull();
      expect(await s.presence.getRoom('y')).toEqual({ room: 'y', sockets: 1, users: [{ userId: 'v', sockets: 1 }] });
      expect(await s.presence.totals()).toEqual({ sockets: 1, users: 1, rooms: 1 });
    });

    it('lists rooms in order, by prefix, page by page with a cursor', async () => {
      await socket('s1', 'u');
      for (const r of ['game:3', 'chat:b', 'game:1', 'chat:a', 'game:2', 'gamer', 'h']) await s.presence.joinRoom('s1', r);
      const first = await s.presence.listRooms({ prefix: 'game:', limit: 2 });
      expect(first.rooms.map((r) => r.room)).toEqual(['game:1', 'game:2']);
      expect(first.cursor).toBe('game:2');
      const second = await s.presence.listRooms({ prefix: 'game:', limit: 2, cursor: first.cursor! });
      expect(second.rooms.map((r) => r.room)).toEqual(['game:3']);
      expect(second.cursor).toBeNull();
      const all = await s.presence.listRooms({ limit: 100 });
      expect(all.rooms.map((r) => r.room)).toEqual(['chat:a', 'chat:b', 'game:1', 'game:2', 'game:3', 'gamer', 'h']);
      expect(all.cursor).toBeNull();
      const exact = await s.presence.listRooms({ limit: 7 });
      expect(exact.cursor).toBeNull();
      expect((await s.presence.listRooms({ prefix: 'zzz', limit: 5 })).rooms).toEqual([]);
    });

    it('counts distinct recipients over users, rooms and socket ids, minus except', async () => {
      await socket('a1', 'ann');
      await socket('a2', 'ann');
      await socket('b1', 'bob');
      await socket('c1', 'cid');
      await s.presence.joinRoom('a1', 'r');
      await s.presence.joinRoom('b1', 'r');
      expect(await s.presence.countRecipients(targets({ users: ['ann'] }))).toBe(2);
      expect(await s.presence.countRecipients(targets({ rooms: ['r'] }))).toBe(2);
      expect(await s.presence.countRecipients(targets({ rooms: ['r'], except: ['a1', 'zz'] }))).toBe(1);
      expect(await s.presence.countRecipients(targets({ users: ['ann'], rooms: ['r'] }))).toBe(3);
      expect(await s.presence.countRecipients(targets({ socketIds: ['c1', 'gone'] }))).toBe(1);
      expect(await s.presence.countRecipients(targets({ users: ['ann', 'bob', 'nobody'], rooms: ['r', 'empty'], socketIds: ['c1', 'a1'], except: ['b1'] }))).toBe(3);
      expect(await s.presence.countRecipients(targets({ rooms: ['empty'] }))).toBe(0);
    });

    it('removeNode drops exactly that node’s sockets', async () => {
      await socket('s1', 'u', 'dead');
      await socket('s2', 'u', 'dead');
      await socket('s3', 'u', 'alive');
      await s.presence.joinRoom('s1', 'r');
      await s.presence.joinRoom('s3', 'r');
      expect(await s.presence.removeNode('dead')).toBe(2);
      expect(await s.presence.removeNode('dead')).toBe(0);
      expect((await s.presence.getUser('u')).map((x) => x.id)).toEqual(['s3']);
      expect(await s.presence.getRoom('r')).toEqual({ room: 'r', sockets: 1, users: [{ userId: 'u', sockets: 1 }] });
    });
  });

  describe('push admission', () => {
    it('admits a new id with its recipients, and answers a repeat with the first count', async () => {
      await socket('s1', 'u');
      const first = await s.push.admit('m1', targets({ users: ['u'] }), 60_000, plain('m1'), false);
      expect(first).toEqual({ duplicate: false, recipients: 1, offsets: [], receivers: 1 });
      await socket('s2', 'u');
      expect(await s.push.admit('m1', targets({ users: ['u'] }), 60_000, plain('m1'), false)).toEqual({ duplicate: true, recipients: 1, offsets: [], receivers: 0 });
      expect(await s.push.admit('m2', targets({ users: ['u'] }), 60_000, plain('m2'), false)).toEqual({ duplicate: false, recipients: 2, offsets: [], receivers: 1 });
    });

    it('forgets an id after its TTL', async () => {
      expect((await s.push.admit('short', targets({ users: ['u'] }), 100, plain('short'), false)).duplicate).toBe(false);
      expect((await s.push.admit('short', targets({ users: ['u'] }), 100, plain('short'), false)).duplicate).toBe(true);
      await eventually(async () => !(await s.push.admit('short', targets({ users: ['u'] }), 100, plain('short'), false)).duplicate, 5000, 20);
    });

    it('hands every admitted push to delivery in the same step, with its route and offsets, and never a repeat', async () => {
      await socket('s9', 'u9', 'n1');
      const route = { ...targets({ users: ['u'], rooms: ['r'], socketIds: ['s9'], except: ['s1'] }), ack: { node: 'n1', token: 't-1', timeoutMs: 500 } };
      const message = { event: 'e', data: { deep: [1, 'é', null, '"quoted"'] }, id: 'w1', ts: 1_700_000_000_000, room: 'r' };
      const first = await s.push.admit('w1', route, 60_000, message, true);
      expect(first.offsets).toHaveLength(2);
      await s.push.admit('w1', route, 60_000, message, true);
      await s.push.admit('w2', targets({ rooms: ['r'] }), 60_000, plain('w2'), false);
      const expected = delivered([
        { offsets: first.offsets, message, route },
        { offsets: [], message: plain('w2'), route: targets({ rooms: ['r'] }) },
      ]);
      // Each stream's part, and the socket ids' part, reach delivery exactly as the whole push would.
      await eventually(async () => delivered(s.published).length >= expected.length, 5000, 10);
      expect(delivered(s.published)).toEqual(expected);
    });
  });

  describe('history', () => {
    const msg = (id: string, data: unknown = id) => ({ event: 'e', data, id, ts: 1_700_000_000_000 });
    /** Pushes `ids` to the stream through the admission call, as PushService does; @returns their offsets. */
    async function pushTo(stream: string, ...ids: string[]): Promise<string[]> {
      const out = [];
      for (const id of ids) out.push(...(await s.push.admit(id, targets({ rooms: [stream] }), 60_000, { ...msg(id), room: stream }, true)).offsets);
      return out;
    }

    it('gives a new stream a position that stays put until a message is kept', async () => {
      const p = await s.history.position('quiet');
      expect(p).toMatch(/^[0-9a-z]+:0$/);
      expect(await s.history.position('quiet')).toBe(p);
      expect(await s.history.since('quiet', p)).toEqual({ covered: true, entries: [], more: false, position: p });
    });

    it('keeps a push in every stream it names, one offset each, and answers what followed an offset in order', async () => {
      const start = await s.history.position('r1');
      const userStart = await s.history.position('user:u1');
      const first = await s.push.admit('h1', targets({ users: ['u1'], rooms: ['r1'] }), 60_000, msg('h1', { deep: [1, 'é', null] }), true);
      expect(first.offsets).toHaveLength(2);
      const [second] = await pushTo('r1', 'h2');
      const read = await s.history.since('r1', start);
      expect(read).toEqual({
        covered: true,
        more: false,
        position: second,
        entries: [
          { offset: first.offsets[1], event: 'e', data: { deep: [1, 'é', null] }, id: 'h1', ts: 1_700_000_000_000 },
          { offset: second, event: 'e', data: 'h2', id: 'h2', ts: 1_700_000_000_000, room: 'r1' },
        ],
      });
      expect((await s.history.since('user:u1', userStart)).entries.map((e) => [e.id, e.offset])).toEqual([['h1', first.offsets[0]]]);
      expect(await s.history.since('r1', first.offsets[1]!)).toMatchObject({ covered: true, entries: [{ id: 'h2' }] });
    });

    it('keeps nothing for a duplicate id', async () => {
      const start = await s.history.position('dup');
      await pushTo('dup', 'same', 'same', 'other');
      expect((await s.history.since('dup', start)).entries.map((e) => e.id)).toEqual(['same', 'other']);
    });

    it('keeps at most HISTORY_SIZE messages: an offset before the kept ones is not covered', async () => {
      const start = await s.history.position('big');
      const offsets = await pushTo('big', 'b1', 'b2', 'b3', 'b4', 'b5');
      expect(await s.history.since('big', start)).toEqual({ covered: false, entries: [], more: false, position: offsets[4] });
      expect(await s.history.since('big', offsets[0]!)).toEqual({ covered: false, entries: [], more: false, position: offsets[4] });
      expect((await s.history.since('big', offsets[1]!)).entries.map((e) => e.id)).toEqual(['b3', 'b4', 'b5']);
    });

    it('drops a stream’s messages HISTORY_TTL after its last one, but still recognises a client that had seen them all', async () => {
      const start = await s.history.position('ttl');
      const [last] = await pushTo('ttl', 't1');
      await eventually(async () => !(await s.history.since('ttl', start)).covered, 5000, 50);
      expect(await s.history.since('ttl', last!)).toEqual({ covered: true, entries: [], more: false, position: last });
      // The sequence goes on after the messages expired: nothing is confused with what was dropped.
      const [next] = await pushTo('ttl', 't2');
      expect(await s.history.since('ttl', last!)).toMatchObject({ covered: true, entries: [{ id: 't2', offset: next }] });
    });

    it('keeps the metadata of a stream that was only read (a room joined, never pushed to) for HISTORY_TTL only', async () => {
      const quiet = await s.history.position('only-joined');
      // Checked less often than the TTL, so the checks themselves do not keep it alive.
      await eventually(async () => (await s.history.position('only-joined')) !== quiet, 5000, POLICY.ttlMs + 100);
      const [pushed] = await pushTo('was-pushed', 'w1');
      await new Promise((r) => setTimeout(r, POLICY.ttlMs + 100));
      expect(await s.history.position('was-pushed')).toBe(pushed);
    });

    /** Reads `stream` after `from` page by page, as a recovery does; @returns each page's ids. */
    async function pages(stream: string, from: string, limit: number): Promise<string[][]> {
      const out: string[][] = [];
      for (let after = from; ; ) {
        const page = await s.history.since(stream, after, limit);
        expect(page.covered).toBe(true);
        out.push(page.entries.map((e) => e.id));
        if (!page.more) return out;
        after = page.entries[page.entries.length - 1]!.offset;
      }
    }

    it('reads page by page with a limit: at most that many each, and more says whether more follow', async () => {
      const start = await s.history.position('paged');
      const offsets = await pushTo('paged', 'p1', 'p2', 'p3');
      expect(await pages('paged', start, 1)).toEqual([['p1'], ['p2'], ['p3']]);
      expect(await pages('paged', start, 2)).toEqual([['p1', 'p2'], ['p3']]);
      expect(await pages('paged', start, 3)).toEqual([['p1', 'p2', 'p3']]);
      expect(await pages('paged', start, 50)).toEqual([['p1', 'p2', 'p3']]);
      expect(await s.history.since('paged', offsets[2]!, 2)).toEqual({ covered: true, entries: [], more: false, position: offsets[2] });
    });

    it('a later page that history no longer covers is a gap, not a silent skip', async () => {
      const start = await s.history.position('trimmed');
      await pushTo('trimmed', 't1', 't2', 't3');
      const first = await s.history.since('trimmed', start, 1);
      expect(first).toMatchObject({ covered: true, more: true, entries: [{ id: 't1' }] });
      // Two more push t1 and t2 out of the three kept while the first page was being sent.
      const offsets = await pushTo('trimmed', 't4', 't5');
      expect(await s.history.since('trimmed', first.entries[0]!.offset, 1)).toEqual({ covered: false, entries: [], more: false, position: offsets[1] });
    });

    it('a page may end early on large messages, never empty, and the pages still carry every message once', async () => {
      const start = await s.history.position('large');
      const big = 'x'.repeat(600 * 1024);
      for (const id of ['l1', 'l2', 'l3']) await s.push.admit(id, targets({ rooms: ['large'] }), 60_000, { ...msg(id, big), room: 'large' }, true);
      const read = await pages('large', start, 3);
      expect(read.flat()).toEqual(['l1', 'l2', 'l3']);
      for (const page of read) expect(page.length).toBeGreaterThan(0);
      // Redis copies each page into the node, so it ends one at HISTORY_PAGE_BYTES (two of these do not fit).
      if (_name === 'redis') expect(read).toEqual([['l1'], ['l2'], ['l3']]);
    });

    it('never covers a gap it cannot see: an offset of an older epoch, from the future, or malformed', async () => {
      const [o] = await pushTo('ep', 'e1');
      const [epoch, seq] = o!.split(':');
      for (const bad of [`zz${epoch}:${seq}`, `${epoch}:${Number(seq) + 5}`, 'nonsense', '']) {
        expect(await s.history.since('ep', bad)).toEqual({ covered: false, entries: [], more: false, position: o });
      }
    });

    it('after the history was lost, an old offset is not covered and the stream starts a new epoch', async () => {
      const [o] = await pushTo('lost', 'l1');
      await s.loseHistory();
      const read = await s.history.since('lost', o!);
      expect(read.covered).toBe(false);
      expect(read.position.split(':')[0]).not.toBe(o!.split(':')[0]);
      expect(read.position).toMatch(/:0$/);
    });
  });

  describe('presence transitions', () => {
    it('reports a user’s first socket into a room and last socket out, once each', async () => {
      await socket('p1', 'ann');
      await socket('p2', 'ann');
      await socket('p3', 'bob');
      await s.presence.joinRoom('p1', 'chat:1');
      await s.presence.joinRoom('p2', 'chat:1');
      await s.presence.joinRoom('p2', 'chat:1');
      await s.presence.joinRoom('p3', 'chat:1');
      await s.presence.leaveRoom('p1', 'chat:1');
      await s.presence.leaveRoom('p2', 'chat:1');
      await s.presence.leaveRoom('p2', 'chat:1');
      expect(s.changes).toEqual([
        { room: 'chat:1', userId: 'ann', joined: true },
        { room: 'chat:1', userId: 'bob', joined: true },
        { room: 'chat:1', userId: 'ann', joined: false },
      ]);
    });

    it('reports the rooms a disconnect or a dead node’s removal left, and nothing for a quiet re-publish', async () => {
      await socket('q1', 'ann', 'dead');
      await socket('q2', 'ann', 'alive');
      await socket('q3', 'cid', 'dead');
      await s.presence.joinRoom('q1', 'a');
      await s.presence.joinRoom('q1', 'b');
      await s.presence.joinRoom('q2', 'b');
      await s.presence.joinRoom('q3', 'a', { quiet: true });
      s.changes.length = 0;
      await s.presence.removeNode('dead');
      expect(s.changes.sort((x, y) => (x.userId + x.room < y.userId + y.room ? -1 : 1))).toEqual([
        { room: 'a', userId: 'ann', joined: false },
        { room: 'a', userId: 'cid', joined: false },
      ]);
      s.changes.length = 0;
      await s.presence.removeSocket('q2');
      expect(s.changes).toEqual([{ room: 'b', userId: 'ann', joined: false }]);
    });
  });

  describe('rate-limit counters', () => {
    it('counts hits in a window, and decrement and reset undo them', async () => {
      const before = Date.now();
      expect((await s.counters.hit('k', 60_000)).count).toBe(1);
      const second = await s.counters.hit('k', 60_000);
      expect(second.count).toBe(2);
      expect(second.resetAt).toBeGreaterThan(before + 50_000);
      expect(second.resetAt).toBeLessThanOrEqual(Date.now() + 60_000);
      await s.counters.decrement('k');
      expect((await s.counters.hit('k', 60_000)).count).toBe(2);
      await s.counters.reset('k');
      expect((await s.counters.hit('k', 60_000)).count).toBe(1);
      await s.counters.decrement('never-hit');
      expect((await s.counters.hit('never-hit', 60_000)).count).toBe(1);
      expect((await s.counters.hit('other', 60_000)).count).toBe(1);
    });

    it('starts a new window once the old one ends', async () => {
      await s.counters.hit('w', 100);
      expect((await s.counters.hit('w', 100)).count).toBe(2);
      await eventually(async () => (await s.counters.hit('w', 100)).count === 1, 5000, 20);
    });
  });

  describe('node registry', () => {
    it('lists heart-beating nodes as alive, then as down once the heartbeat expires', async () => {
      await s.registry.heartbeat(nodeStatus('n1'), 60_000);
      await s.registry.heartbeat(nodeStatus('n2'), 100);
      expect((await s.registry.list()).sort((a, b) => a.id.localeCompare(b.id))).toEqual([
        { ...nodeStatus('n1'), alive: true },
        { ...nodeStatus('n2'), alive: true },
      ]);
      await eventually(async () => (await s.registry.list()).find((n) => n.id === 'n2')?.alive === false, 5000, 20);
      await s.registry.remove('n2');
      expect((await s.registry.list()).map((n) => n.id)).toEqual(['n1']);
    });
  });
});

describe('redis node registry across nodes', () => {
  it('reaps a dead node’s presence once, and tells a paused node it was presumed dead', async () => {
    const keys = new RedisKeys(uniquePrefix('reap'));
    const presence = new RedisPresenceStore(redis.data, keys);
    const registry = new RedisNodeRegistry(redis.data, keys, presence);
    expect(await registry.heartbeat(nodeStatus('paused'), 60_000)).toBe('unknown');
    expect(await registry.heartbeat(nodeStatus('paused'), 100)).toBe('known');
    await presence.addSocket({ socketId: 'p1', userId: 'u', nodeId: 'paused', connectedAt: 1 });
    await presence.joinRoom('p1', 'r');
    expect(await registry.reap()).toEqual([]);

    await eventually(async () => (await registry.reap()).includes('paused'), 5000, 20);
    expect(await presence.getUser('u')).toEqual([]);
    expect(await presence.getRoom('r')).toBeNull();
    expect(await registry.reap()).toEqual([]);
    expect((await registry.list()).find((n) => n.id === 'paused')?.alive).toBe(false);

    expect(await registry.heartbeat(nodeStatus('paused'), 60_000)).toBe('dead');
    expect(await registry.heartbeat(nodeStatus('paused'), 60_000)).toBe('known');
  });

  it('a reaper stops removing a node that heart-beats again', async () => {
    const keys = new RedisKeys(uniquePrefix('reap2'));
    const presence = new RedisPresenceStore(redis.data, keys);
    const registry = new RedisNodeRegistry(redis.data, keys, presence);
    await presence.addSocket({ socketId: 'q1', userId: 'u', nodeId: 'back', connectedAt: 1 });
    await registry.heartbeat(nodeStatus('back'), 60_000);
    expect(await presence.removeNode('back', { onlyIfDead: true })).toBe(0);
    expect(await presence.getUser('u')).toHaveLength(1);
  });
});
