#!/usr/bin/env node
/*
 * Finding (node-sigkill, duplicates), fixed 2026-12-01: one stream's messages could reach a socket
 * out of offset order. A node emitted its own pushes to its local sockets at once, while a push
 * admitted earlier (a lower offset) through another node still travelled through Redis. A client
 * that keeps the last offset it received and sends it as auth.recover (contract §6) then got the
 * higher ones replayed: duplicates. Now every node delivers what arrives from Redis, in the order
 * the admission script published it. After: 0 arrivals out of offset order, 0 duplicates.
 *   node load-tests/reliability/repros/offset-order.mjs
 */
import { killAllChildren, sleep } from '../lib/common.mjs';
import { TrackedClient } from '../lib/clients.mjs';
import { request } from '../lib/http.mjs';
import { reproNodes } from './setup.mjs';

const { s, nodes: [a, b] } = await reproNodes(['a', 'b']);
const c = new TrackedClient(a.url, { secret: s.jwtSecret, userId: 'u', rooms: ['r'] });
await c.ready();
await c.join('r');
const arrivals = [];
c.socket.onAny((_e, data, meta) => meta?.offset && arrivals.push([data.n, meta.offset]));
const push = (node, n) => request(node.url, { method: 'POST', path: '/api/v1/rooms/r/broadcast', key: s.adminKey, body: { event: 'e', data: { n }, id: `m-${n}` } });
const seq = (o) => Number(String(o).split(':').pop());
const lastIsBehind = () => arrivals.length > 1 && seq(arrivals[arrivals.length - 1][1]) < Math.max(...arrivals.map(([, o]) => seq(o)));
let n = 0;
for (let i = 0; i < 200 && !lastIsBehind(); i++) {
  // B's push first (lower offset), A's right behind it: A emits locally before B's publish reaches it.
  await Promise.all([push(b, ++n), sleep(1).then(() => push(a, ++n))]);
  await sleep(20);
}
let inversions = 0;
for (let i = 1; i < arrivals.length; i++) if (seq(arrivals[i][1]) < seq(arrivals[i - 1][1])) inversions += 1;
const behind = lastIsBehind();
// Cut the transport now: the client reconnects and recovers from the last offset it received.
c.socket.io.engine.close();
await sleep(2000);
const got = c.got.get('e') ?? [];
console.log({ pushed: n, arrivalsOutOfOffsetOrder: inversions, lastReceivedWasNotTheHighest: behind, lastOffsetSent: c.offsets.r, receivedAfterRecovery: got.length, duplicates: got.length - new Set(got).size });
c.close();
killAllChildren();
process.exit(0);
