import type { MetricsSample } from '@contracts/api';

export interface ChartSeries {
  label: string;
  /** A CSS colour (a variable from globals.css). */
  color: string;
  pick: (s: MetricsSample) => number | null;
  /** What the line means, shown as the legend item's tooltip. */
  hint?: string;
}

const W = 600;
const H = 150;
/** What the charts show: the last 15 minutes (the server keeps 450 samples of 2 s). */
export const WINDOW_MS = 15 * 60 * 1000;

/** The samples a chart ending at `now` (or at the newest sample, if later) shows. */
export function inWindow(samples: MetricsSample[], now: number): MetricsSample[] {
  const end = samples.length ? Math.max(now, samples[samples.length - 1]!.t) : now;
  return samples.filter((s) => s.t >= end - WINDOW_MS);
}

/** 1, 2, 5 × 10^n at or above v, so the axis reads in round numbers. */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

/**
 * The last 15 minutes as plain SVG lines. Gaps (null values: no push in that interval, or a missing
 * sample) break the line instead of being drawn as zero.
 */
export function LineChart({ title, samples, series, format, now }: { title: string; samples: MetricsSample[]; series: ChartSeries[]; format: (v: number | null) => string; now: number }) {
  const end = samples.length ? Math.max(now, samples[samples.length - 1]!.t) : now;
  const start = end - WINDOW_MS;
  const visible = inWindow(samples, now);
  let max = 0;
  for (const s of visible) for (const ser of series) max = Math.max(max, ser.pick(s) ?? 0);
  const top = niceMax(max);
  const x = (t: number) => ((t - start) / WINDOW_MS) * W;
  const y = (v: number) => H - (v / top) * (H - 4) - 2;

  const paths = series.map((ser) => {
    let d = '';
    let prevT = -Infinity;
    for (const s of visible) {
      const v = ser.pick(s);
      // A hole of more than two sample periods (node restarted, tab slept) is shown as a hole.
      if (v === null || s.t - prevT > 5000) {
        prevT = v === null ? -Infinity : s.t;
        if (v === null) continue;
        d += `M${x(s.t).toFixed(1)},${y(v).toFixed(1)}`;
        continue;
      }
      d += `L${x(s.t).toFixed(1)},${y(v).toFixed(1)}`;
      prevT = s.t;
    }
    return d;
  });
  const last = visible[visible.length - 1];

  return (
    <figure className="chart">
      <figcaption>
        <span className="chart-title">{title}</span>
        <span className="legend">
          {series.map((ser) => (
            <span key={ser.label} className="legend-item" data-series={ser.label} title={ser.hint}>
              <i style={{ background: ser.color }} aria-hidden="true" />
              {ser.label} <b>{last ? format(ser.pick(last)) : '–'}</b>
            </span>
          ))}
        </span>
      </figcaption>
      <div className="chart-plot">
        <span className="chart-max">{format(top)}</span>
        <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${title}, last 15 minutes`}>
          {[0.25, 0.5, 0.75].map((f) => (
            <line key={f} x1={0} x2={W} y1={H * f} y2={H * f} className="grid" />
          ))}
          <line x1={0} x2={W} y1={H - 0.5} y2={H - 0.5} className="axis" />
          {paths.map((d, i) => (d ? <path key={series[i]!.label} d={d} stroke={series[i]!.color} className="line" /> : null))}
        </svg>
        {visible.length === 0 ? <span className="chart-empty">No samples yet</span> : null}
      </div>
      <div className="chart-axis">
        <span>−15 min</span>
        <span>−10</span>
        <span>−5</span>
        <span>now</span>
      </div>
    </figure>
  );
}

/** A tiny trend line for a node card. */
export function Sparkline({ values, label }: { values: number[]; label: string }) {
  if (values.length < 2) return null;
  const top = niceMax(Math.max(...values));
  const w = 120;
  const h = 28;
  const d = values.map((v, i) => `${i ? 'L' : 'M'}${((i / (values.length - 1)) * w).toFixed(1)},${(h - (v / top) * (h - 2) - 1).toFixed(1)}`).join('');
  return (
    <svg className="sparkline" viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" role="img" aria-label={label}>
      <path d={d} className="line" stroke="var(--accent)" />
    </svg>
  );
}
