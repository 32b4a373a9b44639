import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import request from 'supertest';
import type { WelcomePayload } from '../../server/src/contracts/socket-events';
import { ADMIN_KEY, PUSH_KEY, closeAllClients, connectClient, connectUser, emitAck, makeToken, nextEvent, startNode, type TestNode } from '../support/node';
import { testRedisUrl, uniquePrefix } from '../support/redis';
import { WebhookReceiver } from '../support/webhook-receiver';
import { buildDashboard, CHROMIUM, DASHBOARD_OUT } from './browser';

const rand = () => randomBytes(3).toString('hex');

describe('dashboard in a browser, against a node with Redis', () => {
  let node: TestNode;
  let browser: Browser;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    await buildDashboard();
    node = await startNode({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('e2e'), DASHBOARD_DIR: DASHBOARD_OUT });
    // launch() gives every run its own throw-away profile directory, and each test below opens
    // its own context, so no cookie leaks from one test into the next.
    browser = await chromium.launch(CHROMIUM);
  }, 120_000);

  afterAll(async () => {
    closeAllClients();
    await browser?.close();
    await node?.stop();
  });

  afterEach(() => {
    expect(pageErrors).toEqual([]);
    pageErrors.length = 0;
  });

  const url = (path: string, base = node.url) => `${base}/dashboard${path}`;

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    return page;
  }

  async function signedInPage(base = node.url): Promise<Page> {
    const page = await newPage();
    await page.goto(url('/sign-in/', base));
    await page.getByLabel('Admin API key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/dashboard/');
    return page;
  }

  describe('without a session', () => {
    it('admin endpoints answer 401 in the envelope, and 403 to a key without the admin scope', async () => {
      for (const path of ['/api/v1/admin/overview', '/api/v1/admin/nodes', '/api/v1/admin/connections?userId=x', '/api/v1/admin/logs', '/api/v1/admin/session']) {
        const res = await request(node.url).get(path).expect(401);
        expect(res.body).toMatchObject({ success: false, error: { code: 'UNAUTHORIZED' } });
        await request(node.url).get(path).set('Cookie', 'pushgate_session=v1.admin.99999999999999.' + 'a'.repeat(64)).expect(401);
      }
      await request(node.url).get('/api/v1/admin/overview').set('Authorization', `Bearer ${PUSH_KEY}`).expect(403);
      await request(node.url).delete('/api/v1/users/someone/connections').expect(401);
    });

    it('pages are served with a same-origin CSP that does not force https (plain-HTTP nodes must work)', async () => {
      const res = await request(node.url).get('/dashboard/').expect(200);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('upgrade-insecure-requests');
    });

    it('every page sends the browser to sign-in and shows no cluster data', async () => {
      const page = await newPage();
      for (const path of ['/', '/connections/', '/rooms/', '/webhooks/', '/logs/', '/nodes/']) {
        await page.goto(url(path));
        await page.waitForURL((u) => u.pathname === '/dashboard/sign-in/');
        expect(new URL(page.url()).searchParams.get('next')).toBe(`/dashboard${path}`);
        await page.getByLabel('Admin API key').waitFor();
        expect(await page.locator('[data-testid=node-card], [data-testid=sockets], [data-testid=rooms], [data-testid=webhook-app], [data-testid=logs]').count()).toBe(0);
      }
      await page.context().close();
    });

    it('a wrong key is refused with a clear message and no session', async () => {
      const page = await newPage();
      await page.goto(url('/sign-in/'));
      await page.getByLabel('Admin API key').fill('k_not_a_real_key_000000000000000');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect(page.getByTestId('sign-in-error').textContent()).resolves.toContain('not an admin API key');
      expect(new URL(page.url()).pathname).toBe('/dashboard/sign-in/');
      expect((await page.context().cookies()).map((c) => c.name)).not.toContain('pushgate_session');
      // A key that exists but lacks the admin scope is refused the same way.
      await page.getByLabel('Admin API key').fill(PUSH_KEY);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByTestId('sign-in-error').waitFor();
      expect((await page.context().cookies()).map((c) => c.name)).not.toContain('pushgate_session');
      await page.context().close();
    });
  });

  it('signs in with an admin key: an httpOnly SameSite=Strict cookie, then the live overview', async () => {
    const page = await signedInPage();
    const cookie = (await page.context().cookies()).find((c) => c.name === 'pushgate_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.expires * 1000).toBeGreaterThan(Date.now());
    const card = page.getByTestId('node-card').filter({ hasText: node.config.nodeId });
    await card.waitFor();
    await expect(card.textContent()).resolves.toMatch(/Redis\s*up/);
    await expect(page.getByTestId('totals').textContent()).resolves.toContain('Sockets');
    await page.context().close();
  });

  it('a socket that connects shows on Connections within 3 s; disconnecting the user from the page closes it', async () => {
    const user = `e2e-user-${rand()}`;
    const page = await signedInPage();
    await page.getByRole('link', { name: 'Connections' }).click();
    await page.getByLabel('User id').fill(user);
    await page.getByRole('button', { name: 'Find' }).click();
    await page.getByText('Not connected').waitFor();

    const { socket, welcome } = await connectUser(node.url, user);
    const row = page.locator(`tr[data-socket-id="${welcome.socketId}"]`);
    await row.waitFor({ timeout: 3000 });
    const text = await row.textContent();
    expect(text).toContain(node.config.nodeId);
    expect(text).toContain('websocket');
    expect(text).toContain('127.0.x.x');
    await page.getByLabel('Reveal addresses').check();
    await row.getByText('127.0.0.1').waitFor();

    const disconnected = nextEvent<[string]>(socket, 'disconnect');
    await page.getByRole('button', { name: `Disconnect ${user} everywhere` }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog.textContent()).resolves.toContain(user);
    await dialog.getByRole('button', { name: 'Disconnect' }).click();
    const [reason] = await disconnected;
    expect(reason).toBe('io server disconnect');
    expect(socket.connected).toBe(false);
    await expect(page.getByTestId('outcome').textContent()).resolves.toContain('Disconnected 1 socket');
    await row.waitFor({ state: 'detached' });
    await page.getByText('Not connected').waitFor();
    await page.context().close();
  });

  it('a test broadcast sent from Rooms reaches the members and shows the recipients count', async () => {
    const room = `e2e:room-${rand()}`;
    const a = await connectUser(node.url, `e2e-a-${rand()}`, { rooms: ['e2e:*'] });
    const b = await connectUser(node.url, `e2e-b-${rand()}`, { rooms: ['e2e:*'] });
    for (const c of [a, b]) expect(await emitAck(c.socket, 'room:join', { room })).toMatchObject({ ok: true });

    const page = await signedInPage();
    await page.getByRole('link', { name: 'Rooms' }).click();
    await page.getByLabel('Room name prefix').fill(room);
    await page.getByRole('button', { name: 'Filter' }).click();
    const rooms = page.getByTestId('rooms');
    await rooms.getByRole('button', { name: room }).click();
    const panel = page.getByTestId('room-panel');
    await panel.getByText(a.welcome.userId).waitFor();
    await panel.getByText(b.welcome.userId).waitFor();

    await panel.getByLabel('Event').fill('e2e:ping');
    await panel.getByLabel('Data (JSON)').fill('{"hello":"from the e2e test"}');
    const received = Promise.all([nextEvent(a.socket, 'e2e:ping'), nextEvent(b.socket, 'e2e:ping')]);
    await panel.getByRole('button', { name: `Send to ${room}` }).click();
    const [[dataA, metaA], [dataB]] = await received;
    expect(dataA).toEqual({ hello: 'from the e2e test' });
    expect(dataB).toEqual({ hello: 'from the e2e test' });
    expect(metaA).toMatchObject({ room });
    await expect(panel.getByTestId('recipients').textContent()).resolves.toBe('2');
    await page.context().close();
  });

  it('Webhooks says plainly that no app sends webhooks when WEBHOOK_URL is not set', async () => {
    const page = await signedInPage();
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.waitForURL((u) => u.pathname === '/dashboard/webhooks/');
    const empty = page.getByTestId('empty');
    await empty.waitFor();
    const text = await empty.textContent();
    expect(text).toContain('No app sends webhooks');
    expect(text).toContain('WEBHOOK_URL is not set');
    expect(text).toContain('“Webhooks” in the README');
    expect(await page.getByTestId('webhook-app').count()).toBe(0);
    await page.context().close();
  });

  it('signing out ends the session: the API refuses the browser and pages go back to sign-in', async () => {
    const page = await signedInPage();
    expect((await page.request.get(`${node.url}/api/v1/admin/nodes`)).status()).toBe(200);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.pathname === '/dashboard/sign-in/');
    await page.getByText('You are signed out.').waitFor();
    expect((await page.request.get(`${node.url}/api/v1/admin/nodes`)).status()).toBe(401);
    await page.goto(url('/nodes/'));
    await page.waitForURL((u) => u.pathname === '/dashboard/sign-in/');
    await page.context().close();
  });

  describe('with two apps (APPS)', () => {
    // Apps of this node only: their own ids, keys and secrets (≥ 32 characters), so nothing clashes with the node above.
    const A = { id: `e2e-a-${rand()}`, key: `key-a-${rand()}`, secret: randomBytes(24).toString('hex') };
    const B = { id: `e2e-b-${rand()}`, key: `key-b-${rand()}`, secret: randomBytes(24).toString('hex') };
    let apps: TestNode;

    beforeAll(async () => {
      apps = await startNode({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('e2e-apps'), DASHBOARD_DIR: DASHBOARD_OUT, APPS: [A, B].map((a) => `${a.id}:${a.key}:${a.secret}`).join(',') });
    }, 30_000);

    afterAll(async () => {
      await apps?.stop();
    });

    /** A socket of `app`'s user `sub`, its token signed with the app's own secret. */
    async function connectToApp(app: typeof A, sub: string) {
      const socket = connectClient(apps.url, { token: makeToken({ sub, app: app.id }, {}, app.secret) });
      const welcome = await new Promise<WelcomePayload>((resolve, reject) => {
        socket.once('welcome', resolve);
        socket.once('connect_error', reject);
      });
      expect(welcome.app).toBe(app.id);
      return { socket, welcome };
    }

    /** The value of the overview's Sockets tile, once it reads `value` (for the chosen app, or for all apps). */
    const socketsTile = (page: Page, app: string | null, value: number) =>
      page.locator(`[data-testid=totals]${app ? `[data-app="${app}"]` : ':not([data-app])'} [data-tile=Sockets] .tile-value`, { hasText: new RegExp(`^${value}$`) }).waitFor();

    it('the app picked in the shell narrows the overview and nodes to that app; "All apps" shows the sum', async () => {
      // 1 socket in A; 2 in B, one token signed with B's secret and one with the node's JWT_SECRET and an app claim.
      await connectToApp(A, `a1-${rand()}`);
      await connectToApp(B, `b1-${rand()}`);
      const b2 = await connectUser(apps.url, `b2-${rand()}`, { app: B.id });
      expect(b2.welcome.app).toBe(B.id);

      const page = await signedInPage(apps.url);
      const picker = page.getByLabel('App', { exact: true });
      await picker.waitFor();
      expect(await picker.locator('option').allTextContents()).toEqual(['All apps', `${A.id} (default)`, B.id]);
      await socketsTile(page, null, 3);
      await expect(page.getByTestId('scope').textContent()).resolves.toContain('All apps');

      await picker.selectOption(B.id);
      await page.waitForURL((u) => u.searchParams.get('app') === B.id);
      // Per-app counts come with the node's next heartbeat (1 s here): the tile reads B's 2, never the cluster's 3.
      await socketsTile(page, B.id, 2);
      const scope = await page.getByTestId('scope').textContent();
      expect(scope).toContain(B.id);
      expect(scope).toContain('whole cluster');
      await page.getByRole('heading', { name: 'Last 15 minutes, whole cluster' }).waitFor();

      // The choice follows the navigation: the nodes page counts B's sockets and users.
      await page.getByRole('link', { name: 'Nodes' }).click();
      await page.waitForURL((u) => u.pathname === '/dashboard/nodes/' && u.searchParams.get('app') === B.id);
      const card = page.getByTestId('node-detail').filter({ hasText: apps.config.nodeId });
      await card.getByText(`Connections of ${B.id}`).waitFor();
      await card.locator('[data-fact=connections]', { hasText: /^2$/ }).waitFor();
      await expect(picker.inputValue()).resolves.toBe(B.id);

      // Back on the overview, "All apps" drops the filter from the URL and shows the sum again.
      await page.getByRole('link', { name: 'Overview' }).click();
      await socketsTile(page, B.id, 2);
      await picker.selectOption('');
      await page.waitForURL((u) => u.pathname === '/dashboard/' && !u.searchParams.has('app'));
      await socketsTile(page, null, 3);

      // A shared link opens on its app.
      await page.goto(url(`/?app=${B.id}`, apps.url));
      await socketsTile(page, B.id, 2);
      await expect(page.getByLabel('App', { exact: true }).inputValue()).resolves.toBe(B.id);
      await page.context().close();
    });

    it('Connections finds a user of app B only with B picked, shows the App column, and disconnects that app’s user', async () => {
      const user = `e2e-b-user-${rand()}`;
      const { socket, welcome } = await connectToApp(B, user);
      const page = await signedInPage(apps.url);
      await page.getByRole('link', { name: 'Connections' }).click();
      await page.getByLabel('User id').fill(user);
      await page.getByRole('button', { name: 'Find' }).click();
      // All apps: a user id is the default app's (A), which has no such user.
      await page.getByText('Not connected').waitFor();
      await expect(page.getByTestId('scope').textContent()).resolves.toContain(A.id);

      await page.getByLabel('App', { exact: true }).selectOption(B.id);
      await page.waitForURL((u) => u.searchParams.get('app') === B.id && u.searchParams.get('user') === user);
      const row = page.locator(`tr[data-socket-id="${welcome.socketId}"]`);
      await row.waitFor();
      await expect(row.locator('td[data-label=App]').textContent()).resolves.toBe(B.id);
      await page.getByTestId('sockets').getByRole('columnheader', { name: 'App' }).waitFor();

      const disconnected = nextEvent<[string]>(socket, 'disconnect');
      await page.getByRole('button', { name: `Disconnect ${user} everywhere` }).click();
      const dialog = page.getByRole('dialog');
      await expect(dialog.textContent()).resolves.toContain(B.id);
      await dialog.getByRole('button', { name: 'Disconnect' }).click();
      const [reason] = await disconnected;
      expect(reason).toBe('io server disconnect');
      await expect(page.getByTestId('outcome').textContent()).resolves.toContain('Disconnected 1 socket');
      await row.waitFor({ state: 'detached' });
      await page.context().close();
    });
  });

  describe('with webhooks (WEBHOOK_URL) to a backend that is down, then up', () => {
    // Two apps, both with WEBHOOK_URL's webhooks; transitions are made in A only.
    const A = { id: `e2e-wa-${rand()}`, key: `key-wa-${rand()}`, secret: randomBytes(24).toString('hex') };
    const B = { id: `e2e-wb-${rand()}`, key: `key-wb-${rand()}`, secret: randomBytes(24).toString('hex') };
    let receiver: WebhookReceiver;
    let hooks: TestNode;

    beforeAll(async () => {
      receiver = new WebhookReceiver(null);
      receiver.down = true;
      hooks = await startNode({
        REDIS_URL: testRedisUrl(),
        REDIS_PREFIX: uniquePrefix('e2e-webhooks'),
        DASHBOARD_DIR: DASHBOARD_OUT,
        APPS: [A, B].map((a) => `${a.id}:${a.key}:${a.secret}`).join(','),
        WEBHOOK_URL: await receiver.start(),
        WEBHOOK_BATCH_MS: '50',
        WEBHOOK_LEAVE_GRACE_MS: '100',
      });
    }, 30_000);

    afterAll(async () => {
      // Up again, so a node that sends what is pending as it stops does not wait on a dead backend.
      if (receiver) receiver.down = false;
      await hooks?.stop();
      await receiver?.stop();
    });

    const appCard = (page: Page, app: string) => page.locator(`[data-testid=webhook-app][data-app="${app}"]`);
    /** A fact of an app's card once its text matches `text`. */
    const fact = (page: Page, app: string, name: string, text: RegExp) => appCard(page, app).locator(`[data-fact=${name}]`, { hasText: text }).waitFor();

    it('Webhooks shows the failed attempts and the 503 while the backend is down, then the sent events and an empty queue once it is up', async () => {
      const page = await signedInPage(hooks.url);
      await page.getByRole('link', { name: 'Webhooks' }).click();
      await page.waitForURL((u) => u.pathname === '/dashboard/webhooks/');
      // Before any transition: both apps listed, sent by this node (it holds their leases), nothing queued.
      await fact(page, A.id, 'sender', new RegExp(`^${hooks.config.nodeId}$`));
      await fact(page, B.id, 'sender', new RegExp(`^${hooks.config.nodeId}$`));
      await fact(page, A.id, 'failed', /^0$/);
      await expect(appCard(page, A.id).textContent()).resolves.toContain('No failed delivery');

      // Transitions of app A: user_online, then channel_occupied and member_added.
      const { socket } = await connectUser(hooks.url, `wh-user-${rand()}`, { app: A.id, rooms: ['wh:*'] });
      expect(await emitAck(socket, 'room:join', { room: `wh:room-${rand()}` })).toMatchObject({ ok: true });

      // The backend answers 503: the attempts fail, the events stay queued, the sender backs off.
      await fact(page, A.id, 'failed', /^[1-9]/);
      await fact(page, A.id, 'depth', /^[1-9]/);
      const newest = appCard(page, A.id).getByTestId('webhook-errors').locator('li').first();
      await newest.waitFor();
      const error = await newest.textContent();
      expect(error).toContain('HTTP 503');
      expect(error).toContain(receiver.url);
      expect(error).toContain(hooks.config.nodeId);
      await appCard(page, A.id).locator('[data-fact=retry]').waitFor();
      await expect(appCard(page, A.id).locator('.badge').textContent()).resolves.toBe('backing off');
      expect(receiver.refused).toBeGreaterThan(0);
      expect(receiver.accepted).toBe(0);

      // Up again: the next retry delivers everything, and the queue empties.
      receiver.down = false;
      await fact(page, A.id, 'sent', /^[1-9]/);
      await fact(page, A.id, 'depth', /^0$/);
      await appCard(page, A.id).locator('[data-fact=retry]').waitFor({ state: 'detached' });
      await expect(appCard(page, A.id).locator('.badge').textContent()).resolves.toBe('sending');
      expect(receiver.events.map((e) => e.name)).toEqual(expect.arrayContaining(['user_online', 'channel_occupied', 'member_added']));
      // B made no transition: nothing sent, nothing failed.
      await fact(page, B.id, 'sent', /^0$/);
      await fact(page, B.id, 'failed', /^0$/);

      // The app picked in the shell narrows the page to that app.
      await page.getByLabel('App', { exact: true }).selectOption(B.id);
      await page.waitForURL((u) => u.pathname === '/dashboard/webhooks/' && u.searchParams.get('app') === B.id);
      await appCard(page, A.id).waitFor({ state: 'detached' });
      await fact(page, B.id, 'failed', /^0$/);
      await expect(page.getByTestId('scope').textContent()).resolves.toContain(B.id);

      // The overview sums the apps' webhooks in one line, for the chosen app or for all.
      await page.getByRole('link', { name: 'Overview' }).click();
      await page.waitForURL((u) => u.pathname === '/dashboard/' && u.searchParams.get('app') === B.id);
      const line = page.getByTestId('webhooks-line');
      await line.locator('[data-fact=failed]', { hasText: /^0 failed attempts$/ }).waitFor();
      await page.getByLabel('App', { exact: true }).selectOption('');
      await page.waitForURL((u) => u.pathname === '/dashboard/' && !u.searchParams.has('app'));
      await line.locator('[data-fact=failed]', { hasText: /^[1-9]\d* failed attempts?$/ }).waitFor();
      await line.locator('[data-fact=pending]', { hasText: /^0 pending$/ }).waitFor();
      await expect(line.textContent()).resolves.toContain('of 2 apps');
      await line.getByRole('link', { name: 'Details' }).click();
      await page.waitForURL((u) => u.pathname === '/dashboard/webhooks/');
      await appCard(page, A.id).waitFor();
      await page.context().close();
    }, 60_000);
  });

  describe('two nodes on one Redis', () => {
    // Their own prefix: the only sockets and users of this cluster are the ones made below.
    let a: TestNode;
    let b: TestNode;

    beforeAll(async () => {
      const env = { REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('e2e-two'), DASHBOARD_DIR: DASHBOARD_OUT };
      // Nodes of one process would share the default NODE_ID (host and pid): each gets its own.
      [a, b] = await Promise.all([startNode({ ...env, NODE_ID: `e2e-a-${rand()}` }), startNode({ ...env, NODE_ID: `e2e-b-${rand()}` })]);
    }, 30_000);

    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    it('a user connected to both nodes is one user in the overview (tile and chart), not one per node', async () => {
      const user = `e2e-both-${rand()}`;
      await connectUser(a.url, user);
      await connectUser(b.url, user);

      const page = await signedInPage(a.url);
      for (const n of [a, b]) await page.getByTestId('node-card').filter({ hasText: n.config.nodeId }).waitFor();
      // The tiles: presence counts the cluster's 2 sockets and its 1 user.
      const tile = (name: string, value: number) => page.locator(`[data-testid=totals] [data-tile=${name}] .tile-value`, { hasText: new RegExp(`^${value}$`) }).waitFor();
      await tile('Nodes', 2);
      await tile('Sockets', 2);
      await tile('Users', 1);
      // The chart's newest point, once it holds both nodes' samples taken after the two connections
      // (sockets summed: 2): its users are the cluster-wide count, 1, where a per-node sum would be 2.
      const connected = page.locator('figure.chart', { has: page.getByText('Connected', { exact: true }) });
      await connected.locator('[data-series=sockets] b', { hasText: /^2$/ }).waitFor();
      await expect(connected.locator('[data-series=users] b').textContent()).resolves.toBe('1');
      await expect(connected.locator('[data-series=rooms] b').textContent()).resolves.toBe('0');
      await page.context().close();
    }, 15_000);
  });

  describe('with a connection rate limit of 1 a minute (RATE_LIMIT_CONNECTIONS=1)', () => {
    let limited: TestNode;

    beforeAll(async () => {
      limited = await startNode({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('e2e-limited'), DASHBOARD_DIR: DASHBOARD_OUT, RATE_LIMIT_CONNECTIONS: '1' });
    }, 30_000);

    afterAll(async () => {
      await limited?.stop();
    });

    it('a refused handshake shows in the Protections panel’s handshake refusals, with what the counter means', async () => {
      await connectUser(limited.url, `e2e-first-${rand()}`);
      await expect(connectUser(limited.url, `e2e-second-${rand()}`)).rejects.toMatchObject({ message: 'RATE_LIMITED' });

      const page = await signedInPage(limited.url);
      const panel = page.getByTestId('protections');
      await panel.locator('[data-fact=handshakeRefusals]', { hasText: /^1$/ }).waitFor();
      const row = panel.locator('[data-protection=handshakeRefusals]');
      await expect(row.getAttribute('title')).resolves.toContain('rate limit');
      await expect(row.textContent()).resolves.toContain('Handshake refusals');
      for (const other of ['caughtUp', 'floodDisconnects', 'slowConsumerDisconnects', 'interruptedRecoveries']) {
        await expect(panel.locator(`[data-fact=${other}]`).textContent()).resolves.toBe('0');
      }
      // The node's card counts it too.
      await page.getByTestId('node-card').filter({ hasText: limited.config.nodeId }).locator('[data-fact=protections]', { hasText: /^1$/ }).waitFor();
      await page.context().close();
    }, 15_000);
  });
});
