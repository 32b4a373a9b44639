import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, loadConfig } from '../../server/src/config/config';
import { renderNginxConf } from '../support/nginx';
import { startNode, type TestNode } from '../support/node';

// No Docker engine runs on these machines, so the container files are checked for what they
// promise: the compose topology (the same one nginx-topology.test.ts runs with real processes),
// no secrets in the files, health checks and ordering, and a Dockerfile whose runtime stage
// holds only production dependencies and the built output, runs as a non-root user, and starts
// node directly.

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

interface Service {
  build?: string | { context: string };
  image?: string;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  stop_grace_period?: string;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

function env(s: Service): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(s.environment)) {
    for (const kv of s.environment) {
      const at = kv.indexOf('=');
      out[at < 0 ? kv : kv.slice(0, at)] = at < 0 ? '' : kv.slice(at + 1);
    }
  } else {
    for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = v === null ? '' : String(v);
  }
  return out;
}

/** Services built from this repository: the pushgate nodes. */
const nodeNames = Object.keys(services).filter((name) => {
  const b = services[name]!.build;
  return b === '.' || (typeof b === 'object' && b.context === '.');
});

/** `./deploy/x:/etc/x:ro` → { host: 'deploy/x', container: '/etc/x' } */
function mounts(s: Service): { host: string; container: string }[] {
  return (s.volumes ?? [])
    .map((v) => v.split(':'))
    .filter(([host]) => host!.startsWith('./'))
    .map(([host, container]) => ({ host: host!.slice(2), container: container! }));
}

function dependsOn(s: Service): Record<string, string | undefined> {
  if (Array.isArray(s.depends_on)) return Object.fromEntries(s.depends_on.map((d) => [d, undefined]));
  return Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([k, v]) => [k, v.condition]));
}

/** Compose's `${VAR:?message}`: compose refuses to start while VAR is unset or empty. */
const REQUIRED = /^\$\{([A-Z][A-Z0-9_]*):\?[^}]+\}$/;
/** Any interpolation, optional ones included. */
const INTERPOLATED = /^\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}$/;
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|^API_KEYS$|_KEY$/;

