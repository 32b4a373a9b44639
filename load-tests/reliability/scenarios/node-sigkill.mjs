/*
 * One of three nodes SIGKILLed under load behind a failover balancer. Promises: its clients reconnect
 * to the other nodes, the dead node's presence is cleaned within a few heartbeats, no message
 * answered 2xx is lost (recovery fills the gap) or delivered twice, no push request hangs, and a
 * client elsewhere keeps receiving.
 */
import { byPhase, countBy, sleep, summary, until } from '../lib/common.mjs';
import { counts, int, lat, latPhases, ms, rss } from '../lib/format.mjs';
import { is2xx, outcome, REQUEST_TIMEOUT_MS, request } from '../lib/http.mjs';
import { MemorySampler } from '../lib/processes.mjs';
import { SteadySender } from '../lib/traffic.mjs';
import { Phases } from '../lib/watch.mjs';

export const id = 'node-sigkill';
export const title = 'A node SIGKILLed under load';
export const budgetS = (quick) => (quick ? 70 : 110);
const HEARTBEAT_MS = 500;
const BURST = 200;
export const notes = `Three nodes (HEARTBEAT_MS=${HEARTBEAT_MS}) share a private redis-server behind a round-robin TCP balancer that skips a node refusing connections (the stand-in for a load balancer with health checks). The client worker connects the clients through the balancer (websocket transport, reconnection delay 100 ms–1 s with jitter), each joins the room \`fleet\` and keeps its offsets for \`auth.recover\`. A sender broadcasts a numbered message to the room every 50 ms through the balancer, a new connection per request, retrying a refused or unanswered push with the same id. Right before the kill, ${BURST} more broadcasts (event \`burst\`, ids \`sk-burst-<n>\`) go straight to the first node, each on a new connection, and the node is SIGKILLed as soon as the first of them is answered, so the rest are in flight: some not yet read, some admitted and not yet answered; each one without a 2xx is retried with its id through the balancer (as a backend would) until it is answered 2xx. "Reconnect time" is, per client of the dead node, from its disconnect to its next \`welcome\`. "Presence cleaned" is when \`GET /api/v1/rooms/fleet\` on a survivor counts exactly the live sockets and \`GET /api/v1/status\` shows the dead node as \`alive: false\`; then every user is checked with \`GET /api/v1/users/:id\`. The unaffected probe client is connected straight to a survivor and pushed to through the other one.`;

const range = (n) => Array.from({ length: n }, (_, i) => i);

