import type { MetricsSample, ProtectionCounter } from '../lib/types';
import { num } from '../lib/format';
import { inWindow, LineChart } from './line-chart';

/** The five counters, in the order the panel lists them, each with what it means in one line. */
export const PROTECTIONS: { key: ProtectionCounter; label: string; color: string; hint: string }[] = [
  { key: 'handshakeRefusals', label: 'Handshake refusals', color: 'var(--c1)', hint: 'Handshakes refused by a rate limit (per address, per app, or the node’s handshake budget), or by a node shutting down.' },
  { key: 'floodDisconnects', label: 'Flood disconnects', color: 'var(--c4)', hint: 'Sockets cut for sending client events far faster than RATE_LIMIT_EVENTS allows.' },
  { key: 'slowConsumerDisconnects', label: 'Slow-consumer disconnects', color: 'var(--c3)', hint: 'Sockets cut because their unsent data exceeded MAX_SOCKET_BUFFER_BYTES (the client stopped reading).' },
  { key: 'interruptedRecoveries', label: 'Interrupted recoveries', color: 'var(--c5)', hint: 'Replays of missed messages cut off because the socket went away or stopped reading.' },
  { key: 'caughtUp', label: 'Caught up', color: 'var(--c2)', hint: 'Pushes a node missed on the cluster bus and then delivered from history.' },
];

/** Each counter summed over the samples (they are counts per interval, so the sum is the window's total). */
export function protectionTotals(samples: MetricsSample[]): Record<ProtectionCounter, number> {
  const totals = Object.fromEntries(PROTECTIONS.map((p) => [p.key, 0])) as Record<ProtectionCounter, number>;
  for (const s of samples) for (const p of PROTECTIONS) totals[p.key] += s[p.key] ?? 0;
  return totals;
}

/**
 * What the nodes had to do to protect themselves or to repair delivery, over the last 15 minutes:
 * the cluster's counts per 2 s slot as lines, and the window's totals with what each one means.
 */
export function Protections({ samples, now }: { samples: MetricsSample[]; now: number }) {
  const totals = protectionTotals(inWindow(samples, now));
  return (
    <div className="charts">
      <LineChart
        title="Protections per 2 s"
        samples={samples}
        now={now}
        format={num}
        series={PROTECTIONS.map((p) => ({ label: p.label.toLowerCase(), color: p.color, hint: p.hint, pick: (s: MetricsSample) => s[p.key] ?? null }))}
      />
      <div className="card protections" data-testid="protections">
        <h3>Totals, last 15 minutes</h3>
        <ul>
          {PROTECTIONS.map((p) => (
            <li key={p.key} title={p.hint} data-protection={p.key}>
              <i style={{ background: p.color }} aria-hidden="true" />
              <span className="protection-name">
                {p.label}
                <span className="protection-hint">{p.hint}</span>
              </span>
              <b data-fact={p.key} className={totals[p.key] > 0 ? 'text-warn' : undefined}>
                {num(totals[p.key])}
              </b>
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}
