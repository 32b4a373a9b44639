import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/*
 * The soak (load-tests/soak.mjs, `npm run soak`) for 45 s: two pushgate processes, a private
 * redis-server, steady numbered pushes, connection and room churn. Asserted here is what holds
 * whatever the machine's speed: nothing owed is lost, nothing is delivered twice or out of order,
 * no node crashes, every process ends, presence keys go when the clients do, and the other key
 * families stay within the bounds their TTLs imply. Memory slopes are figures for the 10-minute
 * report, not assertions.
 */

const ROOT = join(__dirname, '..', '..');
const MINUTES = 0.75;

interface Tally {
  expected: number;
  received: number;
  lost: number;
  excused: number;
  duplicated: number;
  outOfOrder: number;
  lostSamples: unknown[];
}

interface SoakResult {
  minutes: number;
  held: Record<string, boolean>;
  pass: boolean;
  figures: {
    pushes: { sent: number; failed: number };
    messages: { trackers: Tally; churners: Tally; malformed: number; wrongStream: number };
    recovery: { reports: number; recoveredTrue: number; falseWithinWindow: number; falseWithinWindowSamples: unknown[] };
    connections: { opened: number; closed: number; graceful: number; cutTcp: number; allCameBack: boolean };
    rooms: { joined: number; left: number; oneOff: number };
    redis: {
      families: Record<string, { max: number | null; afterClose: number; maxBound: number; withinBound: boolean }>;
      boundViolations: unknown[];
      boundViolationCount: number;
      maxEntriesPerStream: number;
      presenceGoneMs: number | null;
      presenceAfterClose: Record<string, number>;
    };
    nodes: Record<string, { code: number | null; signal: string | null; crashedBeforeStop: boolean }>;
    crashes: unknown[];
    processes: { started: { name: string; pid: number }[]; leftRunning: number[] };
    settings: { HISTORY_SIZE: string; trackers: number; churners: number };
  };
}

/** A process that is gone, or a zombie waiting to be reaped, has ended. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('soak (45 s, two nodes as processes, churn)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-soak-test-'));
  const out = join(dir, 'soak.json');
  let child: ChildProcess | null = null;
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  let stdout = '';
  let stderr = '';
  let r: SoakResult;

  beforeAll(async () => {
    const proc = spawn(process.execPath, [join(ROOT, 'load-tests', 'soak.mjs'), '--minutes', String(MINUTES), '--out', out, '--quiet', '--deadline-s', '200'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    exit = await new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    child = null;
    process.stdout.write(`${stdout}\n`);
    if (!existsSync(out)) throw new Error(`the soak wrote no result (exit ${exit.code ?? exit.signal}): ${stderr.slice(-3000)}`);
    r = JSON.parse(readFileSync(out, 'utf8')) as SoakResult;
  }, 240_000);

  afterAll(() => {
    // Only if the test itself timed out: the soak kills its own children on SIGTERM.
    if (child && child.exitCode === null) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('ran the load it is meant to: pushes, churned connections, room joins and leaves, recoveries', () => {
    const f = r.figures;
    // The load phase ends early only when a node exits under it.
    expect(r.minutes).toBeGreaterThanOrEqual(MINUTES);
    expect(f.pushes.sent).toBeGreaterThan(500);
    expect(f.connections.opened).toBeGreaterThan(f.settings.trackers + f.settings.churners);
    expect(f.connections.graceful).toBeGreaterThan(0);
    expect(f.connections.cutTcp).toBeGreaterThan(0);
    expect(f.rooms.left).toBeGreaterThan(0);
    expect(f.rooms.oneOff).toBeGreaterThan(0);
    expect(f.recovery.reports).toBeGreaterThan(0);
    expect(f.recovery.recoveredTrue).toBeGreaterThan(0);
  });

  it('loses nothing owed: 0 lost for the tracking clients and for churning clients whose history covered their absence', () => {
    const { trackers, churners } = r.figures.messages;
    expect(trackers.expected).toBeGreaterThan(0);
    expect(churners.expected).toBeGreaterThan(0);
    expect({ lost: trackers.lost, samples: trackers.lostSamples }).toEqual({ lost: 0, samples: [] });
    expect({ lost: churners.lost, samples: churners.lostSamples }).toEqual({ lost: 0, samples: [] });
    expect({ falseWithinWindow: r.figures.recovery.falseWithinWindow, samples: r.figures.recovery.falseWithinWindowSamples }).toEqual({ falseWithinWindow: 0, samples: [] });
    expect(r.figures.connections.allCameBack).toBe(true);
  });

  it('delivers every message once and in order, each push answered 2xx', () => {
    const { trackers, churners, malformed, wrongStream } = r.figures.messages;
    expect({ dup: trackers.duplicated + churners.duplicated, order: trackers.outOfOrder + churners.outOfOrder, malformed, wrongStream }).toEqual({ dup: 0, order: 0, malformed: 0, wrongStream: 0 });
    expect(r.figures.pushes.failed).toBe(0);
  });

  it('no node crashed, both drained with exit 0, and every process the soak started has ended', () => {
    expect(r.figures.crashes).toEqual([]);
    for (const [name, e] of Object.entries(r.figures.nodes)) expect({ name, code: e.code, crashedBeforeStop: e.crashedBeforeStop }).toEqual({ name, code: 0, crashedBeforeStop: false });
    expect(r.figures.processes.started.map((p) => p.name).sort()).toEqual(['redis-server', 'soak-a', 'soak-b']);
    expect(r.figures.processes.leftRunning).toEqual([]);
    expect(r.figures.processes.started.filter((p) => running(p.pid))).toEqual([]);
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it('leaves no sock/user/room keys once the clients closed, and keeps msg, hist and hmeta within their TTL bounds', () => {
    const redis = r.figures.redis;
    expect(redis.presenceGoneMs).not.toBeNull();
    expect(Object.values(redis.presenceAfterClose).every((n) => n === 0)).toBe(true);
    for (const fam of ['sock', 'user', 'room', 'roomu']) expect({ fam, afterClose: redis.families[fam]?.afterClose ?? 0 }).toEqual({ fam, afterClose: 0 });
    expect({ violations: redis.boundViolationCount, first: redis.boundViolations }).toEqual({ violations: 0, first: [] });
    for (const fam of ['msg', 'hist', 'hmeta']) {
      const v = redis.families[fam]!;
      expect(v.max).toBeGreaterThan(0);
      expect(v.max!).toBeLessThanOrEqual(v.maxBound);
    }
    expect(redis.maxEntriesPerStream).toBeLessThanOrEqual(Number(r.figures.settings.HISTORY_SIZE));
    expect(Object.keys(redis.families).sort()).toEqual(expect.arrayContaining(['hist', 'hmeta', 'msg', 'sock']));
    expect(Object.keys(redis.families).filter((f) => !['sock', 'user', 'users', 'room', 'rooms', 'roomu', 'node', 'nodes', 'owners', 'msg', 'part', 'hist', 'hmeta'].includes(f))).toEqual([]);
    expect(r.pass).toBe(true);
  });
});
