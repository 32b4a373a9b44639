#!/usr/bin/env node
/*
 * Finding (node-sigkill), fixed 2026-12-01: a node SIGKILLed between admitting a push (idempotency
 * record + history) and publishing it. The backend's retry with the same id, through another node,
 * was answered 2xx as a repeat and never published: clients connected elsewhere never got the
 * message. Since the admission script publishes the push itself (cluster/push-wire.ts) there is no
 * such moment. Before: 7,980 of 40,000 deliveries lost in the reliability run; after: lost 0 (exit 0).
 *   node load-tests/reliability/repros/retry-after-kill.mjs
 * The first node is killed as soon as it answered the first of 300 concurrent pushes.
 * Prints how many of the 2xx-answered messages a client on the other node received live.
 */
import { countBy, killAllChildren, sleep } from '../lib/common.mjs';
import { TrackedClient } from '../lib/clients.mjs';
import { is2xx, outcome, request } from '../lib/http.mjs';
import { reproNodes } from './setup.mjs';

const { s, nodes: [a, b] } = await reproNodes(['a', 'b']);
const c = new TrackedClient(b.url, { secret: s.jwtSecret, userId: 'u', rooms: ['r'] });
await c.ready();
await c.join('r');
const push = (node, n) => request(node.url, { method: 'POST', path: '/api/v1/rooms/r/broadcast', key: s.adminKey, fresh: true, body: { event: 'e', data: { n }, id: `m-${n}` } });
const N = 300;
const first = Array.from({ length: N }, (_, i) => push(a, i + 1));
await Promise.race(first.map((p) => p.then((r) => (is2xx(r) ? r : new Promise(() => undefined)))));
a.child.kill('SIGKILL');
const firstOut = await Promise.all(first);
const retried = [];
for (let i = 0; i < N; i++) if (!is2xx(firstOut[i])) retried.push([i + 1, await push(b, i + 1)]);
await sleep(1500);
const sent = [...firstOut.flatMap((r, i) => (is2xx(r) ? [i + 1] : [])), ...retried.filter(([, r]) => is2xx(r)).map(([n]) => n)];
const t = c.tally('e', sent);
console.log({ firstAttempts: countBy(firstOut, outcome), retriedThroughB: countBy(retried, ([, r]) => outcome(r)), answered2xx: sent.length, receivedLiveOnB: t.received, lost: t.lost });
c.close();
killAllChildren();
process.exit(t.lost > 0 ? 1 : 0);
