#!/usr/bin/env node
/*
 * Finding (redis-restart, part 2), fixed 2026-12-01: after a Redis restart, node B serves again
 * while node A (frozen, as by a long GC pause) has not re-subscribed yet. Pushes through B are
 * answered 2xx; A's connected clients never got them, and since they never reconnect, no client
 * recovery fills the gap. Now A catches up from history once it is subscribed again
 * (delivery/push-fanout.ts). Before: in the reliability run, 17 pushes answered 2xx while A was
 * frozen reached none of A's clients; after: 20 of 20 received, no reconnection (exit 0).
 *   node load-tests/reliability/repros/resubscribe.mjs
 */
import { killAllChildren, sleep, until } from '../lib/common.mjs';
import { TrackedClient } from '../lib/clients.mjs';
import { is2xx, request } from '../lib/http.mjs';
import { reproNodes } from './setup.mjs';

const { s, redis, nodes: [a, b] } = await reproNodes(['a', 'b']);
const c = new TrackedClient(a.url, { secret: s.jwtSecret, userId: 'u', rooms: ['r'] });
await c.ready();
await c.join('r');
const ready = (n) => request(n.url, { path: '/health/ready' }).then((r) => r.status === 200);
const push = (n) => request(b.url, { method: 'POST', path: '/api/v1/rooms/r/broadcast', key: s.adminKey, body: { event: 'e', data: { n }, id: `m-${n}` } });
await redis.kill();
await until(async () => !(await ready(a)) && !(await ready(b)), 10000);
a.child.kill('SIGSTOP');
await redis.start();
await until(() => ready(b), 15000);
const sent = [];
for (let n = 1; n <= 10; n++) if (is2xx(await push(n))) sent.push(n);
a.child.kill('SIGCONT');
await until(() => ready(a), 15000);
for (let n = 11; n <= 20; n++) if (is2xx(await push(n))) sent.push(n);
await sleep(1000);
const t = c.tally('e', sent);
console.log({ answered2xx: sent.length, receivedOnA: t.received, missing: t.missing, clientReconnected: c.welcomes.length > 1 });
c.close();
killAllChildren();
process.exit(t.lost > 0 ? 1 : 0);
