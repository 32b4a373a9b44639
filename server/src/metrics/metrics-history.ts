import type { MetricsSample } from '../contracts/api';
import type { Metrics } from './metrics';

/** 15 minutes at one sample every 2 s. */
export const HISTORY_SAMPLES = 450;
export const SAMPLE_EVERY_MS = 2000;

/**
 * The dashboard's charts, made from the very metric objects /metrics exports (no second
 * bookkeeping): every 2 s, read the counters and histogram, keep rates and percentiles of the
 * interval in a fixed ring.
 */
export class MetricsHistory {
  private readonly samples: MetricsSample[] = [];
  private last: Awaited<ReturnType<Metrics['read']>> | null = null;
  private timer: NodeJS.Timeout | null = null;

  /** @param cluster cluster-wide distinct users and rooms (presence), sampled with the node's own numbers. */
  constructor(
    private readonly metrics: Metrics,
    private readonly cluster: () => Promise<{ users: number; rooms: number }> = async () => ({ users: 0, rooms: 0 }),
  ) {}

  start(): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), SAMPLE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  list(): MetricsSample[] {
    return [...this.samples];
  }

  async sample(): Promise<void> {
    const [now, cluster] = await Promise.all([this.metrics.read(), this.cluster().catch(() => null)]);
    const prev = this.last;
    this.last = now;
    if (!prev) return;
    const secs = Math.max(0.001, (now.t - prev.t) / 1000);
    const rate = (a: number, b: number) => Math.max(0, (a - b) / secs);
    const buckets = now.pushBuckets.map((b, i) => ({ le: b.le, count: b.count - (prev.pushBuckets[i]?.count ?? 0) }));
    this.samples.push({
      t: now.t,
      sockets: now.sockets,
      users: now.users,
      rooms: now.rooms,
      pushedPerSec: rate(now.pushed, prev.pushed),
      deliveredPerSec: rate(now.delivered, prev.delivered),
      clientEventsPerSec: rate(now.clientEvents, prev.clientEvents),
      backendErrorsPerSec: rate(now.backendErrors, prev.backendErrors),
      pushP50Ms: quantileMs(buckets, 0.5),
      pushP99Ms: quantileMs(buckets, 0.99),
      rssBytes: now.rssBytes,
      heapUsedBytes: now.heapUsedBytes,
      eventLoopLagMs: now.eventLoopLagMs,
      clusterUsers: cluster?.users ?? null,
      clusterRooms: cluster?.rooms ?? null,
      caughtUp: count(now.caughtUp, prev.caughtUp),
      floodDisconnects: count(now.floodDisconnects, prev.floodDisconnects),
      slowConsumerDisconnects: count(now.slowConsumerDisconnects, prev.slowConsumerDisconnects),
      interruptedRecoveries: count(now.interruptedRecoveries, prev.interruptedRecoveries),
      handshakeRefusals: count(now.handshakeRefusals, prev.handshakeRefusals),
    });
    if (this.samples.length > HISTORY_SAMPLES) this.samples.splice(0, this.samples.length - HISTORY_SAMPLES);
  }
}

const count = (now: number, prev: number) => Math.max(0, now - prev);

/**
 * Percentile from cumulative histogram buckets (Prometheus' histogram_quantile, linear inside a
 * bucket). null when nothing was observed in the interval.
 */
export function quantileMs(cumulative: { le: number; count: number }[], q: number): number | null {
  const total = cumulative[cumulative.length - 1]?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of cumulative) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return prevLe * 1000;
      const inBucket = b.count - prevCount;
      const frac = inBucket > 0 ? (rank - prevCount) / inBucket : 0;
      return (prevLe + (b.le - prevLe) * frac) * 1000;
    }
    prevLe = Number.isFinite(b.le) ? b.le : prevLe;
    prevCount = b.count;
  }
  return prevLe * 1000;
}
