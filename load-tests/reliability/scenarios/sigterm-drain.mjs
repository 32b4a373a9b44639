/*
 * SIGTERM to one of two nodes under steady pushes and client events. Promises: it exits 0 within
 * SHUTDOWN_TIMEOUT_MS after draining, requests and events in flight at the signal are answered,
 * its clients are told, reconnect to the other node and recover, and every 2xx push is delivered once.
 */
import { byPhase, countBy, sleep, summary, until } from '../lib/common.mjs';
import { counts, int, lat, latPhases, ms, rss } from '../lib/format.mjs';
import { is2xx, outcome, REQUEST_TIMEOUT_MS, request } from '../lib/http.mjs';
import { MemorySampler } from '../lib/processes.mjs';
import { SteadySender } from '../lib/traffic.mjs';
import { Phases } from '../lib/watch.mjs';

export const id = 'sigterm-drain';
export const title = 'SIGTERM under load: graceful drain';
export const budgetS = (quick) => (quick ? 60 : 90);
const SHUTDOWN_TIMEOUT_MS = 5000;
const BACKEND_DELAY_MS = 300;
const BURST = 20;
const BURST_ACK_MS = 2000;
/** An event sent this close to its socket's disconnect counts as still on the wire when the transport closed. */
const IN_THE_AIR_MS = 50;
export const notes = `Two nodes (SHUTDOWN_TIMEOUT_MS=${SHUTDOWN_TIMEOUT_MS}) share a private redis-server behind the round-robin failover balancer; their backend answers every forwarded event after ${BACKEND_DELAY_MS} ms, so events are in flight at any moment. Clients connect through the balancer, join the room \`drain\`, keep offsets for \`auth.recover\` and each emit a forwarded event every 500 ms (ack timeout 15 s). A sender broadcasts a numbered message every 50 ms through the balancer, a new connection per request, retrying with the same id. Just before the signal, ${BURST} more broadcasts go straight to the first node with \`ack: true\` and \`ackTimeoutMs: ${BURST_ACK_MS}\`; the clients never acknowledge, so each of these requests is certainly still open at the signal, for ${BURST_ACK_MS / 1000} s. Then the first node gets SIGTERM. "In flight" means sent before the signal and answered after it. Exit time is from the signal to the process's exit; the drain waits for in-flight work until SHUTDOWN_TIMEOUT_MS − 500 ms and then closes the sockets regardless, so an exit later than SHUTDOWN_TIMEOUT_MS − 600 ms means it gave up on work still in flight; "drained" is the node's own log line at the end of a complete drain (versus "shutdown deadline reached"). The probe client sits on the surviving node. A client event whose acknowledgement failed with the disconnect less than ${IN_THE_AIR_MS} ms after it was sent was still on its way when the node closed the transport: the figures list each such event; a cut-off event sent earlier than that would be a finding.`;

const range = (n) => Array.from({ length: n }, (_, i) => i);