export async function run(ctx) {
  const N = ctx.quick ? 90 : 200;
  const T = ctx.quick ? { before: 4000, after: 4000 } : { before: 8000, after: 8000 };
  const redis = await ctx.redis();
  const env = ctx.env({ redis, HEARTBEAT_MS: String(HEARTBEAT_MS) });
  const nodes = [];
  for (const i of [1, 2, 3]) nodes.push(await ctx.node(`sk-${i}`, env));
  const [victim, s2, s3] = nodes;
  const lb = await ctx.balancer(nodes.map((n) => n.port));
  const fleet = await ctx.fleet();
  const users = range(N).map((i) => `sk-user-${i}`);
  const conn = await fleet.call('connect', { group: 'fleet', url: lb.url, users, rooms: ['fleet'], join: ['fleet'], concurrency: 20 }, 120000);
  if (conn.failed) throw new Error(`fleet: ${JSON.stringify(conn.errors)}`);
  const onVictim = conn.byNode[victim.name] ?? 0;
  const probe = await ctx.probe({ pushUrl: s2.url, socketUrl: s3.url, userId: 'sk-probe' });
  const mem = new MemorySampler(nodes);
  const phases = new Phases();
  phases.start('before');
  const sender = new SteadySender({ url: () => lb.url, fresh: true, key: ctx.secrets.adminKey, path: '/api/v1/rooms/fleet/broadcast', body: (n) => ({ event: 'tick', data: { n } }), everyMs: 50, idPrefix: 'sk' });
  await sleep(T.before);

  // Pushes certainly in flight at the kill: a burst straight to the victim, killed as soon as the
  // first of them is answered; every one without a 2xx is then retried with its id through the balancer.
  const burst = Array.from({ length: BURST }, (_, i) =>
    request(victim.url, { method: 'POST', path: '/api/v1/rooms/fleet/broadcast', key: ctx.secrets.adminKey, fresh: true, body: { event: 'burst', data: { n: i + 1 }, id: `sk-burst-${i + 1}` } }),
  );
  await Promise.race([...burst.map((p) => p.then((r) => (is2xx(r) ? r : new Promise(() => undefined)))), sleep(5000)]);
  const killedAt = phases.start('during');
  await victim.kill('SIGKILL');
  ctx.log(`${victim.name} killed (${onVictim} of ${N} clients on it)`);
  const admin = ctx.secrets.adminKey;
  const allBack = await until(async () => {
    const r = await fleet.call('nodes', { group: 'fleet' });
    return r.connected === N && !r.byNode[victim.name] ? r : null;
  }, 30000, 100);
  const allBackAt = allBack ? Date.now() : null;
  const cleaned = await until(async () => {
    const [room, status] = await Promise.all([request(s2.url, { path: '/api/v1/rooms/fleet', key: admin }), request(s2.url, { path: '/api/v1/status', key: admin })]);
    const sockets = room.body?.data?.sockets;
    // A dead node stays listed for operators, marked alive: false.
    const listedAlive = status.body?.data?.nodes?.some((n) => n.id === victim.name && n.alive !== false);
    return room.status === 200 && sockets === N && listedAlive === false ? { sockets } : null;
  }, 30000, 100);
  const cleanedAt = cleaned ? Date.now() : null;
  const burstFirst = await Promise.all(burst);
  const burstRetries = [];
  for (const [i, r] of burstFirst.entries()) {
    if (is2xx(r)) continue;
    let retry = null;
    for (let attempt = 0; attempt < 10 && !(retry && is2xx(retry)); attempt++) {
      retry = await request(lb.url, { method: 'POST', path: '/api/v1/rooms/fleet/broadcast', key: ctx.secrets.adminKey, fresh: true, body: { event: 'burst', data: { n: i + 1 }, id: `sk-burst-${i + 1}` } });
    }
    burstRetries.push([i + 1, retry]);
  }
  const burstSent = [...burstFirst.map((r, i) => (is2xx(r) ? i + 1 : null)).filter((n) => n !== null), ...burstRetries.filter(([, r]) => is2xx(r)).map(([n]) => n)];
  const offline = [];
  let staleSockets = 0;
  for (const u of users) {
    const r = await request(s3.url, { path: `/api/v1/users/${u}`, key: admin });
    const sockets = r.body?.data?.sockets ?? [];
    staleSockets += sockets.filter((s) => s.nodeId === victim.name).length;
    if (!r.body?.data?.online) offline.push(u);
  }
  phases.start('after');
  await sleep(T.after);
  phases.end();
  await sender.stop();
  await probe.stop();
  await until(async () => (await fleet.call('tally', { group: 'fleet', event: 'tick', sent: sender.sent })).lost === 0, 10000, 250);
  const tally = await fleet.call('tally', { group: 'fleet', event: 'tick', sent: sender.sent });
  const burstTally = await fleet.call('tally', { group: 'fleet', event: 'burst', sent: burstSent });
  const reconnects = await fleet.call('reconnects', { group: 'fleet', after: killedAt });
  const final = await fleet.call('nodes', { group: 'fleet' });
  mem.stop();

  const back = reconnects.filter((r) => r.backAt !== null);
  const reconnectMs = summary(back.map((r) => r.backAt - r.lostAt));
  const elsewhere = back.filter((r) => r.nodeId && r.nodeId !== victim.name).length;
  const attempts = sender.attempts;
  const hung = attempts.filter((x) => x.outcome === 'timeout').length;
  const probeTally = probe.tally();
  const probeLat = byPhase(probe.samples(), phases.list);
  const limitMs = 6 * HEARTBEAT_MS + 2000;

  const held = {
    [`every client of the killed node reconnected to another node (${onVictim})`]: onVictim > 0 && reconnects.length === onVictim && elsewhere === onVictim && final.connected === N,
    [`presence cleaned within ${ms(limitMs)} (6 heartbeats + one reaper period)`]: cleanedAt !== null && cleanedAt - killedAt <= limitMs && staleSockets === 0 && offline.length === 0,
    'no 2xx for a lost message (0 lost, recovery fills the gap)': tally.lost === 0,
    [`pushes in flight at the kill (${BURST}), retried with their id through another node: every 2xx delivered`]: burstSent.length === BURST && burstTally.lost === 0,
    'no message delivered twice to a client': tally.duplicated === 0 && burstTally.duplicated === 0,
    [`no push request hangs (> ${REQUEST_TIMEOUT_MS / 1000} s)`]: hung === 0,
    'surviving nodes stay up': s2.alive && s3.alive,
    'the probe on a survivor got every push': probeTally.lost === 0 && probeTally.refused === 0,
  };
  const figures = {
    clients: `${N} through the balancer: ${counts(conn.byNode)}; at the end ${final.connected} connected: ${counts(final.byNode)}`,
    'reconnected elsewhere': `${elsewhere}/${onVictim}; reconnect time ${lat(reconnectMs)}, max ${ms(reconnectMs.max)}; all ${N} connected ${allBackAt === null ? 'never' : `${ms(allBackAt - killedAt)} after the kill`}`,
    'presence cleaned': `${cleanedAt === null ? 'not within 30 s' : `${ms(cleanedAt - killedAt)} after the kill`}; sockets of the dead node still listed per user afterwards: ${staleSockets}; users shown offline: ${offline.length}`,
    'push requests': `${int(attempts.length)}: ${counts(countBy(attempts, (x) => x.outcome))}; hung ${hung}`,
    messages: `${int(sender.sent.length)} answered 2xx, ${int(sender.retriedThenSent().length)} of them after a failed attempt; deliveries ${int(tally.received)} (${N} clients), lost ${tally.lost}, duplicated ${tally.duplicated}, out of order ${tally.outOfOrder}`,
    'in-flight burst': `${BURST} pushes straight to the victim, killed at the first answer: ${counts(countBy(burstFirst, outcome))}; retried through the balancer: ${counts(countBy(burstRetries, ([, r]) => outcome(r)))}; answered 2xx in the end ${burstSent.length}; deliveries ${int(burstTally.received)}/${int(burstSent.length * N)}, lost ${burstTally.lost} (clients missing some: ${burstTally.clientsWithLoss}, of which never disconnected: ${burstTally.withLossNeverDisconnected})`,
    'recovery of the reconnected clients': counts(countBy(back, (r) => (r.recovered === null ? 'no recovered event' : r.recovered ? 'recovered: true' : 'recovered: false'))),
    'probe push→receive': `${latPhases(probeLat, ['before', 'during', 'after'])}; ${probeTally.received}/${probe.sent.length} received`,
    [`RSS (${s2.name})`]: rss(mem.window(s2.name, killedAt, phases.get('after').to)),
    [`RSS (${s3.name})`]: rss(mem.window(s3.name, killedAt, phases.get('after').to)),
  };
  return {
    done: `3 nodes behind a failover balancer, ${N} clients in one room, 20 pushes/s through the balancer; one node SIGKILLed`,
    held,
    figures,
    raw: { phases: phases.list, burstTally: { ...burstTally, losses: burstTally.losses.map((l) => ({ userId: l.userId, missing: l.missing, disconnected: l.disconnects.length > 0 })) }, conn, reconnects: reconnects.length, reconnectMs, tally, probeLat, routed: lb.routed, killedAt, allBackAt, cleanedAt },
  };
}
