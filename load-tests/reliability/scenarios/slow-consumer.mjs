/*
 * A client stops reading while 64 KiB pushes keep going to its room. Promises (guard on): the node's
 * memory stays bounded, the slow socket is cut with the metric and a logged reason, the healthy
 * clients get everything with flat latency, and the slow client, once it reads again, reconnects and
 * recovers what it missed. The same run with MAX_SOCKET_BUFFER_BYTES=0 shows the growth the guard
 * prevents (bounded in time).
 */
import { byPhase, now, sleep, until } from '../lib/common.mjs';
import { int, latPhases, ms, num } from '../lib/format.mjs';
import { metricSum, request } from '../lib/http.mjs';
import { MemorySampler } from '../lib/processes.mjs';
import { SteadySender } from '../lib/traffic.mjs';
import { MetricsWatcher, Phases } from '../lib/watch.mjs';

export const id = 'slow-consumer';
export const title = 'A client that stops reading while pushes continue';
export const budgetS = (quick) => (quick ? 90 : 140);
const LIMIT = 8 * 1024 * 1024;
const PAYLOAD = 64 * 1024;
const EVERY_MS = 25;
export const notes = `One node with a private redis-server, run twice: with MAX_SOCKET_BUFFER_BYTES=${LIMIT} (8 MiB, the default) and with 0 (guard off). The client worker holds healthy clients and one slow client, all in the room \`big\`; the runner broadcasts a numbered ${PAYLOAD / 1024} KiB message to the room every ${EVERY_MS} ms (one request at a time, so about ${Math.round(1000 / EVERY_MS)}/s while the node keeps up), stamped for latency. "Stops reading" pauses the slow client's TCP socket under its WebSocket (net.Socket.pause(), as test/integration/slow-consumer.test.ts does): the kernel buffers fill, then the node's own. The cut is seen in \`pushgate_slow_consumer_disconnects_total\` (scraped every 500 ms) and the node's warning log line (with the buffered byte count). Both runs pause the slow client for the same spell while pushes go on. With the guard on, pushes then stop and the slow client resumes reading: it drains what the kernel held, sees its transport closed, reconnects with \`auth.recover\` and its missed messages (all of them, from history) are counted, as is the node's RSS while it replays them. With the guard off, the slow client is closed at the end of the spell and pushes go on to the healthy clients for a few seconds. RSS of the node is sampled every 250 ms, and its external memory (\`pushgate_nodejs_external_memory_bytes\`: the Buffers queued in sockets live outside the JS heap, so this shows them without the heap's garbage-collection noise) every 500 ms; the healthy clients' latency is per delivery, push request to arrival, and the separate probe client gets small pushes to its own user.`;

