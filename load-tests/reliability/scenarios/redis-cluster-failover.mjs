/*
 * A Redis Cluster shard loses its primary (SIGKILL) under steady pushes, and its replica takes over.
 * Promises: every push answered 2xx reaches every connected client once and in order; a client
 * that was away across the takeover recovers what it missed, or (only for streams of the failed
 * shard) is told `recovered: false`, never left with a silent gap; no push request hangs; pushes
 * to the failed shard's rooms are answered 2xx again soon after the promotion; the nodes stay up
 * and ready.
 */
import { clusterNodes, keySlot, killNode, primaryOf, promoted } from '../../lib/redis-cluster.mjs';
import { slotOf } from '../../lib/redis.mjs';
import { byPhase, countBy, now, sleep, until } from '../lib/common.mjs';
import { counts, int, latPhases, ms, rss } from '../lib/format.mjs';
import { outcome, REQUEST_TIMEOUT_MS, request } from '../lib/http.mjs';
import { MemorySampler } from '../lib/processes.mjs';
import { SteadySender } from '../lib/traffic.mjs';
import { HealthMonitor, Phases } from '../lib/watch.mjs';

export const id = 'redis-cluster-failover';
export const title = 'A Redis Cluster primary SIGKILLed under steady pushes';
export const budgetS = (quick) => (quick ? 90 : 120);
const NODE_TIMEOUT_MS = 1000;
const ROOM_EVERY_MS = 50;
const PERSONAL_EVERY_MS = 100;
const TICK_EVERY_MS = 50;
export const notes = `A Redis Cluster of 3 primaries and 3 replicas on loopback (\`cluster-node-timeout\` ${NODE_TIMEOUT_MS} ms, \`cluster-require-full-coverage no\`, every replica synced before the start) and two nodes with \`REDIS_CLUSTER=true\` (every cluster node a seed). Six rooms are picked by \`CLUSTER KEYSLOT {r:<room>}\`: two on the shard that will fail, two on each of the others. Clients (half on each node, websocket transport; the connected ones in a separate client worker) join the six rooms; each also has its personal stream. One sender per room broadcasts numbered messages every ${ROOM_EVERY_MS} ms, and one more pushes to every client's user at once every ${PERSONAL_EVERY_MS} ms (one push, a part on each personal stream's shard); each sends one request at a time, alternating between the nodes, and retries a refused or unanswered push with the same id. Some clients (the returning ones: 4 per node, 2 in a quick run, half of them with their personal stream on the failing shard; driven by the runner itself) disconnect 300 ms before the primary of the failing shard is SIGKILLed, and connect again with their offsets (\`auth.recover\`) once pushes to that shard's rooms are answered 2xx again. "Promotion" is from the kill until the replica's own \`CLUSTER NODES\` shows it a primary with slots; "serving again" is measured by a ticker per node: a push every ${TICK_EVERY_MS} ms to a third, empty room on the failing shard, each with an id of its own and never retried; the failed shard serves again through a node at the answer of its first tick answered 2xx after the kill. The failover phase ends when both nodes do. "Lost", "duplicated" and "out of order" count, per client, the messages answered 2xx it never got, got twice, or got after a later one. A push to the failed shard refused and retried may have been published by the dying primary without the replica knowing it, so a second delivery of such a retried message on a failed-shard stream is excused and counted apart (as in \`test/cluster/redis-failover.test.ts\`); on healthy shards nothing is excused. A returning client's stream counts as told when the \`recovered\` event says \`recovered: false\` for it: the messages after its last one before leaving and sent before that event are then owed by the backend, not by pushgate; anything else missing is a silent gap. Refusals are counted by the shard of the room; a push to a healthy room can be refused too when its message id's record (\`{m:<id>}\`) hashes to the failed shard. Push latency is the request's answer time; push→receive is from just before the request (\`data.t\`) to the delivery, in the client worker; both per phase: before the kill, from the kill until serving again, after; a request not answered within ${REQUEST_TIMEOUT_MS / 1000} s counts as hung.`;

/** `[node a, node b, node a, …]` urls, starting with `first`: a sender that alternates between the nodes. */
const alternate = (nodes, first) => {
  let k = first;
  return () => nodes[k++ % nodes.length].url;
};
const firstAttemptAt = (sender, n) => sender.attempts.find((x) => x.n === n)?.at ?? Infinity;
/** When the first 2xx came for a request sent at or after `t` (its answer time), or null. */
const firstOkAfter = (sender, t) => {
  const x = sender.attempts.find((y) => y.at >= t && y.outcome.startsWith('2'));
  return x ? x.at + x.ms : null;
};

