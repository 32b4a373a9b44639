/*
 * The backend behind the MessageRouter turns slow, failing and dead, with healthy spells between.
 * Promises: clients get the contract's codes (BACKEND_TIMEOUT, BACKEND_ERROR, BACKEND_UNAVAILABLE),
 * the breaker opens and answers at once, it closes again once the backend is back, every emit gets
 * an acknowledgement, and the node's event loop and other clients' push latency stay flat.
 */
import { byPhase, countBy, sleep, summary } from '../lib/common.mjs';
import { counts, int, lat, ms, num, rss } from '../lib/format.mjs';
import { metricSum } from '../lib/http.mjs';
import { MemorySampler } from '../lib/processes.mjs';
import { MetricsWatcher, Phases } from '../lib/watch.mjs';

export const id = 'backend-faults';
export const title = 'Backend slow, failing, dead, then healthy again';
export const budgetS = (quick) => (quick ? 80 : 120);
const TIMEOUT_MS = 1000;
/** The breaker's fixed open period (5 consecutive failures open it for 10 s, README). */
const OPEN_MS = 10000;
export const notes = `One node (BACKEND_TIMEOUT_MS=${TIMEOUT_MS}, RATE_LIMIT_EVENTS off) with a private redis-server; its BACKEND_URL is a backend in the runner that can be switched: healthy (200 at once), slow (answers after 3 s, longer than the timeout), failing (503 at once), dead (its listener closed: connection refused). The client worker's sockets each emit a forwarded event every 200 ms and record every acknowledgement (code and time; an ack not received within 15 s counts as lost). The first 2 s (warm-up: the node opens its connection pool to the backend) are shown but not judged. Each fault lasts a fixed spell and is followed by a healthy spell longer than the breaker's ${OPEN_MS / 1000} s open period. "Breaker opened" is the first BACKEND_UNAVAILABLE after the fault began; "closed again" the first \`ok: true\` after the backend was healthy again. Event-loop lag is \`pushgate_nodejs_eventloop_lag_p99_seconds\` scraped from /metrics every 500 ms (prom-client's sampler), its highest value per spell. The probe client is pushed to every 100 ms through the same node.`;

