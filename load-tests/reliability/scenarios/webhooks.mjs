/*
 * Webhooks under real faults. Three nodes on a private redis-server send their presence transitions
 * to a receiver in the runner that checks every signature and records every event. A crowd in a
 * client process (this file run with --crowd) makes transitions all along: residents joining and
 * leaving rooms, reconnecting quickly to another node, opening a second tab; visitors arriving,
 * leaving for good, some coming back later. Meanwhile the receiver is down for a spell (503), the
 * node that sends webhooks is SIGKILLed while one of its requests is in flight, and the clients of
 * one node all move to another within the leave grace.
 *
 * What the clients did (every socket's welcome and end, every room's join and leave acknowledged)
 * says which transitions are owed: per user, per room and per user in a room, the intervals of
 * presence, with the gaps shorter than the grace merged (a quick return is no transition). The
 * received events, deduplicated by `id`, are matched against them one by one. Promises: every owed
 * transition arrives, none that is not owed (no flapping), in order per room and per user, only the
 * batch in flight at the kill arrives twice, the backlog of the outage is sent once the receiver is
 * back, pushes are not slowed by the outage.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { byPhase, countBy, log, now, setLogPrefix, sleep, summary, until, withTimeout } from '../lib/common.mjs';
import { makeToken } from '../lib/clients.mjs';
import { counts, int, lat, ms } from '../lib/format.mjs';
import { is2xx, metricSum, outcome, request, scrapeMetrics } from '../lib/http.mjs';
import { Fleet } from '../lib/fleet.mjs';
import { Phases } from '../lib/watch.mjs';

export const id = 'webhooks';
export const title = 'Webhooks: receiver down, sender SIGKILLed, reconnect storm';
export const budgetS = (quick) => (quick ? 110 : 150);

const SELF = fileURLToPath(import.meta.url);
const HEARTBEAT_MS = 500;
const GRACE_MS = 3000;
const BATCH_MS = 250;
/** The leave grace is judged with this margin on both sides: a gap this close to it may go either way. */
const MARGIN_MS = 600;
/** A dropped socket (its node SIGKILLed) is reaped no sooner than this after the kill (last beat + 3 heartbeats)... */
const REAP_MIN_MS = 800;
/** ...and by then for sure (3 heartbeats, the next reap pass every 2 heartbeats, slack). */
const REAP_MAX_MS = 7000;
/** The receiver holds each request this long in its slow spell (under WEBHOOK_TIMEOUT_MS), so one is in flight at the kill. */
const SLOW_MS = 1000;
const LOBBIES = Array.from({ length: 6 }, (_, i) => `wh-lobby-${i}`);
const SIDES = Array.from({ length: 6 }, (_, i) => `wh-side-${i}`);
/** Every resident's room: a storm moves many of its members at once, as a node restart would. */
const HALL = 'wh-hall';

export const notes = [
  `Three nodes (HEARTBEAT_MS=${HEARTBEAT_MS}, WEBHOOK_LEAVE_GRACE_MS=${GRACE_MS}, WEBHOOK_BATCH_MS=${BATCH_MS}, WEBHOOK_TIMEOUT_MS 5 s, the default app: no APPS) share a private redis-server. WEBHOOK_URL is a receiver in the runner: it checks \`X-Pushgate-Signature\` on every request (\`sha256=\` hex HMAC-SHA256 of \`timestamp.body\` with BACKEND_SECRET, \`X-Pushgate-Timestamp\` within 5 min), records each event with its arrival time, and answers 200; or 503 while "down"; or, while "slow", records the events and holds its 200 for ${SLOW_MS / 1000} s. Which node sends is asked every 500 ms from \`GET /api/v1/admin/webhooks\` (\`data.apps[].sender\`, \`retryAt\`).`,
  `The crowd runs in a client process (this scenario's file with \`--crowd\`), each client a Socket.IO connection straight to one node. Residents (60; 30 with --quick) connect spread over the nodes and join the hall (every resident's room) and 2 of 6 lobby rooms. About 6 actions a second (5 with --quick) are then picked at random: a visitor arrives (a new user, or one who left more than the grace ago) on a random node, joins a lobby and maybe one of 6 side rooms, stays 1–5 s and leaves for good (sometimes leaving the side room first); a resident closes its socket and reconnects to another node after 50–800 ms, rejoining its rooms; a resident leaves one of its rooms and rejoins it 100–700 ms later, or visits a side room for 0.5–4 s; a resident opens a second socket on another node for 1–3 s. An action that would bring a user, a room or a user's membership back ${(GRACE_MS - 2 * MARGIN_MS - 500) / 1000}–${(GRACE_MS + 2 * MARGIN_MS - 500) / 1000} s after it ended (${(REAP_MIN_MS - 500) / 1000}–${(REAP_MAX_MS - 500) / 1000} s after a socket dropped by the kill) is skipped, so that what is owed never hangs on milliseconds.`,
  `Phases (full / --quick): setup (nodes, residents; churn starts 2 s before the next phase); steady 12 / 7 s; receiver down (503) 10 / 6 s; receiver back 10 / 8 s; then the node that sends at that moment (asked again: its lease can move while it backs off) is SIGKILLed as soon as the receiver, switched to slow, holds one of its requests; the killed node's residents reconnect to a survivor after 0–200 ms with their rooms, except about a quarter of them who do not come back, nor do its visitors and second sockets; 12 / 10 s; reconnect storm: every idle resident of the survivor with the most residents closes and reconnects to the other survivor after 0–1 s, rejoining its rooms; 10 / 7 s; settle: the crowd stops as it is (nobody leaves), and the receiver gets up to grace + 12 s to report the final state, plus 1.5 s. Pushes: \`POST /api/v1/push\` to a probe user every 100 ms through the first sender (a survivor once it is killed); the probe's own client connects through a failover balancer. "Push API" is the request's answer time, "push→receive" from the request to the delivery to the probe.`,
  `**What is owed** is computed from what the clients did: for each user, each room, and each user in each room, the intervals during which it had a socket (from the welcome, or the join's acknowledgement, to the client's close or the leave's acknowledgement; the probe user included). Gaps shorter than grace − ${MARGIN_MS} ms are merged (a quick return owes nothing); gaps longer than grace + ${MARGIN_MS} ms owe a leaving event and a coming one; in between either is accepted. A socket dropped by the kill is reaped without the grace ${REAP_MIN_MS / 1000}–${REAP_MAX_MS / 1000} s after it (the dead-node timeout and the reap pass), and the kill leaves some ends open: a close on the killed node in its last second (handled with the grace, or reaped without it), a leave whose acknowledgement it swallowed; a connection it cut before the welcome, or a join it left unacknowledged, may have made a stretch of its own. A return is merged when it is merged whichever end of the stretch was the store's last removal, owed when owed whichever, and either is accepted otherwise. The received events, deduplicated by \`id\` and in arrival order, are matched against that sequence per user, room and membership: an event matches when it is the next owed kind and its \`time_ms\` lies within −2 s…+9 s of when the client saw the transition. "Lost": an owed transition without a match. "Not owed": a received event without one (a flap, or a transition queued twice under two ids); the ones about a storm client between its close and its rejoin are also counted apart. "Final state": for every user, room and membership, the last event received is coming if it is still there at the end, leaving if not.`,
  `"Out of order": an event whose \`time_ms\` is older than one received before it from the same outbox (a room's occupancy and member events share one, a user's online/offline another); "alternation breaks": two coming (or two leaving) events in a row, or a leaving one first, for one user, room or membership. "Duplicates": deliveries of an id already received; only the batch in flight at the kill may come again, and all of it must, from the next sender. Receiver down: every attempt is answered 503; the first 200 after it must come by the latest \`retryAt\` the sender reported in the last 2 s before the receiver came back, + 1.5 s (sooner is fine: a sender backing off longer than its 5 s lease loses it, and another node takes over with a backoff of its own; the figures say when the lease moved), and the backlog (events made while it was down) must all be delivered within 2 s of that first 200. Delivery latency is arrival − \`time_ms\` of first arrivals, for events made in the storm phase or in the steady phase at least grace + 1.5 s before the outage; leaving events wait the ${GRACE_MS / 1000} s grace by design, and a coming event queued behind a leaving one of the same room waits with it, so only user_online (p99 ≤ WEBHOOK_BATCH_MS + 1 s) and leaving events (p99 ≤ grace + WEBHOOK_BATCH_MS + 1 s) are judged. "Not slowed": the push API's and push→receive p99 during the outage at most max(3 × steady p99, 50 ms), every push answered 2xx, every push before the kill received. Metrics are summed over the survivors at the end and the killed node just before the kill.`,
].join('\n\n');

