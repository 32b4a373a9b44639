/*
 * The soak's load: numbered pushes per stream (PushSender) and socket.io-client users (SoakClient)
 * that keep their offsets, recover on every reconnection and remember what arrived, so the run can
 * say afterwards, per client and stream, which messages were addressed to it and which are missing.
 *
 * What counts as addressed is decided from this process's own clock, conservatively: a message
 * whose push request was started after the client's membership began (the join acknowledgement,
 * or the first welcome for the personal stream) and was answered 2xx before its membership ended
 * (the moment it decided to leave, a settle time before it sends room:leave). Messages at the edges
 * are not judged either way. A `recovered: false` for a stream excuses what followed the last
 * message the client had seen before it went away, up to that report: the server said it cannot
 * replay it.
 */
import { io } from 'socket.io-client';
import { Pool } from 'undici';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (lo, hi) => lo + Math.random() * (hi - lo);
const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];

/** A push answered later than this is abandoned and retried with the same id. */
const REQUEST_TIMEOUT_MS = 5000;
const MAX_ATTEMPTS = 40;

export const EVENT_USER = 'soak:u';
export const EVENT_ROOM = 'soak:r';

/** Binary search: index of the first entry whose `key` is ≥ t. */
function firstAtOrAfter(list, t, key) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid][key] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Sends message 1, 2, 3… to each registered stream at the stream's pace, one request in flight per
 * stream (so each stream's order is defined), alternating between the nodes. A refused or failed
 * request is retried with the same id, which the API promises to deliver once.
 */
export class PushSender {
  constructor({ urls, apiKey, runId }) {
    this.urls = urls;
    this.pools = urls.map((u) => new Pool(u, { connections: 16, pipelining: 1, keepAliveTimeout: 30000 }));
    this.auth = `Bearer ${apiKey}`;
    this.runId = runId;
    this.streams = new Map();
    /** stream → [{ n, firstAt, lastAt, answeredAt }] for every number whose request was started. */
    this.logs = new Map();
    this.stats = { sent: 0, attempts: 0, refused: 0, errors: 0, timeouts: 0, failed: 0, late: 0, acked: 0, ackRequested: 0, byRoute: { push: 0, broadcast: 0 }, refusedStatus: {} };
    this.turn = 0;
    this.inflight = new Set();
    this.running = false;
    this.timer = null;
  }

  /** Registers a stream: `user:<id>` or a room name; `limit` stops it after that many messages (then `onDone`). */
  add(stream, { everyMs, limit = Infinity, onDone = null, ackEvery = 0, startInMs = 0 }) {
    const s = { stream, isUser: stream.startsWith('user:'), everyMs, limit, onDone, ackEvery, n: 0, busy: false, nextAt: Date.now() + startInMs };
    this.streams.set(stream, s);
    if (!this.logs.has(stream)) this.logs.set(stream, []);
    return s;
  }

  start() {
    this.running = true;
    this.timer = setInterval(() => this.tick(), 10);
  }

  tick() {
    if (!this.running) return;
    const now = Date.now();
    for (const s of this.streams.values()) {
      if (s.nextAt > now) continue;
      if (s.busy) {
        // The previous one is still in flight: this stream falls behind its pace (reported).
        this.stats.late += 1;
        s.nextAt = now + s.everyMs;
        continue;
      }
      s.nextAt += s.everyMs;
      if (s.nextAt < now) s.nextAt = now + s.everyMs;
      const work = this.sendOne(s);
      this.inflight.add(work);
      void work.finally(() => this.inflight.delete(work));
    }
  }

  async sendOne(s) {
    s.busy = true;
    const n = ++s.n;
    const entry = { n, firstAt: Date.now(), lastAt: Date.now(), answeredAt: null };
    this.logs.get(s.stream).push(entry);
    const id = `soak-${this.runId}-${s.stream.replace(/[^A-Za-z0-9._:-]/g, '_')}-${n}`;
    const ack = s.ackEvery > 0 && n % s.ackEvery === 0;
    const data = { s: s.stream, n };
    let path;
    let body;
    if (s.isUser) {
      path = '/api/v1/push';
      body = { users: [s.stream.slice(5)], event: EVENT_USER, data, id };
      this.stats.byRoute.push += 1;
    } else if (n % 2 === 0) {
      path = `/api/v1/rooms/${encodeURIComponent(s.stream)}/broadcast`;
      body = { event: EVENT_ROOM, data, id };
      this.stats.byRoute.broadcast += 1;
    } else {
      path = '/api/v1/push';
      body = { rooms: [s.stream], event: EVENT_ROOM, data, id };
      this.stats.byRoute.push += 1;
    }
    if (ack) {
      body.ack = true;
      body.ackTimeoutMs = 3000;
      this.stats.ackRequested += 1;
    }
    const payload = JSON.stringify(body);
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const pool = this.pools[this.turn++ % this.pools.length];
        entry.lastAt = Date.now();
        this.stats.attempts += 1;
        try {
          const res = await pool.request({
            method: 'POST',
            path,
            headers: { authorization: this.auth, 'content-type': 'application/json' },
            body: payload,
            headersTimeout: REQUEST_TIMEOUT_MS,
            bodyTimeout: REQUEST_TIMEOUT_MS,
          });
          const text = await res.body.text();
          if (res.statusCode === 200) {
            entry.answeredAt = Date.now();
            this.stats.sent += 1;
            if (ack) {
              const acked = JSON.parse(text)?.data?.acked;
              if (typeof acked === 'number') this.stats.acked += acked;
            }
            return;
          }
          this.stats.refused += 1;
          this.stats.refusedStatus[res.statusCode] = (this.stats.refusedStatus[res.statusCode] ?? 0) + 1;
        } catch (err) {
          if (/timeout/i.test(String(err?.code ?? err?.name ?? err))) this.stats.timeouts += 1;
          else this.stats.errors += 1;
        }
        await sleep(100);
      }
      this.stats.failed += 1;
    } finally {
      s.busy = false;
      if (s.n >= s.limit && this.streams.get(s.stream) === s) {
        this.streams.delete(s.stream);
        s.onDone?.(entry);
      }
    }
  }

  /** Stops starting new pushes and waits for those in flight (they retry until answered or given up). */
  async stop() {
    this.running = false;
    clearInterval(this.timer);
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  async close() {
    await Promise.all(this.pools.map((p) => p.close().catch(() => {})));
  }

  /** The last number answered 2xx on `stream`, or 0. */
  lastAnswered(stream) {
    const log = this.logs.get(stream) ?? [];
    for (let i = log.length - 1; i >= 0; i--) if (log[i].answeredAt !== null) return log[i].n;
    return 0;
  }

  /** Numbers of `stream` answered between t0 and t1 (how much a client away for that span missed). */
  answeredBetween(stream, t0, t1) {
    const log = this.logs.get(stream) ?? [];
    let c = 0;
    for (let i = firstAtOrAfter(log, t0 - REQUEST_TIMEOUT_MS * MAX_ATTEMPTS, 'firstAt'); i < log.length; i++) {
      const a = log[i].answeredAt;
      if (a !== null && a >= t0 && a <= t1) c += 1;
    }
    return c;
  }

  /**
   * Upper bounds for key families over a scan that ran from lo to hi: message ids that may still be
   * remembered (a request started within `idemTtlMs` of the scan), streams that may still have
   * history (a push started within `histTtlMs`).
   */
  bounds(lo, hi, idemTtlMs, histTtlMs, slackMs) {
    let ids = 0;
    let streams = 0;
    for (const log of this.logs.values()) {
      const i = firstAtOrAfter(log, lo - idemTtlMs - slackMs - REQUEST_TIMEOUT_MS * MAX_ATTEMPTS, 'firstAt');
      let recent = false;
      for (let j = i; j < log.length; j++) {
        const e = log[j];
        if (e.firstAt > hi) break;
        if (e.lastAt >= lo - idemTtlMs - slackMs) ids += 1;
        if (e.lastAt >= lo - histTtlMs - slackMs) recent = true;
      }
      if (recent) streams += 1;
    }
    return { ids, streams };
  }

  totalStarted() {
    let c = 0;
    for (const log of this.logs.values()) c += log.length;
    return c;
  }
}