export async function run(ctx) {
  const q = ctx.quick;
  const spell = q ? 3000 : 8000;
  const heal = OPEN_MS + (q ? 2000 : 4000);
  const emitters = q ? 10 : 20;
  const redis = await ctx.redis();
  const backend = await ctx.backend();
  const node = await ctx.node('bf-1', ctx.env({ redis, BACKEND_URL: backend.url, BACKEND_TIMEOUT_MS: String(TIMEOUT_MS) }));
  const fleet = await ctx.fleet();
  const c = await fleet.call('connect', { group: 'emit', url: node.url, users: Array.from({ length: emitters }, (_, i) => `bf-${i}`) });
  if (c.failed) throw new Error(`emitters: ${JSON.stringify(c.errors)}`);
  const probe = await ctx.probe({ pushUrl: node.url, socketUrl: node.url, userId: 'bf-probe' });
  const watcher = new MetricsWatcher(node.url, 500);
  const mem = new MemorySampler([node]);
  const phases = new Phases();
  await fleet.call('emitStart', { group: 'emit', event: 'work', everyMs: 200 });
  const plan = [
    // The node's first backend calls open its connection pool: shown, but not judged as "healthy".
    ['warm-up', 'healthy', 2000],
    ['healthy', 'healthy', spell],
    ['slow', 'slow', spell],
    ['healthy again (1)', 'healthy', heal],
    ['failing', 'failing', spell],
    ['healthy again (2)', 'healthy', heal],
    ['dead', 'dead', spell],
    ['healthy again (3)', 'healthy', heal],
  ];
  for (const [name, mode, length] of plan) {
    await backend.set(mode);
    phases.start(name);
    ctx.log(`backend ${mode} for ${length / 1000} s`);
    await sleep(length);
  }
  phases.end();
  const { records, skipped } = await fleet.call('emitStop', { group: 'emit' }, 30000);
  await probe.stop();
  await watcher.stop();
  mem.stop();

  const inPhase = (ph) => records.filter(([at]) => at >= ph.from && at < ph.to);
  const lagOf = (ph) => {
    const xs = watcher.series('pushgate_nodejs_eventloop_lag_p99_seconds').filter(([t]) => t >= ph.from && t < ph.to).map(([, v]) => v * 1000);
    return xs.length ? Math.max(...xs) : null;
  };
  const firstCode = (ph, code) => records.find(([at, , c2]) => at >= ph.from && at < ph.to && c2 === code);
  const probeLat = byPhase(probe.samples(), phases.list);
  const perPhase = phases.list.map((ph) => {
    const rs = inPhase(ph);
    const byCode = countBy(rs, ([, , code]) => code);
    const latency = {};
    for (const code of Object.keys(byCode)) latency[code] = summary(rs.filter(([, , c2]) => c2 === code).map(([, m]) => m));
    return { name: ph.name, from: ph.from, events: rs.length, byCode, latency, lagMs: lagOf(ph), probe: probeLat[ph.name] };
  });
  const P = Object.fromEntries(perPhase.map((p) => [p.name, p]));
  const opened = (name) => {
    const ph = phases.get(name);
    const r = firstCode(ph, 'BACKEND_UNAVAILABLE');
    return r ? r[0] - ph.from : null;
  };
  const closed = (name) => {
    const ph = phases.get(name);
    const r = firstCode(ph, 'ok');
    return r ? r[0] - ph.from : null;
  };
  const allCodes = countBy(records, ([, , code]) => code);
  const unavailable = summary(records.filter(([, , code]) => code === 'BACKEND_UNAVAILABLE').map(([, m]) => m));
  const timeouts = summary(records.filter(([, , code]) => code === 'BACKEND_TIMEOUT').map(([, m]) => m));
  const metrics = watcher.scrapes[watcher.scrapes.length - 1]?.[1] ?? {};
  const outcomes = Object.fromEntries(['ok', 'error', 'timeout', 'unavailable', 'circuit_open'].map((o) => [o, metricSum(metrics, 'pushgate_backend_requests_total', `outcome="${o}"`)]));
  const baseLag = P.healthy.lagMs ?? 0;
  const baseP99 = P.healthy.probe.p99 ?? 0;
  const flatBound = (base) => Math.max(3 * base, 50);
  const faultPhases = perPhase.filter((p) => p.name !== 'healthy' && p.name !== 'warm-up');
  const only = (p, allowed) => Object.keys(p.byCode).every((k) => allowed.includes(k));

  const held = {
    'healthy: every event answered ok': P.healthy.events > 0 && only(P.healthy, ['ok']),
    [`slow: BACKEND_TIMEOUT within ${TIMEOUT_MS} ms + 500, then the breaker (BACKEND_UNAVAILABLE)`]: (P.slow.byCode.BACKEND_TIMEOUT ?? 0) > 0 && (P.slow.byCode.BACKEND_UNAVAILABLE ?? 0) > 0 && (timeouts.max ?? Infinity) <= TIMEOUT_MS + 500,
    'failing: BACKEND_ERROR, then the breaker (BACKEND_UNAVAILABLE)': (P.failing.byCode.BACKEND_ERROR ?? 0) > 0 && (P.failing.byCode.BACKEND_UNAVAILABLE ?? 0) > 0,
    'dead: BACKEND_UNAVAILABLE only': P.dead.events > 0 && only(P.dead, ['BACKEND_UNAVAILABLE']),
    'BACKEND_UNAVAILABLE answered at once (p99 ≤ 100 ms)': unavailable.n > 0 && unavailable.p99 <= 100,
    [`breaker closes again after each fault (ok within ${OPEN_MS / 1000} s + 2 s)`]: [1, 2, 3].every((i) => (closed(`healthy again (${i})`) ?? Infinity) <= OPEN_MS + 2000),
    'every emit acknowledged (none lost or timed out)': (allCodes.timeout ?? 0) === 0 && (allCodes.disconnected ?? 0) === 0,
    'event-loop lag flat (p99 ≤ max(3× healthy, 50 ms))': faultPhases.every((p) => p.lagMs !== null && p.lagMs <= flatBound(baseLag)),
    'probe push latency flat (p99 ≤ max(3× healthy, 50 ms))': faultPhases.every((p) => p.probe.n > 0 && p.probe.p99 <= flatBound(baseP99)),
    'the probe got every push': probe.tally().lost === 0,
  };
  const phaseLine = (p) => `${counts(p.byCode)}; ack ${Object.entries(p.latency).map(([code, s]) => `${code} ${lat(s)}`).join(', ')}; loop lag p99 ≤ ${p.lagMs === null ? 'n/a' : `${num(p.lagMs)} ms`}; probe ${lat(p.probe)}`;
  const figures = {
    'events emitted': `${int(records.length)} by ${emitters} sockets (skipped while disconnected: ${skipped}): ${counts(allCodes)}`,
    ...Object.fromEntries(perPhase.map((p) => [p.name, phaseLine(p)])),
    'breaker opened after': `slow ${ms(opened('slow'))}, failing ${ms(opened('failing'))}, dead ${ms(opened('dead'))}`,
    'closed again after': [1, 2, 3].map((i) => ms(closed(`healthy again (${i})`))).join(', '),
    'backend requests (metric)': counts(outcomes),
    RSS: rss(mem.window(node.name, phases.get('slow').from, phases.list[phases.list.length - 1].to)),
  };
  return {
    done: `1 node, ${emitters} sockets × 5 forwarded events/s; backend healthy ${spell / 1000} s → slow → healthy → failing → healthy → dead → healthy (faults ${spell / 1000} s, healthy spells ${heal / 1000} s)`,
    held,
    figures,
    raw: { perPhase, outcomes, unavailable, timeouts, backendRequests: backend.requests },
  };
}
