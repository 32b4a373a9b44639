import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './redis-server';

/** The nginx config docker-compose.yml mounts; the loopback topology test runs this very file. */
export const SHIPPED_NGINX_CONF = join(__dirname, '..', '..', 'deploy', 'nginx', 'nginx.conf');

const UPSTREAM_SERVER = /^(\s*)server\s+node-\d+:3000\b/;
const LISTEN = /^(\s*)listen\s+80;/;

/** Where Debian's nginx lives, or null. */
export function findNginx(): string | null {
  const dirs = ['/usr/sbin', '/usr/bin', ...(process.env.PATH ?? '').split(delimiter)].filter(Boolean);
  for (const d of dirs) {
    const p = join(d, 'nginx');
    if (existsSync(p)) return p;
  }
  return null;
}

/**
 * The shipped config with only what differs on loopback rewritten: each `server node-N:3000` line
 * points at one of `upstreams` (in order) and `listen 80` becomes a loopback port. Temp paths are
 * added (Debian's compiled-in ones are under /var/lib/nginx, not writable by an unprivileged
 * process). Throws when the shipped file no longer has the lines this relies on.
 */
export function renderNginxConf(shipped: string, opts: { upstreams: { host: string; port: number }[]; listenPort: number; tempDir: string }): string {
  const lines = shipped.split('\n');
  let servers = 0;
  let listens = 0;
  const out = lines.map((line) => {
    const s = UPSTREAM_SERVER.exec(line);
    if (s) {
      const target = opts.upstreams[servers++];
      if (!target) return line;
      return line.replace(/server\s+node-\d+:3000/, `server ${target.host}:${target.port}`);
    }
    if (LISTEN.test(line)) {
      listens += 1;
      return line.replace(/listen\s+80;/, `listen 127.0.0.1:${opts.listenPort};`);
    }
    if (/^http\s*\{/.test(line)) {
      const t = opts.tempDir;
      return [line, ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${join(t, k)};`)].join('\n');
    }
    return line;
  });
  if (servers !== opts.upstreams.length) throw new Error(`nginx.conf has ${servers} "server node-N:3000" lines, expected ${opts.upstreams.length}`);
  if (listens !== 1) throw new Error(`nginx.conf has ${listens} "listen 80;" lines, expected 1`);
  return out.join('\n');
}

/**
 * Debian's nginx in the foreground on a free loopback port, with the shipped config. Run as
 * `nobody` when the tests run as root, so it is the same unprivileged process as in the nginx
 * container's workers.
 */
export class NginxProcess {
  readonly exited: Promise<number | null>;
  private spawnError = '';

  private constructor(
    private readonly proc: ChildProcess,
    readonly port: number,
    private readonly dir: string,
  ) {
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code) => resolve(code));
      proc.once('error', (err) => {
        this.spawnError = err.message;
        resolve(null);
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What nginx wrote (error log and access log), for failure messages. */
  output(): string {
    const read = (f: string) => (existsSync(join(this.dir, f)) ? readFileSync(join(this.dir, f), 'utf8') : '');
    return `${this.spawnError}${read('stderr.log')}${read('stdout.log')}`;
  }

  static async start(upstreams: { host: string; port: number }[]): Promise<NginxProcess> {
    const bin = findNginx();
    if (!bin) throw new Error('nginx is not installed: this test runs the shipped deploy/nginx/nginx.conf with a real nginx. Install it with `apt-get install nginx` (.ci/run does).');
    const dir = mkdtempSync(join(tmpdir(), 'pushgate-nginx-'));
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, renderNginxConf(readFileSync(SHIPPED_NGINX_CONF, 'utf8'), { upstreams, listenPort: port, tempDir: dir }));
    mkdirSync(join(dir, 'logs'));
    // nginx opens /dev/stdout itself (access_log); a re-opened descriptor is checked against the
    // process's user, so give it files it owns rather than the test runner's pipes.
    const outFd = openSync(join(dir, 'stdout.log'), 'w');
    const errFd = openSync(join(dir, 'stderr.log'), 'w');
    const asRoot = process.getuid?.() === 0;
    if (asRoot) for (const p of [dir, conf, join(dir, 'logs'), join(dir, 'stdout.log'), join(dir, 'stderr.log')]) chownSync(p, 65534, 65534);
    const proc = spawn(bin, ['-p', dir, '-e', 'stderr', '-c', conf, '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], {
      stdio: ['ignore', outFd, errFd],
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    closeSync(outFd);
    closeSync(errFd);
    const nginx = new NginxProcess(proc, port, dir);
    let exited = false;
    void nginx.exited.then(() => (exited = true));
    const deadline = Date.now() + 10000;
    for (;;) {
      if (exited) throw new Error(`nginx exited at start-up: ${nginx.output()}`);
      const ok = await fetch(`${nginx.url}/nginx-health`).then((r) => r.ok, () => false);
      if (ok) return nginx;
      if (Date.now() > deadline) {
        await nginx.stop();
        throw new Error(`nginx did not answer on ${port}: ${nginx.output()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Fast shutdown (SIGTERM closes connections at once), then removes its files. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    await this.exited;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