async function once(ctx, guard) {
  const q = ctx.quick;
  const healthyN = q ? 6 : 10;
  const T = { before: q ? 3000 : 4000, pause: q ? 10000 : 25000, after: q ? 3000 : 5000 };
  const tag = guard ? 'on' : 'off';
  const redis = await ctx.redis();
  const node = await ctx.node(`sc-${tag}`, ctx.env({ redis, MAX_SOCKET_BUFFER_BYTES: String(guard ? LIMIT : 0) }));
  const fleet = await ctx.fleet();
  const users = Array.from({ length: healthyN }, (_, i) => `sc-${tag}-h${i}`);
  for (const [group, us] of [['healthy', users], ['slow', [`sc-${tag}-slow`]]]) {
    const r = await fleet.call('connect', { group, url: node.url, users: us, rooms: ['big'], join: ['big'], latencyEvents: ['chunk'] });
    if (r.failed) throw new Error(`${group}: ${JSON.stringify(r.errors)}`);
  }
  const probe = await ctx.probe({ pushUrl: node.url, socketUrl: node.url, userId: `sc-${tag}-probe` });
  const mem = new MemorySampler([node]);
  const watcher = new MetricsWatcher(node.url, 500);
  const cuts = () => metricSum(watcher.scrapes[watcher.scrapes.length - 1]?.[1] ?? {}, 'pushgate_slow_consumer_disconnects_total');
  const phases = new Phases();
  const pad = 'x'.repeat(PAYLOAD - 64);
  phases.start('before');
  const sender = new SteadySender({ url: () => node.url, key: ctx.secrets.adminKey, path: '/api/v1/rooms/big/broadcast', body: (n) => ({ event: 'chunk', data: { n, t: now(), pad } }), everyMs: EVERY_MS, idPrefix: `sc-${tag}` });
  await sleep(T.before);

  // The same spell with and without the guard: the slow client is paused for T.pause while pushes go on.
  const pausedAt = phases.start('paused');
  await fleet.call('pause', { group: 'slow' });
  const spellEnd = pausedAt + T.pause;
  const cutAt = await until(() => (cuts() >= 1 ? now() : null), T.pause, 100);
  if (cutAt !== null) phases.start('after');
  await sleep(Math.max(0, spellEnd - now()));
  const slowOnline = (await request(node.url, { path: `/api/v1/users/sc-${tag}-slow`, key: ctx.secrets.adminKey })).body?.data?.online ?? null;
  const cutsAtSpellEnd = cuts();
  let recovery = null;
  let recoveryPeak = null;
  if (guard) {
    phases.end();
    await sender.stop();
    // Reading again: the client drains what the kernel held, meets the closed transport, reconnects and recovers.
    const resumedAt = now();
    await fleet.call('resume', { group: 'slow' });
    const done = await until(async () => (await fleet.call('tally', { group: 'slow', event: 'chunk', sent: sender.sent })).lost === 0, q ? 15000 : 25000, 250);
    const t = await fleet.call('tally', { group: 'slow', event: 'chunk', sent: sender.sent });
    const reconnects = await fleet.call('reconnects', { group: 'slow', after: pausedAt });
    const slowNow = await fleet.call('nodes', { group: 'slow' });
    await sleep(1000);
    recovery = { ...t, completeAfterMs: done ? now() - resumedAt : null, reconnects, connected: slowNow.connected, cutsWhileRecovering: cuts() - cutsAtSpellEnd };
    recoveryPeak = mem.window(node.name, resumedAt, now()).peak;
  } else {
    // Only now is the slow client let go; pushes go on to the healthy ones.
    await fleet.call('close', { group: 'slow' });
    phases.start('after');
    await sleep(T.after);
    phases.end();
    await sender.stop();
  }
  await probe.stop();
  const healthyTally =
    (await until(async () => {
      const t = await fleet.call('tally', { group: 'healthy', event: 'chunk', sent: sender.sent });
      return t.lost === 0 ? t : null;
    }, 10000, 250)) ?? (await fleet.call('tally', { group: 'healthy', event: 'chunk', sent: sender.sent }));
  const healthyLat = byPhase(await fleet.call('latency', { group: 'healthy', event: 'chunk' }), phases.list);
  const probeLat = byPhase(probe.samples(), phases.list);
  await sleep(1000);
  await watcher.stop();
  mem.stop();
  const logLine = node.logs.lines.find((l) => l.level === 'warn' && /^slow consumer/.test(l.message));
  // Buffers waiting in the node's sockets are outside the JS heap: external memory shows them without the heap's GC noise.
  const ext = watcher.series('pushgate_nodejs_external_memory_bytes').map(([t, v]) => [t, v / 2 ** 20]);
  const extBefore = ext.filter(([t]) => t < pausedAt).pop()?.[1] ?? null;
  const extPause = ext.filter(([t]) => t >= pausedAt && t < spellEnd).map(([, v]) => v);
  const external = { before: extBefore, peak: extPause.length ? Math.max(...extPause) : null, atEnd: extPause.length ? extPause[extPause.length - 1] : null };
  const first = sender.attempts[0]?.at ?? 0;
  const last = sender.attempts[sender.attempts.length - 1]?.at ?? 0;
  return {
    guard,
    healthyN,
    pauseS: T.pause / 1000,
    messages: sender.sent.length,
    rate: sender.sent.length / Math.max(1, (last - first) / 1000),
    cutAfterMs: cutAt === null ? null : cutAt - pausedAt,
    cuts: cutsAtSpellEnd,
    slowOnline,
    logLine: logLine ? { bufferedBytes: logLine.bufferedBytes, limitBytes: logLine.limitBytes, userId: logLine.userId } : null,
    rss: mem.window(node.name, pausedAt, spellEnd),
    external,
    rssAtCut: cutAt === null ? null : mem.at(node.name, cutAt),
    rssLast: mem.at(node.name),
    recoveryPeak,
    healthyTally,
    healthyLat,
    probeLat,
    probeTally: probe.tally(),
    recovery,
  };
}

const flat = (phases) => {
  const bound = Math.max(3 * (phases.before?.p99 ?? 0), 50);
  return ['paused', 'after'].every((k) => phases[k]?.n > 0 && phases[k].p99 <= bound);
};

