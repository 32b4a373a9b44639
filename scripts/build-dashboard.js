#!/usr/bin/env node
// Builds the dashboard's static export (dashboard/out) with `next build`, offline.
//   node scripts/build-dashboard.js            build only when out/ is missing or older than the sources
//   node scripts/build-dashboard.js --force    always build (what `npm run build` does)
// Used by `npm run build`, `npm start` (scripts/start.js) and the browser tests.
const { existsSync, statSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');
const { newest } = require('./build-server');

const root = join(__dirname, '..');
const dashboard = join(root, 'dashboard');
const stamp = join(dashboard, 'out', 'index.html');
// What the export is made from. Types shared from server/src/contracts are erased at build time,
// so they cannot make the output stale.
const SOURCES = ['app', 'components', 'lib', 'next.config.mjs', 'tsconfig.json'];

/** Why the export must be (re)built, or null when it is up to date. */
function staleReason() {
  if (!existsSync(stamp)) return 'dashboard/out is missing';
  const built = statSync(stamp).mtimeMs;
  const src = Math.max(...SOURCES.map((s) => newest(join(dashboard, s))));
  return src > built ? 'dashboard sources changed since the last build' : null;
}

/**
 * Builds when needed. Returns true when dashboard/out is usable afterwards. A machine without
 * Next installed (a production install that pruned devDependencies) keeps the export it shipped
 * with: it only warns.
 */
function ensureDashboard({ force = false, log = (s) => process.stdout.write(s) } = {}) {
  const reason = force ? 'forced' : staleReason();
  if (!reason) return true;
  let nextBin;
  try {
    nextBin = require.resolve('next/dist/bin/next', { paths: [root] });
  } catch {
    log(`pushgate: cannot build the dashboard (${reason}): next is not installed. Run npm install.\n`);
    return existsSync(stamp);
  }
  log(`pushgate: building the dashboard (${reason})...\n`);
  const r = spawnSync(process.execPath, [nextBin, 'build', dashboard], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
  });
  if (r.status !== 0) {
    log('pushgate: the dashboard build failed (see above).\n');
    return false;
  }
  return true;
}

module.exports = { ensureDashboard, staleReason };

if (require.main === module) {
  const ok = ensureDashboard({ force: process.argv.includes('--force') });
  process.exit(ok ? 0 : 1);
}