const rand = (a, b) => a + Math.random() * (b - a);
const pick = (xs) => (xs.length ? xs[Math.floor(Math.random() * xs.length)] : undefined);
const shuffle = (xs) => {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
};

/**
 * The crowd's guard: whether a return `gapMs` after an end of this kind is clearly no transition
 * ('merged'), clearly one ('separate'), or too close to call ('ambiguous'). A client end waits the
 * grace; a dropped socket is reaped without it, at a time only known to lie in a window after the
 * drop. (The analysis judges the same, with every end of a stretch: gapOutcome.)
 */
function classifyGap(endKind, gapMs, graceMs = GRACE_MS, marginMs = MARGIN_MS) {
  if (endKind === 'dropped') return gapMs < REAP_MIN_MS ? 'merged' : gapMs > REAP_MAX_MS ? 'separate' : 'ambiguous';
  if (endKind !== 'client') return 'ambiguous';
  return gapMs < graceMs - marginMs ? 'merged' : gapMs > graceMs + marginMs ? 'separate' : 'ambiguous';
}

// ---------------------------------------------------------------------------------------------
// The crowd: runs in its own process (this file with --crowd), driven over IPC.
// ---------------------------------------------------------------------------------------------

class Crowd {
  constructor({ secret, nodes, residents, tickMs, goneShare }) {
    this.secret = secret;
    this.urls = new Map(nodes.map((n) => [n.name, n.url]));
    this.live = new Set(nodes.map((n) => n.name));
    this.residentCount = residents;
    this.tickMs = tickMs;
    this.goneShare = goneShare;
    /** Every socket ever opened: what the truth is computed from. */
    this.sockets = [];
    this.io = new Map();
    this.residents = [];
    this.residentOf = new Map();
    this.pastVisitors = [];
    this.activeUsers = new Set();
    this.visitorSeq = 0;
    this.seq = 0;
    this.count = new Map();
    this.lastEnd = new Map();
    this.running = false;
    this.actions = new Set();
    this.stats = {};
    this.gaps = { quick: [], dropped: [] };
    this.errors = [];
    this.stopped = new Promise((r) => (this.signalStop = r));
  }

  // ----- what is live, for the guard -----
  up(key) {
    this.count.set(key, (this.count.get(key) ?? 0) + 1);
  }

  down(key, t, kind) {
    const n = (this.count.get(key) ?? 0) - 1;
    if (n > 0) return void this.count.set(key, n);
    this.count.delete(key);
    this.lastEnd.set(key, { t, kind });
  }

  /** A random action may (re)start `key` now: it is live, new, or its return is clearly quick or clearly late. */
  canStart(key) {
    if ((this.count.get(key) ?? 0) > 0) return true;
    const e = this.lastEnd.get(key);
    // Judged half a second ahead with twice the margin: the start lands some hundred ms later.
    return !e || classifyGap(e.kind, Date.now() + 500 - e.t, GRACE_MS, 2 * MARGIN_MS) !== 'ambiguous';
  }

  mark(what) {
    this.stats[what] = (this.stats[what] ?? 0) + 1;
  }

  track(p) {
    const q = p.catch((err) => this.errors.length < 20 && this.errors.push(String(err?.stack ?? err))).finally(() => this.actions.delete(q));
    this.actions.add(q);
    return q;
  }

  /** Resolves true after `ms`, false as soon as the crowd stops (whoever waits then stays as they are). */
  stay(ms) {
    return Promise.race([sleep(ms).then(() => true), this.stopped.then(() => false)]);
  }

  // ----- sockets -----
  open(user, role, node) {
    const rec = { id: ++this.seq, user, role, node, connectAt: null, welcomeAt: null, endAt: null, endKind: null, failed: null, rooms: [] };
    this.sockets.push(rec);
    const socket = io(this.urls.get(node), { forceNew: true, transports: ['websocket'], reconnection: false, timeout: 5000, auth: { token: makeToken(this.secret, user, ['wh-*']) } });
    this.io.set(rec.id, socket);
    return new Promise((resolve) => {
      const fail = (why) => {
        clearTimeout(timer);
        if (rec.welcomeAt !== null) return;
        rec.failed = why;
        // Connected but not welcomed: the node may have registered the socket before it went.
        if (rec.connectAt !== null) {
          rec.endAt = Date.now();
          rec.endKind = 'uncertain';
        }
        socket.removeAllListeners();
        socket.close();
        this.io.delete(rec.id);
        resolve(null);
      };
      const timer = setTimeout(() => fail('timeout'), 6000);
      socket.on('connect', () => (rec.connectAt ??= Date.now()));
      socket.once('welcome', () => {
        clearTimeout(timer);
        rec.welcomeAt = Date.now();
        this.up(`u:${user}`);
        resolve(rec);
      });
      socket.on('connect_error', () => fail('connect_error'));
      socket.on('disconnect', () => {
        if (rec.welcomeAt === null) return fail('disconnect');
        if (rec.endAt === null) this.ended(rec, 'dropped');
      });
    });
  }

  /** Opens a socket for `user` on a live node (not one of `avoid` when possible; `prefer` first). */
  async openSomewhere(user, role, avoid = [], prefer = null) {
    const others = shuffle([...this.live].filter((n) => !avoid.includes(n)));
    const order = prefer && this.live.has(prefer) ? [prefer, ...others.filter((n) => n !== prefer)] : others.length ? others : shuffle([...this.live]);
    for (const node of order.slice(0, 2)) {
      const rec = await this.open(user, role, node);
      if (rec) return rec;
    }
    return null;
  }

  ended(rec, kind, t = Date.now()) {
    if (rec.endAt !== null) return;
    rec.endAt = t;
    rec.endKind = kind;
    for (const m of rec.rooms) {
      if (m.joinAt === null || m.leaveAt !== null) continue;
      m.leaveAt = t;
      m.leaveKind = kind;
      this.down(`m:${m.room}|${rec.user}`, t, kind);
      this.down(`r:${m.room}`, t, kind);
    }
    this.down(`u:${rec.user}`, t, kind);
    if (kind === 'dropped') this.onDrop(rec);
  }

  close(rec) {
    if (rec.endAt !== null) return;
    this.ended(rec, 'client');
    this.io.get(rec.id)?.disconnect();
    this.io.delete(rec.id);
  }

  liveRooms(rec) {
    return rec.rooms.filter((m) => m.joinAt !== null && m.leaveAt === null).map((m) => m.room);
  }

  async join(rec, room) {
    const socket = this.io.get(rec.id);
    if (rec.endAt !== null || !socket) return false;
    const m = { room, sentAt: Date.now(), joinAt: null, leaveAt: null, leaveKind: null, uncertain: false, refused: null };
    rec.rooms.push(m);
    let ack;
    try {
      ack = await socket.timeout(5000).emitWithAck('room:join', { room });
    } catch {
      ack = null;
    }
    if (ack?.ok && rec.endAt === null) {
      m.joinAt = Date.now();
      this.up(`m:${room}|${rec.user}`);
      this.up(`r:${room}`);
      return true;
    }
    if (ack && !ack.ok) {
      m.refused = ack.error?.code ?? 'refused';
      return false;
    }
    // No answer (the node died) or an answer after the socket ended: joined or not, nobody knows.
    m.uncertain = true;
    m.leaveAt = rec.endAt ?? Date.now();
    m.leaveKind = 'uncertain';
    return false;
  }