/** Per client and stream: membership intervals, what arrived, and what a `recovered: false` excused. */
class StreamTrack {
  constructor() {
    this.intervals = [];
    this.got = new Map();
    this.highest = 0;
    this.duplicated = 0;
    this.outOfOrder = 0;
    this.excused = [];
  }

  get open() {
    const last = this.intervals[this.intervals.length - 1];
    return last !== undefined && last.to === null;
  }

  begin(t) {
    if (!this.open) this.intervals.push({ from: t, to: null });
  }

  end(t) {
    const last = this.intervals[this.intervals.length - 1];
    if (last && last.to === null) last.to = t;
  }

  arrived(n) {
    const c = this.got.get(n) ?? 0;
    this.got.set(n, c + 1);
    if (c > 0) {
      this.duplicated += 1;
      return;
    }
    if (n < this.highest) this.outOfOrder += 1;
    this.highest = Math.max(this.highest, n);
  }
}

/**
 * A user with one socket at a time. Trackers connect once and never churn; churners connect to a
 * random node, stay a random while, join and leave rooms, then go away gracefully or by losing
 * their transport, and come back with `auth.recover`.
 */
export class SoakClient {
  constructor({ userId, kind, urls, token, stats, history, sender, settleMs }) {
    this.userId = userId;
    this.kind = kind;
    this.urls = urls;
    this.token = token;
    this.stats = stats;
    this.history = history;
    this.sender = sender;
    this.settleMs = settleMs;
    this.personal = `user:${userId}`;
    this.offsets = {};
    this.tracks = new Map();
    this.socket = null;
    this.connected = false;
    this.away = null;
    this.pendingLeaves = new Set();
    this.leaving = new Set();
    this.ended = false;
  }