export async function run(ctx) {
  const N = ctx.quick ? 30 : 60;
  const T = ctx.quick ? { before: 4000, after: 5000 } : { before: 8000, after: 8000 };
  const redis = await ctx.redis();
  const backend = await ctx.backend();
  backend.delayMs = BACKEND_DELAY_MS;
  const env = ctx.env({ redis, BACKEND_URL: backend.url, SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) });
  const draining = await ctx.node('st-draining', env);
  const survivor = await ctx.node('st-survivor', env);
  const lb = await ctx.balancer([draining.port, survivor.port]);
  const fleet = await ctx.fleet();
  const conn = await fleet.call('connect', { group: 'drain', url: lb.url, users: range(N).map((i) => `st-${i}`), rooms: ['drain'], join: ['drain'] }, 60000);
  if (conn.failed) throw new Error(`clients: ${JSON.stringify(conn.errors)}`);
  const onDraining = conn.byNode[draining.name] ?? 0;
  const probe = await ctx.probe({ pushUrl: survivor.url, socketUrl: survivor.url, userId: 'st-probe' });
  const mem = new MemorySampler([draining, survivor]);
  const phases = new Phases();
  phases.start('before');
  await fleet.call('emitStart', { group: 'drain', event: 'work', everyMs: 500 });
  const sender = new SteadySender({ url: () => lb.url, fresh: true, key: ctx.secrets.adminKey, path: '/api/v1/rooms/drain/broadcast', body: (n) => ({ event: 'tick', data: { n } }), everyMs: 50, idPrefix: 'st' });
  await sleep(T.before);

  // Pushes certainly in flight at the signal: with receipts asked (ack: true) from clients that never
  // acknowledge, each one waits its ackTimeoutMs on the draining node before it is answered.
  const burst = Array.from({ length: BURST }, (_, i) =>
    request(draining.url, { method: 'POST', path: '/api/v1/rooms/drain/broadcast', key: ctx.secrets.adminKey, body: { event: 'burst', data: { n: i + 1 }, id: `st-burst-${i + 1}`, ack: true, ackTimeoutMs: BURST_ACK_MS } }),
  );
  await sleep(100);
  const termAt = phases.start('during');
  void draining.kill('SIGTERM');
  ctx.log(`SIGTERM to ${draining.name} (${onDraining} of ${N} clients on it)`);
  const exit = await Promise.race([draining.exited, sleep(SHUTDOWN_TIMEOUT_MS + 10000).then(() => null)]);
  const burstAnswers = await Promise.all(burst);
  const burstSent = burstAnswers.map((r, i) => (is2xx(r) ? i + 1 : null)).filter((n) => n !== null);
  const allBack = await until(async () => {
    const r = await fleet.call('nodes', { group: 'drain' });
    return r.connected === N && !r.byNode[draining.name] ? r : null;
  }, 20000, 100);
  const allBackAt = allBack ? Date.now() : null;
  phases.start('after');
  await sleep(T.after);
  phases.end();
  const { records } = await fleet.call('emitStop', { group: 'drain' }, 30000);
  await sender.stop();
  await probe.stop();
  await until(async () => (await fleet.call('tally', { group: 'drain', event: 'tick', sent: sender.sent })).lost === 0, 10000, 250);
  const tally = await fleet.call('tally', { group: 'drain', event: 'tick', sent: sender.sent });
  const burstTally = await fleet.call('tally', { group: 'drain', event: 'burst', sent: burstSent });
  const reconnects = await fleet.call('reconnects', { group: 'drain', after: termAt });
  mem.stop();

  const exitMs = exit ? exit.at - termAt : null;
  const inflightEvents = records.filter(([at, m, , nodeId]) => nodeId === draining.name && at < termAt && at + m >= termAt);
  const afterSignalOnDraining = records.filter(([at, , , nodeId]) => nodeId === draining.name && at >= termAt);
  // [at, ms, code]: for a cut-off event, ms runs from its send to its socket's disconnect.
  const cut = afterSignalOnDraining.filter(([, , code]) => code === 'disconnected');
  const inflightPushes = sender.attempts.filter((x) => x.at < termAt && x.at + x.ms >= termAt);
  const unanswered = sender.attempts.filter((x) => x.outcome === 'reset' || x.outcome === 'timeout');
  const back = reconnects.filter((r) => r.backAt !== null);
  const reconnectMs = summary(back.map((r) => r.backAt - r.lostAt));
  const drainedLog = draining.logCount('info', /^drained$/) > 0;
  const deadlineLog = draining.logCount('warn', /deadline/) > 0;
  const probeTally = probe.tally();
  const probeLat = byPhase(probe.samples(), phases.list);
  const eventCodes = countBy(records, ([, , code]) => code);

  const held = {
    'exit code 0': exit !== null && exit.code === 0,
    [`exited within SHUTDOWN_TIMEOUT_MS (${SHUTDOWN_TIMEOUT_MS} ms), logging "drained"`]: exitMs !== null && exitMs <= SHUTDOWN_TIMEOUT_MS && drainedLog && !deadlineLog,
    // The drain waits for in-flight work until SHUTDOWN_TIMEOUT_MS - 500 ms, then closes the sockets regardless.
    'in-flight work finished before the drain had to give up on it': exitMs !== null && exitMs < SHUTDOWN_TIMEOUT_MS - 600,
    'client events in flight at the signal answered ok': inflightEvents.length > 0 && inflightEvents.every(([, , code]) => code === 'ok'),
    // An event a plain Socket.IO client sends while the node is closing its transport is lost on the
    // wire (the node cannot answer what reaches it after the close; the client helper holds its
    // requests from server:draining on). What must hold: no event that had time to arrive was cut.
    [`client events sent to it during the drain answered, except those still on the wire at the close (sent < ${IN_THE_AIR_MS} ms before it)`]: afterSignalOnDraining.every(([, m, code]) => code !== 'timeout' && (code !== 'disconnected' || m < IN_THE_AIR_MS)),
    [`pushes in flight at the signal (${BURST} waiting for receipts) answered 2xx and delivered`]: burstSent.length === BURST && burstTally.lost === 0 && burstTally.duplicated === 0,
    "the steady sender's requests in flight at the signal answered": inflightPushes.every((x) => x.outcome !== 'reset' && x.outcome !== 'timeout'),
    [`no push request left unanswered or hung (> ${REQUEST_TIMEOUT_MS / 1000} s)`]: unanswered.length === 0,
    'its clients were told (server:draining) and reconnected to the other node': onDraining > 0 && reconnects.length === onDraining && back.every((r) => r.nodeId === survivor.name && r.drainedNotice) && allBack !== null,
    'every 2xx push delivered once (0 lost, 0 duplicated)': tally.lost === 0 && tally.duplicated === 0,
    'the probe on the survivor got every push': probeTally.lost === 0 && probeTally.refused === 0,
  };
  const figures = {
    clients: `${N} through the balancer: ${counts(conn.byNode)}`,
    exit: `${exit === null ? 'did not exit' : `code ${exit.code}${exit.signal ? ` (signal ${exit.signal})` : ''} after ${ms(exitMs)}`}; log: ${drainedLog ? '"drained"' : 'no "drained"'}${deadlineLog ? ', "shutdown deadline reached"' : ''}`,
    'reconnected to the survivor': `${back.filter((r) => r.nodeId === survivor.name).length}/${onDraining}, told first: ${back.filter((r) => r.drainedNotice).length}; reconnect time ${lat(reconnectMs)}; all ${N} back ${allBackAt === null ? 'never' : `${ms(allBackAt - termAt)} after the signal`}`,
    'client events': `${int(records.length)}: ${counts(eventCodes)}; in flight at the signal on the draining node: ${inflightEvents.length} → ${counts(countBy(inflightEvents, ([, , c]) => c))}; sent to it after the signal: ${afterSignalOnDraining.length} → ${counts(countBy(afterSignalOnDraining, ([, , c]) => c))}${cut.length ? `; cut off by the close: ${cut.length}, sent ${cut.map(([, m]) => `${Math.round(m * 10) / 10} ms`).join(', ')} before it` : ''}`,
    'push requests': `${int(sender.attempts.length)}: ${counts(countBy(sender.attempts, (x) => x.outcome))}; in flight at the signal: ${inflightPushes.length} → ${counts(countBy(inflightPushes, (x) => x.outcome))}`,
    'in-flight pushes': `${BURST} sent to the draining node 100 ms before the signal, each waiting ${BURST_ACK_MS} ms for receipts: ${counts(countBy(burstAnswers, outcome))}, answered after ${lat(summary(burstAnswers.map((r) => r.ms)))}; delivered ${burstTally.received}/${burstSent.length * N}, lost ${burstTally.lost}, duplicated ${burstTally.duplicated}`,
    messages: `${int(sender.sent.length)} answered 2xx; deliveries ${int(tally.received)}, lost ${tally.lost}, duplicated ${tally.duplicated}, out of order ${tally.outOfOrder}`,
    'probe push→receive': `${latPhases(probeLat, ['before', 'during', 'after'])}; ${probeTally.received}/${probe.sent.length} received`,
    [`RSS (${survivor.name})`]: rss(mem.window(survivor.name, termAt, phases.get('after').to)),
  };
  return {
    done: `2 nodes behind a failover balancer, ${N} clients × 2 forwarded events/s (backend answers in ${BACKEND_DELAY_MS} ms), 20 pushes/s through the balancer; SIGTERM to one node`,
    held,
    figures,
    raw: { phases: phases.list, termAt, burst: burstAnswers.map((r) => ({ outcome: outcome(r), ms: Math.round(r.ms), sinceSignalMs: Math.round(r.at + r.ms - termAt) })), exit, exitMs, tally, reconnects, inflightEvents: inflightEvents.length, inflightPushes, unanswered: unanswered.map((x) => ({ ...x, sinceSignalMs: x.at - termAt })), cutEvents: afterSignalOnDraining.filter(([, , code]) => code === 'disconnected').map(([at, m]) => ({ sentAfterSignalMs: at - termAt, ms: m })), logs: draining.logs.counts },
  };
}