  async leave(rec, room) {
    const socket = this.io.get(rec.id);
    const m = rec.rooms.find((x) => x.room === room && x.joinAt !== null && x.leaveAt === null);
    if (!m || rec.endAt !== null || !socket) return false;
    const t = Date.now();
    let ack;
    try {
      ack = await socket.timeout(5000).emitWithAck('room:leave', { room });
    } catch {
      ack = null;
    }
    if (m.leaveAt !== null) {
      // The socket dropped meanwhile: left by this request (with the grace) or by the reaper (without).
      m.leaveKind = 'uncertain';
      return false;
    }
    const kind = ack?.ok ? 'client' : 'uncertain';
    m.leaveAt = t;
    m.leaveKind = kind;
    this.down(`m:${room}|${rec.user}`, t, kind);
    this.down(`r:${room}`, t, kind);
    return kind === 'client';
  }

  // ----- the crowd -----
  async start() {
    const names = [...this.live];
    let next = 0;
    const one = async (i) => {
      const user = `wh-res-${i}`;
      const res = { user, main: null, busy: true, gone: false };
      this.residents.push(res);
      this.residentOf.set(user, res);
      const rec = await this.open(user, 'resident', names[i % names.length]);
      if (!rec) throw new Error(`resident ${user} could not connect to ${names[i % names.length]}`);
      for (const room of [HALL, ...shuffle(LOBBIES).slice(0, 2)]) await this.join(rec, room);
      res.main = rec;
      res.busy = false;
    };
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < this.residentCount) await one(next++);
      }),
    );
    return { residents: this.residents.length, byNode: countBy(this.residents, (r) => r.main?.node) };
  }

  churn() {
    this.running = true;
    this.loop = (async () => {
      const menu = [
        ['visitor', 35],
        ['quickReconnect', 25],
        ['roomHop', 25],
        ['secondTab', 15],
      ];
      const total = menu.reduce((s, [, w]) => s + w, 0);
      while (this.running) {
        let r = Math.random() * total;
        const [action] = menu.find(([, w]) => (r -= w) < 0) ?? menu[0];
        this.track(this[action]());
        await Promise.race([sleep(this.tickMs * rand(0.5, 1.5)), this.stopped]);
      }
    })();
    return { churning: true };
  }

  pickResident() {
    const res = pick(this.residents.filter((r) => !r.busy && !r.gone && r.main && r.main.endAt === null));
    if (res) res.busy = true;
    return res;
  }

  async visitor() {
    const back = pick(this.pastVisitors.filter((u) => !this.activeUsers.has(u) && this.canStart(`u:${u}`)));
    const user = back && Math.random() < 0.35 ? back : `wh-vis-${++this.visitorSeq}`;
    const lobby = pick(LOBBIES.filter((r) => this.canStart(`m:${r}|${user}`) && this.canStart(`r:${r}`)));
    const side = Math.random() < 0.6 ? pick(SIDES.filter((r) => this.canStart(`m:${r}|${user}`) && this.canStart(`r:${r}`))) : undefined;
    if (!lobby) return this.mark('visitor skipped');
    this.activeUsers.add(user);
    this.mark(user === back ? 'visitor returning' : 'visitor new');
    const rec = await this.openSomewhere(user, 'visitor');
    if (!rec) {
      this.activeUsers.delete(user);
      return this.mark('visitor could not connect');
    }
    for (const room of [lobby, side].filter(Boolean)) await this.join(rec, room);
    if (!(await this.stay(rand(1000, 5000))) || rec.endAt !== null) return;
    if (side && Math.random() < 0.5) {
      await this.leave(rec, side);
      if (!(await this.stay(rand(0, 800)))) return;
    }
    this.close(rec);
    this.activeUsers.delete(user);
    this.pastVisitors.push(user);
  }

  async quickReconnect() {
    const res = this.pickResident();
    if (!res) return this.mark('quickReconnect skipped');
    this.mark('quickReconnect');
    const old = res.main;
    const rooms = this.liveRooms(old);
    this.close(old);
    await sleep(rand(50, 800));
    const rec = await this.openSomewhere(res.user, 'resident', [old.node]);
    if (rec) {
      for (const room of rooms) await this.join(rec, room);
      res.main = rec;
      this.gaps.quick.push(rec.welcomeAt - old.endAt);
    } else res.gone = true;
    res.busy = false;
  }

  async roomHop() {
    const res = this.pickResident();
    if (!res) return this.mark('roomHop skipped');
    const rec = res.main;
    try {
      const mine = this.liveRooms(rec);
      if (Math.random() < 0.4 && mine.length) {
        this.mark('roomHop quick');
        const room = pick(mine);
        await this.leave(rec, room);
        await sleep(rand(100, 700));
        if (res.main === rec && rec.endAt === null) await this.join(rec, room);
        return;
      }
      const side = pick(SIDES.filter((r) => !mine.includes(r) && this.canStart(`m:${r}|${res.user}`) && this.canStart(`r:${r}`)));
      if (!side) return this.mark('roomHop skipped');
      this.mark('roomHop side');
      await this.join(rec, side);
      if ((await this.stay(rand(500, 4000))) && res.main === rec && rec.endAt === null) await this.leave(rec, side);
    } finally {
      res.busy = false;
    }
  }

  async secondTab() {
    const res = this.pickResident();
    if (!res) return this.mark('secondTab skipped');
    this.mark('secondTab');
    try {
      const room = pick(this.liveRooms(res.main));
      const rec = await this.openSomewhere(res.user, 'tab', [res.main.node]);
      if (!rec) return;
      if (room) await this.join(rec, room);
      if (await this.stay(rand(1000, 3000))) this.close(rec);
    } finally {
      res.busy = false;
    }
  }

  /** A resident's socket dropped (its node died): back on another node after 0–200 ms with its rooms, or gone for good. */
  onDrop(rec) {
    this.mark(`dropped ${rec.role}`);
    const res = this.residentOf.get(rec.user);
    if (rec.role !== 'resident' || !res || res.main !== rec) return;
    if (Math.random() < this.goneShare) {
      res.gone = true;
      return this.mark('resident gone with its node');
    }
    res.busy = true;
    const rooms = rec.rooms.filter((m) => m.joinAt !== null && m.leaveKind === 'dropped' && m.leaveAt === rec.endAt).map((m) => m.room);
    this.track(
      (async () => {
        await sleep(rand(0, 200));
        const next = await this.openSomewhere(res.user, 'resident', [rec.node]);
        if (next) {
          for (const room of rooms) await this.join(next, room);
          res.main = next;
          this.gaps.dropped.push({ welcome: next.welcomeAt - rec.endAt, rejoined: Date.now() - rec.endAt });
        } else res.gone = true;
        res.busy = false;
      })(),
    );
  }

  dead({ name }) {
    this.live.delete(name);
    return { live: [...this.live] };
  }

  /** Every idle resident of `from` closes and reconnects to `to` after 0–maxDelayMs, rejoining its rooms. */
  async storm({ from, to, maxDelayMs }) {
    const list = this.residents.filter((r) => !r.busy && !r.gone && r.main && r.main.endAt === null && r.main.node === from);
    for (const r of list) r.busy = true;
    const t0 = Date.now();
    const moves = await Promise.all(
      list.map(async (res) => {
        const old = res.main;
        const rooms = this.liveRooms(old);
        this.close(old);
        await sleep(rand(0, maxDelayMs));
        const rec = await this.openSomewhere(res.user, 'resident', [from], to);
        let rejoinedAt = null;
        if (rec) {
          for (const room of rooms) await this.join(rec, room);
          res.main = rec;
          rejoinedAt = Date.now();
        } else res.gone = true;
        res.busy = false;
        return { user: res.user, rooms, closedAt: old.endAt, welcomedAt: rec?.welcomeAt ?? null, rejoinedAt, node: rec?.node ?? null };
      }),
    );
    return { t0, moves };
  }

  async stop() {
    this.running = false;
    this.signalStop();
    await this.loop;
    await withTimeout(Promise.all([...this.actions]), 20000, 'crowd actions').catch((err) => this.errors.push(String(err)));
    return this.report();
  }

  report() {
    return {
      sockets: this.sockets,
      stats: this.stats,
      gaps: this.gaps,
      errors: this.errors,
      connected: this.sockets.filter((s) => s.welcomeAt !== null && s.endAt === null).length,
      residents: { total: this.residents.length, gone: this.residents.filter((r) => r.gone).length, byNode: countBy(this.residents.filter((r) => !r.gone && r.main && r.main.endAt === null), (r) => r.main.node) },
    };
  }

  nodes() {
    return countBy(this.residents.filter((r) => !r.gone && r.main && r.main.endAt === null), (r) => r.main.node);
  }
}