describe('docker-compose.yml', () => {
  test('runs Redis 7, three pushgate nodes built from this repository, nginx, Prometheus and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(['grafana', 'nginx', 'node-1', 'node-2', 'node-3', 'prometheus', 'redis']);
    expect(nodeNames.sort()).toEqual(['node-1', 'node-2', 'node-3']);
    expect(services.redis!.image).toMatch(/^redis:7/);
    expect(services.nginx!.image).toMatch(/^nginx:/);
    expect(services.prometheus!.image).toMatch(/^prom\/prometheus:/);
    // One image for the three nodes: built once, tagged once.
    expect(new Set(nodeNames.map((n) => services[n]!.image)).size).toBe(1);
  });

  test('the nodes have distinct NODE_IDs, share one REDIS_URL on the redis service, and run in production behind one trusted proxy hop', () => {
    const envs = nodeNames.map((n) => env(services[n]!));
    expect(new Set(envs.map((e) => e.NODE_ID)).size).toBe(3);
    expect(envs.map((e) => e.NODE_ID).sort()).toEqual(nodeNames.slice().sort());
    expect(new Set(envs.map((e) => e.REDIS_URL)).size).toBe(1);
    expect(new URL(envs[0]!.REDIS_URL!).hostname).toBe('redis');
    expect(new Set(envs.map((e) => e.REDIS_PREFIX)).size).toBe(1);
    for (const e of envs) {
      expect(e.NODE_ENV).toBe('production');
      expect(e.TRUST_PROXY).toBe('1');
      // The image listens on 3000 (ENV PORT, EXPOSE); nothing here moves it.
      expect(e.PORT ?? '3000').toBe('3000');
    }
    for (const n of nodeNames) {
      // Only nginx is published; nodes are reached on the compose network.
      expect(services[n]!.ports ?? []).toEqual([]);
      expect(services[n]!.expose).toContain('3000');
    }
  });

  test('secrets are never written in the file: each is a ${VAR} from the environment or .env, and the required ones stop compose with a message', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [k, v] of Object.entries(env(s))) {
        if (SECRET_NAME.test(k)) expect({ service: name, variable: k, value: v }).toEqual({ service: name, variable: k, value: expect.stringMatching(INTERPOLATED) });
      }
    }
    const node = env(services['node-1']!);
    for (const k of ['JWT_SECRET', 'API_KEYS', 'CORS_ORIGINS']) expect(node[k]).toMatch(REQUIRED);
    expect(env(services.grafana!).GF_SECURITY_ADMIN_PASSWORD).toMatch(REQUIRED);

    // Nothing that looks like a generated key or password anywhere in the text.
    const text = read('docker-compose.yml');
    const longTokens = text.match(/[A-Za-z0-9_+/=-]{24,}/g) ?? [];
    expect(longTokens.filter((t) => /\d/.test(t) && /[a-z]/i.test(t))).toEqual([]);
  });

  test('.env.example lists every required variable with placeholders that a production node refuses', () => {
    const example = Object.fromEntries(
      read('.env.example')
        .split('\n')
        .filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const required = new Set<string>();
    for (const s of Object.values(services)) for (const v of Object.values(env(s))) { const m = REQUIRED.exec(v); if (m) required.add(m[1]!); }
    expect(Object.keys(example).sort()).toEqual(expect.arrayContaining([...required].sort()));
    // Copying the example unchanged must not give a running cluster with known secrets.
    const base = { NODE_ENV: 'production', CORS_ORIGINS: example.CORS_ORIGINS };
    expect(() => loadConfig({ ...base, JWT_SECRET: example.JWT_SECRET, API_KEYS: `ok:${'a1'.repeat(16)}:admin` })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, JWT_SECRET: 'Zx81'.repeat(10), API_KEYS: example.API_KEYS })).toThrow(ConfigError);
    // ...while real values of the documented shape are accepted.
    expect(() => loadConfig({ ...base, JWT_SECRET: 'Zx81'.repeat(10), API_KEYS: `ops:${'a1'.repeat(16)}:admin` })).not.toThrow();
    // .env itself stays out of git and out of the image's build context.
    expect(read('.gitignore').split('\n')).toContain('.env');
    expect(read('.dockerignore').split('\n')).toContain('.env');
  });

  test('nginx mounts the shipped config, waits for healthy nodes, and balances exactly the node services, sticky by client address', () => {
    const nginx = services.nginx!;
    expect(mounts(nginx)).toContainEqual({ host: 'deploy/nginx/nginx.conf', container: '/etc/nginx/nginx.conf' });
    const deps = dependsOn(nginx);
    for (const n of nodeNames) expect(deps[n]).toBe('service_healthy');
    expect(nginx.ports).toEqual([expect.stringMatching(/:80$/)]);

    const conf = read('deploy/nginx/nginx.conf');
    const directives = conf.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
    const upstreamServers = directives.filter((d) => /^server\s+\S+:\d+/.test(d)).map((d) => d.split(/\s+/)[1]);
    expect(upstreamServers.sort()).toEqual(nodeNames.map((n) => `${n}:3000`).sort());
    expect(directives).toContain('hash $remote_addr consistent;');
    // ip_hash keys on the first three octets: a whole /24 would share one node.
    expect(directives.some((d) => d.startsWith('ip_hash'))).toBe(false);
    expect(directives).toContain('listen 80;');
    expect(directives).toContain('proxy_http_version 1.1;');
    expect(directives).toContain('proxy_set_header Upgrade $http_upgrade;');
    expect(directives).toContain('proxy_set_header Connection $connection_upgrade;');
    expect(directives).toContain('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;');
    // Socket.IO's pingInterval (25 s) + pingTimeout (20 s): a quiet connection must outlive both.
    const read_timeout = /^proxy_read_timeout\s+(\d+)s;$/.exec(directives.find((d) => d.startsWith('proxy_read_timeout')) ?? '');
    expect(Number(read_timeout?.[1])).toBeGreaterThan(45);
    // The pid file and user are left to the image, so the loopback test can run the file as is.
    expect(directives.some((d) => /^(pid|user)\s/.test(d))).toBe(false);
    // The loopback test's templating finds what it rewrites.
    const rendered = renderNginxConf(conf, { upstreams: [1, 2, 3].map((i) => ({ host: '127.0.0.1', port: 4000 + i })), listenPort: 4100, tempDir: '/tmp/x' });
    expect(rendered).not.toMatch(/node-\d:3000/);
    expect(rendered).toContain('listen 127.0.0.1:4100;');
  });

  test('Prometheus scrapes every node service directly on /metrics, not through nginx', () => {
    const prom = services.prometheus!;
    const m = mounts(prom).find((x) => x.host === 'deploy/prometheus/prometheus.yml');
    expect(m).toBeDefined();
    expect(prom.command).toContain(`--config.file=${m!.container}`);
    const cfg = parse(read('deploy/prometheus/prometheus.yml')) as { scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[] };
    const job = cfg.scrape_configs.find((j) => j.job_name === 'pushgate')!;
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    const targets = job.static_configs.flatMap((c) => c.targets);
    expect(targets.sort()).toEqual(nodeNames.map((n) => `${n}:3000`).sort());
    expect(targets.some((t) => t.startsWith('nginx'))).toBe(false);
  });

  test('every service has a health check, every dependency waits for health, and nodes get longer than the drain deadline to stop', () => {
    for (const [name, s] of Object.entries(services)) {
      expect({ name, test: s.healthcheck?.test }).toEqual({ name, test: expect.arrayContaining([expect.any(String)]) });
      expect(s.healthcheck?.disable).not.toBe(true);
      for (const [dep, condition] of Object.entries(dependsOn(s))) {
        expect(Object.keys(services)).toContain(dep);
        expect({ name, dep, condition }).toEqual({ name, dep, condition: 'service_healthy' });
      }
    }
    for (const n of nodeNames) {
      const s = services[n]!;
      expect(dependsOn(s)).toEqual({ redis: 'service_healthy' });
      expect(JSON.stringify(s.healthcheck!.test)).toContain('/health/ready');
      // SHUTDOWN_TIMEOUT_MS defaults to 10 s; Docker's SIGKILL must not come first.
      expect(Number(/^(\d+)s$/.exec(s.stop_grace_period ?? '10s')?.[1])).toBeGreaterThan(10);
    }
    expect(dependsOn(services.grafana!)).toEqual({ prometheus: 'service_healthy' });
  });

  test('every file it mounts is in the repository', () => {
    for (const s of Object.values(services)) for (const { host } of mounts(s)) expect({ host, exists: existsSync(join(ROOT, host)) }).toEqual({ host, exists: true });
  });
});

