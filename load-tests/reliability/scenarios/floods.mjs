/*
 * Floods, one after the other, against one node with its rate limits on: a connection storm from
 * one address, one from many addresses, an event flood from one socket, a push-API flood from one
 * key. Promises: each is capped at its limit with the contract's code, and a client outside the
 * flood keeps connecting, emitting and receiving with flat latency.
 */
import { byPhase, countBy, sleep } from '../lib/common.mjs';
import { TrackedClient } from '../lib/clients.mjs';
import { counts, int, latPhases, rss } from '../lib/format.mjs';
import { metricSum, scrapeMetrics } from '../lib/http.mjs';
import { MemorySampler } from '../lib/processes.mjs';
import { Phases } from '../lib/watch.mjs';

export const id = 'floods';
export const title = 'Connection, event and push-API floods against the rate limits';
export const budgetS = (quick) => (quick ? 80 : 130);
/** nodeHandshakes: RATE_LIMIT_NODE_HANDSHAKES, about half of what one node sustains on the 2-core machine (README, "Capacity under floods"). */
const LIMIT = { connections: 60, events: 50, http: 1200, nodeHandshakes: 200 };
export const notes = `One node with a private redis-server (the connection and HTTP counters are the cluster-wide ones in Redis) and RATE_LIMIT_CONNECTIONS=${LIMIT.connections}/min per address, RATE_LIMIT_EVENTS=${LIMIT.events}/s per socket, RATE_LIMIT_HTTP=${LIMIT.http}/min per key, RATE_LIMIT_NODE_HANDSHAKES=${LIMIT.nodeHandshakes}/s for the node (off by default; without it the storm from many addresses saturates the node and the unaffected client's p99 rose to 80–130 ms in the runs of 2026-12-01); no TRUST_PROXY, so the node sees each connection's own source address. Linux routes all of 127.0.0.0/8 to loopback, so the client worker binds each storm's sockets to other source addresses (socket.io-client passes \`localAddress\` through engine.io-client to ws): one storm from 127.0.0.2, one from 127.0.1.1 onwards (one address per ${LIMIT.connections + 20} handshakes). Each storm handshake is closed as soon as it is accepted; a refused one is not retried (refusals by the node's handshake budget are counted from \`pushgate_rate_limited_total{kind="handshake"}\`). The event flood is one socket keeping 64 acknowledgements outstanding; when the node disconnects it for passing 10× its limit within a second it connects again (as its address's connection limit allows) and goes on, for the whole spell; the push-API flood is 16 keep-alive connections pushing with the \`flood\` key as fast as answers come. The unaffected client connects from 127.0.0.1, is pushed to every 100 ms with the \`admin\` key and emits a forwarded event every 200 ms (the backend answers at once); during each storm a fresh client connects from an address of its own, retrying with socket.io-client's backoff as any client does.`;

