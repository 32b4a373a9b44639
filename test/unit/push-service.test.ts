import winston from 'winston';
import { MemoryHistoryStore } from '../../server/src/cluster/memory-history-store';
import { MemoryPresenceStore } from '../../server/src/cluster/memory-presence-store';
import { MemoryPushStore } from '../../server/src/cluster/memory-push-store';
import type { PushStore } from '../../server/src/cluster/push-store';
import type { PushMeta } from '../../server/src/contracts/socket-events';
import type { Clock } from '../../server/src/lib/clock';
import { AppError } from '../../server/src/lib/errors';
import { Metrics } from '../../server/src/metrics/metrics';
import { deliveries, type PushWire } from '../../server/src/cluster/push-wire';
import { PushService } from '../../server/src/routing/push-service';
import { Receipts } from '../../server/src/routing/receipts';

/** Time moved by hand. */
class FakeClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
}

/**
 * What the single node's store hands to delivery, recorded as the broadcasts each node would make
 * (cluster/push-wire.ts deliveries()). A push with `ack` is answered with the next of `acks`, as
 * a node reports its receipts.
 */
class RecordingDelivery {
  readonly sent: { rooms: string[]; except: string[]; event: string; data: unknown; meta: PushMeta; timeoutMs?: number }[] = [];
  /** What each node report for a push with ack says, in push order. */
  acks: number[] = [];
  constructor(private readonly receipts: Receipts) {}
  readonly deliver = (w: PushWire): void => {
    for (const d of deliveries(w)) this.sent.push({ rooms: d.rooms, except: d.except, event: w.message.event, data: w.message.data, meta: d.meta, ...(w.route.ack ? { timeoutMs: w.route.ack.timeoutMs } : {}) });
    if (w.route.ack) {
      const { token } = w.route.ack;
      const n = this.acks.shift() ?? 0;
      // A node reports after its sockets answered: later than the admission's own answer.
      setImmediate(() => this.receipts.report(token, n));
    }
  };
}

const silent = winston.createLogger({ silent: true });

function setup(store?: PushStore, opts: { history?: boolean; clusterUp?: () => boolean } = {}) {
  const clock = new FakeClock();
  const presence = new MemoryPresenceStore();
  const receipts = new Receipts();
  const bus = new RecordingDelivery(receipts);
  const metrics = new Metrics('unit', { sockets: () => 0, users: () => 0, rooms: () => 0, redisUp: () => -1 });
  const history = opts.history ? new MemoryHistoryStore({ ttlMs: 60_000, size: 10 }, clock) : null;
  const service = new PushService(
    { receipts, nodeId: 'unit', store: store ?? new MemoryPushStore(presence, clock, history, bus.deliver), metrics, clock, logger: silent, keepHistory: history !== null, clusterUp: opts.clusterUp ?? (() => true) },
    { idempotencyTtlMs: 300_000 },
  );
  return { clock, presence, bus, metrics, service, history, receipts };
}

