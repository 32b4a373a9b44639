#!/usr/bin/env node
/*
 * `npm run load [-- <scenario>]`: starts its own pushgate node on a free 127.0.0.1 port (from
 * source, production mode, rate limits off so the limiter is not what gets measured), runs one
 * Artillery scenario from load-tests/scenarios against it (default: mix), stops the node and exits
 * with Artillery's status. Artillery is not a dependency (its install script downloads a browser):
 * it runs through npx, as docs/benchmarks.md explains. Everything is bounded by a hard deadline.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const DEADLINE_MS = Number(process.env.LOAD_DEADLINE_MS ?? 180000);

const name = process.argv[2] ?? 'mix';
if (name === '--help' || name === '-h') {
  process.stdout.write('npm run load [-- mix|receive|push-api]   (scenarios in load-tests/scenarios)\n');
  process.exit(0);
}
const scenario = join(HERE, 'scenarios', `${name}.yml`);
if (!existsSync(scenario)) {
  process.stderr.write(`no scenario ${scenario}\n`);
  process.exit(2);
}

const log = (m) => process.stderr.write(`[load] ${m}\n`);
const children = new Set();
const killAll = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
setTimeout(() => {
  log(`deadline of ${DEADLINE_MS} ms reached: stopping`);
  process.exit(3);
}, DEADLINE_MS).unref();


const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const jwtSecret = randomBytes(32).toString('base64url');
const apiKey = `k_load_${randomBytes(18).toString('base64url')}`;

const node = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/src/main.ts')], {
  cwd: ROOT,
  env: {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    NODE_ID: 'load-test',
    JWT_SECRET: jwtSecret,
    API_KEYS: `load:${apiKey}:push+read`,
    RATE_LIMIT_HTTP: '0',
    RATE_LIMIT_CONNECTIONS: '0',
    RATE_LIMIT_EVENTS: '0',
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
children.add(node);
const nodeExit = new Promise((r) => node.once('exit', (code, signal) => r({ code, signal })));

let live = false;
for (const until = Date.now() + 30000; Date.now() < until && node.exitCode === null; ) {
  live = await fetch(`${url}/health/live`).then((r) => r.ok, () => false);
  if (live) break;
  await new Promise((r) => setTimeout(r, 100));
}
if (!live) {
  log('pushgate did not start');
  process.exit(1);
}
log(`pushgate listening on ${url}; running ${name}.yml`);

const reportDir = mkdtempSync(join(tmpdir(), 'pushgate-load-'));
const report = join(reportDir, 'report.json');
const artillery = spawn('npx', ['--yes', 'artillery@2.0', 'run', '--target', url, '--output', report, scenario], {
  cwd: ROOT,
  env: {
    ...process.env,
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1',
    ARTILLERY_DISABLE_TELEMETRY: 'true',
    PUSHGATE_LOAD_TOKEN: createRequire(import.meta.url)('./processor.js').mintToken(jwtSecret),
    PUSHGATE_API_KEY: apiKey,
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
children.add(artillery);
const code = await new Promise((r) => artillery.once('exit', (c, s) => r(c ?? (s ? 1 : 0))));

let summary;
try {
  const agg = JSON.parse(readFileSync(report, 'utf8')).aggregate;
  const c = agg.counters ?? {};
  summary = `virtual users ${c['vusers.created'] ?? 0} created, ${c['vusers.completed'] ?? 0} completed, ${c['vusers.failed'] ?? 0} failed; HTTP responses ${c['http.responses'] ?? 0}; socket emits ${c['socketio.emit'] ?? 0}; events received ${c['pushgate.events_received'] ?? 0}`;
} catch {
  summary = 'no Artillery report';
}
rmSync(reportDir, { recursive: true, force: true });

node.kill('SIGTERM');
const stopTimer = setTimeout(() => node.kill('SIGKILL'), 15000);
const exit = await nodeExit;
clearTimeout(stopTimer);
log(summary);
log(`artillery exited ${code}; pushgate stopped (${exit.code ?? exit.signal})`);
process.exit(code === 0 && exit.code === 0 ? 0 : 1);
