/*
 * Small helpers shared by the benchmark: statistics, child-process bookkeeping (every child killed
 * on exit, signal or deadline), CPU placement with taskset, and per-process counters read from
 * /proc (CPU time, write syscalls, RSS) for any process, Node or not.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

// ---------- statistics ----------
export const median = (xs) => {
  const s = (xs ?? []).filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** p-th percentile of an ascending array (nearest rank, lower). */
export const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([promise, new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms)))]).finally(() => clearTimeout(t));
}

// ---------- children ----------

/**
 * Keeps the last 4,000 characters a child printed in `holder.tail` (for a start-up error) and sets
 * `holder.exited`, resolved with { code, signal } when it ends.
 */
export function watchChild(child, holder) {
  holder.tail = '';
  const keep = (b) => (holder.tail = (holder.tail + b.toString()).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  holder.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}

/** Whether `url` answered 2xx within `ms`; false as soon as `exited` resolves (the server died). */
export async function answersWithin(url, exited, ms) {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + ms;
  while (!gone && Date.now() < deadline) {
    if (await fetch(url).then((r) => r.ok, () => false)) return true;
    await sleep(100);
  }
  return false;
}
const children = new Set();

/** Registers a child so killAll() reaches it; returns it. */
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGKILLs every tracked child that is still running and the descendants it forked; removes the temp dirs. */
export function killAll() {
  const tree = children.size ? parentMap() : new Map();
  for (const c of children) {
    if (c.pid) for (const pid of descendants(c.pid, tree)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const dir of [...tempDirs]) removeTempDir(dir);
}

/**
 * Ends the run whatever happens: at `deadlineS` seconds and on SIGINT, SIGTERM or SIGHUP every
 * tracked child is killed (killAll()) and the process exits (3 at the deadline, 130 on a signal,
 * after `onDeadline` at the deadline); killAll() also runs on any exit. Returns the deadline's
 * timer: clear it when the run ends well.
 */
export function guardRun(deadlineS, log, { onDeadline = () => undefined } = {}) {
  const deadline = setTimeout(() => {
    log(`deadline of ${deadlineS} s reached: stopping everything`);
    onDeadline();
    killAll();
    process.exit(3);
  }, deadlineS * 1000);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      log(`${sig}: stopping everything`);
      killAll();
      process.exit(130);
    });
  }
  process.on('exit', killAll);
  return deadline;
}

/** Runs `main`; exits 0 when it resolves, or logs the error, kills every tracked child and exits 1. */
export function runMain(main, log) {
  main().then(
    () => process.exit(0),
    (err) => {
      log(`failed: ${err?.stack ?? err}`);
      killAll();
      process.exit(1);
    },
  );
}

/** `parse(argv)`, or, when it throws, its message and `help` on stderr and exit status 2. */
export function parseOrExit(parse, argv, help) {
  try {
    return parse(argv);
  } catch (err) {
    process.stderr.write(`${err.message}\n\n${help}\n`);
    process.exit(2);
  }
}

const tempDirs = new Set();

/** A fresh directory under the OS temp dir, removed by removeTempDir() or, at the latest, by killAll(). */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  tempDirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

// ---------- placement ----------
/** CPU numbers this process may run on (Cpus_allowed_list), ascending. */
export function allowedCpus() {
  const text = existsSync('/proc/self/status') ? readFileSync('/proc/self/status', 'utf8') : '';
  const list = /Cpus_allowed_list:\s*(\S+)/.exec(text)?.[1];
  if (!list) return [];
  const out = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let i = a; i <= (b ?? a); i++) out.push(i);
  }
  return out;
}

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p)) ?? null;

/**
 * Servers under test on the last allowed CPU, everything else (subscribers, publisher, this
 * orchestrator) on the others. `prefix(role)` is the argv prefix that pins a new process: role
 * 'server' or 'client' as above, 'any' for every allowed CPU (children otherwise inherit the
 * orchestrator's pinning), 'cpu:<n>' for CPU n alone. `cpus`: the allowed CPUs, read before
 * anything was pinned.
 */
export function placement(enabled = true) {
  const cpus = allowedCpus();
  const none = (reason) => ({ pinned: false, reason, cpus, serverCpus: null, clientCpus: null, prefix: () => [] });
  if (!enabled) return none('disabled with --no-pin');
  if (!TASKSET) return none('taskset not found');
  if (cpus.length < 2) return none(`only ${cpus.length} CPU allowed`);
  const serverCpus = String(cpus[cpus.length - 1]);
  const clientCpus = cpus.slice(0, -1).join(',');
  const set = { server: serverCpus, client: clientCpus, any: cpus.join(',') };
  return {
    pinned: true,
    reason: null,
    cpus,
    serverCpus,
    clientCpus,
    prefix: (role) => [TASKSET, '-c', role.startsWith('cpu:') ? role.slice(4) : set[role]],
  };
}

/** Pins every thread of a running process (this orchestrator) to `cpus`. */
export function pinProcess(pid, cpus) {
  if (!TASKSET) return false;
  return spawnSync(TASKSET, ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' }).status === 0;
}

// ---------- /proc ----------
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;
const PAGE = Number(spawnSync('getconf', ['PAGESIZE']).stdout?.toString().trim()) || 4096;

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces), 0-based from `state`. */
function statFields(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

/** { cpuMs: utime+stime of all threads, rss (bytes), ppid } or null when the process is gone. */
export function procStat(pid) {
  try {
    const f = statFields(pid);
    // state=0, ppid=1, ..., utime=11, stime=12, ..., rss=21 (fields 3, 4, 14, 15, 24 in proc(5))
    return { ppid: Number(f[1]), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK, rss: Number(f[21]) * PAGE };
  } catch {
    return null;
  }
}

/** Write-family syscalls (write, writev, …; not send/sendto/sendmsg) of all threads, or null. */
export function procSyscw(pid) {
  try {
    return Number(/syscw:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);
  } catch {
    return null;
  }
}

/** pid → ppid of every process (scan of /proc). */
function parentMap() {
  const parent = new Map();
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    return parent;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const st = procStat(Number(e));
    if (st) parent.set(Number(e), st.ppid);
  }
  return parent;
}

/** pid and all its descendants. */
export function descendants(pid, parent = parentMap()) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i] && !out.includes(p)) out.push(p);
  return out;
}

/** Counters of a set of named processes: { name: { cpuMs, syscw, rss } }. */
export function snapshot(procs) {
  const out = {};
  for (const [name, pids] of Object.entries(procs)) {
    let cpuMs = 0;
    let syscw = 0;
    let rss = 0;
    for (const pid of pids) {
      const st = procStat(pid);
      if (!st) continue;
      cpuMs += st.cpuMs;
      rss += st.rss;
      syscw += procSyscw(pid) ?? 0;
    }
    out[name] = { cpuMs, syscw, rss };
  }
  return out;
}

/** after − before per name, for cpuMs and syscw (rss: the value after). */
export function diffSnapshot(before, after) {
  const out = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name] ?? { cpuMs: 0, syscw: 0 };
    out[name] = { cpuMs: a.cpuMs - b.cpuMs, syscw: a.syscw - b.syscw, rss: a.rss };
  }
  return out;
}
