#!/usr/bin/env node
// Compiles the server (tsc -p tsconfig.build.json → dist/) when dist is missing or older than
// server/src. Used by `npm start` (scripts/start.js) and by the tests that run what production
// runs (PM2 starts `node dist/server/src/main.js`).
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
const entry = join(root, 'dist', 'server', 'src', 'main.js');

/** Newest modification time under `path` (a file or a folder), 0 when it does not exist. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = st.mtimeMs;
  for (const e of readdirSync(path)) t = Math.max(t, newest(join(path, e)));
  return t;
}

/**
 * Builds when stale. `quiet` captures tsc's output (tests) instead of printing it. Throws with
 * tsc's output when the build fails.
 */
function ensureServer({ quiet = false } = {}) {
  if (existsSync(entry) && statSync(entry).mtimeMs >= newest(join(root, 'server', 'src'))) return;
  if (!quiet) process.stdout.write('pushgate: building (tsc)...\n');
  const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
    cwd: root,
    stdio: quiet ? 'pipe' : 'inherit',
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`server build failed${quiet ? `:\n${r.stdout}${r.stderr}` : ''}`);
}

module.exports = { ensureServer, newest, entry };
