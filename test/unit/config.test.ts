import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../server/src/config/config';

const STRONG = 'a-very-long-production-secret-0123456789';
const PROD_KEY = 'k_prod_0123456789abcdefghijklmnop';

describe('loadConfig', () => {
  it('starts with no variables at all: development, generated secret and admin key, wildcard CORS', () => {
    const c = loadConfig({});
    expect(c.env).toBe('development');
    expect(c.port).toBe(3000);
    expect(c.host).toBe('0.0.0.0');
    expect(c.redisUrl).toBeNull();
    expect(c.generatedJwtSecret).toEqual(expect.any(String));
    expect(c.generatedApiKey).toMatch(/^pk_dev_/);
    expect(c.apiKeys).toHaveLength(1);
    expect([...c.apiKeys[0]!.scopes]).toEqual(['admin']);
    expect(c.corsOrigins).toBe('*');
    expect(c.maxPayloadBytes).toBe(1048576);
    expect(c.backend.timeoutMs).toBe(5000);
    expect(c.shutdownTimeoutMs).toBe(10000);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it.each([
    [{}, 'JWT_SECRET'],
    [{ JWT_SECRET: 'changeme' }, 'JWT_SECRET'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ JWT_SECRET: STRONG }, 'API_KEYS'],
    [{ JWT_SECRET: STRONG, API_KEYS: 'ops:changeme-please-0123456789abc:admin' }, 'API_KEYS'],
    [{ JWT_SECRET: STRONG, API_KEYS: `ops:${PROD_KEY}:admin`, BACKEND_URL: 'http://backend:8080' }, 'BACKEND_SECRET'],
    [{ JWT_SECRETS: 'k1:your-secret-here-0123456789012345' }, 'JWT_SECRETS'],
  ])('production refuses missing or placeholder secrets (%o names %s)', (env, variable) => {
    expect(() => loadConfig({ NODE_ENV: 'production', ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production', ...env })).toThrow(new RegExp(variable));
  });

  it('production accepts real secrets and allows no CORS origin by default', () => {
    const c = loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG, API_KEYS: `ops:${PROD_KEY}:admin` });
    expect(c.generatedJwtSecret).toBeNull();
    expect(c.generatedApiKey).toBeNull();
    expect(c.corsOrigins).toEqual([]);
  });

  it('parses API_KEYS scopes and the signed flag', () => {
    const c = loadConfig({ API_KEYS: 'billing:k_9f:push+signed,ops:k_77:admin,ro:k:with:colons:read' });
    expect(c.apiKeys.map((k) => [k.name, k.key, [...k.scopes].sort(), k.mustSign])).toEqual([
      ['billing', 'k_9f', ['push'], true],
      ['ops', 'k_77', ['admin'], false],
      ['ro', 'k:with:colons', ['read'], false],
    ]);
  });

  it.each([
    [{ API_KEYS: 'nocolons' }, /API_KEYS/],
    [{ API_KEYS: 'a:b:fly' }, /unknown scope "fly"/],
    [{ PORT: 'abc' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ BACKEND_URL: 'ftp://x' }, /BACKEND_URL/],
    [{ JWT_SECRETS: 'nokid' }, /JWT_SECRETS/],
    [{ JWT_PUBLIC_KEY: 'not a pem' }, /JWT_PUBLIC_KEY/],
    [{ JWT_PUBLIC_KEY: '@/does/not/exist.pem' }, /JWT_PUBLIC_KEY/],
  ])('rejects malformed values with a message naming the variable (%o)', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('reads JWT_SECRETS with kids and a PEM public key', () => {
    const c = loadConfig({ JWT_SECRETS: 'k1:one,k2:two' });
    expect(c.jwt.kind === 'hmac' && c.jwt.keys.map((k) => k.kid)).toEqual(['k1', 'k2']);
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const p = loadConfig({ JWT_PUBLIC_KEY: pem });
    expect(p.jwt.kind === 'public' && p.jwt.algorithms).toEqual(['ES256']);
  });

  it('DELIVERY_FAST_PATH is on and WS_PER_MESSAGE_DEFLATE off by default; both take true/false/1/0 and refuse anything else', () => {
    expect(loadConfig({})).toMatchObject({ deliveryFastPath: true, perMessageDeflate: false });
    expect(loadConfig({ DELIVERY_FAST_PATH: 'false', WS_PER_MESSAGE_DEFLATE: '1' })).toMatchObject({ deliveryFastPath: false, perMessageDeflate: true });
    expect(loadConfig({ DELIVERY_FAST_PATH: '0', WS_PER_MESSAGE_DEFLATE: 'true' })).toMatchObject({ deliveryFastPath: false, perMessageDeflate: true });
    expect(() => loadConfig({ DELIVERY_FAST_PATH: 'yes' })).toThrow(ConfigError);
    expect(() => loadConfig({ WS_PER_MESSAGE_DEFLATE: 'on' })).toThrow(ConfigError);
  });

  it('REDIS_URL names one Redis, a Redis Cluster (REDIS_CLUSTER) or the sentinels of a primary (REDIS_SENTINEL); a prefix takes no braces', () => {
    expect(loadConfig({ REDIS_URL: 'redis://r:6379' }).redisTopology).toEqual({ kind: 'single' });
    expect(loadConfig({ REDIS_URL: 'redis://a:7000,redis://b:7000', REDIS_CLUSTER: 'true' }).redisTopology).toEqual({ kind: 'cluster' });
    expect(loadConfig({ REDIS_URL: 'redis://s1:26379,redis://s2:26379', REDIS_SENTINEL: 'main' }).redisTopology).toEqual({ kind: 'sentinel', name: 'main' });
    expect(() => loadConfig({ REDIS_URL: 'redis://a:7000,redis://b:7000' })).toThrow(/REDIS_URL.*REDIS_CLUSTER/);
    expect(() => loadConfig({ REDIS_URL: 'redis://a:7000', REDIS_CLUSTER: 'true', REDIS_SENTINEL: 'main' })).toThrow(/REDIS_SENTINEL/);
    expect(() => loadConfig({ REDIS_PREFIX: '{pushgate}' })).toThrow(/REDIS_PREFIX.*braces/);
  });

  it('APPS lists apps inline or in a JSON file; the first is the default; PUSHER_APP is the one-app form', () => {
    const none = loadConfig({});
    expect(none.appsListed).toBe(false);
    expect(none.apps.map((a) => [a.id, a.key, a.scope.isDefault, a.scope.implicit])).toEqual([['default', null, true, true]]);
    const inline = loadConfig({ APPS: 'shop:shop-key:s3cret:with:colons,games:games-key:other' });
    expect(inline.apps.map((a) => [a.id, a.key, a.secret, a.enabled, a.scope.isDefault])).toEqual([
      ['shop', 'shop-key', 's3cret:with:colons', true, true],
      ['games', 'games-key', 'other', true, false],
    ]);
    expect(inline.apps[1]!.limits).toEqual({ messagesPerMinute: 0, connectionsPerMinute: 0, eventsPerSecond: null, maxDataBytes: null, maxBatch: null });
    expect(loadConfig({ PUSHER_APP: '4242:k:s' }).apps.map((a) => a.id)).toEqual(['4242']);
    const dir = mkdtempSync(join(tmpdir(), 'pushgate-config-'));
    const file = join(dir, 'apps.json');
    writeFileSync(file, JSON.stringify([{ id: 'a', key: 'ka', secret: 'sa' }, { id: 'b', key: 'kb', secret: 'sb', enabled: false, limits: { messagesPerMinute: 60, eventsPerSecond: 5 } }]));
    const fromFile = loadConfig({ APPS: `@${file}`, API_KEYS: 'b-backend:k_0123456789abcdef:push+app=b' });
    expect(fromFile.apps[1]).toMatchObject({ id: 'b', enabled: false, limits: { messagesPerMinute: 60, connectionsPerMinute: 0, eventsPerSecond: 5, maxDataBytes: null, maxBatch: null } });
    expect(fromFile.apiKeys[0]!.app).toBe('b');
    const refused = (env: Record<string, string>) => () => loadConfig(env);
    expect(refused({ APPS: 'a:ka:sa,a:kb:sb' })).toThrow(/app id "a" is listed twice/);
    expect(refused({ APPS: 'a:k:sa,b:k:sb' })).toThrow(/app key "k" is listed twice/);
    expect(refused({ APPS: 'a b:k:s' })).toThrow(/APPS: 0.id/);
    expect(refused({ APPS: 'a:k:' })).toThrow(/APPS/);
    expect(refused({ APPS: `@${join(dir, 'missing.json')}` })).toThrow(/cannot be read/);
    writeFileSync(file, JSON.stringify([{ id: 'a', key: 'ka', secret: 'sa', limits: { perDay: 1 } }]));
    expect(refused({ APPS: `@${file}` })).toThrow(/limits/);
    expect(refused({ APPS: 'a:ka:sa', PUSHER_APP: 'b:kb:sb' })).toThrow(/exclude each other/);
    expect(refused({ APPS: 'a:ka:sa', API_KEYS: 'x:k_0123456789abcdef:push+app=zz' })).toThrow(/limited to app "zz"/);
    expect(refused({ NODE_ENV: 'production', JWT_SECRET: STRONG, API_KEYS: `ops:${PROD_KEY}:admin`, APPS: 'a:ka:short' })).toThrow(/secret of app "a" must be at least 24/);
  });

  it('WEBHOOK_* configure every app’s webhooks unless an app of APPS has its own', () => {
    expect(loadConfig({}).apps[0]!.webhooks).toBeNull();
    const all = loadConfig({ WEBHOOK_URL: 'https://a.example/h, http://b.example/h' }).apps[0]!.webhooks!;
    expect(all.urls).toEqual(['https://a.example/h', 'http://b.example/h']);
    expect([...all.events].sort()).toEqual(['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'user_offline', 'user_online']);
    expect(all.rooms).toEqual(['*']);
    const some = loadConfig({ WEBHOOK_URL: 'https://a.example/h', WEBHOOK_EVENTS: 'member_added,member_removed', WEBHOOK_ROOMS: 'chat:*', WEBHOOK_CLIENT_EVENTS: 'typing*' }).apps[0]!.webhooks!;
    expect([...some.events]).toEqual(['member_added', 'member_removed']);
    expect([some.rooms, some.clientEvents]).toEqual([['chat:*'], ['typing*']]);
    expect(loadConfig({ WEBHOOK_URL: 'https://a.example/h', WEBHOOK_CLIENT_EVENTS: 'typing*' }).apps[0]!.webhooks!.events.has('client_event')).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'pushgate-config-'));
    const file = join(dir, 'apps.json');
    writeFileSync(file, JSON.stringify([{ id: 'a', key: 'ka', secret: 'sa' }, { id: 'b', key: 'kb', secret: 'sb', webhooks: { url: 'https://b.example/h', events: ['user_online'] } }]));
    const apps = loadConfig({ APPS: `@${file}`, WEBHOOK_URL: 'https://all.example/h' }).apps;
    expect(apps[0]!.webhooks!.urls).toEqual(['https://all.example/h']);
    expect([apps[1]!.webhooks!.urls, [...apps[1]!.webhooks!.events]]).toEqual([['https://b.example/h'], ['user_online']]);
    expect(() => loadConfig({ WEBHOOK_URL: 'ftp://x.example/h' })).toThrow(/not an http\(s\) URL/);
    expect(() => loadConfig({ WEBHOOK_URL: 'https://x.example/h', WEBHOOK_EVENTS: 'channel_opened' })).toThrow(/unknown event "channel_opened"/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG, API_KEYS: `ops:${PROD_KEY}:admin`, WEBHOOK_URL: 'https://x.example/h' })).toThrow(/BACKEND_SECRET/);
  });

  it('CORS_ORIGINS is a comma-separated allowlist; 0 disables rate limits', () => {
    const c = loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example', RATE_LIMIT_HTTP: '0' });
    expect(c.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(c.rateLimits.httpPerMinute).toBe(0);
  });
});
