import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import winston from 'winston';
import type { HistoryStore } from '../../server/src/cluster/history-store';
import { MemoryHistoryStore } from '../../server/src/cluster/memory-history-store';
import { MemoryPresenceStore } from '../../server/src/cluster/memory-presence-store';
import { MemoryPushStore } from '../../server/src/cluster/memory-push-store';
import type { PushRoute, PushWire } from '../../server/src/cluster/push-wire';
import { systemClock } from '../../server/src/lib/clock';
import { Metrics } from '../../server/src/metrics/metrics';
import { PushFanout } from '../../server/src/delivery/push-fanout';
import { ioServerForTests } from '../support/io-server';
import { eventually } from '../support/node';

/*
 * A node's delivery of what it receives from the bus, with the bus replaced by a filter that drops
 * chosen pushes (as a node whose subscription was interrupted misses them). Real Socket.IO server
 * and clients, real history store; the pushes are admitted by the real push store.
 */

const silent = winston.createLogger({ silent: true });

// Every test socket joins the room it names in its auth.
const server = ioServerForTests({}, (s) => {
  void s.join((s.handshake.auth as { room: string }).room);
  s.emit('ready' as never);
});

/** A client in `room` that records `data.n` of every `e`, and acknowledges each when asked. */
async function member(room: string): Promise<{ got: number[]; socket: ClientSocket }> {
  const socket = ioClient(server.url, { auth: { room }, transports: ['websocket'], forceNew: true });
  server.clients.push(socket);
  const got: number[] = [];
  socket.on('e', (data: { n: number }, _meta: unknown, ack?: (x: unknown) => void) => {
    got.push(data.n);
    ack?.(true);
  });
  await new Promise<void>((r) => socket.once('ready', () => r()));
  return { got, socket };
}

interface Rig {
  fanout: PushFanout;
  /** Admits a push to the room; `lost` ones never reach the fanout (missed on the bus). */
  push(n: number, opts?: { lost?: boolean; ack?: boolean }): Promise<PushWire>;
  /** History starts over with a new epoch (Redis lost its data). */
  loseHistory(): void;
  reports: { token: string; acked: number }[];
  metrics: Metrics;
}

function rig(room: string): Rig {
  let history = new MemoryHistoryStore({ ttlMs: 60_000, size: 100 }, systemClock);
  const current: HistoryStore = { position: (s) => history.position(s), since: (s, o, l) => history.since(s, o, l) };
  const metrics = new Metrics('fanout-test', { sockets: () => 0, users: () => 0, rooms: () => 0, redisUp: () => -1 });
  const reports: Rig['reports'] = [];
  const fanout = new PushFanout({ io: server.io, history: current, metrics, logger: silent, report: (_node, token, acked) => reports.push({ token, acked }) });
  const presence = new MemoryPresenceStore();
  let drop = false;
  let last: PushWire | undefined;
  const makeStore = () =>
    new MemoryPushStore(presence, systemClock, history, (w) => {
      last = w;
      if (!drop) fanout.receive(w);
    });
  let store = makeStore();
  return {
    fanout,
    reports,
    metrics,
    async push(n, opts = {}) {
      drop = opts.lost ?? false;
      const route: PushRoute = { users: [], rooms: [room], socketIds: [], except: [] };
      if (opts.ack) route.ack = { node: 'here', token: `t-${n}`, timeoutMs: 2000 };
      await store.admit(`${room}-${n}-${Math.random()}`, route, 60_000, { event: 'e', data: { n }, id: `${room}-${n}`, ts: n, room }, true);
      return last!;
    },
    loseHistory() {
      history = new MemoryHistoryStore({ ttlMs: 60_000, size: 100 }, systemClock);
      store = makeStore();
    },
  };
}

const caughtUp = async (m: Metrics) => Number(/^pushgate_messages_caught_up_total\{[^}]*\} (\d+)$/m.exec((await m.render()).body)?.[1]);

