/*
 * Redis killed (-9) and restarted under steady pushes through two nodes. Promises: the nodes stay
 * live and never crash, readiness goes 503 and comes back, no push request hangs, every push
 * answered 2xx is delivered to every client, refused pushes retried with their id are delivered
 * once, and cross-node fan-out works again after the restart.
 */
import { byPhase, countBy, sleep, until } from '../lib/common.mjs';
import { counts, int, latPhases, ms, rss } from '../lib/format.mjs';
import { MemorySampler } from '../lib/processes.mjs';
import { REQUEST_TIMEOUT_MS } from '../lib/http.mjs';
import { SteadySender } from '../lib/traffic.mjs';
import { HealthMonitor, Phases } from '../lib/watch.mjs';

export const id = 'redis-restart';
export const title = 'Redis killed and restarted under steady pushes';
export const budgetS = (quick) => (quick ? 75 : 120);
const FREEZE_MS = 1000;
export const notes = `Two nodes share a private redis-server. Clients (half on each node, websocket transport) join the room \`steady\` and keep their offsets for \`auth.recover\`. Two senders broadcast numbered messages to the room, one through each node, every 50 ms, one request at a time, each with a fixed id (\`rr-a-<n>\`, \`rr-b-<n>\`); a refused or unanswered push is retried with the same id. The redis-server is killed with SIGKILL, left down, then started again on the same port (empty: no persistence). Part 2 repeats the outage (2 s) but freezes node A with SIGSTOP just before Redis is started again and thaws it ${FREEZE_MS / 1000} s after node B reports ready again, the way a long GC pause or a starved CPU can delay one node's reconnection past any fixed grace period: B serves again while A has not re-subscribed; the messages B answers 2xx meanwhile are counted on A's clients. /health/ready and /health/live of both nodes are polled every 100 ms. "Lost" counts, per client, the messages whose push was answered 2xx that it never received; "duplicated" counts second deliveries of a message to one client. Push latency is the request's answer time; a request not answered within ${REQUEST_TIMEOUT_MS / 1000} s counts as hung.`;

const range = (n) => Array.from({ length: n }, (_, i) => i);
/** `503 SERVICE_UNAVAILABLE × 12 → 200` */
const runs = (xs) => {
  const out = [];
  for (const x of xs) {
    const last = out[out.length - 1];
    if (last && last[0] === x) last[1] += 1;
    else out.push([x, 1]);
  }
  return out.map(([x, k]) => (k > 1 ? `${x} × ${k}` : x)).join(' → ');
};

