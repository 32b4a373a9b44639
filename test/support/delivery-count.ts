import request from 'supertest';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import { ADMIN_KEY, makeToken } from './node';

/**
 * Numbered messages through a real push API, and a plain socket.io-client that keeps its last offset
 * per stream and recovers on every reconnect: what a test needs to count lost, duplicated and
 * out-of-order deliveries while something breaks.
 */

export interface Tally {
  sent: number;
  received: number;
  lost: number;
  duplicated: number;
  /** Second deliveries of numbers the caller excused (e.g. retried after Redis lost its memory of the id). */
  duplicatedExcused: number;
  outOfOrder: number;
}

/** A push answered later than this counts as hung. */
export const REQUEST_TIMEOUT_MS = 5000;

/** Pushes message 1, 2, 3… to one target at a steady pace, one at a time (so their order is defined). */
export class SteadySender {
  /** Numbers the API answered 2xx for. */
  readonly sent: number[] = [];
  /** Numbers that were refused at least once before their 2xx. */
  readonly retried = new Set<number>();
  refused = 0;
  /** Requests with no answer within REQUEST_TIMEOUT_MS: a hang, which the API must never do. */
  hung = 0;
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly url: () => string,
    private readonly target: { users: string[] } | { rooms: string[] },
    private readonly event: string,
    everyMs: number,
    private readonly idPrefix: string,
  ) {
    this.done = this.loop(everyMs);
  }

  private async loop(everyMs: number): Promise<void> {
    for (let n = 1; this.running; n++) {
      const started = Date.now();
      // A refused push (503 while a node or Redis is away) is retried with the same id: the API promises it is then delivered once.
      for (let attempt = 0; this.running; attempt++) {
        const res = await request(this.url())
          .post('/api/v1/push')
          .set('Authorization', `Bearer ${ADMIN_KEY}`)
          .timeout(REQUEST_TIMEOUT_MS)
          .send({ ...this.target, event: this.event, data: { n }, id: `${this.idPrefix}-${n}` })
          .catch((err: { timeout?: number }) => {
            if (err.timeout) this.hung += 1;
            return null;
          });
        if (res && res.status === 200) {
          this.sent.push(n);
          break;
        }
        this.refused += 1;
        this.retried.add(n);
        await new Promise((r) => setTimeout(r, 50));
      }
      const wait = everyMs - (Date.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** Sends `more` messages after the ones so far, then stops. */
  async stopAfter(more: number): Promise<void> {
    const until = this.sent.length + more;
    while (this.sent.length < until) await new Promise((r) => setTimeout(r, 10));
    this.running = false;
    await this.done;
  }
}

export interface RecoveredReport {
  streams: Record<string, { recovered: boolean; replayed: number; offset?: string; error?: { code: string } }>;
}

/** A user's socket that remembers `meta.offset` per stream and sends them as `auth.recover` on each (re)connection. */
export class RecoveringClient {
  readonly socket: ClientSocket;
  readonly offsets: Record<string, string> = {};
  /** Per event name, the `data.n` of each delivery in arrival order. */
  readonly got = new Map<string, number[]>();
  readonly recovered: RecoveredReport[] = [];
  readonly welcomes: { nodeId: string }[] = [];

  constructor(url: string, userId: string, rooms: string[], opts: { recoverOnConnect?: boolean } = {}) {
    const token = makeToken({ sub: userId, rooms }, { expiresIn: 3600 });
    const recoverOnConnect = opts.recoverOnConnect ?? true;
    this.socket = ioClient(url, {
      forceNew: true,
      transports: ['websocket'],
      reconnectionDelay: 50,
      reconnectionDelayMax: 200,
      randomizationFactor: 0,
      auth: (cb) => cb(recoverOnConnect && Object.keys(this.offsets).length > 0 ? { token, recover: { ...this.offsets } } : { token }),
    });
    this.socket.on('welcome', (w: { nodeId: string; offsets?: Record<string, string> }) => {
      this.welcomes.push(w);
      for (const [s, o] of Object.entries(w.offsets ?? {})) this.offsets[s] ??= o;
    });
    this.socket.on('recovered', (r: RecoveredReport) => {
      this.recovered.push(r);
      for (const [s, v] of Object.entries(r.streams)) if (v.offset) this.offsets[s] = v.offset;
    });
    this.socket.onAny((event: string, data: unknown, meta: unknown) => {
      const m = meta as { stream?: string; offset?: string } | undefined;
      const n = (data as { n?: unknown } | null)?.n;
      if (typeof n !== 'number') return;
      if (m?.stream && m.offset) this.offsets[m.stream] = m.offset;
      let list = this.got.get(event);
      if (!list) this.got.set(event, (list = []));
      list.push(n);
    });
  }

  /** room:join through the acknowledgement; the join's offset is where the room's stream starts for this client. */
  async join(room: string): Promise<void> {
    const ack = (await this.socket.timeout(10_000).emitWithAck('room:join', { room })) as { ok: boolean; data?: { offset?: string }; error?: unknown };
    if (!ack.ok) throw new Error(`room:join ${room} refused: ${JSON.stringify(ack.error)}`);
    if (ack.data?.offset) this.offsets[room] ??= ack.data.offset;
  }

  /** Resolves on the next `welcome` (a connection, or a reconnection, is set up). */
  nextWelcome(ms = 20_000): Promise<{ nodeId: string }> {
    return this.nextOf('welcome', ms) as Promise<{ nodeId: string }>;
  }

  nextRecovered(ms = 20_000): Promise<RecoveredReport> {
    return this.nextOf('recovered', ms) as Promise<RecoveredReport>;
  }

  private nextOf(event: string, ms: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
      this.socket.once(event, (p: unknown) => {
        clearTimeout(t);
        resolve(p);
      });
    });
  }

  /** Waits until message `n` of `event` arrived (or the time is up; the tally then shows what is missing). */
  async waitFor(event: string, n: number, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(this.got.get(event) ?? []).includes(n) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /** `excused`: numbers whose duplicates are explained (see the caller), counted apart in `duplicatedExcused`. */
  tally(event: string, sent: number[], excused: ReadonlySet<number> = new Set()): Tally {
    const got = this.got.get(event) ?? [];
    const seen = new Set<number>();
    let duplicated = 0;
    let duplicatedExcused = 0;
    let outOfOrder = 0;
    let highest = 0;
    for (const n of got) {
      if (seen.has(n)) {
        if (excused.has(n)) duplicatedExcused += 1;
        else duplicated += 1;
        continue;
      }
      seen.add(n);
      if (n < highest) outOfOrder += 1;
      highest = Math.max(highest, n);
    }
    return { sent: sent.length, received: seen.size, lost: sent.filter((n) => !seen.has(n)).length, duplicated, duplicatedExcused, outOfOrder };
  }

  close(): void {
    this.socket.disconnect();
  }
}