describe('Grafana dashboard', () => {
  let node: TestNode;
  afterAll(async () => {
    await node?.stop();
  });

  test('charts the contract metrics, and only metric names a node really exports', async () => {
    const dash = JSON.parse(read('deploy/grafana/pushgate.json')) as { uid: string; panels: { type: string; targets?: { expr: string }[] }[] };
    expect(dash.uid).toBeTruthy();
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(10);
    const used = new Set(exprs.flatMap((e) => e.match(/pushgate_[a-z0-9_]+/g) ?? []).map((n) => n.replace(/_(bucket|sum|count)$/, '')));

    // Section 5 of the contract.
    const contract = [
      'pushgate_connected_sockets', 'pushgate_connected_users', 'pushgate_rooms', 'pushgate_connections_total',
      'pushgate_messages_pushed_total', 'pushgate_messages_delivered_total', 'pushgate_push_duration_seconds',
      'pushgate_client_events_total', 'pushgate_backend_requests_total', 'pushgate_backend_duration_seconds',
      'pushgate_http_requests_total', 'pushgate_redis_up',
    ];
    expect([...used]).toEqual(expect.arrayContaining(contract));

    node = await startNode();
    const text = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
    expect([...used].filter((n) => !exported.has(n))).toEqual([]);
  });
});