export async function run(ctx) {
  const on = await once(ctx, true);
  await ctx.cleanup();
  const off = await once(ctx, false);
  const growth = (r) => (r.rss.atEnd ?? 0) - (r.rss.before ?? 0);
  const extGrowth = (r) => (r.external.peak ?? 0) - (r.external.before ?? 0);
  const limitMiB = LIMIT / 2 ** 20;
  const afterCut = on.rssAtCut === null ? null : on.rss.atEnd - on.rssAtCut;
  const rssLine = (r) =>
    `before ${num(r.rss.before, 0)}${r.rssAtCut === null ? '' : ` / at the cut ${num(r.rssAtCut, 0)}`} / peak ${num(r.rss.peak, 0)} / end of the ${r.pauseS} s pause ${num(r.rss.atEnd, 0)} MiB (growth ${num(growth(r), 0)} MiB)`;
  const extLine = (r) => `before ${num(r.external.before, 0)} / peak ${num(r.external.peak, 0)} / end of the pause ${num(r.external.atEnd, 0)} MiB (growth ${num(extGrowth(r), 0)} MiB)`;
  const held = {
    'guard on: the slow socket is cut (metric 1, warning logged with its buffered bytes)': on.cuts === 1 && on.logLine !== null && on.logLine.bufferedBytes > LIMIT && on.slowOnline === false,
    [`guard on: the node's buffers stay bounded (external memory peak ≤ before + 2 × ${limitMiB} MiB)`]: on.external.peak !== null && extGrowth(on) <= 2 * limitMiB,
    [`guard on: node RSS stops growing once the slow socket is cut (≤ ${limitMiB} MiB more by the end of the pause)`]: afterCut !== null && afterCut <= limitMiB,
    'guard on: healthy clients got every message': on.healthyTally.lost === 0 && on.healthyTally.duplicated === 0,
    'guard on: healthy latency flat (p99 ≤ max(3× before, 50 ms))': flat(on.healthyLat),
    'guard on: the probe client got every push': on.probeTally.lost === 0,
    'guard on: the slow client, reading again, reconnects and recovers every message once': on.recovery !== null && on.recovery.lost === 0 && on.recovery.duplicated === 0 && on.recovery.connected === 1,
    'guard on: recovering the missed messages is not cut by the guard again': on.recovery !== null && on.recovery.cutsWhileRecovering === 0,
    "guard on: node RSS while the slow client recovers stays below the guard-off control's peak": on.recoveryPeak !== null && off.rss.peak !== null && on.recoveryPeak < off.rss.peak,
    'guard off (control): the paused socket stays connected and its buffers grow past what the guard allows': off.cuts === 0 && off.slowOnline === true && extGrowth(off) > extGrowth(on) + limitMiB,
  };
  const figures = {
    'guard on': `${int(on.messages)} × ${PAYLOAD / 1024} KiB to ${on.healthyN} healthy + 1 slow (${num(on.rate, 0)}/s); cut ${on.cutAfterMs === null ? 'never' : `${ms(on.cutAfterMs)} after the pause`}${on.logLine ? ` with ${num(on.logLine.bufferedBytes / 2 ** 20)} MiB buffered` : ''}; metric ${on.cuts}`,
    'RSS, guard on': `${rssLine(on)}; peak while the slow client recovered ${num(on.recoveryPeak, 0)} MiB`,
    'external memory (buffers), guard on': extLine(on),
    'healthy latency, guard on': latPhases(on.healthyLat, ['before', 'paused', 'after']),
    'healthy deliveries, guard on': `${int(on.healthyTally.received)}, lost ${on.healthyTally.lost}, duplicated ${on.healthyTally.duplicated}`,
    'probe, guard on': latPhases(on.probeLat, ['before', 'paused', 'after']),
    'slow client after resuming': on.recovery
      ? `${on.recovery.received}/${on.messages} messages (lost ${on.recovery.lost}, duplicated ${on.recovery.duplicated}), ${on.recovery.completeAfterMs === null ? 'not complete' : `complete ${ms(on.recovery.completeAfterMs)} after resuming`}; reconnected ${on.recovery.reconnects[0]?.backAt ? `${ms(on.recovery.reconnects[0].backAt - on.recovery.reconnects[0].lostAt)} after seeing the close` : 'n/a'}; cut again while recovering: ${on.recovery.cutsWhileRecovering}`
      : 'n/a',
    'guard off': `${int(off.messages)} × ${PAYLOAD / 1024} KiB (${num(off.rate, 0)}/s); paused ${off.pauseS} s: metric ${off.cuts}, still online ${off.slowOnline}`,
    'RSS, guard off': `${rssLine(off)}; ${num(off.rssLast, 0)} MiB after the slow client was closed`,
    'external memory (buffers), guard off': extLine(off),
    'healthy latency, guard off': latPhases(off.healthyLat, ['before', 'paused', 'after']),
  };
  return {
    done: `1 node; ${on.healthyN} healthy clients and 1 that stops reading, in one room; ${PAYLOAD / 1024} KiB broadcasts back to back; the client paused ${on.pauseS} s with the guard on (8 MiB), then the same with it off`,
    held,
    figures,
    raw: { on, off },
  };
}
