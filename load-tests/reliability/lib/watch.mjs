/*
 * What a scenario watches while it breaks things: named phases on one clock, every node's
 * /health/ready and /health/live polled at a fixed period (transitions kept), and /metrics scraped
 * periodically for the series a scenario needs.
 */
import { now } from './common.mjs';
import { metricSum, request, scrapeMetrics } from './http.mjs';

export class Phases {
  constructor() {
    this.list = [];
  }

  start(name) {
    const t = now();
    this.end(t);
    this.list.push({ name, from: t, to: null });
    return t;
  }

  end(t = now()) {
    const last = this.list[this.list.length - 1];
    if (last && last.to === null) last.to = t;
  }

  get(name) {
    return this.list.find((p) => p.name === name);
  }
}

/** Polls /health/ready and /health/live of each node every `everyMs`; a poll never waits more than 2 s. */
export class HealthMonitor {
  constructor(nodes, everyMs = 100) {
    this.nodes = nodes;
    this.samples = new Map(nodes.map((n) => [n.name, []]));
    this.running = true;
    this.loops = nodes.map((n) => this.loop(n, everyMs));
  }

  async loop(node, everyMs) {
    while (this.running) {
      const at = now();
      const [ready, live] = await Promise.all([
        request(node.url, { path: '/health/ready', timeoutMs: 2000 }),
        request(node.url, { path: '/health/live', timeoutMs: 2000 }),
      ]);
      this.samples.get(node.name).push({ at, ready: ready.status ?? ready.error, live: live.status ?? live.error, ms: Math.max(ready.ms, live.ms) });
      const wait = everyMs - (now() - at);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  async stop() {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** First sample at or after `t` whose readiness is `status`: its time, or null. */
  firstReady(name, t, status) {
    return this.samples.get(name).find((s) => s.at >= t && s.ready === status)?.at ?? null;
  }

  /** Every sample of /health/live answered 200 (while the process was meant to be up). */
  alwaysLive(name, from = 0, to = Infinity) {
    return this.samples.get(name).filter((s) => s.at >= from && s.at < to).every((s) => s.live === 200);
  }

  slowestPoll(name) {
    return Math.max(0, ...this.samples.get(name).map((s) => s.ms));
  }
}

/** Scrapes /metrics every `everyMs`: `[t, { series: value }]` per scrape. */
export class MetricsWatcher {
  constructor(url, everyMs = 1000, prefix = 'pushgate_') {
    this.url = url;
    this.scrapes = [];
    this.running = true;
    this.done = (async () => {
      while (this.running) {
        const at = now();
        const m = await scrapeMetrics(url, prefix);
        if (Object.keys(m).length) this.scrapes.push([at, m]);
        const wait = everyMs - (now() - at);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();
  }

  async stop() {
    this.running = false;
    await this.done;
  }

  /** [t, value] of a metric over the run (its series summed, optionally only those whose labels contain `labelPart`). */
  series(name, labelPart = '') {
    return this.scrapes.map(([t, m]) => [t, metricSum(m, name, labelPart)]);
  }
}