/**
 * Pushes to `room` through `node` every `everyMs`, each with an id of its own and never retried:
 * when the room's shard is served again, to within `everyMs` (a sender's retries back off to 500 ms).
 */
function ticker(node, key, room, everyMs) {
  const t = { attempts: [], running: true };
  t.done = (async () => {
    for (let k = 1; t.running; k++) {
      const r = await request(node.url, { method: 'POST', path: `/api/v1/rooms/${encodeURIComponent(room)}/broadcast`, key, body: { event: 'tick', data: {}, id: `cf-tick-${node.name}-${k}` } });
      t.attempts.push({ at: r.at, ms: r.ms, outcome: outcome(r) });
      if (r.ms < everyMs) await sleep(everyMs - r.ms);
    }
  })();
  t.stop = () => {
    t.running = false;
    return t.done;
  };
  return t;
}

const refusals = (senders) => senders.flatMap((s) => s.attempts.filter((x) => !x.outcome.startsWith('2')).map((x) => ({ ...x, id: `${s.opts.idPrefix}-${x.n}` })));

/**
 * Duplicates of a tally split into excused (numbers in `excused`) and not. The worker lists the
 * numbers delivered twice (not how often): when all are excused so is the count, otherwise all of it counts.
 */
function splitDuplicates(t, excused) {
  const unexcused = t.duplicates.filter((n) => !excused.has(n));
  return unexcused.length === 0 ? { duplicated: 0, excused: t.duplicated } : { duplicated: t.duplicated, excused: 0 };
}

