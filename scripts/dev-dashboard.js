#!/usr/bin/env node
// `npm run dev:dashboard`: the dashboard with hot reload at http://localhost:3001/dashboard/.
// It talks to a running node (`npm run dev` in another terminal): next dev proxies /api/* to
// PUSHGATE_URL (default http://127.0.0.1:3000), so the session cookie stays same-origin.
// DASHBOARD_PORT changes the dev server's port.
const { join } = require('node:path');
const { spawn } = require('node:child_process');

const root = join(__dirname, '..');
const port = process.env.DASHBOARD_PORT ?? '3001';
const target = process.env.PUSHGATE_URL ?? 'http://127.0.0.1:3000';
process.stdout.write(`pushgate dashboard (dev): http://localhost:${port}/dashboard/  →  API at ${target}\n`);
const child = spawn(process.execPath, [require.resolve('next/dist/bin/next', { paths: [root] }), 'dev', join(root, 'dashboard'), '--port', port], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
