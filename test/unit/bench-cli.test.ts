import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// Behaviour only: the benchmark's command line answers without starting anything. Its
// measurements are not part of the test suite (see docs/benchmarks.md).
const ROOT = join(__dirname, '..', '..');
const run = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'load-tests/bench/run.mjs'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });

describe('npm run bench command line', () => {
  it('--help lists the scenarios and the quick mode and exits 0', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--quick');
    expect(r.stdout).toContain('fanout, latency, memory, http, cluster');
  });

  it('refuses an unknown option or scenario with exit code 2 and the usage', () => {
    const bad = run(['--frobnicate']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown option --frobnicate');
    const scenario = run(['--only', 'nope']);
    expect(scenario.status).toBe(2);
    expect(scenario.stderr).toContain('unknown scenario nope');
  });
});
