/*
 * The backend's side of the traffic: a steady sender of numbered pushes with fixed ids (a refused
 * push is retried with the same id, as the contract asks), and the unaffected probe: a client of
 * its own that receives small timed pushes, whose latency tells whether others were touched.
 */
import { now, sleep } from './common.mjs';
import { TrackedClient } from './clients.mjs';
import { is2xx, outcome, request } from './http.mjs';

export class SteadySender {
  /**
   * @param opts { url: () => string, key, path, body: (n) => push body without id, everyMs, idPrefix,
   *   fresh (a new connection per request), pad }
   */
  constructor(opts) {
    this.opts = opts;
    /** Numbers answered 2xx. */
    this.sent = [];
    /** Every attempt: { at, ms, n, attempt, outcome }. */
    this.attempts = [];
    this.running = true;
    this.done = this.loop();
  }

  async loop() {
    const { everyMs } = this.opts;
    for (let n = 1; this.running; n++) {
      const started = Date.now();
      for (let attempt = 0; this.running || attempt > 0; attempt++) {
        const body = { ...this.opts.body(n), id: `${this.opts.idPrefix}-${n}` };
        const r = await request(this.opts.url(), { method: 'POST', path: this.opts.path, key: this.opts.key, body, fresh: this.opts.fresh });
        this.attempts.push({ at: r.at, ms: r.ms, n, attempt, outcome: outcome(r) });
        if (is2xx(r)) {
          this.sent.push(n);
          break;
        }
        // A message once refused is retried (same id) even after stop: the figures need its fate.
        if (attempt >= 60) break;
        await sleep(Math.min(500, 50 * (attempt + 1)));
      }
      const wait = everyMs - (Date.now() - started);
      if (wait > 0 && this.running) await sleep(wait);
    }
  }

  async stop() {
    this.running = false;
    await this.done;
  }

  /** Numbers that were refused at least once before being answered 2xx. */
  retriedThenSent() {
    const retried = new Set(this.attempts.filter((a) => a.attempt > 0).map((a) => a.n));
    return this.sent.filter((n) => retried.has(n));
  }
}

/**
 * A client that is not part of the fault or the flood: pushes to its own user every `everyMs` and
 * times each one from the push request to the delivery.
 */
export class Probe {
  constructor({ pushUrl, socketUrl, secret, key, userId = 'probe', everyMs = 100, localAddress }) {
    this.pushUrl = pushUrl;
    this.key = key;
    this.userId = userId;
    this.everyMs = everyMs;
    this.client = new TrackedClient(socketUrl, { secret, userId, localAddress });
    this.sent = [];
    this.refused = [];
    this.running = false;
  }

  async start() {
    if (!(await this.client.ready())) throw new Error('the probe client could not connect');
    this.running = true;
    this.done = this.loop();
  }

  async loop() {
    for (let n = 1; this.running; n++) {
      const started = Date.now();
      const r = await request(typeof this.pushUrl === 'function' ? this.pushUrl() : this.pushUrl, {
        method: 'POST',
        path: '/api/v1/push',
        key: this.key,
        body: { users: [this.userId], event: 'probe', data: { n, t: now() } },
      });
      if (is2xx(r)) this.sent.push(n);
      else this.refused.push({ at: r.at, n, outcome: outcome(r) });
      const wait = this.everyMs - (Date.now() - started);
      if (wait > 0) await sleep(wait);
    }
  }

  async stop() {
    this.running = false;
    await this.done;
    // Let the last deliveries arrive before counting.
    const last = this.sent[this.sent.length - 1];
    const deadline = Date.now() + 5000;
    while (last !== undefined && !(this.client.got.get('probe') ?? []).includes(last) && Date.now() < deadline) await sleep(20);
  }

  /** [t, ms] samples of this probe's deliveries. */
  samples() {
    return this.client.latency.filter(([, , e]) => e === 'probe').map(([t, ms]) => [t, ms]);
  }

  tally() {
    return { ...this.client.tally('probe', this.sent), refused: this.refused.length };
  }

  close() {
    this.running = false;
    this.client.close();
  }
}
