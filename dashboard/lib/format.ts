const nf = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

export function num(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 10_000) return new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 }).format(n);
  return nf.format(n);
}

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return n < 10 ? `${n.toFixed(2)} ms` : `${Math.round(n)} ms`;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** 3 s, 4 min, 2 h 5 min, 3 d 4 h. */
export function duration(msec: number): string {
  const s = Math.max(0, Math.round(msec / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function ago(t: number, now: number): string {
  return `${duration(now - t)} ago`;
}

export function clock(t: number | string): string {
  return new Date(t).toLocaleTimeString('en-GB', { hour12: false });
}

export function dateTime(t: number | string): string {
  const d = new Date(t);
  return `${d.toLocaleDateString('en-CA')} ${d.toLocaleTimeString('en-GB', { hour12: false })}`;
}

/** "in 3 s" until `t`; "now" once it has passed. */
export function until(t: number, now: number): string {
  return t - now < 500 ? 'now' : `in ${duration(t - now)}`;
}