export async function run(ctx) {
  const T = ctx.quick ? { before: 4000, outage: 5000, after: 5000 } : { before: 8000, outage: 12000, after: 8000 };
  const perNode = ctx.quick ? 5 : 10;
  const redis = await ctx.redis();
  const env = ctx.env({ redis });
  const a = await ctx.node('rr-a', env);
  const b = await ctx.node('rr-b', env);
  const fleet = await ctx.fleet();
  for (const [node, tag] of [[a, 'a'], [b, 'b']]) {
    const r = await fleet.call('connect', { group: `on-${tag}`, url: node.url, users: range(perNode).map((i) => `rr-${tag}-${i}`), rooms: ['steady'], join: ['steady'] });
    if (r.failed) throw new Error(`clients on ${node.name}: ${JSON.stringify(r.errors)}`);
  }
  const mem = new MemorySampler([a, b]);
  const health = new HealthMonitor([a, b]);
  const phases = new Phases();
  phases.start('before');
  const senders = [a, b].map(
    (node, i) =>
      new SteadySender({ url: () => node.url, key: ctx.secrets.adminKey, path: '/api/v1/rooms/steady/broadcast', body: (n) => ({ event: `via-${'ab'[i]}`, data: { n } }), everyMs: 50, idPrefix: `rr-${'ab'[i]}` }),
  );
  await sleep(T.before);

  const killedAt = phases.start('outage');
  await redis.kill();
  ctx.log('redis-server killed');
  await sleep(T.outage);

  const restartedAt = phases.start('after');
  await redis.start();
  ctx.log('redis-server started again');
  const readyAgain = await until(() => [a, b].every((n) => health.firstReady(n.name, restartedAt, 200) !== null), 30000, 100);
  await sleep(T.after);

  // Part 2: the same outage, but node A is frozen (SIGSTOP, as a long GC pause or a starved CPU would)
  // while Redis comes back, so B serves again before A has re-subscribed.
  const part2At = phases.start('outage 2');
  await redis.kill();
  await until(() => [a, b].every((n) => health.firstReady(n.name, part2At, 503) !== null), 10000, 50);
  await sleep(2000);
  const frozenAt = phases.start('A frozen across the restart');
  a.child.kill('SIGSTOP');
  await redis.start();
  const bReady2 = await until(() => health.firstReady(b.name, frozenAt, 200), 15000, 50);
  await sleep(FREEZE_MS);
  a.child.kill('SIGCONT');
  const thawedAt = phases.start('after 2');
  const aReady2 = await until(() => health.firstReady(a.name, thawedAt, 200), 15000, 50);
  await sleep(3000);
  phases.end();
  await Promise.all(senders.map((s) => s.stop()));
  // A message belongs to the part in which its push was answered 2xx.
  const okAt = (sender, n) => sender.attempts.find((x) => x.n === n && x.outcome.startsWith('2')).at;
  const part = (sender, second) => sender.sent.filter((n) => (okAt(sender, n) >= part2At) === second);
  const sentAll = senders.map((s) => part(s, false));
  const sent2 = senders.map((s) => part(s, true));
  // Deliveries settle: every 2xx message reaches every client, or the time is up and "lost" says so.
  const tallyAll = async (lists) => {
    const out = [];
    for (const tag of ['a', 'b']) for (const [i, ev] of ['via-a', 'via-b'].entries()) out.push(await fleet.call('tally', { group: `on-${tag}`, event: ev, sent: lists[i] }));
    return out;
  };
  await until(async () => (await tallyAll([...senders.map((s) => s.sent)])).every((t) => t.lost === 0), 10000, 250);
  const tallies = await tallyAll(sentAll);
  const tallies2 = await tallyAll(sent2);
  // Pushes through B answered 2xx while A was frozen: did A's clients get them?
  const whileFrozen = senders[1].sent.filter((n) => okAt(senders[1], n) >= frozenAt && okAt(senders[1], n) < thawedAt);
  const frozenTally = await fleet.call('tally', { group: 'on-a', event: 'via-b', sent: whileFrozen });
  await health.stop();
  mem.stop();

  // Pushes answered 2xx after the restart, through A: do B's clients get them (cross-node fan-out re-subscribed)?
  const after2xx = (s) => s.attempts.filter((x) => x.at >= restartedAt && x.at < part2At && x.outcome.startsWith('2')).map((x) => x.n);
  const crossAtoB = await fleet.call('tally', { group: 'on-b', event: 'via-a', sent: after2xx(senders[0]) });
  const crossBtoA = await fleet.call('tally', { group: 'on-a', event: 'via-b', sent: after2xx(senders[1]) });
  const clientsNow = [await fleet.call('nodes', { group: 'on-a' }), await fleet.call('nodes', { group: 'on-b' })];
  const reconnects = [...(await fleet.call('reconnects', { group: 'on-a', after: killedAt })), ...(await fleet.call('reconnects', { group: 'on-b', after: killedAt }))];

  // Each message delivered twice, with the answers its push attempts got (a refusal that was delivered anyway shows here).
  const twice = [];
  for (const [k, t] of [...tallies, ...tallies2].entries()) {
    const sender = senders[k % 2];
    for (const n of t.duplicates) if (!twice.some((d) => d.id === `${sender.opts.idPrefix}-${n}`)) twice.push({ id: `${sender.opts.idPrefix}-${n}`, attempts: sender.attempts.filter((x) => x.n === n).map((x) => x.outcome) });
  }
  const attempts = senders.flatMap((s) => s.attempts).filter((x) => x.at < part2At);
  const attempts2 = senders.flatMap((s) => s.attempts).filter((x) => x.at >= part2At);
  const sum = (k) => tallies.reduce((x, t) => x + t[k], 0);
  const lost = sum('lost');
  const duplicated = sum('duplicated');
  const hung = [...attempts, ...attempts2].filter((x) => x.outcome === 'timeout').length;
  const maxMs = Math.max(...attempts.map((x) => x.ms));
  const retried = senders.flatMap((s) => s.retriedThenSent());
  const toNotReady = [a, b].map((n) => health.firstReady(n.name, killedAt, 503));
  const toReady = [a, b].map((n) => health.firstReady(n.name, restartedAt, 200));
  const unhandled = [a, b].reduce((x, n) => x + n.logCount('error', /unhandled/), 0);
  const pushLatency = byPhase(attempts.map((x) => [x.at, x.ms]), phases.list.slice(0, 3));
  const outagePhase = phases.get('outage');
  const duringOutage = attempts.filter((x) => x.at >= outagePhase.from && x.at < outagePhase.to);

  const held = {
    'both nodes stay live (/health/live 200 throughout part 1) and never exit': [a, b].every((n) => n.alive && health.alwaysLive(n.name, 0, part2At)),
    'no unhandled rejection logged': unhandled === 0,
    'readiness flips to 503 during the outage': toNotReady.every((t) => t !== null && t < restartedAt),
    'readiness back to 200 after the restart': readyAgain !== null,
    [`no push request hangs (> ${REQUEST_TIMEOUT_MS / 1000} s)`]: hung === 0,
    'no 2xx for a lost message (0 lost)': lost === 0,
    'refused pushes retried with the same id, delivered once (0 duplicated)': duplicated === 0 && retried.length > 0,
    'cross-node fan-out works after the restart': crossAtoB.lost === 0 && crossBtoA.lost === 0 && crossAtoB.received > 0 && crossBtoA.received > 0,
    [`part 2 (A frozen across the restart until ${FREEZE_MS / 1000} s after B is ready): pushes through B answered 2xx meanwhile reach A's clients`]: whileFrozen.length > 0 && frozenTally.lost === 0,
    'part 2: no 2xx for a lost message afterwards either': tallies2.every((t) => t.lost === 0 && t.duplicated === 0),
  };
  const figures = {
    clients: `${perNode * 2} (${perNode} per node); connected at the end: ${clientsNow[0].connected + clientsNow[1].connected}; lost their connection: ${reconnects.length}`,
    'push requests': `${int(attempts.length)}: ${counts(countBy(attempts, (x) => x.outcome))}`,
    'requests during the outage': `${int(duringOutage.length)}: ${counts(countBy(duringOutage, (x) => x.outcome))}; slowest answer ${ms(Math.max(0, ...duringOutage.map((x) => x.ms)))}`,
    'messages (2xx)': `${int(sentAll[0].length + sentAll[1].length)}, of which ${int(retried.length)} after a refusal; deliveries ${int(sum('received'))}, lost ${lost}, duplicated ${duplicated}, out of order ${sum('outOfOrder')}`,
    'push latency': `${latPhases(pushLatency, ['before', 'outage', 'after'])}; max ${ms(maxMs)}; hung ${hung}`,
    'not ready after kill': toNotReady.map((t, i) => `${[a, b][i].name} ${t === null ? 'never' : ms(t - killedAt)}`).join(', '),
    'ready again after restart': toReady.map((t, i) => `${[a, b][i].name} ${t === null ? 'never' : ms(t - restartedAt)}`).join(', '),
    'cross-node after restart': `A→B clients ${crossAtoB.received}/${crossAtoB.received + crossAtoB.lost} · B→A clients ${crossBtoA.received}/${crossBtoA.received + crossBtoA.lost}`,
    'part 2': `B ready ${bReady2 === null ? 'never' : `${ms(bReady2 - frozenAt)} after the restart`}, A ready ${aReady2 === null ? 'never' : `${ms(aReady2 - thawedAt)} after it was thawed`}; pushes through B answered 2xx while A was frozen: ${whileFrozen.length}, deliveries to A's ${perNode} clients ${frozenTally.received}/${whileFrozen.length * perNode} (lost ${frozenTally.lost}); all of part 2: ${int(attempts2.length)} requests (${counts(countBy(attempts2, (x) => x.outcome))}), slowest ${ms(Math.max(0, ...attempts2.map((x) => x.ms)))}; ${int(sent2[0].length + sent2[1].length)} messages answered 2xx, deliveries lost ${tallies2.reduce((x, t) => x + t.lost, 0)}, duplicated ${tallies2.reduce((x, t) => x + t.duplicated, 0)}`,
    'delivered twice': twice.length ? twice.map((d) => `${d.id} (attempts: ${runs(d.attempts)})`).join(', ') : 'none',
    'RSS (rr-a)': rss(mem.window(a.name, killedAt, part2At)),
    'RSS (rr-b)': rss(mem.window(b.name, killedAt, part2At)),
  };
  return {
    done: `2 nodes, ${perNode * 2} clients in one room, 2 senders × 20 pushes/s; redis-server SIGKILLed for ${T.outage / 1000} s, then restarted empty; part 2: killed again, restarted while node A is frozen until ${FREEZE_MS / 1000} s after B is ready`,
    held,
    figures,
    raw: { phases: phases.list, twice, tallies, tallies2, frozenTally, whileFrozen, crossAtoB, crossBtoA, reconnects, pushLatency, toNotReady, toReady, killedAt, restartedAt, logs: [a, b].map((n) => n.logs.counts) },
  };
}