export async function run(ctx) {
  const perNode = ctx.quick ? 10 : 20;
  const awayPerNode = ctx.quick ? 2 : 4;
  const T = ctx.quick ? { before: 4000, after: 4000 } : { before: 8000, after: 6000 };
  const cluster = await ctx.redisCluster({ primaries: 3, replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS });
  const topo = await clusterNodes(cluster);
  const primaries = topo.filter((n) => n.role === 'primary' && n.slots.length > 0);
  const shardOf = async (tag) => primaryOf(topo, await keySlot(cluster, `{${tag}}`)).port;

  // Rooms by shard: the first candidate's shard fails; two rooms there (and a third, empty one for
  // the tickers), two on each other shard.
  const victim = await shardOf('r:cf:0');
  const want = (port) => (port === victim ? 3 : 2);
  const byShard = new Map(primaries.map((p) => [p.port, []]));
  for (let i = 0; [...byShard].some(([p, rs]) => rs.length < want(p)); i++) {
    if (i > 500) throw new Error('could not place the rooms on every shard');
    const room = `cf:${i}`;
    const port = await shardOf(`r:${room}`);
    if (byShard.get(port).length < want(port)) byShard.get(port).push(room);
  }
  // The figures attribute refused pushes to shards by the id's slot, computed locally: it must agree with Redis.
  if (slotOf('{r:cf:0}') !== (await keySlot(cluster, '{r:cf:0}'))) throw new Error('slotOf() disagrees with CLUSTER KEYSLOT');
  const replica = topo.find((n) => n.primaryPort === victim)?.port;
  if (!replica) throw new Error(`the primary on ${victim} has no replica`);
  const [tickRoom, onVictim] = [byShard.get(victim)[2], byShard.get(victim).slice(0, 2)];
  const rooms = [...onVictim, ...[...byShard].filter(([p]) => p !== victim).flatMap(([, rs]) => rs)];
  const failedRoom = (room) => onVictim.includes(room);

  // Users, their personal stream's shard, and who goes away: per node, half of them with a personal
  // stream on the failing shard when there are enough, so both outcomes of a recovery are exercised.
  const users = Array.from({ length: perNode * 2 }, (_, i) => `cf-u${i}`);
  const personalFailed = new Set();
  for (const u of users) if ((await shardOf(`u:${u}`)) === victim) personalFailed.add(u);
  const halves = [users.slice(0, perNode), users.slice(perNode)];
  const away = halves.map((h) => {
    const f = h.filter((u) => personalFailed.has(u)).slice(0, awayPerNode / 2);
    return [...f, ...h.filter((u) => !f.includes(u)).slice(0, awayPerNode - f.length)];
  });

  const env = ctx.env({ redis: cluster, REDIS_CLUSTER: 'true' });
  const a = await ctx.node('cf-a', env);
  const b = await ctx.node('cf-b', env);
  const nodes = [a, b];
  const readyAll = await until(async () => (await Promise.all(nodes.map((n) => fetch(`${n.url}/health/ready`).then((r) => r.ok, () => false)))).every(Boolean), 20000, 100);
  if (!readyAll) throw new Error('nodes not ready on the cluster');
  const fleet = await ctx.fleet();
  // Stayers in the client worker, grouped by node and by the shard of their personal stream.
  const groups = [];
  for (const [i, node] of nodes.entries()) {
    for (const kind of ['failed', 'healthy']) {
      const us = halves[i].filter((u) => !away[i].includes(u) && personalFailed.has(u) === (kind === 'failed'));
      if (us.length === 0) continue;
      const group = `stay-${node.name}-${kind}`;
      const r = await fleet.call('connect', { group, url: node.url, users: us, rooms: ['cf:*'], join: rooms });
      if (r.failed) throw new Error(`${group}: ${JSON.stringify(r.errors)}`);
      groups.push({ group, node: node.name, personal: kind, size: us.length });
    }
  }
  const returners = [];
  for (const [i, node] of nodes.entries()) {
    for (const u of away[i]) {
      const c = ctx.client(node.url, { userId: u, rooms: ['cf:*'] });
      if (!(await c.ready())) throw new Error(`${u} could not connect`);
      for (const room of rooms) await c.join(room);
      returners.push(c);
    }
  }
  const stayers = groups.reduce((x, g) => x + g.size, 0);

  const mem = new MemorySampler(nodes);
  const health = new HealthMonitor(nodes);
  const phases = new Phases();
  phases.start('before');
  const key = ctx.secrets.adminKey;
  const roomSenders = new Map(
    rooms.map((room, i) => [
      room,
      new SteadySender({ url: alternate(nodes, i), key, path: `/api/v1/rooms/${encodeURIComponent(room)}/broadcast`, body: (n) => ({ event: room, data: { n, t: now() } }), everyMs: ROOM_EVERY_MS, idPrefix: `cf-r${i}` }),
    ]),
  );
  const personal = new SteadySender({ url: alternate(nodes, 0), key, path: '/api/v1/push', body: (n) => ({ users, event: 'me', data: { n, t: now() } }), everyMs: PERSONAL_EVERY_MS, idPrefix: 'cf-me' });
  const senders = [...roomSenders.values(), personal];
  const tickers = nodes.map((n) => ticker(n, key, tickRoom, TICK_EVERY_MS));
  // What each client tallies: a room's event, or `me` on its personal stream (failed when its user's stream is on the failed shard).
  const streams = [...rooms.map((r) => ({ event: r, sender: roomSenders.get(r), failed: () => failedRoom(r) })), { event: 'me', sender: personal, failed: (userFailed) => userFailed }];
  await sleep(T.before);

  // The returning clients leave, remembering what they had; then the primary is killed.
  const leftWith = new Map();
  for (const c of returners) {
    leftWith.set(c, new Map([...rooms, 'me'].map((e) => [e, (c.got.get(e) ?? []).length])));
    c.socket.disconnect();
  }
  await sleep(300);
  const killedAt = phases.start('failover');
  await killNode(cluster, victim);
  ctx.log(`primary on ${victim} SIGKILLed (rooms ${onVictim.join(', ')}; ${personalFailed.size} of ${users.length} personal streams)`);
  const promotedAt = await promoted(replica, 20000);
  const servedAt = await until(() => {
    const ts = tickers.map((t) => firstOkAfter(t, killedAt));
    return ts.every((t) => t !== null) ? Math.max(...ts) : null;
  }, 20000, 20);
  phases.start('after');

  const backAt = now();
  for (const c of returners) c.socket.connect();
  const allRecovered = await until(() => returners.every((c) => c.recovered.some((r) => r.at >= backAt)), 15000, 50);
  const recoveredMs = allRecovered ? Math.max(...returners.map((c) => c.recovered.find((r) => r.at >= backAt).at)) - backAt : null;
  await sleep(T.after);
  phases.end();
  await Promise.all([...senders, ...tickers].map((s) => s.stop()));

  // Deliveries settle: every stayer has every 2xx message (or the time is up and "lost" says so).
  const stayTally = (event, sent) => Promise.all(groups.map((g) => fleet.call('tally', { group: g.group, event, sent })));
  const lastArrived = async () => {
    for (const st of streams) if ((await stayTally(st.event, st.sender.sent)).some((t) => t.lost > 0)) return false;
    return returners.every((c) => streams.every((st) => (c.got.get(st.event) ?? []).includes(st.sender.sent.at(-1))));
  };
  await until(lastArrived, 10000, 250);
  await health.stop();
  mem.stop();
  const finalTopo = await clusterNodes(cluster);

  // ---- stayers: every 2xx message once and in order ----
  const stay = { failed: zero(), healthy: zero() };
  for (const st of streams) {
    const tallies = await stayTally(st.event, st.sender.sent);
    const retried = new Set(st.sender.retriedThenSent());
    for (const [i, t] of tallies.entries()) {
      const failed = st.failed(groups[i].personal === 'failed');
      const d = splitDuplicates(t, failed ? retried : new Set());
      add(stay[failed ? 'failed' : 'healthy'], { received: t.received, lost: t.lost, duplicated: d.duplicated, excused: d.excused, outOfOrder: t.outOfOrder });
    }
  }

  // ---- returning clients: recovered, or told ----
  const back = { failed: zero(), healthy: zero() };
  const outcomes = { failed: {}, healthy: {} };
  const silent = [];
  for (const c of returners) {
    const report = c.recovered.find((r) => r.at >= backAt);
    for (const st of streams) {
      const stream = st.event === 'me' ? `user:${c.userId}` : st.event;
      const failed = st.failed(personalFailed.has(c.userId));
      const kind = failed ? 'failed' : 'healthy';
      const rec = report?.streams?.[stream];
      const said = rec === undefined ? 'no report' : rec.recovered ? 'recovered: true' : 'recovered: false';
      outcomes[kind][said] = (outcomes[kind][said] ?? 0) + 1;
      const t = c.tally(st.event, st.sender.sent);
      const d = splitDuplicates(t, failed ? new Set(st.sender.retriedThenSent()) : new Set());
      // Told: `recovered: false` covers what came after its last message before it left, up to the report.
      const had = (c.got.get(st.event) ?? []).slice(0, leftWith.get(c).get(st.event));
      const lastHad = had.length ? Math.max(...had) : 0;
      const told = rec?.recovered === false ? t.missing.filter((n) => n > lastHad && firstAttemptAt(st.sender, n) < report.at) : [];
      const gap = t.missing.filter((n) => !told.includes(n));
      if (gap.length) silent.push({ userId: c.userId, stream, said, missing: gap.slice(0, 10), count: gap.length });
      add(back[kind], { received: t.received, lost: gap.length, told: told.length, duplicated: d.duplicated, excused: d.excused, outOfOrder: t.outOfOrder });
    }
  }

  // ---- refusals, latency, hangs ----
  const victimSlots = topo.find((n) => n.port === victim).slots;
  const onFailedShard = (messageId) => {
    const slot = slotOf(`{m:${messageId}}`);
    return victimSlots.some(([x, y]) => slot >= x && slot <= y);
  };
  const failedSenders = onVictim.map((r) => roomSenders.get(r));
  const healthySenders = rooms.filter((r) => !failedRoom(r)).map((r) => roomSenders.get(r));
  const refused = { failed: refusals(failedSenders), healthy: refusals(healthySenders), personal: refusals([personal]) };
  const healthyIdOnFailed = refused.healthy.filter((x) => onFailedShard(x.id)).length;
  const attempts = senders.flatMap((s) => s.attempts);
  const ticks = tickers.flatMap((t) => t.attempts);
  const hung = [...attempts, ...ticks].filter((x) => x.outcome === 'timeout').length;
  const lastRefusal = (xs) => Math.max(killedAt, ...xs.map((x) => x.at + x.ms));
  const since = (t) => (t === null ? 'never' : `${ms(t - killedAt)} after the kill`);
  // While the shard had no primary: do pushes that do not need it go through?
  const okWithoutPrimary = (ss) => ss.reduce((k, s) => k + s.attempts.filter((x) => x.at >= killedAt && x.at < (promotedAt ?? Infinity) && x.outcome.startsWith('2')).length, 0);
  const phaseList = phases.list;
  const pushLat = (ss) => byPhase(ss.flatMap((s) => s.attempts.map((x) => [x.at, x.ms])), phaseList);
  const deliveryLat = async (rs) => {
    const samples = [];
    for (const g of groups) for (const r of rs) samples.push(...(await fleet.call('latency', { group: g.group, event: r })));
    return byPhase(samples, phaseList);
  };
  const healthyRooms = rooms.filter((r) => !failedRoom(r));
  const lat = { pushFailed: pushLat(failedSenders), pushHealthy: pushLat(healthySenders), pushPersonal: pushLat([personal]), deliveryFailed: await deliveryLat(onVictim), deliveryHealthy: await deliveryLat(healthyRooms) };
  const order = ['before', 'failover', 'after'];

  // ---- nodes ----
  const lastSample = (n) => health.samples.get(n.name).at(-1);
  const unhandled = nodes.reduce((x, n) => x + n.logCount('error', /unhandled/), 0);
  const notReady = nodes.map((n) => {
    const s = health.samples.get(n.name).filter((x) => x.at >= killedAt && x.ready !== 200);
    return `${n.name} ${s.length ? `not ready in ${s.length} polls (first ${ms(s[0].at - killedAt)} after the kill)` : 'ready throughout'}`;
  });
  const othersFailedOver = primaries.filter((p) => p.port !== victim && !finalTopo.some((n) => n.port === p.port && n.role === 'primary' && !n.failed)).length;
  const connected = await Promise.all(groups.map((g) => fleet.call('nodes', { group: g.group })));
  const stayersConnected = connected.reduce((x, r) => x + r.connected, 0);
  const reconnected = (await Promise.all(groups.map((g) => fleet.call('reconnects', { group: g.group, after: killedAt })))).flat();

  const sum = (o, k) => o.failed[k] + o.healthy[k];
  const held = {
    [`the replica took over (promoted within 10 s of the kill) and pushes to the failed shard's rooms were answered 2xx again within 5 s of the promotion`]: promotedAt !== null && promotedAt - killedAt <= 10000 && servedAt !== null && servedAt - promotedAt <= 5000,
    'connected clients: every push answered 2xx delivered once and in order (0 lost, 0 duplicated, 0 out of order)': sum(stay, 'lost') === 0 && sum(stay, 'duplicated') === 0 && sum(stay, 'outOfOrder') === 0 && stayersConnected === stayers && reconnected.length === 0,
    'returning clients, streams on healthy shards: recovered: true, nothing lost or duplicated': back.healthy.streams > 0 && Object.keys(outcomes.healthy).every((k) => k === 'recovered: true') && back.healthy.lost === 0 && back.healthy.duplicated === 0 && back.healthy.outOfOrder === 0,
    'returning clients, streams on the failed shard: everything recovered, or recovered: false (no silent gap)': back.failed.streams > 0 && !outcomes.failed['no report'] && back.failed.lost === 0 && back.failed.duplicated === 0 && back.failed.outOfOrder === 0,
    [`no push request hangs (> ${REQUEST_TIMEOUT_MS / 1000} s)`]: hung === 0,
    'both nodes stay up and are ready at the end; no unhandled rejection logged': nodes.every((n) => n.alive && lastSample(n)?.ready === 200 && health.alwaysLive(n.name)) && unhandled === 0,
  };
  const outcomeText = (k) => counts(outcomes[k]);
  const figures = {
    cluster: `3 primaries + 3 replicas; killed the primary on :${victim} (slots ${victimSlots.map(([x, y]) => `${x}-${y}`).join(', ')}), replica :${replica}; other primaries failed over: ${othersFailedOver}`,
    clients: `${stayers + returners.length} (${perNode} per node), ${returners.length} of them away across the failover; each in ${rooms.length} rooms (${onVictim.length} on the failed shard: ${onVictim.join(', ')}) and its personal stream (${personalFailed.size} of ${users.length} on the failed shard); stayers connected at the end ${stayersConnected}/${stayers}, lost their connection ${reconnected.length}`,
    failover: `replica promoted ${since(promotedAt)}; the failed shard served again (first 2xx of a tick) ${tickers.map((t, i) => `through ${nodes[i].name} ${since(firstOkAfter(t, killedAt))} (last refusal ${ms(lastRefusal(t.attempts.filter((x) => !x.outcome.startsWith('2'))) - killedAt)})`).join(', ')}; the room senders' first 2xx there ${since(Math.max(...failedSenders.map((sn) => firstOkAfter(sn, killedAt))))}, the personal sender's ${since(firstOkAfter(personal, killedAt))} (their retries back off to every 500 ms)`,
    'push requests': `${int(attempts.length)}: ${counts(countBy(attempts, (x) => x.outcome))}; slowest answer ${ms(Math.max(...attempts.map((x) => x.ms)))}; ticks ${int(ticks.length)}: ${counts(countBy(ticks, (x) => x.outcome))}; hung ${hung}`,
    refused: `failed-shard rooms ${refused.failed.length} (${counts(countBy(refused.failed, (x) => x.outcome))}); healthy-shard rooms ${refused.healthy.length}, ${healthyIdOnFailed} of them with the id's record on the failed shard (${counts(countBy(refused.healthy, (x) => x.outcome))}); personal pushes (every shard) ${refused.personal.length}; last refusal ${ms(lastRefusal([...refused.failed, ...refused.healthy, ...refused.personal]) - killedAt)} after the kill`,
    'answered 2xx while the shard had no primary': `failed-shard rooms ${okWithoutPrimary(failedSenders)}, healthy-shard rooms ${okWithoutPrimary(healthySenders)}, personal ${okWithoutPrimary([personal])} (a sender waits on its refused push, retried with its id, before the next)`,
    messages: `${int(senders.reduce((x, s) => x + s.sent.length, 0))} answered 2xx (rooms ${int(senders.slice(0, -1).reduce((x, s) => x + s.sent.length, 0))}, personal ${int(personal.sent.length)}), ${int(senders.reduce((x, s) => x + s.retriedThenSent().length, 0))} after a refusal`,
    'connected clients': `deliveries ${int(sum(stay, 'received'))}; lost ${sum(stay, 'lost')}, duplicated ${sum(stay, 'duplicated')} (+ ${stay.failed.excused} excused repeats of retried pushes on the failed shard), out of order ${sum(stay, 'outOfOrder')}`,
    'returning clients': `healthy-shard streams: ${outcomeText('healthy')}, lost ${back.healthy.lost}, duplicated ${back.healthy.duplicated}; failed-shard streams: ${outcomeText('failed')}, messages covered by recovered: false ${back.failed.told}, silently missing ${back.failed.lost}, duplicated ${back.failed.duplicated} (+ ${back.failed.excused} excused); every \`recovered\` report within ${recoveredMs === null ? 'n/a (some never came)' : ms(recoveredMs)} of connecting again`,
    'push latency, failed-shard rooms': latPhases(lat.pushFailed, order),
    'push latency, healthy-shard rooms': latPhases(lat.pushHealthy, order),
    'push latency, personal (all shards)': latPhases(lat.pushPersonal, order),
    'push→receive, failed-shard rooms': latPhases(lat.deliveryFailed, order),
    'push→receive, healthy-shard rooms': latPhases(lat.deliveryHealthy, order),
    readiness: notReady.join('; '),
    'RSS (cf-a)': rss(mem.window(a.name, killedAt, phases.get('after').to)),
    'RSS (cf-b)': rss(mem.window(b.name, killedAt, phases.get('after').to)),
  };
  return {
    done: `Redis Cluster 3 primaries + 3 replicas (node timeout ${NODE_TIMEOUT_MS} ms), 2 nodes, ${stayers + returners.length} clients in ${rooms.length} rooms (${onVictim.length} on the failing shard) + personal streams; ${rooms.length} senders × ${1000 / ROOM_EVERY_MS} pushes/s + ${1000 / PERSONAL_EVERY_MS} pushes/s to every user; ${returners.length} clients away across the failover; one shard's primary SIGKILLed`,
    held,
    figures,
    raw: { phases: phaseList, victim, replica, rooms, onVictim, tickRoom, personalFailed: [...personalFailed], killedAt, promotedAt, servedAt, stay, back, outcomes, silent, refused: { failed: refused.failed.length, healthy: refused.healthy.length, healthyIdOnFailed, personal: refused.personal.length }, latency: lat, topology: { before: topo, after: finalTopo }, logs: nodes.map((n) => n.logs.counts) },
  };
}

const zero = () => ({ streams: 0, received: 0, lost: 0, told: 0, duplicated: 0, excused: 0, outOfOrder: 0 });
function add(acc, x) {
  acc.streams += 1;
  for (const [k, v] of Object.entries(x)) acc[k] += v;
}
