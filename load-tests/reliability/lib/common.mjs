/*
 * Small helpers shared by the reliability runner, its scenarios and its client worker: clocks,
 * percentiles, child-process bookkeeping (every child is killed on exit, on a signal and at the
 * deadline) and the secrets every process of one run shares.
 */
import { randomBytes } from 'node:crypto';
import { guardRun } from '../../lib/procs.mjs';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes of one machine. */
export const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let logPrefix = 'reliability';
export function setLogPrefix(p) {
  logPrefix = p;
}
export const log = (...a) => process.stderr.write(`[${logPrefix} ${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);

export function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([promise, new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms)))]).finally(() => clearTimeout(t));
}

/** Polls `fn` until it returns a truthy value; resolves with that value, or with null once `ms` passed. */
export async function until(fn, ms, everyMs = 50) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) return null;
    await sleep(everyMs);
  }
}

/** Nearest-rank percentile of an ascending array (null when empty). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** { n, p50, p99, max } of a list of numbers, rounded to 0.1. */
export function summary(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const r = (x) => (x === null ? null : Math.round(x * 10) / 10);
  return { n: s.length, p50: r(percentile(s, 50)), p99: r(percentile(s, 99)), max: r(s.length ? s[s.length - 1] : null) };
}

/**
 * Splits timed samples `[t, value]` into named phases, each `{ name, from, to }` (ms since the
 * epoch, `to` null = open-ended), and summarises each phase.
 */
export function byPhase(samples, phases) {
  const out = {};
  for (const ph of phases) {
    out[ph.name] = summary(samples.filter(([t]) => t >= ph.from && (ph.to === null || t < ph.to)).map(([, v]) => v));
  }
  return out;
}

export function countBy(xs, key = (x) => x) {
  const out = {};
  for (const x of xs) {
    const k = key(x);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

// ---------- children ----------
// One registry for the bench and the runner: a tracked child, and what it forked, is SIGKILLed when the run ends.
export { track, killAll as killAllChildren } from '../../lib/procs.mjs';

/** Hard deadline and signal handling for the whole run: nothing outlives the runner. */
export function installGuards(deadlineS, onDeadline = () => undefined) {
  const deadline = guardRun(deadlineS, log, { onDeadline });
  deadline.unref();
  return deadline;
}

// ---------- one run's secrets ----------
/** Made once per run by the runner and handed to every pushgate node and client worker through the environment. */
export function runSecrets() {
  return {
    jwtSecret: process.env.RELIABILITY_JWT_SECRET ?? randomBytes(32).toString('base64url'),
    adminKey: process.env.RELIABILITY_ADMIN_KEY ?? `k_rel_admin_${randomBytes(18).toString('base64url')}`,
    floodKey: process.env.RELIABILITY_FLOOD_KEY ?? `k_rel_flood_${randomBytes(18).toString('base64url')}`,
    backendSecret: randomBytes(32).toString('base64url'),
  };
}