  track(stream) {
    let t = this.tracks.get(stream);
    if (!t) this.tracks.set(stream, (t = new StreamTrack()));
    return t;
  }

  /** A new Socket.IO connection (a fresh Manager) to node `i`; auto-reconnects after a cut transport. */
  open(i) {
    const url = this.urls[i];
    this.stats.connections.attempted += 1;
    const s = io(url, {
      forceNew: true,
      transports: ['websocket'],
      reconnectionDelay: Math.round(rand(100, 1500)),
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      auth: (cb) => cb(Object.keys(this.offsets).length > 0 ? { token: this.token, recover: { ...this.offsets } } : { token: this.token }),
    });
    this.socket = s;
    s.on('connect', () => {
      this.connected = true;
      this.stats.connections.opened += 1;
      if (this.away) this.away.reconnectedAt = Date.now();
    });
    s.on('connect_error', () => (this.stats.connections.connectErrors += 1));
    s.on('disconnect', (reason) => this.onDisconnect(s, reason));
    s.on('welcome', (w) => {
      this.stats.welcomes += 1;
      for (const [stream, o] of Object.entries(w.offsets ?? {})) this.offsets[stream] ??= o;
      this.track(this.personal).begin(Date.now());
      if (!this.away) this.onReady?.();
    });
    s.on('recovered', (r) => this.onRecovered(r));
    s.onAny((event, data, meta, ...rest) => {
      const ack = [meta, ...rest].reverse().find((a) => typeof a === 'function');
      if (ack) ack();
      if (event !== EVENT_USER && event !== EVENT_ROOM) return;
      const stream = meta?.stream;
      if (typeof stream !== 'string' || typeof data?.n !== 'number') {
        this.stats.malformed += 1;
        return;
      }
      if (data.s !== stream) this.stats.wrongStream += 1;
      if (meta.offset) this.offsets[stream] = meta.offset;
      this.track(stream).arrived(data.n);
      this.stats.delivered += 1;
    });
    return s;
  }

  onDisconnect(s, reason) {
    if (s !== this.socket) return;
    this.connected = false;
    this.stats.connections.closed += 1;
    this.stats.disconnectReasons[reason] = (this.stats.disconnectReasons[reason] ?? 0) + 1;
    if (this.kind === 'tracker' && !this.ended) this.stats.trackerDrops += 1;
    // What was seen of each stream when it went away: a `recovered: false` excuses what followed.
    const seen = {};
    for (const [stream, t] of this.tracks) seen[stream] = t.highest;
    this.away = { at: Date.now(), seen, reconnectedAt: null };
  }

