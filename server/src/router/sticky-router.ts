import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';

/**
 * Several pushgate workers behind one public port, each Engine.IO session pinned to its worker.
 *
 * Plain PM2 cluster mode balances every TCP connection on its own, so a long-polling session's
 * requests land on different workers ("Session ID unknown"). Here one process (this router) owns
 * the port and starts the workers; every session id a worker makes names the router generation
 * and the worker (`<generation>-<index>-<random>`, see routedSessionId), so the router sends each
 * connection to the worker its first request's `sid` names, and a new session to the worker with
 * the fewest connections, without any table to keep.
 *
 * Under PM2 the router runs in cluster mode as a single instance: PM2's own primary then holds the
 * port, and `pm2 reload` starts a new router (with new workers), waits for it to say it is ready,
 * and only then stops the old one, which first stops taking connections and then drains its
 * workers (they tell their clients, who reconnect to the new generation).
 */
export interface RouterOptions {
  port: number;
  host: string;
  workers: number;
  /** Worker i also listens on instancePortBase + i (scrapes, health checks). */
  instancePortBase: number;
  /** The worker script (dist/server/src/main.js). */
  entry: string;
  /** How long the workers get to drain on stop. */
  shutdownTimeoutMs: number;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

/** A connection's first bytes are read at most this long before it is dropped. */
const FIRST_BYTES_MS = 10_000;
/** A request head (and the body it announces) larger than this is refused. */
const MAX_BUFFERED = 2 * 1024 * 1024;

interface Worker {
  index: number;
  proc: ChildProcess;
  ready: boolean;
  connections: number;
}

export class StickyRouter {
  readonly generation = randomBytes(3).toString('hex');
  private readonly workers: (Worker | null)[] = [];
  private server: Server | null = null;
  private stopping = false;

  constructor(private readonly opts: RouterOptions) {}

  /** Starts the workers, waits until each listens, then takes the public port. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.workers }, (_, i) => this.spawn(i)));
    this.server = createServer({ pauseOnConnect: true }, (socket) => this.route(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.host, () => resolve());
    });
  }

  /** Stops taking connections, then has every worker drain (SIGTERM) and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    // Stops taking connections at once; close()'s callback would also wait for connections this
    // process no longer holds (each went to a worker), so nothing waits for it.
    this.server?.close();
    await Promise.all(
      this.workers.map(async (w) => {
        if (!w || w.proc.exitCode !== null) return;
        const gone = new Promise((r) => w.proc.once('exit', r));
        w.proc.kill('SIGTERM');
        const hard = setTimeout(() => w.proc.kill('SIGKILL'), this.opts.shutdownTimeoutMs + 2000);
        await gone;
        clearTimeout(hard);
      }),
    );
  }

  private spawn(index: number): Promise<void> {
    // Under PM2 cluster mode this process is a cluster worker: NODE_UNIQUE_ID would make the
    // workers take themselves for cluster workers too and ask this process for their ports.
    const { NODE_UNIQUE_ID: _cluster, ...env } = process.env;
    const proc = fork(this.opts.entry, [], {
      env: { ...env, PORT: String(this.opts.instancePortBase + index), ROUTER_GENERATION: this.generation, ROUTER_WORKER: String(index) },
      stdio: 'inherit',
    });
    const worker: Worker = { index, proc, ready: false, connections: 0 };
    this.workers[index] = worker;
    return new Promise((resolve) => {
      proc.on('message', (m: { type?: string }) => {
        if (m?.type === 'pushgate:ready') {
          worker.ready = true;
          resolve();
        } else if (m?.type === 'pushgate:closed') {
          worker.connections = Math.max(0, worker.connections - 1);
        }
      });
      proc.once('exit', (code, signal) => {
        worker.ready = false;
        resolve();
        if (this.stopping) return;
        // A worker that died is started again under the same index (its sessions are gone; their clients reconnect).
        this.opts.log('router: a worker exited; starting it again', { worker: index, code, signal });
        setTimeout(() => void this.spawn(index), 500).unref();
      });
    });
  }

  /** Reads the connection's first request head, picks its worker and hands the socket over. */
  private route(socket: Socket): void {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), FIRST_BYTES_MS);
    const onError = () => clearTimeout(timer);
    socket.once('error', onError);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > MAX_BUFFERED) socket.destroy();
        return;
      }
      // A request whose body is announced is read whole first: the worker gets the connection with the complete request.
      const head = buffered.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (length > MAX_BUFFERED) return void socket.destroy();
      if (buffered.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.pause();
      clearTimeout(timer);
      socket.off('error', onError);
      this.handOver(socket, head, buffered);
    };
    socket.on('data', onData);
    socket.resume();
  }

  private handOver(socket: Socket, head: string, bytes: Buffer): void {
    const sid = /[?&]sid=([^&\s]+)/.exec(head.slice(0, head.indexOf('\r\n')))?.[1];
    let worker: Worker | null | undefined;
    if (sid !== undefined) {
      const [generation, index] = sid.split('-');
      worker = generation === this.generation ? this.workers[Number(index)] : undefined;
      if (!worker?.ready) {
        // Another generation's session (a reload is under way) or a worker gone: Engine.IO's own answer, and the client starts afresh.
        const body = '{"code":1,"message":"Session ID unknown"}';
        socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
    } else {
      worker = this.workers.filter((w): w is Worker => !!w?.ready).sort((a, b) => a.connections - b.connections)[0];
      if (!worker) return void socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    }
    worker.connections += 1;
    worker.proc.send({ type: 'pushgate:connection', data: bytes.toString('base64') }, socket, { keepOpen: false }, (err) => {
      if (err) socket.destroy();
    });
  }
}

/** A session id that names its router generation and worker (what the router routes by). */
export function routedSessionId(generation: string, worker: number): string {
  return `${generation}-${worker}-${randomBytes(12).toString('base64url').replace(/-/g, '_')}`;
}
