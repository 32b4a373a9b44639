import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const SERVER_ENTRY = join(ROOT, 'dist', 'server', 'src', 'main.js');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Compiles the server when dist/ is missing or older than its sources: tests that run what
 * production runs (PM2 starts `node dist/...`) must not test a stale build.
 */
export function ensureServerBuilt(): void {
  if (existsSync(SERVER_ENTRY) && statSync(SERVER_ENTRY).mtimeMs >= newest(join(ROOT, 'server', 'src'))) return;
  const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`server build failed:\n${r.stdout}${r.stderr}`);
}