function crowdWorker() {
  setLogPrefix('webhooks crowd');
  const secret = process.env.RELIABILITY_JWT_SECRET;
  let crowd = null;
  const commands = {
    init: (a) => {
      crowd = new Crowd({ secret, ...a });
      return { ok: true };
    },
    start: () => crowd.start(),
    churn: () => crowd.churn(),
    dead: (a) => crowd.dead(a),
    storm: (a) => crowd.storm(a),
    nodes: () => crowd.nodes(),
    stop: () => crowd.stop(),
  };
  process.on('message', async (m) => {
    if (!m || m.id === undefined) return;
    try {
      process.send({ reply: m.id, ok: true, result: await commands[m.cmd](m) });
    } catch (err) {
      log(`${m.cmd} failed: ${err?.stack ?? err}`);
      process.send({ reply: m.id, ok: false, error: String(err?.stack ?? err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}

// ---------------------------------------------------------------------------------------------
// The webhook receiver: checks signatures, records events; up, down (503) or slow.
// ---------------------------------------------------------------------------------------------

class WebhookReceiver {
  constructor(secret) {
    this.secret = secret;
    this.mode = 'up';
    this.slowMs = SLOW_MS;
    /** Every event of every accepted request, in arrival order: { ...event, at, seq }. */
    this.events = [];
    /** Every request: { seq, at, end, mode, status, sigOk, ids }. */
    this.requests = [];
    this.held = new Map();
    this.badSignatures = 0;
    this.server = createServer((req, res) => this.handle(req, res));
  }

  static async start(secret) {
    const r = new WebhookReceiver(secret);
    await new Promise((ok) => r.server.listen(0, '127.0.0.1', ok));
    r.url = `http://127.0.0.1:${r.server.address().port}/webhooks`;
    return r;
  }

  verify(headers, raw) {
    const ts = headers['x-pushgate-timestamp'];
    const sig = headers['x-pushgate-signature'];
    if (typeof ts !== 'string' || typeof sig !== 'string' || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
    const want = Buffer.from(`sha256=${createHmac('sha256', this.secret).update(`${ts}.${raw}`).digest('hex')}`);
    const got = Buffer.from(sig);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  handle(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const raw = Buffer.concat(chunks).toString('utf8');
      const r = { seq: this.requests.length + 1, at, end: null, mode: this.mode, status: 0, sigOk: this.verify(req.headers, raw), ids: [] };
      this.requests.push(r);
      const reply = (status) => {
        r.status = status;
        r.end = Date.now();
        if (res.destroyed || res.writableEnded) return;
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(String(status));
      };
      res.on('close', () => (r.end ??= Date.now()));
      if (!r.sigOk) {
        this.badSignatures += 1;
        return reply(401);
      }
      if (r.mode === 'down') return reply(503);
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        return reply(400);
      }
      for (const ev of Array.isArray(body?.events) ? body.events : []) {
        this.events.push({ ...ev, at, seq: r.seq });
        r.ids.push(ev.id);
      }
      if (r.mode !== 'slow') return reply(200);
      this.held.set(r.seq, r);
      setTimeout(() => {
        this.held.delete(r.seq);
        reply(200);
      }, this.slowMs);
    });
  }

  close() {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(r));
  }
}

// ---------------------------------------------------------------------------------------------
// What is owed, and what arrived.
// ---------------------------------------------------------------------------------------------

const EVENT_KEY = {
  user_online: (e) => [`u:${e.user_id}`, 'up'],
  user_offline: (e) => [`u:${e.user_id}`, 'down'],
  member_added: (e) => [`m:${e.channel}|${e.user_id}`, 'up'],
  member_removed: (e) => [`m:${e.channel}|${e.user_id}`, 'down'],
  channel_occupied: (e) => [`r:${e.channel}`, 'up'],
  channel_vacated: (e) => [`r:${e.channel}`, 'down'],
};

/** Per key (u:user, m:room|user, r:room): the intervals during which it had a socket, from the crowd's log. */
function intervals(sockets, extra) {
  const out = new Map();
  const add = (key, iv) => {
    if (!out.has(key)) out.set(key, []);
    out.get(key).push(iv);
  };
  for (const s of sockets) {
    if (s.welcomeAt !== null) add(`u:${s.user}`, { s: s.welcomeAt, e: s.endAt, kind: s.endKind, uncertain: false });
    else if (s.connectAt !== null) add(`u:${s.user}`, { s: s.connectAt, e: s.endAt ?? s.connectAt, kind: 'uncertain', uncertain: true });
    for (const m of s.rooms) {
      let iv = null;
      if (m.joinAt !== null) iv = { s: m.joinAt, e: m.leaveAt, kind: m.leaveKind, uncertain: false };
      else if (m.uncertain) iv = { s: m.sentAt, e: m.leaveAt ?? m.sentAt, kind: 'uncertain', uncertain: true };
      if (!iv) continue;
      add(`m:${m.room}|${s.user}`, iv);
      add(`r:${m.room}`, { ...iv });
    }
  }
  for (const [key, iv] of extra) add(key, iv);
  return out;
}

/**
 * When the store may have seen an interval end, as branches { lo, hi, grace }: a client's close or
 * leave is handled at once and waits the grace; a socket dropped by the kill is reaped without the
 * grace some time after it; an end the kill made uncertain (a close on the killed node in its last
 * second, a leave whose acknowledgement it swallowed) may be either.
 */
function endBranches(iv, killedAt) {
  if (iv.kind === 'client') return [{ lo: iv.e, hi: iv.e, grace: true }];
  const reap = { lo: Math.max(iv.e, killedAt) + REAP_MIN_MS, hi: Math.max(iv.e, killedAt) + REAP_MAX_MS, grace: false };
  if (iv.kind === 'dropped') return [reap];
  return [{ lo: iv.e, hi: iv.e, grace: true }, reap];
}

/**
 * Whether a return at `s` after a stretch of presence is a transition: 'merged' (nothing owed),
 * 'separate' (a leaving and a coming event owed) or 'ambiguous' (either is right), over every way
 * the stretch's last removal may have happened. `exact`: the latest end known exactly (a client's,
 * with the grace); `flex`: the branches of each end the kill made uncertain.
 */
function gapOutcome(exact, flex, s) {
  const withGrace = (lo, hi) => (s - lo < GRACE_MS - MARGIN_MS ? 'merged' : s - hi > GRACE_MS + MARGIN_MS ? 'separate' : 'ambiguous');
  const noGrace = (lo, hi) => (s < lo ? 'merged' : s > hi ? 'separate' : 'ambiguous');
  const outcomes = new Set();
  // The exact end was the last removal when every uncertain end may have come before it.
  if (exact > -Infinity && flex.every((bs) => bs.some((b) => b.lo <= exact))) outcomes.add(withGrace(exact, exact));
  for (const bs of flex) {
    for (const b of bs) {
      if (b.hi <= exact) continue;
      const lo = Math.max(b.lo, exact);
      outcomes.add(b.grace ? withGrace(lo, b.hi) : noGrace(lo, b.hi));
    }
  }
  return outcomes.size === 1 ? [...outcomes][0] : 'ambiguous';
}

/**
 * The owed sequence of one key: { kind: 'up'|'down', t, opt (pair id: either both or neither),
 * end (the end kind of a down) }, its gaps by outcome, and its final state.
 */
function owedSequence(list, optSeq, killedAt) {
  const certain = list.filter((iv) => !iv.uncertain).sort((a, b) => a.s - b.s);
  const gaps = { merged: 0, mergedDropped: 0, separate: 0, ambiguous: 0 };
  const segs = [];
  let cur = null;
  const addEnd = (iv) => {
    if (iv.e === null) return void (cur.open = true);
    cur.lastEnd = Math.max(cur.lastEnd, iv.e);
    if (cur.lastEnd === iv.e) cur.endKind = iv.kind;
    if (iv.kind === 'client') cur.exact = Math.max(cur.exact, iv.e);
    else cur.flex.push(endBranches(iv, killedAt));
  };
  for (const iv of certain) {
    if (cur && (cur.open || gapOutcome(cur.exact, cur.flex, iv.s) === 'merged')) {
      if (!cur.open) {
        if (iv.s > cur.lastEnd) gaps[cur.flex.some((bs) => bs.some((b) => !b.grace && b.hi > iv.s)) ? 'mergedDropped' : 'merged'] += 1;
        // Ends before this start can no longer be the stretch's last removal.
        if (cur.exact < iv.s) cur.exact = -Infinity;
        cur.flex = cur.flex.map((bs) => bs.filter((b) => b.hi >= iv.s)).filter((bs) => bs.length > 0);
      }
      addEnd(iv);
      continue;
    }
    const next = { s: iv.s, exact: -Infinity, flex: [], lastEnd: -Infinity, endKind: null, open: false, gapBefore: cur ? gapOutcome(cur.exact, cur.flex, iv.s) : null };
    if (cur) segs.push(cur);
    cur = next;
    addEnd(iv);
  }
  if (cur) segs.push(cur);
  const items = [];
  // A connection or join the kill made uncertain: it may have added a stretch of its own (reaped later).
  for (const iv of list.filter((x) => x.uncertain)) {
    const e = iv.e + REAP_MAX_MS;
    const touched = segs.findIndex((sg) => e >= sg.s && (sg.open || iv.s <= sg.lastEnd));
    const inGap = segs.findIndex((sg, k) => k > 0 && iv.s < sg.s && e > segs[k - 1].lastEnd);
    if (inGap > 0) segs[inGap].gapBefore = 'ambiguous';
    else if (touched < 0) {
      const id = ++optSeq.n;
      items.push({ kind: 'up', t: iv.s, opt: id }, { kind: 'down', t: iv.e, opt: id, end: 'uncertain' });
    }
  }
  segs.forEach((sg, i) => {
    if (i === 0) return void items.push({ kind: 'up', t: sg.s, opt: null });
    const prev = segs[i - 1];
    const id = sg.gapBefore === 'ambiguous' ? ++optSeq.n : null;
    gaps[id ? 'ambiguous' : 'separate'] += 1;
    items.push({ kind: 'down', t: prev.lastEnd, opt: id, end: prev.endKind }, { kind: 'up', t: sg.s, opt: id });
  });
  const last = segs[segs.length - 1];
  if (last && !last.open) items.push({ kind: 'down', t: last.lastEnd, opt: null, end: last.endKind });
  items.sort((a, b) => a.t - b.t);
  return { items, gaps, final: last ? (last.open ? 'up' : 'down') : null };
}

/** Matches received events (first arrivals, in order) against the owed items of one key. */
function matchKey(items, received) {
  const near = (it, ev) => ev.time_ms >= it.t - 2000 && ev.time_ms <= it.t + 9000;
  const matched = [];
  const lost = [];
  const extra = [];
  let i = 0;
  let j = 0;
  while (i < items.length || j < received.length) {
    const it = items[i];
    const ev = received[j];
    if (!it) {
      extra.push(ev);
      j++;
      continue;
    }
    if (it.opt) {
      const it2 = items[i + 1];
      const ev2 = received[j + 1];
      if (ev && ev2 && it2 && it2.opt === it.opt && ev.kind === it.kind && ev2.kind === it2.kind && near(it, ev) && near(it2, ev2)) {
        matched.push([it, ev], [it2, ev2]);
        j += 2;
      }
      i += it2?.opt === it.opt ? 2 : 1;
      continue;
    }
    if (!ev) {
      lost.push(it);
      i++;
    } else if (ev.kind === it.kind && near(it, ev)) {
      matched.push([it, ev]);
      i++;
      j++;
    } else if (ev.time_ms < it.t) {
      extra.push(ev);
      j++;
    } else {
      lost.push(it);
      i++;
    }
  }
  return { matched, lost, extra };
}

/** First arrivals by id (in arrival order), duplicates, and per-outbox order. */
function received(events) {
  const seen = new Map();
  const firsts = [];
  const dups = [];
  for (const e of events) {
    if (seen.has(e.id)) {
      dups.push(e);
      continue;
    }
    seen.set(e.id, e);
    const map = EVENT_KEY[e.name];
    const [key, kind] = map ? map(e) : [`?:${e.name}`, '?'];
    firsts.push({ ...e, key, kind, outbox: e.name.startsWith('user_') ? `user ${e.user_id}` : `room ${e.channel}` });
  }
  const newest = new Map();
  const outOfOrder = [];
  for (const e of firsts) {
    const n = newest.get(e.outbox) ?? -Infinity;
    if (e.time_ms < n) outOfOrder.push(e);
    newest.set(e.outbox, Math.max(n, e.time_ms));
  }
  const byKey = new Map();
  for (const e of firsts) {
    if (!byKey.has(e.key)) byKey.set(e.key, []);
    byKey.get(e.key).push(e);
  }
  return { firsts, dups, outOfOrder, byKey };
}

/** Consecutive events of the same kind, or a first event that is a leaving one, per key. */
function alternationBreaks(byKey) {
  let n = 0;
  for (const evs of byKey.values()) {
    let last = 'down';
    for (const e of evs) {
      if (e.kind === last) n += 1;
      last = e.kind;
    }
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// The scenario.
// ---------------------------------------------------------------------------------------------

class PushTimer {
  constructor({ url, key, user }) {
    this.url = url;
    this.key = key;
    this.user = user;
    this.samples = [];
    this.sent = [];
    this.running = true;
    this.done = this.loop();
  }

  async loop() {
    for (let n = 1; this.running; n++) {
      const started = Date.now();
      const r = await request(this.url(), { method: 'POST', path: '/api/v1/push', key: this.key, body: { users: [this.user], event: 'probe', data: { n, t: now() } } });
      this.samples.push({ at: r.at, ms: r.ms, outcome: outcome(r) });
      if (is2xx(r)) this.sent.push([n, r.at]);
      const wait = 100 - (Date.now() - started);
      if (wait > 0) await sleep(wait);
    }
  }

  async stop() {
    this.running = false;
    await this.done;
  }
}

/** The default app's webhooks as `GET /api/v1/admin/webhooks` on `node` reports them (null when it does not answer). */
async function webhookView(node, admin) {
  const r = await request(node.url, { path: '/api/v1/admin/webhooks', key: admin, timeoutMs: 2000 });
  return r.status === 200 ? (r.body?.data?.apps?.find((x) => x.app === 'default') ?? null) : null;
}

/** Asks a live node every 500 ms which node sends the webhooks, and when its next retry is due. */
class SenderWatch {
  constructor(nodes, admin) {
    this.samples = [];
    this.running = true;
    this.done = (async () => {
      while (this.running) {
        const at = now();
        const node = nodes.find((n) => n.alive);
        const v = node ? await webhookView(node, admin) : null;
        if (v) this.samples.push({ at, sender: v.sender, retryAt: v.retryAt, depth: v.depth });
        await sleep(Math.max(0, 500 - (now() - at)));
      }
    })();
  }

  async current(ms = 10000) {
    return until(async () => this.samples[this.samples.length - 1]?.sender ?? null, ms, 100);
  }

  /** The sender's changes: [{ at, sender }], the first one included. */
  changes() {
    const out = [];
    for (const s of this.samples) if (s.sender && s.sender !== out[out.length - 1]?.sender) out.push({ at: s.at, sender: s.sender });
    return out;
  }

  async stop() {
    this.running = false;
    await this.done;
  }
}

const METRICS = ['sent', 'attempts_failed', 'dropped', 'cancelled'].map((k) => [k, `pushgate_webhook_${k === 'attempts_failed' ? 'attempts_failed' : `events_${k}`}_total`]);

export async function run(ctx) {
  const q = ctx.quick;
  const T = q ? { steady: 7000, outage: 6000, back: 8000, kill: 10000, storm: 7000 } : { steady: 12000, outage: 10000, back: 10000, kill: 12000, storm: 10000 };
  const residents = q ? 30 : 60;
  const admin = ctx.secrets.adminKey;
  const redis = await ctx.redis();
  const rx = await WebhookReceiver.start(ctx.secrets.backendSecret);
  ctx.defer(() => rx.close());
  const env = ctx.env({ redis, HEARTBEAT_MS: String(HEARTBEAT_MS), WEBHOOK_URL: rx.url, WEBHOOK_LEAVE_GRACE_MS: String(GRACE_MS), WEBHOOK_BATCH_MS: String(BATCH_MS) });
  const nodes = [];
  for (const i of [1, 2, 3]) nodes.push(await ctx.node(`wh-${i}`, env));
  const phases = new Phases();
  phases.start('setup');
  const watch = new SenderWatch(nodes, admin);
  ctx.defer(() => watch.stop());
  const firstSender = await watch.current(15000);
  if (!firstSender) throw new Error('no node holds the webhook lease (GET /api/v1/admin/webhooks names no sender)');
  ctx.log(`webhook sender: ${firstSender}`);
  // The probe client goes through a failover balancer: whichever node it lands on may be killed.
  const lb = await ctx.balancer(nodes.map((n) => n.port));

  const crowd = await Fleet.launch([SELF, '--crowd'], ctx.secrets.jwtSecret, 'crowd');
  ctx.defer(() => crowd.stop());
  await crowd.call('init', { nodes: nodes.map((n) => ({ name: n.name, url: n.url })), residents, tickMs: q ? 200 : 160, goneShare: 0.25 });
  const started = await crowd.call('start', {}, 90000);
  const probe = ctx.client(lb.url, { userId: 'wh-probe' });
  if (!(await probe.ready())) throw new Error('the probe client could not connect');
  let pushNode = nodes.find((n) => n.name === firstSender);
  const pusher = new PushTimer({ url: () => pushNode.url, key: admin, user: 'wh-probe' });
  await crowd.call('churn');
  await sleep(2000);

  phases.start('steady');
  await sleep(T.steady);
  rx.mode = 'down';
  phases.start('outage');
  ctx.log(`receiver down (503) for ${T.outage / 1000} s`);
  await sleep(T.outage);
  rx.mode = 'up';
  const outageEnd = phases.start('receiver back');
  await sleep(T.back);

  // The sender (asked again: the lease may have moved) SIGKILLed with one of its requests in flight:
  // the receiver holds each request a while.
  const victimName = await watch.current();
  const victim = nodes.find((n) => n.name === victimName);
  if (!victim) throw new Error(`the sender before the kill is not a node of this scenario: ${victimName}`);
  const survivors = nodes.filter((n) => n !== victim);
  const victimMetrics = await scrapeMetrics(victim.url);
  if (pushNode === victim) pushNode = survivors[0];
  rx.mode = 'slow';
  const heldBefore = await until(() => rx.held.size > 0, 5000, 5);
  const inFlight = [...rx.held.values()].flatMap((r) => r.ids);
  const killedAt = phases.start('sender killed');
  await victim.kill('SIGKILL');
  rx.mode = 'up';
  await crowd.call('dead', { name: victim.name });
  ctx.log(`${victim.name} (the sender) SIGKILLed${heldBefore ? ` with a request of ${inFlight.length} events in flight` : ' (no request was in flight within 5 s)'}`);
  const takeover = await until(async () => {
    const v = await webhookView(survivors[0], admin);
    return v?.sender && v.sender !== victim.name ? { name: v.sender, at: now() } : null;
  }, 15000, 100);
  await sleep(Math.max(0, killedAt + T.kill - now()));

  // The storm: the survivor with the most residents sends them all to the other one.
  const perNode = await crowd.call('nodes');
  const [b, a] = [...survivors].sort((x, y) => (perNode[y.name] ?? 0) - (perNode[x.name] ?? 0));
  const stormAt = phases.start('storm');
  const storm = await crowd.call('storm', { from: b.name, to: a.name, maxDelayMs: 1000 }, 30000);
  ctx.log(`reconnect storm: ${storm.moves.length} residents of ${b.name} moved to ${a.name}`);
  await sleep(Math.max(0, stormAt + T.storm - now()));

  // Settle: the crowd stops where it is; the last leaving events wait their grace, then are sent.
  const settleAt = phases.start('settle');
  const crowdLog = await crowd.call('stop', {}, 40000);
  await pusher.stop();
  // A socket of the killed node closed by its client just before the kill: the node may have died
  // before it handled the close, so a survivor reaped it without the grace. Either is right.
  let closedAtKill = 0;
  for (const sk of crowdLog.sockets) {
    if (sk.node !== victim.name || sk.endKind !== 'client' || sk.endAt < killedAt - 1000 || sk.endAt > killedAt + 100) continue;
    closedAtKill += 1;
    sk.endKind = 'uncertain';
    for (const rm of sk.rooms) if (rm.leaveKind === 'client' && rm.leaveAt === sk.endAt) rm.leaveKind = 'uncertain';
  }
  // The probe user: from each welcome to the next disconnect (a drop by the kill is reaped; another would be a surprise).
  const probeIv = probe.welcomes.map((w) => {
    const d = probe.disconnects.find((x) => x.at >= w.at);
    return ['u:wh-probe', { s: w.at, e: d ? d.at : null, kind: d ? (w.nodeId === victim.name ? 'dropped' : 'uncertain') : null, uncertain: false }];
  });
  const ivs = intervals(crowdLog.sockets, probeIv);
  const optSeq = { n: 0 };
  const owed = new Map([...ivs].map(([key, list]) => [key, owedSequence(list, optSeq, killedAt)]));
  const finalMismatches = () => {
    const { byKey } = received(rx.events);
    const out = [];
    for (const [key, o] of owed) {
      if (o.final === null) continue;
      const evs = byKey.get(key) ?? [];
      if (evs[evs.length - 1]?.kind !== o.final) out.push(key);
    }
    return out;
  };
  const settled = await until(() => finalMismatches().length === 0, GRACE_MS + 12000, 250);
  const settledAt = settled ? now() : null;
  await sleep(1500);
  phases.end();
  await watch.stop();
  const survivorMetrics = await Promise.all(survivors.map((n) => scrapeMetrics(n.url)));

  // ----- analysis -----
  const got = received(rx.events);
  const results = new Map();
  for (const [key, o] of owed) results.set(key, matchKey(o.items, got.byKey.get(key) ?? []));
  const stray = [...got.byKey.keys()].filter((k) => !owed.has(k));
  const all = (f) => [...results.values()].flatMap(f);
  const lost = all((r) => r.lost.map((it) => it));
  const lostKeys = [...results].filter(([, r]) => r.lost.length).map(([k]) => k);
  const extra = [...all((r) => r.extra), ...stray.flatMap((k) => got.byKey.get(k))];
  const matched = all((r) => r.matched);
  const owedCertain = all((r) => r.matched.filter(([it]) => !it.opt).map(([it]) => it)).length + lost.length;
  const gapTotals = { merged: 0, mergedDropped: 0, separate: 0, ambiguous: 0 };
  for (const o of owed.values()) for (const [k, v] of Object.entries(o.gaps)) gapTotals[k] += v;
  const phaseOf = (t) => phases.list.find((p) => t >= p.from && (p.to === null || t < p.to))?.name ?? 'before';
  const byPhaseOwed = {};
  for (const [it] of matched) {
    if (it.opt) continue;
    const p = (byPhaseOwed[phaseOf(it.t)] ??= { owed: 0, got: 0 });
    p.owed += 1;
    p.got += 1;
  }
  for (const it of lost) (byPhaseOwed[phaseOf(it.t)] ??= { owed: 0, got: 0 }).owed += 1;
  const finalWrong = finalMismatches();
  const finals = { up: 0, down: 0 };
  for (const o of owed.values()) if (o.final) finals[o.final] += 1;

  // Duplicates: only the batch in flight at the kill may come twice, and all of it must.
  const inFlightSet = new Set(inFlight);
  const dupIds = new Set(got.dups.map((e) => e.id));
  const dupsOutside = [...dupIds].filter((x) => !inFlightSet.has(x));
  const resentAfterKill = new Set(rx.events.filter((e) => e.at > killedAt).map((e) => e.id));
  const inFlightResent = inFlight.filter((x) => resentAfterKill.has(x)).length;

  // The outage: its failed attempts, the retry due after the last one, the backlog's delivery.
  const outage = phases.get('outage');
  const failed = rx.requests.filter((r) => r.status === 503);
  // When the sender said (GET /admin/webhooks: retryAt) it would try again, at its last answer before the receiver came back.
  // (The latest over its last 2 s of answers: one poll may land while an attempt is in flight.)
  const lastViews = watch.samples.filter((x) => x.at < outageEnd && x.at >= outageEnd - 2000);
  const retryDue = lastViews.length ? Math.max(outageEnd, ...lastViews.map((x) => x.retryAt ?? outageEnd)) : null;
  const senderChanges = watch.changes();
  const firstBack = rx.requests.find((r) => r.at >= outageEnd && r.status === 200);
  // A sender backing off longer than its lease loses it: another node takes over with a backoff of its own.
  const movedInOutage = senderChanges.filter((c) => c.at >= outage.from && c.at <= (firstBack?.at ?? outageEnd) + 500);
  const backlog = matched.filter(([, ev]) => ev.time_ms >= outage.from && ev.time_ms < outage.to).map(([it, ev]) => ({ it, ev }));
  const backlogDue = backlog.filter(({ it, ev }) => ev.time_ms + (it.kind === 'down' ? GRACE_MS : 0) < outageEnd);
  const backlogLastAt = backlogDue.length ? Math.max(...backlogDue.map(({ ev }) => ev.at)) : null;
  const lostInOutage = lost.filter((it) => it.t >= outage.from - 2000 && it.t < outageEnd).length;

  // The kill: takeover, what the dead sender's clients owed, events made until the takeover.
  const killPhase = phases.get('sender killed');
  const firstAfterKill = rx.requests.find((r) => r.at > killedAt + 50 && r.status === 200 && r.mode === 'up');
  const reaped = matched.filter(([it]) => it.kind === 'down' && it.end === 'dropped').map(([, ev]) => ev.at - killedAt);
  const lostAtKill = lost.filter((it) => it.t >= killedAt - GRACE_MS && it.t < killPhase.to).length;

  // The storm: from its close to its rejoin, a moved user must get no event, nor its rooms' membership.
  const stormUsers = new Set(storm.moves.map((mv) => mv.user));
  const stormFlaps = storm.moves.flatMap((mv) => {
    const to = mv.rejoinedAt ?? mv.closedAt + GRACE_MS;
    return got.firsts.filter((e) => e.user_id === mv.user && (e.name.startsWith('user_') || mv.rooms.includes(e.channel)) && e.time_ms >= mv.closedAt - 200 && e.time_ms <= to + 500);
  });
  const stormGaps = summary(storm.moves.filter((m) => m.rejoinedAt).map((m) => m.rejoinedAt - m.closedAt));
  const stormMissing = storm.moves.filter((m) => !m.rejoinedAt).length;

  // Latency: first arrivals of events made in the storm phase, or in the steady phase early enough
  // (grace + 1.5 s before the outage) that nothing ahead of them in their outbox waited for it.
  const steadyPhase = phases.get('steady');
  const inJudged = matched.filter(([, ev]) => phaseOf(ev.time_ms) === 'storm' || (ev.time_ms >= steadyPhase.from && ev.time_ms < steadyPhase.to - GRACE_MS - 1500));
  const latOf = (f) => summary(inJudged.filter(f).map(([, ev]) => ev.at - ev.time_ms));
  const online = latOf(([, ev]) => ev.name === 'user_online');
  const coming = latOf(([it]) => it.kind === 'up');
  const leaving = latOf(([it]) => it.kind === 'down');
  const latencyByPhase = {};
  for (const p of phases.list) {
    const xs = matched.filter(([, ev]) => phaseOf(ev.time_ms) === p.name).map(([, ev]) => ev.at - ev.time_ms);
    latencyByPhase[p.name] = summary(xs);
  }

  // Pushes during the outage against the steady phase.
  const apiLat = byPhase(pusher.samples.map((s) => [s.at, s.ms]), phases.list);
  const pushFailed = pusher.samples.filter((s) => !s.outcome.startsWith('2'));
  const deliveryLat = byPhase(probe.latency.filter(([, , e]) => e === 'probe').map(([t, m]) => [t, m]), phases.list);
  const probeTally = probe.tally('probe', pusher.sent.filter(([, at]) => at < killedAt).map(([n]) => n));
  const flat = (s, base) => s.n > 0 && s.p99 <= Math.max(3 * (base.p99 ?? 0), 50);

  const metric = (name) => metricSum(victimMetrics, name) + survivorMetrics.reduce((s, m) => s + metricSum(m, name), 0);
  const m = Object.fromEntries(METRICS.map(([k, name]) => [k, metric(name)]));
  const depthEnd = survivorMetrics.reduce((s, x) => s + metricSum(x, 'pushgate_webhook_queue_depth'), 0);
  const warnings = [victim, a, b].reduce((s, n) => s + n.logCount('warn', /webhook/), 0);
  const concurrent = rx.requests.filter((r) => !(r.at >= killedAt - SLOW_MS - 100 && r.at <= killPhase.to)).map((r) => rx.requests.filter((o) => o !== r && o.at <= r.at && (o.end ?? Infinity) > r.at && !(o.at >= killedAt - SLOW_MS - 100 && o.at <= killPhase.to)).length + 1);
  const maxConcurrent = concurrent.length ? Math.max(...concurrent) : 0;

  const extraByType = countBy(extra, (e) => `${e.name}${e.user_id && stormUsers.has(e.user_id) ? ' (storm user)' : ''}`);
  const held = {
    'every owed transition arrived (matched per user, room and user in a room)': lost.length === 0 && owedCertain > 0,
    'nothing arrived that was not owed (no flap, nothing queued twice)': extra.length === 0,
    'final state right: users and rooms still there last reported coming, gone ones leaving': settled !== null && finalWrong.length === 0,
    'in order per room and per user (no older event after a newer one of the same outbox)': got.outOfOrder.length === 0 && alternationBreaks(got.byKey) === 0,
    [`receiver down ${T.outage / 1000} s: nothing lost, the backlog sent by the retry the sender announced (its retryAt + 1.5 s)`]: lostInOutage === 0 && failed.length > 0 && firstBack !== undefined && retryDue !== null && firstBack.at <= retryDue + 1500 && (backlogLastAt === null || backlogLastAt <= firstBack.at + 2000),
    'sender SIGKILLed: another node took over, nothing lost, the batch in flight sent again': takeover !== null && heldBefore !== null && inFlight.length > 0 && inFlightResent === inFlight.length && lostAtKill === 0 && firstAfterKill !== undefined,
    'duplicates only of the batch in flight at the kill': dupsOutside.length === 0,
    [`reconnect storm (${storm.moves.length} clients back within the grace): no offline/online or removed/added for them`]: storm.moves.length > 0 && stormFlaps.length === 0 && stormMissing === 0,
    [`delivery latency outside the faults: user_online p99 ≤ ${ms(BATCH_MS + 1000)}, leaving events p99 ≤ grace + ${ms(BATCH_MS + 1000)}`]: online.n > 0 && online.p99 <= BATCH_MS + 1000 && leaving.n > 0 && leaving.p99 <= GRACE_MS + BATCH_MS + 1000,
    'pushes not slowed by the receiver outage (push API and push→receive p99 ≤ max(3× steady, 50 ms)), none refused': flat(apiLat.outage, apiLat.steady) && flat(deliveryLat.outage, deliveryLat.steady) && pushFailed.length === 0 && probeTally.lost === 0,
    'every webhook request signed correctly (X-Pushgate-Signature)': rx.badSignatures === 0 && rx.requests.length > 0,
    'nothing dropped (pushgate_webhook_events_dropped_total 0)': m.dropped === 0,
  };
  const fig = (o) => Object.entries(o).map(([k, v]) => `${k} ${v.got}/${v.owed}`).join(', ');
  const figures = {
    crowd: `${residents} residents (${counts(started.byNode)}), ${int(crowdLog.sockets.length)} sockets opened in all; actions ${counts(crowdLog.stats)}; at the end ${crowdLog.connected} sockets connected, residents ${counts(crowdLog.residents.byNode)}`,
    'owed transitions': `${int(owedCertain)} owed (users, rooms, users in rooms: ${owed.size} keys), ${int(owedCertain - lost.length)} arrived, lost ${lost.length}${lost.length ? ` (${counts(countBy(lost, (it) => `${it.kind} ${phaseOf(it.t)}`))}; keys ${lostKeys.slice(0, 5).join(', ')})` : ''}; by the phase they were made in: ${fig(byPhaseOwed)}`,
    'not owed': `${extra.length}${extra.length ? `: ${counts(extraByType)}; by room: ${counts(countBy(extra, (e) => e.channel ?? '(user events)'))}` : ''}; quick returns merged (owe nothing): ${gapTotals.merged} within the grace, ${gapTotals.mergedDropped} before the reap; gaps owed as leave + return ${gapTotals.separate}; either way accepted ${gapTotals.ambiguous} (sockets closed on the killed node in its last second: ${closedAtKill})`,
    'final state': `${finals.up} users/rooms/memberships still there, ${finals.down} gone; wrong last event: ${finalWrong.length}${finalWrong.length ? ` (${finalWrong.slice(0, 5).join(', ')})` : ''}; settled ${settledAt === null ? 'not within the wait' : `${ms(settledAt - settleAt)} after the crowd stopped`}`,
    events: `${int(rx.events.length)} received (${int(got.firsts.length)} distinct ids) in ${int(rx.requests.length)} requests: ${counts(countBy(got.firsts, (e) => e.name))}; duplicates ${got.dups.length} (outside the in-flight batch ${dupsOutside.length}); out of order ${got.outOfOrder.length}; alternation breaks ${alternationBreaks(got.byKey)}; bad signatures ${rx.badSignatures}`,
    'receiver outage': `${T.outage / 1000} s of 503: ${failed.length} failed attempts; backlog ${backlog.length} events made during it; first delivery ${firstBack ? `${ms(firstBack.at - outageEnd)} after it came back (the sender's retryAt: ${retryDue === null ? 'n/a' : ms(retryDue - outageEnd)} after)` : 'never'}; backlog delivered by ${backlogLastAt === null ? 'n/a' : `${ms(backlogLastAt - outageEnd)} after`}; lost ${lostInOutage}; the lease moved between the first failure and the first delivery after it: ${movedInOutage.length ? movedInOutage.map((c) => `to ${c.sender} ${c.at < outageEnd ? `${ms(c.at - outage.from)} into the outage` : `${ms(c.at - outageEnd)} after it`}`).join(', ') : 'no'}`,
    'sender (GET /admin/webhooks every 500 ms)': senderChanges.map((c) => `${c.sender} ${phaseOf(c.at) === 'setup' ? 'from the start' : `from ${ms(c.at - phases.get(phaseOf(c.at)).from)} into "${phaseOf(c.at)}"`}`).join(' → '),
    'sender SIGKILL': `${victim.name} killed with ${inFlight.length} events in flight (receiver holding ${SLOW_MS / 1000} s); sender after it ${takeover ? `${takeover.name}, named ${ms(takeover.at - killedAt)} after the kill` : 'none within 15 s'}; first delivery ${firstAfterKill ? ms(firstAfterKill.at - killedAt) : 'never'} after the kill; the in-flight batch sent again ${inFlightResent}/${inFlight.length}; leaving events of reaped sockets delivered ${lat(summary(reaped))} after the kill (${reaped.length}); lost ${lostAtKill}`,
    'reconnect storm': `${storm.moves.length} residents of ${b.name} → ${a.name} (${stormMissing} did not get back), closed → rejoined ${lat(stormGaps)}, max ${ms(stormGaps.max)}; their events from the storm: ${stormFlaps.length}`,
    'victim clients': `dropped at the kill: ${counts(Object.fromEntries(Object.entries(crowdLog.stats).filter(([k]) => k.startsWith('dropped') || k.includes('gone'))))}; back on a survivor (welcome) ${lat(summary(crowdLog.gaps.dropped.map((g) => g.welcome)))}, rooms rejoined ${lat(summary(crowdLog.gaps.dropped.map((g) => g.rejoined)))}`,
    'delivery latency (steady, storm)': `user_online ${lat(online)}; all coming events ${lat(coming)}; leaving events (grace ${GRACE_MS / 1000} s included) ${lat(leaving)}`,
    'delivery latency by the phase the event was made in (faults included)': Object.entries(latencyByPhase).map(([k, v]) => `${k} ${lat(v)}`).join(' · '),
    'push API': `steady ${lat(apiLat.steady)} · outage ${lat(apiLat.outage)} · receiver back ${lat(apiLat['receiver back'])}; ${pusher.samples.length} pushes, not 2xx ${pushFailed.length}`,
    'push→receive': `steady ${lat(deliveryLat.steady)} · outage ${lat(deliveryLat.outage)}; of the pushes before the kill ${probeTally.received} received, lost ${probeTally.lost} (probe client behind a failover balancer)`,
    metrics: `sent ${m.sent}, attempts failed ${m.attempts_failed}, cancelled ${m.cancelled}, dropped ${m.dropped}; queue depth at the end ${depthEnd}; webhook warnings logged ${warnings}; webhook requests in flight at once (outside the kill) max ${maxConcurrent}`,
  };
  if (crowdLog.errors.length) figures['crowd errors'] = crowdLog.errors.slice(0, 3).join(' | ');
  return {
    done: `3 nodes, a receiver checking signatures, ${residents} residents + visitors making transitions (~${q ? 5 : 6} actions/s); receiver down ${T.outage / 1000} s, the sender SIGKILLed with a request in flight, ${storm.moves.length} clients of one node moved to another within the ${GRACE_MS / 1000} s grace`,
    held,
    figures,
    raw: {
      phases: phases.list,
      sender: victim.name,
      takeover,
      inFlight,
      lost: lost.slice(0, 50),
      lostKeys: lostKeys.slice(0, 50),
      extra: extra.slice(0, 50).map(({ name, channel, user_id, id: eid, time_ms, at }) => ({ name, channel, user_id, id: eid, time_ms, at })),
      finalWrong: finalWrong.slice(0, 50),
      // What the clients did and what arrived, for the first keys with a lost or a not owed event (times from the kill).
      problems: [...new Set([...lostKeys, ...extra.map((e) => e.key)])].slice(0, 10).map((key) => ({
        key,
        owed: owed.get(key)?.items.map((it) => ({ ...it, t: Math.round(it.t - killedAt) })),
        intervals: ivs.get(key)?.map((iv) => ({ ...iv, s: Math.round(iv.s - killedAt), e: iv.e === null ? null : Math.round(iv.e - killedAt) })),
        sockets: crowdLog.sockets.filter((sk) => key.endsWith(`|${sk.user}`) || key === `u:${sk.user}`).map((sk) => ({ id: sk.id, role: sk.role, node: sk.node, welcome: sk.welcomeAt && Math.round(sk.welcomeAt - killedAt), end: sk.endAt && Math.round(sk.endAt - killedAt), endKind: sk.endKind, failed: sk.failed, rooms: sk.rooms.map((rm) => `${rm.room} ${rm.joinAt && Math.round(rm.joinAt - killedAt)}→${rm.leaveAt && Math.round(rm.leaveAt - killedAt)} ${rm.leaveKind ?? ''}${rm.uncertain ? ' uncertain' : ''}`) })),
        received: (got.byKey.get(key) ?? []).map((e) => ({ name: e.name, t: Math.round(e.time_ms - killedAt), at: Math.round(e.at - killedAt) })),
      })),
      outOfOrder: got.outOfOrder.slice(0, 20),
      dupsOutside,
      gapTotals,
      requests: countBy(rx.requests, (r) => `${r.mode} ${r.status}`),
      crowdStats: crowdLog.stats,
      latencyByPhase,
      metrics: m,
    },
  };
}

if (process.argv[2] === '--crowd' && process.argv[1] && resolve(process.argv[1]) === SELF) crowdWorker();
