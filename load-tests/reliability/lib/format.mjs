/* How figures read in the report table: short, with their unit, "n/a" when there is no sample. */

const num = (x, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : Number(x.toFixed(d)).toLocaleString('en-US'));

export const ms = (x) => (x === null || x === undefined ? 'n/a' : x >= 10000 ? `${num(x / 1000, 1)} s` : `${num(x, x >= 100 ? 0 : 1)} ms`);

/** `p50 1.2 / p99 3.4 ms` of a summary() */
export const lat = (s) => (!s || s.n === 0 ? 'n/a (no samples)' : `p50 ${num(s.p50)} / p99 ${num(s.p99)} ms`);

/** `before p50 … · during … · after …` of byPhase() output, in the given order. */
export function latPhases(phases, order = Object.keys(phases)) {
  return order.map((k) => `${k} ${lat(phases[k])}`).join(' · ');
}

/** `before 80 / peak 95 / end 85 MiB` of MemorySampler.window(): before it, its highest, its last sample. */
export const rss = (w) => `before ${num(w.before, 0)} / peak ${num(w.peak, 0)} / end ${num(w.atEnd, 0)} MiB`;

/** `200: 120, 503 SERVICE_UNAVAILABLE: 30` */
export function counts(obj) {
  const e = Object.entries(obj ?? {}).sort((a, b) => b[1] - a[1]);
  return e.length ? e.map(([k, v]) => `${k}: ${v.toLocaleString('en-US')}`).join(', ') : 'none';
}

export const int = (x) => (x === null || x === undefined ? 'n/a' : Math.round(x).toLocaleString('en-US'));
export { num };
