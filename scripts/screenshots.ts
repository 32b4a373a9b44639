/**
 * Screenshots of every dashboard page for docs/images/ (a one-off, not part of `npm test`):
 *   npx tsx scripts/screenshots.ts            (SCREENSHOT_WARMUP_S=120 by default)
 * Starts Redis, two nodes with a little traffic, and a third node that is then killed so the Nodes
 * page has a node that stopped heart-beating. Needs redis-server and /usr/bin/chromium.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import type { Socket } from 'socket.io-client';
import { buildDashboard, CHROMIUM, DASHBOARD_OUT, ROOT } from '../test/e2e/browser';
import { FakeBackend } from '../test/support/fake-backend';
import { ADMIN_KEY, PUSH_KEY, closeAllClients, connectUser, startNode, type TestNode } from '../test/support/node';
import { ProcessNode } from '../test/support/process-node';
import { RedisServer } from '../test/support/redis-server';

const OUT = join(ROOT, 'docs', 'images');
const WARMUP_S = Number(process.env.SCREENSHOT_WARMUP_S ?? 120);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  await buildDashboard();
  const redis = await RedisServer.start();
  const backend = new FakeBackend();
  let calls = 0;
  // Some forwarded events fail or time out, so the backend-errors line is not flat and the logs
  // have warnings in them.
  backend.handler = async (_req, res) => {
    calls++;
    if (calls % 40 === 0) await sleep(400);
    res.writeHead(calls % 25 === 0 ? 502 : 200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  };
  const backendUrl = await backend.start();
  // LOG_LEVEL=info: the Logs page's buffer follows it, so debug and access lines do not crowd out
  // the lines worth showing.
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: 'shots', BACKEND_URL: backendUrl, BACKEND_TIMEOUT_MS: '300', DASHBOARD_DIR: DASHBOARD_OUT, LOG_LEVEL: 'info' };
  const nodes: TestNode[] = [await startNode({ ...env, NODE_ID: 'node-a' }), await startNode({ ...env, NODE_ID: 'node-b' })];
  const doomed = await ProcessNode.start({ ...env, NODE_ID: 'node-c', HEARTBEAT_MS: '1000' });
  // A socket on the node about to die: the survivors then clean up its presence (and log it).
  await connectUser(doomed.url, 'user-on-node-c', { rooms: ['chat:*'] });

  const sockets: Socket[] = [];
  const rooms = ['chat:lobby', 'chat:support', 'orders:eu-1', 'orders:us-2', 'presence:team-7'];
  const connect = async (i: number) => {
    const node = nodes[i % nodes.length]!;
    const { socket } = await connectUser(node.url, `user-${100 + (i % 17)}`, { rooms: ['chat:*', 'orders:*', 'presence:*'] });
    for (const room of rooms.filter((_, k) => (i + k) % 3 === 0)) await socket.timeout(5000).emitWithAck('room:join', { room });
    sockets.push(socket);
  };
  for (let i = 0; i < 6; i++) await connect(i);

  process.stdout.write(`warming up for ${WARMUP_S} s so the charts have data...\n`);
  const until = Date.now() + WARMUP_S * 1000;
  let i = 6;
  let killed = false;
  while (Date.now() < until) {
    const elapsed = WARMUP_S - (until - Date.now()) / 1000;
    if (sockets.length < 40 && Math.random() < 0.5) await connect(i++);
    const burst = 5 + Math.round(15 * (1 + Math.sin(elapsed / 15)));
    await Promise.all(
      Array.from({ length: burst }, (_, k) =>
        fetch(`${nodes[k % 2]!.url}/api/v1/rooms/${encodeURIComponent(rooms[k % rooms.length]!)}/broadcast`, {
          method: 'POST',
          headers: { authorization: `Bearer ${PUSH_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ event: 'tick', data: { k } }),
        }),
      ),
    );
    for (const s of sockets.slice(0, 8)) s.emit('typing', { at: Date.now() }, () => undefined);
    if (!killed && elapsed > WARMUP_S / 2) {
      // SIGKILL: no goodbye, so the registry keeps it as a node that stopped heart-beating.
      await doomed.kill('SIGKILL');
      killed = true;
    }
    await sleep(500);
  }
  if (!killed) await doomed.kill('SIGKILL');

  const browser = await chromium.launch(CHROMIUM);
  const shot = async (page: Page, name: string) => {
    // A sticky header is drawn where the viewport last was: capture from the top.
    await page.evaluate('window.scrollTo(0, 0)');
    // The whole page, but not a long log tail: cut at a height worth reading.
    const height = Number(await page.evaluate('document.documentElement.scrollHeight'));
    const width = page.viewportSize()!.width;
    await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true, clip: { x: 0, y: 0, width, height: Math.min(height, 1600) } });
    process.stdout.write(`  docs/images/${name}.png\n`);
  };
  const base = `${nodes[0]!.url}/dashboard`;
  for (const viewport of [
    { width: 1280, height: 860, suffix: '' },
    { width: 390, height: 844, suffix: '-phone' },
  ]) {
    const context = await browser.newContext({ viewport, deviceScaleFactor: viewport.suffix ? 2 : 1 });
    const page = await context.newPage();
    await page.goto(`${base}/sign-in/`);
    await page.getByLabel('Admin API key').fill('wrong-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('sign-in-error').waitFor();
    if (!viewport.suffix) await shot(page, 'dashboard-sign-in');
    await page.getByLabel('Admin API key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/dashboard/');
    await page.getByTestId('node-card').first().waitFor();
    await shot(page, `dashboard-overview${viewport.suffix}`);

    await page.goto(`${base}/connections/?user=user-101`);
    await page.getByTestId('sockets').waitFor();
    await shot(page, `dashboard-connections${viewport.suffix}`);
    if (!viewport.suffix) {
      await page.getByRole('button', { name: /Disconnect user-101 everywhere/ }).click();
      await page.getByRole('dialog').waitFor();
      await shot(page, 'dashboard-connections-confirm');
      await page.getByRole('button', { name: 'Cancel' }).click();
    }

    await page.goto(`${base}/rooms/`);
    await page.getByTestId('rooms').getByRole('button', { name: 'chat:lobby' }).click();
    await page.getByTestId('room-panel').locator('.members li').first().waitFor();
    await page.getByRole('button', { name: 'Send to chat:lobby' }).click();
    await page.getByTestId('recipients').waitFor();
    await shot(page, `dashboard-rooms${viewport.suffix}`);

    await page.goto(`${base}/logs/`);
    await page.locator('[data-testid=logs], [data-testid=empty]').first().waitFor();
    await shot(page, `dashboard-logs${viewport.suffix}`);

    await page.goto(`${base}/nodes/`);
    await page.locator('.badge-down').first().waitFor();
    await shot(page, `dashboard-nodes${viewport.suffix}`);
    await context.close();
  }

  await browser.close();
  closeAllClients();
  for (const n of nodes) await n.stop();
  await backend.stop();
  await redis.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