describe('Dockerfile', () => {
  interface Instruction { op: string; args: string }
  interface Stage { from: string; name: string | null; body: Instruction[] }

  const text = read('Dockerfile');
  // Instructions with their continuation lines joined; comments dropped.
  const instructions: Instruction[] = text
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
  const args = Object.fromEntries(instructions.filter((i) => i.op === 'ARG' && i.args.includes('=')).map((i) => i.args.split('=') as [string, string]));
  const stages: Stage[] = [];
  for (const i of instructions) {
    if (i.op === 'FROM') {
      const [image, as, name] = i.args.split(/\s+/);
      stages.push({ from: image!.replace(/\$\{(\w+)\}/g, (_m, v: string) => args[v] ?? ''), name: as?.toUpperCase() === 'AS' ? name! : null, body: [] });
    } else stages.at(-1)?.body.push(i);
  }
  const runtime = stages.at(-1)!;
  const build = stages[0]!;
  const all = (s: Stage, op: string) => s.body.filter((i) => i.op === op).map((i) => i.args);
  const last = (s: Stage, op: string) => all(s, op).at(-1);

  test('is multi-stage on a slim Node 20 base: a build stage with dev dependencies that runs npm run build', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.from).toMatch(/^node:20[.\d]*-(bookworm-slim|slim|alpine)/);
    expect(build.name).toBeTruthy();
    const runs = all(build, 'RUN').join('\n');
    expect(runs).toMatch(/npm (install|ci)(?![^\n]*--omit=dev)/);
    expect(runs).toContain('npm run build');
  });

  test('the runtime stage holds production dependencies, dist/ and the dashboard export, and nothing is built there', () => {
    const runs = all(runtime, 'RUN').join('\n');
    expect(runs).toMatch(/npm install[^\n]*--omit=dev/);
    expect(runs).not.toContain('npm run build');
    const fromBuild = all(runtime, 'COPY').filter((a) => a.includes(`--from=${build.name}`));
    expect(fromBuild.some((a) => /\/app\/dist\s/.test(a))).toBe(true);
    expect(fromBuild.some((a) => /dashboard\/out\s/.test(a))).toBe(true);
    // The path CMD runs is where tsc puts it (outDir + the path under rootDir), and package.json agrees.
    const tsb = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { outDir: string; rootDir: string } };
    expect(`${tsb.compilerOptions.outDir}/server/src/main.js`).toBe('dist/server/src/main.js');
    expect(tsb.compilerOptions.rootDir).toBe('.');
    expect((JSON.parse(read('package.json')) as { main: string }).main).toBe('dist/server/src/main.js');
  });

  test('runs as a non-root user in production on 0.0.0.0:3000, checks /health/live with node, and starts node directly', () => {
    const user = last(runtime, 'USER');
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const envs = all(runtime, 'ENV').join(' ');
    expect(envs).toMatch(/(^|\s)NODE_ENV=production(\s|$)/);
    expect(envs).toMatch(/(^|\s)HOST=0\.0\.0\.0(\s|$)/);
    expect(all(runtime, 'EXPOSE')).toContain('3000');
    const health = last(runtime, 'HEALTHCHECK')!;
    expect(health).toContain('/health/live');
    expect(health).toMatch(/CMD \["node",/);
    // Exec form with node itself: SIGTERM reaches the process that drains (no npm, no shell).
    expect(JSON.parse(last(runtime, 'CMD')!)).toEqual(['node', 'dist/server/src/main.js']);
    expect(all(runtime, 'ENTRYPOINT')).toEqual([]);
  });

  test('the build context has what the build stage copies, and leaves out node_modules, build output, git and secrets', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const p of ['node_modules', 'dist', '.git', '.env', 'dashboard/out', 'dashboard/.next']) expect(ignored).toContain(p);
    const isIgnored = (path: string) => ignored.some((p) => path === p || path.startsWith(`${p}/`));
    for (const s of stages) {
      for (const a of all(s, 'COPY').filter((x) => !x.includes('--from='))) {
        const parts = a.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const src of parts.slice(0, -1)) {
          expect({ src, exists: existsSync(join(ROOT, src)), ignored: isIgnored(src) }).toEqual({ src, exists: true, ignored: false });
        }
      }
    }
  });
});