export async function run(ctx) {
  const q = ctx.quick;
  const quiet = q ? 2500 : 4000;
  const floodS = q ? 3 : 5;
  const redis = await ctx.redis();
  const backend = await ctx.backend();
  const node = await ctx.node(
    'fl-1',
    ctx.env({ redis, BACKEND_URL: backend.url, RATE_LIMIT_CONNECTIONS: String(LIMIT.connections), RATE_LIMIT_EVENTS: String(LIMIT.events), RATE_LIMIT_HTTP: String(LIMIT.http), RATE_LIMIT_NODE_HANDSHAKES: String(LIMIT.nodeHandshakes) }),
  );
  const fleet = await ctx.fleet();
  const probe = await ctx.probe({ pushUrl: node.url, socketUrl: node.url, userId: 'fl-probe' });
  const mem = new MemorySampler([node]);
  const phases = new Phases();
  // The unaffected client's own events: its limit is its own, whatever another socket does.
  const probeEvents = [];
  let emitting = true;
  const emitLoop = (async () => {
    while (emitting) {
      const r = await probe.client.emit('probe:work', { n: probeEvents.length });
      probeEvents.push([r.at, r.ms, r.code]);
      await sleep(200);
    }
  })();

  const fresh = async (addr, name) => {
    const c = new TrackedClient(node.url, { secret: ctx.secrets.jwtSecret, userId: name, localAddress: addr });
    const ok = await c.ready();
    c.close();
    return ok;
  };
  const results = {};
  const flood = async (name, fn) => {
    phases.start(`${name}: before`);
    await sleep(quiet);
    phases.start(`${name}: during`);
    ctx.log(name);
    results[name] = await fn();
    phases.start(`${name}: after`);
    await sleep(quiet);
    phases.end();
  };

  const budgetRefusals = async () => metricSum(await scrapeMetrics(node.url), 'pushgate_rate_limited_total', 'kind="handshake"');
  const oneIpCount = q ? 180 : 300;
  await flood('storm from one address', async () => {
    const before = await budgetRefusals();
    const storm = fleet.call('storm', { url: node.url, count: oneIpCount, localAddresses: ['127.0.0.2'], concurrency: 50 }, 120000);
    await sleep(200);
    const freshOk = await fresh('127.0.0.3', 'fl-fresh-1');
    const done = await storm;
    return { ...done, freshOk, budgetRefused: (await budgetRefusals()) - before };
  });
  const ips = Array.from({ length: q ? 10 : 20 }, (_, i) => `127.0.1.${i + 1}`);
  const perIp = LIMIT.connections + 20;
  await flood('storm from many addresses', async () => {
    const before = await budgetRefusals();
    const storm = fleet.call('storm', { url: node.url, count: ips.length * perIp, localAddresses: ips, concurrency: 100 }, 180000);
    await sleep(200);
    const freshOk = await fresh('127.0.0.4', 'fl-fresh-2');
    const done = await storm;
    return { ...done, freshOk, budgetRefused: (await budgetRefusals()) - before };
  });
  await flood('event flood from one socket', () => fleet.call('eventFlood', { url: node.url, userId: 'fl-flooder', event: 'work', seconds: floodS, window: 64, localAddress: '127.0.0.5' }, 60000));
  await flood('push API flood from one key', () =>
    fleet.call('httpFlood', { url: node.url, key: ctx.secrets.floodKey, seconds: floodS, connections: 16, body: { users: ['fl-nobody'], event: 'flood', data: { x: 1 } } }, 60000),
  );
  emitting = false;
  await emitLoop;
  await probe.stop();
  mem.stop();

  const names = Object.keys(results);
  const probeLat = byPhase(probe.samples(), phases.list);
  const probeTally = probe.tally();
  const flat = (name) => {
    const before = probeLat[`${name}: before`];
    const bound = Math.max(3 * (before.p99 ?? 0), 50);
    return [probeLat[`${name}: during`], probeLat[`${name}: after`]].every((s) => s.n > 0 && s.p99 <= bound);
  };
  const phaseOf = (name) => phases.get(`${name}: during`);
  const probeEventsIn = (name) => {
    const ph = phaseOf(name);
    return probeEvents.filter(([at]) => at >= ph.from && at < ph.to);
  };
  const [s1, s2, ev, api] = names.map((n) => results[n]);
  const onlyCodes = (byCode, allowed) => Object.keys(byCode).every((k) => allowed.includes(k));
  // A handshake the node's budget refused fails before the upgrade (no RATE_LIMITED code reaches
  // the client): every refusal other than RATE_LIMITED must be one the node counted as such.
  const otherRefusals = (total) => Object.entries(total).filter(([k]) => k !== 'accepted' && k !== 'RATE_LIMITED').reduce((a, [, v]) => a + v, 0);
  const explained = (storm) => otherRefusals(storm.total) <= storm.budgetRefused;
  const perIpOk = ips.every((ip) => (s2.perAddress[ip]?.accepted ?? 0) <= LIMIT.connections);
  const nodeRateOk = (s2.total.accepted ?? 0) <= LIMIT.nodeHandshakes * (s2.ms / 1000 + 1);
  const evOk = ev.byCode.ok ?? 0;
  // Per socket: each connection of the flooder has its own one-second windows.
  const evCap = LIMIT.events * (Math.ceil(floodS) + 1) * Math.max(1, ev.connections ?? 1);
  const apiOk = api.byOutcome['200'] ?? 0;

  const held = {
    [`one address: at most ${LIMIT.connections} accepted (exactly that unless the node's budget refused some), the rest refused RATE_LIMITED or by the budget`]: (s1.total.accepted === LIMIT.connections || (s1.total.accepted < LIMIT.connections && s1.budgetRefused > 0)) && explained(s1),
    [`many addresses: each capped at its own ${LIMIT.connections}, the node at ${LIMIT.nodeHandshakes}/s, the rest refused RATE_LIMITED or by the budget`]: perIpOk && nodeRateOk && explained(s2) && (s2.total.RATE_LIMITED ?? 0) + otherRefusals(s2.total) > 0,
    'a fresh client from another address connects during each storm': s1.freshOk && s2.freshOk,
    [`event flood: ≤ ${LIMIT.events}/s per socket answered, the rest RATE_LIMITED`]: evOk > 0 && evOk <= evCap && onlyCodes(ev.byCode, ['ok', 'RATE_LIMITED', 'disconnected']),
    // Past 10× its limit within a second the flooding socket is disconnected; only the
    // acknowledgements it still had outstanding then (the window) go unanswered.
    [`event flood: the flooding socket is disconnected each time it passes 10× the limit (at most its 64 outstanding events cut off each time)`]: !ev.stillConnected && (ev.byCode.disconnected ?? 0) <= 64 * ev.connections,
    "the unaffected client's own events answered ok during the event flood": probeEventsIn('event flood from one socket').length > 0 && probeEventsIn('event flood from one socket').every(([, , c]) => c === 'ok'),
    [`push API flood: exactly ${LIMIT.http} answered 2xx, the rest 429 RATE_LIMIT_EXCEEDED with Retry-After`]: apiOk === LIMIT.http && onlyCodes(api.byOutcome, ['200', '429 RATE_LIMIT_EXCEEDED']) && api.missingRetryAfter === 0,
    'the unaffected client got every push, none refused': probeTally.lost === 0 && probeTally.refused === 0,
    ...Object.fromEntries(names.map((n) => [`its latency flat during and after the ${n.replace(/^storm/, 'connection storm')} (p99 ≤ max(3× before, 50 ms))`, flat(n)])),
  };
  const lat3 = (name) => latPhases({ before: probeLat[`${name}: before`], during: probeLat[`${name}: during`], after: probeLat[`${name}: after`] });
  const memOf = (name) => rss(mem.window(node.name, phaseOf(name).from, phases.get(`${name}: after`).to));
  const figures = {
    'storm, one address': `${int(oneIpCount)} handshakes from 127.0.0.2 in ${(s1.ms / 1000).toFixed(1)} s: ${counts(s1.total)}; refused by the node's budget (metric): ${s1.budgetRefused}; fresh client ${s1.freshOk ? 'connected' : 'refused'}; probe ${lat3(names[0])}; RSS ${memOf(names[0])}`,
    'storm, many addresses': `${int(ips.length * perIp)} handshakes from ${ips.length} addresses in ${(s2.ms / 1000).toFixed(1)} s: ${counts(s2.total)}; refused by the node's budget (metric): ${s2.budgetRefused}; per address ${[...new Set(ips.map((ip) => JSON.stringify(s2.perAddress[ip])))].join(' or ')}; fresh client ${s2.freshOk ? 'connected' : 'refused'}; probe ${lat3(names[1])}; RSS ${memOf(names[1])}`,
    'event flood': `${int(ev.sent)} events in ${floodS} s: ${counts(ev.byCode)}; flooder's connections: ${ev.connections} (handshakes refused: ${ev.refusedHandshakes}), still connected at the end: ${ev.stillConnected}; probe's events meanwhile: ${counts(countBy(probeEventsIn(names[2]), ([, , c]) => c))}; probe ${lat3(names[2])}; RSS ${memOf(names[2])}`,
    'push API flood': `${int(api.requests)} requests in ${floodS} s (${int(api.rps)}/s): ${counts(api.byOutcome)}; Retry-After ${api.retryAfter ? `${api.retryAfter.min}–${api.retryAfter.max} s` : 'n/a'}, missing on ${api.missingRetryAfter}; probe ${lat3(names[3])}; RSS ${memOf(names[3])}`,
    'unaffected client': `${probe.sent.length} pushes, ${probeTally.received} received, ${probeTally.refused} refused; ${probeEvents.length} events: ${counts(countBy(probeEvents, ([, , c]) => c))}`,
  };
  return {
    done: `1 node, rate limits ${LIMIT.connections} connections/min per address, ${LIMIT.events} events/s per socket, ${LIMIT.http} requests/min per key; 4 floods in turn (${floodS} s each for events and the push API)`,
    held,
    figures,
    raw: { phases: phases.list, results, probeLat },
  };
}