describe('PushService', () => {
  it('hands one broadcast to the bus for all targets, with deduplicated rooms and the except list', async () => {
    const { presence, bus, service, clock } = setup();
    await presence.addSocket({ socketId: 's1', userId: 'ann', nodeId: 'n', connectedAt: 1 });
    await presence.addSocket({ socketId: 's2', userId: 'bob', nodeId: 'n', connectedAt: 1 });
    await presence.joinRoom('s2', 'r');
    const res = await service.push({ users: ['ann', 'ann'], rooms: ['r'], socketIds: ['s9'], except: ['s2', 's2'], event: 'e', data: { x: 1 }, id: 'm-1' });
    expect(res).toEqual({ id: 'm-1', recipients: 1 });
    expect(bus.sent).toEqual([{ rooms: ['user:ann', 'r', 's9'], except: ['s2'], event: 'e', data: { x: 1 }, meta: { id: 'm-1', ts: clock.t } }]);
  });

  it('names the room in meta only when a single room is the whole target', async () => {
    const { bus, service } = setup();
    await service.push({ rooms: ['r'], event: 'e', data: 1 });
    await service.push({ rooms: ['r'], users: ['u'], event: 'e', data: 2 });
    await service.broadcast('lobby', { event: 'e', data: 3 });
    expect(bus.sent.map((m) => m.meta.room)).toEqual(['r', undefined, 'lobby']);
    expect(new Set(bus.sent.map((m) => m.meta.id)).size).toBe(3);
  });

  it('delivers a repeated id once and answers it with the first result, until the TTL passes', async () => {
    const { presence, bus, service, clock } = setup();
    await presence.addSocket({ socketId: 's1', userId: 'ann', nodeId: 'n', connectedAt: 1 });
    const first = await service.push({ users: ['ann'], event: 'e', data: 1, id: 'same' });
    await presence.addSocket({ socketId: 's2', userId: 'ann', nodeId: 'n', connectedAt: 1 });
    expect(await service.push({ users: ['ann'], event: 'e', data: 1, id: 'same' })).toEqual(first);
    expect(bus.sent).toHaveLength(1);
    clock.t += 300_001;
    expect(await service.push({ users: ['ann'], event: 'e', data: 1, id: 'same' })).toEqual({ id: 'same', recipients: 2 });
    expect(bus.sent).toHaveLength(2);
  });

  it('two concurrent pushes with one id deliver once', async () => {
    const { bus, service, presence } = setup();
    await presence.addSocket({ socketId: 's1', userId: 'u', nodeId: 'n', connectedAt: 1 });
    const [a, b] = await Promise.all([service.push({ users: ['u'], event: 'e', data: 1, id: 'race' }), service.push({ users: ['u'], event: 'e', data: 1, id: 'race' })]);
    expect(a).toEqual({ id: 'race', recipients: 1 });
    expect(b).toEqual(a);
    expect(bus.sent).toHaveLength(1);
  });

  it('answers SERVICE_UNAVAILABLE (retry with the same id) and sends nothing when the store fails', async () => {
    const failing: PushStore = { admit: () => Promise.reject(new Error('connection lost')), recordAcked: async () => undefined };
    const { bus, service } = setup(failing);
    const err = await service.push({ users: ['u'], event: 'e', data: 1, id: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, retryAfter: 1 });
    expect(bus.sent).toEqual([]);
  });

  it('batch validates and delivers each message on its own', async () => {
    const { bus, service } = setup();
    const results = await service.batch([{ users: ['u'], event: 'ok', data: 1 }, { event: 'no-target', data: 2 }, 'not an object', { rooms: ['r'], event: 'ok2', data: 3 }]);
    expect(results.map((r) => r.success)).toEqual([true, false, false, true]);
    expect(results[1]).toMatchObject({ success: false, error: { code: 'BAD_REQUEST' } });
    expect(bus.sent.map((m) => m.event)).toEqual(['ok', 'ok2']);
  });

  it('counts pushes and deliveries in the exported metrics', async () => {
    const { presence, service, metrics } = setup();
    await presence.addSocket({ socketId: 's1', userId: 'ann', nodeId: 'n', connectedAt: 1 });
    await presence.addSocket({ socketId: 's2', userId: 'ann', nodeId: 'n', connectedAt: 1 });
    await service.push({ users: ['ann'], event: 'e', data: 1 });
    const text = (await metrics.render()).body;
    expect(text).toMatch(/^pushgate_messages_pushed_total\{node="unit"\} 1$/m);
    expect(text).toMatch(/^pushgate_messages_delivered_total\{node="unit"\} 2$/m);
    expect(text).toMatch(/^pushgate_push_duration_seconds_count\{node="unit"\} 1$/m);
  });

  it('answers SERVICE_UNAVAILABLE at once, without admitting, while the cluster bus is down', async () => {
    let up = false;
    const { bus, service } = setup(undefined, { clusterUp: () => up });
    await expect(service.push({ users: ['u'], event: 'e', data: 1, id: 'later' })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfter: 1 });
    up = true;
    // Not admitted the first time: the retry with the same id is delivered.
    expect(await service.push({ users: ['u'], event: 'e', data: 1, id: 'later' })).toEqual({ id: 'later', recipients: 0 });
    expect(bus.sent).toHaveLength(1);
  });

  it('counts no push and leaves no receipt wait behind when the admission fails', async () => {
    const failing: PushStore = { admit: () => Promise.reject(new Error('The client is closed')), recordAcked: async () => undefined };
    const { service, metrics, receipts } = setup(failing);
    await expect(service.push({ users: ['u'], event: 'e', data: 1, id: 'unsent' })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfter: 1 });
    await expect(service.broadcast('r', { event: 'e', data: 1, ack: true })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect((await metrics.render()).body).toMatch(/^pushgate_messages_pushed_total\{node="unit"\} 0$/m);
    expect(receipts.size).toBe(0);
  });

  describe('with history', () => {
    it('sends one broadcast per stream, each with its offset, skipping the streams before it; socket ids last', async () => {
      const { bus, service, history } = setup(undefined, { history: true });
      await service.push({ users: ['ann'], rooms: ['r'], socketIds: ['s9'], except: ['s2'], event: 'e', data: 1, id: 'm' });
      const [ann, r] = [await history!.position('user:ann'), await history!.position('r')];
      expect(bus.sent.map(({ rooms, except, meta }) => ({ rooms, except, meta }))).toEqual([
        { rooms: ['user:ann'], except: ['s2'], meta: { id: 'm', ts: expect.any(Number), stream: 'user:ann', offset: ann } },
        { rooms: ['r'], except: ['s2', 'user:ann'], meta: { id: 'm', ts: expect.any(Number), stream: 'r', offset: r } },
        { rooms: ['s9'], except: ['s2', 'user:ann', 'r'], meta: { id: 'm', ts: expect.any(Number) } },
      ]);
    });

    it('keeps the message in each stream, in order, and a duplicate id adds nothing', async () => {
      const { service, history } = setup(undefined, { history: true });
      const start = await history!.position('lobby');
      await service.broadcast('lobby', { event: 'a', data: 1, id: 'one' });
      await service.broadcast('lobby', { event: 'b', data: 2, id: 'two' });
      await service.broadcast('lobby', { event: 'b', data: 2, id: 'two' });
      const read = await history!.since('lobby', start);
      expect(read.covered).toBe(true);
      expect(read.entries.map((e) => [e.event, e.id, e.room])).toEqual([
        ['a', 'one', 'lobby'],
        ['b', 'two', 'lobby'],
      ]);
    });
  });

  describe('receipts', () => {
    it('with ack: true answers the receipts the nodes report, and passes ackTimeoutMs to every broadcast', async () => {
      const { bus, service, receipts } = setup(undefined, { history: true });
      bus.acks = [3];
      const res = await service.push({ users: ['ann'], rooms: ['r'], event: 'e', data: 1, id: 'acked', ack: true, ackTimeoutMs: 1234 });
      expect(res).toEqual({ id: 'acked', recipients: 0, acked: 3 });
      expect(bus.sent.map((m) => m.timeoutMs)).toEqual([1234, 1234]);
      expect(receipts.size).toBe(0);
    });

    it('a duplicate id with ack leaves no receipt wait open', async () => {
      const { bus, service, receipts } = setup();
      bus.acks = [1];
      await service.broadcast('r', { event: 'e', data: 1, id: 'twice', ack: true });
      await service.broadcast('r', { event: 'e', data: 1, id: 'twice', ack: true });
      expect(receipts.size).toBe(0);
      expect(bus.sent).toHaveLength(1);
    });

    it('waits 5000 ms by default, and a retry of the id answers with the recorded receipts', async () => {
      const { bus, service } = setup();
      bus.acks = [4];
      expect(await service.broadcast('r', { event: 'e', data: 1, id: 'again', ack: true })).toEqual({ id: 'again', recipients: 0, acked: 4 });
      expect(bus.sent[0]!.timeoutMs).toBe(5000);
      expect(await service.broadcast('r', { event: 'e', data: 1, id: 'again', ack: true })).toEqual({ id: 'again', recipients: 0, acked: 4 });
      expect(bus.sent).toHaveLength(1);
    });
  });
});
