import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import { ADMIN_KEY, makeToken, startNode, type TestNode } from '../support/node';
import { CHROMIUM, ROOT } from './browser';

/** Runs a command in the project root; rejects with its output when it fails. */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${out}`))));
  });
}

/** `node client/example/serve.mjs --port 0`, resolved with the URL it prints. */
function serveExample(): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(ROOT, 'client/example/serve.mjs'), '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /example: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve({ proc, url: m[1]! });
    });
    proc.once('exit', (code) => reject(new Error(`serve.mjs exited ${code}: ${out}`)));
  });
}

describe('the client helper’s example page in a browser', () => {
  let node: TestNode;
  let browser: Browser;
  let example: { proc: ChildProcess; url: string };
  const pageErrors: string[] = [];

  beforeAll(async () => {
    // A fresh clone has no client/dist: bundle the helper the way `npm run build:client` does.
    await run('npm', ['--prefix', 'client', 'run', 'bundle']);
    [node, example] = await Promise.all([startNode({ HISTORY_SIZE: '50' }), serveExample()]);
    browser = await chromium.launch(CHROMIUM);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    example?.proc.kill('SIGTERM');
    await node?.stop();
  });

  const push = (path: string, body: Record<string, unknown>) => request(node.url).post(`/api/v1${path}`).set('Authorization', `Bearer ${ADMIN_KEY}`).send(body).expect(200);
  const rowsFor = (page: Page, text: string) => page.locator('#messages tr', { hasText: text });

  it('connects with the helper, shows pushes with stream and offset, joins a room and recovers after a cut transport', async () => {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const token = makeToken({ sub: 'web-user', rooms: ['demo:*'] });
    await page.goto(`${example.url}?url=${encodeURIComponent(node.url)}&token=${encodeURIComponent(token)}`);
    await page.locator('#status', { hasText: 'connected as web-user' }).waitFor();

    await push('/push', { users: ['web-user'], event: 'hello', data: { text: 'first' }, id: 'web-1' });
    await rowsFor(page, 'web-1').waitFor();
    expect(await rowsFor(page, 'web-1').innerText()).toContain('user:web-user');

    await page.click('#join');
    await page.locator('#notices li', { hasText: 'joined demo:lobby' }).waitFor();

    // Cut the transport, push while the page is away, and let socket.io-client come back on its own.
    const disconnected = page.locator('#status', { hasText: 'disconnected' }).waitFor();
    await page.click('#cut');
    await disconnected;
    await push('/rooms/demo:lobby/broadcast', { event: 'news', data: 'while away 1', id: 'web-away-1' });
    await push('/rooms/demo:lobby/broadcast', { event: 'news', data: 'while away 2', id: 'web-away-2' });
    // Replayed on recovery, or live if the reconnect beat a push: either way once each, in order.
    await page.locator('#notices li', { hasText: /recovered demo:lobby: yes/ }).waitFor({ timeout: 15_000 });
    for (const id of ['web-away-1', 'web-away-2']) await rowsFor(page, id).waitFor();
    const ids = await page.locator('#messages tr').evaluateAll((rows) => rows.map((r) => r.textContent ?? ''));
    expect(ids.filter((t) => t.includes('web-away-')).map((t) => /web-away-\d/.exec(t)![0])).toEqual(['web-away-2', 'web-away-1']); // newest first
    expect(pageErrors).toEqual([]);
  });
});
