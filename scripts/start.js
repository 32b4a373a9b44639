#!/usr/bin/env node
// `npm start`: build when the compiled output is missing or older than any source file, then run.
// The same for the dashboard (scripts/build-dashboard.js).
// Under PM2 or Docker run `node dist/server/src/main.js` directly instead.
const { statSync, readdirSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
const entry = join(root, 'dist/server/src/main.js');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

if (!existsSync(entry) || statSync(entry).mtimeMs < newest(join(root, 'server/src'))) {
  process.stdout.write('pushgate: building (tsc)...\n');
  const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
// The dashboard's static export: rebuilt only when missing or older than its sources, so a machine
// that already built it starts at once. A failed build leaves the API up (the dashboard answers 503).
require('./build-dashboard').ensureDashboard();
require(entry);