  onRecovered(r) {
    const now = Date.now();
    const away = this.away;
    this.away = null;
    this.stats.recovery.reports += 1;
    for (const [stream, v] of Object.entries(r.streams ?? {})) {
      this.stats.recovery.streams += 1;
      this.stats.recovery.replayed += v.replayed ?? 0;
      if (v.offset) this.offsets[stream] = v.offset;
      if (v.recovered) {
        this.stats.recovery.recoveredTrue += 1;
        continue;
      }
      this.stats.recovery.recoveredFalse += 1;
      if (v.error) this.stats.recovery.errors[v.error.code] = (this.stats.recovery.errors[v.error.code] ?? 0) + 1;
      const t = this.track(stream);
      t.excused.push({ afterN: away?.seen[stream] ?? t.highest, before: now });
      if (away && this.withinWindow(stream, away, now)) {
        this.stats.recovery.falseWithinWindow += 1;
        if (this.stats.recovery.falseWithinWindowSamples.length < 10) {
          this.stats.recovery.falseWithinWindowSamples.push({ user: this.userId, stream, awayMs: now - away.at, missed: this.sender.answeredBetween(stream, away.at, now), report: v });
        }
      }
    }
    // Leaves decided while away go out once the rooms are back (their messages up to the decision were owed).
    for (const room of this.pendingLeaves) void this.sendLeave(room);
    this.pendingLeaves.clear();
    this.onReady?.();
  }

  /**
   * Whether history must still cover what this client missed on `stream`: away for less than half
   * HISTORY_TTL_SECONDS and fewer than half HISTORY_SIZE messages pushed meanwhile (a margin on both).
   */
  withinWindow(stream, away, now) {
    return now - away.at < this.history.ttlMs / 2 && this.sender.answeredBetween(stream, away.at - 2000, now) < this.history.size / 2;
  }

  async join(room) {
    if (!this.connected) return false;
    try {
      const ack = await this.socket.timeout(10000).emitWithAck('room:join', { room });
      if (!ack?.ok) {
        this.stats.rooms.joinRefused += 1;
        return false;
      }
      if (!this.connected) return false;
      if (ack.data?.offset) this.offsets[room] ??= ack.data.offset;
      this.track(room).begin(Date.now());
      this.stats.rooms.joined += 1;
      return true;
    } catch {
      this.stats.rooms.joinInterrupted += 1;
      return false;
    }
  }

  /**
   * Leaving is in two steps: from now on nothing more of the room is owed, and room:leave goes out
   * a settle time later, so what was pushed before the decision has had time to arrive.
   */
  leave(room) {
    if (this.leaving.has(room) || !this.tracks.get(room)?.open) return;
    this.leaving.add(room);
    this.track(room).end(Date.now());
    setTimeout(() => {
      if (this.connected && !this.away) void this.sendLeave(room);
      else this.pendingLeaves.add(room);
    }, this.settleMs);
  }

  async sendLeave(room) {
    try {
      const ack = await this.socket.timeout(10000).emitWithAck('room:leave', { room });
      if (ack?.ok) this.stats.rooms.left += 1;
      else this.stats.rooms.leaveRefused += 1;
    } catch {
      this.stats.rooms.leaveInterrupted += 1;
    } finally {
      delete this.offsets[room];
      this.leaving.delete(room);
    }
  }

  /** Rooms this client is in (membership open, not leaving). */
  rooms() {
    return [...this.tracks.entries()].filter(([s, t]) => s !== this.personal && t.open && !this.leaving.has(s)).map(([s]) => s);
  }

  /** Cut the transport under the client without a close handshake; socket.io-client reconnects on its own. */
  cut() {
    const engine = this.socket?.io?.engine;
    const raw = engine?.transport?.ws?._socket;
    if (raw && typeof raw.destroy === 'function') {
      this.stats.connections.cutTcp += 1;
      raw.destroy();
    } else {
      this.stats.connections.cutEngine += 1;
      engine?.close();
    }
  }

  /** Graceful: the client says goodbye; it comes back later with a new connection. */
  goodbye() {
    const s = this.socket;
    this.stats.connections.graceful += 1;
    s.disconnect();
    s.removeAllListeners();
    s.offAny();
  }

  close() {
    this.ended = true;
    if (this.socket) {
      this.socket.disconnect();
      this.socket.removeAllListeners();
      this.socket.offAny();
    }
    this.connected = false;
  }

