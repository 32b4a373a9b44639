import winston from 'winston';
import { MemoryPresenceStore } from '../../server/src/cluster/memory-presence-store';
import { MemoryPushStore } from '../../server/src/cluster/memory-push-store';
import type { PushStore } from '../../server/src/cluster/push-store';
import type { PushMeta } from '../../server/src/contracts/socket-events';
import type { Clock } from '../../server/src/lib/clock';
import { AppError } from '../../server/src/lib/errors';
import { Metrics } from '../../server/src/metrics/metrics';
import { PushService, type Broadcaster } from '../../server/src/routing/push-service';

/** Time moved by hand. */
class FakeClock implements Clock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
}

/** The in-process stand-in for the Socket.IO bus: records what would go out. */
class RecordingBroadcaster implements Broadcaster {
  readonly sent: { rooms: string[]; except: string[]; event: string; data: unknown; meta: PushMeta }[] = [];
  emit(rooms: string[], except: string[], event: string, data: unknown, meta: PushMeta): void {
    this.sent.push({ rooms, except, event, data, meta });
  }
}

const silent = winston.createLogger({ silent: true });

function setup(store?: PushStore) {
  const clock = new FakeClock();
  const presence = new MemoryPresenceStore();
  const bus = new RecordingBroadcaster();
  const metrics = new Metrics('unit', { sockets: () => 0, users: () => 0, rooms: () => 0, redisUp: () => -1 });
  const service = new PushService({ broadcaster: bus, store: store ?? new MemoryPushStore(presence, clock), metrics, clock, logger: silent }, { idempotencyTtlMs: 300_000 });
  return { clock, presence, bus, metrics, service };
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
    const failing: PushStore = { admit: () => Promise.reject(new Error('connection lost')) };
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
});