describe('PushFanout', () => {
  it('delivers a stream in order and, on a jump in its offsets, the missed pushes from history first', async () => {
    const r = rig('jump');
    const a = await member('jump');
    await r.push(1);
    await r.push(2);
    await r.push(3, { lost: true });
    await r.push(4, { lost: true });
    await r.push(5);
    await r.push(6);
    await eventually(() => a.got.length >= 6);
    expect(a.got).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await caughtUp(r.metrics)).toBe(2);
  });

  it('after a re-subscription, catches up a stream that stayed quiet, then drops the late live copies', async () => {
    const r = rig('quiet');
    const a = await member('quiet');
    await r.push(1);
    await eventually(() => a.got.length === 1);
    const missed = [await r.push(2, { lost: true }), await r.push(3, { lost: true })];
    await r.fanout.catchUp();
    // A live copy that shows up after the catch-up delivered it is not delivered again.
    for (const w of missed) r.fanout.receive(w);
    await r.push(4);
    await eventually(() => a.got.includes(4));
    expect(a.got).toEqual([1, 2, 3, 4]);
  });

  it('holds pushes that arrive while the history is read, and sends them after the caught-up ones', async () => {
    const r = rig('held');
    const a = await member('held');
    await r.push(1);
    await r.push(2, { lost: true });
    // 3 shows the jump; 4 and 5 arrive while 2 is being read from history.
    const [w3, w4, w5] = [await r.push(3, { lost: true }), await r.push(4, { lost: true }), await r.push(5, { lost: true })];
    r.fanout.receive(w3);
    r.fanout.receive(w4);
    r.fanout.receive(w5);
    await eventually(() => a.got.length >= 5);
    expect(a.got).toEqual([1, 2, 3, 4, 5]);
  });

  it('a push of a new epoch that does not start at 1 (Redis lost the stream) brings the new epoch’s earlier pushes', async () => {
    const r = rig('epoch');
    const a = await member('epoch');
    await r.push(1);
    await eventually(() => a.got.length === 1);
    r.loseHistory();
    await r.push(2, { lost: true });
    await r.push(3);
    await eventually(() => a.got.length >= 3);
    expect(a.got).toEqual([1, 2, 3]);
  });

  it('takes a position read at a join as a floor: a push at it still on its way is delivered, a jump past it caught up', async () => {
    const r = rig('floor');
    const a = await member('floor');
    // Push 1 is admitted and on its way over the subscription when the join reads the position.
    const inFlight = await r.push(1, { lost: true });
    r.fanout.seen('floor', inFlight.offsets[0]!);
    r.fanout.receive(inFlight);
    await r.push(2, { lost: true });
    await r.push(3);
    await eventually(() => a.got.length >= 3);
    expect(a.got).toEqual([1, 2, 3]);
  });

  it('forgets a stream once this node has no socket in it, so nothing is caught up for it', async () => {
    const r = rig('gone');
    const a = await member('gone');
    await r.push(1);
    await eventually(() => a.got.length === 1);
    a.socket.disconnect();
    await eventually(() => !server.io.of('/').adapter.rooms.has('gone'));
    await r.push(2, { lost: true });
    const b = await member('gone');
    await r.push(3);
    await eventually(() => b.got.length === 1);
    expect(b.got).toEqual([3]);
    expect(await caughtUp(r.metrics)).toBe(0);
  });

  it('with ack, reports how many local sockets acknowledged, once, to the admitting node', async () => {
    const r = rig('acks');
    await member('acks');
    await member('acks');
    await r.push(1, { ack: true });
    await eventually(() => r.reports.length === 1);
    expect(r.reports).toEqual([{ token: 't-1', acked: 2 }]);
  });

  it('with ack and no local socket in the stream, reports 0 at once', async () => {
    const r = rig('nobody-here');
    await r.push(1, { ack: true });
    expect(r.reports).toEqual([{ token: 't-1', acked: 0 }]);
  });
});