  /**
   * Per stream, the numbers owed to this client (see the header) and what happened to them, from
   * the sender's log of each number: started (firstAt) and answered 2xx (answeredAt).
   */
  tally(sender, endAt) {
    const out = { expected: 0, received: 0, lost: 0, excused: 0, duplicated: 0, outOfOrder: 0, lostSamples: [] };
    for (const [stream, t] of this.tracks) {
      out.duplicated += t.duplicated;
      out.outOfOrder += t.outOfOrder;
      const log = sender.logs.get(stream) ?? [];
      for (const e of log) {
        if (e.answeredAt === null) continue;
        const owed = t.intervals.some((iv) => e.firstAt > iv.from && e.answeredAt < (iv.to ?? endAt));
        if (!owed) continue;
        if (t.got.has(e.n)) {
          out.expected += 1;
          out.received += 1;
          continue;
        }
        if (t.excused.some((x) => e.n > x.afterN && e.firstAt < x.before)) {
          out.excused += 1;
          continue;
        }
        out.expected += 1;
        out.lost += 1;
        if (out.lostSamples.length < 5) out.lostSamples.push({ user: this.userId, stream, n: e.n, firstAt: e.firstAt, answeredAt: e.answeredAt });
      }
    }
    return out;
  }

  /** Streams whose last owed number has not arrived yet (the end of the run waits for them). */
  missingTail(sender) {
    const missing = [];
    for (const [stream, t] of this.tracks) {
      if (!t.open) continue;
      const last = sender.lastAnswered(stream);
      const iv = t.intervals[t.intervals.length - 1];
      const entry = (sender.logs.get(stream) ?? []).find((e) => e.n === last);
      if (last > 0 && entry && entry.firstAt > iv.from && !t.got.has(last)) missing.push(stream);
    }
    return missing;
  }
}

/** The mutable counters every client writes to. */
export function newClientStats() {
  return {
    connections: { attempted: 0, opened: 0, closed: 0, graceful: 0, cutTcp: 0, cutEngine: 0, longAway: 0, connectErrors: 0 },
    disconnectReasons: {},
    trackerDrops: 0,
    welcomes: 0,
    delivered: 0,
    malformed: 0,
    wrongStream: 0,
    rooms: { joined: 0, left: 0, oneOff: 0, joinRefused: 0, joinInterrupted: 0, leaveRefused: 0, leaveInterrupted: 0 },
    recovery: { reports: 0, streams: 0, recoveredTrue: 0, recoveredFalse: 0, falseWithinWindow: 0, falseWithinWindowSamples: [], replayed: 0, errors: {} },
  };
}

/**
 * One churner's life until `stopped()`: connected a random 3–20 s (joining and leaving pool rooms,
 * opening one-off rooms that get three messages and are left again), then away — most often
 * briefly, sometimes for longer than the history covers — and back with auth.recover.
 */
export async function churn(c, { pool, oneOff, stopped, longAwayMs, longAwayShare }) {
  const waitReady = () =>
    new Promise((resolve) => {
      c.onReady = () => {
        c.onReady = null;
        resolve();
      };
    });
  let ready = waitReady();
  c.open(Math.floor(Math.random() * c.urls.length));
  while (!stopped()) {
    await Promise.race([ready, sleep(30000)]);
    if (stopped()) return;
    if (!c.connected) {
      // Still reconnecting on its own (a cut transport): wait for it.
      ready = waitReady();
      continue;
    }
    const until = Date.now() + rand(3000, 20000);
    while (Date.now() < until && !stopped() && c.connected) {
      await sleep(rand(700, 2500));
      if (stopped() || !c.connected) break;
      const mine = c.rooms();
      const pooled = mine.filter((r) => pool.includes(r));
      const r = Math.random();
      if (r < 0.15 && mine.length - pooled.length < 2) {
        void oneOff(c);
      } else if (pooled.length < 2 || (pooled.length < 4 && r < 0.6)) {
        const room = pick(pool.filter((p) => !mine.includes(p) && !c.leaving.has(p)));
        if (room) await c.join(room);
      } else {
        c.leave(pick(pooled));
      }
    }
    if (stopped()) return;
    if (!c.connected) {
      ready = waitReady();
      continue;
    }
    const mode = Math.random();
    ready = waitReady();
    if (mode < 0.35) {
      c.cut();
    } else if (mode < 0.45) {
      c.stats.connections.cutEngine += 1;
      c.socket.io.engine.close();
    } else {
      c.goodbye();
      const long = Math.random() < longAwayShare;
      if (long) c.stats.connections.longAway += 1;
      const awayUntil = Date.now() + (long ? rand(longAwayMs, longAwayMs * 1.2) : rand(300, 8000));
      while (Date.now() < awayUntil && !stopped()) await sleep(Math.min(500, awayUntil - Date.now()));
      // At the end of the run every churner comes back, so its last absence is judged too.
      c.open(Math.floor(Math.random() * c.urls.length));
    }
  }
}
