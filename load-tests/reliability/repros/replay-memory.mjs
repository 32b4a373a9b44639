#!/usr/bin/env node
/*
 * Finding (slow-consumer), fixed: recovery used to replay a whole gap at once. A client that missed
 * 1,000 × 64 KiB messages (62.5 MiB) reconnects with its offset while reading normally. Before the
 * fix the node's RSS jumped by 300–500 MiB and the slow-consumer guard cut the recovering client,
 * which reconnected and was replayed the rest again (pushgate_messages_replayed_total 1,700–3,200).
 * Now the replay reads history 100 messages (at most 1 MiB from Redis) at a time and pauses whenever
 * the socket holds more than 256 KiB unsent: RSS stays within a few MiB of where it was, nothing is
 * cut, and exactly 1,000 messages are replayed once.
 *   node load-tests/reliability/repros/replay-memory.mjs
 * It runs the compiled load-tests/reliability/dist when present: delete that after changing server/src.
 */
import { killAllChildren, sleep, until } from '../lib/common.mjs';
import { TrackedClient } from '../lib/clients.mjs';
import { metricSum, request, scrapeMetrics } from '../lib/http.mjs';
import { memoryOf } from '../lib/processes.mjs';
import { reproNodes } from './setup.mjs';

const { s, nodes: [node] } = await reproNodes(['replay']);
const first = new TrackedClient(node.url, { secret: s.jwtSecret, userId: 'u' });
await first.ready();
const offset = first.offsets['user:u'];
first.close();
const pad = 'x'.repeat(64 * 1024);
for (let n = 1; n <= 1000; n++) await request(node.url, { method: 'POST', path: '/api/v1/push', key: s.adminKey, body: { users: ['u'], event: 'chunk', data: { n, pad } } });
const before = memoryOf(node.pid).rss;
let peak = before;
const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(node.pid)?.rss ?? 0)), 50);
const back = new TrackedClient(node.url, { secret: s.jwtSecret, userId: 'u' });
back.offsets['user:u'] = offset;
await until(() => new Set(back.got.get('chunk') ?? []).size >= 1000, 30000, 100);
await sleep(1500);
clearInterval(sampler);
const m = await scrapeMetrics(node.url);
console.log({ received: new Set(back.got.get('chunk')).size, reconnections: back.welcomes.length - 1, rssBeforeMiB: Math.round(before / 2 ** 20), rssPeakMiB: Math.round(peak / 2 ** 20), slowConsumerCuts: metricSum(m, 'pushgate_slow_consumer_disconnects_total'), replayed: metricSum(m, 'pushgate_messages_replayed_total') });
back.close();
killAllChildren();
process.exit(0);
